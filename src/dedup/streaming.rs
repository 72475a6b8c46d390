//! Exact dedup in one pass: `glmkit dedup exact` in one task (`--stage all`).
//!
//! One task sees every document in input order: the executor hands batches to the step one at
//! a time, in input order, so hashes are computed in parallel, then checked in input order
//! against the hashes seen so far, and the first occurrence is kept. Same decisions as the
//! staged form, half the reading. A rerun redoes every file (a skipped file's texts would be
//! missing from the seen set). Memory: one hash and one id string per distinct document (a
//! hash map entry plus the id's allocation, about 100 bytes each), so this is for corpora one
//! task can hold; the staged form (and the `dedup_exact` pipeline step, which always runs it)
//! is the path for 10^9 documents (docs/dedup.md, "Scaling to 10^9 documents").

use super::exact::content_hash;
use super::Normalization;
use crate::corpus::Document;
use crate::pipeline::{Rejection, Step, StepError, Verdict};
use rayon::prelude::*;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Mutex;

pub const STEP: &str = "dedup_exact";
pub const REASON: &str = "dup_exact";

pub struct StreamingExact {
    normalize: Normalization,
    /// Content hash -> id of the document kept for it.
    seen: Mutex<HashMap<u128, String>>,
}

impl StreamingExact {
    pub fn new(normalize: Normalization) -> Self {
        StreamingExact {
            normalize,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn verdict(seen: &mut HashMap<u128, String>, hash: u128, doc: &Document) -> Verdict {
        match seen.entry(hash) {
            Entry::Occupied(kept) => {
                Verdict::Reject(Rejection::new(STEP, REASON).with("kept_id", kept.get().clone()))
            }
            Entry::Vacant(slot) => {
                slot.insert(doc.id.clone());
                Verdict::Keep
            }
        }
    }
}

impl Step for StreamingExact {
    fn name(&self) -> &str {
        STEP
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let hash = content_hash(&doc.text, self.normalize, &mut String::new());
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Self::verdict(&mut seen, hash, doc))
    }

    fn apply_batch(&self, docs: &mut [Document]) -> Result<Vec<Verdict>, StepError> {
        let hashes: Vec<u128> = docs
            .par_iter()
            .map_init(String::new, |scratch, doc| {
                content_hash(&doc.text, self.normalize, scratch)
            })
            .collect();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        Ok(docs
            .iter()
            .zip(hashes)
            .map(|(doc, hash)| Self::verdict(&mut seen, hash, doc))
            .collect())
    }

    /// Decides from the text alone.
    fn only_decides(&self) -> bool {
        true
    }

    fn remembers_earlier_files(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Source;

    fn doc(id: &str, text: &str) -> Document {
        Document::new(
            id,
            text,
            Source {
                file: "f".into(),
                line: 1,
            },
        )
    }

    #[test]
    fn keeps_the_first_copy_across_batches_and_names_it() {
        let step = StreamingExact::new(Normalization::Basic);
        let mut first = vec![
            doc("a", "same  text"),
            doc("b", "other"),
            doc("c", "same text"),
        ];
        let verdicts = step.apply_batch(&mut first).unwrap();
        assert_eq!(verdicts[0], Verdict::Keep);
        assert_eq!(verdicts[1], Verdict::Keep);
        let Verdict::Reject(r) = &verdicts[2] else {
            panic!("{verdicts:?}")
        };
        assert_eq!(
            (r.reason.as_str(), &r.details["kept_id"]),
            (REASON, &serde_json::json!("a"))
        );
        let mut second = vec![doc("d", "other"), doc("e", "new")];
        let verdicts = step.apply_batch(&mut second).unwrap();
        assert!(matches!(&verdicts[0], Verdict::Reject(r) if r.details["kept_id"] == "b"));
        assert_eq!(verdicts[1], Verdict::Keep);
        assert!(matches!(
            step.apply(&mut doc("f", "new")),
            Ok(Verdict::Reject(_))
        ));
    }
}
