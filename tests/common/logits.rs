//! Comparing logits with golden ones (shared by the model tests).

use candle_core::Tensor;
use glmkit::model::Batch;

/// Largest |a - b| over the real (unpadded) positions of each sequence.
pub fn max_logit_diff(ours: &Tensor, theirs: &Tensor, batch: &Batch) -> f32 {
    let lengths = batch.lengths(usize::MAX).unwrap();
    let ours: Vec<Vec<Vec<f32>>> = ours.to_vec3().unwrap();
    let theirs: Vec<Vec<Vec<f32>>> = theirs.to_vec3().unwrap();
    let mut max = 0f32;
    for (b, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            for (x, y) in ours[b][t].iter().zip(&theirs[b][t]) {
                max = max.max((x - y).abs());
            }
        }
    }
    max
}
