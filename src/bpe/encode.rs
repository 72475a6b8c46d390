//! The encoder: text to ids by rank-based byte-pair merging, as HF's BPE model with merges (and,
//! for vocabularies built by BPE training, as tiktoken).
//!
//! Per pre-token: a token whose own bytes encode to itself is looked up whole (most pieces);
//! other pieces merge their lowest-ranked adjacent pair, leftmost first, until none is left
//! ([`super::merge`], O(n log n) in the piece's length), and the result of a piece of at most
//! [`MAX_CACHED_PIECE`] bytes goes into a per-worker cache.

use super::merge::{MergeScratch, MergeTable};
use super::pattern::{PatternError, PreTokenizer, SearchCache};
use super::special::{Segment, SpecialSplitter};
use super::vocab::Vocabulary;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Bytes a [`Cache`] holds (piece bytes, ids and a per-entry estimate) before it starts over.
/// 32 MiB per worker keeps about 300,000 typical entries (pieces of 10-20 bytes), more than the
/// pieces that repeat within a batch of documents, while a run on 2-64 threads holds at most a
/// few GiB of caches in the worst case.
const CACHE_BYTES: usize = 32 << 20;

/// Longer pieces are merged every time they occur, not cached: a piece this long rarely
/// repeats, merging it costs about as much as copying it into the cache, and one huge piece
/// (a 10 MB run of letters) would otherwise evict everything else.
pub const MAX_CACHED_PIECE: usize = 4096;

/// Per-entry cost beyond the piece's bytes and ids: the map slot (box + vec headers) and two
/// heap allocations.
const ENTRY_OVERHEAD: usize = 80;

/// Per-thread state: results of merging for pieces that are not whole tokens, the merge loop's
/// scratch space and the pre-tokenizer's. Made by [`Encoder::cache`].
pub struct Cache {
    pieces: PieceCache,
    merge: MergeScratch,
    search: SearchCache,
}

/// Merged pieces, bounded in bytes.
#[derive(Default)]
struct PieceCache {
    ids: FxHashMap<Box<[u8]>, Vec<u32>>,
    bytes: usize,
}

impl PieceCache {
    fn insert(&mut self, piece: &[u8], ids: &[u32]) {
        if piece.len() > MAX_CACHED_PIECE {
            return;
        }
        let cost = piece.len() + 4 * ids.len() + ENTRY_OVERHEAD;
        if self.bytes + cost > CACHE_BYTES {
            self.ids.clear();
            self.bytes = 0;
        }
        self.ids.insert(piece.into(), ids.to_vec());
        self.bytes += cost;
    }
}

/// Encodes text with a vocabulary.
pub struct Encoder {
    vocab: Vocabulary,
    pre: PreTokenizer,
    specials: SpecialSplitter,
    special_ids: Vec<u32>,
    merges: MergeTable,
    /// Tokens whose bytes encode to exactly themselves.
    whole: WholeTokens,
}

/// Tokens whose bytes encode to exactly themselves, by bytes. Most pieces are found here, so
/// the short ones (nearly all) are keyed by their bytes packed into an integer: hashing and
/// comparing it touches no other memory (a boxed key costs a pointer chase and a `memcmp`).
#[derive(Default)]
struct WholeTokens {
    short: FxHashMap<u128, u32>,
    long: FxHashMap<Box<[u8]>, u32>,
}

/// Bytes of a piece that fit in a [`packed`] key (the last byte holds the length).
const PACKED_MAX: usize = 15;

/// `piece` (at most [`PACKED_MAX`] bytes) and its length in one integer, distinct for distinct
/// pieces.
fn packed(piece: &[u8]) -> u128 {
    let mut key = [0u8; 16];
    key[..piece.len()].copy_from_slice(piece);
    key[PACKED_MAX] = piece.len() as u8;
    u128::from_le_bytes(key)
}

impl WholeTokens {
    fn insert(&mut self, bytes: &[u8], id: u32) {
        if bytes.len() <= PACKED_MAX {
            self.short.insert(packed(bytes), id);
        } else {
            self.long.insert(bytes.into(), id);
        }
    }

    fn get(&self, piece: &[u8]) -> Option<u32> {
        if piece.len() <= PACKED_MAX {
            self.short.get(&packed(piece)).copied()
        } else {
            self.long.get(piece).copied()
        }
    }
}

impl Encoder {
    pub fn new(vocab: Vocabulary) -> Result<Self, PatternError> {
        let pre = PreTokenizer::new(vocab.pattern())?;
        let specials_list = vocab.specials();
        let specials = SpecialSplitter::new(
            &specials_list
                .iter()
                .map(|(s, _)| s.clone())
                .collect::<Vec<_>>(),
        );
        let special_ids = specials_list.iter().map(|(_, id)| *id).collect();
        let merges = MergeTable::new(&vocab);
        let mut encoder = Encoder {
            vocab,
            pre,
            specials,
            special_ids,
            merges,
            whole: WholeTokens::default(),
        };
        let whole: Vec<(&[u8], u32)> = encoder
            .vocab
            .bytes_to_id()
            .into_par_iter()
            .map_init(MergeScratch::default, |scratch, (bytes, id)| {
                (encoder.merges.merge(bytes, scratch) == [id]).then_some((bytes, id))
            })
            .filter_map(|whole| whole)
            .collect();
        let mut tokens = WholeTokens::default();
        for (bytes, id) in whole {
            tokens.insert(bytes, id);
        }
        encoder.whole = tokens;
        Ok(encoder)
    }

    /// Special-token strings in the text become plain text (bytes merged like any other), as
    /// GLM-4's tiktoken tokenizer does by default; otherwise they become their ids, as HF
    /// tokenizers does for the added tokens of a `tokenizer.json`.
    pub fn with_plain_specials(mut self) -> Self {
        self.specials = SpecialSplitter::default();
        self
    }

    pub fn vocab(&self) -> &Vocabulary {
        &self.vocab
    }

    pub fn pre_tokenizer(&self) -> &PreTokenizer {
        &self.pre
    }

    /// A fresh per-thread cache.
    pub fn cache(&self) -> Cache {
        Cache {
            pieces: PieceCache::default(),
            merge: MergeScratch::default(),
            search: self.pre.search_cache(),
        }
    }

    /// Appends the ids of one piece.
    fn encode_piece(
        &self,
        piece: &[u8],
        pieces: &mut PieceCache,
        scratch: &mut MergeScratch,
        out: &mut Vec<u32>,
    ) {
        if let Some(id) = self.whole.get(piece) {
            out.push(id);
            return;
        }
        if let Some(ids) = pieces.ids.get(piece) {
            out.extend_from_slice(ids);
            return;
        }
        let ids = self.merges.merge(piece, scratch);
        out.extend_from_slice(&ids);
        pieces.insert(piece, &ids);
    }

    /// Appends the ids of `text` to `out`; special tokens in the text become their ids.
    pub fn encode_into(&self, text: &str, cache: &mut Cache, out: &mut Vec<u32>) {
        self.specials
            .for_each_segment(text, |segment| match segment {
                Segment::Special(k) => out.push(self.special_ids[k]),
                Segment::Text(t) => {
                    for piece in self.pre.pieces_with(t, &mut cache.search) {
                        self.encode_piece(
                            piece.as_bytes(),
                            &mut cache.pieces,
                            &mut cache.merge,
                            out,
                        );
                    }
                }
            });
    }

    /// The ids of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut self.cache(), &mut out);
        out
    }

    /// Appends the ids of one pre-token given as bytes, as [`Encoder::encode_into`] would for
    /// that piece (no pre-tokenization, no special tokens): continued training starts from these.
    pub fn encode_word(&self, word: &[u8], cache: &mut Cache, out: &mut Vec<u32>) {
        self.encode_piece(word, &mut cache.pieces, &mut cache.merge, out);
    }

    /// The ids of each text, in parallel, in input order.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Vec<u32>> {
        texts
            .par_iter()
            .map_init(
                || self.cache(),
                |cache, t| {
                    let mut out = Vec::new();
                    self.encode_into(t.as_ref(), cache, &mut out);
                    out
                },
            )
            .collect()
    }

    /// The bytes of `ids` (None if an id is unknown).
    pub fn decode_bytes(&self, ids: &[u32]) -> Option<Vec<u8>> {
        self.vocab.decode(ids)
    }
}
