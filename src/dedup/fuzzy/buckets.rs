//! Stage 2: for each partition of band buckets, the verified candidate pairs.
//!
//! Inside a bucket (documents sorted by key), each document is paired with the first earlier
//! document whose signature agrees on at least the threshold share of lanes (trying at most
//! [`MAX_TRIES`] of them), so a bucket of k copies costs k comparisons, not k².

use super::super::error::Result;
use super::super::partition::files_of_partition;
use super::super::partition::{owns_partition, BackgroundFinish};
use super::super::stagefile::{u32_at, u64_at, FileEntry, Manifest, StageFile, StageWriter};
use super::super::tokens::jaccard;
use super::signatures::{BUCKET_KIND, BUCKET_RECORD};
use super::store::{estimated_jaccard_bytes, SignatureStore};
use super::{FuzzyOptions, Verify, BUCKETS, SIGNATURES};
use crate::corpus::ShardSpec;
use rayon::prelude::*;
use std::path::Path;

pub(crate) const EDGE_KIND: &[u8; 8] = b"FZEDGE01";
/// Edge record: key a u64, key b u64 (a < b), band u32, estimated Jaccard f32.
pub(crate) const EDGE_RECORD: usize = 24;
/// Earlier bucket members a document is compared with before it is left unpaired.
const MAX_TRIES: usize = 32;

pub(super) fn run(
    opts: &FuzzyOptions,
    work_dir: &Path,
    shard: ShardSpec,
    config: &serde_json::Value,
) -> Result<()> {
    let store = SignatureStore::open(work_dir, config, opts.minhash.lanes())?;
    let mine: Vec<u32> = (0..opts.partitions)
        .filter(|p| owns_partition(shard, *p))
        .collect();
    std::thread::scope(|scope| {
        let finish = BackgroundFinish::new(scope);
        let computed = mine
            .par_iter()
            .try_for_each(|&p| partition(opts, work_dir, &store, p, config, &finish));
        computed.and(finish.wait())
    })
}

#[derive(Clone, Copy)]
pub(crate) struct Edge {
    pub a: u64,
    pub b: u64,
    pub band: u32,
    pub estimate: f32,
}

pub(crate) fn parse_edge(r: &[u8]) -> Edge {
    Edge {
        a: u64_at(r, 0),
        b: u64_at(r, 8),
        band: u32_at(r, 16),
        estimate: f32::from_le_bytes(r[20..24].try_into().unwrap()),
    }
}

fn partition<'scope>(
    opts: &'scope FuzzyOptions,
    work_dir: &'scope Path,
    store: &SignatureStore,
    p: u32,
    config: &'scope serde_json::Value,
    finish: &BackgroundFinish<'scope, '_>,
) -> Result<()> {
    let mut members: Vec<(u64, u64, u32)> = Vec::new(); // (bucket, key, band)
    for entry in files_of_partition(&store.manifests, SIGNATURES, p) {
        let file = StageFile::open(work_dir, &entry, BUCKET_KIND)?;
        for r in file.fixed_records(BUCKET_RECORD)? {
            members.push((u64_at(r, 0), u64_at(r, 8), u32_at(r, 16)));
        }
    }
    members.sort_unstable();
    let mut edges: Vec<Edge> = Vec::new();
    let mut compared = 0u64;
    for bucket in members.chunk_by(|x, y| x.0 == y.0) {
        if bucket.len() < 2 {
            continue;
        }
        for j in 1..bucket.len() {
            let (_, b, band) = bucket[j];
            if opts.verify == Verify::None {
                edges.push(Edge {
                    a: bucket[0].1,
                    b,
                    band,
                    estimate: f32::NAN,
                });
                continue;
            }
            let lanes_b = store.lanes_of(b)?;
            let shingles_b = match opts.verify {
                Verify::Exact => store.shingles_of(b)?,
                _ => Vec::new(),
            };
            for &(_, a, _) in bucket[..j].iter().take(MAX_TRIES) {
                compared += 1;
                let estimate = estimated_jaccard_bytes(store.lanes_of(a)?, lanes_b);
                let similarity = match opts.verify {
                    Verify::Exact => jaccard(&store.shingles_of(a)?, &shingles_b),
                    _ => estimate,
                };
                if similarity >= opts.verify_threshold {
                    edges.push(Edge {
                        a,
                        b,
                        band,
                        estimate: estimate as f32,
                    });
                    break;
                }
            }
        }
    }
    // One edge per pair: the lowest band that found it.
    edges.sort_unstable_by_key(|e| (e.a, e.b, e.band));
    edges.dedup_by_key(|e| (e.a, e.b));
    let mut out = StageWriter::create(work_dir, &format!("{BUCKETS}/p{p:05}.bin"), EDGE_KIND)?;
    for e in &edges {
        let mut r = [0u8; EDGE_RECORD];
        r[..8].copy_from_slice(&e.a.to_le_bytes());
        r[8..16].copy_from_slice(&e.b.to_le_bytes());
        r[16..20].copy_from_slice(&e.band.to_le_bytes());
        r[20..].copy_from_slice(&e.estimate.to_le_bytes());
        out.record(&r)?;
    }
    let mut counts = serde_json::Map::new();
    counts.insert("bucket_entries".into(), (members.len() as u64).into());
    counts.insert("comparisons".into(), compared.into());
    counts.insert("edges".into(), (edges.len() as u64).into());
    finish.spawn(move || {
        let files: Vec<FileEntry> = vec![out.finish()?];
        Manifest {
            stage: BUCKETS.into(),
            part: p,
            parts: opts.partitions,
            config: config.clone(),
            files,
            counts,
        }
        .write(work_dir)
    })
}
