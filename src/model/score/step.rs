//! Scoring and bucketing as pipeline steps.

use std::collections::BTreeMap;

use super::buckets::{Bucket, BucketCutoffs};
use super::scorer::Scorer;
use crate::corpus::Document;
use crate::model::ModelError;
use crate::pipeline::{Rejection, Step, StepError, Verdict};
use rayon::prelude::*;

/// Reason code of every rejection made on perplexity.
pub const REASON: &str = "perplexity";

/// The language a document is bucketed and thresholded under: glmkit's own language id when a
/// filter step set it, else the record's `lang` field, else `und`.
pub fn document_language(doc: &Document) -> String {
    doc.language().unwrap_or("und").to_string()
}

/// Highest perplexity kept: one for all languages and/or one per language.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PplThresholds {
    pub all: Option<f64>,
    pub per_language: BTreeMap<String, f64>,
}

impl PplThresholds {
    /// Parses specs like `1000`, `zh=300` or `en=200,de=250` (the last word wins).
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self, ModelError> {
        let mut thresholds = PplThresholds::default();
        for spec in specs.iter().flat_map(|s| s.as_ref().split(',')) {
            let spec = spec.trim();
            let (lang, value) = match spec.split_once('=') {
                Some((lang, value)) => (Some(lang.trim()), value.trim()),
                None => (None, spec),
            };
            let value: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| *v > 0.0)
                .ok_or_else(|| {
                    ModelError::Input(format!("max-ppl `{spec}`: expected a positive number"))
                })?;
            match lang {
                Some(lang) if !lang.is_empty() => {
                    thresholds.per_language.insert(lang.to_string(), value);
                }
                Some(_) => {
                    return Err(ModelError::Input(format!(
                        "max-ppl `{spec}`: empty language"
                    )))
                }
                None => thresholds.all = Some(value),
            }
        }
        Ok(thresholds)
    }

    pub fn limit(&self, lang: &str) -> Option<f64> {
        self.per_language.get(lang).copied().or(self.all)
    }
}

/// Annotates `glmkit.tokens`, `glmkit.nll` (mean NLL per predicted token, nats) and `glmkit.ppl`,
/// and rejects documents above their language's perplexity threshold.
pub struct ScoreStep {
    scorer: Scorer,
    thresholds: PplThresholds,
}

impl ScoreStep {
    pub fn new(scorer: Scorer, thresholds: PplThresholds) -> Self {
        ScoreStep { scorer, thresholds }
    }

    fn verdict(&self, doc: &Document, ppl: Option<f64>) -> Verdict {
        let lang = document_language(doc);
        match (ppl, self.thresholds.limit(&lang)) {
            (Some(ppl), Some(limit)) if ppl > limit => Verdict::Reject(
                Rejection::new(self.name(), REASON)
                    .with("ppl", ppl)
                    .with("max_ppl", limit)
                    .with("lang", lang),
            ),
            _ => Verdict::Keep,
        }
    }
}

impl Step for ScoreStep {
    fn name(&self) -> &str {
        "score"
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let mut verdicts = self.apply_batch(std::slice::from_mut(doc))?;
        Ok(verdicts.pop().expect("a verdict per document"))
    }

    /// A document the tokenizer cannot take is rejected (`score_error`); a failure of the model
    /// (the device, memory) fails the step, so that no document is judged by it.
    fn apply_batch(&self, docs: &mut [Document]) -> Result<Vec<Verdict>, StepError> {
        // A document the tokenizer fails on is rejected alone; the others are scored together.
        let encoded: Vec<Result<Vec<u32>, ModelError>> = docs
            .par_iter()
            .map(|d| self.scorer.encode(&d.text))
            .collect();
        let sequences: Vec<Vec<u32>> = encoded
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .cloned()
            .collect();
        let scores = self
            .scorer
            .score_ids(&sequences, self.scorer.prefix_len())?;
        if scores.len() != sequences.len() {
            let message = format!("{} scores for {} documents", scores.len(), sequences.len());
            return Err(message.into());
        }
        let mut scores = scores.into_iter();
        Ok(docs
            .iter_mut()
            .zip(encoded)
            .map(|(doc, encoded)| {
                let score = match encoded {
                    Err(e) => return self.unscorable(&e.to_string()),
                    Ok(_) => scores.next().expect("counted above"),
                };
                doc.annotate("tokens", score.tokens as u64);
                if let (Some(nll), Some(ppl)) = (score.nll(), score.perplexity()) {
                    doc.annotate("nll", nll);
                    doc.annotate("ppl", ppl);
                }
                self.verdict(doc, score.perplexity())
            })
            .collect())
    }
}

impl ScoreStep {
    /// A document the tokenizer cannot take (reason `score_error`, with the error).
    fn unscorable(&self, message: &str) -> Verdict {
        Verdict::Reject(Rejection::new(self.name(), "score_error").with("error", message))
    }
}

/// Second pass: annotates `glmkit.bucket` from per-language cutoffs and rejects documents
/// outside the kept buckets.
pub struct BucketStep {
    cutoffs: BucketCutoffs,
    keep: Vec<Bucket>,
}

impl BucketStep {
    pub fn new(cutoffs: BucketCutoffs, keep: Vec<Bucket>) -> Self {
        BucketStep { cutoffs, keep }
    }
}

impl Step for BucketStep {
    fn name(&self) -> &str {
        "ppl_bucket"
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let Some(ppl) = doc.annotation("ppl").and_then(|v| v.as_f64()) else {
            return Ok(Verdict::Keep);
        };
        let lang = document_language(doc);
        let Some(bucket) = self.cutoffs.bucket(&lang, ppl) else {
            return Ok(Verdict::Keep);
        };
        doc.annotate("bucket", bucket.name());
        Ok(if self.keep.contains(&bucket) {
            Verdict::Keep
        } else {
            Verdict::Reject(
                Rejection::new(self.name(), REASON)
                    .with("bucket", bucket.name())
                    .with("lang", lang),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_per_language() {
        let t = PplThresholds::parse(&["1000", "zh=300,en=200"]).unwrap();
        assert_eq!(t.limit("zh"), Some(300.0));
        assert_eq!(t.limit("de"), Some(1000.0));
        assert!(PplThresholds::parse(&["zh=abc"]).is_err());
        assert!(PplThresholds::parse(&["-3"]).is_err());
        assert_eq!(PplThresholds::parse::<&str>(&[]).unwrap().limit("en"), None);
    }
}
