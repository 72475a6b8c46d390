//! The output layout shared by every command that writes documents:
//!
//! ```text
//! OUT/kept/STEM-00000.EXT         documents that passed every step
//! OUT/rejected/STEM-00000.EXT     documents a step removed, with glmkit.step/reason/details
//! OUT/quarantine/STEM-00000.jsonl records that could not be read, and stream breaks
//! OUT/.done/STEM.json             completion marker of one input file, with its stats
//! OUT/stats.json                  the sum of all markers
//! ```

use super::Stats;
use crate::corpus::{Format, InputFile};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const KEPT: &str = "kept";
pub const REJECTED: &str = "rejected";
pub const QUARANTINE: &str = "quarantine";
const DONE: &str = ".done";

/// The completion marker of one input file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    pub input: String,
    pub stats: Stats,
    /// Files written for this input, relative to the output directory.
    pub outputs: Vec<String>,
}

/// Paths inside an output directory.
#[derive(Debug, Clone)]
pub struct OutputLayout {
    pub root: PathBuf,
}

impl OutputLayout {
    pub fn create(root: &Path) -> std::io::Result<OutputLayout> {
        for dir in [KEPT, REJECTED, QUARANTINE, DONE] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(OutputLayout {
            root: root.to_path_buf(),
        })
    }

    pub fn dir(&self, kind: &str) -> PathBuf {
        self.root.join(kind)
    }

    pub fn marker_path(&self, stem: &str) -> PathBuf {
        self.root.join(DONE).join(format!("{stem}.json"))
    }

    pub fn read_marker(&self, stem: &str) -> Option<Marker> {
        let bytes = std::fs::read(self.marker_path(stem)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn write_marker(&self, stem: &str, marker: &Marker) -> std::io::Result<()> {
        write_atomic(&self.marker_path(stem), &serde_json::to_vec_pretty(marker)?)
    }

    /// Removes what an earlier run may have left for `stem`: finished parts (in any output
    /// format, so that a rerun with another `--format` leaves no stale parts beside the new
    /// ones) and temporary files, in every output folder.
    pub fn clear_outputs(&self, stem: &str) -> std::io::Result<()> {
        let _ = std::fs::remove_file(self.marker_path(stem));
        for kind in [KEPT, REJECTED, QUARANTINE] {
            let dir = self.dir(kind);
            for entry in std::fs::read_dir(&dir)? {
                let name = entry?.file_name();
                let name = name.to_string_lossy();
                let bare = name
                    .strip_prefix('.')
                    .and_then(|n| n.strip_suffix(".tmp"))
                    .unwrap_or(&name);
                if Format::ALL.iter().any(|&f| is_part_of(bare, stem, f)) {
                    std::fs::remove_file(dir.join(&*name))?;
                }
            }
        }
        Ok(())
    }

    /// Sums the stats of every finished input file in this output directory (all shards).
    pub fn total_stats(&self) -> std::io::Result<Stats> {
        let mut total = Stats::default();
        let mut names: Vec<_> = std::fs::read_dir(self.root.join(DONE))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        for path in names {
            let marker: Marker = serde_json::from_slice(&std::fs::read(&path)?).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            total.merge(&marker.stats);
        }
        Ok(total)
    }

    pub fn write_stats(&self, stats: &Stats) -> std::io::Result<()> {
        let mut json = serde_json::to_vec_pretty(stats)?;
        json.push(b'\n');
        write_atomic(&self.root.join("stats.json"), &json)
    }
}

fn is_part_of(name: &str, stem: &str, format: Format) -> bool {
    let Some(rest) = name.strip_prefix(stem).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let Some(index) = rest
        .strip_suffix(format.name())
        .and_then(|r| r.strip_suffix('.'))
    else {
        return false;
    };
    index.len() == 5 && index.bytes().all(|b| b.is_ascii_digit())
}

/// Writes a file under a temporary name, then renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Output name stems for input files: the file name without its format extension, made unique
/// with the file's position when two inputs share a name. Computed from the whole sorted input
/// list, so every shard of a run agrees on them.
pub fn output_stems(inputs: &[InputFile]) -> Vec<String> {
    let base: Vec<String> = inputs
        .iter()
        .map(|input| {
            let name = input
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = Format::strip_extension(&name);
            stem.chars()
                .map(|c| {
                    if c.is_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        })
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for stem in &base {
        *seen.entry(stem).or_default() += 1;
    }
    base.iter()
        .enumerate()
        .map(|(k, stem)| {
            if seen[stem.as_str()] > 1 {
                format!("{stem}.{k:05}")
            } else {
                stem.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_match_only_their_stem() {
        assert!(is_part_of("a-00000.jsonl.zst", "a", Format::JsonlZst));
        assert!(!is_part_of(
            "a-00001-00000.jsonl.zst",
            "a",
            Format::JsonlZst
        ));
        assert!(!is_part_of("ab-00000.jsonl.zst", "a", Format::JsonlZst));
        assert!(!is_part_of("a-00000.jsonl", "a", Format::JsonlZst));
    }

    #[test]
    fn stems_are_unique() {
        let inputs: Vec<InputFile> = ["x/a.jsonl", "y/a.jsonl.zst", "y/b c.parquet"]
            .iter()
            .map(|p| InputFile {
                path: p.into(),
                format: Format::from_path(Path::new(p)).unwrap(),
            })
            .collect();
        assert_eq!(output_stems(&inputs), ["a.00000", "a.00001", "b_c"]);
    }
}
