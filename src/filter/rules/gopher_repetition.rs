//! Gopher repetition rules (Rae et al. 2021, table A1), as datatrove's `GopherRepetitionFilter`
//! implements them: duplicate paragraphs and lines (by count and by characters), the share of
//! the most frequent 2-4-gram, and the share of characters in repeated 5-10-grams. All
//! character fractions are of the whole text, as in datatrove.

use super::{ratio, Failure, QualityRule};
use crate::filter::thresholds::Profile;
use crate::filter::words::{paragraphs, words};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use xxhash_rust::xxh3::xxh3_64;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GopherRepetitionConfig {
    /// Most paragraphs (lines) that repeat an earlier one, as a fraction of paragraphs (lines).
    pub dup_para_frac: f64,
    pub dup_line_frac: f64,
    /// Most characters in repeated paragraphs (lines), as a fraction of the text.
    pub dup_para_char_frac: f64,
    pub dup_line_char_frac: f64,
    /// A repeated line or paragraph counts as a duplicate only with at least this many words
    /// (1 counts every repeat, as published).
    pub dup_min_words: usize,
    /// `[n, max]`: the most frequent n-gram of words may cover at most `max` of the text.
    pub top_n_grams: Vec<(usize, f64)>,
    /// `[n, max]`: characters of n-grams seen before may cover at most `max` of the text.
    pub dup_n_grams: Vec<(usize, f64)>,
}

pub struct GopherRepetition;

/// (number of elements, those that repeat an earlier one and have at least `min_words` words,
/// their characters).
pub(crate) fn duplicates<'a>(
    elements: impl Iterator<Item = &'a str>,
    min_words: usize,
) -> (usize, usize, usize) {
    let mut seen = HashSet::new();
    let (mut total, mut dups, mut dup_chars) = (0, 0, 0);
    for e in elements {
        total += 1;
        if !seen.insert(e) && (min_words <= 1 || words(e).len() >= min_words) {
            dups += 1;
            dup_chars += e.chars().count();
        }
    }
    (total, dups, dup_chars)
}

/// Characters of the most frequent n-gram times its count (n-grams joined by a space).
fn top_ngram_chars(words: &[&str], lens: &[usize], n: usize) -> usize {
    if words.len() < n {
        return 0;
    }
    let mut counts: HashMap<u64, (usize, usize)> = HashMap::with_capacity(words.len());
    let mut best = 0;
    for i in 0..=words.len() - n {
        let gram = &words[i..i + n];
        let key = hash_gram(gram);
        let chars: usize = lens[i..i + n].iter().sum::<usize>() + n - 1;
        let entry = counts.entry(key).or_insert((0, chars));
        entry.0 += 1;
        best = best.max(entry.0 * entry.1);
    }
    best
}

/// Characters of n-grams (joined without spaces) that repeat an earlier n-gram, skipping past
/// a repeat as datatrove's `find_all_duplicate` does.
fn dup_ngram_chars(words: &[&str], lens: &[usize], n: usize) -> usize {
    if words.len() < n {
        return 0;
    }
    let mut seen = HashSet::with_capacity(words.len());
    let (mut idx, mut repeated) = (0, 0);
    while idx + n <= words.len() {
        if !seen.insert(hash_gram(&words[idx..idx + n])) {
            repeated += lens[idx..idx + n].iter().sum::<usize>();
            idx += n;
        } else {
            idx += 1;
        }
    }
    repeated
}

fn hash_gram(gram: &[&str]) -> u64 {
    let mut h = 0u64;
    for w in gram {
        h = xxh3_64(w.as_bytes()) ^ h.rotate_left(17).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h
}

impl QualityRule for GopherRepetition {
    fn name(&self) -> &'static str {
        "gopher_repetition"
    }

    fn check(&self, text: &str, profile: &Profile) -> Result<(), Failure> {
        let cfg = &profile.gopher_repetition;
        let text_chars = text.chars().count();
        let (n_paras, dup_paras, dup_para_chars) =
            duplicates(paragraphs(text.trim()).into_iter(), cfg.dup_min_words);
        let value = ratio(dup_paras, n_paras);
        if value > cfg.dup_para_frac {
            return Err(Failure::new("dup_para_frac", value, cfg.dup_para_frac));
        }
        let value = ratio(dup_para_chars, text_chars);
        if value > cfg.dup_para_char_frac {
            return Err(Failure::new(
                "dup_para_char_frac",
                value,
                cfg.dup_para_char_frac,
            ));
        }
        let (n_lines, dup_lines, dup_line_chars) = duplicates(
            text.split('\n').filter(|l| !l.is_empty()),
            cfg.dup_min_words,
        );
        let value = ratio(dup_lines, n_lines);
        if value > cfg.dup_line_frac {
            return Err(Failure::new("dup_line_frac", value, cfg.dup_line_frac));
        }
        let value = ratio(dup_line_chars, text_chars);
        if value > cfg.dup_line_char_frac {
            return Err(Failure::new(
                "dup_line_char_frac",
                value,
                cfg.dup_line_char_frac,
            ));
        }
        let words = words(text);
        let lens: Vec<usize> = words.iter().map(|w| w.chars().count()).collect();
        for &(n, max) in &cfg.top_n_grams {
            let value = ratio(top_ngram_chars(&words, &lens, n), text_chars);
            if value > max {
                return Err(Failure::new(top_reason(n), value, max));
            }
        }
        for &(n, max) in &cfg.dup_n_grams {
            let value = ratio(dup_ngram_chars(&words, &lens, n), text_chars);
            if value > max {
                return Err(Failure::new(dup_reason(n), value, max));
            }
        }
        Ok(())
    }
}

fn top_reason(n: usize) -> &'static str {
    const NAMES: [&str; 11] = [
        "top_n_gram",
        "top_1_gram",
        "top_2_gram",
        "top_3_gram",
        "top_4_gram",
        "top_5_gram",
        "top_6_gram",
        "top_7_gram",
        "top_8_gram",
        "top_9_gram",
        "top_10_gram",
    ];
    NAMES.get(n).copied().unwrap_or("top_n_gram")
}

fn dup_reason(n: usize) -> &'static str {
    const NAMES: [&str; 21] = [
        "duplicated_n_grams",
        "duplicated_1_n_grams",
        "duplicated_2_n_grams",
        "duplicated_3_n_grams",
        "duplicated_4_n_grams",
        "duplicated_5_n_grams",
        "duplicated_6_n_grams",
        "duplicated_7_n_grams",
        "duplicated_8_n_grams",
        "duplicated_9_n_grams",
        "duplicated_10_n_grams",
        "duplicated_11_n_grams",
        "duplicated_12_n_grams",
        "duplicated_13_n_grams",
        "duplicated_14_n_grams",
        "duplicated_15_n_grams",
        "duplicated_16_n_grams",
        "duplicated_17_n_grams",
        "duplicated_18_n_grams",
        "duplicated_19_n_grams",
        "duplicated_20_n_grams",
    ];
    NAMES.get(n).copied().unwrap_or("duplicated_n_grams")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_repeated_ngrams_like_datatrove() {
        let words = ["a", "b", "a", "b", "a", "b"];
        let lens = [1; 6];
        // "ab" seen at 0, repeats at 2 (skip to 4), repeats at 4: 2 repeats of 2 chars.
        assert_eq!(dup_ngram_chars(&words, &lens, 2), 4);
        // "a b" occurs 3 times, 3 chars each.
        assert_eq!(top_ngram_chars(&words, &lens, 2), 9);
    }
}
