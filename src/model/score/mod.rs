//! Perplexity scoring of documents: tokenizer, strided windows, length-bucketed batches, the
//! `score` pipeline step and CCNet-style per-language buckets.

mod buckets;
mod config;
mod scorer;
mod step;
mod tokenizer;
mod windows;

pub use buckets::{percentile, Bucket, BucketCutoffs, Cutoffs};
pub use config::{bucket_step, score_step};
pub use scorer::{
    DocScore, PaddingStats, ScoreOptions, ScorePlan, Scorer, LENGTH_QUANTUM, MIN_ROWS,
};
pub use step::{document_language, BucketStep, PplThresholds, ScoreStep, REASON};
pub use tokenizer::{HfTokenizer, RankFileTokenizer, TextEncoder, Tokenizer, GLM_PREFIX};
pub use windows::{plan_windows, Window};
