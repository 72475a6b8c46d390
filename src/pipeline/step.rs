//! A per-document pipeline step: look at (and maybe change) a document, then keep or reject it.

use crate::corpus::Document;
use rayon::prelude::*;
use serde_json::{Map, Value};

/// Why a step removed a document. Written under `glmkit` in the rejected record and counted in
/// `stats.json` under `by_reason`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The step that removed it (e.g. `gopher_quality`, `dedup_exact`).
    pub step: String,
    /// A short stable reason code (e.g. `word_count`, `dup_exact`).
    pub reason: String,
    /// Anything that explains the decision: the measured value, the threshold, the kept id.
    pub details: Map<String, Value>,
}

impl Rejection {
    pub fn new(step: impl Into<String>, reason: impl Into<String>) -> Self {
        Rejection {
            step: step.into(),
            reason: reason.into(),
            details: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    Reject(Rejection),
}

/// A step that decides about each document on its own (normalize, language id, quality rules,
/// scoring). Global steps such as dedup run as stages over files instead.
///
/// Steps must be deterministic: the same document gives the same verdict and the same changes
/// whatever the thread count or batch boundaries.
pub trait Step: Send + Sync {
    /// Name recorded in rejections and stats.
    fn name(&self) -> &str;

    /// Looks at one document; may change its text or annotate it.
    fn apply(&self, doc: &mut Document) -> Verdict;

    /// Looks at a batch (in input order). The executor passes a run's batches one at a time, in
    /// input order, so a step may keep state across them (streaming exact dedup does). Steps
    /// that gain from batching (model scoring) override this; the default runs
    /// [`Step::apply`] on each document in parallel.
    fn apply_batch(&self, docs: &mut [Document]) -> Vec<Verdict> {
        docs.par_iter_mut().map(|doc| self.apply(doc)).collect()
    }

    /// Whether this step only decides: it reads nothing of a document but its id, text and
    /// source, and changes nothing. When every step of a run only decides, the executor reads
    /// just the id and text of JSON records and writes the records it keeps as they were read,
    /// byte for byte, instead of decoding and re-encoding every field (dedup's filter stages
    /// are then limited by reading and writing alone).
    fn only_decides(&self) -> bool {
        false
    }
}
