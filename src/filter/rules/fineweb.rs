//! FineWeb rules (Penedo et al. 2024), as datatrove's `FineWebQualityFilter` implements them:
//! share of lines ending in terminal punctuation, share of short lines, characters in
//! duplicated lines, and newlines per word (lists).

use super::{ratio, Failure, QualityRule};
use crate::filter::analysis::{StrHashBuilder, TextAnalysis};
use crate::filter::thresholds::Profile;
use crate::filter::words::{content_word_count, for_each_word};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FineWebConfig {
    /// Least share of non-empty lines that end in terminal punctuation.
    pub line_punct_thr: f64,
    /// Skip the line punctuation rule when no line at all ends in punctuation.
    pub line_punct_exclude_zero: bool,
    /// A document is removed when this share of its lines (or more) is short.
    pub short_line_thr: f64,
    /// A line of at most this many characters is short.
    pub short_line_length: usize,
    /// Count a short line only when none of its words is a stop word of the language
    /// (glmkit; published: every short line counts). The rule is meant for lists, menus and
    /// link bars, whose items are names; a short line with a function word is part of a
    /// sentence (verse, dialogue, a narrow column).
    pub short_line_without_stop_word: bool,
    /// A document is removed when duplicated lines hold this share of its characters (or more).
    pub char_duplicates_ratio: f64,
    /// A repeated line counts as a duplicate only with at least this many words (1: all).
    pub dup_min_words: usize,
    /// Most newlines per word.
    pub new_line_ratio: f64,
}

pub struct FineWeb;

impl QualityRule for FineWeb {
    fn name(&self) -> &'static str {
        "fineweb"
    }

    fn check_analyzed(&self, analysis: &TextAnalysis, profile: &Profile) -> Result<(), Failure> {
        let cfg = &profile.fineweb;
        let lines: Vec<&str> = analysis
            .pieces()
            .iter()
            .copied()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.is_empty() {
            return Err(Failure::new("empty", 0.0, 1.0));
        }
        let punct = lines
            .iter()
            .filter(|l| {
                l.chars()
                    .next_back()
                    .is_some_and(|c| profile.ends_sentence_line(c))
            })
            .count();
        let value = ratio(punct, lines.len());
        if value < cfg.line_punct_thr && !(punct == 0 && cfg.line_punct_exclude_zero) {
            return Err(Failure::new("line_punct_ratio", value, cfg.line_punct_thr));
        }
        let mut scratch = String::new();
        let short = lines
            .iter()
            .filter(|l| {
                l.chars().count() <= cfg.short_line_length
                    && !(cfg.short_line_without_stop_word
                        && has_stop_word(l, profile, &mut scratch))
            })
            .count();
        let value = ratio(short, lines.len());
        if value >= cfg.short_line_thr {
            return Err(Failure::new("short_line_ratio", value, cfg.short_line_thr));
        }
        let mut seen: HashSet<&str, StrHashBuilder> =
            HashSet::with_capacity_and_hasher(lines.len(), Default::default());
        let dup_chars: usize = lines
            .iter()
            .filter(|l| {
                !seen.insert(**l)
                    && (cfg.dup_min_words <= 1 || content_word_count(l) >= cfg.dup_min_words)
            })
            .map(|l| l.chars().count())
            .sum();
        let chars_without_newlines = analysis.chars() - analysis.newlines();
        let value = ratio(dup_chars, chars_without_newlines);
        if value >= cfg.char_duplicates_ratio {
            return Err(Failure::new(
                "char_dup_ratio",
                value,
                cfg.char_duplicates_ratio,
            ));
        }
        let n_words = analysis.words().len();
        // Newlines per word; a text without words counts as one word (the value stays finite
        // for the rejection record).
        let value = analysis.newlines() as f64 / n_words.max(1) as f64;
        if value > cfg.new_line_ratio {
            return Err(Failure::new("list_ratio", value, cfg.new_line_ratio));
        }
        Ok(())
    }
}

/// True when one of the words of `line` is a stop word of the language.
fn has_stop_word(line: &str, profile: &Profile, scratch: &mut String) -> bool {
    let mut found = false;
    for_each_word(line, |w| found = found || profile.is_stop_token(w, scratch));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::thresholds::Thresholds;

    #[test]
    fn short_lines_with_a_stop_word_are_sentence_parts_not_list_items() {
        let thresholds = Thresholds::built_in();
        let en = thresholds.for_lang(Some("en"));
        let verse = "The wind is in the trees,\nAnd the rain is on the sea;\n\
                     I walk along the shore\nAnd think of you and me.\n\
                     The gulls are on the sand,\nThe boats are in the bay,\n\
                     The light is on the hill\nAt the end of the day.\n";
        assert_eq!(FineWeb.check(verse, en), Ok(()));
        let names = "setlocale\nstrchr\nfileno\nmalloc\n__cxa_finalize\nGLIBC_2.3\n\
                     Try the --help option to see what the program does.\n"
            .repeat(5);
        let failure = FineWeb.check(&names, en).unwrap_err();
        assert_eq!(failure.reason, "short_line_ratio");
        assert!((failure.value - 6.0 / 7.0).abs() < 1e-9, "{failure:?}");
    }
}
