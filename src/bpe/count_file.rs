//! Word-count files: the counts of one shard, so that counting can run as `n` separate jobs
//! and training merges their files. zstd-compressed; a magic line, a JSON header line, then the
//! words sorted by bytes as `u32 length, bytes, u64 count` (little-endian), then an xxh3-64
//! checksum of everything before it, so a truncated file is never accepted.

use super::count::{Pruned, WordCounts};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

const MAGIC: &[u8] = b"glmkit-bpe-word-counts 1\n";

/// What a count file says about how it was made; files merge only when these agree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CountHeader {
    pub pattern: String,
    /// `i/n`, or empty for an unsharded count.
    pub shard: String,
    pub sequences: u64,
    pub words: u64,
    pub pruned: Pruned,
}

#[derive(Debug, thiserror::Error)]
pub enum CountFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

pub fn write_count_file(
    path: &Path,
    counts: &WordCounts,
    pattern: &str,
    shard: &str,
) -> Result<CountHeader, CountFileError> {
    let io = |source| CountFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let header = CountHeader {
        pattern: pattern.to_string(),
        shard: shard.to_string(),
        sequences: counts.sequences,
        words: counts.len() as u64,
        pruned: counts.pruned.clone(),
    };
    let mut body = Vec::with_capacity(counts.len() * 24);
    body.extend_from_slice(MAGIC);
    serde_json::to_writer(&mut body, &header).expect("header serializes");
    body.push(b'\n');
    for (word, count) in counts.sorted() {
        body.extend_from_slice(&(word.len() as u32).to_le_bytes());
        body.extend_from_slice(word);
        body.extend_from_slice(&count.to_le_bytes());
    }
    let mut hasher = Xxh3::new();
    hasher.update(&body);
    body.extend_from_slice(&hasher.digest().to_le_bytes());
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut enc = zstd::stream::write::Encoder::new(file, 3).map_err(io)?;
    enc.write_all(&body).map_err(io)?;
    enc.finish().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(header)
}

pub fn read_count_file(path: &Path) -> Result<(CountHeader, WordCounts), CountFileError> {
    let io = |source| CountFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |message: &str| CountFileError::Invalid {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut body = Vec::new();
    zstd::stream::read::Decoder::new(file)
        .map_err(io)?
        .read_to_end(&mut body)
        .map_err(|_| bad("not a complete zstd stream (truncated?)"))?;
    if !body.starts_with(MAGIC) || body.len() < MAGIC.len() + 8 {
        return Err(bad("not a glmkit word-count file"));
    }
    let (content, sum) = body.split_at(body.len() - 8);
    let mut hasher = Xxh3::new();
    hasher.update(content);
    if hasher.digest().to_le_bytes() != sum {
        return Err(bad("checksum mismatch (truncated or corrupted)"));
    }
    let rest = &content[MAGIC.len()..];
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad("no header line"))?;
    let header: CountHeader =
        serde_json::from_slice(&rest[..nl]).map_err(|e| bad(&format!("bad header: {e}")))?;
    let mut data = &rest[nl + 1..];
    let mut counts = WordCounts::new();
    while !data.is_empty() {
        if data.len() < 4 {
            return Err(bad("record cut short"));
        }
        let len = u32::from_le_bytes(data[..4].try_into().expect("4 bytes")) as usize;
        if data.len() < 4 + len + 8 {
            return Err(bad("record cut short"));
        }
        let word = &data[4..4 + len];
        let count = u64::from_le_bytes(data[4 + len..12 + len].try_into().expect("8 bytes"));
        counts.add(word, count);
        data = &data[12 + len..];
    }
    if counts.len() as u64 != header.words {
        return Err(bad("word count does not match the header"));
    }
    counts.sequences = header.sequences;
    counts.pruned = header.pruned.clone();
    Ok((header, counts))
}
