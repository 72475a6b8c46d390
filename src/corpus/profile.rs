//! Describing a corpus: document counts, sizes, length percentiles and counts per field value.

use super::{Document, ANNOTATION_KEY};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Summary of a set of documents. Adding documents in any order gives the same summary.
#[derive(Debug, Clone, Default)]
pub struct CorpusProfile {
    pub documents: u64,
    pub bytes: u64,
    pub chars: u64,
    /// Fields to count values of (`lang`, or `glmkit.lang` for an annotation).
    by: Vec<String>,
    counts: Vec<BTreeMap<String, u64>>,
    /// Length in characters of every document (exact percentiles; 8 bytes per document).
    lengths: Vec<u64>,
}

/// The printable form of a profile.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProfileReport {
    pub documents: u64,
    pub bytes: u64,
    pub chars: u64,
    /// Percentiles of the length in characters: p0 (min), p10, p25, p50, p75, p90, p99, p100 (max).
    pub length_chars: BTreeMap<String, u64>,
    pub mean_chars: f64,
    /// Per `--by` field: value -> documents. Documents without the field count under `(missing)`.
    pub by: BTreeMap<String, BTreeMap<String, u64>>,
}

pub const PERCENTILES: [u32; 8] = [0, 10, 25, 50, 75, 90, 99, 100];

impl CorpusProfile {
    pub fn new(by: &[String]) -> Self {
        CorpusProfile {
            by: by.to_vec(),
            counts: vec![BTreeMap::new(); by.len()],
            ..Default::default()
        }
    }

    pub fn add(&mut self, doc: &Document) {
        let chars = doc.text.chars().count() as u64;
        self.documents += 1;
        self.bytes += doc.text.len() as u64;
        self.chars += chars;
        self.lengths.push(chars);
        for (field, counts) in self.by.iter().zip(&mut self.counts) {
            *counts.entry(field_value(doc, field)).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: CorpusProfile) {
        self.documents += other.documents;
        self.bytes += other.bytes;
        self.chars += other.chars;
        self.lengths.extend(other.lengths);
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            for (value, n) in theirs {
                *mine.entry(value).or_default() += n;
            }
        }
    }

    pub fn report(mut self) -> ProfileReport {
        self.lengths.sort_unstable();
        let length_chars = PERCENTILES
            .iter()
            .map(|&p| (format!("p{p}"), nearest_rank(&self.lengths, p)))
            .collect();
        ProfileReport {
            documents: self.documents,
            bytes: self.bytes,
            chars: self.chars,
            length_chars,
            mean_chars: if self.documents == 0 {
                0.0
            } else {
                self.chars as f64 / self.documents as f64
            },
            by: self.by.into_iter().zip(self.counts).collect(),
        }
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
fn nearest_rank(sorted: &[u64], p: u32) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p as f64 / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The value of a field as a string key: `id`, `text` length is not a field; a dotted
/// `glmkit.x` reads an annotation.
fn field_value(doc: &Document, field: &str) -> String {
    let value = match field
        .strip_prefix(ANNOTATION_KEY)
        .and_then(|r| r.strip_prefix('.'))
    {
        Some(key) => doc.annotation(key),
        None => doc.field(field),
    };
    match value {
        None | Some(Value::Null) => "(missing)".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Source;

    #[test]
    fn percentiles_and_counts() {
        let mut profile = CorpusProfile::new(&["lang".to_string()]);
        for (i, lang) in ["en", "zh", "en", "", "en"].iter().enumerate() {
            let mut doc = Document::new(
                i.to_string(),
                "é".repeat(i + 1),
                Source {
                    file: "f".into(),
                    line: 1,
                },
            );
            if !lang.is_empty() {
                doc.meta.insert("lang".into(), (*lang).into());
            }
            profile.add(&doc);
        }
        let report = profile.report();
        assert_eq!((report.documents, report.chars, report.bytes), (5, 15, 30));
        assert_eq!(report.length_chars["p0"], 1);
        assert_eq!(report.length_chars["p50"], 3);
        assert_eq!(report.length_chars["p100"], 5);
        assert_eq!(report.by["lang"]["en"], 3);
        assert_eq!(report.by["lang"]["(missing)"], 1);
    }
}
