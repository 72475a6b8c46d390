//! Line- or paragraph-level dedup (CCNet-style): every line (paragraph) whose normalized hash
//! occurs at least `min_count` times across the corpus is removed from every document. Blank
//! lines are never counted or removed. A document left with no non-blank text is rejected
//! (`dup_lines_empty`); a changed document records how many units went
//! (`glmkit.dedup_lines_removed`).
//!
//! Stages: `counts` (task i of n over documents: per-partition (hash, count) files),
//! `buckets` (task i of n over partitions: the frequent hashes), `filter` (through the pipeline
//! executor, [`LinesFilter`]).

use super::error::{DedupError, Result};
use super::input::InputSet;
use super::normalize::Normalization;
use super::partition::owns_partition;
use super::partition::{files_of_partition, partition_of, PartitionedWriter};
use super::stagefile::{u32_at, u64_at, FileEntry, Manifest, StageFile, StageWriter};
use super::Stage;
use super::{check_stage, filter_with, pool};
use crate::corpus::Document;
use crate::corpus::ShardSpec;
use crate::pipeline::Rejection;
use crate::pipeline::{RunOptions, RunSummary, Step, StepError, Verdict};
use rayon::prelude::*;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

const COUNT_KIND: &[u8; 8] = b"LNCOUNT1";
const FREQ_KIND: &[u8; 8] = b"LNFREQ01";
const COUNTS: &str = "lines-counts";
const FREQUENT: &str = "lines-frequent";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Line,
    /// Text between blank lines.
    Paragraph,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LinesOptions {
    pub unit: Unit,
    pub min_count: u32,
    pub normalize: Normalization,
    pub partitions: u32,
    #[serde(skip)]
    pub batch_bytes: usize,
}

impl Default for LinesOptions {
    fn default() -> Self {
        LinesOptions {
            unit: Unit::Line,
            min_count: 2,
            normalize: Normalization::Aggressive,
            partitions: 16,
            batch_bytes: 16 << 20,
        }
    }
}

/// Splits `text` into units, each with its separator attached, so that concatenating the
/// kept units gives the text back minus the removed ones.
pub fn units(text: &str, unit: Unit) -> Vec<&str> {
    match unit {
        Unit::Line => text.split_inclusive('\n').collect(),
        Unit::Paragraph => {
            let mut out = Vec::new();
            let mut start = 0;
            let mut pos = 0;
            let bytes = text.as_bytes();
            while pos < bytes.len() {
                // A paragraph ends at a newline followed by a blank line (spaces allowed).
                if bytes[pos] == b'\n' {
                    let mut next = pos + 1;
                    let mut blank = false;
                    loop {
                        let line_end = text[next..].find('\n').map(|i| next + i);
                        match line_end {
                            Some(end) if text[next..end].trim().is_empty() => {
                                blank = true;
                                next = end + 1;
                            }
                            _ => break,
                        }
                    }
                    if blank {
                        out.push(&text[start..next]);
                        start = next;
                        pos = next;
                        continue;
                    }
                }
                pos += 1;
            }
            if start < text.len() {
                out.push(&text[start..]);
            }
            out
        }
    }
}

/// The hash of a unit, or None for a blank one.
fn unit_hash(unit: &str, normalize: Normalization, scratch: &mut String) -> Option<u64> {
    let normalized = normalize.apply(unit.trim(), scratch);
    let trimmed = normalized.trim_ascii();
    (!trimmed.is_empty()).then(|| xxh3_64(trimmed))
}

fn config(opts: &LinesOptions, inputs: &InputSet) -> Result<serde_json::Value> {
    let inputs = inputs.fingerprint()?;
    Ok(serde_json::json!({"algorithm": "lines", "options": opts, "inputs": inputs}))
}

/// Runs `stage` (or all of them) as task `run.shard`. Returns the filter stage's summary, if
/// it ran.
pub fn run(
    inputs: &InputSet,
    opts: &LinesOptions,
    work_dir: &Path,
    run: &RunOptions,
    stage: Stage,
) -> Result<Option<RunSummary>> {
    if opts.partitions == 0 || opts.min_count == 0 {
        return Err(DedupError::Config(
            "partitions and min-count must be at least 1".into(),
        ));
    }
    if stage == Stage::Cluster {
        return Err(DedupError::Config(
            "line dedup has no cluster stage: run counts, buckets, filter".into(),
        ));
    }
    let shard = run.shard;
    check_stage(stage, shard)?;
    let config = config(opts, inputs)?;
    pool(run)?.install(|| -> Result<()> {
        if matches!(stage, Stage::All | Stage::Signatures) {
            count(inputs, opts, work_dir, shard, &config)?;
        }
        if matches!(stage, Stage::All | Stage::Buckets) {
            let manifests = Manifest::load_complete(work_dir, COUNTS, &config)?;
            let mine: Vec<u32> = (0..opts.partitions)
                .filter(|p| owns_partition(shard, *p))
                .collect();
            mine.par_iter()
                .try_for_each(|&p| frequent(opts, work_dir, &manifests, p, &config))?;
        }
        Ok(())
    })?;
    if matches!(stage, Stage::All | Stage::Filter) {
        let step = LinesFilter::load(inputs, opts, work_dir)?;
        return filter_with(inputs, Box::new(step), run, stage).map(Some);
    }
    Ok(None)
}

fn count(
    inputs: &InputSet,
    opts: &LinesOptions,
    work_dir: &Path,
    shard: ShardSpec,
    config: &serde_json::Value,
) -> Result<()> {
    // Every unit hash of the task's documents, sorted and counted once at the end: 8 bytes
    // per unit (up to 16 while the list doubles). A map of counts took about 50 bytes per
    // distinct unit, and at scale most units are distinct, so this is a third of that.
    let mut hashes: Vec<u64> = Vec::new();
    // Two batches are in flight (one read, one hashed), each half the configured size.
    let batch_bytes = (opts.batch_bytes / 2).max(1);
    inputs.read_ahead(shard, batch_bytes, |batch| {
        let batch_hashes: Vec<Vec<u64>> = batch
            .par_iter()
            .map_init(String::new, |scratch, raw| match inputs.fields(raw) {
                Some(f) => units(&f.text, opts.unit)
                    .iter()
                    .filter_map(|u| unit_hash(u, opts.normalize, scratch))
                    .collect(),
                None => Vec::new(),
            })
            .collect();
        hashes.extend(batch_hashes.into_iter().flatten());
        Ok(())
    })?;
    hashes.par_sort_unstable();
    let mut out = PartitionedWriter::create(work_dir, COUNTS, shard, opts.partitions, COUNT_KIND)?;
    for run in hashes.chunk_by(|a, b| a == b) {
        let hash = run[0];
        // Counts saturate at u32::MAX, as they always have.
        let count = u32::try_from(run.len()).unwrap_or(u32::MAX);
        let mut r = [0u8; 12];
        r[..8].copy_from_slice(&hash.to_le_bytes());
        r[8..].copy_from_slice(&count.to_le_bytes());
        out.record(partition_of(hash, opts.partitions), &r)?;
    }
    Manifest {
        stage: COUNTS.into(),
        part: shard.index as u32,
        parts: shard.count as u32,
        config: config.clone(),
        files: out.finish()?,
        counts: Default::default(),
    }
    .write(work_dir)
}

fn frequent(
    opts: &LinesOptions,
    work_dir: &Path,
    manifests: &[Manifest],
    p: u32,
    config: &serde_json::Value,
) -> Result<()> {
    let inputs: Vec<StageFile> = files_of_partition(manifests, COUNTS, p)
        .iter()
        .map(|entry| StageFile::open(work_dir, entry, COUNT_KIND))
        .collect::<Result<_>>()?;
    // Each task of the counts stage wrote its (hash, count) records sorted by hash, so the
    // partition's totals come from a k-way merge of its files, in hash order: memory is one
    // entry per file instead of a map entry per distinct unit.
    let mut lists = inputs
        .iter()
        .map(|f| Ok(f.fixed_records(12)?.map(|r| (u64_at(r, 0), u32_at(r, 8)))))
        .collect::<Result<Vec<_>>>()?;
    let mut heap = BinaryHeap::with_capacity(lists.len());
    for (i, list) in lists.iter_mut().enumerate() {
        if let Some((hash, count)) = list.next() {
            heap.push(Reverse((hash, i, count)));
        }
    }
    let mut out = StageWriter::create(work_dir, &format!("{FREQUENT}/p{p:05}.bin"), FREQ_KIND)?;
    let mut frequent_units = 0u64;
    let mut flush = |unit: Option<(u64, u32)>, out: &mut StageWriter| -> Result<()> {
        match unit {
            Some((hash, total)) if total >= opts.min_count => {
                frequent_units += 1;
                out.record(&hash.to_le_bytes())
            }
            _ => Ok(()),
        }
    };
    let mut current: Option<(u64, u32)> = None;
    while let Some(Reverse((hash, i, count))) = heap.pop() {
        if let Some((next, next_count)) = lists[i].next() {
            if next <= hash {
                return Err(DedupError::stage(
                    &inputs[i].path,
                    "unit hashes are not ascending",
                ));
            }
            heap.push(Reverse((next, i, next_count)));
        }
        current = match current {
            // Counts saturate at u32::MAX, whatever the order they are added in.
            Some((h, total)) if h == hash => Some((h, total.saturating_add(count))),
            other => {
                flush(other, &mut out)?;
                Some((hash, count))
            }
        };
    }
    flush(current, &mut out)?;
    let files: Vec<FileEntry> = vec![out.finish()?];
    let mut counts = serde_json::Map::new();
    counts.insert("frequent_units".into(), frequent_units.into());
    Manifest {
        stage: FREQUENT.into(),
        part: p,
        parts: opts.partitions,
        config: config.clone(),
        files,
        counts,
    }
    .write(work_dir)
}

/// What removing frequent units does to one text.
pub enum LinesOutcome {
    Unchanged,
    Changed { text: String, removed: u64 },
    Empty { removed: u64 },
}

pub fn remove_frequent(
    text: &str,
    opts: &LinesOptions,
    frequent: &dyn Fn(u64) -> bool,
    scratch: &mut String,
) -> LinesOutcome {
    let mut kept = String::with_capacity(text.len());
    let mut removed = 0u64;
    for unit in units(text, opts.unit) {
        match unit_hash(unit, opts.normalize, scratch) {
            Some(h) if frequent(h) => removed += 1,
            _ => kept.push_str(unit),
        }
    }
    if removed == 0 {
        LinesOutcome::Unchanged
    } else if kept.trim().is_empty() {
        LinesOutcome::Empty { removed }
    } else {
        LinesOutcome::Changed {
            text: kept,
            removed,
        }
    }
}

/// The frequent unit hashes of a finished `buckets` stage, looked up in place: each
/// partition's file is sorted and memory-mapped, and a lookup is a binary search in the file
/// of the hash's partition. A filter task holds no copy, so its memory does not grow with the
/// corpus (the pages it touches are the kernel's page cache, shared and reclaimable).
pub struct FrequentUnits {
    /// One file per partition, in partition order.
    files: Vec<StageFile>,
}

impl FrequentUnits {
    pub fn open(work_dir: &Path, config: &serde_json::Value, partitions: u32) -> Result<Self> {
        let manifests = Manifest::load_complete(work_dir, FREQUENT, config)?;
        let mut files = Vec::with_capacity(manifests.len());
        for (p, m) in manifests.iter().enumerate() {
            let [entry] = m.files.as_slice() else {
                return Err(DedupError::stage(
                    work_dir.join(Manifest::file_name(FREQUENT, m.part, m.parts)),
                    "lists other than one file",
                ));
            };
            if m.part as usize != p || m.parts != partitions {
                return Err(DedupError::stage(
                    work_dir.join(&entry.path),
                    format!(
                        "is partition {}/{}, expected {p}/{partitions}",
                        m.part, m.parts
                    ),
                ));
            }
            let file = StageFile::open(work_dir, entry, FREQ_KIND)?;
            let _ = file.fixed_records(8)?; // checks whole records
            if !sorted_hashes(file.body()) {
                return Err(DedupError::stage(&file.path, "hashes are not ascending"));
            }
            files.push(file);
        }
        Ok(FrequentUnits { files })
    }

    /// Whether unit hash `hash` is frequent.
    pub fn contains(&self, hash: u64) -> bool {
        let body = self.files[partition_of(hash, self.files.len() as u32) as usize].body();
        let n = body.len() / 8;
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if u64_at(body, mid * 8) < hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo < n && u64_at(body, lo * 8) == hash
    }

    /// The number of frequent hashes.
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.records as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a body of 8-byte hashes ascends strictly (the lookup's binary search needs it).
fn sorted_hashes(body: &[u8]) -> bool {
    body.chunks_exact(8)
        .map(|r| u64_at(r, 0))
        .try_fold(None, |last, h| match last {
            Some(l) if l >= h => None,
            _ => Some(Some(h)),
        })
        .is_some()
}

/// The filter stage as a pipeline step: removes the frequent units from each document.
pub struct LinesFilter {
    opts: LinesOptions,
    frequent: FrequentUnits,
}

impl LinesFilter {
    /// The frequent units found by a finished `buckets` stage run with `opts` over `inputs`.
    pub fn load(inputs: &InputSet, opts: &LinesOptions, work_dir: &Path) -> Result<Self> {
        let config = &config(opts, inputs)?;
        Ok(LinesFilter {
            opts: opts.clone(),
            frequent: FrequentUnits::open(work_dir, config, opts.partitions)?,
        })
    }
}

impl Step for LinesFilter {
    fn name(&self) -> &str {
        "dedup_lines"
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        Ok(
            match remove_frequent(
                &doc.text,
                &self.opts,
                &|h| self.frequent.contains(h),
                &mut String::new(),
            ) {
                LinesOutcome::Unchanged => Verdict::Keep,
                LinesOutcome::Empty { removed } => Verdict::Reject(
                    Rejection::new("dedup_lines", "dup_lines_empty").with("removed", removed),
                ),
                LinesOutcome::Changed { text, removed } => {
                    doc.text = text;
                    doc.annotate("dedup_lines_removed", removed);
                    Verdict::Keep
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequent_units_merged_from_several_tasks_are_found_in_their_partition_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = Vec::new();
        for i in 0..300 {
            // Units 0..50 recur in every document; the others are unique.
            let common = format!("common line {}", i % 50);
            lines.push(format!(
                "{{\"id\":\"d{i}\",\"text\":\"{common}\\nunique line {i}\"}}"
            ));
        }
        std::fs::write(dir.path().join("in.jsonl"), lines.join("\n") + "\n").unwrap();
        let inputs = InputSet::expand(
            &[dir.path().join("in.jsonl").to_string_lossy()],
            "text",
            "id",
        )
        .unwrap();
        let opts = LinesOptions {
            partitions: 4,
            ..LinesOptions::default()
        };
        let work = dir.path().join("work");
        let config = config(&opts, &inputs).unwrap();
        // Three counting tasks: each partition's totals are a merge of three sorted files.
        for index in 0..3 {
            let shard = ShardSpec { index, count: 3 };
            count(&inputs, &opts, &work, shard, &config).unwrap();
        }
        let manifests = Manifest::load_complete(&work, COUNTS, &config).unwrap();
        for p in 0..opts.partitions {
            frequent(&opts, &work, &manifests, p, &config).unwrap();
        }
        let set = FrequentUnits::open(&work, &config, opts.partitions).unwrap();
        assert_eq!(set.len(), 50);
        let hash = |u: &str| unit_hash(u, opts.normalize, &mut String::new()).unwrap();
        for i in 0..300 {
            assert!(set.contains(hash(&format!("common line {}", i % 50))));
            assert!(
                !set.contains(hash(&format!("unique line {i}"))),
                "unique {i}"
            );
        }
        assert!(!set.contains(0) && !set.contains(u64::MAX));
        // Another partition count than the stage's is refused, naming the file.
        let err = FrequentUnits::open(&work, &config, 5)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("lines-frequent"), "{err}");
    }

    #[test]
    fn paragraphs_keep_their_separators() {
        let text = "a\nb\n\n \nc\n\nd";
        let parts = units(text, Unit::Paragraph);
        assert_eq!(parts, vec!["a\nb\n\n \n", "c\n\n", "d"]);
        assert_eq!(parts.concat(), text);
        assert_eq!(units("x\ny", Unit::Line), vec!["x\n", "y"]);
    }
}
