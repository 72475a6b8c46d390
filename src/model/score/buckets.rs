//! CCNet-style perplexity buckets: per language, documents at or below the 30th percentile of
//! perplexity are `head`, those up to the 60th `middle`, the rest `tail`. The percentiles are
//! computed over the scored corpus, so bucketing is a second pass over already-scored documents.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::model::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Head,
    Middle,
    Tail,
}

impl Bucket {
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Head => "head",
            Bucket::Middle => "middle",
            Bucket::Tail => "tail",
        }
    }

    pub fn parse(name: &str) -> Result<Bucket, ModelError> {
        match name {
            "head" => Ok(Bucket::Head),
            "middle" => Ok(Bucket::Middle),
            "tail" => Ok(Bucket::Tail),
            other => Err(ModelError::Input(format!(
                "unknown bucket `{other}` (expected head, middle or tail)"
            ))),
        }
    }

    /// A comma-separated list such as `head,middle`.
    pub fn parse_list(list: &str) -> Result<Vec<Bucket>, ModelError> {
        list.split(',').map(|s| Bucket::parse(s.trim())).collect()
    }
}

/// Perplexity cutoffs of one language: head is `<= low`, middle `<= high`, tail above.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cutoffs {
    pub low: f64,
    pub high: f64,
    /// Documents the cutoffs were computed from.
    pub documents: usize,
}

impl Cutoffs {
    pub fn bucket(&self, ppl: f64) -> Bucket {
        if ppl <= self.low {
            Bucket::Head
        } else if ppl <= self.high {
            Bucket::Middle
        } else {
            Bucket::Tail
        }
    }
}

/// Per-language cutoffs at two percentiles (30 and 60 by default, as CCNet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketCutoffs {
    pub percentiles: (f64, f64),
    pub languages: BTreeMap<String, Cutoffs>,
}

impl BucketCutoffs {
    /// Cutoffs from `(language, perplexity)` pairs; the result does not depend on their order.
    pub fn compute<'a>(
        scores: impl IntoIterator<Item = (&'a str, f64)>,
        percentiles: (f64, f64),
    ) -> Result<Self, ModelError> {
        let (low, high) = percentiles;
        if !(0.0..=100.0).contains(&low) || !(0.0..=100.0).contains(&high) || low > high {
            return Err(ModelError::Input(format!(
                "percentiles {low},{high} must satisfy 0 <= low <= high <= 100"
            )));
        }
        let mut by_language: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (lang, ppl) in scores {
            if ppl.is_finite() {
                by_language.entry(lang.to_string()).or_default().push(ppl);
            }
        }
        let languages = by_language
            .into_iter()
            .map(|(lang, mut values)| {
                values.sort_by(f64::total_cmp);
                let cutoffs = Cutoffs {
                    low: percentile(&values, low),
                    high: percentile(&values, high),
                    documents: values.len(),
                };
                (lang, cutoffs)
            })
            .collect();
        Ok(BucketCutoffs {
            percentiles,
            languages,
        })
    }

    /// The bucket of a document, or `None` for a language with no scored documents.
    pub fn bucket(&self, lang: &str, ppl: f64) -> Option<Bucket> {
        self.languages.get(lang).map(|c| c.bucket(ppl))
    }
}

/// Percentile `p` (0-100) of sorted values with linear interpolation (numpy's default, as CCNet).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 30.0), 2.2);
        assert_eq!(percentile(&v, 60.0), 3.4);
        assert_eq!(percentile(&v, 100.0), 5.0);
    }

    #[test]
    fn buckets_are_per_language() {
        let scores = [
            ("en", 10.0),
            ("en", 20.0),
            ("en", 30.0),
            ("en", 40.0),
            ("zh", 100.0),
            ("zh", 300.0),
        ];
        let cutoffs =
            BucketCutoffs::compute(scores.iter().map(|(l, p)| (*l, *p)), (30.0, 60.0)).unwrap();
        assert_eq!(cutoffs.bucket("en", 15.0), Some(Bucket::Head));
        assert_eq!(cutoffs.bucket("en", 25.0), Some(Bucket::Middle));
        assert_eq!(cutoffs.bucket("en", 40.0), Some(Bucket::Tail));
        // 100 is a tail perplexity for English but the head of Chinese.
        assert_eq!(cutoffs.bucket("zh", 100.0), Some(Bucket::Head));
        assert_eq!(cutoffs.bucket("fr", 1.0), None);
        assert!(BucketCutoffs::compute(std::iter::empty(), (70.0, 60.0)).is_err());
        assert_eq!(
            Bucket::parse_list("head, tail").unwrap(),
            vec![Bucket::Head, Bucket::Tail]
        );
    }
}
