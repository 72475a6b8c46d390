//! Fuzzy dedup: MinHash signatures, LSH band buckets, verified candidate pairs, connected
//! components, one document kept per cluster.
//!
//! Stages and the files they leave in the work directory (every one checksummed and listed
//! in a manifest; each stage checks the previous stage's manifests are complete):
//! 1. `signatures` (task i of n over documents): `fuzzy-signatures/sig-*.bin` (key, length,
//!    signature), `ids-*.bin`, and the band buckets `p<partition>-*.bin`, partitioned by
//!    bucket hash;
//! 2. `buckets` (task i of n over partitions): candidate pairs sharing a bucket, verified by
//!    the share of equal signature lanes (or the exact Jaccard), `fuzzy-buckets/p<partition>.bin`;
//! 3. `cluster` (task i of n over partitions): connected components of each partition's pairs,
//!    `fuzzy-clusters/p<partition>.bin` (node, smallest key of its local component);
//! 4. `filter` (task i of n over input files, through the pipeline executor): merges the
//!    partitions' components (a union-find over the pairs of stage 3, small: one pair per
//!    duplicate document and partition), picks the kept document of each cluster, and rejects
//!    the others ([`FuzzyFilter`]).

mod buckets;
mod cluster;
mod explain;
mod filter;
mod signatures;
mod store;

pub use explain::{explain, Explanation, Pair};
pub use filter::FuzzyFilter;

use super::error::{DedupError, Result};
use super::input::InputSet;
use super::minhash::MinHashParams;
use super::{check_stage, filter_with, pool, Stage};
use crate::pipeline::{RunOptions, RunSummary};
use std::path::Path;

pub(crate) const SIGNATURES: &str = "fuzzy-signatures";
pub(crate) const BUCKETS: &str = "fuzzy-buckets";
pub(crate) const CLUSTERS: &str = "fuzzy-clusters";

/// Which document of a cluster stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The first in input order.
    #[default]
    First,
    /// The longest text (ties: the first in input order).
    Longest,
}

/// How candidate pairs are verified before they link two documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    /// Every pair sharing a bucket links (datatrove's behaviour; more false positives).
    None,
    /// The share of equal signature lanes (estimated Jaccard) must reach the threshold.
    #[default]
    Signature,
    /// The true Jaccard of the shingle sets must reach the threshold. Stage 1 then also stores
    /// every document's shingle set (8 bytes per shingle, about the size of the text).
    Exact,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FuzzyOptions {
    pub minhash: MinHashParams,
    /// How candidate pairs (documents sharing a bucket) are checked.
    pub verify: Verify,
    /// Pairs whose (estimated or exact) Jaccard is below this are dropped.
    pub verify_threshold: f64,
    pub keep: Keep,
    pub partitions: u32,
    #[serde(skip)]
    pub batch_bytes: usize,
}

impl Default for FuzzyOptions {
    fn default() -> Self {
        FuzzyOptions {
            minhash: MinHashParams::default(),
            verify: Verify::Signature,
            verify_threshold: 0.8,
            keep: Keep::First,
            partitions: 16,
            batch_bytes: 16 << 20,
        }
    }
}

pub(crate) fn config(opts: &FuzzyOptions, inputs: &InputSet) -> Result<serde_json::Value> {
    Ok(serde_json::json!({
        "algorithm": "fuzzy",
        "options": opts,
        "inputs": inputs.fingerprint()?,
    }))
}

/// Runs `stage` (or all of them) as task `run.shard`. Returns the filter stage's summary, if
/// it ran.
pub fn run(
    inputs: &InputSet,
    opts: &FuzzyOptions,
    work_dir: &Path,
    run: &RunOptions,
    stage: Stage,
) -> Result<Option<RunSummary>> {
    let p = &opts.minhash;
    if p.bands == 0 || p.rows == 0 || p.shingle == 0 || opts.partitions == 0 {
        return Err(DedupError::Config(
            "bands, rows, shingle size and partitions must be at least 1".into(),
        ));
    }
    let shard = run.shard;
    check_stage(stage, shard)?;
    let config = config(opts, inputs)?;
    pool(run)?.install(|| -> Result<()> {
        if matches!(stage, Stage::All | Stage::Signatures) {
            signatures::run(inputs, opts, work_dir, shard, &config)?;
        }
        if matches!(stage, Stage::All | Stage::Buckets) {
            buckets::run(opts, work_dir, shard, &config)?;
        }
        if matches!(stage, Stage::All | Stage::Cluster) {
            cluster::run(opts, work_dir, shard, &config)?;
        }
        Ok(())
    })?;
    if matches!(stage, Stage::All | Stage::Filter) {
        let step = filter::FuzzyFilter::load(inputs, opts, work_dir)?;
        return filter_with(inputs, Box::new(step), run, stage).map(Some);
    }
    Ok(None)
}
