//! The one pass over the inputs: a reader thread cuts each file into batches (as the pipeline
//! executor does), the rayon pool measures every record of a few batches at once in parallel
//! ([`Probes`]), and the calling thread folds the measures into [`Tally`] in input order, so the
//! result does not depend on the thread count.

use super::contract::{Contract, SchemaRule};
use super::tally::{DocFacts, Tally};
use super::tokenizer::{RoundTrip, Tokenized};
use super::CheckError;
use crate::corpus::{CorpusReader, Document, InputFile, Raw, ReadOptions, Record, StreamBreak};
use crate::dedup::exact::content_hash;
use crate::dedup::minhash::{MinHashParams, MinHasher};
use crate::dedup::Normalization;
use crate::filter::rules::{first_failure, rule_by_name, QualityRule};
use crate::filter::{expand_rule_names, LanguageIdentifier, Thresholds, DEFAULT_LANGUAGES};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Records per batch at most, and input bytes per batch at most (the executor's defaults).
const BATCH_DOCS: usize = 4096;
const BATCH_BYTES: usize = 4 << 20;

/// The id field the check hands the readers: no record has it, so the readers never judge or
/// add an id (the schema rule judges the real one, and records are named by file and line).
const NO_ID_FIELD: &str = "\u{0}glmkit-check";

/// The quality rules, their settings, and the largest sample hash of the rule's sample.
pub type QualityProbe = (Vec<Box<dyn QualityRule>>, Arc<Thresholds>, u64);

/// Everything that is measured per document, built once from the contract.
pub struct Probes {
    pub read: ReadOptions,
    pub schema: Option<SchemaRule>,
    pub length: bool,
    pub exact: bool,
    pub minhash: Option<MinHasher>,
    pub seed: u64,
    pub identifier: Option<LanguageIdentifier>,
    /// Documents whose sample hash is below this are in the sample of that rule.
    pub language_cut: Option<u64>,
    pub quality: Option<QualityProbe>,
    pub tokenizer: Option<(RoundTrip, u64)>,
    /// Keep each document's text for the perplexity sample.
    pub keep_text: bool,
}

/// The largest hash in a sample drawn at `rate` (1 takes every document).
fn cut(rate: f64) -> u64 {
    if rate >= 1.0 {
        u64::MAX
    } else {
        (rate * u64::MAX as f64) as u64
    }
}

impl Probes {
    pub fn new(contract: &Contract) -> Result<Probes, CheckError> {
        let read = ReadOptions {
            text_field: contract.text_field.clone(),
            id_field: NO_ID_FIELD.into(),
            require_id: false,
        };
        let (exact, minhash) = match &contract.duplicates {
            Some(d) => (
                d.max_exact_rate.is_some(),
                d.max_near_rate
                    .map(|_| MinHasher::new(MinHashParams::default())),
            ),
            None => (false, None),
        };
        let quality = match &contract.quality {
            Some(q) => {
                let names = if q.rules.is_empty() {
                    crate::filter::DEFAULT_RULES
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                } else {
                    expand_rule_names(&q.rules).map_err(|e| CheckError::contract(e.to_string()))?
                };
                let rules = names
                    .iter()
                    .map(|n| rule_by_name(n).expect("expanded rule names are known"))
                    .collect();
                let files: Vec<_> = q
                    .thresholds
                    .iter()
                    .map(|f| crate::filter::thresholds::resolve_file(&contract.base_dir, f))
                    .collect();
                let thresholds = Thresholds::with_files(&files)
                    .map_err(|e| CheckError::contract(format!("quality.thresholds: {e}")))?;
                Some((rules, Arc::new(thresholds), cut(q.sample_rate.0)))
            }
            None => None,
        };
        let language_cut = contract.language.as_ref().map(|l| cut(l.sample_rate.0));
        let identifier = if language_cut.is_some() || quality.is_some() {
            Some(identifier(contract)?)
        } else {
            None
        };
        let tokenizer = match &contract.tokenizer {
            Some(t) => Some((
                RoundTrip::open(&contract.resolve(&t.path))?,
                cut(t.sample_rate.0),
            )),
            None => None,
        };
        Ok(Probes {
            read,
            schema: contract.schema.clone(),
            length: contract.length.is_some(),
            exact,
            minhash,
            seed: contract.seed,
            identifier,
            language_cut,
            quality,
            tokenizer,
            keep_text: contract.perplexity.is_some(),
        })
    }

    /// Only what comparing with reference shards needs: the duplicate hashes.
    pub fn for_reference(&self) -> Probes {
        Probes {
            read: self.read.clone(),
            schema: None,
            length: false,
            exact: self.exact,
            minhash: self.minhash.clone(),
            seed: self.seed,
            identifier: None,
            language_cut: None,
            quality: None,
            tokenizer: None,
            keep_text: false,
        }
    }

    /// Measures one document.
    fn measure(&self, doc: Document, scratch: &mut Scratch) -> DocFacts {
        let text = &doc.text;
        let sample_hash = xxh3_64_with_seed(text.as_bytes(), self.seed);
        let schema = self
            .schema
            .as_ref()
            .and_then(|s| schema_violation(s, &doc, &self.read.text_field));
        let chars = if self.length {
            text.chars().count() as u64
        } else {
            0
        };
        let exact = self
            .exact
            .then(|| content_hash(text, Normalization::Basic, &mut scratch.text));
        let signature = self.minhash.as_ref().and_then(|hasher| {
            let mut signature = vec![0u32; hasher.params().lanes()];
            hasher
                .signature_into(
                    text,
                    &mut scratch.text,
                    &mut scratch.shingles,
                    &mut signature,
                )
                .then_some(signature)
        });
        let in_language = self.language_cut.is_some_and(|c| sample_hash <= c);
        let quality_cut = self.quality.as_ref().map(|q| q.2);
        let in_quality = quality_cut.is_some_and(|c| sample_hash <= c);
        let lang = match &self.identifier {
            Some(identifier) if in_language || in_quality => Some(
                identifier
                    .identify(text)
                    .map_or(crate::filter::langid::UNDETERMINED, |found| found.lang),
            ),
            _ => None,
        };
        let quality = match &self.quality {
            Some((rules, thresholds, _)) if in_quality => {
                let profile = thresholds.for_lang(lang);
                Some(first_failure(rules, text, profile).map(|(rule, failure)| {
                    format!(
                        "{}: {} {:.4} (threshold {})",
                        rule.name(),
                        failure.reason,
                        failure.value,
                        failure.threshold
                    )
                }))
            }
            _ => None,
        };
        let tokenized: Option<Tokenized> = match &self.tokenizer {
            Some((engine, cut)) if sample_hash <= *cut => {
                Some(engine.check(text, &mut scratch.bpe))
            }
            _ => None,
        };
        DocFacts {
            line: doc.source.line,
            bytes: text.len() as u64,
            chars,
            schema,
            exact,
            signature,
            lang: lang.filter(|_| in_language),
            quality,
            tokenized,
            sample_hash,
            text: self.keep_text.then_some(doc.text),
        }
    }
}

/// The language identifier with the contract's candidates (default: glmkit's defaults plus
/// every language the contract names).
pub fn identifier(contract: &Contract) -> Result<LanguageIdentifier, CheckError> {
    let mut codes: Vec<String> = DEFAULT_LANGUAGES.iter().map(|s| s.to_string()).collect();
    if let Some(l) = &contract.language {
        if !l.candidates.is_empty() {
            codes = l.candidates.clone();
        }
        let named = l
            .allowed
            .iter()
            .chain(l.min_share.keys())
            .chain(l.max_share.keys());
        for code in named {
            if code != crate::filter::langid::UNDETERMINED && !codes.contains(code) {
                codes.push(code.clone());
            }
        }
    }
    LanguageIdentifier::new(&codes).map_err(|e| CheckError::contract(format!("language: {e}")))
}

/// The first way a record breaks the schema, if any.
fn schema_violation(schema: &SchemaRule, doc: &Document, text_field: &str) -> Option<String> {
    // The readers take the text out of the record's fields; it is a non-empty string.
    let text = serde_json::Value::String(String::new());
    let field = |name: &str| {
        if name == text_field {
            Some(&text)
        } else {
            doc.meta.get(name)
        }
    };
    for (name, kind) in &schema.required {
        match field(name) {
            None => return Some(format!("missing field `{name}`")),
            Some(value) if !kind.matches(value) => {
                return Some(format!("field `{name}` is not {}", kind.name()))
            }
            _ => {}
        }
    }
    for (name, kind) in &schema.optional {
        if let Some(value) = field(name) {
            if !kind.matches(value) {
                return Some(format!("field `{name}` is not {}", kind.name()));
            }
        }
    }
    if !schema.extra_fields {
        let known =
            |name: &str| schema.required.contains_key(name) || schema.optional.contains_key(name);
        if let Some(extra) = doc.meta.keys().find(|k| !known(k)) {
            return Some(format!("field `{extra}` is not in the schema"));
        }
    }
    None
}

/// Per-worker buffers.
#[derive(Default)]
struct Scratch {
    text: String,
    shingles: Vec<u64>,
    bpe: Option<crate::bpe::encode::Cache>,
}

/// One item of a batch after measuring.
pub enum Measured {
    Doc(DocFacts),
    Bad(crate::corpus::Quarantine),
}

/// Batches being measured at once. More than one, so that a worker that finishes its share of
/// a batch steals from the next one instead of waiting for the batch's longest document, and the
/// calling thread folds one batch while the pool measures the next.
const IN_FLIGHT: u64 = 3;

/// A measured batch, or the break that ended it, or the panic of the task that measured it.
type Outcome = std::thread::Result<Result<Vec<Measured>, StreamBreak>>;

/// Reads `files` in order and folds every record into `tally`, measuring on `pool` (called from
/// outside it). A file that cannot be opened or breaks off (truncated, corrupt) stops the check
/// with an error naming it.
pub fn scan(
    files: &[InputFile],
    probes: &Probes,
    tally: &mut Tally,
    reference: bool,
    pool: &rayon::ThreadPool,
) -> Result<(), CheckError> {
    enum Message {
        Start(Arc<str>),
        Batch(Vec<Raw>),
        Failed(crate::corpus::CorpusError),
    }
    let (tx, rx) = sync_channel::<Message>(2);
    std::thread::scope(|scope| -> Result<(), CheckError> {
        let read = &probes.read;
        scope.spawn(move || {
            for input in files {
                let reader = match CorpusReader::open(input, read) {
                    Ok(reader) => reader,
                    Err(e) => {
                        let _ = tx.send(Message::Failed(e));
                        return;
                    }
                };
                if tx.send(Message::Start(reader.file().clone())).is_err() {
                    return;
                }
                let (mut batch, mut bytes) = (Vec::new(), 0);
                for raw in reader {
                    bytes += raw.size();
                    batch.push(raw);
                    if batch.len() >= BATCH_DOCS || bytes >= BATCH_BYTES {
                        bytes = 0;
                        if tx.send(Message::Batch(std::mem::take(&mut batch))).is_err() {
                            return;
                        }
                    }
                }
                if !batch.is_empty() && tx.send(Message::Batch(batch)).is_err() {
                    return;
                }
            }
        });
        let (done_tx, done_rx) = channel();
        let mut folder = InOrder {
            done: done_rx,
            finished: BTreeMap::new(),
            issued: 0,
            folded: 0,
            tally,
            reference,
        };
        // In place: this thread is not one of the pool's workers, so its waiting for finished
        // batches takes no worker away from measuring.
        pool.in_place_scope(|pool| -> Result<(), CheckError> {
            let mut file: Option<(Arc<str>, u32)> = None;
            for message in rx {
                match message {
                    Message::Start(name) => {
                        let index = folder.tally.add_file(name.clone());
                        file = Some((name, index));
                    }
                    Message::Batch(batch) => {
                        let (name, index) = file.clone().expect("a batch follows its file's start");
                        let (seq, done) = (folder.issued, done_tx.clone());
                        folder.issued += 1;
                        pool.spawn(move |_| {
                            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                                measure_batch(batch, &name, probes)
                            }));
                            // The receiver is gone only when the scan already failed.
                            let _ = done.send((seq, index, outcome));
                        });
                        folder.fold_until(IN_FLIGHT)?;
                    }
                    Message::Failed(e) => {
                        // Earlier files first: a break in one of them is the error to report.
                        folder.fold_until(0)?;
                        return Err(CheckError::Corpus(e));
                    }
                }
            }
            folder.fold_until(0)
        })
    })
}

/// Measures one batch in parallel; the first break (in input order) ends it.
fn measure_batch(
    batch: Vec<Raw>,
    name: &Arc<str>,
    probes: &Probes,
) -> Result<Vec<Measured>, StreamBreak> {
    batch
        .into_par_iter()
        .map_init(Scratch::default, |scratch, raw| {
            match decode(raw, name, &probes.read) {
                Record::Doc(doc) => Ok(Measured::Doc(probes.measure(doc, scratch))),
                Record::Quarantined(q) => Ok(Measured::Bad(q)),
                Record::Break(b) => Err(b),
            }
        })
        .collect()
}

/// Folds measured batches into the tally in the order they were read, whatever order they
/// finish in, so that the result does not depend on the thread count.
struct InOrder<'t> {
    done: Receiver<(u64, u32, Outcome)>,
    /// Batches that finished before an earlier one, by sequence number, with their file.
    finished: BTreeMap<u64, (u32, Outcome)>,
    issued: u64,
    folded: u64,
    tally: &'t mut Tally,
    reference: bool,
}

impl InOrder<'_> {
    /// Folds batches in order until at most `in_flight` issued batches are unfolded.
    fn fold_until(&mut self, in_flight: u64) -> Result<(), CheckError> {
        while self.issued - self.folded > in_flight {
            let (file, outcome) = loop {
                if let Some(next) = self.finished.remove(&self.folded) {
                    break next;
                }
                let (seq, file, outcome) = self
                    .done
                    .recv()
                    .expect("every issued batch reports back, even when its task panics");
                self.finished.insert(seq, (file, outcome));
            };
            self.folded += 1;
            let items = match outcome {
                Ok(Ok(items)) => items,
                Ok(Err(b)) => {
                    return Err(CheckError::Broken {
                        file: b.file,
                        offset: b.offset,
                        error: b.error,
                    })
                }
                Err(panic) => std::panic::resume_unwind(panic),
            };
            for item in items {
                if self.reference {
                    self.tally.add_reference(file, item);
                } else {
                    self.tally.add(file, item);
                }
            }
        }
        Ok(())
    }
}

/// Decodes a record; a document loses the id field the readers added under [`NO_ID_FIELD`].
fn decode(raw: Raw, file: &Arc<str>, read: &ReadOptions) -> Record {
    let mut record = raw.decode(file, read);
    if let Record::Doc(doc) = &mut record {
        doc.meta.shift_remove(NO_ID_FIELD);
    }
    record
}
