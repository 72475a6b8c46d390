//! The BPE commands as library functions over input files: count (per shard, under a memory
//! cap), tokenize into Megatron shards, and evaluate a vocabulary.

use super::count::{WordCounter, WordCounts};
use super::encode::Encoder;
use super::input::{self, InputError, InputOptions, Record};
use super::megatron::{IndexedDatasetWriter, MegatronError, TokenDtype};
use super::pattern::PreTokenizer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Sequences are dealt to shards in blocks of this many, in input order.
pub const SHARD_BLOCK: u64 = 1024;

/// Which part of the input a run handles: shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/n`.
    pub fn parse(s: &str) -> Option<Shard> {
        let (i, n) = s.split_once('/')?;
        let (index, count) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    fn owns(&self, sequence: u64) -> bool {
        (sequence / SHARD_BLOCK) % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Counts the pre-tokens of this shard's sequences. With `max_memory`, the table is pruned of
/// its rarest words whenever its estimate passes the cap (down to three quarters of it), and the
/// result records what was dropped.
pub fn count_inputs(
    inputs: &[PathBuf],
    options: &InputOptions,
    pre: &PreTokenizer,
    shard: Shard,
    max_memory: Option<usize>,
) -> Result<WordCounts, InputError> {
    let counter = WordCounter::new(pre);
    let mut total = WordCounts::new();
    let mut sequence = 0u64;
    input::for_each_batch(inputs, options, |batch: Vec<Record>| {
        let mine: Vec<String> = batch
            .into_iter()
            .filter_map(|r| {
                sequence += 1;
                shard.owns(sequence - 1).then_some(r.text)
            })
            .collect();
        counter.count_batch(&mine, &mut total);
        if let Some(cap) = max_memory {
            if total.memory_estimate() > cap {
                total.prune_to(cap / 4 * 3);
            }
        }
        Ok::<(), InputError>(())
    })?;
    Ok(total)
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
}

/// Encodes every document into a Megatron indexed dataset at `prefix`, optionally ending each
/// document with `eod` (by default `<|endoftext|>`).
pub fn tokenize_to_megatron(
    inputs: &[PathBuf],
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
    let mut writer = IndexedDatasetWriter::create(prefix, TokenDtype::for_vocab(encoder.vocab().len()))?;
    let mut stats = TokenizeStats::default();
    input::for_each_batch(inputs, options, |batch: Vec<Record>| {
        let texts: Vec<&str> = batch.iter().map(|r| r.text.as_str()).collect();
        for (ids, text) in encoder.encode_batch(&texts).into_iter().zip(&texts) {
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
    pub by_lang: BTreeMap<String, EvalFigures>,
}

pub fn evaluate(inputs: &[PathBuf], options: &InputOptions, encoder: &Encoder) -> Result<EvalReport, InputError> {
    let mut report = EvalReport::default();
    input::for_each_batch(inputs, options, |batch: Vec<Record>| {
        let texts: Vec<&str> = batch.iter().map(|r| r.text.as_str()).collect();
        for (ids, r) in encoder.encode_batch(&texts).into_iter().zip(&batch) {
            report.all.add(&r.text, ids.len());
            let lang = r.lang.clone().unwrap_or_else(|| "unknown".into());
            report.by_lang.entry(lang).or_default().add(&r.text, ids.len());
        }
        Ok::<(), InputError>(())
    })?;
    report.all.finish();
    report.by_lang.values_mut().for_each(EvalFigures::finish);
    Ok(report)
}
