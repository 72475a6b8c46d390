//! `-log_softmax(logits)[target]` for one row of logits, fast enough for GLM-4's 151,552-entry
//! vocabulary: the exponentials use a branch-free polynomial that the compiler vectorises, and
//! partial sums go to f64 every 64 entries so the result keeps f64-level accuracy.

/// `exp(x)` for `x <= 0` (Cephes' `expf` polynomial, about 1 ulp); 0 below e^-87.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
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

/// The same arithmetic lane by lane as the portable version (no FMA contraction), so results do
/// not depend on the CPU; AVX2 only makes the 8 lanes one register wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn log_sum_exp_avx2(logits: &[f32]) -> f64 {
    log_sum_exp_portable(logits)
}

#[inline(always)]
fn log_sum_exp_portable(logits: &[f32]) -> f64 {
    // Eight running maxima, so that the compiler can vectorise the reduction.
    let mut maxima = [f32::NEG_INFINITY; 8];
    let mut parts = logits.chunks_exact(8);
    for part in &mut parts {
        for (m, &x) in maxima.iter_mut().zip(part) {
            *m = m.max(x);
        }
    }
    let max = parts
        .remainder()
        .iter()
        .chain(&maxima)
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
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
}
