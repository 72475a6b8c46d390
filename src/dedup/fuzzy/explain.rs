//! `dedup explain`: why a document was (or was not) removed, from a fuzzy run's work directory.

use super::super::error::{DedupError, Result};
use super::super::input::{DocKey, InputSet};
use super::super::stagefile::{Manifest, StageFile};
use super::super::tokens::{jaccard, shingle_set};
use super::buckets::{parse_edge, EDGE_KIND, EDGE_RECORD};
use super::cluster::{cluster_id, Clusters};
use super::store::{estimated_jaccard_bytes, SignatureStore};
use super::{FuzzyOptions, BUCKETS, SIGNATURES};
use crate::corpus::ShardSpec;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Pair {
    pub id: String,
    /// The LSH band in which the two signatures agree on every row, if any.
    pub band: Option<u32>,
    pub estimated_jaccard: f64,
    /// True Jaccard of the shingle sets, when the input files can still be read.
    pub exact_jaccard: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub id: String,
    /// `removed`, `kept` (it is the kept document of its cluster) or `unique`.
    pub status: String,
    pub cluster: Option<String>,
    pub cluster_size: usize,
    pub kept_id: Option<String>,
    /// The document against the kept one.
    pub versus_kept: Option<Pair>,
    /// The verified candidate pairs that link this document to others.
    pub linked_to: Vec<Pair>,
}

/// Explains the document `id` (the first document with that id, in input order).
pub fn explain(id: &str, work_dir: &Path) -> Result<Explanation> {
    let config = any_config(work_dir)?;
    let opts: FuzzyOptions = serde_json::from_value(config["options"].clone()).map_err(|e| {
        DedupError::stage(
            work_dir.join(SIGNATURES),
            format!("unreadable options: {e}"),
        )
    })?;
    let lanes = opts.minhash.lanes();
    let store = SignatureStore::open(work_dir, &config, lanes)?;
    let mut found = store.find_id(id)?;
    found.sort_by_key(|e| e.key);
    let Some(doc) = found.into_iter().next() else {
        return Err(DedupError::Config(format!(
            "no document with id `{id}` and a signature in {} (documents without any token have none)",
            work_dir.display()
        )));
    };
    let clusters = Clusters::load(work_dir, &config, &store, opts.keep)?;
    let texts = TextLookup::new(&config);
    let rows = opts.minhash.rows as usize;
    let pair = |other: DocKey| -> Result<Pair> {
        let other_entry = store
            .get(other)?
            .ok_or_else(|| DedupError::stage(work_dir, "missing signature"))?;
        let (a, b) = (doc.lanes, other_entry.lanes);
        let band = (0..opts.minhash.bands).find(|&band| {
            let r = band as usize * rows * 4..(band as usize + 1) * rows * 4;
            a[r.clone()] == b[r]
        });
        Ok(Pair {
            id: other_entry.id.clone(),
            band,
            estimated_jaccard: estimated_jaccard_bytes(a, b),
            exact_jaccard: texts.exact_jaccard(doc.key, other, opts.minhash.shingle as usize),
        })
    };

    let mut linked = Vec::new();
    for m in Manifest::load_complete(work_dir, BUCKETS, &config)? {
        for entry in &m.files {
            let file = StageFile::open(work_dir, entry, EDGE_KIND)?;
            for r in file.fixed_records(EDGE_RECORD)? {
                let e = parse_edge(r);
                if e.a == doc.key {
                    linked.push(e.b);
                } else if e.b == doc.key {
                    linked.push(e.a);
                }
            }
        }
    }
    linked.sort_unstable();
    linked.dedup();
    let linked_to = linked
        .iter()
        .map(|&k| pair(k))
        .collect::<Result<Vec<_>>>()?;

    let Some((root, kept)) = clusters.get(doc.key) else {
        return Ok(Explanation {
            id: id.into(),
            status: "unique".into(),
            cluster: None,
            cluster_size: 1,
            kept_id: None,
            versus_kept: None,
            linked_to,
        });
    };
    let cluster_size = clusters.size(root);
    let kept_id = store.get(kept)?.map(|e| e.id);
    let removed = kept != doc.key;
    Ok(Explanation {
        id: id.into(),
        status: if removed { "removed" } else { "kept" }.into(),
        cluster: Some(cluster_id(root)),
        cluster_size,
        kept_id,
        versus_kept: if removed { Some(pair(kept)?) } else { None },
        linked_to,
    })
}

fn any_config(work_dir: &Path) -> Result<serde_json::Value> {
    let dir = work_dir.join(SIGNATURES);
    let path = dir.join("manifest-00000-of-00001.json");
    let path = if path.exists() {
        path
    } else {
        std::fs::read_dir(&dir)
            .map_err(|e| DedupError::stage(&dir, format!("not a fuzzy dedup work directory: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("manifest-"))
            })
            .ok_or_else(|| {
                DedupError::stage(&dir, "no manifest: the signatures stage has not finished")
            })?
    };
    let bytes = std::fs::read(&path).map_err(|e| DedupError::io(&path, e))?;
    let m: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| DedupError::stage(&path, e.to_string()))?;
    Ok(m.config)
}

/// Re-reads the inputs named in the run's configuration to compute exact Jaccard.
struct TextLookup {
    inputs: Option<InputSet>,
}

impl TextLookup {
    fn new(config: &serde_json::Value) -> Self {
        let inputs = &config["inputs"];
        let files: Option<Vec<String>> = inputs["files"].as_array().map(|files| {
            files
                .iter()
                .filter_map(|f| f["path"].as_str().map(String::from))
                .collect()
        });
        let set = files.and_then(|files| {
            let text = inputs["text_field"].as_str().unwrap_or("text");
            let id = inputs["id_field"].as_str().unwrap_or("id");
            InputSet::expand(&files, text, id).ok()
        });
        TextLookup { inputs: set }
    }

    fn texts(&self, keys: &[DocKey]) -> Option<HashMap<DocKey, String>> {
        let inputs = self.inputs.as_ref()?;
        let mut found = HashMap::new();
        inputs
            .for_each_batch(ShardSpec::default(), 16 << 20, |batch| {
                for r in batch.iter().filter(|r| keys.contains(&r.key)) {
                    if let Some(f) = inputs.fields(r) {
                        found.insert(r.key, f.text.into_owned());
                    }
                }
                Ok(())
            })
            .ok()?;
        Some(found)
    }

    fn exact_jaccard(&self, a: DocKey, b: DocKey, shingle: usize) -> Option<f64> {
        let texts = self.texts(&[a, b])?;
        Some(jaccard(
            &shingle_set(texts.get(&a)?, shingle),
            &shingle_set(texts.get(&b)?, shingle),
        ))
    }
}
