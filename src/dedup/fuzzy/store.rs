//! Random access to the signatures of stage 1, by document key.

use super::super::error::{DedupError, Result};
use super::super::input::DocKey;
use super::super::stagefile::{u32_at, u64_at, Manifest, StageFile};
use super::signatures::{sig_record_len, IDS_KIND, SIG_KIND};
use super::SIGNATURES;
use std::path::Path;

pub(crate) struct SignatureStore {
    /// (signature file, ids file) per task of stage 1; keys ascend inside each file.
    shards: Vec<(StageFile, StageFile)>,
    lanes: usize,
    pub manifests: Vec<Manifest>,
}

pub(crate) struct SigEntry<'a> {
    pub key: DocKey,
    pub id: String,
    pub lanes: &'a [u8],
}

impl SignatureStore {
    pub fn open(work_dir: &Path, config: &serde_json::Value, lanes: usize) -> Result<Self> {
        let manifests = Manifest::load_complete(work_dir, SIGNATURES, config)?;
        let mut shards = Vec::new();
        for m in &manifests {
            let find = |prefix: &str| {
                m.files
                    .iter()
                    .find(|f| f.path.starts_with(&format!("{SIGNATURES}/{prefix}")))
                    .ok_or_else(|| {
                        DedupError::stage(
                            work_dir.join(Manifest::file_name(SIGNATURES, m.part, m.parts)),
                            format!("lists no {prefix} file"),
                        )
                    })
            };
            let sig = StageFile::open(work_dir, find("sig-")?, SIG_KIND)?;
            let ids = StageFile::open(work_dir, find("ids-")?, IDS_KIND)?;
            let _ = sig.fixed_records(sig_record_len(lanes))?; // checks whole records
            shards.push((sig, ids));
        }
        Ok(SignatureStore {
            shards,
            lanes,
            manifests,
        })
    }

    fn entry<'a>(&'a self, shard: usize, index: usize) -> Result<SigEntry<'a>> {
        let (sig, ids) = &self.shards[shard];
        let size = sig_record_len(self.lanes);
        let rec = &sig.body()[index * size..(index + 1) * size];
        let offset = u64_at(rec, 16) as usize;
        let body = ids.body();
        let bad = || DedupError::stage(&ids.path, "id offset out of range");
        let len = u32_at(body.get(offset..offset + 4).ok_or_else(bad)?, 0) as usize;
        let id = body.get(offset + 4..offset + 4 + len).ok_or_else(bad)?;
        Ok(SigEntry {
            key: u64_at(rec, 0),
            id: String::from_utf8_lossy(id).into_owned(),
            lanes: &rec[24..],
        })
    }

    /// Where the record of `key` is: (task of stage 1, record index).
    fn position(&self, key: DocKey) -> Option<(usize, usize)> {
        let size = sig_record_len(self.lanes);
        self.shards.iter().enumerate().find_map(|(s, (sig, _))| {
            let body = sig.body();
            let n = sig.records as usize;
            let idx = partition_point(n, |i| u64_at(body, i * size) < key);
            (idx < n && u64_at(body, idx * size) == key).then_some((s, idx))
        })
    }

    /// The signature entry of `key`, if the document has one.
    pub fn get(&self, key: DocKey) -> Result<Option<SigEntry<'_>>> {
        match self.position(key) {
            Some((s, i)) => self.entry(s, i).map(Some),
            None => Ok(None),
        }
    }

    /// The text length of `key` (0 if the document has no signature), without reading its id.
    pub fn text_len(&self, key: DocKey) -> Result<u64> {
        let size = sig_record_len(self.lanes);
        Ok(match self.position(key) {
            Some((s, i)) => u64_at(&self.shards[s].0.body()[i * size..], 8),
            None => 0,
        })
    }

    fn missing(&self, key: DocKey) -> DedupError {
        DedupError::stage(
            &self.shards[0].0.path,
            format!("no signature for document key {key:#x}"),
        )
    }

    /// The lanes of `key`; an error if stage 1 has none (the work directory is inconsistent).
    pub fn lanes_of(&self, key: DocKey) -> Result<&[u8]> {
        let size = sig_record_len(self.lanes);
        let (s, i) = self.position(key).ok_or_else(|| self.missing(key))?;
        Ok(&self.shards[s].0.body()[i * size + 24..(i + 1) * size])
    }

    /// The sorted shingle set of `key`, stored by stage 1 under `--verify exact` (empty
    /// otherwise).
    pub fn shingles_of(&self, key: DocKey) -> Result<Vec<u64>> {
        let size = sig_record_len(self.lanes);
        let (s, i) = self.position(key).ok_or_else(|| self.missing(key))?;
        let (sig, ids) = &self.shards[s];
        let offset = u64_at(&sig.body()[i * size..], 16) as usize;
        let body = ids.body();
        let bad = || DedupError::stage(&ids.path, "record cut short");
        let id_len = u32_at(body.get(offset..offset + 4).ok_or_else(bad)?, 0) as usize;
        let at = offset + 4 + id_len;
        let count = u32_at(body.get(at..at + 4).ok_or_else(bad)?, 0) as usize;
        let set = body.get(at + 4..at + 4 + 8 * count).ok_or_else(bad)?;
        Ok(set
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }

    /// Every entry, for lookups by id.
    pub fn find_id(&self, id: &str) -> Result<Vec<SigEntry<'_>>> {
        let mut found = Vec::new();
        for (s, (sig, _)) in self.shards.iter().enumerate() {
            for i in 0..sig.records as usize {
                let e = self.entry(s, i)?;
                if e.id == id {
                    found.push(e);
                }
            }
        }
        Ok(found)
    }
}

fn partition_point(n: usize, below: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Share of equal lanes of two signatures in their stored (little-endian bytes) form.
pub(crate) fn estimated_jaccard_bytes(a: &[u8], b: &[u8]) -> f64 {
    let equal = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(x, y)| x == y)
        .count();
    equal as f64 / (a.len() / 4).max(1) as f64
}
