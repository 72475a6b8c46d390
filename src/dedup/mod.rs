//! Deduplication at corpus scale: exact (xxh3-128 of normalized text), fuzzy (MinHash LSH,
//! verified candidate pairs, connected components) and line/paragraph-level (CCNet-style).
//!
//! Each algorithm runs as stages that exchange checksummed files in a work directory, hash
//! partitioned, and every stage runs as task `i` of `n` (`--shard i/n`): one machine runs them
//! all in one go, a cluster runs each stage as an array job. The result does not depend on the
//! number of tasks or threads: documents are named by their position in the input
//! ([`input::DocKey`]) and every tie is broken by it, so the first document in input order is
//! the one kept.

pub mod corpus_steps;
mod error;
pub mod exact;
pub mod fuzzy;
pub mod input;
pub mod lines;
pub mod minhash;
mod normalize;
pub mod output;
mod partition;
pub mod stagefile;
pub mod streaming;
pub mod tokens;
mod unionfind;

pub use crate::corpus::ShardSpec;
pub use error::DedupError;
pub use normalize::Normalization;
pub use unionfind::UnionFind;

use crate::pipeline::{RunOptions, RunSummary, Step};
use error::Result;

/// The worker pool of the hashing and grouping stages (`--threads`).
pub(crate) fn pool(run: &RunOptions) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(run.threads.unwrap_or(0))
        .build()
        .map_err(|e| DedupError::Config(format!("cannot start worker threads: {e}")))
}

/// Refuses `--stage all` with more than one task: each stage needs all tasks of the one before.
pub(crate) fn check_stage(stage: Stage, shard: ShardSpec) -> Result<()> {
    if stage == Stage::All && shard.count > 1 {
        return Err(DedupError::Config(
            "with --shard, run one stage at a time (each stage needs every task of the previous one)".into(),
        ));
    }
    Ok(())
}

/// The filter stage: runs `step` over the inputs with the executor, which writes the standard
/// output layout (kept, rejected, quarantine, stats) for the files of `run.shard`.
///
/// A filter task resumes like any run (files with a completion marker are skipped), but after
/// `--stage all` has just recomputed every decision, older markers may hold other decisions,
/// so every file is redone.
pub(crate) fn filter_with(
    inputs: &input::InputSet,
    step: Box<dyn Step>,
    run: &RunOptions,
    stage: Stage,
) -> Result<RunSummary> {
    let mut run = run.clone();
    run.read = inputs.read.clone();
    run.force |= stage == Stage::All;
    Ok(crate::pipeline::run(inputs.files(), &[step], &run)?)
}

/// Which stage a task runs. `All` runs every stage in order, as one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    All,
    /// Per document: content hashes (exact), MinHash signatures and band buckets (fuzzy),
    /// unit hash counts (lines).
    Signatures,
    /// Per partition: duplicate groups (exact), verified candidate pairs (fuzzy), frequent
    /// units (lines).
    Buckets,
    /// Per partition: local connected components (fuzzy only).
    Cluster,
    /// Per document: write kept, rejected and quarantined records.
    Filter,
}

impl std::str::FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "all" => Stage::All,
            "signatures" | "hashes" | "counts" => Stage::Signatures,
            "buckets" | "groups" => Stage::Buckets,
            "cluster" => Stage::Cluster,
            "filter" => Stage::Filter,
            other => {
                return Err(format!(
                    "stage `{other}`: expected all, signatures, buckets, cluster or filter"
                ))
            }
        })
    }
}
