//! The documents dedup reads, each named by a [`DocKey`]: its file's position in the sorted
//! input list and its line (or row) number. "First in input order" is the smallest key, and the
//! key of a document is the same in every stage and for any `--shard`, so a stage can find the
//! decisions of an earlier one for the document the executor hands it.
//!
//! Reading goes through the corpus readers (every format; bad records are quarantined by them
//! and skipped here, as the filter stage's executor quarantines them again in the output).
//! JSON lines are parsed for their id and text only ([`read_id_text`]), borrowing the text,
//! which is all the hashing stages need.

use super::error::{DedupError, Result};
use crate::corpus::ShardSpec;
use crate::corpus::{
    expand_inputs, generated_id, read_id_text, CorpusReader, Document, IdText, InputFile, Raw,
    ReadOptions, Record, Source,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Lines per block when fewer files than tasks force a stage to share files out by blocks.
const SHARD_BLOCK: u64 = 64;

/// A document's position in the input: orders documents, and names them in stage files.
pub type DocKey = u64;

/// Bits of a [`DocKey`] for the line (or row) number; the file's position takes the rest.
const LINE_BITS: u32 = 40;

/// Input files a dedup run can name: 2^24.
pub const MAX_FILES: usize = 1 << (64 - LINE_BITS);

/// The last line (or row) number of a file that a dedup run can name: 2^40 - 1.
pub const MAX_LINE: u64 = (1 << LINE_BITS) - 1;

/// The key of line `line` of input file `file`, or an error when either does not fit: two
/// documents must never share a key (one would take the other's decisions).
pub fn doc_key(file: usize, line: u64) -> Result<DocKey> {
    if file >= MAX_FILES {
        return Err(DedupError::Config(format!(
            "input file number {file}: dedup names a document by its file's position (at most \
             {MAX_FILES} files) and its line; merge small files first (glmkit convert)"
        )));
    }
    if line > MAX_LINE {
        return Err(DedupError::Config(format!(
            "line {line} of input file number {file}: dedup names a document by its file and \
             line (at most {MAX_LINE} records a file); split the file first (glmkit convert \
             --shard-docs)"
        )));
    }
    Ok(((file as u64) << LINE_BITS) | line)
}

/// The position of the input file that holds document `key` (the inverse of [`doc_key`]).
pub fn file_of(key: DocKey) -> usize {
    (key >> LINE_BITS) as usize
}

/// The expanded, sorted list of input files and how to read their records.
#[derive(Debug, Clone)]
pub struct InputSet {
    files: Vec<InputFile>,
    pub read: ReadOptions,
    index_of: HashMap<String, usize>,
    /// Fingerprint files by a checksum of their bytes, not only their metadata.
    checksums: bool,
    /// Made once: a content checksum reads every file.
    fingerprint: OnceLock<serde_json::Value>,
}

/// One record as read, before parsing: its key and its bytes (a JSON line) or its document
/// (formats the reader decodes itself).
pub struct RawRecord {
    pub key: DocKey,
    pub file: usize,
    pub line: u64,
    body: Body,
}

enum Body {
    Line(Vec<u8>),
    Doc(Document),
}

/// The two fields dedup needs, borrowed from the record where possible.
pub struct Fields<'a> {
    pub id: Cow<'a, str>,
    pub text: Cow<'a, str>,
}

impl InputSet {
    /// Expands files, directories and globs as every glmkit command does.
    pub fn expand<S: AsRef<str>>(inputs: &[S], text_field: &str, id_field: &str) -> Result<Self> {
        let files = expand_inputs(inputs)?;
        let read = ReadOptions {
            text_field: text_field.into(),
            id_field: id_field.into(),
            ..ReadOptions::default()
        };
        Self::new(files, read)
    }

    /// The files to read, in input order; more than [`MAX_FILES`] is an error.
    pub fn new(files: Vec<InputFile>, read: ReadOptions) -> Result<Self> {
        if files.len() > MAX_FILES {
            doc_key(files.len() - 1, 0)?;
        }
        let index_of = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.to_string_lossy().into_owned(), i))
            .collect();
        Ok(InputSet {
            files,
            read,
            index_of,
            checksums: false,
            fingerprint: OnceLock::new(),
        })
    }

    /// Fingerprints the inputs by a checksum of their content too (xxh3-64 of every byte, read
    /// once per stage), which also catches an edit that keeps a file's size and modification
    /// time (a copy with `cp -p`, a restore from an archive).
    pub fn with_content_checksums(mut self, checksums: bool) -> Self {
        self.checksums = checksums;
        self.fingerprint = OnceLock::new();
        self
    }

    pub fn files(&self) -> &[InputFile] {
        &self.files
    }

    /// Identifies the inputs so that later stages can check they read the same: each file's
    /// path, size and modification time (nanoseconds), and with
    /// [`InputSet::with_content_checksums`] a checksum of its bytes.
    pub fn fingerprint(&self) -> Result<serde_json::Value> {
        if let Some(done) = self.fingerprint.get() {
            return Ok(done.clone());
        }
        let files = self
            .files
            .iter()
            .map(|f| {
                let mut entry = f.identity().map_err(|e| DedupError::io(&f.path, e))?;
                if self.checksums {
                    entry["xxh3"] = format!("{:016x}", content_checksum(&f.path)?).into();
                }
                Ok(entry)
            })
            .collect::<Result<Vec<_>>>()?;
        let value = serde_json::json!({"files": files, "text_field": self.read.text_field, "id_field": self.read.id_field});
        Ok(self.fingerprint.get_or_init(|| value).clone())
    }

    /// The key of a document handed out by the corpus readers (e.g. by the executor).
    pub fn key_of(&self, doc: &Document) -> Option<DocKey> {
        self.index_of
            .get(&*doc.source.file)
            .and_then(|&f| doc_key(f, doc.source.line).ok())
    }

    /// Whether `shard` owns line `line` of file `file` in the hashing stages: whole files when
    /// there are at least as many files as tasks, otherwise blocks of lines dealt round-robin.
    fn owns(&self, shard: ShardSpec, file: usize, line: u64) -> bool {
        let n = shard.count as u64;
        if self.files.len() as u64 >= n {
            file as u64 % n == shard.index as u64
        } else {
            (file as u64 + line.saturating_sub(1) / SHARD_BLOCK) % n == shard.index as u64
        }
    }

    /// Reads the records `shard` owns, in key order, in batches of about `batch_bytes`.
    /// Records the readers quarantine are skipped (the filter stage reports them).
    pub fn for_each_batch(
        &self,
        shard: ShardSpec,
        batch_bytes: usize,
        mut f: impl FnMut(Vec<RawRecord>) -> Result<()>,
    ) -> Result<()> {
        let whole_files = self.files.len() >= shard.count;
        let mut batch = Vec::new();
        let mut batch_len = 0usize;
        for (index, input) in self.files.iter().enumerate() {
            if whole_files && !self.owns(shard, index, 1) {
                continue;
            }
            for raw in CorpusReader::open(input, &self.read)? {
                let (line, size, body) = match raw {
                    Raw::Line { line, bytes } => (line, bytes.len(), Body::Line(bytes)),
                    Raw::Ready(Record::Doc(doc)) => {
                        (doc.source.line, doc.text.len(), Body::Doc(doc))
                    }
                    Raw::Ready(_) => continue,
                };
                if !self.owns(shard, index, line) {
                    continue;
                }
                batch_len += size;
                let key = doc_key(index, line).map_err(|e| match e {
                    DedupError::Config(why) => {
                        DedupError::Config(format!("{}: {why}", input.path.display()))
                    }
                    other => other,
                })?;
                batch.push(RawRecord {
                    key,
                    file: index,
                    line,
                    body,
                });
                if batch_len >= batch_bytes || batch.len() >= 65536 {
                    batch_len = 0;
                    f(std::mem::take(&mut batch))?;
                }
            }
        }
        if !batch.is_empty() {
            f(batch)?;
        }
        Ok(())
    }

    /// [`InputSet::for_each_batch`] with the reading (decompression, line splitting) on a thread
    /// of its own, one batch ahead of `f`, so that it overlaps the hashing instead of leaving the
    /// workers idle. Batches reach `f` in the same order.
    pub fn read_ahead(
        &self,
        shard: ShardSpec,
        batch_bytes: usize,
        mut f: impl FnMut(Vec<RawRecord>) -> Result<()>,
    ) -> Result<()> {
        std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel::<Vec<RawRecord>>(0);
            let reader = scope.spawn(move || {
                self.for_each_batch(shard, batch_bytes, |batch| {
                    // Fails only when `f` has failed and stopped receiving; its error is reported.
                    send.send(batch)
                        .map_err(|_| DedupError::Config("reading stopped".into()))
                })
            });
            let mut hashed = Ok(());
            for batch in &receive {
                hashed = f(batch);
                if hashed.is_err() {
                    break;
                }
            }
            drop(receive);
            let read = reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            hashed.and(read)
        })
    }

    /// The id and text of a record, or None when the corpus readers would quarantine it.
    pub fn fields<'a>(&self, record: &'a RawRecord) -> Option<Fields<'a>> {
        let bytes = match &record.body {
            Body::Doc(doc) => {
                return Some(Fields {
                    id: Cow::Borrowed(&doc.id),
                    text: Cow::Borrowed(&doc.text),
                })
            }
            Body::Line(bytes) => bytes,
        };
        let IdText { id, text, .. } = read_id_text(bytes, &self.read)?;
        let id = id.unwrap_or_else(|| {
            let source = Source {
                file: Arc::from(self.files[record.file].path.to_string_lossy().as_ref()),
                line: record.line,
            };
            Cow::Owned(generated_id(&source))
        });
        Some(Fields { id, text })
    }
}

/// xxh3-64 of a file's bytes, read in blocks.
fn content_checksum(path: &std::path::Path) -> Result<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| DedupError::io(path, e))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut block) {
            Ok(0) => return Ok(hasher.digest()),
            Ok(n) => hasher.update(&block[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DedupError::io(path, e)),
        }
    }
}

impl From<crate::corpus::CorpusError> for DedupError {
    fn from(e: crate::corpus::CorpusError) -> Self {
        DedupError::Corpus(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_shards_like_the_corpus_readers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut lines = String::new();
        for i in 0..1000 {
            lines.push_str(&format!(
                "{{\"id\": {i}, \"x\": [1], \"text\": \"t\\n{i}\"}}\n"
            ));
        }
        lines.push_str(
            "\n{bad\n{\"text\": \"\"}\n{\"id\": true, \"text\": \"x\"}\n{\"text\": \"no id\"}\n",
        );
        std::fs::write(&path, lines).unwrap();
        let set = InputSet::expand(&[path.display().to_string()], "text", "id").unwrap();
        let mut all = Vec::new();
        for i in 0..3 {
            set.for_each_batch(ShardSpec::new(i, 3).unwrap(), 1000, |b| {
                all.extend(b);
                Ok(())
            })
            .unwrap();
        }
        all.sort_by_key(|r| r.key);
        // Every line is a record; those the reader would quarantine have no fields.
        assert_eq!(all.len(), 1005);
        let f = set.fields(&all[7]).unwrap();
        assert_eq!((f.id.as_ref(), f.text.as_ref()), ("7", "t\n7"));
        assert!(set.fields(&all[1000]).is_none(), "blank line");
        assert!(set.fields(&all[1001]).is_none(), "malformed");
        assert!(set.fields(&all[1002]).is_none(), "empty text");
        assert!(set.fields(&all[1003]).is_none(), "bad id");
        assert_eq!(set.fields(&all[1004]).unwrap().id, "a.jsonl:1005");
        assert_eq!(all[1004].line, 1005);
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn keys_order_documents_and_never_collide() {
        assert!(doc_key(0, MAX_LINE).unwrap() < doc_key(1, 0).unwrap());
        assert_eq!(doc_key(MAX_FILES - 1, MAX_LINE).unwrap(), u64::MAX);
        // Past either limit, a key would repeat another document's (file << 40 | line wraps
        // or spills into the file's bits): an error instead.
        let e = doc_key(MAX_FILES, 1).unwrap_err().to_string();
        assert!(e.contains("16777216 files"), "{e}");
        let e = doc_key(0, MAX_LINE + 1).unwrap_err().to_string();
        assert!(e.contains("line 1099511627776"), "{e}");
    }
}
