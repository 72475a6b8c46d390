//! Stage 1: MinHash signatures and band buckets of the documents of one task.

use super::super::error::Result;
use super::super::input::InputSet;
use super::super::minhash::MinHasher;
use super::super::partition::shard_tag;
use super::super::partition::{partition_of, PartitionedWriter};
use super::super::stagefile::{Manifest, StageWriter};
use super::super::tokens::shingle_set;
use super::{FuzzyOptions, Verify, SIGNATURES};
use crate::pipeline::ShardSpec;
use rayon::prelude::*;
use std::path::Path;

pub(crate) const SIG_KIND: &[u8; 8] = b"FZSIG001";
pub(crate) const IDS_KIND: &[u8; 8] = b"FZIDS001";
pub(crate) const BUCKET_KIND: &[u8; 8] = b"FZBKT001";
/// Bucket record: bucket hash u64, document key u64, band u32.
pub(crate) const BUCKET_RECORD: usize = 20;

/// Signature record: key u64, text length u64, offset of the id in the ids file u64, lanes.
pub(crate) fn sig_record_len(lanes: usize) -> usize {
    24 + 4 * lanes
}

type Computed = (String, u64, Option<Vec<u32>>, Vec<u64>);

pub(super) fn run(
    inputs: &InputSet,
    opts: &FuzzyOptions,
    work_dir: &Path,
    shard: ShardSpec,
    config: &serde_json::Value,
) -> Result<()> {
    let hasher = MinHasher::new(opts.minhash.clone());
    let lanes = opts.minhash.lanes();
    let bands = opts.minhash.bands;
    let tag = shard_tag(shard);
    let mut sigs = StageWriter::create(work_dir, &format!("{SIGNATURES}/sig-{tag}.bin"), SIG_KIND)?;
    let mut ids = StageWriter::create(work_dir, &format!("{SIGNATURES}/ids-{tag}.bin"), IDS_KIND)?;
    let mut buckets =
        PartitionedWriter::create(work_dir, SIGNATURES, shard, opts.partitions, BUCKET_KIND)?;
    let (mut documents, mut without_tokens, mut id_offset) = (0u64, 0u64, 0u64);
    let mut record = Vec::with_capacity(sig_record_len(lanes));
    inputs.for_each_batch(shard, opts.batch_bytes, |batch| {
        // (id, text length, signature, shingle set) per readable record; None for unreadable
        // ones. The shingle set is kept only for exact verification.
        let computed: Vec<Option<Computed>> = batch
            .par_iter()
            .map_init(
                || (String::new(), Vec::new()),
                |(scratch, shingles), raw| {
                    let fields = inputs.fields(raw)?;
                    let mut signature = vec![0u32; lanes];
                    let any =
                        hasher.signature_into(&fields.text, scratch, shingles, &mut signature);
                    let shingles = match opts.verify {
                        Verify::Exact => shingle_set(&fields.text, opts.minhash.shingle as usize),
                        _ => Vec::new(),
                    };
                    Some((
                        fields.id.into_owned(),
                        fields.text.len() as u64,
                        any.then_some(signature),
                        shingles,
                    ))
                },
            )
            .collect();
        for (raw, computed) in batch.iter().zip(computed) {
            let Some((id, text_len, signature, shingles)) = computed else {
                continue;
            };
            documents += 1;
            let Some(signature) = signature else {
                // No token, no shingle: never a fuzzy duplicate (exact dedup handles empties).
                without_tokens += 1;
                continue;
            };
            record.clear();
            record.extend_from_slice(&raw.key.to_le_bytes());
            record.extend_from_slice(&text_len.to_le_bytes());
            record.extend_from_slice(&id_offset.to_le_bytes());
            for lane in &signature {
                record.extend_from_slice(&lane.to_le_bytes());
            }
            sigs.record(&record)?;
            let mut id_record = (id.len() as u32).to_le_bytes().to_vec();
            id_record.extend_from_slice(id.as_bytes());
            id_record.extend_from_slice(&(shingles.len() as u32).to_le_bytes());
            for h in &shingles {
                id_record.extend_from_slice(&h.to_le_bytes());
            }
            ids.record(&id_record)?;
            id_offset += id_record.len() as u64;
            for band in 0..bands {
                let bucket = hasher.band_bucket(&signature, band);
                let mut b = [0u8; BUCKET_RECORD];
                b[..8].copy_from_slice(&bucket.to_le_bytes());
                b[8..16].copy_from_slice(&raw.key.to_le_bytes());
                b[16..].copy_from_slice(&band.to_le_bytes());
                buckets.record(partition_of(bucket, opts.partitions), &b)?;
            }
        }
        Ok(())
    })?;
    let mut files = vec![sigs.finish()?, ids.finish()?];
    files.extend(buckets.finish()?);
    let mut counts = serde_json::Map::new();
    counts.insert("documents".into(), documents.into());
    counts.insert("without_tokens".into(), without_tokens.into());
    Manifest {
        stage: SIGNATURES.into(),
        part: shard.index as u32,
        parts: shard.count as u32,
        config: config.clone(),
        files,
        counts,
    }
    .write(work_dir)
}
