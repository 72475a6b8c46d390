//! The BPE commands as library functions over input files: count (per shard, under a memory
//! cap), tokenize into Megatron shards, and evaluate a vocabulary.

use super::count::{WordCounter, WordCounts};
use super::encode::Encoder;
use super::input::{self, InputError, InputOptions, ReadSummary};
use super::megatron::{IndexedDatasetWriter, MegatronError, TokenDtype};
use super::pattern::PreTokenizer;
use crate::corpus::ShardSpec;
use crate::corpus::{Document, InputFile};
use std::collections::BTreeMap;
use std::path::Path;

/// The input files of shard `i` of `n`: every `n`-th file from the `i`-th, as in every sharded
/// glmkit command (split a single large file with `glmkit convert` to spread it).
pub fn shard_files(files: &[InputFile], shard: ShardSpec) -> Vec<InputFile> {
    files
        .iter()
        .enumerate()
        .filter(|(k, _)| shard.owns(*k))
        .map(|(_, f)| f.clone())
        .collect()
}

/// Counts the pre-tokens of the files' sequences. With `max_memory`, the table is pruned of its
/// rarest words whenever its estimate passes the cap (down to three quarters of it), and the
/// result records what was dropped.
pub fn count_inputs(
    files: &[InputFile],
    options: &InputOptions,
    pre: &PreTokenizer,
    max_memory: Option<usize>,
) -> Result<(WordCounts, ReadSummary), InputError> {
    let counter = WordCounter::new(pre);
    let mut total = WordCounts::new();
    let summary = input::for_each_batch(files, options, |batch: Vec<Document>| {
        let texts: Vec<(&str, bool)> = batch
            .iter()
            .map(|d| (d.text.as_str(), options.txt_lines && input::is_line_text(d)))
            .collect();
        counter.count_texts(&texts, &mut total);
        if let Some(cap) = max_memory {
            if total.memory_estimate() > cap {
                total.prune_to(cap / 4 * 3);
            }
        }
        Ok::<(), InputError>(())
    })?;
    Ok((total, summary))
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Megatron(#[from] MegatronError),
    #[error("--append-eod needs the special token {0} in the vocabulary")]
    NoEod(String),
}

/// Totals of a tokenize run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TokenizeStats {
    pub documents: u64,
    pub tokens: u64,
    pub bytes: u64,
    /// Records the readers quarantined (not in the dataset).
    pub quarantined: u64,
    /// Wall seconds spent encoding (reading and writing excluded).
    pub encode_seconds: f64,
}

/// Encodes every document into a Megatron indexed dataset at `prefix`, optionally ending each
/// document with `eod` (by default `<|endoftext|>`).
pub fn tokenize_to_megatron(
    files: &[InputFile],
    options: &InputOptions,
    encoder: &Encoder,
    prefix: &Path,
    eod: Option<&str>,
) -> Result<TokenizeStats, TokenizeError> {
    let eod_id = match eod {
        None => None,
        Some(name) => Some(
            encoder
                .vocab()
                .specials()
                .into_iter()
                .find(|(s, _)| s == name)
                .map(|(_, id)| id)
                .ok_or_else(|| TokenizeError::NoEod(name.to_string()))?,
        ),
    };
    let mut writer =
        IndexedDatasetWriter::create(prefix, TokenDtype::for_vocab(encoder.vocab().len()))?;
    let mut stats = TokenizeStats::default();
    let summary = input::for_each_batch(files, options, |batch: Vec<Document>| {
        let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
        let started = std::time::Instant::now();
        let encoded = encoder.encode_batch(&texts);
        stats.encode_seconds += started.elapsed().as_secs_f64();
        for (ids, text) in encoded.into_iter().zip(&texts) {
            let mut ids = ids;
            ids.extend(eod_id);
            stats.documents += 1;
            stats.tokens += ids.len() as u64;
            stats.bytes += text.len() as u64;
            writer.add_document(&ids)?;
        }
        Ok::<(), TokenizeError>(())
    })?;
    writer.finish()?;
    stats.quarantined = summary.quarantined;
    Ok(stats)
}

/// Compression figures of one language (or of all documents).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EvalFigures {
    pub documents: u64,
    pub bytes: u64,
    pub chars: u64,
    /// Whitespace-separated words.
    pub words: u64,
    pub tokens: u64,
    pub bytes_per_token: f64,
    pub tokens_per_word: f64,
    pub tokens_per_char: f64,
}

impl EvalFigures {
    fn add(&mut self, text: &str, tokens: usize) {
        self.documents += 1;
        self.bytes += text.len() as u64;
        self.chars += text.chars().count() as u64;
        self.words += text.split_whitespace().count() as u64;
        self.tokens += tokens as u64;
    }

    fn finish(&mut self) {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        self.bytes_per_token = ratio(self.bytes, self.tokens);
        self.tokens_per_word = ratio(self.tokens, self.words);
        self.tokens_per_char = ratio(self.tokens, self.chars);
    }
}

/// Figures per language (`glmkit.lang` or `lang`; `unknown` without either) and overall.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EvalReport {
    pub all: EvalFigures,
    /// Records the readers quarantined (not counted above).
    pub quarantined: u64,
    pub by_lang: BTreeMap<String, EvalFigures>,
}

pub fn evaluate(
    files: &[InputFile],
    options: &InputOptions,
    encoder: &Encoder,
) -> Result<EvalReport, InputError> {
    let mut report = EvalReport::default();
    let summary = input::for_each_batch(files, options, |batch: Vec<Document>| {
        let texts: Vec<&str> = batch.iter().map(|d| d.text.as_str()).collect();
        for (ids, doc) in encoder.encode_batch(&texts).into_iter().zip(&batch) {
            report.all.add(&doc.text, ids.len());
            let lang = doc.language().unwrap_or("unknown").to_string();
            report
                .by_lang
                .entry(lang)
                .or_default()
                .add(&doc.text, ids.len());
        }
        Ok::<(), InputError>(())
    })?;
    report.quarantined = summary.quarantined;
    report.all.finish();
    report.by_lang.values_mut().for_each(EvalFigures::finish);
    Ok(report)
}

/// Compression of one language (or of all documents) under two vocabularies.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompressionChange {
    pub documents: u64,
    pub bytes: u64,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub bytes_per_token_before: f64,
    pub bytes_per_token_after: f64,
}

impl CompressionChange {
    fn of(before: &EvalFigures, after: &EvalFigures) -> Self {
        CompressionChange {
            documents: before.documents,
            bytes: before.bytes,
            tokens_before: before.tokens,
            tokens_after: after.tokens,
            bytes_per_token_before: before.bytes_per_token,
            bytes_per_token_after: after.bytes_per_token,
        }
    }
}

/// [`evaluate`]'s bytes per token, overall and per language, before and after.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompressionReport {
    pub all: CompressionChange,
    pub by_lang: BTreeMap<String, CompressionChange>,
}

/// Evaluates the same files with `before` and `after`.
pub fn compare_compression(
    files: &[InputFile],
    options: &InputOptions,
    before: &Encoder,
    after: &Encoder,
) -> Result<CompressionReport, InputError> {
    let (b, a) = (
        evaluate(files, options, before)?,
        evaluate(files, options, after)?,
    );
    Ok(CompressionReport {
        all: CompressionChange::of(&b.all, &a.all),
        by_lang: b
            .by_lang
            .iter()
            .map(|(lang, fb)| (lang.clone(), CompressionChange::of(fb, &a.by_lang[lang])))
            .collect(),
    })
}
