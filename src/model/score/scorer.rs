//! Scoring documents with a GLM-4 model: tokenize, cut long documents into strided windows, batch
//! windows of similar length, and sum each document's NLL over the tokens it predicts.
//!
//! A document's score does not depend on which other documents share its batch (the executor's
//! batch boundaries or the thread count): every window is padded to a length that depends on its
//! own length only (a multiple of [`LENGTH_QUANTUM`]) and only windows of one padded length share
//! a batch, so attention always sees the same shapes; and every row-wise matrix product has at
//! least [`MIN_ROWS`] rows, because gemm picks other kernels (with another order of sums) for
//! very small products, while above that a row's result does not depend on the other rows.

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

use super::tokenizer::TextEncoder;
use super::windows::{plan_windows, Window};
use crate::model::{target_nll, token_nll, Glm4, ModelError, Packing};

/// Windows are padded to a multiple of this many tokens.
pub const LENGTH_QUANTUM: usize = 16;

/// Fewest rows of a matrix product: padding rows are added below this (see the module docs).
pub const MIN_ROWS: usize = 65;

/// Logit rows computed at once: bounds the `[rows, vocab]` f32 buffer to about 64 MiB.
const LOGIT_ELEMENTS: usize = 16 << 20;

/// Logit rows computed at once on a GPU: 1 GiB of f32 per temporary, so that the LM head's
/// product is large enough to run near the card's peak.
const GPU_LOGIT_ELEMENTS: usize = 1 << 28;

/// How windows become model calls and where token NLLs are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScorePlan {
    /// Several windows share a row (each sees only itself, see [`Packing`]): first fit by
    /// decreasing length into rows no longer than the longest window, instead of one window per
    /// row; rows are then padded to a multiple of [`LENGTH_QUANTUM`] and batched by length like
    /// single windows. Never more padding and fewer, fuller calls; but a window's score then
    /// depends, within rounding, on the windows it shares a call with.
    pub pack: bool,
    /// log-softmax and the gather of the targets run on the model's device and only the `[N]`
    /// f32 NLLs come back. Otherwise f32 logit blocks come to the host for an AVX2 log-sum-exp
    /// summed in f64: the faster path on the CPU, where the LM head writes straight into a reused
    /// buffer from the mapped weights.
    pub nll_on_device: bool,
}

impl ScorePlan {
    /// On the CPU one window per row and NLLs on the host (a document's score is then the same
    /// in any batch, and this is the fastest path there); on a GPU packed rows and NLLs on the
    /// device.
    pub fn for_device(device: &Device) -> Self {
        let gpu = !device.is_cpu();
        ScorePlan {
            pack: gpu,
            nll_on_device: gpu,
        }
    }
}

/// Token positions the model computed, how many of them held a window's token, and in how many
/// calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaddingStats {
    pub tokens: u64,
    pub positions: u64,
    /// Model calls.
    pub calls: u64,
}

impl PaddingStats {
    fn add_call(&mut self, tokens: usize, positions: usize) {
        self.tokens += tokens as u64;
        self.positions += positions as u64;
        self.calls += 1;
    }

    fn add(&mut self, call: &ModelCall) {
        let tokens = call.rows.iter().flatten().map(|j| j.window.len()).sum();
        self.add_call(tokens, call.len * rows_computed(call.len, call.rows.len()));
    }

    /// Share of the computed positions that were padding.
    pub fn share(&self) -> f64 {
        if self.positions == 0 {
            0.0
        } else {
            1.0 - self.tokens as f64 / self.positions as f64
        }
    }
}

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
    plan: ScorePlan,
    padding: Mutex<PaddingStats>,
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
        let plan = ScorePlan::for_device(model.device());
        Ok(Scorer {
            model,
            encoder,
            options,
            plan,
            padding: Mutex::new(PaddingStats::default()),
        })
    }

    /// Replaces the plan chosen for the model's device ([`ScorePlan::for_device`]).
    pub fn with_plan(mut self, plan: ScorePlan) -> Self {
        self.plan = plan;
        self
    }

    pub fn plan(&self) -> ScorePlan {
        self.plan
    }

    /// Padding computed so far by this scorer.
    pub fn padding(&self) -> PaddingStats {
        *self
            .padding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let mut scores: Vec<DocScore> = sequences
            .iter()
            .map(|s| DocScore {
                tokens: s.len().saturating_sub(prefix_len),
                predicted: 0,
                sum_nll: 0.0,
            })
            .collect();
        let jobs = self.jobs(sequences, prefix_len);
        let mut window_sums = vec![Vec::new(); sequences.len()];
        for call in self.model_calls(&jobs) {
            let sums = self.score_batch(call.len, &call.rows)?;
            for (job, sum) in call.rows.iter().flatten().zip(sums) {
                window_sums[job.doc].push((job.window.begin, job.window.targets(), sum));
            }
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

    /// The windows of every sequence.
    fn jobs<'a>(&self, sequences: &'a [Vec<u32>], prefix_len: usize) -> Vec<Job<'a>> {
        let o = &self.options;
        let mut jobs = Vec::new();
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
        jobs
    }

    /// The padding that scoring `sequences` would compute, without running the model.
    pub fn planned_padding(&self, sequences: &[Vec<u32>], prefix_len: usize) -> PaddingStats {
        let jobs = self.jobs(sequences, prefix_len);
        let mut stats = PaddingStats::default();
        for call in self.model_calls(&jobs) {
            stats.add(&call);
        }
        stats
    }

    /// Groups windows into model calls of at most `batch_tokens` padded tokens.
    fn model_calls<'a>(&self, jobs: &'a [Job<'a>]) -> Vec<ModelCall<'a>> {
        let rows: Vec<(usize, Vec<&Job>)> = if self.plan.pack {
            // First fit by decreasing length (stable: input order among equal lengths) into
            // rows no longer than the longest window; a row is then padded to a multiple of
            // LENGTH_QUANTUM, which wastes no more than padding each of its windows would.
            let Some(longest) = jobs.iter().map(|j| j.padded).max() else {
                return Vec::new();
            };
            let mut order: Vec<&Job> = jobs.iter().collect();
            order.sort_by_key(|j| std::cmp::Reverse(j.window.len()));
            let mut rows: Vec<(usize, Vec<&Job>)> = Vec::new();
            for job in order {
                let len = job.window.len();
                match rows.iter_mut().find(|(used, _)| used + len <= longest) {
                    Some((used, row)) => {
                        *used += len;
                        row.push(job);
                    }
                    None => rows.push((len, vec![job])),
                }
            }
            rows.into_iter()
                .map(|(used, row)| (used.div_ceil(LENGTH_QUANTUM) * LENGTH_QUANTUM, row))
                .collect()
        } else {
            jobs.iter().map(|job| (job.padded, vec![job])).collect()
        };
        // Rows grouped by padded length (stable: in order within a length), at most
        // `batch_tokens` padded tokens per call.
        let mut rows = rows;
        rows.sort_by_key(|(padded, _)| *padded);
        let mut calls = Vec::new();
        for group in rows.chunk_by(|a, b| a.0 == b.0) {
            let padded = group[0].0;
            for part in group.chunks((self.options.batch_tokens / padded).max(1)) {
                calls.push(ModelCall {
                    len: padded,
                    rows: part.iter().map(|(_, row)| row.clone()).collect(),
                });
            }
        }
        calls
    }

    /// Sum of target NLLs of each window of one model call (rows of `len` positions), in row
    /// order.
    fn score_batch(&self, len: usize, call_rows: &[Vec<&Job>]) -> Result<Vec<f64>, ModelError> {
        let padded = len;
        let device = self.model.device();
        let batch_rows = rows_computed(len, call_rows.len());
        let mut ids = vec![0u32; batch_rows * padded];
        let mut packing = vec![Vec::new(); batch_rows];
        let mut rows = Vec::new(); // hidden-state row predicting each target
        let mut targets = Vec::new();
        for (b, row) in call_rows.iter().enumerate() {
            let mut offset = b * padded;
            for job in row {
                let w = job.window;
                ids[offset..offset + w.len()].copy_from_slice(&job.ids[w.begin..w.end]);
                packing[b].push(w.len());
                for t in w.first..w.end {
                    rows.push((offset + t - 1 - w.begin) as u32);
                    targets.push(job.ids[t]);
                }
                offset += w.len();
            }
        }
        let packing = Packing::new(padded, packing)?;
        self.padding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .add_call(packing.tokens(), batch_rows * padded);
        let ids = Tensor::from_vec(ids, (batch_rows, padded), device)?;
        let hidden = self.model.hidden_states_packed(&ids, &packing)?;
        let (b, t, h) = hidden.dims3()?;
        let hidden = hidden.reshape((b * t, h))?;
        let nll = self.target_nlls(&hidden, &rows, &targets)?;
        let mut sums = Vec::new();
        let mut offset = 0;
        for job in call_rows.iter().flatten() {
            let k = job.window.targets();
            sums.push(nll[offset..offset + k].iter().sum());
            offset += k;
        }
        Ok(sums)
    }

    /// NLL of each target, predicted by row `rows[i]` of `hidden` `[N, H]`. The LM head runs
    /// only on positions that predict a target, never on padding, in chunks; each chunk is
    /// topped up to MIN_ROWS rows with copies of row 0.
    fn target_nlls(
        &self,
        hidden: &Tensor,
        rows: &[u32],
        targets: &[u32],
    ) -> Result<Vec<f64>, ModelError> {
        let device = self.model.device();
        let vocab = self.model.config().vocab_size;
        let elements = match device.is_cpu() {
            true => LOGIT_ELEMENTS,
            false => GPU_LOGIT_ELEMENTS,
        };
        let chunk = (elements / vocab).max(MIN_ROWS);
        let mut nll = Vec::with_capacity(targets.len());
        for start in (0..targets.len()).step_by(chunk) {
            let n = chunk.min(targets.len() - start);
            let mut chunk_rows = rows[start..start + n].to_vec();
            chunk_rows.resize(n.max(MIN_ROWS), rows[0]);
            let chunk_rows = Tensor::from_vec(chunk_rows, n.max(MIN_ROWS), device)?;
            let chunk_hidden = hidden.index_select(&chunk_rows, 0)?;
            let chunk_targets = &targets[start..start + n];
            if self.plan.nll_on_device {
                let mut padded_targets = chunk_targets.to_vec();
                padded_targets.resize(n.max(MIN_ROWS), targets[0]);
                let padded_targets = Tensor::from_vec(padded_targets, n.max(MIN_ROWS), device)?;
                let logits = self.model.logits(&chunk_hidden)?;
                let values = target_nll(&logits, &padded_targets)?.narrow(0, 0, n)?;
                nll.extend(values.to_vec1::<f32>()?.into_iter().map(f64::from));
                continue;
            }
            self.model.with_logits(&chunk_hidden, |logits| {
                nll.par_extend(
                    logits[..n * vocab]
                        .par_chunks(vocab)
                        .zip(chunk_targets)
                        .map(|(row, &target)| token_nll(row, target)),
                )
            })?;
        }
        Ok(nll)
    }
}

/// Rows of a call of `rows` rows of `len` positions: empty rows (length 0) bring the row-wise
/// products to MIN_ROWS rows.
fn rows_computed(len: usize, rows: usize) -> usize {
    rows.max(MIN_ROWS.div_ceil(len))
}

/// Rows of windows for one model call, every row `len` positions long.
struct ModelCall<'a> {
    len: usize,
    rows: Vec<Vec<&'a Job<'a>>>,
}
