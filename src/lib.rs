//! glmkit: turn raw multilingual text corpora into GLM-4-ready pretraining data.
//!
//! - [`corpus`]: documents, readers and writers (JSONL, .zst, .gz, Parquet, plain text).
//! - [`pipeline`]: per-document steps, the sharded executor, stats and resume.
//! - [`dedup`]: exact, MinHash-LSH and line-level deduplication.
//! - [`filter`]: normalization, language id and quality rules.
//! - [`bpe`]: byte-level BPE pre-tokenizer, trainer, encoder and tokenizer formats.
//! - [`model`]: the GLM-4 forward pass and perplexity scoring.
//! - [`bundled`]: the default pipeline and the bundled corpus that `glmkit run` uses without arguments.
//! - [`report`]: `report.html` of a run: inline SVG figures from its stats and outputs.
//! - [`steps`]: the catalogue of step kinds that pipeline files name (above the features).

pub mod bpe;
pub mod bundled;
pub mod check;
pub mod corpus;
pub mod dedup;
pub mod filter;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod slurm;
pub mod steps;
