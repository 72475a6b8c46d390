//! Scoring documents with a GLM-4 model: tokenize, cut long documents into strided windows, batch
//! windows of similar length, and sum each document's NLL over the tokens it predicts.
//!
//! A document's score does not depend on which other documents share its batch (the executor's
//! batch boundaries or the thread count): every window is padded to a length that depends on its
//! own length only (a multiple of [`LENGTH_QUANTUM`]) and only windows of one padded length share
//! a batch, so attention always sees the same shapes; and every row-wise matrix product has at
//! least [`MIN_ROWS`] rows, because gemm picks other kernels (with another order of sums) for
//! very small products, while above that a row's result does not depend on the other rows.

use candle_core::Tensor;
use rayon::prelude::*;

use super::tokenizer::TextEncoder;
use super::windows::{plan_windows, Window};
use crate::model::{token_nll, Glm4, ModelError};

/// Windows are padded to a multiple of this many tokens.
pub const LENGTH_QUANTUM: usize = 16;

/// Fewest rows of a matrix product: padding rows are added below this (see the module docs).
pub const MIN_ROWS: usize = 65;

/// Logit rows computed at once: bounds the `[rows, vocab]` f32 buffer to about 64 MiB.
const LOGIT_ELEMENTS: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreOptions {
    /// Longest window the model sees (prefix included).
    pub max_tokens: usize,
    /// Distance between window starts in long documents (`1..=max_tokens`).
    pub stride: usize,
    /// Padded tokens per model call (batch rows x padded length).
    pub batch_tokens: usize,
    /// Score only the first this many tokens of each document (all when `None`): a cheaper
    /// estimate for quick runs; `tokens` still counts the whole document.
    pub head_tokens: Option<usize>,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            max_tokens: 1024,
            stride: 512,
            batch_tokens: 8192,
            head_tokens: None,
        }
    }
}

impl ScoreOptions {
    /// Options from what a user set: the window defaults to 1024 tokens or the model's context
    /// (`max_position_embeddings`) if that is shorter, the stride to half the window.
    pub fn resolve(
        max_tokens: Option<usize>,
        stride: Option<usize>,
        batch_tokens: Option<usize>,
        model_context: usize,
    ) -> Self {
        let defaults = ScoreOptions::default();
        let max_tokens = max_tokens.unwrap_or(defaults.max_tokens.min(model_context));
        ScoreOptions {
            max_tokens,
            stride: stride.unwrap_or((max_tokens / 2).max(1)),
            batch_tokens: batch_tokens.unwrap_or(defaults.batch_tokens),
            head_tokens: None,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        if self.max_tokens < 2 {
            return Err(ModelError::Input(format!(
                "max_tokens {} must be at least 2",
                self.max_tokens
            )));
        }
        if self.stride == 0 || self.stride > self.max_tokens {
            return Err(ModelError::Input(format!(
                "stride {} must be between 1 and max_tokens {}",
                self.stride, self.max_tokens
            )));
        }
        if self.head_tokens == Some(0) {
            return Err(ModelError::Input("head_tokens must be positive".into()));
        }
        if self.batch_tokens == 0 {
            return Err(ModelError::Input("batch_tokens must be positive".into()));
        }
        Ok(())
    }
}

/// A document's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DocScore {
    /// Tokens of the text (without the prefix).
    pub tokens: usize,
    /// Tokens whose NLL was summed.
    pub predicted: usize,
    pub sum_nll: f64,
}

impl DocScore {
    /// Mean NLL per predicted token, if any token was predicted.
    pub fn nll(&self) -> Option<f64> {
        (self.predicted > 0).then(|| self.sum_nll / self.predicted as f64)
    }

    pub fn perplexity(&self) -> Option<f64> {
        self.nll().map(f64::exp)
    }
}

/// One window of one document, ready to batch.
struct Job<'a> {
    doc: usize,
    ids: &'a [u32],
    window: Window,
    padded: usize,
}

/// A model plus a tokenizer.
pub struct Scorer {
    model: Glm4,
    encoder: Box<dyn TextEncoder>,
    options: ScoreOptions,
}

impl Scorer {
    pub fn new(
        model: Glm4,
        encoder: Box<dyn TextEncoder>,
        options: ScoreOptions,
    ) -> Result<Self, ModelError> {
        options.validate()?;
        let max_positions = model.config().max_position_embeddings;
        if options.max_tokens > max_positions {
            return Err(ModelError::Input(format!(
                "max_tokens {} is longer than the model's max_position_embeddings {max_positions}",
                options.max_tokens
            )));
        }
        let vocab = model.config().vocab_size;
        if encoder.max_id() as usize >= vocab {
            return Err(ModelError::Input(format!(
                "the tokenizer produces ids up to {}, the model's vocabulary has {vocab}",
                encoder.max_id()
            )));
        }
        Ok(Scorer {
            model,
            encoder,
            options,
        })
    }

    pub fn model(&self) -> &Glm4 {
        &self.model
    }

    pub fn options(&self) -> &ScoreOptions {
        &self.options
    }

    /// Scores texts; results are in input order.
    pub fn score_texts(&self, texts: &[&str]) -> Result<Vec<DocScore>, ModelError> {
        let sequences: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|text| self.encode(text))
            .collect::<Result<_, _>>()?;
        self.score_ids(&sequences, self.prefix_len())
    }

    /// The ids the model scores for `text`: the tokenizer's prefix, then the text's tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let ids = self.encoder.encode(text)?;
        Ok(self.encoder.prefix().iter().copied().chain(ids).collect())
    }

    /// Length of the context-only prefix that [`Scorer::encode`] puts first.
    pub fn prefix_len(&self) -> usize {
        self.encoder.prefix().len()
    }

    /// Scores token sequences whose first `prefix_len` ids are a prefix that is context only.
    pub fn score_ids(
        &self,
        sequences: &[Vec<u32>],
        prefix_len: usize,
    ) -> Result<Vec<DocScore>, ModelError> {
        let o = &self.options;
        let mut scores: Vec<DocScore> = sequences
            .iter()
            .map(|s| DocScore {
                tokens: s.len().saturating_sub(prefix_len),
                predicted: 0,
                sum_nll: 0.0,
            })
            .collect();
        let mut jobs: Vec<Job> = Vec::new();
        for (doc, ids) in sequences.iter().enumerate() {
            let scored = o
                .head_tokens
                .map_or(ids.len(), |head| ids.len().min(prefix_len + head));
            for window in plan_windows(scored, prefix_len, o.max_tokens, o.stride) {
                let padded = window.len().div_ceil(LENGTH_QUANTUM) * LENGTH_QUANTUM;
                jobs.push(Job {
                    doc,
                    ids,
                    window,
                    padded,
                });
            }
        }
        // Group by padded length (stable: input order within a length).
        jobs.sort_by_key(|j| j.padded);
        let mut window_sums = vec![Vec::new(); sequences.len()];
        let mut start = 0;
        while start < jobs.len() {
            let padded = jobs[start].padded;
            let rows = (o.batch_tokens / padded).max(1);
            let mut end = start;
            while end < jobs.len() && jobs[end].padded == padded && end - start < rows {
                end += 1;
            }
            let batch = &jobs[start..end];
            for (job, sum) in batch.iter().zip(self.score_batch(batch)?) {
                window_sums[job.doc].push((job.window.begin, job.window.targets(), sum));
            }
            start = end;
        }
        for (score, mut sums) in scores.iter_mut().zip(window_sums) {
            // Add window sums in document order, whatever order the batches ran in.
            sums.sort_by_key(|(begin, _, _)| *begin);
            for (_, targets, sum) in sums {
                score.predicted += targets;
                score.sum_nll += sum;
            }
        }
        Ok(scores)
    }

    /// Sum of target NLLs of each window of one batch (all of one padded length).
    fn score_batch(&self, jobs: &[Job]) -> Result<Vec<f64>, ModelError> {
        let padded = jobs[0].padded;
        let device = self.model.device();
        // Empty rows (length 0) bring the product to MIN_ROWS rows.
        let batch_rows = jobs.len().max(MIN_ROWS.div_ceil(padded));
        let mut ids = vec![0u32; batch_rows * padded];
        let mut lengths = vec![0; batch_rows];
        let mut rows = Vec::new(); // hidden-state row predicting each target
        let mut targets = Vec::new();
        for (b, job) in jobs.iter().enumerate() {
            let w = job.window;
            ids[b * padded..b * padded + w.len()].copy_from_slice(&job.ids[w.begin..w.end]);
            lengths[b] = w.len();
            for t in w.first..w.end {
                rows.push((b * padded + t - 1 - w.begin) as u32);
                targets.push(job.ids[t]);
            }
        }
        let ids = Tensor::from_vec(ids, (batch_rows, padded), device)?;
        let hidden = self.model.hidden_states(&ids, &lengths)?;
        let (b, t, h) = hidden.dims3()?;
        let hidden = hidden.reshape((b * t, h))?;
        // The LM head runs only on positions that predict a target, never on padding; each chunk
        // is topped up to MIN_ROWS rows with copies of row 0.
        let vocab = self.model.config().vocab_size;
        let chunk = (LOGIT_ELEMENTS / vocab).max(MIN_ROWS);
        let mut nll = Vec::with_capacity(targets.len());
        for start in (0..targets.len()).step_by(chunk) {
            let n = chunk.min(targets.len() - start);
            let mut chunk_rows = rows[start..start + n].to_vec();
            chunk_rows.resize(n.max(MIN_ROWS), rows[0]);
            let chunk_rows = Tensor::from_vec(chunk_rows, n.max(MIN_ROWS), device)?;
            let chunk_hidden = hidden.index_select(&chunk_rows, 0)?;
            let chunk_targets = &targets[start..start + n];
            self.model.with_logits(&chunk_hidden, |logits| {
                nll.par_extend(
                    logits[..n * vocab]
                        .par_chunks(vocab)
                        .zip(chunk_targets)
                        .map(|(row, &target)| token_nll(row, target)),
                )
            })?;
        }
        let mut sums = Vec::with_capacity(jobs.len());
        let mut offset = 0;
        for job in jobs {
            let k = job.window.targets();
            sums.push(nll[offset..offset + k].iter().sum());
            offset += k;
        }
        Ok(sums)
    }
}
