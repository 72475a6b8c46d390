//! Gopher repetition rules (Rae et al. 2021, table A1), as datatrove's `GopherRepetitionFilter`
//! implements them: duplicate paragraphs and lines (by count and by characters), the share of
//! the most frequent 2-4-gram, and the share of characters in repeated 5-10-grams. All
//! character fractions are of the whole text, as in datatrove. Three settings can depart from
//! datatrove (default.toml explains glmkit's defaults): `dup_min_words` (short repeated lines
//! are structure), `n_grams_skip_repeated_lines` (a repeated line is judged by the line rules
//! only) and `top_n_grams_min_count` (an n-gram that occurs once is no repetition).

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
    /// The most frequent n-gram counts only when it occurs at least this often. 1 is
    /// datatrove's reading: where no n-gram repeats, the text's first n-gram counts once, so a
    /// short text that repeats nothing can fail a repetition rule; 2 counts repeats only.
    pub top_n_grams_min_count: u32,
    /// Leave the repeats of a line that the duplicate line rules count (those with at least
    /// `dup_min_words` words) out of the n-gram rules, so that one repetition is judged once,
    /// by the line rules. false counts them again in every n-gram, as published.
    pub n_grams_skip_repeated_lines: bool,
    /// `[n, max]`: characters of n-grams seen before may cover at most `max` of the text.
    pub dup_n_grams: Vec<(usize, f64)>,
}

pub struct GopherRepetition;

/// The elements of a text that repeat an earlier one, as Gopher's duplicate line and
/// paragraph rules count them.
pub(crate) struct Duplicates<'a> {
    /// Elements seen.
    pub total: usize,
    /// The repeats (in order) that have at least `min_words` words.
    pub repeats: Vec<&'a str>,
    /// Their characters.
    pub chars: usize,
}

/// Counts the elements that repeat an earlier one and have at least `min_words` words.
pub(crate) fn duplicates<'a>(
    elements: impl Iterator<Item = &'a str>,
    min_words: usize,
) -> Duplicates<'a> {
    let mut seen: HashSet<&str, StrHashBuilder> = HashSet::default();
    let mut found = Duplicates {
        total: 0,
        repeats: Vec::new(),
        chars: 0,
    };
    for e in elements {
        found.total += 1;
        if !seen.insert(e) && (min_words <= 1 || content_word_count(e) >= min_words) {
            found.repeats.push(e);
            found.chars += e.chars().count();
        }
    }
    found
}

/// Words of a text as the n-gram rules need them: a hash per word and prefix sums of their
/// lengths in characters, so that an n-gram's length costs O(1).
struct HashedWords {
    hashes: Vec<u64>,
    /// `chars_before[i]`: characters of words `0..i`.
    chars_before: Vec<usize>,
}

impl HashedWords {
    /// The words of a text, leaving out those inside `skipped` (subslices of the text, in
    /// order). Each skipped stretch becomes a break that no n-gram repeats across.
    fn skipping(text: &str, words: &[&str], skipped: &[&str]) -> Self {
        if skipped.is_empty() {
            return HashedWords::new(words);
        }
        let offset = |s: &str| s.as_ptr() as usize - text.as_ptr() as usize;
        let mut skip = skipped
            .iter()
            .map(|s| (offset(s), offset(s) + s.len()))
            .peekable();
        let mut out = HashedWords::with_capacity(words.len());
        let mut breaks = 0u64;
        for &word in words {
            let at = offset(word);
            while skip.peek().is_some_and(|&(_, end)| end <= at) {
                skip.next();
                // A hash no word has (up to 64-bit collisions) and no other break shares.
                breaks += 1;
                let hash = xxhash_rust::xxh3::xxh3_64_with_seed(&breaks.to_le_bytes(), BREAK_SEED);
                out.push(hash, 0);
            }
            if skip.peek().is_none_or(|&(start, _)| start > at) {
                out.push(xxh3_64(word.as_bytes()), char_len(word));
            }
        }
        out
    }

    fn new(words: &[&str]) -> Self {
        let mut out = HashedWords::with_capacity(words.len());
        for w in words {
            out.push(xxh3_64(w.as_bytes()), char_len(w));
        }
        out
    }

    fn with_capacity(words: usize) -> Self {
        let mut chars_before = Vec::with_capacity(words + 1);
        chars_before.push(0);
        HashedWords {
            hashes: Vec::with_capacity(words),
            chars_before,
        }
    }

    /// Appends a word (or a break, of 0 characters) by its hash and length in characters.
    fn push(&mut self, hash: u64, chars: usize) {
        let total = self.chars_before.last().copied().unwrap_or(0) + chars;
        self.hashes.push(hash);
        self.chars_before.push(total);
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Characters of words `i..i + n`.
    fn chars(&self, i: usize, n: usize) -> usize {
        self.chars_before[i + n] - self.chars_before[i]
    }
}

const BREAK_SEED: u64 = 0x6272_6561_6b00_0001;

fn char_len(word: &str) -> usize {
    if word.is_ascii() {
        word.len()
    } else {
        word.chars().count()
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
    /// 0 when that n-gram occurs fewer than `min_count` times.
    fn top_chars(&mut self, n: usize, min_count: u32) -> usize {
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
        if count < min_count {
            return 0;
        }
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
        let paras = duplicates(paragraphs(text.trim()).into_iter(), cfg.dup_min_words);
        let value = ratio(paras.repeats.len(), paras.total);
        if value > cfg.dup_para_frac {
            return Err(Failure::new("dup_para_frac", value, cfg.dup_para_frac));
        }
        let value = ratio(paras.chars, text_chars);
        if value > cfg.dup_para_char_frac {
            return Err(Failure::new(
                "dup_para_char_frac",
                value,
                cfg.dup_para_char_frac,
            ));
        }
        let lines = duplicates(
            analysis.pieces().iter().copied().filter(|l| !l.is_empty()),
            cfg.dup_min_words,
        );
        let value = ratio(lines.repeats.len(), lines.total);
        if value > cfg.dup_line_frac {
            return Err(Failure::new("dup_line_frac", value, cfg.dup_line_frac));
        }
        let value = ratio(lines.chars, text_chars);
        if value > cfg.dup_line_char_frac {
            return Err(Failure::new(
                "dup_line_char_frac",
                value,
                cfg.dup_line_char_frac,
            ));
        }
        let skipped: &[&str] = if cfg.n_grams_skip_repeated_lines {
            &lines.repeats
        } else {
            &[]
        };
        let words = HashedWords::skipping(text, analysis.words(), skipped);
        let mut scan = NGramScan::new(&words);
        for &(n, max) in &cfg.top_n_grams {
            let value = ratio(scan.top_chars(n, cfg.top_n_grams_min_count), text_chars);
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
        NGramScan::new(&HashedWords::new(words)).top_chars(n, 1)
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
        // No n-gram repeats: the first one, once; nothing when only repeats count.
        assert_eq!(top(&["a", "bb", "c", "dd"], 2), 4);
        let no_repeat = HashedWords::new(&["a", "bb", "c", "dd"]);
        assert_eq!(NGramScan::new(&no_repeat).top_chars(2, 2), 0);
        let repeat = HashedWords::new(&["a", "bb", "a", "bb"]);
        assert_eq!(NGramScan::new(&repeat).top_chars(2, 2), 8);
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
                    assert_eq!(scan.top_chars(n, 1), top, "top, n={n} {words:?}");
                    assert_eq!(scan.duplicate_chars(n), repeated, "dup, n={n} {words:?}");
                }
            }
        }
    }

    /// The built-in English settings with `extra` (TOML) laid over them.
    fn english_with(extra: &str) -> crate::filter::Thresholds {
        crate::filter::Thresholds::layered(&[("test".into(), extra.into())]).unwrap()
    }

    fn check(text: &str, thresholds: &crate::filter::Thresholds) -> Result<(), Failure> {
        GopherRepetition.check_analyzed(&TextAnalysis::new(text), thresholds.for_lang(Some("en")))
    }

    #[test]
    fn a_repeated_line_is_judged_by_the_line_rules_alone() {
        // A quotation file: every quotation is followed by the same 10-word attribution. Its
        // repeats are 5 of 30 lines and under 20 % of the characters, so the duplicate line
        // rules let it pass, but the attribution's repeated n-grams cover more than allowed.

        let quotes = [
            "Time is an illusion, and lunchtime doubly so, said the man\nwho had seen both kinds of clock and trusted neither of them\nwhen the bar was about to close on a Thursday\\nand the band had gone home without their drums",
            "The ships hung in the sky in much the same way\nthat bricks do not, which surprised everyone who looked up\nfrom the village green that morning in early spring\\nto find the weather forecast badly out of date",
            "For a moment, nothing happened, and then, after a second\nor so, nothing continued to happen in exactly the manner\nthat the committee had predicted at its last meeting\\nover a long lunch paid for by somebody else",
            "He felt that his whole life was some kind of dream\nand he sometimes wondered whose it was and whether\nthey were enjoying it more than he was at present\\nor had simply left it running by mistake",
            "The story so far begins with the creation of the universe\nwhich made a lot of people very angry and was widely\nregarded as a bad move by most of those consulted\\nincluding several who had not yet been born",
            "Far out in the uncharted backwaters of the western spiral\narm of the galaxy lies a small unregarded yellow sun\nthat nobody in the local cluster has bothered to visit\\nsince the tea shop on its third planet closed",
        ];
        let attribution = "-- Douglas Adams, The Hitchhiker's Guide to the Galaxy, 1979";
        let text: String = quotes
            .iter()
            .map(|q| format!("{q}\n{attribution}\n"))
            .collect();
        let published =
            english_with("[default.gopher_repetition]\nn_grams_skip_repeated_lines = false\n");
        let failure = check(&text, &published).unwrap_err();
        assert!(failure.reason.starts_with("duplicated_"), "{failure:?}");
        assert_eq!(check(&text, &english_with("")), Ok(()));
        // Repeats inside lines that differ are still n-gram repeats.
        let inline: String = quotes
            .iter()
            .enumerate()
            .map(|(i, q)| format!("{q} ({i}) {attribution}\n"))
            .collect();
        let failure = check(&inline, &english_with("")).unwrap_err();
        assert!(failure.reason.starts_with("duplicated_"), "{failure:?}");
    }

    #[test]
    fn skipped_lines_break_the_ngrams_around_them() {
        let text = "a b c\nrepeated line of words\nd e f\nrepeated line of words\ng h\n";
        let analysis = TextAnalysis::new(text);
        let at = text.rfind("repeated").unwrap();
        let repeat = &text[at..at + "repeated line of words".len()];
        let words = HashedWords::skipping(text, analysis.words(), &[repeat]);
        // a b c repeated line of words d e f <break> g h
        assert_eq!(words.len(), 13);
        assert_eq!(words.chars(0, 13), "abcrepeatedlineofwordsdefgh".len());
        let mut scan = NGramScan::new(&words);
        assert_eq!(scan.duplicate_chars(2), 0);
        // Without the skip the second copy repeats every 2-gram of the first.
        let whole = HashedWords::new(analysis.words());
        assert!(NGramScan::new(&whole).duplicate_chars(2) > 0);
    }

    #[test]
    fn a_text_that_repeats_nothing_has_no_top_ngram() {
        // Nine words, none repeated: datatrove's reading counts the first 2-gram (over 20 % of
        // the characters) as the most frequent one.
        let text = "Settings let you hide parts of the desktop today.";
        let datatrove = english_with("[default.gopher_repetition]\ntop_n_grams_min_count = 1\n");
        assert_eq!(check(text, &datatrove).unwrap_err().reason, "top_2_gram");
        assert_eq!(check(text, &english_with("")), Ok(()));
    }

    #[test]
    fn skipping_changes_nothing_where_no_line_repeats_and_never_panics() {
        let pieces = [
            "a b c d",
            "é ü ø",
            "字 字",
            "x",
            "",
            " ",
            "--",
            "a b c d e f",
            "\r",
        ];
        let published =
            english_with("[default.gopher_repetition]\nn_grams_skip_repeated_lines = false\n");
        let ours = english_with("");
        let mut state = 7u64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        for _ in 0..2000 {
            let lines: Vec<String> = (0..next(12))
                .map(|_| {
                    (0..1 + next(3))
                        .map(|_| pieces[next(pieces.len())])
                        .collect()
                })
                .collect();
            let text = lines.join(if next(2) == 0 { "\n" } else { "\n\n" });
            let analysis = TextAnalysis::new(&text);
            let skip = check(&text, &ours);
            let repeats = duplicates(
                analysis.pieces().iter().copied().filter(|l| !l.is_empty()),
                ours.for_lang(Some("en")).gopher_repetition.dup_min_words,
            )
            .repeats;
            if repeats.is_empty() {
                assert_eq!(skip, check(&text, &published), "{text:?}");
            }
        }
    }
}
