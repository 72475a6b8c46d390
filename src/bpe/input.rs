//! Reading documents for the BPE commands through the corpus readers ([`crate::corpus`]), in
//! batches of about `batch_bytes` of text so that counting and encoding run in parallel on
//! bounded memory. Records the readers quarantine are counted (and reported by the commands);
//! a file that breaks off is an error.

use crate::corpus::{
    CorpusError, CorpusReader, Document, Format, InputFile, Raw, ReadOptions, Record,
};
use rayon::prelude::*;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error("{file}: unreadable after {offset} (bytes or rows): {error}")]
    Broken {
        file: String,
        offset: u64,
        error: String,
    },
}

/// Reading options.
#[derive(Debug, Clone)]
pub struct InputOptions {
    pub read: ReadOptions,
    /// Whether the text of a `.txt` file is one sequence per line, each with its line ending
    /// (the sequences HF's `train_from_files` feeds its trainer); see [`is_line_text`].
    pub txt_lines: bool,
    /// Approximate bytes of text per batch.
    pub batch_bytes: usize,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            read: ReadOptions::default(),
            txt_lines: false,
            batch_bytes: 8 << 20,
        }
    }
}

/// What reading went through.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadSummary {
    pub documents: u64,
    /// Records the readers could not make into documents (bad JSON, no text, ...).
    pub quarantined: u64,
    /// The first few of them, as `file:line: reason (error)`.
    pub quarantine_examples: Vec<String>,
}

/// How many quarantined records a summary names.
const EXAMPLES: usize = 5;

/// Whether a document came from a `.txt` file (whose lines are separate training sequences
/// when [`InputOptions::txt_lines`] is set).
pub fn is_line_text(doc: &Document) -> bool {
    Format::from_path(std::path::Path::new(&*doc.source.file)) == Some(Format::Txt)
}

/// Reads every input file in order and calls `f` with batches of documents (JSON decoding of a
/// batch runs in parallel).
pub fn for_each_batch<E: From<InputError>>(
    files: &[InputFile],
    options: &InputOptions,
    mut f: impl FnMut(Vec<Document>) -> Result<(), E>,
) -> Result<ReadSummary, E> {
    let mut summary = ReadSummary::default();
    let mut pending: Vec<Document> = Vec::new();
    let mut pending_bytes = 0usize;
    for input in files {
        let reader = CorpusReader::open(input, &options.read).map_err(InputError::from)?;
        let file = reader.file().clone();
        let mut raws: Vec<Raw> = Vec::new();
        let mut raw_bytes = 0usize;
        let mut reader = reader;
        loop {
            let next = reader.next();
            let end = next.is_none();
            if let Some(raw) = next {
                raw_bytes += raw.size();
                raws.push(raw);
            }
            if raw_bytes < options.batch_bytes && !end {
                continue;
            }
            let records: Vec<Record> = std::mem::take(&mut raws)
                .into_par_iter()
                .map(|r| r.decode(&file, &options.read))
                .collect();
            raw_bytes = 0;
            for record in records {
                match record {
                    Record::Doc(doc) => {
                        summary.documents += 1;
                        pending_bytes += doc.text.len();
                        pending.push(doc);
                    }
                    Record::Quarantined(q) => {
                        summary.quarantined += 1;
                        if summary.quarantine_examples.len() < EXAMPLES {
                            summary.quarantine_examples.push(format!(
                                "{}:{}: {} ({})",
                                q.source, q.line, q.reason, q.error
                            ));
                        }
                    }
                    Record::Break(b) => {
                        return Err(InputError::Broken {
                            file: b.file,
                            offset: b.offset,
                            error: b.error,
                        }
                        .into())
                    }
                }
                if pending_bytes >= options.batch_bytes {
                    pending_bytes = 0;
                    f(std::mem::take(&mut pending))?;
                }
            }
            if end {
                break;
            }
        }
    }
    if !pending.is_empty() {
        f(pending)?;
    }
    Ok(summary)
}
