//! A per-document pipeline step: look at (and maybe change) a document, then keep or reject it;
//! and a corpus-wide step, which looks at the whole corpus before it decides.

use crate::corpus::{Document, InputFile, ReadOptions, ShardSpec};
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::path::Path;

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

/// Why a step could not do its work (a device error, out of memory, a file it needs): not a
/// verdict about any document. The run stops, the input file it was on is not marked done, and
/// a rerun does it again.
pub type StepError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep,
    Reject(Rejection),
}

/// A step that decides about each document on its own (normalize, language id, quality rules,
/// scoring, streaming exact dedup). Steps that need the whole corpus first are
/// [`CorpusStep`]s.
///
/// Steps must be deterministic: the same document gives the same verdict and the same changes
/// whatever the thread count or batch boundaries.
///
/// A verdict is about a document; an error is about the step. A document the step cannot take
/// (too long for the model, say) is a rejection with its reason; a failure of the step itself
/// (the device, memory, a file it reads) is an [`StepError`], which fails the run instead of
/// deciding about documents.
pub trait Step: Send + Sync {
    /// Name recorded in rejections and stats.
    fn name(&self) -> &str;

    /// Looks at one document; may change its text or annotate it.
    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError>;

    /// Looks at a batch (in input order). The executor passes a run's batches one at a time, in
    /// input order, so a step may keep state across them (streaming exact dedup does). Steps
    /// that gain from batching (model scoring) override this; the default runs
    /// [`Step::apply`] on each document in parallel.
    fn apply_batch(&self, docs: &mut [Document]) -> Result<Vec<Verdict>, StepError> {
        docs.par_iter_mut().map(|doc| self.apply(doc)).collect()
    }

    /// Whether a verdict can depend on the documents of earlier files (streaming exact dedup
    /// remembers every text it kept). A run with such a step cannot skip the files a previous
    /// run finished, so it redoes them all, and its pass cannot shard
    /// ([`crate::pipeline::Graph`]).
    fn remembers_earlier_files(&self) -> bool {
        false
    }

    /// Whether this step only decides: it reads nothing of a document but its id, text and
    /// source, and changes nothing. When every step of a run only decides, the executor reads
    /// just the id and text of JSON records and writes the records it keeps as they were read,
    /// byte for byte, instead of decoding and re-encoding every field (dedup's filter stages
    /// are then limited by reading and writing alone).
    fn only_decides(&self) -> bool {
        false
    }

    /// The names the run counts this step under in `stats.json`: the step's own name, or, for
    /// a step made of parts that run in order and each may reject (the `quality` step's rules),
    /// each part, counted as if it were a step of its own: a part sees the documents the parts
    /// before it kept. Each rejection of such a step names its part ([`Rejection::step`]).
    fn counted_as(&self) -> Vec<String> {
        vec![self.name().to_string()]
    }
}

/// Where a corpus-wide step finds the documents that reach it, and where it may keep files.
pub struct CorpusInput<'a> {
    /// The files holding the documents that reach the step, in input order.
    pub files: &'a [InputFile],
    pub read: &'a ReadOptions,
    /// A folder of the step's own, for its stage files.
    pub work_dir: &'a Path,
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
}

/// A step that must see the whole corpus before it can decide about any document (exact, fuzzy
/// and line dedup). It looks at every document that reaches it in one or more stages
/// ([`CorpusStep::stages`]), each of which runs as task `i` of `n` over the whole input and
/// leaves its files in the step's work folder; then [`CorpusStep::decider`] reads those files
/// and returns the per-document step that applies the decisions. A pipeline with such steps
/// compiles to a graph of stages ([`crate::pipeline::Graph`]).
///
/// The decisions must depend only on the documents and their order, never on the thread or
/// task count, and a stage task run twice must leave the same files.
pub trait CorpusStep: Send + Sync {
    /// Name recorded in rejections and stats (the decision step's name too).
    fn name(&self) -> &str;

    /// The names of the stages that look at the corpus, in the order they run (each needs every
    /// task of the one before it).
    fn stages(&self) -> Vec<&'static str>;

    /// Runs task `task` of stage `stage` (an index into [`CorpusStep::stages`]).
    fn run_stage(
        &self,
        stage: usize,
        input: &CorpusInput,
        task: ShardSpec,
    ) -> Result<(), StepError>;

    /// After every stage: the step that decides about the documents of the input files that
    /// task `task` of the next pass owns (`ShardSpec::owns` of their position); it may
    /// load the decisions for those files alone.
    fn decider(&self, input: &CorpusInput, task: ShardSpec) -> Result<Box<dyn Step>, StepError>;
}

/// A step of a pipeline: document-local, or corpus-wide.
pub enum PipelineStep {
    Document(Box<dyn Step>),
    Corpus(Box<dyn CorpusStep>),
}

impl PipelineStep {
    pub fn name(&self) -> &str {
        match self {
            PipelineStep::Document(step) => step.name(),
            PipelineStep::Corpus(step) => step.name(),
        }
    }

    /// The step, if it is document-local.
    pub fn document(&self) -> Option<&dyn Step> {
        match self {
            PipelineStep::Document(step) => Some(step.as_ref()),
            PipelineStep::Corpus(_) => None,
        }
    }

    pub fn is_corpus_wide(&self) -> bool {
        matches!(self, PipelineStep::Corpus(_))
    }
}
