//! Reading corpus files as a stream of records.
//!
//! Reading is split in two so that the expensive half can run in parallel: a [`CorpusReader`]
//! walks one file sequentially and yields [`Raw`] items (undecoded JSON lines, or records that
//! are already decoded, as Parquet rows and text files are), and [`Raw::decode`] turns each into
//! a [`Record`]. [`CorpusReader::records`] does both in order for simple callers.

use super::parquet::ParquetRows;
use super::record::{decode_json_line, Quarantine};
use super::{CorpusError, Document, Format, InputFile, ReadOptions, Record, Source, StreamBreak};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

/// An item of a file, before (possibly parallel) decoding.
#[derive(Debug)]
pub enum Raw {
    /// One JSON line without its newline.
    Line { line: u64, bytes: Vec<u8> },
    /// A record that needed no further decoding.
    Ready(Record),
}

impl Raw {
    /// Decodes this item into a record of `file`.
    pub fn decode(self, file: &Arc<str>, options: &ReadOptions) -> Record {
        match self {
            Raw::Line { line, bytes } => decode_json_line(
                &bytes,
                Source {
                    file: file.clone(),
                    line,
                },
                options,
            ),
            Raw::Ready(record) => record,
        }
    }

    /// Bytes of input this item stands for (for progress and batching).
    pub fn size(&self) -> usize {
        match self {
            Raw::Line { bytes, .. } => bytes.len() + 1,
            Raw::Ready(Record::Doc(doc)) => doc.text.len(),
            Raw::Ready(_) => 0,
        }
    }
}

/// Reads one corpus file from start to end (or to the point where it breaks).
pub struct CorpusReader {
    file: Arc<str>,
    options: ReadOptions,
    source: Inner,
}

enum Inner {
    Lines {
        reader: Box<dyn BufRead + Send>,
        line: u64,
        offset: u64,
        finished: bool,
        /// A break waiting to be reported after the partial record it cut.
        pending_break: Option<Record>,
    },
    Parquet(ParquetRows, VecDeque<Record>),
    Text(Option<Record>),
}

impl CorpusReader {
    /// Opens a corpus file. A file that cannot be opened is an error naming it; damage found
    /// later while reading becomes a [`Record::Break`] at the end of the stream.
    pub fn open(input: &InputFile, options: &ReadOptions) -> Result<CorpusReader, CorpusError> {
        let path = &input.path;
        let file_name: Arc<str> = path.to_string_lossy().into();
        let open = || File::open(path).map_err(|e| CorpusError::io(path, &e));
        let lines = |reader: Box<dyn Read + Send>| Inner::Lines {
            reader: Box::new(BufReader::with_capacity(1 << 20, reader)),
            line: 0,
            offset: 0,
            finished: false,
            pending_break: None,
        };
        let source = match input.format {
            Format::Jsonl => lines(Box::new(open()?)),
            Format::JsonlZst => {
                let decoder = zstd::Decoder::new(open()?).map_err(|e| CorpusError::io(path, &e))?;
                lines(Box::new(decoder))
            }
            Format::JsonlGz => lines(Box::new(flate2::read::MultiGzDecoder::new(open()?))),
            Format::Parquet => Inner::Parquet(
                ParquetRows::open(path, file_name.clone(), options)?,
                VecDeque::new(),
            ),
            Format::Txt => Inner::Text(Some(read_text_file(input, &file_name)?)),
        };
        Ok(CorpusReader {
            file: file_name,
            options: options.clone(),
            source,
        })
    }

    /// The file being read, as it will be named in quarantine records.
    pub fn file(&self) -> &Arc<str> {
        &self.file
    }

    /// Decoded records, in file order.
    pub fn records(self) -> impl Iterator<Item = Record> {
        let file = self.file.clone();
        let options = self.options.clone();
        self.map(move |raw| raw.decode(&file, &options))
    }

    /// Only the documents, for tools that need no accounting; quarantined records and breaks
    /// are counted into `skipped`.
    pub fn documents<'a>(self, skipped: &'a mut u64) -> impl Iterator<Item = Document> + 'a {
        self.records().filter_map(move |record| match record {
            Record::Doc(doc) => Some(doc),
            _ => {
                *skipped += 1;
                None
            }
        })
    }
}

impl Iterator for CorpusReader {
    type Item = Raw;

    fn next(&mut self) -> Option<Raw> {
        match &mut self.source {
            Inner::Lines {
                reader,
                line,
                offset,
                finished,
                pending_break,
            } => {
                if *finished {
                    return pending_break.take().map(Raw::Ready);
                }
                let mut bytes = Vec::new();
                match reader.read_until(b'\n', &mut bytes) {
                    Ok(0) => {
                        *finished = true;
                        None
                    }
                    Ok(n) => {
                        *line += 1;
                        *offset += n as u64;
                        if bytes.last() == Some(&b'\n') {
                            bytes.pop();
                            if bytes.last() == Some(&b'\r') {
                                bytes.pop();
                            }
                        }
                        if *line == 1 && bytes.starts_with(UTF8_BOM) {
                            bytes.drain(..UTF8_BOM.len());
                        }
                        Some(Raw::Line { line: *line, bytes })
                    }
                    Err(error) => {
                        *finished = true;
                        let stream_break = Record::Break(StreamBreak {
                            file: self.file.to_string(),
                            offset: *offset,
                            error: error.to_string(),
                        });
                        if bytes.is_empty() {
                            return Some(Raw::Ready(stream_break));
                        }
                        // The break cut a record in two: quarantine what was read of it, then
                        // report the break.
                        *line += 1;
                        let source = Source {
                            file: self.file.clone(),
                            line: *line,
                        };
                        let cut = Quarantine::new(&source, "truncated_record", &error, &bytes);
                        *pending_break = Some(stream_break);
                        Some(Raw::Ready(Record::Quarantined(cut)))
                    }
                }
            }
            Inner::Parquet(rows, pending) => {
                if pending.is_empty() {
                    pending.extend(rows.next_batch());
                }
                pending.pop_front().map(Raw::Ready)
            }
            Inner::Text(record) => record.take().map(Raw::Ready),
        }
    }
}

/// A UTF-8 byte order mark, which some editors and exporters put at the start of a file. It is
/// not part of the first record (a JSON parser would refuse it), so readers drop it.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A `.txt` file is one document; its id is the file name.
fn read_text_file(input: &InputFile, file_name: &Arc<str>) -> Result<Record, CorpusError> {
    let mut bytes = std::fs::read(&input.path).map_err(|e| CorpusError::io(&input.path, &e))?;
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    let source = Source {
        file: file_name.clone(),
        line: 1,
    };
    let quarantine = |reason, error: String, bytes: &[u8]| {
        Record::Quarantined(Quarantine::new(&source, reason, error, bytes))
    };
    Ok(match String::from_utf8(bytes) {
        Err(e) => quarantine("invalid_utf8", e.to_string(), e.as_bytes()),
        Ok(text) if text.is_empty() => quarantine("empty_text", "the file is empty".into(), b""),
        Ok(text) => {
            let id = input
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut doc = Document::new(id.clone(), text, source);
            doc.meta.insert("id".into(), id.into());
            Record::Doc(doc)
        }
    })
}
