//! The files dedup stages exchange, and the manifests that list them.
//!
//! A stage file is `MAGIC kind[8] body footer`, where the footer holds the body length, the
//! record count and the xxh3-64 of the body. A reader checks all three (and the manifest's copy
//! of them), so a truncated, corrupt or foreign file is refused with an error naming it.
//! Files are written under a temporary name and renamed when complete.

use super::error::{DedupError, Result};
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

const MAGIC: &[u8; 8] = b"GLMKDDUP";
const END: &[u8; 8] = b"GLMKEND1";
const HEADER_LEN: usize = 16;
const FOOTER_LEN: usize = 32;

/// What a manifest says about one file it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the work directory.
    pub path: String,
    pub bytes: u64,
    pub records: u64,
    /// xxh3-64 of the body, in hex.
    pub checksum: String,
}

/// Streams records into a stage file.
pub struct StageWriter {
    path: PathBuf,
    relative: String,
    tmp: PathBuf,
    out: BufWriter<File>,
    hasher: Xxh3,
    body_len: u64,
    records: u64,
}

impl StageWriter {
    /// Creates `work_dir/relative` (under a temporary name until [`StageWriter::finish`]).
    pub fn create(work_dir: &Path, relative: &str, kind: &[u8; 8]) -> Result<Self> {
        let path = work_dir.join(relative);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| DedupError::io(dir, e))?;
        }
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(|e| DedupError::io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC)
            .and_then(|_| out.write_all(kind))
            .map_err(|e| DedupError::io(&tmp, e))?;
        Ok(StageWriter {
            path,
            relative: relative.to_string(),
            tmp,
            out,
            hasher: Xxh3::new(),
            body_len: 0,
            records: 0,
        })
    }

    /// Appends one record's bytes.
    pub fn record(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| DedupError::io(&self.tmp, e))?;
        self.hasher.update(bytes);
        self.body_len += bytes.len() as u64;
        self.records += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<FileEntry> {
        let checksum = self.hasher.digest();
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(&self.body_len.to_le_bytes());
        footer.extend_from_slice(&self.records.to_le_bytes());
        footer.extend_from_slice(&checksum.to_le_bytes());
        footer.extend_from_slice(END);
        let tmp = self.tmp.clone();
        self.out
            .write_all(&footer)
            .map_err(|e| DedupError::io(&tmp, e))?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| DedupError::io(&tmp, e.into_error()))?;
        file.sync_data().map_err(|e| DedupError::io(&tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| DedupError::io(&self.path, e))?;
        Ok(FileEntry {
            path: self.relative,
            bytes: (HEADER_LEN + FOOTER_LEN) as u64 + self.body_len,
            records: self.records,
            checksum: format!("{checksum:016x}"),
        })
    }
}

/// A checked stage file, memory-mapped.
pub struct StageFile {
    map: Option<Mmap>,
    pub path: PathBuf,
    pub records: u64,
}

impl StageFile {
    /// Opens and checks `work_dir/entry.path` against its own footer and against `entry`.
    pub fn open(work_dir: &Path, entry: &FileEntry, kind: &[u8; 8]) -> Result<Self> {
        let path = work_dir.join(&entry.path);
        let file = File::open(&path).map_err(|e| DedupError::io(&path, e))?;
        let len = file.metadata().map_err(|e| DedupError::io(&path, e))?.len();
        if len != entry.bytes {
            return Err(DedupError::stage(
                &path,
                format!(
                    "is {len} bytes but its manifest says {} (truncated or rewritten?)",
                    entry.bytes
                ),
            ));
        }
        if (len as usize) < HEADER_LEN + FOOTER_LEN {
            return Err(DedupError::stage(
                &path,
                "too short to be a dedup stage file",
            ));
        }
        // SAFETY: the file is opened read-only and stage files are never modified in place
        // (writers rename complete files over them).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| DedupError::io(&path, e))?;
        if &map[..8] != MAGIC {
            return Err(DedupError::stage(
                &path,
                "not a dedup stage file (bad magic)",
            ));
        }
        if &map[8..16] != kind {
            return Err(DedupError::stage(
                &path,
                format!(
                    "holds `{}` records, expected `{}`",
                    kind_str(&map[8..16]),
                    kind_str(kind)
                ),
            ));
        }
        let footer = &map[map.len() - FOOTER_LEN..];
        let u64_at = |i: usize| u64::from_le_bytes(footer[i..i + 8].try_into().unwrap());
        if &footer[24..32] != END || u64_at(0) as usize != map.len() - HEADER_LEN - FOOTER_LEN {
            return Err(DedupError::stage(
                &path,
                "truncated: footer missing or body length wrong",
            ));
        }
        let body = &map[HEADER_LEN..map.len() - FOOTER_LEN];
        let checksum = xxhash_rust::xxh3::xxh3_64(body);
        if checksum != u64_at(16) || format!("{checksum:016x}") != entry.checksum {
            return Err(DedupError::stage(
                &path,
                "checksum mismatch: the file is corrupt",
            ));
        }
        if u64_at(8) != entry.records {
            return Err(DedupError::stage(
                &path,
                "record count differs from its manifest",
            ));
        }
        Ok(StageFile {
            map: Some(map),
            path,
            records: entry.records,
        })
    }

    pub fn body(&self) -> &[u8] {
        let map = self.map.as_ref().expect("mapped");
        &map[HEADER_LEN..map.len() - FOOTER_LEN]
    }

    /// The body as fixed-size records; errors if it does not divide evenly.
    #[must_use = "an iterator; call it for the check alone with `let _ =`"]
    pub fn fixed_records(&self, size: usize) -> Result<std::slice::ChunksExact<'_, u8>> {
        let body = self.body();
        if body.len() != size * self.records as usize {
            return Err(DedupError::stage(
                &self.path,
                "body does not hold whole records",
            ));
        }
        Ok(body.chunks_exact(size))
    }
}

fn kind_str(kind: &[u8]) -> String {
    String::from_utf8_lossy(kind)
        .trim_end_matches('\0')
        .to_string()
}

/// Little-endian field readers for fixed records.
pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// What one task of one stage produced. Written last, so its presence means the task finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub stage: String,
    /// `i` and `n` of the task (`--shard i/n`), or the partition number and partition count for
    /// stages whose output is one file per partition.
    pub part: u32,
    pub parts: u32,
    /// The run's configuration: every manifest of one run must carry the same value.
    pub config: serde_json::Value,
    pub files: Vec<FileEntry>,
    /// Stage-specific counts (documents read, edges, ...).
    #[serde(default)]
    pub counts: serde_json::Map<String, serde_json::Value>,
}

impl Manifest {
    pub fn file_name(stage: &str, part: u32, parts: u32) -> String {
        format!("{stage}/manifest-{part:05}-of-{parts:05}.json")
    }

    pub fn write(&self, work_dir: &Path) -> Result<()> {
        let path = work_dir.join(Self::file_name(&self.stage, self.part, self.parts));
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(self).expect("manifest serializes");
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| DedupError::io(dir, e))?;
        }
        fs::write(&tmp, json).map_err(|e| DedupError::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| DedupError::io(&path, e))
    }

    /// Loads every manifest of `stage` and checks that they form one complete run with `config`:
    /// the same `parts`, each part exactly once.
    pub fn load_complete(
        work_dir: &Path,
        stage: &str,
        config: &serde_json::Value,
    ) -> Result<Vec<Manifest>> {
        let dir = work_dir.join(stage);
        let entries = fs::read_dir(&dir).map_err(|e| {
            DedupError::stage(
                &dir,
                format!("cannot read the `{stage}` stage output ({e}); has that stage run?"),
            )
        })?;
        let mut manifests = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| DedupError::io(&dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !(name.starts_with("manifest-") && name.ends_with(".json")) {
                continue;
            }
            let bytes = fs::read(&path).map_err(|e| DedupError::io(&path, e))?;
            let manifest: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| DedupError::stage(&path, format!("unreadable manifest: {e}")))?;
            if manifest.stage != stage {
                return Err(DedupError::stage(
                    &path,
                    format!("is a `{}` manifest, expected `{stage}`", manifest.stage),
                ));
            }
            if &manifest.config != config {
                return Err(DedupError::stage(
                    &path,
                    format!(
                        "was written with another configuration: {}",
                        config_difference(&manifest.config, config)
                    ),
                ));
            }
            manifests.push(manifest);
        }
        if manifests.is_empty() {
            return Err(DedupError::stage(
                &dir,
                format!("no manifest: the `{stage}` stage has not finished"),
            ));
        }
        manifests.sort_by_key(|m| m.part);
        let parts = manifests[0].parts;
        if let Some(odd) = manifests.iter().find(|m| m.parts != parts) {
            return Err(DedupError::stage(
                work_dir.join(Self::file_name(stage, odd.part, odd.parts)),
                format!("from a run with {} parts, but another manifest says {parts}; clean the work directory", odd.parts),
            ));
        }
        for i in 0..parts {
            if manifests.get(i as usize).map(|m| m.part) != Some(i) {
                return Err(DedupError::stage(
                    work_dir.join(Self::file_name(stage, i, parts)),
                    format!("missing: part {i}/{parts} of the `{stage}` stage has not finished"),
                ));
            }
        }
        Ok(manifests)
    }
}

/// The first difference between two run configurations, in a few words.
fn config_difference(found: &serde_json::Value, expected: &serde_json::Value) -> String {
    let (Some(found), Some(expected)) = (found.as_object(), expected.as_object()) else {
        return format!("{found} instead of {expected}");
    };
    for (key, want) in expected {
        let have = found.get(key).unwrap_or(&serde_json::Value::Null);
        if have == want {
            continue;
        }
        if key == "inputs" {
            let files = |v: &serde_json::Value| v["files"].as_array().cloned().unwrap_or_default();
            let (have_files, want_files) = (files(have), files(want));
            for i in 0..have_files.len().max(want_files.len()) {
                if have_files.get(i) != want_files.get(i) {
                    let show = |f: Option<&serde_json::Value>| {
                        f.map_or("nothing".to_string(), |f| f.to_string())
                    };
                    return format!(
                        "other input files ({} then, {} now; file {}: {} then, {} now)",
                        have_files.len(),
                        want_files.len(),
                        i + 1,
                        show(have_files.get(i)),
                        show(want_files.get(i))
                    );
                }
            }
            return "other input fields (text or id)".to_string();
        }
        return format!("`{key}` was {have}, now {want}");
    }
    "other settings".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = StageWriter::create(dir.path(), "x/a.bin", b"TEST\0\0\0\0").unwrap();
        w.record(&7u64.to_le_bytes()).unwrap();
        w.record(&9u64.to_le_bytes()).unwrap();
        let entry = w.finish().unwrap();
        let f = StageFile::open(dir.path(), &entry, b"TEST\0\0\0\0").unwrap();
        let values: Vec<u64> = f.fixed_records(8).unwrap().map(|r| u64_at(r, 0)).collect();
        assert_eq!(values, vec![7, 9]);
        assert!(StageFile::open(dir.path(), &entry, b"OTHER\0\0\0").is_err());

        // Flip one body byte: the checksum catches it.
        let path = dir.path().join("x/a.bin");
        let mut bytes = fs::read(&path).unwrap();
        bytes[HEADER_LEN] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = StageFile::open(dir.path(), &entry, b"TEST\0\0\0\0")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("a.bin") && err.contains("checksum"), "{err}");

        // Truncate: refused, naming the file.
        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let err = StageFile::open(dir.path(), &entry, b"TEST\0\0\0\0")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("a.bin") && err.contains("truncated"), "{err}");
    }
}
