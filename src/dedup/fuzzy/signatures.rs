//! Stage 1: MinHash signatures and band buckets of the documents of one task.

use super::super::error::Result;
use super::super::input::InputSet;
use super::super::minhash::MinHasher;
use super::super::partition::shard_tag;
use super::super::partition::{partition_of, PartitionedWriter};
use super::super::stagefile::{Manifest, StageWriter};
use super::{FuzzyOptions, Verify, SIGNATURES};
use crate::corpus::ShardSpec;
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

/// What stage 1 keeps of one readable record.
struct Computed {
    id: String,
    text_len: u64,
    /// The signature and its band buckets; None for a text without tokens.
    signature: Option<(Vec<u32>, Vec<u64>)>,
    /// The sorted shingle set, kept only for exact verification.
    shingles: Vec<u64>,
}

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
    let mut id_record = Vec::new();
    // Two batches are in flight (one read, one hashed), each half the configured size.
    let batch_bytes = (opts.batch_bytes / 2).max(1);
    inputs.read_ahead(shard, batch_bytes, |batch| {
        // None for records the readers would quarantine.
        // One document per task: a worker stuck on a giant document leaves every other
        // document to be taken by the others (without this, rayon hands each worker long
        // runs of documents, and a run that holds a few multi-megabyte texts keeps one
        // worker busy while the other waits).
        let computed: Vec<Option<Computed>> = batch
            .par_iter()
            .with_max_len(1)
            .map_init(
                || (String::new(), Vec::new()),
                |(scratch, shingles), raw| {
                    let fields = inputs.fields(raw)?;
                    let mut signature = vec![0u32; lanes];
                    let any =
                        hasher.signature_into(&fields.text, scratch, shingles, &mut signature);
                    let signature = any.then(|| {
                        let buckets = (0..bands)
                            .map(|band| hasher.band_bucket(&signature, band))
                            .collect();
                        (signature, buckets)
                    });
                    // The shingle set, as `tokens::shingle_set` computes it, from the
                    // shingles just hashed.
                    let shingles = match opts.verify {
                        Verify::Exact => {
                            let mut set = shingles.clone();
                            set.sort_unstable();
                            set.dedup();
                            set
                        }
                        _ => Vec::new(),
                    };
                    Some(Computed {
                        id: fields.id.into_owned(),
                        text_len: fields.text.len() as u64,
                        signature,
                        shingles,
                    })
                },
            )
            .collect();
        for (raw, computed) in batch.iter().zip(computed) {
            let Some(doc) = computed else {
                continue;
            };
            documents += 1;
            let Some((signature, band_buckets)) = doc.signature else {
                // No token, no shingle: never a fuzzy duplicate (exact dedup handles empties).
                without_tokens += 1;
                continue;
            };
            record.clear();
            record.extend_from_slice(&raw.key.to_le_bytes());
            record.extend_from_slice(&doc.text_len.to_le_bytes());
            record.extend_from_slice(&id_offset.to_le_bytes());
            for lane in &signature {
                record.extend_from_slice(&lane.to_le_bytes());
            }
            sigs.record(&record)?;
            id_record.clear();
            id_record.extend_from_slice(&(doc.id.len() as u32).to_le_bytes());
            id_record.extend_from_slice(doc.id.as_bytes());
            id_record.extend_from_slice(&(doc.shingles.len() as u32).to_le_bytes());
            for h in &doc.shingles {
                id_record.extend_from_slice(&h.to_le_bytes());
            }
            ids.record(&id_record)?;
            id_offset += id_record.len() as u64;
            for (band, bucket) in (0..bands).zip(band_buckets) {
                let mut b = [0u8; BUCKET_RECORD];
                b[..8].copy_from_slice(&bucket.to_le_bytes());
                b[8..16].copy_from_slice(&raw.key.to_le_bytes());
                b[16..].copy_from_slice(&band.to_le_bytes());
                buckets.record(partition_of(bucket, opts.partitions), &b)?;
            }
        }
        Ok(())
    })?;
    // Every file waits for the disk as it finishes: all at the same time.
    let (sig_file, ids_file, bucket_files) = std::thread::scope(|scope| {
        let sig_file = scope.spawn(|| sigs.finish());
        let ids_file = scope.spawn(|| ids.finish());
        let bucket_files = buckets.finish();
        let join = |file: std::thread::ScopedJoinHandle<'_, _>| {
            file.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        (join(sig_file), join(ids_file), bucket_files)
    });
    let mut files = vec![sig_file?, ids_file?];
    files.extend(bucket_files?);
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
