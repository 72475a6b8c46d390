//! Stage 4: the decisions for every document, as a pipeline step (`dup_fuzzy`).

use super::super::error::Result;
use super::super::input::InputSet;
use super::cluster::{cluster_id, Clusters};
use super::store::SignatureStore;
use super::FuzzyOptions;
use crate::corpus::Document;
use crate::pipeline::{Rejection, Step, StepError, Verdict};
use std::path::Path;

/// Rejects every document of a cluster but the kept one, with the cluster and the kept id.
///
/// It holds the merged clusters (12 bytes per clustered document) and no string: the cluster
/// id is printed from its smallest key and the kept id read from the signature store (memory
/// mapped) when a document is rejected.
pub struct FuzzyFilter {
    clusters: Clusters,
    store: SignatureStore,
    inputs: InputSet,
}

impl FuzzyFilter {
    /// The decisions of a finished `cluster` stage run with `opts` over `inputs`: merges the
    /// partitions' clusters (a union-find over the pairs of the `cluster` stage).
    pub fn load(inputs: &InputSet, opts: &FuzzyOptions, work_dir: &Path) -> Result<Self> {
        let config = &super::config(opts, inputs)?;
        let store = SignatureStore::open(work_dir, config, opts.minhash.lanes())?;
        let clusters = Clusters::load(work_dir, config, &store, opts.keep)?;
        Ok(FuzzyFilter {
            clusters,
            store,
            inputs: inputs.clone(),
        })
    }
}

impl Step for FuzzyFilter {
    fn name(&self) -> &str {
        "dedup_fuzzy"
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let decision = self.inputs.key_of(doc).and_then(|key| {
            let (root, kept) = self.clusters.get(key)?;
            (kept != key).then_some((root, kept))
        });
        Ok(match decision {
            Some((root, kept)) => {
                let kept_id = self.store.get(kept)?.map(|e| e.id).unwrap_or_default();
                Verdict::Reject(
                    Rejection::new("dedup_fuzzy", "dup_fuzzy")
                        .with("cluster", cluster_id(root).as_str())
                        .with("kept_id", kept_id.as_str()),
                )
            }
            None => Verdict::Keep,
        })
    }

    /// Decides from the document's position alone.
    fn only_decides(&self) -> bool {
        true
    }
}
