//! Stage 4: write kept, rejected (`dup_fuzzy`) and quarantined records of one task.

use super::super::error::Result;
use super::super::input::InputSet;
use super::super::output::{OutputWriter, Stats};
use super::super::shard::ShardSpec;
use super::cluster::{cluster_id, Clusters};
use super::store::SignatureStore;
use super::FuzzyOptions;
use crate::pipeline::Rejection;
use std::collections::HashMap;
use std::path::Path;

pub(super) fn run(
    inputs: &InputSet,
    opts: &FuzzyOptions,
    work_dir: &Path,
    out_dir: &Path,
    shard: ShardSpec,
    config: &serde_json::Value,
) -> Result<Stats> {
    let store = SignatureStore::open(work_dir, config, opts.minhash.lanes())?;
    let clusters = Clusters::load(work_dir, config, &store, opts.keep)?;
    // Removed document -> (cluster id, kept id).
    let mut removed: HashMap<u64, (String, String)> = HashMap::new();
    for (&node, &(root, kept)) in &clusters.member {
        if node != kept {
            let kept_id = store.get(kept)?.map(|e| e.id).unwrap_or_default();
            removed.insert(node, (cluster_id(root), kept_id));
        }
    }
    let mut out = OutputWriter::create(out_dir, shard, "dedup_fuzzy")?;
    inputs.for_each_batch(shard, opts.batch_bytes, |batch| {
        for record in &batch {
            match removed.get(&record.key) {
                Some((cluster, kept_id)) => {
                    let rejection = Rejection::new("dedup_fuzzy", "dup_fuzzy")
                        .with("cluster", cluster.as_str())
                        .with("kept_id", kept_id.as_str());
                    out.reject(inputs, record, &rejection)?;
                }
                None => match inputs.fields(record) {
                    Ok(_) => out.keep(inputs, record)?,
                    Err(e) => out.quarantine(inputs, record, &e)?,
                },
            }
        }
        Ok(())
    })?;
    out.finish()
}
