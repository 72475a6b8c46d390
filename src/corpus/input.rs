//! Expanding the command line's inputs (files, directories, globs) into a sorted list of
//! corpus files.

use super::{CorpusError, Format};
use std::path::{Path, PathBuf};

/// One corpus file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub format: Format,
}

impl InputFile {
    /// What tells this file apart from an edited or replaced one, cheaply: its path, size and
    /// modification time in nanoseconds (`{"path", "bytes", "modified_ns"}`). Runs record it
    /// to check that a later stage or a resumed run reads the same inputs.
    pub fn identity(&self) -> std::io::Result<serde_json::Value> {
        let meta = self.path.metadata()?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(serde_json::json!({
            "path": self.path.display().to_string(),
            "bytes": meta.len(),
            "modified_ns": modified.to_string(),
        }))
    }
}

/// Expands files, directories (recursively; files of unknown extension inside are skipped) and
/// glob patterns into corpus files, sorted by path and without repeats, so that the order (and
/// thus "first occurrence" and shard assignment) does not depend on the file system.
///
/// A named file of unknown format, a path that does not exist, or a glob matching nothing is
/// an error naming it.
pub fn expand_inputs<S: AsRef<str>>(inputs: &[S]) -> Result<Vec<InputFile>, CorpusError> {
    let mut files = Vec::new();
    for input in inputs {
        let input = input.as_ref();
        let path = Path::new(input);
        if path.is_dir() {
            collect_dir(path, &mut files)?;
        } else if path.exists() {
            files.push(file_with_format(path)?);
        } else if input.contains(['*', '?', '[']) {
            let matches = glob::glob(input).map_err(|e| CorpusError::BadInput {
                path: input.into(),
                message: format!("bad glob pattern: {e}"),
            })?;
            let before = files.len();
            for entry in matches {
                let found = entry.map_err(|e| CorpusError::io(e.path(), e.error()))?;
                if found.is_dir() {
                    collect_dir(&found, &mut files)?;
                } else if Format::from_path(&found).is_some() {
                    files.push(file_with_format(&found)?);
                }
            }
            if files.len() == before {
                return Err(CorpusError::BadInput {
                    path: input.into(),
                    message: "the pattern matches no corpus file".into(),
                });
            }
        } else {
            return Err(CorpusError::BadInput {
                path: input.into(),
                message: "no such file or directory".into(),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

fn file_with_format(path: &Path) -> Result<InputFile, CorpusError> {
    let format = Format::from_path(path).ok_or_else(|| CorpusError::BadInput {
        path: path.into(),
        message: "unknown format (expected .jsonl, .json, .jsonl.zst, .jsonl.gz, .parquet or .txt)"
            .into(),
    })?;
    Ok(InputFile {
        path: path.to_path_buf(),
        format,
    })
}

fn collect_dir(dir: &Path, files: &mut Vec<InputFile>) -> Result<(), CorpusError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CorpusError::io(dir, &e))?;
    for entry in entries {
        let path = entry.map_err(|e| CorpusError::io(dir, &e))?.path();
        if path.is_dir() {
            collect_dir(&path, files)?;
        } else if let Some(format) = Format::from_path(&path) {
            files.push(InputFile { path, format });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_dirs_and_globs_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.jsonl", "a.jsonl.zst", "sub/c.txt", "notes.md"] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let found = expand_inputs(&[dir.path().to_str().unwrap()]).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|f| f.path.strip_prefix(dir.path()).unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                PathBuf::from("a.jsonl.zst"),
                "b.jsonl".into(),
                "sub/c.txt".into()
            ]
        );

        let pattern = format!("{}/*.jsonl", dir.path().display());
        let found = expand_inputs(&[pattern.as_str(), pattern.as_str()]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].format, Format::Jsonl);

        let missing = format!("{}/nothing", dir.path().display());
        let err = expand_inputs(&[missing.as_str()]).unwrap_err().to_string();
        assert!(
            err.contains("nothing") && err.contains("no such file"),
            "{err}"
        );
        let md = format!("{}/notes.md", dir.path().display());
        let err = expand_inputs(&[md.as_str()]).unwrap_err().to_string();
        assert!(
            err.contains("notes.md") && err.contains("unknown format"),
            "{err}"
        );
    }
}
