//! The perplexity rule: a seeded sample of documents scored by a GLM-4 model, the median and
//! 95th percentile per language against thresholds, and the shift of each median against a
//! baseline written by an earlier check.

use super::contract::{Contract, ModelSource, PerplexityRule};
use super::report::{Example, RuleOutcome};
use super::tally::{fmt_rate, SampledDoc};
use super::CheckError;
use crate::filter::LanguageIdentifier;
use crate::model::score::{percentile, ScoreOptions, Scorer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// Perplexity statistics of one check, as `--write-baseline` writes them and `--baseline`
/// reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The model as the contract named it.
    pub model: String,
    pub sample: usize,
    pub seed: u64,
    pub languages: BTreeMap<String, LanguageStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageStats {
    /// Scored documents of this language in the sample.
    pub documents: usize,
    pub median: f64,
    pub p95: f64,
}

impl Baseline {
    pub fn read(path: &Path) -> Result<Baseline, CheckError> {
        let error = |message: String| CheckError::Baseline {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| error(e.to_string()))
    }

    pub fn write(&self, path: &Path) -> Result<(), CheckError> {
        let text = serde_json::to_string_pretty(self).expect("a baseline serializes") + "\n";
        std::fs::write(path, text).map_err(|e| CheckError::Baseline {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// Loads the contract's model: a checkpoint directory (relative to the contract) or the
/// built-in reference model, through the model module's one resolver.
pub fn open_scorer(rule: &PerplexityRule, contract: &Contract) -> Result<Scorer, CheckError> {
    let source = match &rule.model {
        ModelSource::Builtin => crate::model::ModelSource::Builtin,
        ModelSource::Dir(dir) => crate::model::ModelSource::Dir(contract.base_dir.join(dir)),
    };
    let error = |e: crate::model::ModelError| CheckError::Model {
        path: model_name(rule),
        message: e.to_string(),
    };
    let context = source.config().map_err(error)?.max_position_embeddings;
    let options = ScoreOptions::resolve(
        rule.max_tokens,
        rule.stride,
        Some(rule.batch_tokens),
        context,
    );
    let tokenizer = rule.tokenizer.as_deref().map(|t| contract.resolve(t));
    Scorer::open(
        &source,
        tokenizer.as_deref(),
        &rule.dtype,
        &rule.device,
        options,
    )
    .map_err(error)
}

fn model_name(rule: &PerplexityRule) -> String {
    match &rule.model {
        ModelSource::Builtin => "builtin".into(),
        ModelSource::Dir(dir) => dir.display().to_string(),
    }
}

/// Scores the sample and judges it; returns the outcome and the statistics (for a baseline).
pub fn evaluate(
    contract: &Contract,
    rule: &PerplexityRule,
    scorer: &Scorer,
    identifier: &LanguageIdentifier,
    sample: Vec<SampledDoc>,
    documents: u64,
    baseline: Option<&Baseline>,
) -> Result<(RuleOutcome, Baseline), CheckError> {
    let texts: Vec<&str> = sample.iter().map(|d| d.text.as_str()).collect();
    let scores = scorer.score_texts(&texts).map_err(|e| CheckError::Model {
        path: model_name(rule),
        message: e.to_string(),
    })?;
    // Per language: (perplexity, document) of each document with a predicted token.
    let mut by_lang: BTreeMap<String, Vec<(f64, &SampledDoc)>> = BTreeMap::new();
    let mut unscored = 0;
    for (doc, score) in sample.iter().zip(&scores) {
        let Some(ppl) = score.perplexity() else {
            unscored += 1;
            continue;
        };
        let lang = identifier
            .identify(&doc.text)
            .map_or(crate::filter::langid::UNDETERMINED, |f| f.lang);
        by_lang
            .entry(lang.to_string())
            .or_default()
            .push((ppl, doc));
    }
    let mut stats = Baseline {
        model: model_name(rule),
        sample: rule.sample,
        seed: contract.seed,
        languages: BTreeMap::new(),
    };
    for (lang, docs) in &mut by_lang {
        docs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.index.cmp(&b.1.index)));
        let sorted: Vec<f64> = docs.iter().map(|d| d.0).collect();
        stats.languages.insert(
            lang.clone(),
            LanguageStats {
                documents: sorted.len(),
                median: percentile(&sorted, 50.0),
                p95: percentile(&sorted, 95.0),
            },
        );
    }

    let measured = stats
        .languages
        .iter()
        .map(|(l, s)| {
            format!(
                "{l} median {:.1} p95 {:.1} (n={})",
                s.median, s.p95, s.documents
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut measured = format!(
        "{} ({} of {documents} documents scored{})",
        if measured.is_empty() {
            "nothing scored".into()
        } else {
            measured
        },
        sample.len() - unscored,
        if unscored > 0 {
            format!(", {unscored} too short to score")
        } else {
            String::new()
        }
    );
    let mut threshold = Vec::new();
    if let Some(m) = rule.max_median {
        threshold.push(format!("median <= {m}"));
    }
    if let Some(m) = rule.max_p95 {
        threshold.push(format!("p95 <= {m}"));
    }
    for (l, m) in &rule.max_median_by_lang {
        threshold.push(format!("{l} median <= {m}"));
    }
    for (l, m) in &rule.max_p95_by_lang {
        threshold.push(format!("{l} p95 <= {m}"));
    }
    if let Some(shift) = rule.max_median_shift {
        threshold.push(format!("median shift <= {}", fmt_rate(shift)));
    }
    let mut outcome = RuleOutcome::new("perplexity", String::new(), threshold.join(", "));
    // Languages whose statistics broke a limit, with the limit: their worst documents are the
    // examples.
    let mut over: Vec<(String, f64)> = Vec::new();
    for (lang, s) in &stats.languages {
        let max_median = rule
            .max_median_by_lang
            .get(lang)
            .copied()
            .or(rule.max_median);
        let max_p95 = rule.max_p95_by_lang.get(lang).copied().or(rule.max_p95);
        if let Some(max) = max_median {
            outcome.check(s.median <= max, || {
                format!("{lang} median {:.2} > {max}", s.median)
            });
            if s.median > max {
                over.push((lang.clone(), max));
            }
        }
        if let Some(max) = max_p95 {
            outcome.check(s.p95 <= max, || format!("{lang} p95 {:.2} > {max}", s.p95));
            if s.p95 > max {
                over.push((lang.clone(), max));
            }
        }
    }
    let mut shifts = BTreeMap::new();
    match (rule.max_median_shift, baseline) {
        (Some(max), Some(base)) => {
            for (lang, s) in &stats.languages {
                let Some(before) = base.languages.get(lang) else {
                    continue; // a language new to this data has nothing to drift from
                };
                let shift = if before.median > 0.0 {
                    (s.median - before.median).abs() / before.median
                } else {
                    0.0
                };
                shifts.insert(lang.clone(), shift);
                outcome.check(shift <= max, || {
                    format!(
                        "{lang} median {:.2} moved {} from the baseline's {:.2} (> {})",
                        s.median,
                        fmt_rate(shift),
                        before.median,
                        fmt_rate(max)
                    )
                });
            }
            let shown: Vec<String> = shifts
                .iter()
                .map(|(l, s)| format!("{l} {}", fmt_rate(*s)))
                .collect();
            measured.push_str(&format!("; median shift {}", shown.join(", ")));
        }
        (Some(_), None) => measured.push_str("; no --baseline given, median shift not checked"),
        _ => {}
    }
    outcome.measured = measured;
    for (lang, limit) in over {
        let docs = &by_lang[&lang];
        for (ppl, doc) in docs.iter().rev().filter(|d| d.0 > limit) {
            if outcome.examples.len() >= contract.examples {
                break;
            }
            let example = Example {
                file: doc.file.to_string(),
                line: doc.line,
                note: format!("{lang} perplexity {ppl:.2}"),
            };
            if !outcome.examples.contains(&example) {
                outcome.examples.push(example);
            }
        }
    }
    outcome.sampled = Some(sample.len() as u64);
    outcome.values = json!({
        "sampled": sample.len(),
        "unscored": unscored,
        "documents": documents,
        "languages": stats.languages,
        "median_shift": shifts,
    });
    Ok((outcome, stats))
}
