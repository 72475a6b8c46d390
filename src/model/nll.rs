//! `-log_softmax(logits)[target]` for one row of logits, fast enough for GLM-4's 151,552-entry
//! vocabulary: the exponentials use a branch-free polynomial (explicit AVX2 where the CPU has it,
//! bit-identical to the portable code), and partial sums go to f64 every 64 entries so the result
//! keeps close to f64 accuracy.

use candle_core::{DType, Tensor, D};

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
/// Cephes' `expf` polynomial for e^r on [-ln2/2, ln2/2], highest degree first.
const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5, // Cephes' 5.0000001201e-1, which is 0.5 in f32
];

/// `exp(x)` for `x <= 0` (Cephes' `expf`, about 1 ulp); 0 below e^-87.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    let x = x.max(-87.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = EXP_POLY[0];
    for c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    let e = p * r * r + r + 1.0;
    let n = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    e * f32::from_bits(((n + 127) << 23) as u32)
}

/// `log(sum(exp(logits)))`.
pub fn log_sum_exp(logits: &[f32]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { log_sum_exp_avx2(logits) };
        }
    }
    log_sum_exp_portable(logits)
}

/// Largest value (NaN ignored), with eight running maxima so that the loop vectorises.
#[inline(always)]
fn max_of(logits: &[f32]) -> f32 {
    let mut maxima = [f32::NEG_INFINITY; 8];
    let mut parts = logits.chunks_exact(8);
    for part in &mut parts {
        for (m, &x) in maxima.iter_mut().zip(part) {
            *m = m.max(x);
        }
    }
    parts
        .remainder()
        .iter()
        .chain(&maxima)
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x))
}

fn log_sum_exp_portable(logits: &[f32]) -> f64 {
    let max = max_of(logits);
    if !max.is_finite() {
        return max as f64;
    }
    let mut total = 0f64;
    let mut blocks = logits.chunks_exact(64);
    for block in &mut blocks {
        let mut lanes = [0f32; 8];
        for part in block.chunks_exact(8) {
            for (lane, &x) in lanes.iter_mut().zip(part) {
                *lane += exp_nonpositive(x - max);
            }
        }
        total += lanes.iter().map(|&l| l as f64).sum::<f64>();
    }
    total += blocks
        .remainder()
        .iter()
        .map(|&x| ((x - max) as f64).exp())
        .sum::<f64>();
    max as f64 + total.ln()
}

/// [`log_sum_exp_portable`] with each group of 8 exponentials in one AVX2 register. Every lane
/// does the operations of [`exp_nonpositive`] in the same order (no FMA), so the result is
/// bit-identical to the portable path.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn log_sum_exp_avx2(logits: &[f32]) -> f64 {
    use std::arch::x86_64::*;
    let max = max_of(logits);
    if !max.is_finite() {
        return max as f64;
    }
    let vmax = _mm256_set1_ps(max);
    let floor = _mm256_set1_ps(-87.0);
    let log2e = _mm256_set1_ps(LOG2E);
    let round = _mm256_set1_ps(ROUND);
    let (hi, lo, one) = (
        _mm256_set1_ps(LN2_HI),
        _mm256_set1_ps(LN2_LO),
        _mm256_set1_ps(1.0),
    );
    let poly = EXP_POLY.map(|c| _mm256_set1_ps(c));
    let round_bits = _mm256_set1_epi32(ROUND.to_bits() as i32);
    let bias = _mm256_set1_epi32(127);
    let mut total = 0f64;
    let mut blocks = logits.chunks_exact(64);
    for block in &mut blocks {
        let mut lanes = _mm256_setzero_ps();
        for part in block.chunks_exact(8) {
            // SAFETY: `part` holds exactly 8 f32 (unaligned load).
            let v = unsafe { _mm256_loadu_ps(part.as_ptr()) };
            let x = _mm256_max_ps(_mm256_sub_ps(v, vmax), floor);
            let shifted = _mm256_add_ps(_mm256_mul_ps(x, log2e), round);
            let n = _mm256_sub_ps(shifted, round);
            let r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, hi)), _mm256_mul_ps(n, lo));
            let mut p = poly[0];
            for c in &poly[1..] {
                p = _mm256_add_ps(_mm256_mul_ps(p, r), *c);
            }
            let e = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), one);
            let exponent = _mm256_sub_epi32(_mm256_castps_si256(shifted), round_bits);
            let scale =
                _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(exponent, bias), 23));
            lanes = _mm256_add_ps(lanes, _mm256_mul_ps(e, scale));
        }
        let mut out = [0f32; 8];
        // SAFETY: `out` holds 8 f32 (unaligned store).
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), lanes) };
        total += out.iter().map(|&l| l as f64).sum::<f64>();
    }
    total += blocks
        .remainder()
        .iter()
        .map(|&x| ((x - max) as f64).exp())
        .sum::<f64>();
    max as f64 + total.ln()
}

/// `-log_softmax(logits)[target]` of every row of `logits` `[N, V]` for `targets` `[N]` (u32),
/// on the logits' device: `[N]` f32. bf16/f16 logits are widened to f32 first, so the
/// log-sum-exp accumulates in f32; only the N values need to leave the device.
pub fn target_nll(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let logits = logits.to_dtype(DType::F32)?;
    let max = logits.max_keepdim(D::Minus1)?;
    let shifted = logits.broadcast_sub(&max)?;
    let log_sum = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let target = shifted.gather(&targets.unsqueeze(1)?, 1)?;
    (log_sum - target)?.squeeze(1)
}

/// Negative log-probability of `target` under one row of logits.
pub fn token_nll(logits: &[f32], target: u32) -> f64 {
    log_sum_exp(logits) - logits[target as usize] as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut x = -90.0f32;
        while x <= 0.0 {
            let exact = (x as f64).exp();
            let ours = exp_nonpositive(x) as f64;
            assert!(
                (ours - exact).abs() <= 3e-7 * exact + 1e-37,
                "exp({x}) = {ours}, expected {exact}"
            );
            x += 0.013;
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
    }

    #[test]
    fn log_sum_exp_matches_f64() {
        let logits: Vec<f32> = (0..151_552)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 37.0)
            .collect();
        let max = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let exact = max
            + logits
                .iter()
                .map(|&x| (x as f64 - max).exp())
                .sum::<f64>()
                .ln();
        // f32 exponentials (about 1 ulp) and 8-term f32 partial sums: about 1e-7 of the sum at
        // worst, so 1e-7 in the log; a token's NLL needs far less.
        assert!(
            (log_sum_exp(&logits) - exact).abs() < 2e-7,
            "{} vs {exact}",
            log_sum_exp(&logits)
        );
        assert!((token_nll(&[0.0; 4], 2) - 4f64.ln()).abs() < 1e-12);
        assert_eq!(
            log_sum_exp(&logits).to_bits(),
            log_sum_exp_portable(&logits).to_bits()
        );
    }

    #[test]
    fn target_nll_on_the_device_matches_the_host() {
        let (rows, vocab) = (5, 1000);
        let logits: Vec<f32> = (0..rows * vocab)
            .map(|i| ((i * 7919 % 1013) as f32 - 500.0) / 23.0)
            .collect();
        let targets: Vec<u32> = vec![0, 999, 17, 500, 3];
        let device = candle_core::Device::Cpu;
        let nll = target_nll(
            &Tensor::from_vec(logits.clone(), (rows, vocab), &device).unwrap(),
            &Tensor::from_vec(targets.clone(), rows, &device).unwrap(),
        )
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
        for (r, &target) in targets.iter().enumerate() {
            let host = token_nll(&logits[r * vocab..(r + 1) * vocab], target);
            assert!(
                (nll[r] as f64 - host).abs() <= 1e-6 * host.abs().max(1.0),
                "row {r}: {} vs {host}",
                nll[r]
            );
        }
    }
}
