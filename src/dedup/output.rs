//! Writes one task's share of the standard output layout: `OUT/kept/`, `OUT/rejected/`,
//! `OUT/quarantine/` (zstd JSON Lines, one file per shard) and its stats, such that
//! `read = kept + rejected + quarantined`.

use super::error::{DedupError, Result};
use super::input::{InputSet, RawRecord};
use super::shard::ShardSpec;
use crate::corpus::ANNOTATION_KEY;
use crate::pipeline::Rejection;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Counts of one task; `read == kept + rejected + quarantined`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub step: String,
    pub shard: String,
    pub read: u64,
    pub kept: u64,
    pub rejected: u64,
    pub quarantined: u64,
    pub by_reason: BTreeMap<String, u64>,
    /// Step-specific counts (e.g. modified documents, lines removed).
    pub extra: BTreeMap<String, u64>,
}

struct JsonlZst {
    tmp: PathBuf,
    path: PathBuf,
    out: zstd::stream::write::Encoder<'static, std::io::BufWriter<File>>,
}

impl JsonlZst {
    fn create(dir: &Path, name: &str) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| DedupError::io(dir, e))?;
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let file = File::create(&tmp).map_err(|e| DedupError::io(&tmp, e))?;
        let out =
            zstd::stream::write::Encoder::new(std::io::BufWriter::with_capacity(1 << 20, file), 3)
                .map_err(|e| DedupError::io(&tmp, e))?;
        Ok(JsonlZst { tmp, path, out })
    }

    fn line(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .and_then(|_| self.out.write_all(b"\n"))
            .map_err(|e| DedupError::io(&self.tmp, e))
    }

    fn finish(self) -> Result<()> {
        let inner = self
            .out
            .finish()
            .map_err(|e| DedupError::io(&self.tmp, e))?;
        inner
            .into_inner()
            .map_err(|e| DedupError::io(&self.tmp, e.into_error()))?;
        fs::rename(&self.tmp, &self.path).map_err(|e| DedupError::io(&self.path, e))
    }
}

/// The output of one task of a dedup filter stage.
pub struct OutputWriter {
    dir: PathBuf,
    shard: ShardSpec,
    kept: JsonlZst,
    rejected: JsonlZst,
    quarantine: JsonlZst,
    pub stats: Stats,
}

impl OutputWriter {
    pub fn create(dir: &Path, shard: ShardSpec, step: &str) -> Result<Self> {
        let name = format!("{}.jsonl.zst", shard.tag());
        Ok(OutputWriter {
            dir: dir.to_path_buf(),
            shard,
            kept: JsonlZst::create(&dir.join("kept"), &name)?,
            rejected: JsonlZst::create(&dir.join("rejected"), &name)?,
            quarantine: JsonlZst::create(&dir.join("quarantine"), &name)?,
            stats: Stats {
                step: step.into(),
                shard: shard.to_string(),
                ..Stats::default()
            },
        })
    }

    /// Keeps a record unchanged.
    pub fn keep(&mut self, inputs: &InputSet, record: &RawRecord) -> Result<()> {
        match inputs.json_line(record) {
            Ok(line) => {
                self.stats.read += 1;
                self.stats.kept += 1;
                self.kept.line(&line)
            }
            Err(e) => self.quarantine(inputs, record, &e),
        }
    }

    /// Keeps a record whose text or annotations changed.
    pub fn keep_changed(&mut self, object: &Map<String, Value>) -> Result<()> {
        self.stats.read += 1;
        self.stats.kept += 1;
        self.kept
            .line(&serde_json::to_vec(object).expect("serializes"))
    }

    /// Rejects a record, writing `glmkit.rejection = {step, reason, ...details}` into it.
    pub fn reject(
        &mut self,
        inputs: &InputSet,
        record: &RawRecord,
        rejection: &Rejection,
    ) -> Result<()> {
        match inputs.object(record) {
            Ok(mut object) => self.reject_object(&mut object, rejection),
            Err(e) => self.quarantine(inputs, record, &e),
        }
    }

    pub fn reject_object(
        &mut self,
        object: &mut Map<String, Value>,
        rejection: &Rejection,
    ) -> Result<()> {
        let mut value = Map::new();
        value.insert("step".into(), rejection.step.clone().into());
        value.insert("reason".into(), rejection.reason.clone().into());
        value.extend(rejection.details.clone());
        annotate(object, "rejection", Value::Object(value));
        self.stats.read += 1;
        self.stats.rejected += 1;
        *self
            .stats
            .by_reason
            .entry(rejection.reason.clone())
            .or_default() += 1;
        self.rejected
            .line(&serde_json::to_vec(object).expect("serializes"))
    }

    /// Sets a malformed record aside with where it came from and why.
    pub fn quarantine(&mut self, inputs: &InputSet, record: &RawRecord, error: &str) -> Result<()> {
        let line = serde_json::json!({
            "source": inputs.files()[record.file].display().to_string(),
            "line": record.line,
            "error": error,
            "raw": String::from_utf8_lossy(&record.bytes),
        });
        self.stats.read += 1;
        self.stats.quarantined += 1;
        self.quarantine
            .line(&serde_json::to_vec(&line).expect("serializes"))
    }

    /// Closes the files and writes the stats (`stats.json` for a single task, else
    /// `stats/<shard>.json`).
    pub fn finish(self) -> Result<Stats> {
        self.kept.finish()?;
        self.rejected.finish()?;
        self.quarantine.finish()?;
        let path = if self.shard.count == 1 {
            self.dir.join("stats.json")
        } else {
            let dir = self.dir.join("stats");
            fs::create_dir_all(&dir).map_err(|e| DedupError::io(&dir, e))?;
            dir.join(format!("{}.json", self.shard.tag()))
        };
        let json = serde_json::to_vec_pretty(&self.stats).expect("serializes");
        fs::write(&path, json).map_err(|e| DedupError::io(&path, e))?;
        Ok(self.stats)
    }
}

/// Sets `glmkit.<key>` in a record (as `Document::annotate` does).
pub fn annotate(object: &mut Map<String, Value>, key: &str, value: Value) {
    let entry = object
        .entry(ANNOTATION_KEY.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        let previous = std::mem::replace(entry, Value::Object(Map::new()));
        object.insert(format!("{ANNOTATION_KEY}_input"), previous);
        return annotate(object, key, value);
    }
    if let Some(map) = entry.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

/// Reads back every record of `OUT/<part>/` (`kept`, `rejected` or `quarantine`), in shard
/// order then record order.
pub fn read_records(out_dir: &Path, part: &str) -> Result<Vec<Map<String, Value>>> {
    let dir = out_dir.join(part);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| DedupError::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.zst"))
        .collect();
    files.sort();
    let mut records = Vec::new();
    for path in files {
        let bytes = fs::read(&path).map_err(|e| DedupError::io(&path, e))?;
        let text = zstd::stream::decode_all(&bytes[..]).map_err(|e| DedupError::io(&path, e))?;
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let record = serde_json::from_slice(line).map_err(|e| DedupError::Input {
                path: path.clone(),
                why: e.to_string(),
            })?;
            records.push(record);
        }
    }
    Ok(records)
}
