//! Stage 3: connected components of each partition's pairs, and the merge of all partitions.
//!
//! A partition's components are written as (node, smallest key of its local component), with
//! the sorted list of every key in them. The union of these pairs over all partitions has the
//! same connected components as all the pairs together, with at most one pair per duplicate
//! document and partition. [`Clusters::load`] merges them with a [`DenseUnionFind`] over the
//! merged key lists: 12 bytes per clustered document (16 with `--keep longest`), the only
//! structure a filter task holds over the whole corpus.

use super::super::error::{DedupError, Result};
use super::super::input::DocKey;
use super::super::partition::{owns_partition, BackgroundFinish};
use super::super::stagefile::{u64_at, FileEntry, Manifest, StageFile, StageWriter};
use super::super::unionfind::{merge_sorted_unique, DenseUnionFind};
use super::buckets::{parse_edge, EDGE_KIND, EDGE_RECORD};
use super::store::SignatureStore;
use super::{FuzzyOptions, Keep, BUCKETS, CLUSTERS};
use crate::corpus::ShardSpec;
use rayon::prelude::*;
use std::path::Path;

const PAIR_KIND: &[u8; 8] = b"FZROOT01";
const PAIR_RECORD: usize = 16;
/// Every key of a partition's components, ascending (8 bytes each).
const KEYS_KIND: &[u8; 8] = b"FZKEYS01";

pub(super) fn run(
    opts: &FuzzyOptions,
    work_dir: &Path,
    shard: ShardSpec,
    config: &serde_json::Value,
) -> Result<()> {
    let manifests = Manifest::load_complete(work_dir, BUCKETS, config)?;
    let mine: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| owns_partition(shard, m.part))
        .collect();
    std::thread::scope(|scope| {
        let finish = BackgroundFinish::new(scope);
        let computed = mine.par_iter().try_for_each(|m| {
            let files: Vec<StageFile> = m
                .files
                .iter()
                .map(|entry| StageFile::open(work_dir, entry, EDGE_KIND))
                .collect::<Result<_>>()?;
            let mut keys = Vec::new();
            for file in &files {
                for r in file.fixed_records(EDGE_RECORD)? {
                    let e = parse_edge(r);
                    keys.extend([e.a, e.b]);
                }
            }
            keys.sort_unstable();
            keys.dedup();
            let path = || work_dir.join(&m.files[0].path);
            let mut uf = DenseUnionFind::new(keys)
                .ok_or_else(|| DedupError::stage(path(), "more than 2^32 documents in pairs"))?;
            for file in &files {
                for r in file.fixed_records(EDGE_RECORD)? {
                    let e = parse_edge(r);
                    // Both keys were collected from these very records just above.
                    let (a, b) = (uf.index_of(e.a), uf.index_of(e.b));
                    uf.union(a.expect("collected"), b.expect("collected"));
                }
            }
            let (keys, roots) = uf.into_roots();
            let mut out = StageWriter::create(
                work_dir,
                &format!("{CLUSTERS}/p{:05}.bin", m.part),
                PAIR_KIND,
            )?;
            let mut key_out = StageWriter::create(
                work_dir,
                &format!("{CLUSTERS}/k{:05}.bin", m.part),
                KEYS_KIND,
            )?;
            let mut nodes = 0u64;
            for (&node, &root) in keys.iter().zip(&roots) {
                key_out.record(&node.to_le_bytes())?;
                let root = keys[root as usize];
                if node != root {
                    let mut r = [0u8; PAIR_RECORD];
                    r[..8].copy_from_slice(&node.to_le_bytes());
                    r[8..].copy_from_slice(&root.to_le_bytes());
                    out.record(&r)?;
                    nodes += 1;
                }
            }
            let mut counts = serde_json::Map::new();
            counts.insert("linked_documents".into(), nodes.into());
            let part = m.part;
            finish.spawn(move || {
                let files: Vec<FileEntry> = vec![out.finish()?, key_out.finish()?];
                Manifest {
                    stage: CLUSTERS.into(),
                    part,
                    parts: opts.partitions,
                    config: config.clone(),
                    files,
                    counts,
                }
                .write(work_dir)
            })
        });
        computed.and(finish.wait())
    })
}

/// The global clusters: every document in a cluster of two or more, with its cluster (the
/// smallest key in it) and the document kept, as indices into one sorted key list.
pub(crate) struct Clusters {
    /// Every clustered document, ascending.
    keys: Vec<DocKey>,
    /// Index of the smallest key of each document's cluster.
    root: Vec<u32>,
    /// `--keep longest`: at a root's index, the index of the kept document (empty for
    /// `--keep first`, where the root is kept).
    kept: Vec<u32>,
}

impl Clusters {
    pub fn load(
        work_dir: &Path,
        config: &serde_json::Value,
        store: &SignatureStore,
        keep: Keep,
    ) -> Result<Self> {
        let manifests = Manifest::load_complete(work_dir, CLUSTERS, config)?;
        let open = |prefix: &str, kind: &[u8; 8]| -> Result<Vec<StageFile>> {
            manifests
                .iter()
                .flat_map(|m| &m.files)
                .filter(|f| f.path.starts_with(&format!("{CLUSTERS}/{prefix}")))
                .map(|entry| StageFile::open(work_dir, entry, kind))
                .collect()
        };
        let key_files = open("k", KEYS_KIND)?;
        let pair_files = open("p", PAIR_KIND)?;
        if key_files.len() != manifests.len() {
            return Err(DedupError::stage(
                work_dir.join(CLUSTERS),
                "a partition lists no key file (written by an older glmkit? rerun the cluster stage)",
            ));
        }
        // Count first, then fill a list of exactly that size: no doubling of a growing Vec.
        let lists = || -> Result<Vec<_>> {
            key_files
                .iter()
                .map(|f| Ok(f.fixed_records(8)?.map(|r| u64_at(r, 0))))
                .collect()
        };
        let mut count = 0usize;
        merge_sorted_unique(lists()?, |_| count += 1);
        let mut keys = Vec::with_capacity(count);
        merge_sorted_unique(lists()?, |k| keys.push(k));
        let mut uf = DenseUnionFind::new(keys).ok_or_else(|| {
            DedupError::stage(
                work_dir.join(CLUSTERS),
                "more than 2^32 clustered documents",
            )
        })?;
        for file in &pair_files {
            for r in file.fixed_records(PAIR_RECORD)? {
                let index = |key: u64| {
                    uf.index_of(key).ok_or_else(|| {
                        DedupError::stage(
                            &file.path,
                            format!("document key {key:#x} is in no partition's key list"),
                        )
                    })
                };
                let (a, b) = (index(u64_at(r, 0))?, index(u64_at(r, 8))?);
                uf.union(a, b);
            }
        }
        let (keys, root) = uf.into_roots();
        let mut kept = Vec::new();
        if keep == Keep::Longest {
            // Longest wins; on a tie the smaller key (earlier document): indices ascend, and a
            // root comes before every other member of its cluster.
            kept = vec![0u32; keys.len()];
            for i in 0..keys.len() {
                let r = root[i] as usize;
                if r == i || store.text_len(keys[i])? > store.text_len(keys[kept[r] as usize])? {
                    kept[r] = i as u32;
                }
            }
        }
        Ok(Clusters { keys, root, kept })
    }

    /// A document's cluster (its smallest key) and the key of the document kept, or None if
    /// the document is in no cluster of two or more.
    pub fn get(&self, key: DocKey) -> Option<(DocKey, DocKey)> {
        let i = self.keys.binary_search(&key).ok()?;
        let r = self.root[i] as usize;
        let kept = if self.kept.is_empty() {
            r
        } else {
            self.kept[r] as usize
        };
        Some((self.keys[r], self.keys[kept]))
    }

    /// The number of documents in the cluster whose smallest key is `root`.
    pub fn size(&self, root: DocKey) -> usize {
        match self.keys.binary_search(&root) {
            Ok(r) => self.root.iter().filter(|&&x| x as usize == r).count(),
            Err(_) => 0,
        }
    }
}
/// A cluster's printable id.
pub(crate) fn cluster_id(root: DocKey) -> String {
    format!("c{root:012x}")
}
