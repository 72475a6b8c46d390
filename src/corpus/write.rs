//! Writing records into size-bounded part files, atomically.
//!
//! A part is written under a temporary name (`.NAME.tmp`) and renamed when complete, so a
//! crash never leaves a half-written file under a final name.

use super::parquet::{write_parquet, ColumnTypes};
use super::{CorpusError, Format};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// When to start a new part file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartLimits {
    /// Records per part at most.
    pub max_docs: u64,
    /// Uncompressed bytes per part at most (a part always takes at least one record).
    pub max_bytes: u64,
}

impl Default for PartLimits {
    fn default() -> Self {
        PartLimits {
            max_docs: 1_000_000,
            max_bytes: 128 << 20,
        }
    }
}

/// A record ready to be written: a JSON line (encoded in parallel by the caller) or, for
/// Parquet, the record's fields.
#[derive(Debug)]
pub enum Encoded {
    Line(Vec<u8>),
    Fields(Map<String, Value>),
}

impl Encoded {
    fn size(&self) -> u64 {
        match self {
            Encoded::Line(line) => line.len() as u64,
            // An estimate for rotating Parquet parts; exactness does not matter, determinism does.
            Encoded::Fields(fields) => fields.values().map(value_size).sum(),
        }
    }
}

fn value_size(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items.iter().map(value_size).sum(),
        Value::Object(map) => map.values().map(value_size).sum::<u64>() + map.len() as u64,
        _ => 8,
    }
}

/// Writes `DIR/STEM-00000.EXT`, `DIR/STEM-00001.EXT`, ... rotating at the limits.
pub struct PartWriter {
    dir: PathBuf,
    stem: String,
    format: Format,
    limits: PartLimits,
    column_types: Arc<ColumnTypes>,
    zstd_workers: u32,
    part: Option<OpenPart>,
    next_index: usize,
    written: Vec<PathBuf>,
}

struct OpenPart {
    final_path: PathBuf,
    tmp_path: PathBuf,
    sink: Sink,
    docs: u64,
    bytes: u64,
}

enum Sink {
    Plain(BufWriter<File>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Rows(Vec<Map<String, Value>>),
}

/// zstd level for outputs: the library default, fast and deterministic.
const ZSTD_LEVEL: i32 = 3;

impl PartWriter {
    pub fn new(
        dir: &Path,
        stem: &str,
        format: Format,
        limits: PartLimits,
    ) -> Result<Self, CorpusError> {
        if format == Format::Txt {
            return Err(CorpusError::BadInput {
                path: dir.into(),
                message: "plain text is an input format only; write jsonl, jsonl.zst, jsonl.gz or parquet".into(),
            });
        }
        Ok(PartWriter {
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
            format,
            limits,
            column_types: Arc::default(),
            zstd_workers: 1,
            part: None,
            next_index: 0,
            written: Vec::new(),
        })
    }

    /// Column types to keep when writing Parquet (those of a Parquet input).
    pub fn with_column_types(mut self, types: Arc<ColumnTypes>) -> Self {
        self.column_types = types;
        self
    }

    /// Threads that compress `.jsonl.zst` parts (1 to 4; default 1). libzstd's streaming
    /// multithreaded mode writes the same bytes for any number of workers, so this changes
    /// only the speed. Four workers compress faster than a pipeline produces records, and
    /// each one holds its own buffers (a few MiB), so more would only cost memory.
    pub fn with_zstd_workers(mut self, workers: usize) -> Self {
        self.zstd_workers = workers.clamp(1, 4) as u32;
        self
    }

    /// The name part `index` of this writer gets.
    pub fn part_name(stem: &str, index: usize, format: Format) -> String {
        format!("{stem}-{index:05}.{}", format.name())
    }

    pub fn write(&mut self, record: Encoded) -> Result<(), CorpusError> {
        let size = record.size();
        let full = self.part.as_ref().is_some_and(|p| {
            p.docs >= self.limits.max_docs
                || (p.bytes > 0 && p.bytes + size > self.limits.max_bytes)
        });
        if full {
            self.close_part()?;
        }
        if self.part.is_none() {
            self.open_part()?;
        }
        let part = self.part.as_mut().expect("opened above");
        part.docs += 1;
        part.bytes += size;
        let path = &part.tmp_path;
        let io = |e: std::io::Error| CorpusError::io(path, &e);
        match (&mut part.sink, record) {
            (Sink::Plain(w), Encoded::Line(line)) => w.write_all(&line).map_err(io),
            (Sink::Zstd(w), Encoded::Line(line)) => w.write_all(&line).map_err(io),
            (Sink::Gzip(w), Encoded::Line(line)) => w.write_all(&line).map_err(io),
            (Sink::Rows(rows), Encoded::Fields(fields)) => {
                rows.push(fields);
                Ok(())
            }
            _ => unreachable!("the executor encodes records for the writer's format"),
        }
    }

    /// Closes the last part and returns every file written, in order.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, CorpusError> {
        self.close_part()?;
        Ok(std::mem::take(&mut self.written))
    }

    fn open_part(&mut self) -> Result<(), CorpusError> {
        let name = Self::part_name(&self.stem, self.next_index, self.format);
        self.next_index += 1;
        let final_path = self.dir.join(&name);
        let tmp_path = self.dir.join(format!(".{name}.tmp"));
        let sink = if self.format == Format::Parquet {
            Sink::Rows(Vec::new())
        } else {
            let file = File::create(&tmp_path).map_err(|e| CorpusError::io(&tmp_path, &e))?;
            let file = BufWriter::with_capacity(1 << 20, file);
            match self.format {
                Format::Jsonl => Sink::Plain(file),
                Format::JsonlZst => {
                    let io = |e: std::io::Error| CorpusError::io(&tmp_path, &e);
                    let mut encoder = zstd::Encoder::new(file, ZSTD_LEVEL).map_err(io)?;
                    encoder.multithread(self.zstd_workers).map_err(io)?;
                    Sink::Zstd(encoder)
                }
                Format::JsonlGz => Sink::Gzip(flate2::write::GzEncoder::new(
                    file,
                    flate2::Compression::default(),
                )),
                Format::Parquet | Format::Txt => unreachable!("handled above"),
            }
        };
        self.part = Some(OpenPart {
            final_path,
            tmp_path,
            sink,
            docs: 0,
            bytes: 0,
        });
        Ok(())
    }

    fn close_part(&mut self) -> Result<(), CorpusError> {
        let Some(part) = self.part.take() else {
            return Ok(());
        };
        let path = &part.tmp_path;
        let io = |e: std::io::Error| CorpusError::io(path, &e);
        // No fsync: the rename makes a part visible only when complete, which is what resume
        // after a crashed or killed process needs; syncing every part would halve throughput.
        let flush = |mut w: BufWriter<File>| -> std::io::Result<()> { w.flush() };
        match part.sink {
            Sink::Plain(w) => flush(w).map_err(io)?,
            Sink::Zstd(w) => flush(w.finish().map_err(io)?).map_err(io)?,
            Sink::Gzip(w) => flush(w.finish().map_err(io)?).map_err(io)?,
            Sink::Rows(rows) => write_parquet(path, &rows, &self.column_types)?,
        }
        std::fs::rename(path, &part.final_path).map_err(io)?;
        self.written.push(part.final_path);
        Ok(())
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        // An unfinished part (an error elsewhere) must not stay behind under any name.
        if let Some(part) = self.part.take() {
            drop(part.sink);
            let _ = std::fs::remove_file(&part.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libzstd's streaming multithreaded mode promises the same bytes for any number of
    /// workers; outputs must not depend on `--threads`, so this is checked on a part large
    /// enough to be cut into several compression jobs.
    #[test]
    fn zstd_parts_are_identical_whatever_the_workers() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = 7u64;
        let lines: Vec<Vec<u8>> = (0..100_000)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                format!(
                    "{{\"id\":{i},\"text\":\"{:x} {}\"}}\n",
                    state,
                    "word ".repeat(i % 50)
                )
                .into_bytes()
            })
            .collect();
        let mut parts = Vec::new();
        for workers in [1, 2, 4] {
            let out = dir.path().join(format!("w{workers}"));
            std::fs::create_dir_all(&out).unwrap();
            let mut writer = PartWriter::new(&out, "p", Format::JsonlZst, PartLimits::default())
                .unwrap()
                .with_zstd_workers(workers);
            for line in &lines {
                writer.write(Encoded::Line(line.clone())).unwrap();
            }
            let written = writer.finish().unwrap();
            assert_eq!(written.len(), 1);
            parts.push(std::fs::read(&written[0]).unwrap());
        }
        assert!(lines.iter().map(Vec::len).sum::<usize>() > 12 << 20);
        assert_eq!(parts[0], parts[1]);
        assert_eq!(parts[0], parts[2]);
        assert_eq!(zstd::decode_all(&parts[0][..]).unwrap(), lines.concat());
    }
}
