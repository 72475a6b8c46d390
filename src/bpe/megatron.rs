//! Megatron-LM's indexed dataset (`PREFIX.bin` + `PREFIX.idx`, "MMIDIDX" version 1): the token
//! shards Megatron-LM and its forks train from. Layout (all little-endian):
//!
//! `.bin`: the token ids of every document, one after another, as `uint16` when every id fits
//! (vocabulary of at most 65536 tokens) and as `int32` otherwise (Megatron's dtype code 4; it has
//! no unsigned 32-bit code, and ids below 2^31 have the same bytes either way).
//!
//! `.idx`:
//! | bytes | field |
//! |---|---|
//! | 9 | magic `MMIDIDX\0\0` |
//! | 8 | version, u64 = 1 |
//! | 1 | dtype code, u8: 8 = uint16, 4 = int32 |
//! | 8 | sequence count N, u64 |
//! | 8 | document index count N + 1, u64 |
//! | 4 N | sequence lengths in tokens, i32 |
//! | 8 N | sequence start offsets in the `.bin`, in bytes, i64 |
//! | 8 (N+1) | document indices, i64: 0, 1, ..., N (one sequence per document) |

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 9] = b"MMIDIDX\0\0";

#[derive(Debug, thiserror::Error)]
pub enum MegatronError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("token id {id} does not fit the dataset's 16-bit dtype")]
    IdTooLarge { id: u32 },
    #[error("document {index} has {len} tokens, more than the format's 2^31 - 1")]
    DocumentTooLong { index: u64, len: usize },
}

/// Token dtype of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenDtype {
    U16,
    I32,
}

impl TokenDtype {
    /// The smallest dtype that holds every id of a vocabulary of `vocab_size` tokens.
    pub fn for_vocab(vocab_size: usize) -> Self {
        if vocab_size <= 1 << 16 {
            TokenDtype::U16
        } else {
            TokenDtype::I32
        }
    }

    fn code(self) -> u8 {
        match self {
            TokenDtype::U16 => 8,
            TokenDtype::I32 => 4,
        }
    }

    fn size(self) -> usize {
        match self {
            TokenDtype::U16 => 2,
            TokenDtype::I32 => 4,
        }
    }
}

fn paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    (with(".bin"), with(".idx"))
}

/// Writes documents to `PREFIX.bin` as they come and `PREFIX.idx` at the end. Both are written
/// under temporary names and renamed when complete.
pub struct IndexedDatasetWriter {
    dtype: TokenDtype,
    bin: BufWriter<File>,
    bin_tmp: PathBuf,
    bin_path: PathBuf,
    idx_path: PathBuf,
    lengths: Vec<i32>,
    offset: u64,
}

impl IndexedDatasetWriter {
    pub fn create(prefix: &Path, dtype: TokenDtype) -> Result<Self, MegatronError> {
        let (bin_path, idx_path) = paths(prefix);
        let bin_tmp = bin_path.with_extension("bin.tmp");
        let file = File::create(&bin_tmp).map_err(|source| MegatronError::Io {
            path: bin_tmp.clone(),
            source,
        })?;
        Ok(IndexedDatasetWriter {
            dtype,
            bin: BufWriter::with_capacity(1 << 20, file),
            bin_tmp,
            bin_path,
            idx_path,
            lengths: vec![],
            offset: 0,
        })
    }

    /// Appends one document.
    pub fn add_document(&mut self, ids: &[u32]) -> Result<(), MegatronError> {
        let index = self.lengths.len() as u64;
        let len = i32::try_from(ids.len()).map_err(|_| MegatronError::DocumentTooLong {
            index,
            len: ids.len(),
        })?;
        let mut buf = Vec::with_capacity(ids.len() * self.dtype.size());
        match self.dtype {
            TokenDtype::U16 => {
                for &id in ids {
                    let v = u16::try_from(id).map_err(|_| MegatronError::IdTooLarge { id })?;
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            TokenDtype::I32 => {
                for &id in ids {
                    buf.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
        self.bin
            .write_all(&buf)
            .map_err(|source| MegatronError::Io {
                path: self.bin_tmp.clone(),
                source,
            })?;
        self.lengths.push(len);
        Ok(())
    }

    pub fn documents(&self) -> usize {
        self.lengths.len()
    }

    /// Writes the index and renames both files into place.
    pub fn finish(mut self) -> Result<(), MegatronError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MegatronError::Io { path, source }
        };
        self.bin.flush().map_err(io(&self.bin_tmp))?;
        let n = self.lengths.len() as u64;
        let mut idx = Vec::with_capacity(34 + self.lengths.len() * 20 + 8);
        idx.extend_from_slice(MAGIC);
        idx.extend_from_slice(&1u64.to_le_bytes());
        idx.push(self.dtype.code());
        idx.extend_from_slice(&n.to_le_bytes());
        idx.extend_from_slice(&(n + 1).to_le_bytes());
        for &len in &self.lengths {
            idx.extend_from_slice(&len.to_le_bytes());
        }
        for &len in &self.lengths {
            idx.extend_from_slice(&(self.offset as i64).to_le_bytes());
            self.offset += len as u64 * self.dtype.size() as u64;
        }
        for i in 0..=n {
            idx.extend_from_slice(&(i as i64).to_le_bytes());
        }
        let idx_tmp = self.idx_path.with_extension("idx.tmp");
        std::fs::write(&idx_tmp, &idx).map_err(io(&idx_tmp))?;
        std::fs::rename(&self.bin_tmp, &self.bin_path).map_err(io(&self.bin_path))?;
        std::fs::rename(&idx_tmp, &self.idx_path).map_err(io(&self.idx_path))?;
        Ok(())
    }
}

/// Reads every document of a dataset back (for checks and tests; datasets for training are
/// read by the training framework).
pub fn read_indexed_dataset(prefix: &Path) -> Result<Vec<Vec<u32>>, MegatronError> {
    let (bin_path, idx_path) = paths(prefix);
    let idx = std::fs::read(&idx_path).map_err(|source| MegatronError::Io {
        path: idx_path.clone(),
        source,
    })?;
    let bin = std::fs::read(&bin_path).map_err(|source| MegatronError::Io {
        path: bin_path.clone(),
        source,
    })?;
    let bad = |message: &str| MegatronError::Invalid {
        path: idx_path.clone(),
        message: message.to_string(),
    };
    if idx.len() < 34 || &idx[..9] != MAGIC {
        return Err(bad("not an MMIDIDX index"));
    }
    let u64_at = |at: usize| u64::from_le_bytes(idx[at..at + 8].try_into().expect("8 bytes"));
    if u64_at(9) != 1 {
        return Err(bad("unsupported version"));
    }
    let dtype = match idx[17] {
        8 => TokenDtype::U16,
        4 => TokenDtype::I32,
        other => return Err(bad(&format!("unsupported dtype code {other}"))),
    };
    let n = u64_at(18) as usize;
    let docs = u64_at(26) as usize;
    if idx.len() != 34 + n * 12 + docs * 8 {
        return Err(bad("index size does not match its counts"));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let len =
            i32::from_le_bytes(idx[34 + 4 * i..38 + 4 * i].try_into().expect("4 bytes")) as usize;
        let ptr = u64_at(34 + 4 * n + 8 * i) as usize;
        let end = ptr + len * dtype.size();
        let data = bin
            .get(ptr..end)
            .ok_or_else(|| bad(&format!("sequence {i} runs past the end of the .bin")))?;
        out.push(match dtype {
            TokenDtype::U16 => data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32)
                .collect(),
            TokenDtype::I32 => data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_dtypes() {
        let dir = tempfile::tempdir().unwrap();
        for (dtype, docs) in [
            (TokenDtype::U16, vec![vec![1u32, 2, 65535], vec![], vec![7]]),
            (TokenDtype::I32, vec![vec![151_329u32, 0], vec![5; 10]]),
        ] {
            let prefix = dir.path().join(format!("{dtype:?}"));
            let mut w = IndexedDatasetWriter::create(&prefix, dtype).unwrap();
            for d in &docs {
                w.add_document(d).unwrap();
            }
            w.finish().unwrap();
            assert_eq!(read_indexed_dataset(&prefix).unwrap(), docs);
        }
        let mut w = IndexedDatasetWriter::create(&dir.path().join("x"), TokenDtype::U16).unwrap();
        assert!(matches!(
            w.add_document(&[70_000]),
            Err(MegatronError::IdTooLarge { id: 70_000 })
        ));
    }
}
