//! A small reader for the dedup commands: JSON Lines (`.jsonl`, `.json`, `.jsonl.zst`,
//! `.jsonl.gz`) and plain `.txt` files (one document per file).
//!
//! It hands out raw records with a stable key, `(file index << 40) | record index`, so that
//! "first in input order" means the smallest key whatever the sharding. Kept records are
//! written back byte for byte. This file is the one place to swap for the corpus readers.

use super::error::{DedupError, Result};
use super::shard::ShardSpec;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Records per block when fewer files than shards force sharding inside files.
const SHARD_BLOCK: u64 = 64;

/// A document's position in the input: orders documents, and names them in stage files.
pub type DocKey = u64;

pub fn doc_key(file: usize, record: u64) -> DocKey {
    ((file as u64) << 40) | record
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    JsonLines,
    Text,
}

/// The expanded, ordered list of input files and how to read their records.
#[derive(Debug, Clone)]
pub struct InputSet {
    files: Vec<PathBuf>,
    pub text_field: String,
    pub id_field: String,
}

/// One record as read: its key, where it came from, its bytes.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub key: DocKey,
    pub file: usize,
    /// 1-based line number (1 for a `.txt` file).
    pub line: u64,
    pub bytes: Vec<u8>,
    json: bool,
}

/// The two fields dedup needs, borrowed from the record where possible.
pub struct Fields<'a> {
    pub id: Cow<'a, str>,
    pub text: Cow<'a, str>,
}

impl InputSet {
    /// Expands files, directories (recursively, sorted) and glob patterns, in the order given.
    pub fn expand(inputs: &[String], text_field: &str, id_field: &str) -> Result<Self> {
        let mut files = Vec::new();
        for input in inputs {
            let path = Path::new(input);
            if path.is_dir() {
                let mut found = Vec::new();
                walk(path, &mut found)?;
                found.sort();
                files.extend(found);
            } else if path.exists() {
                files.push(path.to_path_buf());
            } else {
                let pattern = glob::glob(input).map_err(|e| DedupError::Input {
                    path: path.into(),
                    why: format!("bad glob: {e}"),
                })?;
                let mut found: Vec<PathBuf> = pattern
                    .filter_map(|p| p.ok())
                    .filter(|p| p.is_file())
                    .collect();
                if found.is_empty() {
                    return Err(DedupError::Input {
                        path: path.into(),
                        why: "no such file".into(),
                    });
                }
                found.sort();
                files.extend(found);
            }
        }
        for file in &files {
            format_of(file)?;
        }
        Ok(InputSet {
            files,
            text_field: text_field.into(),
            id_field: id_field.into(),
        })
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Identifies the inputs (paths and sizes) so later stages can check they read the same.
    pub fn fingerprint(&self) -> serde_json::Value {
        let files: Vec<serde_json::Value> = self
            .files
            .iter()
            .map(|f| {
                let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
                serde_json::json!({"path": f.display().to_string(), "bytes": bytes})
            })
            .collect();
        serde_json::json!({"files": files, "text_field": self.text_field, "id_field": self.id_field})
    }

    /// Whether `shard` owns record `record` of file `file`: whole files when there are at least
    /// as many files as shards, otherwise blocks of records dealt round-robin.
    fn owns(&self, shard: ShardSpec, file: usize, record: u64) -> bool {
        let n = shard.count as u64;
        if self.files.len() as u64 >= n {
            file as u64 % n == shard.index as u64
        } else {
            (file as u64 + record / SHARD_BLOCK) % n == shard.index as u64
        }
    }

    /// Reads the records `shard` owns, in key order, in batches of about `batch_bytes`.
    pub fn for_each_batch(
        &self,
        shard: ShardSpec,
        batch_bytes: usize,
        mut f: impl FnMut(Vec<RawRecord>) -> Result<()>,
    ) -> Result<()> {
        let whole_files = self.files.len() as u64 >= shard.count as u64;
        let mut batch = Vec::new();
        let mut batch_len = 0usize;
        for (index, path) in self.files.iter().enumerate() {
            if whole_files && !self.owns(shard, index, 0) {
                continue;
            }
            let io = |e| DedupError::io(path, e);
            if format_of(path)? == Format::Text {
                let mut bytes = Vec::new();
                File::open(path)
                    .and_then(|mut f| f.read_to_end(&mut bytes))
                    .map_err(io)?;
                if self.owns(shard, index, 0) {
                    batch_len += bytes.len();
                    batch.push(RawRecord {
                        key: doc_key(index, 0),
                        file: index,
                        line: 1,
                        bytes,
                        json: false,
                    });
                }
            } else {
                let mut reader = open_lines(path)?;
                let mut record = 0u64;
                let mut line_no = 0u64;
                loop {
                    let mut bytes = Vec::new();
                    if reader.read_until(b'\n', &mut bytes).map_err(io)? == 0 {
                        break;
                    }
                    line_no += 1;
                    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        bytes.pop();
                    }
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        continue; // a blank line is no record
                    }
                    let key = doc_key(index, record);
                    let owned = self.owns(shard, index, record);
                    record += 1;
                    if owned {
                        batch_len += bytes.len();
                        batch.push(RawRecord {
                            key,
                            file: index,
                            line: line_no,
                            bytes,
                            json: true,
                        });
                    }
                    if batch_len >= batch_bytes || batch.len() >= 65536 {
                        batch_len = 0;
                        f(std::mem::take(&mut batch))?;
                    }
                }
            }
            if batch_len >= batch_bytes {
                batch_len = 0;
                f(std::mem::take(&mut batch))?;
            }
        }
        if !batch.is_empty() {
            f(batch)?;
        }
        Ok(())
    }

    /// Where a record came from, for quarantine and explanations.
    pub fn location(&self, record: &RawRecord) -> String {
        format!("{}:{}", self.files[record.file].display(), record.line)
    }

    /// The id and text of a record, or why they cannot be read.
    pub fn fields<'a>(&self, record: &'a RawRecord) -> Result<Fields<'a>, String> {
        if !record.json {
            let text = std::str::from_utf8(&record.bytes).map_err(|e| format!("not UTF-8: {e}"))?;
            let id = self.files[record.file]
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            return Ok(Fields {
                id: Cow::Owned(id.into_owned()),
                text: Cow::Borrowed(text),
            });
        }
        let seed = FieldSeed {
            text_field: &self.text_field,
            id_field: &self.id_field,
        };
        let mut de = serde_json::Deserializer::from_slice(&record.bytes);
        let (id, text) = seed.deserialize(&mut de).map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        let text = text.ok_or_else(|| format!("no string field `{}`", self.text_field))?;
        let id = id.unwrap_or_else(|| {
            let name = self.files[record.file]
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            Cow::Owned(format!("{name}:{}", record.line))
        });
        Ok(Fields { id, text })
    }

    /// The whole record as a JSON object (for records that are written back changed).
    pub fn object(
        &self,
        record: &RawRecord,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        if record.json {
            return serde_json::from_slice(&record.bytes).map_err(|e| e.to_string());
        }
        let fields = self.fields(record)?;
        let mut map = serde_json::Map::new();
        map.insert(self.id_field.clone(), fields.id.into_owned().into());
        map.insert(self.text_field.clone(), fields.text.into_owned().into());
        Ok(map)
    }

    /// The record as one JSON line, unchanged when it was JSON.
    pub fn json_line(&self, record: &RawRecord) -> Result<Vec<u8>, String> {
        if record.json {
            Ok(record.bytes.clone())
        } else {
            Ok(serde_json::to_vec(&self.object(record)?).expect("serializes"))
        }
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| DedupError::io(dir, e))? {
        let path = entry.map_err(|e| DedupError::io(dir, e))?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if format_of(&path).is_ok() {
            found.push(path);
        }
    }
    Ok(())
}

fn format_of(path: &Path) -> Result<Format> {
    let name = path.to_string_lossy();
    for ext in [
        ".jsonl",
        ".json",
        ".jsonl.zst",
        ".jsonl.gz",
        ".json.zst",
        ".json.gz",
    ] {
        if name.ends_with(ext) {
            return Ok(Format::JsonLines);
        }
    }
    if name.ends_with(".txt") {
        return Ok(Format::Text);
    }
    Err(DedupError::Input {
        path: path.into(),
        why: "unknown format (expected .jsonl, .jsonl.zst, .jsonl.gz or .txt)".into(),
    })
}

fn open_lines(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| DedupError::io(path, e))?;
    let name = path.to_string_lossy();
    Ok(if name.ends_with(".zst") {
        let decoder =
            zstd::stream::read::Decoder::new(file).map_err(|e| DedupError::io(path, e))?;
        Box::new(BufReader::with_capacity(1 << 20, decoder))
    } else if name.ends_with(".gz") {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(file),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, file))
    })
}

/// Reads only the id and text fields of a JSON object, borrowing when there are no escapes.
struct FieldSeed<'f> {
    text_field: &'f str,
    id_field: &'f str,
}

type IdText<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = IdText<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = IdText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut id, mut text) = (None, None);
        while let Some(key) = map.next_key::<CowStr>()? {
            if key.0 == self.text_field {
                text = Some(map.next_value::<CowStr>()?.0);
            } else if key.0 == self.id_field {
                id = map.next_value::<IdValue>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok((id, text))
    }
}

struct CowStr<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// An id may be a string or a number; null counts as absent.
struct IdValue<'de>(Option<Cow<'de, str>>);

impl<'de> serde::Deserialize<'de> for IdValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(IdValue(match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(Cow::Owned(s)),
            other => Some(Cow::Owned(other.to_string())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_shards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut lines = String::new();
        for i in 0..10000 {
            lines.push_str(&format!(
                "{{\"id\": {i}, \"x\": [1], \"text\": \"t\\n{i}\"}}\n"
            ));
        }
        lines.push_str("\n{bad\n");
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
        assert_eq!(all.len(), 10001);
        let f = set.fields(&all[7]).unwrap();
        assert_eq!((f.id.as_ref(), f.text.as_ref()), ("7", "t\n7"));
        assert!(set.fields(&all[10000]).is_err());
        assert_eq!(all[10000].line, 10002);
    }
}
