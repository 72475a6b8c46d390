//! Merging the bytes of one piece into token ids: the adjacent pair of lowest rank merges first,
//! the leftmost of equal ranks first, until no adjacent pair is a merge (HF's BPE model).
//!
//! Two ways to the same result. Short pieces rescan a small array for the best pair at every
//! merge: quadratic, but with no setup it is the fastest up to [`SHORT_PIECE`] bytes. Longer
//! pieces keep their symbols in a linked list over byte positions and the candidate pairs in a
//! min-heap keyed by `(rank, position)`, as HF tokenizers' `Word::merge_all` does: each merge
//! costs O(log n) and pushes at most two pairs, so a piece of n bytes takes O(n log n), whatever
//! its content (a 10 MB run of letters is one piece). A heap entry whose pair has changed since
//! it was pushed is skipped when popped: the pair at a position only ever changes into one whose
//! bytes are longer, so "the rank stored for that position is still this one" says it is current.

use super::vocab::Vocabulary;
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Pieces up to this many bytes merge by rescanning. Measured (`time_both_loops_by_piece_length`,
/// release build, letter runs of English and Chinese text): the rescan takes 20-30% less time
/// than the heap at 4-16 chars, the heap half the time from 32 chars (32-96 bytes) on.
const SHORT_PIECE: usize = 32;

/// Scratch space for up to this many bytes is kept between pieces; after a longer piece it is
/// freed (about 24 bytes per byte of the piece: a 10 MB piece needs 240 MB while it merges).
const SCRATCH_KEPT: usize = 1 << 16;

/// No pair (or no merge) at this position.
const NONE: u32 = u32::MAX;

/// The merges of a vocabulary, as the merge loops look them up.
pub(super) struct MergeTable {
    byte_ids: [u32; 256],
    /// Pair `(left, right)` to its rank; a repeated pair keeps its later rank, as in HF's map
    /// built from the merges list.
    ranks: FxHashMap<u64, u32>,
    /// Rank to the token it produces.
    results: Vec<u32>,
}

fn pair(left: u32, right: u32) -> u64 {
    ((left as u64) << 32) | right as u64
}

/// Reusable scratch space of the heap merge (one per worker thread).
#[derive(Default)]
pub struct MergeScratch {
    /// Token starting at each byte position (meaningful while the position is live).
    symbols: Vec<u32>,
    /// Next and previous live positions (`NONE` at the ends).
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Rank of the pair starting at each position: `NONE` when it is not a merge, has no right
    /// neighbour, or the position was merged into its left neighbour.
    rank: Vec<u32>,
    /// Candidate pairs `(rank, position)`, smallest first; some are stale.
    heap: BinaryHeap<Reverse<(u32, u32)>>,
}

impl MergeTable {
    pub(super) fn new(vocab: &Vocabulary) -> Self {
        let merges = vocab.merges();
        let mut ranks = FxHashMap::default();
        ranks.reserve(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            ranks.insert(pair(m.left, m.right), rank as u32);
        }
        MergeTable {
            byte_ids: vocab.byte_ids(),
            ranks,
            results: merges.iter().map(|m| m.result).collect(),
        }
    }

    fn rank(&self, left: u32, right: u32) -> u32 {
        self.ranks.get(&pair(left, right)).copied().unwrap_or(NONE)
    }

    /// The ids of one piece.
    pub(super) fn merge(&self, bytes: &[u8], scratch: &mut MergeScratch) -> Vec<u32> {
        // Positions are u32 (half the scratch memory of usize); a longer piece would need a
        // single document of 4 GiB without a break in its letters.
        if bytes.len() <= SHORT_PIECE || bytes.len() >= NONE as usize {
            self.merge_by_rescan(bytes)
        } else {
            self.merge_by_heap(bytes, scratch)
        }
    }

    /// Quadratic: finds the best pair by scanning all of them at every merge.
    pub(super) fn merge_by_rescan(&self, bytes: &[u8]) -> Vec<u32> {
        let mut symbols: Vec<u32> = bytes.iter().map(|&b| self.byte_ids[b as usize]).collect();
        // ranks[i]: rank of the pair (symbols[i], symbols[i + 1]).
        let mut ranks: Vec<u32> = symbols.windows(2).map(|w| self.rank(w[0], w[1])).collect();
        while let Some((i, &rank)) = ranks.iter().enumerate().min_by_key(|(i, r)| (**r, *i)) {
            if rank == NONE {
                break;
            }
            symbols[i] = self.results[rank as usize];
            symbols.remove(i + 1);
            ranks.remove(i);
            if i > 0 {
                ranks[i - 1] = self.rank(symbols[i - 1], symbols[i]);
            }
            if i < ranks.len() {
                ranks[i] = self.rank(symbols[i], symbols[i + 1]);
            }
        }
        symbols
    }

    /// O(n log n): linked list of live positions and a heap of candidate pairs.
    pub(super) fn merge_by_heap(&self, bytes: &[u8], s: &mut MergeScratch) -> Vec<u32> {
        let n = bytes.len();
        if n == 0 {
            return Vec::new();
        }
        s.symbols.clear();
        s.symbols
            .extend(bytes.iter().map(|&b| self.byte_ids[b as usize]));
        s.next.clear();
        s.next.extend(1..=n as u32);
        s.next[n - 1] = NONE;
        s.prev.clear();
        s.prev.push(NONE);
        s.prev.extend(0..n as u32 - 1);
        s.rank.clear();
        s.rank
            .extend(s.symbols.windows(2).map(|w| self.rank(w[0], w[1])));
        s.rank.push(NONE);
        let mut heap = std::mem::take(&mut s.heap).into_vec();
        heap.clear();
        heap.extend(
            s.rank
                .iter()
                .enumerate()
                .filter(|(_, &r)| r != NONE)
                .map(|(i, &r)| Reverse((r, i as u32))),
        );
        let mut heap = BinaryHeap::from(heap); // O(n) heapify

        while let Some(Reverse((rank, at))) = heap.pop() {
            let i = at as usize;
            if s.rank[i] != rank {
                continue; // stale: the pair at `i` changed (or `i` was merged away)
            }
            // Merge the pair at `i`: its right symbol leaves the list.
            let right = s.next[i] as usize;
            s.symbols[i] = self.results[rank as usize];
            s.rank[right] = NONE;
            let after = s.next[right];
            s.next[i] = after;
            if after != NONE {
                s.prev[after as usize] = at;
            }
            // The pairs on both sides of the new symbol changed.
            s.rank[i] = match after {
                NONE => NONE,
                a => self.rank(s.symbols[i], s.symbols[a as usize]),
            };
            if s.rank[i] != NONE {
                heap.push(Reverse((s.rank[i], at)));
            }
            let before = s.prev[i];
            if before != NONE {
                let b = before as usize;
                s.rank[b] = self.rank(s.symbols[b], s.symbols[i]);
                if s.rank[b] != NONE {
                    heap.push(Reverse((s.rank[b], before)));
                }
            }
        }
        s.heap = heap;

        let mut ids = Vec::new();
        let mut at = 0;
        while at != NONE {
            ids.push(s.symbols[at as usize]);
            at = s.next[at as usize];
        }
        if n > SCRATCH_KEPT {
            *s = MergeScratch::default();
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpe::{train, TrainerConfig, WordCounts};

    /// A small deterministic generator (xorshift64*), enough to vary test pieces.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }
    }

    fn vocab_from(words: &[(&[u8], u64)], merges: usize) -> Vocabulary {
        let mut counts = WordCounts::new();
        for (w, c) in words {
            counts.add(w, *c);
        }
        let config = TrainerConfig {
            vocab_size: 256 + merges,
            ..Default::default()
        };
        train(&counts, &config, "glm4")
    }

    /// Both merge loops agree on random pieces from small alphabets, of every length up to a
    /// few thousand bytes, on a vocabulary trained on the same kind of text.
    #[test]
    fn heap_merge_equals_rescan_on_random_pieces() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for alphabet in [&b"ab"[..], b"acgt", b"abcdefgh", b"a "] {
            let mut counts = vec![];
            let words: Vec<Vec<u8>> = (0..200)
                .map(|_| {
                    let len = 1 + rng.below(12);
                    (0..len)
                        .map(|_| alphabet[rng.below(alphabet.len())])
                        .collect()
                })
                .collect();
            for w in &words {
                counts.push((&w[..], 1 + rng.below(50) as u64));
            }
            let vocab = vocab_from(&counts, 300);
            assert!(
                vocab.merges().len() > 100,
                "a vocabulary with merges to apply"
            );
            let table = MergeTable::new(&vocab);
            let mut scratch = MergeScratch::default();
            for round in 0..200 {
                let len = if round % 20 == 0 {
                    rng.below(2000)
                } else {
                    rng.below(80)
                };
                let piece: Vec<u8> = (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect();
                assert_eq!(
                    table.merge_by_heap(&piece, &mut scratch),
                    table.merge_by_rescan(&piece),
                    "{:?}",
                    String::from_utf8_lossy(&piece)
                );
            }
        }
    }

    /// A pair listed twice merges at its later rank in both loops, and two pairs that make the
    /// same token are told apart.
    #[test]
    fn repeated_pairs_and_shared_results() {
        let base = vocab_from(&[(b"ab", 1)], 0);
        let id = |b: u8| base.byte_ids()[b as usize];
        let mut tokens = base.tokens().to_vec();
        let mut add = |bytes: &[u8]| {
            tokens.push(super::super::vocab::Token::Bytes(bytes.to_vec()));
            tokens.len() as u32 - 1
        };
        let (ab, bc, abc) = (add(b"ab"), add(b"bc"), add(b"abc"));
        use super::super::vocab::Merge;
        let merges = vec![
            Merge {
                left: id(b'a'),
                right: id(b'b'),
                result: ab,
            },
            Merge {
                left: id(b'b'),
                right: id(b'c'),
                result: bc,
            },
            // (a, b) again: its rank is now 2, after (b, c).
            Merge {
                left: id(b'a'),
                right: id(b'b'),
                result: ab,
            },
            Merge {
                left: id(b'a'),
                right: bc,
                result: abc,
            },
            Merge {
                left: ab,
                right: id(b'c'),
                result: abc,
            },
        ];
        let vocab = Vocabulary::new("glm4".into(), tokens, merges).unwrap();
        let table = MergeTable::new(&vocab);
        let mut scratch = MergeScratch::default();
        for piece in [&b"abc"[..], b"abcabc", b"ababcbc", b"cabcab"] {
            let long: Vec<u8> = piece.repeat(40);
            for p in [piece, &long[..]] {
                assert_eq!(
                    table.merge_by_heap(p, &mut scratch),
                    table.merge_by_rescan(p)
                );
            }
        }
        // (b, c) at rank 1 goes before (a, b) at rank 2, then (a, bc) gives abc.
        assert_eq!(table.merge_by_heap(b"abc", &mut scratch), [abc]);
        assert_eq!(table.merge_by_heap(b"abab", &mut scratch), [ab, ab]);
    }

    /// Where the rescan stops paying: both loops on letter runs of each length cut from English
    /// and Chinese text, with a vocabulary trained on that text. Prints ns per piece; asserts
    /// nothing about time. `cargo test --release --lib bpe::merge -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn time_both_loops_by_piece_length() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bpe");
        let text = std::fs::read_to_string(dir.join("en.txt")).unwrap()
            + &std::fs::read_to_string(dir.join("zh.jsonl")).unwrap();
        let pre = crate::bpe::PreTokenizer::new("glm4").unwrap();
        let mut counts = WordCounts::new();
        crate::bpe::WordCounter::new(&pre).count_batch(&[&text], &mut counts);
        let vocab = train(
            &counts,
            &TrainerConfig {
                vocab_size: 8000,
                ..Default::default()
            },
            "glm4",
        );
        let table = MergeTable::new(&vocab);
        let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
        let mut scratch = MergeScratch::default();
        for len in [4, 8, 16, 32, 48, 64, 96, 128, 256, 1024] {
            let pieces: Vec<Vec<u8>> = letters
                .chunks(len)
                .take(2000)
                .map(|c| c.iter().collect::<String>().into_bytes())
                .filter(|p| p.len() >= len)
                .collect();
            let time = |f: &mut dyn FnMut(&[u8]) -> usize| {
                let mut best = f64::MAX;
                for _ in 0..5 {
                    let start = std::time::Instant::now();
                    let ids: usize = pieces.iter().map(|p| f(p)).sum();
                    std::hint::black_box(ids);
                    best = best.min(start.elapsed().as_secs_f64());
                }
                best * 1e9 / pieces.len() as f64
            };
            let rescan = time(&mut |p| table.merge_by_rescan(p).len());
            let heap = time(&mut |p| table.merge_by_heap(p, &mut scratch).len());
            eprintln!("{len:5} bytes: rescan {rescan:9.0} ns, heap {heap:9.0} ns per piece");
        }
    }
}
