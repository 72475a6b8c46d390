//! What the report shows, read from a run directory's stats and outputs (never from a log).
//!
//! A run directory is what `glmkit run` writes: `pipeline.toml`, `pipeline/` (the pipeline's
//! kept/rejected/quarantine/stats.json), `ppl_cutoffs.json`, the bucketed `kept/` and
//! `stats.json`, and `tokenizer/`. Only `pipeline/stats.json` is required: a figure whose
//! inputs are absent is left out, and the report says so.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ReportError;
use crate::corpus::{expand_inputs, CorpusReader, Document, ReadOptions};
use crate::model::score::{BucketCutoffs, TextEncoder, Tokenizer};
use crate::pipeline::{Stats, KEPT, QUARANTINE, REJECTED};

/// One step of the funnel: documents and text bytes that reached it and that it let through.
#[derive(Debug, Clone, Default)]
pub struct FunnelStep {
    pub name: String,
    pub docs_in: u64,
    pub docs_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Removed documents by reason.
    pub reasons: BTreeMap<String, u64>,
}

/// Documents and bytes of one language before (everything read) and after (finally kept).
#[derive(Debug, Clone, Default)]
pub struct LanguageFigures {
    pub docs_before: u64,
    pub bytes_before: u64,
    pub docs_after: u64,
    pub bytes_after: u64,
}

/// Tokens of the finally kept documents of one language under the run's trained vocabulary.
#[derive(Debug, Clone, Default)]
pub struct TokenFigures {
    pub bytes: u64,
    /// Tokens of each document.
    pub per_doc: Vec<u64>,
}

impl TokenFigures {
    pub fn tokens(&self) -> u64 {
        self.per_doc.iter().sum()
    }

    pub fn bytes_per_token(&self) -> f64 {
        self.bytes as f64 / self.tokens().max(1) as f64
    }
}

/// Everything the report and the summary need.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    pub dir: PathBuf,
    /// Counts of the pipeline (`pipeline/stats.json`).
    pub stats: Stats,
    /// Counts of the bucketing pass (`stats.json`), when it ran.
    pub final_stats: Option<Stats>,
    pub funnel: Vec<FunnelStep>,
    pub languages: BTreeMap<String, LanguageFigures>,
    /// Perplexity of every scored document the pipeline kept, per language.
    pub ppl: BTreeMap<String, Vec<f64>>,
    pub cutoffs: Option<BucketCutoffs>,
    /// Finally kept documents per bucket.
    pub buckets: BTreeMap<String, u64>,
    /// Per dedup step: cluster size -> number of clusters (a cluster is a kept document and
    /// the documents removed as its copies).
    pub clusters: BTreeMap<String, BTreeMap<u64, u64>>,
    pub tokens: BTreeMap<String, TokenFigures>,
    /// Files the run wrote, for the summary: (what, path).
    pub outputs: Vec<(String, PathBuf)>,
}

/// The folder of the pipeline's own output layout inside a run directory; a plain pipeline
/// output directory (kept/, rejected/, stats.json) is read as well.
fn pipeline_dir(dir: &Path) -> PathBuf {
    let nested = dir.join("pipeline");
    if nested.join("stats.json").is_file() {
        nested
    } else {
        dir.to_path_buf()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ReportError::Input(format!("{}: {e}", path.display())))
}

/// Every document of every file under `dir` (none when it does not exist).
fn documents(dir: &Path, mut each: impl FnMut(Document)) -> Result<(), ReportError> {
    if !dir.is_dir() {
        return Ok(());
    }
    let files = expand_inputs(&[dir.display().to_string()])
        .map_err(|e| ReportError::Input(format!("{}: {e}", dir.display())))?;
    let options = ReadOptions::default();
    for file in &files {
        let mut skipped = 0u64;
        let reader = CorpusReader::open(file, &options)
            .map_err(|e| ReportError::Input(format!("{}: {e}", file.path.display())))?;
        for doc in reader.documents(&mut skipped) {
            each(doc);
        }
        if skipped > 0 {
            return Err(ReportError::Input(format!(
                "{}: {skipped} records are not documents",
                file.path.display()
            )));
        }
    }
    Ok(())
}

fn language(doc: &Document) -> String {
    doc.language().unwrap_or("und").to_string()
}

fn annotation_str(doc: &Document, key: &str) -> String {
    doc.annotation(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Step kinds in the order of the pipeline file; `quality` stands for the rules it runs, which
/// the stats count one by one.
fn step_order(dir: &Path, stats: &Stats) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let kinds: Vec<String> = std::fs::read_to_string(dir.join("pipeline.toml"))
        .ok()
        .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
        .and_then(|t| t.get("step").and_then(|s| s.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.get("kind").and_then(|k| k.as_str()).map(String::from))
        .collect();
    for kind in kinds {
        if stats.by_step.contains_key(&kind) {
            order.push(kind);
        } else if kind == "quality" {
            order.extend(
                crate::filter::RULE_NAMES
                    .iter()
                    .filter(|r| stats.by_step.contains_key(**r))
                    .map(|r| r.to_string()),
            );
        }
    }
    // Steps the file does not name (a plain output directory): by documents seen, decreasing.
    let mut rest: Vec<(&String, u64)> = stats
        .by_step
        .iter()
        .filter(|(name, _)| !order.contains(name))
        .map(|(name, s)| (name, s.seen))
        .collect();
    rest.sort_by_key(|&(_, seen)| std::cmp::Reverse(seen));
    order.extend(rest.into_iter().map(|(n, _)| n.clone()));
    order
}

impl RunData {
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        let pdir = pipeline_dir(dir);
        let stats: Stats = read_json(&pdir.join("stats.json"))?;
        let mut data = RunData {
            dir: dir.to_path_buf(),
            ..Default::default()
        };

        // Rejected documents: bytes and reasons per step, languages, duplicate clusters.
        let mut removed_bytes: BTreeMap<String, u64> = BTreeMap::new();
        let mut reasons: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut copies: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let languages = &mut data.languages;
        documents(&pdir.join(REJECTED), |doc| {
            let step = annotation_str(&doc, "step");
            *removed_bytes.entry(step.clone()).or_default() += doc.text.len() as u64;
            *reasons
                .entry(step.clone())
                .or_default()
                .entry(annotation_str(&doc, "reason"))
                .or_default() += 1;
            if let Some(kept) = doc
                .annotation("details")
                .and_then(|d| d.get("kept_id"))
                .and_then(Value::as_str)
            {
                *copies
                    .entry(step)
                    .or_default()
                    .entry(kept.to_string())
                    .or_default() += 1;
            }
            let l = languages.entry(language(&doc)).or_default();
            l.docs_before += 1;
            l.bytes_before += doc.text.len() as u64;
        })?;
        documents(&pdir.join(KEPT), |doc| {
            let l = data.languages.entry(language(&doc)).or_default();
            l.docs_before += 1;
            l.bytes_before += doc.text.len() as u64;
            if let Some(ppl) = doc.annotation("ppl").and_then(Value::as_f64) {
                data.ppl.entry(language(&doc)).or_default().push(ppl);
            }
        })?;

        let mut docs = stats.read - stats.quarantined;
        let mut bytes = stats.text_bytes_read;
        for name in step_order(dir, &stats) {
            let s = &stats.by_step[&name];
            let cut = removed_bytes.get(&name).copied().unwrap_or(0);
            let step = FunnelStep {
                docs_in: docs,
                docs_out: docs.saturating_sub(s.rejected),
                bytes_in: bytes,
                bytes_out: bytes.saturating_sub(cut),
                reasons: reasons.remove(&name).unwrap_or_default(),
                name,
            };
            docs = step.docs_out;
            bytes = step.bytes_out;
            data.funnel.push(step);
        }
        for (step, kept) in copies {
            let sizes = data.clusters.entry(step).or_default();
            for n in kept.values() {
                *sizes.entry(n + 1).or_default() += 1;
            }
        }
        data.outputs.push(("pipeline output".into(), pdir.clone()));
        if stats.quarantined > 0 {
            data.outputs
                .push(("unreadable records".into(), pdir.join(QUARANTINE)));
        }
        data.stats = stats;

        // The bucketing pass and the final corpus.
        let cutoffs_path = dir.join("ppl_cutoffs.json");
        if cutoffs_path.is_file() {
            data.cutoffs = Some(read_json(&cutoffs_path)?);
            data.outputs
                .push(("perplexity cutoffs".into(), cutoffs_path.clone()));
        }
        let final_kept = if pdir != dir && dir.join("stats.json").is_file() {
            data.final_stats = Some(read_json(&dir.join("stats.json"))?);
            data.outputs
                .push(("final corpus (bucketed)".into(), dir.join(KEPT)));
            dir.join(KEPT)
        } else {
            pdir.join(KEPT)
        };
        let tokenizer_path = dir.join("tokenizer").join("tokenizer.json");
        let tokenizer = if tokenizer_path.is_file() {
            data.outputs
                .push(("BPE vocabulary".into(), dir.join("tokenizer")));
            Some(Tokenizer::open(&tokenizer_path).map_err(|e| ReportError::Input(e.to_string()))?)
        } else {
            None
        };
        let mut failure = None;
        documents(&final_kept, |doc| {
            let lang = language(&doc);
            let l = data.languages.entry(lang.clone()).or_default();
            l.docs_after += 1;
            l.bytes_after += doc.text.len() as u64;
            let bucket = annotation_str(&doc, "bucket");
            if !bucket.is_empty() {
                *data.buckets.entry(bucket).or_default() += 1;
            }
            if let Some(tokenizer) = &tokenizer {
                match tokenizer.encode(&doc.text) {
                    Ok(ids) => {
                        let t = data.tokens.entry(lang).or_default();
                        t.bytes += doc.text.len() as u64;
                        t.per_doc.push(ids.len() as u64);
                    }
                    Err(e) => failure = Some(e.to_string()),
                }
            }
        })?;
        if let Some(e) = failure {
            return Err(ReportError::Input(format!(
                "{}: {e}",
                tokenizer_path.display()
            )));
        }
        let megatron = dir.join("megatron");
        if megatron.is_dir() {
            data.outputs.push(("Megatron shards".into(), megatron));
        }
        Ok(data)
    }

    /// Documents that entered the pipeline (read, less unreadable records).
    pub fn documents_read(&self) -> u64 {
        self.stats.read - self.stats.quarantined
    }
}
