//! Quality rules: Gopher quality, Gopher repetition, C4, FineWeb and an encoding (mojibake)
//! check. Each rule reads the settings of the document's language (`glmkit.lang`, set by the
//! langid step) from [`Thresholds`] and either passes the text or names the measure that
//! failed, with its value and threshold.

mod c4;
mod encoding;
mod fineweb;
mod gopher_quality;
mod gopher_repetition;

pub use c4::{C4Config, C4};
pub use encoding::{Encoding, EncodingConfig};
pub use fineweb::{FineWeb, FineWebConfig};
pub use gopher_quality::{GopherQuality, GopherQualityConfig};
pub use gopher_repetition::{GopherRepetition, GopherRepetitionConfig};

use super::analysis::TextAnalysis;
use super::thresholds::{Profile, Thresholds};
use crate::corpus::Document;
use crate::pipeline::{Rejection, Step, StepError, Verdict};
use std::sync::Arc;

/// Why a text failed a rule: the measure, its value and the threshold it crossed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: &'static str,
    pub value: f64,
    pub threshold: f64,
}

impl Failure {
    pub fn new(reason: &'static str, value: f64, threshold: f64) -> Self {
        Failure {
            reason,
            value,
            threshold,
        }
    }
}

/// One family of quality measures on a text.
pub trait QualityRule: Send + Sync {
    /// Step name, e.g. `gopher_quality`.
    fn name(&self) -> &'static str;

    /// Checks a text, reading what it shares with other rules (its words, ...) from `text`.
    fn check_analyzed(&self, text: &TextAnalysis, profile: &Profile) -> Result<(), Failure>;

    /// Checks a text on its own.
    fn check(&self, text: &str, profile: &Profile) -> Result<(), Failure> {
        self.check_analyzed(&TextAnalysis::for_profile(text, profile), profile)
    }
}

/// The first of `rules` that a text fails, in order, and why; the rules share one analysis of
/// the text (one word split, ...).
pub fn first_failure<'r>(
    rules: &'r [Box<dyn QualityRule>],
    text: &str,
    profile: &Profile,
) -> Option<(&'r dyn QualityRule, Failure)> {
    let analysis = TextAnalysis::for_profile(text, profile);
    rules.iter().find_map(|rule| {
        rule.check_analyzed(&analysis, profile)
            .err()
            .map(|failure| (rule.as_ref(), failure))
    })
}

/// The rules by name, as `--rules` and pipeline files name them.
pub const RULE_NAMES: &[&str] = &[
    "gopher_quality",
    "gopher_repetition",
    "c4",
    "fineweb",
    "encoding",
];

/// Builds a rule by its name.
pub fn rule_by_name(name: &str) -> Option<Box<dyn QualityRule>> {
    Some(match name {
        "gopher_quality" => Box::new(GopherQuality),
        "gopher_repetition" => Box::new(GopherRepetition),
        "c4" => Box::new(C4),
        "fineweb" => Box::new(FineWeb),
        "encoding" => Box::new(Encoding),
        _ => return None,
    })
}

/// A quality rule as a pipeline step: picks the settings of the document's language and turns
/// a failure into a rejection recording the rule, the measure, its value and the threshold.
pub struct RuleStep {
    rule: Box<dyn QualityRule>,
    thresholds: Arc<Thresholds>,
}

impl RuleStep {
    pub fn new(rule: Box<dyn QualityRule>, thresholds: Arc<Thresholds>) -> Self {
        RuleStep { rule, thresholds }
    }
}

impl Step for RuleStep {
    fn name(&self) -> &str {
        self.rule.name()
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let lang = document_lang(doc);
        let profile = self.thresholds.for_lang(lang.as_deref());
        Ok(match self.rule.check(&doc.text, profile) {
            Ok(()) => Verdict::Keep,
            Err(failure) => Verdict::Reject(rejection(self.rule.as_ref(), failure, lang)),
        })
    }
}

/// Several quality rules as one pipeline step (kind `quality`): the rules run in order on one
/// shared analysis of each document (one word split, ...) and the first that fails removes it,
/// recorded as [`RuleStep`] records it (the rule as the step). The run counts each rule as if
/// it were a step of its own, so a run gives the same records and counts as with one step per
/// rule, in less time.
pub struct RuleSetStep {
    rules: Vec<Box<dyn QualityRule>>,
    thresholds: Arc<Thresholds>,
}

impl RuleSetStep {
    pub fn new(rules: Vec<Box<dyn QualityRule>>, thresholds: Arc<Thresholds>) -> Self {
        RuleSetStep { rules, thresholds }
    }
}

impl Step for RuleSetStep {
    fn name(&self) -> &str {
        "quality"
    }

    fn counted_as(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name().to_string()).collect()
    }

    fn apply(&self, doc: &mut Document) -> Result<Verdict, StepError> {
        let lang = document_lang(doc);
        let profile = self.thresholds.for_lang(lang.as_deref());
        Ok(match first_failure(&self.rules, &doc.text, profile) {
            None => Verdict::Keep,
            Some((rule, failure)) => Verdict::Reject(rejection(rule, failure, lang)),
        })
    }
}

/// The language the langid step found (`glmkit.lang`).
fn document_lang(doc: &Document) -> Option<String> {
    doc.annotation("lang")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// The record of a removal: the rule, the measure, its value and threshold, the language.
fn rejection(rule: &dyn QualityRule, failure: Failure, lang: Option<String>) -> Rejection {
    Rejection::new(rule.name(), failure.reason)
        .with("value", round(failure.value))
        .with("threshold", failure.threshold)
        .with("lang", lang.unwrap_or_default())
}

/// Four decimals are enough to explain a decision and keep records short.
fn round(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// `part / whole`, 0 when `whole` is 0.
pub(crate) fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(text: &str, lang: Option<&str>) -> Vec<(&'static str, &'static str)> {
        let thresholds = Thresholds::built_in();
        RULE_NAMES
            .iter()
            .filter_map(|name| {
                let rule = rule_by_name(name).unwrap();
                rule.check(text, thresholds.for_lang(lang))
                    .err()
                    .map(|f| (rule.name(), f.reason))
            })
            .collect()
    }

    #[test]
    fn degenerate_texts_are_rejected_not_panicked_on() {
        assert!(failures("", None).contains(&("fineweb", "empty")));
        assert!(failures(" \n\t\n ", Some("zh")).contains(&("gopher_quality", "short_doc")));
        let one_token = "x".repeat(200_000);
        assert!(failures(&one_token, Some("en")).contains(&("gopher_quality", "short_doc")));
        let punctuation = "。".repeat(500);
        assert!(failures(&punctuation, Some("zh")).contains(&("gopher_quality", "short_doc")));
        assert!(failures("\u{FFFD}".repeat(100).as_str(), None)
            .contains(&("encoding", "mojibake_chars")));
    }

    #[test]
    fn a_rule_set_step_decides_and_records_as_its_rules_one_by_one() {
        use crate::corpus::Source;
        let thresholds = Arc::new(Thresholds::built_in());
        let set = RuleSetStep::new(
            RULE_NAMES
                .iter()
                .map(|n| rule_by_name(n).unwrap())
                .collect(),
            thresholds.clone(),
        );
        let singles: Vec<RuleStep> = RULE_NAMES
            .iter()
            .map(|n| RuleStep::new(rule_by_name(n).unwrap(), thresholds.clone()))
            .collect();
        let texts = [
            "",
            "The committee met on Tuesday. It agreed. It left.",
            "lorem ipsum dolor sit amet, consectetur adipiscing elit. "
                .repeat(20)
                .as_str(),
            "委员会星期二开会讨论了明年的预算。".repeat(3).as_str(),
            "\u{FFFD}".repeat(100).as_str(),
        ]
        .map(str::to_owned);
        for (i, text) in texts.iter().enumerate() {
            for lang in [None, Some("en"), Some("zh")] {
                let source = Source {
                    file: "f".into(),
                    line: 1,
                };
                let mut doc = Document::new(i.to_string(), text.clone(), source);
                if let Some(lang) = lang {
                    doc.annotate("lang", lang);
                }
                let one_by_one = singles
                    .iter()
                    .map(|s| s.apply(&mut doc.clone()).unwrap())
                    .find(|v| *v != Verdict::Keep)
                    .unwrap_or(Verdict::Keep);
                let together = set.apply(&mut doc).unwrap();
                assert_eq!(together, one_by_one, "{text:?} {lang:?}");
            }
        }
    }

    #[test]
    fn clean_prose_passes_in_english_and_chinese() {
        let en = "The committee met on Tuesday to discuss the budget for the coming year. \
                  Members agreed that the library needs new shelves and that the roof must be repaired \
                  before winter. The treasurer said there is enough money for both projects, \
                  but only if the summer festival is smaller than last year. After a long debate \
                  the committee voted to reduce the festival to one day. The decision will be \
                  announced in the next newsletter, and residents can send their comments by email. \
                  Several members thanked the volunteers who had organised the festival in the past.";
        assert_eq!(failures(en, Some("en")), []);
        let zh = "委员会星期二开会讨论了明年的预算。委员们一致认为图书馆需要新的书架，\
                  屋顶也必须在冬天之前修好。财务主管说，这两个项目的资金都够用，\
                  但前提是夏季节日的规模要比去年小。经过长时间的讨论，委员会投票决定把节日缩短为一天。\
                  这个决定将在下一期通讯中公布，居民可以通过电子邮件提出意见。\
                  几位委员感谢了过去组织节日的志愿者们。大家希望明年的活动同样成功。";
        assert_eq!(failures(zh, Some("zh")), []);
        assert!(
            !failures(zh, Some("en")).is_empty(),
            "English settings reject Chinese prose"
        );
        // The settings of a language without its own (and of no language) assume none.
        assert_eq!(failures(zh, None), []);
        assert_eq!(failures(en, None), []);
    }
}
