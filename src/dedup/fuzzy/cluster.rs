//! Stage 3: connected components of each partition's pairs, and the merge of all partitions.
//!
//! A partition's components are written as (node, smallest key of its local component). The
//! union of these pairs over all partitions has the same connected components as all the
//! pairs together, with at most one pair per duplicate document and partition, so the merge
//! (a union-find over them, in [`Clusters::load`]) is small and every filter task does it.

use super::super::error::Result;
use super::super::input::DocKey;
use super::super::partition::{owns_partition, BackgroundFinish};
use super::super::stagefile::{u64_at, FileEntry, Manifest, StageFile, StageWriter};
use super::super::unionfind::{KeyMap, UnionFind};
use super::buckets::{parse_edge, EDGE_KIND, EDGE_RECORD};
use super::store::SignatureStore;
use super::{FuzzyOptions, Keep, BUCKETS, CLUSTERS};
use crate::corpus::ShardSpec;
use rayon::prelude::*;
use std::path::Path;

const PAIR_KIND: &[u8; 8] = b"FZROOT01";
const PAIR_RECORD: usize = 16;

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
            let mut uf = UnionFind::new();
            for entry in &m.files {
                let file = StageFile::open(work_dir, entry, EDGE_KIND)?;
                for r in file.fixed_records(EDGE_RECORD)? {
                    let e = parse_edge(r);
                    uf.union(e.a, e.b);
                }
            }
            let mut out = StageWriter::create(
                work_dir,
                &format!("{CLUSTERS}/p{:05}.bin", m.part),
                PAIR_KIND,
            )?;
            let mut nodes = 0u64;
            for (node, root) in uf.roots() {
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
                let files: Vec<FileEntry> = vec![out.finish()?];
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

/// The global clusters: for every document in a cluster of two or more, its cluster (the
/// smallest key in it) and the key of the document kept.
pub(crate) struct Clusters {
    pub member: KeyMap<(DocKey, DocKey)>,
}

impl Clusters {
    pub fn load(
        work_dir: &Path,
        config: &serde_json::Value,
        store: &SignatureStore,
        keep: Keep,
    ) -> Result<Self> {
        let manifests = Manifest::load_complete(work_dir, CLUSTERS, config)?;
        let mut uf = UnionFind::new();
        for entry in manifests.iter().flat_map(|m| &m.files) {
            let file = StageFile::open(work_dir, entry, PAIR_KIND)?;
            for r in file.fixed_records(PAIR_RECORD)? {
                uf.union(u64_at(r, 0), u64_at(r, 8));
            }
        }
        let roots = uf.roots();
        let mut kept: KeyMap<(u64, DocKey)> = KeyMap::default(); // root -> (length, key)
        if keep == Keep::Longest {
            for &(node, root) in &roots {
                let len = store.get(node)?.map(|e| e.text_len).unwrap_or(0);
                let best = kept.entry(root).or_insert((len, node));
                // Longest wins; on a tie the smaller key (earlier document).
                if len > best.0 || (len == best.0 && node < best.1) {
                    *best = (len, node);
                }
            }
        }
        let member = roots
            .into_iter()
            .map(|(node, root)| {
                let keep_key = match keep {
                    Keep::First => root,
                    Keep::Longest => kept[&root].1,
                };
                (node, (root, keep_key))
            })
            .collect();
        Ok(Clusters { member })
    }
}

/// A cluster's printable id.
pub(crate) fn cluster_id(root: DocKey) -> String {
    format!("c{root:012x}")
}
