//! FineWeb rules (Penedo et al. 2024), as datatrove's `FineWebQualityFilter` implements them:
//! share of lines ending in terminal punctuation, share of short lines, characters in
//! duplicated lines, and newlines per word (lists).

use super::{ratio, Failure, QualityRule};
use crate::filter::thresholds::Profile;
use crate::filter::words::word_count;
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

    fn check(&self, text: &str, profile: &Profile) -> Result<(), Failure> {
        let cfg = &profile.fineweb;
        let lines: Vec<&str> = text.split('\n').filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            return Err(Failure::new("empty", 0.0, 1.0));
        }
        let ends = &profile.sentence_ends;
        let punct = lines
            .iter()
            .filter(|l| l.chars().next_back().is_some_and(|c| ends.contains(&c)))
            .count();
        let value = ratio(punct, lines.len());
        if value < cfg.line_punct_thr && !(punct == 0 && cfg.line_punct_exclude_zero) {
            return Err(Failure::new("line_punct_ratio", value, cfg.line_punct_thr));
        }
        let short = lines
            .iter()
            .filter(|l| l.chars().count() <= cfg.short_line_length)
            .count();
        let value = ratio(short, lines.len());
        if value >= cfg.short_line_thr {
            return Err(Failure::new("short_line_ratio", value, cfg.short_line_thr));
        }
        let mut seen: HashSet<&str, xxhash_rust::xxh3::Xxh3Builder> =
            HashSet::with_capacity_and_hasher(lines.len(), Default::default());
        let dup_chars: usize = lines
            .iter()
            .filter(|l| {
                !seen.insert(**l) && (cfg.dup_min_words <= 1 || word_count(l) >= cfg.dup_min_words)
            })
            .map(|l| l.chars().count())
            .sum();
        let chars_without_newlines = text.chars().filter(|&c| c != '\n').count();
        let value = ratio(dup_chars, chars_without_newlines);
        if value >= cfg.char_duplicates_ratio {
            return Err(Failure::new(
                "char_dup_ratio",
                value,
                cfg.char_duplicates_ratio,
            ));
        }
        let n_words = word_count(text);
        // Newlines per word; a text without words counts as one word (the value stays finite
        // for the rejection record).
        let value = text.matches('\n').count() as f64 / n_words.max(1) as f64;
        if value > cfg.new_line_ratio {
            return Err(Failure::new("list_ratio", value, cfg.new_line_ratio));
        }
        Ok(())
    }
}
