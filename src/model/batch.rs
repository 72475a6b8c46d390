//! Batches of token ids with right padding, and the per-sequence negative log-likelihood.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::error::ModelError;
use super::nll::token_nll;

/// `{"input_ids": [[...], ...], "attention_mask": [[...], ...]}`, as transformers takes it. The
/// mask is optional (all ones) and must be right padding: ones, then zeros.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub input_ids: Vec<Vec<u32>>,
    #[serde(default)]
    pub attention_mask: Option<Vec<Vec<u8>>>,
}

impl Batch {
    /// Number of real tokens in each sequence, checking shapes, padding side and ids.
    pub fn lengths(&self, vocab_size: usize) -> Result<Vec<usize>, ModelError> {
        let Some(first) = self.input_ids.first() else {
            return Err(ModelError::Input("input_ids is empty".into()));
        };
        let t = first.len();
        let mut lengths = Vec::with_capacity(self.input_ids.len());
        for (b, ids) in self.input_ids.iter().enumerate() {
            if ids.len() != t {
                return Err(ModelError::Input(format!(
                    "input_ids[{b}] has {} tokens, input_ids[0] has {t}; pad to one length",
                    ids.len()
                )));
            }
            let len = match &self.attention_mask {
                None => t,
                Some(masks) => {
                    let Some(mask) = masks.get(b) else {
                        return Err(ModelError::Input(format!("attention_mask has no row {b}")));
                    };
                    padded_length(mask, t)
                        .map_err(|m| ModelError::Input(format!("attention_mask[{b}]: {m}")))?
                }
            };
            if let Some((pos, id)) = ids[..len]
                .iter()
                .enumerate()
                .find(|(_, &id)| id as usize >= vocab_size)
            {
                return Err(ModelError::Input(format!(
                    "input_ids[{b}][{pos}] = {id} is outside the vocabulary of {vocab_size}"
                )));
            }
            lengths.push(len);
        }
        if let Some(masks) = &self.attention_mask {
            if masks.len() != self.input_ids.len() {
                return Err(ModelError::Input(format!(
                    "attention_mask has {} rows, input_ids has {}",
                    masks.len(),
                    self.input_ids.len()
                )));
            }
        }
        Ok(lengths)
    }

    /// The ids as a `[B, T]` u32 tensor; padding positions are set to 0 (they never reach a real token).
    pub fn ids_tensor(&self, lengths: &[usize], device: &Device) -> Result<Tensor, ModelError> {
        let t = self.input_ids[0].len();
        let mut flat = Vec::with_capacity(self.input_ids.len() * t);
        for (ids, &len) in self.input_ids.iter().zip(lengths) {
            flat.extend(
                ids.iter()
                    .enumerate()
                    .map(|(i, &id)| if i < len { id } else { 0 }),
            );
        }
        Ok(Tensor::from_vec(flat, (self.input_ids.len(), t), device)?)
    }
}

fn padded_length(mask: &[u8], t: usize) -> Result<usize, String> {
    if mask.len() != t {
        return Err(format!("{} values for {t} tokens", mask.len()));
    }
    if let Some(bad) = mask.iter().find(|&&m| m > 1) {
        return Err(format!("value {bad} is not 0 or 1"));
    }
    let len = mask.iter().take_while(|&&m| m == 1).count();
    if mask[len..].contains(&1) {
        return Err("padding must be on the right (ones, then zeros)".into());
    }
    Ok(len)
}

/// Negative log-likelihood of one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SequenceNll {
    /// Predicted positions: t with mask[t] = mask[t+1] = 1, i.e. real tokens minus one.
    pub n_tokens: usize,
    pub sum_nll: f64,
    pub mean_nll: f64,
    pub perplexity: f64,
}

impl SequenceNll {
    pub fn from_sum(sum_nll: f64, n_tokens: usize) -> Self {
        let mean_nll = if n_tokens == 0 {
            0.0
        } else {
            sum_nll / n_tokens as f64
        };
        SequenceNll {
            n_tokens,
            sum_nll,
            mean_nll,
            perplexity: mean_nll.exp(),
        }
    }
}

/// Per-sequence NLL from f32 logits `[B, T, V]` flattened row-major.
pub fn sequence_nll(
    logits: &[f32],
    vocab: usize,
    ids: &[Vec<u32>],
    lengths: &[usize],
) -> Vec<SequenceNll> {
    let t = ids.first().map_or(0, |s| s.len());
    ids.iter()
        .zip(lengths)
        .enumerate()
        .map(|(b, (seq, &len))| {
            let sum: f64 = (0..len.saturating_sub(1))
                .map(|pos| {
                    let row = &logits[(b * t + pos) * vocab..(b * t + pos + 1) * vocab];
                    token_nll(row, seq[pos + 1])
                })
                .sum();
            SequenceNll::from_sum(sum, len.saturating_sub(1))
        })
        .collect()
}

/// Runs `model` on `batch`: the f32 logits `[B, T, V]` and each sequence's NLL.
pub fn forward_batch(
    model: &super::Glm4,
    batch: &Batch,
) -> Result<(Tensor, Vec<SequenceNll>), ModelError> {
    let vocab = model.config().vocab_size;
    let lengths = batch.lengths(vocab)?;
    let ids = batch.ids_tensor(&lengths, model.device())?;
    let logits = model.forward(&ids, &lengths)?;
    let flat: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    let nll = sequence_nll(&flat, vocab, &batch.input_ids, &lengths);
    Ok((logits, nll))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_right_padding() {
        let batch: Batch = serde_json::from_str(
            r#"{"input_ids": [[1,2,3],[4,5,0]], "attention_mask": [[1,1,1],[1,1,0]]}"#,
        )
        .unwrap();
        assert_eq!(batch.lengths(10).unwrap(), vec![3, 2]);
    }

    #[test]
    fn bad_batches_are_errors_that_say_where() {
        let left: Batch =
            serde_json::from_str(r#"{"input_ids": [[1,2]], "attention_mask": [[0,1]]}"#).unwrap();
        assert!(left
            .lengths(10)
            .unwrap_err()
            .to_string()
            .contains("attention_mask[0]"));
        let big: Batch = serde_json::from_str(r#"{"input_ids": [[1,2],[3,12]]}"#).unwrap();
        assert!(big
            .lengths(10)
            .unwrap_err()
            .to_string()
            .contains("input_ids[1][1] = 12"));
        let ragged: Batch = serde_json::from_str(r#"{"input_ids": [[1,2],[3]]}"#).unwrap();
        assert!(ragged
            .lengths(10)
            .unwrap_err()
            .to_string()
            .contains("input_ids[1]"));
    }

    #[test]
    fn nll_of_uniform_logits_is_log_vocab() {
        let logits = vec![0.5f32; 2 * 4];
        let nll = sequence_nll(&logits, 4, &[vec![1, 2]], &[2]);
        assert_eq!(nll[0].n_tokens, 1);
        assert!((nll[0].mean_nll - 4f64.ln()).abs() < 1e-12);
        assert!((nll[0].perplexity - 4.0).abs() < 1e-9);
    }
}
