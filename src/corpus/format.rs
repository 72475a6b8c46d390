//! Corpus file formats, recognised by file extension.

use std::fmt;
use std::path::Path;

/// A corpus format: how records are laid out in a file, and how the file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JSON Lines, one object per line (`.jsonl`, `.json`, `.ndjson`).
    Jsonl,
    /// JSON Lines compressed with zstd (`.jsonl.zst`, `.jsonl.zstd`).
    JsonlZst,
    /// JSON Lines compressed with gzip (`.jsonl.gz`).
    JsonlGz,
    /// Apache Parquet, one row per record.
    Parquet,
    /// Plain text: one document per file.
    Txt,
}

impl Format {
    /// All formats, in the order `--help` lists them.
    pub const ALL: [Format; 5] = [
        Format::Jsonl,
        Format::JsonlZst,
        Format::JsonlGz,
        Format::Parquet,
        Format::Txt,
    ];

    /// The format a path's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let ends = |suffixes: &[&str]| suffixes.iter().any(|s| name.ends_with(s));
        if ends(&[".jsonl.zst", ".jsonl.zstd", ".json.zst", ".ndjson.zst"]) {
            Some(Format::JsonlZst)
        } else if ends(&[".jsonl.gz", ".json.gz", ".ndjson.gz"]) {
            Some(Format::JsonlGz)
        } else if ends(&[".jsonl", ".json", ".ndjson"]) {
            Some(Format::Jsonl)
        } else if ends(&[".parquet"]) {
            Some(Format::Parquet)
        } else if ends(&[".txt"]) {
            Some(Format::Txt)
        } else {
            None
        }
    }

    /// The name used on the command line (`--format`) and the file extension written.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::JsonlZst => "jsonl.zst",
            Format::JsonlGz => "jsonl.gz",
            Format::Parquet => "parquet",
            Format::Txt => "txt",
        }
    }

    /// Parses a `--format` value.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The part of a file name that names this format, so outputs can be named after inputs.
    pub fn strip_extension(name: &str) -> &str {
        let lower = name.to_ascii_lowercase();
        for suffix in [
            ".jsonl.zst",
            ".jsonl.zstd",
            ".json.zst",
            ".ndjson.zst",
            ".jsonl.gz",
            ".json.gz",
            ".ndjson.gz",
            ".jsonl",
            ".json",
            ".ndjson",
            ".parquet",
            ".txt",
        ] {
            if lower.ends_with(suffix) {
                return &name[..name.len() - suffix.len()];
            }
        }
        name
    }

    /// Whether records of this format are JSON lines (possibly compressed).
    pub fn is_jsonl(self) -> bool {
        matches!(self, Format::Jsonl | Format::JsonlZst | Format::JsonlGz)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::from_name(s).ok_or_else(|| {
            let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
            format!(
                "unknown format `{s}` (expected one of: {})",
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_extensions() {
        assert_eq!(
            Format::from_path(Path::new("a/b.jsonl.zst")),
            Some(Format::JsonlZst)
        );
        assert_eq!(
            Format::from_path(Path::new("B.JSONL.GZ")),
            Some(Format::JsonlGz)
        );
        assert_eq!(Format::from_path(Path::new("x.json")), Some(Format::Jsonl));
        assert_eq!(
            Format::from_path(Path::new("x.parquet")),
            Some(Format::Parquet)
        );
        assert_eq!(
            Format::from_path(Path::new("readme.txt")),
            Some(Format::Txt)
        );
        assert_eq!(Format::from_path(Path::new("x.csv")), None);
        assert_eq!(Format::strip_extension("shard-01.jsonl.zst"), "shard-01");
        assert_eq!("parquet".parse::<Format>(), Ok(Format::Parquet));
        assert!("csv".parse::<Format>().unwrap_err().contains("jsonl.gz"));
    }
}
