//! Gopher repetition rules (Rae et al. 2021, table A1), as datatrove's `GopherRepetitionFilter`
//! implements them: duplicate paragraphs and lines (by count and by characters), the share of
//! the most frequent 2-4-gram, and the share of characters in repeated 5-10-grams. All
//! character fractions are of the whole text, as in datatrove.

use super::{ratio, Failure, QualityRule};
use crate::filter::thresholds::Profile;
use crate::filter::words::{content_word_count, paragraphs, words};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
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
    let mut seen: HashSet<&str, xxhash_rust::xxh3::Xxh3Builder> = HashSet::default();
    let (mut total, mut dups, mut dup_chars) = (0, 0, 0);
    for e in elements {
        total += 1;
        if !seen.insert(e) && (min_words <= 1 || content_word_count(e) >= min_words) {
            dups += 1;
            dup_chars += e.chars().count();
        }
    }
    (total, dups, dup_chars)
}

/// Words of a text as the n-gram rules need them: a hash per word and prefix sums of their
/// lengths in characters, so that an n-gram's hash and length cost O(n) and O(1).
struct HashedWords {
    hashes: Vec<u64>,
    /// `chars_before[i]`: characters of words `0..i`.
    chars_before: Vec<usize>,
}

impl HashedWords {
    fn new(words: &[&str]) -> Self {
        let mut chars_before = Vec::with_capacity(words.len() + 1);
        let mut total = 0;
        chars_before.push(0);
        for w in words {
            total += w.chars().count();
            chars_before.push(total);
        }
        HashedWords {
            hashes: words.iter().map(|w| xxh3_64(w.as_bytes())).collect(),
            chars_before,
        }
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Characters of words `i..i + n`.
    fn chars(&self, i: usize, n: usize) -> usize {
        self.chars_before[i + n] - self.chars_before[i]
    }

    fn gram(&self, i: usize, n: usize) -> u64 {
        self.hashes[i..i + n].iter().fold(0u64, |h, &w| {
            w ^ h.rotate_left(17).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        })
    }
}

/// The keys are hashes already: hashing them again only costs time.
#[derive(Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Prehashed = BuildHasherDefault<PrehashedKey>;

/// Characters of the most frequent n-gram (joined by spaces) times its count, as datatrove's
/// `find_top_duplicate` computes it: the n-gram with the highest count, ties going to the one
/// seen first (`Counter.most_common(1)`), not the n-gram with the largest product.
/// `counts` (n-gram -> (count, first position)) is scratch space, cleared here.
fn top_ngram_chars(
    words: &HashedWords,
    n: usize,
    counts: &mut HashMap<u64, (usize, usize), Prehashed>,
) -> usize {
    counts.clear();
    if words.len() < n {
        return 0;
    }
    for i in 0..=words.len() - n {
        counts.entry(words.gram(i, n)).or_insert((0, i)).0 += 1;
    }
    let (count, first) = counts
        .values()
        .copied()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .expect("at least one n-gram");
    count * (words.chars(first, n) + n - 1)
}

/// Characters of n-grams (joined without spaces) that repeat an earlier n-gram, skipping past
/// a repeat as datatrove's `find_all_duplicate` does.
/// `seen` is scratch space, cleared here.
fn dup_ngram_chars(words: &HashedWords, n: usize, seen: &mut HashSet<u64, Prehashed>) -> usize {
    seen.clear();
    if words.len() < n {
        return 0;
    }
    let (mut idx, mut repeated) = (0, 0);
    while idx + n <= words.len() {
        if !seen.insert(words.gram(idx, n)) {
            repeated += words.chars(idx, n);
            idx += n;
        } else {
            idx += 1;
        }
    }
    repeated
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
        let words = HashedWords::new(&words(text));
        let mut counts = HashMap::with_capacity_and_hasher(words.len(), Prehashed::default());
        let mut seen = HashSet::with_capacity_and_hasher(words.len(), Prehashed::default());
        for &(n, max) in &cfg.top_n_grams {
            let value = ratio(top_ngram_chars(&words, n, &mut counts), text_chars);
            if value > max {
                return Err(Failure::new(top_reason(n), value, max));
            }
        }
        for &(n, max) in &cfg.dup_n_grams {
            let value = ratio(dup_ngram_chars(&words, n, &mut seen), text_chars);
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
        let words = HashedWords::new(&["a", "b", "a", "b", "a", "b"]);
        // "ab" seen at 0, repeats at 2 (skip to 4), repeats at 4: 2 repeats of 2 chars.
        assert_eq!(dup_ngram_chars(&words, 2, &mut HashSet::default()), 4);
        // "a b" occurs 3 times, 3 chars each.
        assert_eq!(top_ngram_chars(&words, 2, &mut HashMap::default()), 9);
        // The most frequent n-gram counts, not the largest count x length: "x" (3 times, 3
        // chars) beats "longword" (2 times, 16 chars), as in datatrove.
        let words = HashedWords::new(&["longword", "x", "longword", "x", "x"]);
        assert_eq!(top_ngram_chars(&words, 1, &mut HashMap::default()), 3);
        // Equal counts: the n-gram seen first.
        let words = HashedWords::new(&["bb", "a", "a", "bb"]);
        assert_eq!(top_ngram_chars(&words, 1, &mut HashMap::default()), 4);
        let words = HashedWords::new(&["a", "bb", "bb", "a"]);
        assert_eq!(top_ngram_chars(&words, 1, &mut HashMap::default()), 2);
    }
}
