//! Exact dedup: xxh3-128 of the normalized text; the first document in input order is kept.
//!
//! One task (`--stage all`) runs it in one pass, as the `dedup_exact` pipeline step does
//! ([`StreamingExact`]). Over many tasks, it runs as stages (each as task i of n):
//! 1. `hashes`: hash every document, files partitioned by hash;
//! 2. `groups`: per partition, sort by (hash, key) and list every document that has an earlier
//!    copy, with the id of the first one;
//! 3. `filter` (through the pipeline executor, [`ExactFilter`]): write kept / rejected
//!    (`dup_exact`) / quarantined records.

use super::error::{DedupError, Result};
use super::input::{file_of, DocKey, InputSet};
use super::normalize::Normalization;
use super::partition::owns_partition;
use super::partition::{files_of_partition, partition_of, PartitionedWriter};
use super::stagefile::{u32_at, u64_at, FileEntry, Manifest, StageFile, StageWriter};
use super::streaming::StreamingExact;
use super::Stage;
use super::{check_stage, filter_with, pool};
use crate::corpus::Document;
use crate::corpus::ShardSpec;
use crate::pipeline::Rejection;
use crate::pipeline::{RunOptions, RunSummary, Step, StepError, Verdict};
use rayon::prelude::*;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_128;

const HASH_KIND: &[u8; 8] = b"EXHASH01";
const GROUP_KIND: &[u8; 8] = b"EXGRP001";
const HASHES: &str = "exact-hashes";
const GROUPS: &str = "exact-groups";

#[derive(Debug, Clone)]
pub struct ExactOptions {
    pub normalize: Normalization,
    /// Hash partitions of the intermediate files (the unit of work of the `groups` stage).
    pub partitions: u32,
    /// Input bytes per parallel batch.
    pub batch_bytes: usize,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions {
            normalize: Normalization::Basic,
            partitions: 16,
            batch_bytes: 16 << 20,
        }
    }
}

fn config(opts: &ExactOptions, inputs: &InputSet) -> Result<serde_json::Value> {
    Ok(serde_json::json!({
        "algorithm": "exact",
        "normalize": opts.normalize,
        "partitions": opts.partitions,
        "inputs": inputs.fingerprint()?,
    }))
}

/// Runs `stage` (or all of them) as task `run.shard`. Returns the filter stage's summary, if
/// it ran.
pub fn run(
    inputs: &InputSet,
    opts: &ExactOptions,
    work_dir: &Path,
    run: &RunOptions,
    stage: Stage,
) -> Result<Option<RunSummary>> {
    if opts.partitions == 0 {
        return Err(DedupError::Config("partitions must be at least 1".into()));
    }
    if stage == Stage::Cluster {
        return Err(DedupError::Config(
            "exact dedup has no cluster stage: run hashes, groups, filter".into(),
        ));
    }
    let shard = run.shard;
    check_stage(stage, shard)?;
    if stage == Stage::All {
        // One task sees every document in input order, so the stages collapse into one pass:
        // hash, check against the copies seen so far, write. Same decisions, half the reading.
        let step = StreamingExact::new(opts.normalize);
        return filter_with(inputs, Box::new(step), run, stage).map(Some);
    }
    let config = config(opts, inputs)?;
    pool(run)?.install(|| -> Result<()> {
        if stage == Stage::Signatures {
            hashes(inputs, opts, work_dir, shard, &config)?;
        }
        if stage == Stage::Buckets {
            groups(work_dir, shard, &config)?;
        }
        Ok(())
    })?;
    if stage == Stage::Filter {
        let step = ExactFilter::load_for(inputs, opts, work_dir, shard)?;
        return filter_with(inputs, Box::new(step), run, stage).map(Some);
    }
    Ok(None)
}

/// The 128-bit content hash of a text under `normalize`.
pub fn content_hash(text: &str, normalize: Normalization, scratch: &mut String) -> u128 {
    xxh3_128(normalize.apply(text, scratch))
}

fn hashes(
    inputs: &InputSet,
    opts: &ExactOptions,
    work_dir: &Path,
    shard: ShardSpec,
    config: &serde_json::Value,
) -> Result<()> {
    let mut out = PartitionedWriter::create(work_dir, HASHES, shard, opts.partitions, HASH_KIND)?;
    let mut documents = 0u64;
    let mut record = Vec::new();
    // Two batches are in flight (one read, one hashed), each half the configured size.
    let batch_bytes = (opts.batch_bytes / 2).max(1);
    inputs.read_ahead(shard, batch_bytes, |batch| {
        let hashed: Vec<Option<(u128, String)>> = batch
            .par_iter()
            .map_init(String::new, |scratch, r| {
                let fields = inputs.fields(r)?;
                Some((
                    content_hash(&fields.text, opts.normalize, scratch),
                    fields.id.into_owned(),
                ))
            })
            .collect();
        for (raw, hashed) in batch.iter().zip(hashed) {
            let Some((hash, id)) = hashed else { continue };
            documents += 1;
            record.clear();
            record.extend_from_slice(&hash.to_le_bytes());
            record.extend_from_slice(&raw.key.to_le_bytes());
            record.extend_from_slice(&(id.len() as u32).to_le_bytes());
            record.extend_from_slice(id.as_bytes());
            out.record(partition_of(hash as u64, out.partitions()), &record)?;
        }
        Ok(())
    })?;
    let mut counts = serde_json::Map::new();
    counts.insert("documents".into(), documents.into());
    Manifest {
        stage: HASHES.into(),
        part: shard.index as u32,
        parts: shard.count as u32,
        config: config.clone(),
        files: out.finish()?,
        counts,
    }
    .write(work_dir)
}

struct HashRecord<'a> {
    hash: u128,
    key: DocKey,
    id: &'a [u8],
}

fn parse_hash_records(file: &StageFile) -> Result<Vec<HashRecord<'_>>> {
    let body = file.body();
    let mut records = Vec::with_capacity(file.records as usize);
    let mut at = 0usize;
    while at < body.len() {
        if at + 28 > body.len() {
            return Err(DedupError::stage(&file.path, "record cut short"));
        }
        let hash = u128::from_le_bytes(body[at..at + 16].try_into().unwrap());
        let key = u64_at(body, at + 16);
        let len = u32_at(body, at + 24) as usize;
        let id = body
            .get(at + 28..at + 28 + len)
            .ok_or_else(|| DedupError::stage(&file.path, "record cut short"))?;
        records.push(HashRecord { hash, key, id });
        at += 28 + len;
    }
    if records.len() as u64 != file.records {
        return Err(DedupError::stage(
            &file.path,
            "record count differs from the footer",
        ));
    }
    Ok(records)
}

fn groups(work_dir: &Path, shard: ShardSpec, config: &serde_json::Value) -> Result<()> {
    let manifests = Manifest::load_complete(work_dir, HASHES, config)?;
    let partitions = config["partitions"].as_u64().unwrap_or(1) as u32;
    let mine: Vec<u32> = (0..partitions)
        .filter(|p| owns_partition(shard, *p))
        .collect();
    mine.par_iter()
        .try_for_each(|&p| group_partition(work_dir, &manifests, p, partitions, config))
}

fn group_partition(
    work_dir: &Path,
    manifests: &[Manifest],
    p: u32,
    partitions: u32,
    config: &serde_json::Value,
) -> Result<()> {
    let files: Vec<StageFile> = files_of_partition(manifests, HASHES, p)
        .iter()
        .map(|entry| StageFile::open(work_dir, entry, HASH_KIND))
        .collect::<Result<_>>()?;
    let mut records = Vec::new();
    for file in &files {
        records.extend(parse_hash_records(file)?);
    }
    records.sort_unstable_by_key(|r| (r.hash, r.key));
    let mut out = StageWriter::create(work_dir, &format!("{GROUPS}/p{p:05}.bin"), GROUP_KIND)?;
    let mut line = Vec::new();
    let mut duplicates = 0u64;
    for group in records.chunk_by(|a, b| a.hash == b.hash) {
        let first = &group[0];
        for dup in &group[1..] {
            line.clear();
            line.extend_from_slice(&dup.key.to_le_bytes());
            line.extend_from_slice(&first.key.to_le_bytes());
            line.extend_from_slice(&(first.id.len() as u32).to_le_bytes());
            line.extend_from_slice(first.id);
            out.record(&line)?;
            duplicates += 1;
        }
    }
    let mut counts = serde_json::Map::new();
    counts.insert("duplicates".into(), duplicates.into());
    let files: Vec<FileEntry> = vec![out.finish()?];
    Manifest {
        stage: GROUPS.into(),
        part: p,
        parts: partitions,
        config: config.clone(),
        files,
        counts,
    }
    .write(work_dir)
}

/// The removed documents of some input files, each with the id of the copy that is kept,
/// sorted by key. About 24 bytes plus the kept id's length per removed document, and only for
/// the files a filter task writes: a task's memory shrinks as tasks are added.
#[derive(Debug, Default)]
pub(crate) struct Removals {
    /// (removed document, start of the kept id in `ids`, its length), ascending by document.
    entries: Vec<(DocKey, u64, u32)>,
    ids: Vec<u8>,
}

impl Removals {
    /// Every removal the `groups` stage found in an input file that `wanted` (a file's position)
    /// accepts.
    pub fn load(
        work_dir: &Path,
        config: &serde_json::Value,
        wanted: impl Fn(usize) -> bool,
    ) -> Result<Self> {
        let manifests = Manifest::load_complete(work_dir, GROUPS, config)?;
        let mut removals = Removals::default();
        for entry in manifests.iter().flat_map(|m| &m.files) {
            let file = StageFile::open(work_dir, entry, GROUP_KIND)?;
            let body = file.body();
            let mut at = 0usize;
            while at < body.len() {
                let cut = || DedupError::stage(&file.path, "record cut short");
                if at + 20 > body.len() {
                    return Err(cut());
                }
                let len = u32_at(body, at + 16) as usize;
                let id = body.get(at + 20..at + 20 + len).ok_or_else(cut)?;
                let key = u64_at(body, at);
                if wanted(file_of(key)) {
                    let start = removals.ids.len() as u64;
                    removals.ids.extend_from_slice(id);
                    removals.entries.push((key, start, len as u32));
                }
                at += 20 + len;
            }
        }
        removals.entries.sort_unstable_by_key(|e| e.0);
        removals.entries.shrink_to_fit();
        removals.ids.shrink_to_fit();
        Ok(removals)
    }

    /// The kept id for a removed document, or None if `key` is kept (or in a file not loaded).
    pub fn kept_id(&self, key: DocKey) -> Option<std::borrow::Cow<'_, str>> {
        let i = self.entries.binary_search_by_key(&key, |e| e.0).ok()?;
        let (_, start, len) = self.entries[i];
        let id = &self.ids[start as usize..start as usize + len as usize];
        Some(String::from_utf8_lossy(id))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The filter stage as a pipeline step: rejects every document that has an earlier copy.
pub struct ExactFilter {
    removals: Removals,
    inputs: InputSet,
}

impl ExactFilter {
    /// The decisions of a finished `groups` stage run with `opts` over `inputs`, for every
    /// input file.
    pub fn load(inputs: &InputSet, opts: &ExactOptions, work_dir: &Path) -> Result<Self> {
        Self::load_for(inputs, opts, work_dir, ShardSpec::default())
    }

    /// The decisions for the input files of task `shard` alone (the files the executor hands
    /// that task: `k % n == i`); a document of another file is kept.
    pub fn load_for(
        inputs: &InputSet,
        opts: &ExactOptions,
        work_dir: &Path,
        shard: ShardSpec,
    ) -> Result<Self> {
        let removals = Removals::load(work_dir, &config(opts, inputs)?, |f| shard.owns(f))?;
        Ok(ExactFilter {
            removals,
            inputs: inputs.clone(),
        })
    }
}

impl Step for ExactFilter {
    fn name(&self) -> &str {
        "dedup_exact"
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let removal = self
            .inputs
            .key_of(doc)
            .and_then(|key| self.removals.kept_id(key));
        Ok(match removal {
            Some(kept_id) => Verdict::Reject(
                Rejection::new("dedup_exact", "dup_exact").with("kept_id", kept_id.as_ref()),
            ),
            None => Verdict::Keep,
        })
    }

    /// Decides from the document's position alone.
    fn only_decides(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three files whose texts repeat across and within files.
    fn corpus(dir: &Path) -> InputSet {
        for (f, texts) in [
            ("a.jsonl", ["x", "y", "x", "z"]),
            ("b.jsonl", ["y", "w", "x", "w"]),
            ("c.jsonl", ["z", "v", "w", "v"]),
        ] {
            let body: String = texts
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{{\"id\":\"{f}#{i}\",\"text\":\"{t}\"}}\n"))
                .collect();
            std::fs::write(dir.join(f), body).unwrap();
        }
        InputSet::expand(&[dir.to_string_lossy()], "text", "id").unwrap()
    }

    #[test]
    fn a_filter_task_loads_the_removals_of_its_own_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = corpus(dir.path());
        let work = dir.path().join("work");
        let opts = ExactOptions {
            partitions: 3,
            ..ExactOptions::default()
        };
        let config = config(&opts, &inputs).unwrap();
        hashes(&inputs, &opts, &work, ShardSpec::default(), &config).unwrap();
        groups(&work, ShardSpec::default(), &config).unwrap();

        let all = Removals::load(&work, &config, |_| true).unwrap();
        // Twelve documents, five distinct texts: seven later copies.
        assert_eq!(all.len(), 7);
        // Lines count from 1.
        let key = |file: usize, line: u64| super::super::input::doc_key(file, line + 1).unwrap();
        assert_eq!(all.kept_id(key(1, 2)).as_deref(), Some("a.jsonl#0"));
        assert_eq!(all.kept_id(key(2, 0)).as_deref(), Some("a.jsonl#3"));
        assert_eq!(all.kept_id(key(0, 0)), None);

        let shards: Vec<ShardSpec> = (0..2).map(|index| ShardSpec { index, count: 2 }).collect();
        let mut total = 0;
        for shard in &shards {
            let mine = Removals::load(&work, &config, |f| shard.owns(f)).unwrap();
            total += mine.len();
            for &(k, _, _) in &mine.entries {
                assert!(shard.owns(file_of(k)), "{k:#x} is not a file of {shard:?}");
                assert_eq!(mine.kept_id(k), all.kept_id(k));
            }
        }
        assert_eq!(total, all.len());
        // Task 1 of 2 writes b.jsonl alone: its three removals (y, x, w).
        let second = Removals::load(&work, &config, |f| shards[1].owns(f)).unwrap();
        assert_eq!(second.len(), 3);
    }
}
