//! Gopher repetition rules (Rae et al. 2021, table A1), as datatrove's `GopherRepetitionFilter`
//! implements them: duplicate paragraphs and lines (by count and by characters), the share of
//! the most frequent 2-4-gram, and the share of characters in repeated 5-10-grams. All
//! character fractions are of the whole text, as in datatrove.

use super::{ratio, Failure, QualityRule};
use crate::filter::analysis::{StrHashBuilder, TextAnalysis};
use crate::filter::thresholds::Profile;
use crate::filter::words::{content_word_count, paragraphs};
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
    let mut seen: HashSet<&str, StrHashBuilder> = HashSet::default();
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
/// lengths in characters, so that an n-gram's length costs O(1).
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
            total += if w.is_ascii() {
                w.len()
            } else {
                w.chars().count()
            };
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
}

/// The hash of an n-gram from the hash of its first n - 1 words and its last word, so that the
/// hashes of every n-gram of a text come from those of the (n - 1)-grams in one step each.
fn extend_gram(prefix: u64, word: u64) -> u64 {
    word ^ prefix.rotate_left(17).wrapping_mul(0x9E37_79B9_7F4A_7C15)
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

/// The n-gram measures of Gopher's repetition rules for increasing n.
///
/// Only n-grams that occur more than once matter to either measure, and an n-gram can only
/// occur twice where its first n - 1 words do. So the scan keeps the positions whose n-gram
/// occurs more than once, and moving to n + 1 extends, counts and filters only those: in prose
/// a shrinking minority after n = 2 or 3. Results are those of counting every n-gram (as
/// datatrove does), up to 64-bit hash collisions.
struct NGramScan<'w> {
    words: &'w HashedWords,
    /// 0 before the first n-gram size is visited.
    n: usize,
    /// The positions (in order) whose n-gram occurs more than once in the text, and the hash
    /// of that n-gram.
    live: Vec<(u32, u64)>,
    /// n-gram -> (count, first position), for the n-grams at the positions still live.
    counts: HashMap<u64, (u32, u32), Prehashed>,
    seen: HashSet<u64, Prehashed>,
}

impl<'w> NGramScan<'w> {
    fn new(words: &'w HashedWords) -> Self {
        NGramScan {
            words,
            n: 0,
            live: Vec::new(),
            counts: HashMap::default(),
            seen: HashSet::default(),
        }
    }

    /// Moves to `n`, from the start again when `n` is below the current n.
    fn go_to(&mut self, n: usize) {
        if n == 0 || n < self.n {
            *self = NGramScan::new(self.words);
        }
        if self.n == 0 && n > 0 {
            // The first size visited: every n-gram, hashed word by word.
            let hashes = &self.words.hashes;
            self.live = (0..(hashes.len() + 1).saturating_sub(n))
                .map(|i| {
                    let gram = hashes[i..i + n]
                        .iter()
                        .fold(0, |gram, &word| extend_gram(gram, word));
                    (i as u32, gram)
                })
                .collect();
            self.n = n;
            self.count_live();
        }
        while self.n < n {
            self.n += 1;
            let last = self.words.len() + 1 - self.n.min(self.words.len() + 1);
            self.live.retain(|&(i, _)| (i as usize) < last);
            for (i, gram) in &mut self.live {
                *gram = extend_gram(*gram, self.words.hashes[*i as usize + self.n - 1]);
            }
            self.count_live();
        }
    }

    /// Counts the n-grams at the live positions and keeps the positions of those that repeat.
    fn count_live(&mut self) {
        self.counts.clear();
        self.counts.reserve(self.live.len());
        for &(i, gram) in &self.live {
            self.counts.entry(gram).or_insert((0, i)).0 += 1;
        }
        let counts = &self.counts;
        self.live.retain(|(_, gram)| counts[gram].0 > 1);
    }

    /// Characters of the most frequent n-gram (joined by spaces) times its count, as datatrove's
    /// `find_top_duplicate` computes it: the n-gram with the highest count, ties going to the
    /// one seen first (`Counter.most_common(1)`), not the n-gram with the largest product.
    fn top_chars(&mut self, n: usize) -> usize {
        self.go_to(n);
        if n == 0 || self.words.len() < n {
            return 0;
        }
        // An n-gram that is not counted occurs once, and the first n-gram of the text is the
        // first of those.
        let (count, first) = self
            .counts
            .values()
            .copied()
            .filter(|&(count, _)| count > 1)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .unwrap_or((1, 0));
        count as usize * (self.words.chars(first as usize, n) + n - 1)
    }

    /// Characters of n-grams (joined without spaces) that repeat an earlier n-gram, skipping
    /// past a repeat as datatrove's `find_all_duplicate` does. An n-gram that occurs once is
    /// never a repeat nor repeated, so only the live positions are visited.
    fn duplicate_chars(&mut self, n: usize) -> usize {
        self.go_to(n);
        self.seen.clear();
        // `next`: the first position datatrove's loop looks at next.
        let (mut next, mut repeated) = (0, 0);
        for &(i, gram) in &self.live {
            let i = i as usize;
            if i < next {
                continue;
            }
            if self.seen.insert(gram) {
                next = i + 1;
            } else {
                repeated += self.words.chars(i, n);
                next = i + n;
            }
        }
        repeated
    }
}

impl QualityRule for GopherRepetition {
    fn name(&self) -> &'static str {
        "gopher_repetition"
    }

    fn check_analyzed(&self, analysis: &TextAnalysis, profile: &Profile) -> Result<(), Failure> {
        let cfg = &profile.gopher_repetition;
        let text = analysis.text();
        let text_chars = analysis.chars();
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
            analysis.pieces().iter().copied().filter(|l| !l.is_empty()),
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
        let words = HashedWords::new(analysis.words());
        let mut scan = NGramScan::new(&words);
        for &(n, max) in &cfg.top_n_grams {
            let value = ratio(scan.top_chars(n), text_chars);
            if value > max {
                return Err(Failure::new(top_reason(n), value, max));
            }
        }
        for &(n, max) in &cfg.dup_n_grams {
            let value = ratio(scan.duplicate_chars(n), text_chars);
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

    fn top(words: &[&str], n: usize) -> usize {
        NGramScan::new(&HashedWords::new(words)).top_chars(n)
    }

    fn dup(words: &[&str], n: usize) -> usize {
        NGramScan::new(&HashedWords::new(words)).duplicate_chars(n)
    }

    #[test]
    fn counts_repeated_ngrams_like_datatrove() {
        let words = ["a", "b", "a", "b", "a", "b"];
        // "ab" seen at 0, repeats at 2 (skip to 4), repeats at 4: 2 repeats of 2 chars.
        assert_eq!(dup(&words, 2), 4);
        // "a b" occurs 3 times, 3 chars each.
        assert_eq!(top(&words, 2), 9);
        // The most frequent n-gram counts, not the largest count x length: "x" (3 times, 3
        // chars) beats "longword" (2 times, 16 chars), as in datatrove.
        assert_eq!(top(&["longword", "x", "longword", "x", "x"], 1), 3);
        // Equal counts: the n-gram seen first.
        assert_eq!(top(&["bb", "a", "a", "bb"], 1), 4);
        assert_eq!(top(&["a", "bb", "bb", "a"], 1), 2);
        // No n-gram repeats: the first one, once.
        assert_eq!(top(&["a", "bb", "c", "dd"], 2), 4);
        assert_eq!(top(&["a"], 2), 0);
        assert_eq!(dup(&["a"], 2), 0);
    }

    /// datatrove's `find_top_duplicate` and `find_all_duplicate`, on strings.
    fn reference(words: &[&str], n: usize) -> (usize, usize) {
        if words.len() < n {
            return (0, 0);
        }
        let grams: Vec<String> = words.windows(n).map(|w| w.join(" ")).collect();
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        for (i, g) in grams.iter().enumerate() {
            counts.entry(g).or_insert((0, i)).0 += 1;
        }
        let (count, first) = counts
            .values()
            .copied()
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .unwrap();
        let top = count * grams[first].chars().count();
        let mut seen = HashSet::new();
        let (mut idx, mut repeated) = (0, 0);
        while idx + n <= words.len() {
            let joined = words[idx..idx + n].concat();
            if seen.contains(&joined) {
                repeated += joined.chars().count();
                idx += n;
            } else {
                seen.insert(joined);
                idx += 1;
            }
        }
        (top, repeated)
    }

    #[test]
    fn counting_only_possible_repeats_gives_the_counts_of_every_ngram() {
        let vocabulary = ["a", "bé", "c", "dd", "e", "ff", "g", "hh"];
        let mut state = 12345u64;
        for len in [0, 1, 2, 5, 17, 60, 300] {
            for vocab in [2, 3, 8] {
                let words: Vec<&str> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        vocabulary[(state >> 33) as usize % vocab]
                    })
                    .collect();
                let hashed = HashedWords::new(&words);
                let mut scan = NGramScan::new(&hashed);
                // Out of order on purpose: the scan starts again when n goes down.
                for n in [2, 3, 4, 1, 5, 6, 7, 8, 9, 10, 3] {
                    let (top, repeated) = reference(&words, n);
                    assert_eq!(scan.top_chars(n), top, "top, n={n} {words:?}");
                    assert_eq!(scan.duplicate_chars(n), repeated, "dup, n={n} {words:?}");
                }
            }
        }
    }
}
