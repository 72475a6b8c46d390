//! Reading back an output directory (for tests and checks).

use super::error::{DedupError, Result};
use serde_json::{Map, Value};
use std::fs;
use std::path::{Path, PathBuf};

/// Every record of `OUT/<part>/` (`kept`, `rejected` or `quarantine`; JSON Lines, plain or
/// zstd), files in name order, records in file order.
pub fn read_records(out_dir: &Path, part: &str) -> Result<Vec<Map<String, Value>>> {
    let dir = out_dir.join(part);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| DedupError::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            !name.starts_with('.') && (name.ends_with(".jsonl.zst") || name.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    let mut records = Vec::new();
    for path in files {
        let bytes = fs::read(&path).map_err(|e| DedupError::io(&path, e))?;
        let text = if path.to_string_lossy().ends_with(".zst") {
            zstd::stream::decode_all(&bytes[..]).map_err(|e| DedupError::io(&path, e))?
        } else {
            bytes
        };
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let record = serde_json::from_slice(line)
                .map_err(|e| DedupError::stage(&path, e.to_string()))?;
            records.push(record);
        }
    }
    Ok(records)
}
