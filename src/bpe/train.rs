//! The BPE trainer: greedy pair merging over counted words, equal merge for merge to HF
//! tokenizers' `BpeTrainer` with a byte-level alphabet.
//!
//! HF's rules, which this follows exactly (see docs/bpe.md):
//! - ids: special tokens first (in the given order), then the 256 byte symbols ordered by the
//!   code point of their byte-level char, then each merged token when first created;
//! - pair counts are weighted by word count over overlapping windows; a word merges left to
//!   right without overlap;
//! - the most frequent pair wins, ties go to the smallest `(left id, right id)`;
//! - training stops when the vocabulary (specials and alphabet included) reaches the target size
//!   or the best count falls below `max(1, min_frequency)`;
//! - `max_token_length` (in bytes) only stops pairs created by merges from being counted.
//!
//! One deliberate difference: counts are 64-bit; HF's pair counts are `i32` and wrap past 2^31.
//!
//! The merge loop ([`run_merges`]) starts from any token table and word segmentation: [`train`]
//! gives it the byte alphabet and words as bytes, [`super::grow::extend`] an existing
//! vocabulary's tokens and words as that vocabulary encodes them.

use super::byte_level;
use super::count::WordCounts;
use super::vocab::{Merge, Token, Vocabulary};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainerConfig {
    /// Target size of the vocabulary, specials and the 256 byte symbols included.
    pub vocab_size: usize,
    /// Pairs seen fewer times are never merged.
    pub min_frequency: u64,
    pub special_tokens: Vec<String>,
    /// Longest token, in bytes, a merge may create (none: no limit).
    pub max_token_length: Option<usize>,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            vocab_size: 32_000,
            min_frequency: 0,
            special_tokens: vec![],
            max_token_length: None,
        }
    }
}

type Pair = u64;

fn pair(left: u32, right: u32) -> Pair {
    ((left as u64) << 32) | right as u64
}

fn split(p: Pair) -> (u32, u32) {
    ((p >> 32) as u32, p as u32)
}

/// The words as one flat symbol array: word `i` is `symbols[start[i]..start[i] + len[i]]`.
/// A merge shortens a word in place.
pub(crate) struct Words {
    symbols: Vec<u32>,
    start: Vec<usize>,
    len: Vec<u32>,
    count: Vec<u64>,
}

/// What merging one pair in a set of words changed.
#[derive(Default)]
struct Changes {
    /// Count change per pair.
    delta: FxHashMap<Pair, i64>,
    /// Words where each pair was newly formed (HF's `where_to_update`).
    formed: FxHashMap<Pair, Vec<u32>>,
}

impl Changes {
    fn absorb(&mut self, other: Changes) {
        for (p, d) in other.delta {
            *self.delta.entry(p).or_insert(0) += d;
        }
        for (p, words) in other.formed {
            self.formed.entry(p).or_default().extend(words);
        }
    }
}

/// Merges `(a, b)` into `new` in one word, left to right without overlap, recording the pair
/// changes exactly as HF's `Word::merge` emits them.
#[allow(clippy::too_many_arguments)]
fn merge_word(
    symbols: &mut [u32],
    a: u32,
    b: u32,
    new: u32,
    token_len: &[u32],
    max_len: usize,
    word: u32,
    count: i64,
    changes: &mut Changes,
) -> usize {
    let n = symbols.len();
    let new_len = token_len[new as usize] as usize;
    let (mut r, mut w) = (0, 0);
    let formed = |changes: &mut Changes, p: Pair| {
        *changes.delta.entry(p).or_insert(0) += count;
        let list = changes.formed.entry(p).or_default();
        if list.last() != Some(&word) {
            list.push(word);
        }
    };
    while r < n {
        if r + 1 < n && symbols[r] == a && symbols[r + 1] == b {
            if w > 0 {
                let prev = symbols[w - 1];
                *changes.delta.entry(pair(prev, a)).or_insert(0) -= count;
                if token_len[prev as usize] as usize + new_len < max_len {
                    formed(changes, pair(prev, new));
                }
            }
            if r + 2 < n {
                let next = symbols[r + 2];
                *changes.delta.entry(pair(b, next)).or_insert(0) -= count;
                if token_len[next as usize] as usize + new_len < max_len {
                    formed(changes, pair(new, next));
                }
            }
            symbols[w] = new;
            w += 1;
            r += 2;
        } else {
            symbols[w] = symbols[r];
            w += 1;
            r += 1;
        }
    }
    w
}

/// The tokens training works with: HF strings (byte-level chars for bytes, specials as they are)
/// by id, the id of each string, and each token's length in bytes as built by merges (HF's
/// `Symbol::len`).
pub(crate) struct TokenTable {
    pub names: Vec<String>,
    pub ids: FxHashMap<String, u32>,
    pub token_len: Vec<u32>,
}

impl TokenTable {
    /// Adds a token (or finds the existing one with the same string); returns its id.
    pub fn intern(&mut self, name: String, len: u32) -> u32 {
        if let Some(&id) = self.ids.get(&name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.clone(), id);
        self.names.push(name);
        self.token_len.push(len);
        id
    }
}

/// What a merge does when the string it would create is already a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExisting {
    /// Merge into the existing id (HF's trainer).
    Reuse,
    /// Leave the pair unmerged: continuing a vocabulary adds new tokens only, and a rank file
    /// cannot hold a second way to build an existing token.
    Skip,
}

/// When the merge loop stops and what it may create.
pub(crate) struct MergeRules {
    /// Stop when the table holds this many tokens.
    pub table_size: usize,
    pub min_frequency: u64,
    /// Longest token (bytes) whose pairs are counted after a merge (`usize::MAX`: no limit).
    pub max_len: usize,
    pub on_existing: OnExisting,
}

/// What the merge loop produced.
pub(crate) struct MergeOutcome {
    pub merges: Vec<Merge>,
    /// Distinct pairs left unmerged because their token already existed ([`OnExisting::Skip`]).
    pub skipped_existing: usize,
}

impl Words {
    pub(crate) fn with_capacity(words: usize, symbols: usize) -> Self {
        Words {
            symbols: Vec::with_capacity(symbols),
            start: Vec::with_capacity(words),
            len: Vec::with_capacity(words),
            count: Vec::with_capacity(words),
        }
    }

    pub(crate) fn push(&mut self, symbols: &[u32], count: u64) {
        self.start.push(self.symbols.len());
        self.len.push(symbols.len() as u32);
        self.count.push(count);
        self.symbols.extend_from_slice(symbols);
    }
}

/// Trains a vocabulary on counted words. `pattern` (a preset name such as `glm4`, or a regex) is
/// recorded in the vocabulary as the regex it stands for.
pub fn train(counts: &WordCounts, config: &TrainerConfig, pattern: &str) -> Vocabulary {
    // 1. Ids: specials, then the byte alphabet in code point order of its byte-level chars.
    let mut table = TokenTable {
        names: Vec::with_capacity(config.vocab_size),
        ids: FxHashMap::default(),
        token_len: Vec::with_capacity(config.vocab_size),
    };
    let mut special_ids = Vec::new();
    for s in &config.special_tokens {
        if !table.ids.contains_key(s) {
            special_ids.push(table.intern(s.clone(), 1));
        }
    }
    let mut byte_id = [0u32; 256];
    for &b in byte_level::alphabet_order() {
        byte_id[b as usize] = table.intern(byte_level::byte_to_char(b).to_string(), 1);
    }

    // 2. Words in byte order (word indices do not affect the result, but a fixed order keeps
    //    runs reproducible to the byte).
    let sorted = counts.sorted();
    let total: usize = sorted.iter().map(|(w, _)| w.len()).sum();
    let mut words = Words::with_capacity(sorted.len(), total);
    let mut symbols = Vec::new();
    for (w, c) in &sorted {
        symbols.clear();
        symbols.extend(w.iter().map(|&b| byte_id[b as usize]));
        words.push(&symbols, *c);
    }
    drop(sorted);

    let rules = MergeRules {
        table_size: config.vocab_size,
        min_frequency: config.min_frequency,
        max_len: config.max_token_length.unwrap_or(usize::MAX),
        on_existing: OnExisting::Reuse,
    };
    let outcome = run_merges(&mut table, words, &rules);

    let tokens = table
        .names
        .into_iter()
        .enumerate()
        .map(|(id, name)| {
            if special_ids.contains(&(id as u32)) {
                Token::Special(name)
            } else {
                Token::Bytes(byte_level::decode_str(&name).expect("merged byte-level names decode"))
            }
        })
        .collect();
    Vocabulary::new(
        super::pattern::resolve(pattern).to_string(),
        tokens,
        outcome.merges,
    )
    .expect("a trained vocabulary is consistent")
}

/// The merge loop: counts pairs over `words` (each a sequence of ids of `table`), then merges the
/// most frequent pair, ties to the smallest `(left id, right id)`, until `rules` stop it. New
/// tokens are added to `table`.
pub(crate) fn run_merges(
    table: &mut TokenTable,
    mut words: Words,
    rules: &MergeRules,
) -> MergeOutcome {
    // Initial pair counts over overlapping windows, and the words each pair occurs in.
    let chunk = 1 << 14;
    let (mut pair_counts, mut pair_words) = (0..words.len.len())
        .into_par_iter()
        .chunks(chunk)
        .map(|chunk_words| {
            let mut counts: FxHashMap<Pair, i64> = FxHashMap::default();
            let mut where_: FxHashMap<Pair, Vec<u32>> = FxHashMap::default();
            for i in chunk_words {
                let s = &words.symbols[words.start[i]..words.start[i] + words.len[i] as usize];
                for win in s.windows(2) {
                    let p = pair(win[0], win[1]);
                    *counts.entry(p).or_insert(0) += words.count[i] as i64;
                    let list = where_.entry(p).or_default();
                    if list.last() != Some(&(i as u32)) {
                        list.push(i as u32);
                    }
                }
            }
            (counts, where_)
        })
        .reduce(
            || (FxHashMap::default(), FxHashMap::default()),
            |(mut ca, mut wa), (cb, wb)| {
                for (p, c) in cb {
                    *ca.entry(p).or_insert(0) += c;
                }
                for (p, w) in wb {
                    wa.entry(p).or_default().extend(w);
                }
                (ca, wa)
            },
        );
    let mut queue: BinaryHeap<(u64, Reverse<Pair>)> = pair_counts
        .iter()
        .filter(|(_, &c)| c > 0)
        .map(|(&p, &c)| (c as u64, Reverse(p)))
        .collect();

    // Merge until the table is full.
    let max_len = rules.max_len;
    let mut merges = Vec::new();
    let mut skipped = rustc_hash::FxHashSet::default();
    while table.names.len() < rules.table_size {
        let Some((count, Reverse(top))) = queue.pop() else {
            break;
        };
        let current = pair_counts.get(&top).copied().unwrap_or(0);
        if count as i64 != current {
            if current > 0 {
                queue.push((current as u64, Reverse(top)));
            }
            continue;
        }
        if count < 1 || rules.min_frequency > count {
            break;
        }
        let (a, b) = split(top);
        let name = format!("{}{}", table.names[a as usize], table.names[b as usize]);
        if rules.on_existing == OnExisting::Skip && table.ids.contains_key(&name) {
            // Never merged: its count no longer matters, nor where it occurs.
            skipped.insert(top);
            pair_counts.remove(&top);
            pair_words.remove(&top);
            continue;
        }
        let len = table.token_len[a as usize] + table.token_len[b as usize];
        let new = table.intern(name, len);
        merges.push(Merge {
            left: a,
            right: b,
            result: new,
        });

        let mut targets = pair_words.remove(&top).unwrap_or_default();
        let changes = merge_words(
            &mut words,
            &mut targets,
            a,
            b,
            new,
            &table.token_len,
            max_len,
        );
        let dead = |p: &Pair| !skipped.is_empty() && skipped.contains(p);
        for (p, d) in changes.delta {
            if dead(&p) {
                continue;
            }
            *pair_counts.entry(p).or_insert(0) += d;
        }
        for (p, formed) in changes.formed {
            if dead(&p) {
                continue;
            }
            pair_words.entry(p).or_default().extend(formed);
            let c = pair_counts[&p];
            if c > 0 {
                queue.push((c as u64, Reverse(p)));
            }
        }
    }
    MergeOutcome {
        merges,
        skipped_existing: skipped.len(),
    }
}

/// Below this many target words a merge runs on one thread.
const PARALLEL_MERGE_MIN: usize = 4096;

/// Merges `(a, b)` in the listed words (in parallel when there are many).
fn merge_words(
    words: &mut Words,
    targets: &mut Vec<u32>,
    a: u32,
    b: u32,
    new: u32,
    token_len: &[u32],
    max_len: usize,
) -> Changes {
    if targets.len() < PARALLEL_MERGE_MIN {
        let mut changes = Changes::default();
        for &i in targets.iter() {
            let (start, len) = (words.start[i as usize], words.len[i as usize] as usize);
            let count = words.count[i as usize] as i64;
            let s = &mut words.symbols[start..start + len];
            words.len[i as usize] =
                merge_word(s, a, b, new, token_len, max_len, i, count, &mut changes) as u32;
        }
        return changes;
    }
    // Each word is touched by exactly one task: the list is made unique first, and words occupy
    // disjoint ranges of `symbols`, so the raw pointers below never alias.
    targets.sort_unstable();
    targets.dedup();
    struct Shared(*mut u32, *mut u32);
    unsafe impl Sync for Shared {}
    let shared = Shared(words.symbols.as_mut_ptr(), words.len.as_mut_ptr());
    let (start, count) = (&words.start, &words.count);
    let shared = &shared;
    targets
        .par_chunks(1024)
        .map(|chunk| {
            let mut changes = Changes::default();
            for &i in chunk {
                let i_us = i as usize;
                // SAFETY: `i` is unique among all tasks (see above) and in bounds (a word index).
                unsafe {
                    let len_ptr = shared.1.add(i_us);
                    let s = std::slice::from_raw_parts_mut(
                        shared.0.add(start[i_us]),
                        *len_ptr as usize,
                    );
                    *len_ptr = merge_word(
                        s,
                        a,
                        b,
                        new,
                        token_len,
                        max_len,
                        i,
                        count[i_us] as i64,
                        &mut changes,
                    ) as u32;
                }
            }
            changes
        })
        .reduce(Changes::default, |mut x, y| {
            x.absorb(y);
            x
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts past 2^31 (where HF's `i32` pair counts wrap) and past 2^32 keep their order.
    #[test]
    fn counts_beyond_32_bits_keep_their_order() {
        let mut counts = WordCounts::new();
        counts.add(b"ab", 5_000_000_000);
        counts.add(b"cd", 3_000_000_000);
        counts.add(b"ef", 2_200_000_000);
        counts.add(b"gh", 7);
        let config = TrainerConfig {
            vocab_size: 256 + 4,
            ..Default::default()
        };
        let vocab = train(&counts, &config, "glm4");
        let made: Vec<&[u8]> = vocab
            .merges()
            .iter()
            .map(|m| vocab.token(m.result).unwrap().bytes())
            .collect();
        assert_eq!(made, [&b"ab"[..], b"cd", b"ef", b"gh"]);
    }

    /// A preset name is recorded as the regex it stands for, so that the vocabulary's files
    /// pre-tokenize as training did.
    #[test]
    fn a_preset_name_is_recorded_as_its_regex() {
        let mut counts = WordCounts::new();
        counts.add(b"ab", 3);
        let config = TrainerConfig {
            vocab_size: 257,
            ..Default::default()
        };
        let vocab = train(&counts, &config, "glm4");
        assert_eq!(vocab.pattern(), crate::bpe::pattern::GLM4);
        assert_ne!(vocab.pattern(), "glm4");
    }
}
