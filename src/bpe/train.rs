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
struct Words {
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

/// Trains a vocabulary on counted words.
pub fn train(counts: &WordCounts, config: &TrainerConfig, pattern: &str) -> Vocabulary {
    // 1. Ids: specials, then the byte alphabet in code point order of its byte-level chars.
    let mut names: Vec<String> = Vec::with_capacity(config.vocab_size);
    let mut ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut special_ids = Vec::new();
    for s in &config.special_tokens {
        if !ids.contains_key(s) {
            ids.insert(s.clone(), names.len() as u32);
            special_ids.push(names.len() as u32);
            names.push(s.clone());
        }
    }
    let mut byte_id = [0u32; 256];
    for &b in byte_level::alphabet_order() {
        let name = byte_level::byte_to_char(b).to_string();
        let id = *ids.entry(name.clone()).or_insert_with(|| {
            names.push(name);
            names.len() as u32 - 1
        });
        byte_id[b as usize] = id;
    }
    // Length in bytes of each token as built by merges (HF's `Symbol::len`).
    let mut token_len: Vec<u32> = vec![1; names.len()];

    // 2. Words in byte order (word indices do not affect the result, but a fixed order keeps
    //    runs reproducible to the byte).
    let sorted = counts.sorted();
    let total: usize = sorted.iter().map(|(w, _)| w.len()).sum();
    let mut words = Words {
        symbols: Vec::with_capacity(total),
        start: Vec::with_capacity(sorted.len()),
        len: Vec::with_capacity(sorted.len()),
        count: Vec::with_capacity(sorted.len()),
    };
    for (w, c) in &sorted {
        words.start.push(words.symbols.len());
        words.len.push(w.len() as u32);
        words.count.push(*c);
        words.symbols.extend(w.iter().map(|&b| byte_id[b as usize]));
    }
    drop(sorted);

    // 3. Initial pair counts over overlapping windows, and the words each pair occurs in.
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

    // 4. Merge until the vocabulary is full.
    let max_len = config.max_token_length.unwrap_or(usize::MAX);
    let mut merges = Vec::new();
    while ids.len() < config.vocab_size {
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
        if count < 1 || config.min_frequency > count {
            break;
        }
        let (a, b) = split(top);
        let name = format!("{}{}", names[a as usize], names[b as usize]);
        let new = match ids.get(&name) {
            Some(&id) => id,
            None => {
                let id = names.len() as u32;
                ids.insert(name.clone(), id);
                names.push(name);
                token_len.push(token_len[a as usize] + token_len[b as usize]);
                id
            }
        };
        merges.push(Merge {
            left: a,
            right: b,
            result: new,
        });

        let mut targets = pair_words.remove(&top).unwrap_or_default();
        let changes = merge_words(&mut words, &mut targets, a, b, new, &token_len, max_len);
        for (p, d) in changes.delta {
            *pair_counts.entry(p).or_insert(0) += d;
        }
        for (p, formed) in changes.formed {
            pair_words.entry(p).or_default().extend(formed);
            let c = pair_counts[&p];
            if c > 0 {
                queue.push((c as u64, Reverse(p)));
            }
        }
    }

    let tokens = names
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
    Vocabulary::new(pattern.to_string(), tokens, merges)
        .expect("a trained vocabulary is consistent")
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
}
