//! Stage 4: the decisions for every document, as a pipeline step (`dup_fuzzy`).

use super::super::error::Result;
use super::super::input::{DocKey, InputSet};
use super::cluster::{cluster_id, Clusters};
use super::store::SignatureStore;
use super::FuzzyOptions;
use crate::corpus::Document;
use crate::pipeline::{Rejection, Step, StepError, Verdict};
use std::collections::HashMap;
use std::path::Path;

/// Rejects every document of a cluster but the kept one, with the cluster and the kept id.
pub struct FuzzyFilter {
    /// Removed document -> (cluster id, kept id).
    removed: HashMap<DocKey, (String, String)>,
    inputs: InputSet,
}

impl FuzzyFilter {
    /// The decisions of a finished `cluster` stage run with `opts` over `inputs`: merges the
    /// partitions' clusters (a union-find over the pairs of the `cluster` stage).
    pub fn load(inputs: &InputSet, opts: &FuzzyOptions, work_dir: &Path) -> Result<Self> {
        let config = &super::config(opts, inputs)?;
        let store = SignatureStore::open(work_dir, config, opts.minhash.lanes())?;
        let clusters = Clusters::load(work_dir, config, &store, opts.keep)?;
        let mut removed = HashMap::new();
        for (&node, &(root, kept)) in &clusters.member {
            if node != kept {
                let kept_id = store.get(kept)?.map(|e| e.id).unwrap_or_default();
                removed.insert(node, (cluster_id(root), kept_id));
            }
        }
        Ok(FuzzyFilter {
            removed,
            inputs: inputs.clone(),
        })
    }
}

impl Step for FuzzyFilter {
    fn name(&self) -> &str {
        "dedup_fuzzy"
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        Ok(
            match self
                .inputs
                .key_of(doc)
                .and_then(|key| self.removed.get(&key))
            {
                Some((cluster, kept_id)) => Verdict::Reject(
                    Rejection::new("dedup_fuzzy", "dup_fuzzy")
                        .with("cluster", cluster.as_str())
                        .with("kept_id", kept_id.as_str()),
                ),
                None => Verdict::Keep,
            },
        )
    }

    /// Decides from the document's position alone.
    fn only_decides(&self) -> bool {
        true
    }
}
