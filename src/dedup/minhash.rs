//! MinHash signatures and their LSH bands.
//!
//! Each of the `bands * rows` lanes is a different 32-bit hash of the shingle hash; a lane of the
//! signature is the minimum over the document's shingles. The lane hashes use 32-bit arithmetic
//! only, so the inner loop vectorizes. Two signatures agree on a lane with probability equal to
//! the Jaccard similarity of the shingle sets, so the share of equal lanes estimates it.

use super::tokens::shingle_hashes_into;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The MinHash parameters; two runs compare only when these are equal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinHashParams {
    pub bands: u32,
    pub rows: u32,
    /// Tokens per shingle.
    pub shingle: u32,
    pub seed: u64,
}

impl Default for MinHashParams {
    /// datatrove's defaults: 14 bands of 8 rows (112 hashes) over word 5-grams.
    fn default() -> Self {
        MinHashParams {
            bands: 14,
            rows: 8,
            shingle: 5,
            seed: 1,
        }
    }
}

impl MinHashParams {
    pub fn lanes(&self) -> usize {
        (self.bands * self.rows) as usize
    }
}

/// Computes signatures; holds the per-lane hash constants.
#[derive(Debug, Clone)]
pub struct MinHasher {
    params: MinHashParams,
    mul_lo: Vec<u32>,
    mul_hi: Vec<u32>,
    xor_lo: Vec<u32>,
    xor_hi: Vec<u32>,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl MinHasher {
    pub fn new(params: MinHashParams) -> Self {
        let lanes = params.lanes();
        let mut state = params.seed;
        let mut next = || splitmix64(&mut state) as u32;
        let mut hasher = MinHasher {
            params,
            mul_lo: Vec::with_capacity(lanes),
            mul_hi: Vec::with_capacity(lanes),
            xor_lo: Vec::with_capacity(lanes),
            xor_hi: Vec::with_capacity(lanes),
        };
        for _ in 0..lanes {
            hasher.mul_lo.push(next() | 1);
            hasher.mul_hi.push(next() | 1);
            hasher.xor_lo.push(next());
            hasher.xor_hi.push(next());
        }
        hasher
    }

    pub fn params(&self) -> &MinHashParams {
        &self.params
    }

    /// Folds shingle hashes into `signature`: per shingle, every lane at once (the loop over
    /// lanes is what vectorizes).
    #[inline(always)]
    fn fold(&self, signature: &mut [u32], shingles: &[u64]) {
        let lanes = signature.len();
        let (ml, mh) = (&self.mul_lo[..lanes], &self.mul_hi[..lanes]);
        let (xl, xh) = (&self.xor_lo[..lanes], &self.xor_hi[..lanes]);
        for &shingle in shingles {
            let lo = shingle as u32;
            let hi = (shingle >> 32) as u32;
            for i in 0..lanes {
                let mut v = (lo ^ xl[i]).wrapping_mul(ml[i]) ^ (hi ^ xh[i]).wrapping_mul(mh[i]);
                v ^= v >> 15;
                v = v.wrapping_mul(0x2C1B_3C6D);
                v ^= v >> 12;
                signature[i] = signature[i].min(v);
            }
        }
    }

    /// [`Self::fold`] compiled for AVX2 (8 lanes per 32-bit multiply instead of emulated ones).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fold_avx2(&self, signature: &mut [u32], shingles: &[u64]) {
        self.fold(signature, shingles)
    }

    fn fold_best(&self, signature: &mut [u32], shingles: &[u64]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { self.fold_avx2(signature, shingles) };
        }
        self.fold(signature, shingles)
    }

    /// The signature of `text` into `signature` (length [`MinHashParams::lanes`]). Returns false
    /// when the text has no token, and so no signature. `scratch` and `shingles` are reused
    /// buffers.
    pub fn signature_into(
        &self,
        text: &str,
        scratch: &mut String,
        shingles: &mut Vec<u64>,
        signature: &mut [u32],
    ) -> bool {
        signature.fill(u32::MAX);
        shingle_hashes_into(text, self.params.shingle as usize, scratch, shingles);
        self.fold_best(signature, shingles);
        !shingles.is_empty()
    }

    pub fn signature(&self, text: &str) -> Option<Vec<u32>> {
        let mut signature = vec![0; self.params.lanes()];
        self.signature_into(text, &mut String::new(), &mut Vec::new(), &mut signature)
            .then_some(signature)
    }

    /// The bucket of `band` of a signature: a hash of that band's lanes, distinct per band.
    pub fn band_bucket(&self, signature: &[u32], band: u32) -> u64 {
        let rows = self.params.rows as usize;
        let start = band as usize * rows;
        let mut bytes = [0u8; 4 * 64];
        let lanes = &signature[start..start + rows];
        if rows <= 64 {
            for (chunk, lane) in bytes.chunks_exact_mut(4).zip(lanes) {
                chunk.copy_from_slice(&lane.to_le_bytes());
            }
            xxh3_64_with_seed(&bytes[..4 * rows], band as u64)
        } else {
            let bytes: Vec<u8> = lanes.iter().flat_map(|l| l.to_le_bytes()).collect();
            xxh3_64_with_seed(&bytes, band as u64)
        }
    }
}

/// The share of equal lanes: an estimate of the Jaccard similarity.
pub fn estimated_jaccard(a: &[u32], b: &[u32]) -> f64 {
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    equal as f64 / a.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::tokens::{jaccard, shingle_set};

    #[test]
    fn estimate_tracks_exact_jaccard() {
        let hasher = MinHasher::new(MinHashParams::default());
        let words: Vec<String> = (0..400).map(|i| format!("w{}", i * 7919 % 1000)).collect();
        let a = words.join(" ");
        let mut edited = words.clone();
        for i in (0..400).step_by(25) {
            edited[i] = format!("x{i}");
        }
        let b = edited.join(" ");
        let exact = jaccard(&shingle_set(&a, 5), &shingle_set(&b, 5));
        let est = estimated_jaccard(
            &hasher.signature(&a).unwrap(),
            &hasher.signature(&b).unwrap(),
        );
        assert!((exact - est).abs() < 0.12, "exact {exact} estimated {est}");
        assert_eq!(hasher.signature(&a), hasher.signature(&a));
        assert!(hasher.signature(" , ").is_none());
    }
}
