//! The encoder: text to ids by rank-based byte-pair merging, as HF's BPE model with merges (and,
//! for vocabularies built by BPE training, as tiktoken).
//!
//! Per pre-token: a token whose own bytes encode to itself is looked up whole (most pieces);
//! other pieces merge their lowest-ranked adjacent pair, leftmost first, until none is left,
//! and the result goes into a per-worker cache.

use super::pattern::{PatternError, PreTokenizer, SearchCache};
use super::special::{Segment, SpecialSplitter};
use super::vocab::Vocabulary;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Entries a [`Cache`] keeps before it starts over (bounds its memory).
const CACHE_LIMIT: usize = 1 << 17;

/// Per-thread state: results of merging for pieces that are not whole tokens, and the
/// pre-tokenizer's search scratch space. Made by [`Encoder::cache`].
pub struct Cache {
    pieces: FxHashMap<Box<[u8]>, Vec<u32>>,
    search: SearchCache,
}

/// Encodes text with a vocabulary.
pub struct Encoder {
    vocab: Vocabulary,
    pre: PreTokenizer,
    specials: SpecialSplitter,
    special_ids: Vec<u32>,
    byte_ids: [u32; 256],
    /// Pair `(left, right)` to `(rank, result)`.
    merges: FxHashMap<u64, (u32, u32)>,
    /// Tokens whose bytes encode to exactly themselves.
    whole: FxHashMap<Box<[u8]>, u32>,
}

fn pair(left: u32, right: u32) -> u64 {
    ((left as u64) << 32) | right as u64
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
        let byte_ids = vocab.byte_ids();
        let mut merges = FxHashMap::default();
        for (rank, m) in vocab.merges().iter().enumerate() {
            // A repeated pair keeps its later rank, as in HF's map built from the merges list.
            merges.insert(pair(m.left, m.right), (rank as u32, m.result));
        }
        let mut encoder = Encoder {
            vocab,
            pre,
            specials,
            special_ids,
            byte_ids,
            merges,
            whole: FxHashMap::default(),
        };
        let whole: FxHashMap<Box<[u8]>, u32> = encoder
            .vocab
            .bytes_to_id()
            .into_par_iter()
            .filter(|(bytes, id)| encoder.merge_piece(bytes) == [*id])
            .map(|(bytes, id)| (Box::from(bytes), id))
            .collect();
        encoder.whole = whole;
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
            pieces: FxHashMap::default(),
            search: self.pre.search_cache(),
        }
    }

    /// Merges the bytes of one piece.
    fn merge_piece(&self, bytes: &[u8]) -> Vec<u32> {
        let mut symbols: Vec<u32> = bytes.iter().map(|&b| self.byte_ids[b as usize]).collect();
        // ranks[i]: rank of the pair (symbols[i], symbols[i + 1]), u32::MAX when not a merge.
        let rank_of = |l: u32, r: u32| self.merges.get(&pair(l, r)).map_or((u32::MAX, 0), |&x| x);
        let mut ranks: Vec<(u32, u32)> = symbols.windows(2).map(|w| rank_of(w[0], w[1])).collect();
        while let Some((i, &(rank, result))) =
            ranks.iter().enumerate().min_by_key(|(i, (r, _))| (*r, *i))
        {
            if rank == u32::MAX {
                break;
            }
            symbols[i] = result;
            symbols.remove(i + 1);
            ranks.remove(i);
            if i > 0 {
                ranks[i - 1] = rank_of(symbols[i - 1], symbols[i]);
            }
            if i < ranks.len() {
                ranks[i] = rank_of(symbols[i], symbols[i + 1]);
            }
        }
        symbols
    }

    /// Appends the ids of one piece.
    fn encode_piece(
        &self,
        piece: &[u8],
        cache: &mut FxHashMap<Box<[u8]>, Vec<u32>>,
        out: &mut Vec<u32>,
    ) {
        if let Some(&id) = self.whole.get(piece) {
            out.push(id);
            return;
        }
        if let Some(ids) = cache.get(piece) {
            out.extend_from_slice(ids);
            return;
        }
        let ids = self.merge_piece(piece);
        out.extend_from_slice(&ids);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(piece.into(), ids);
    }

    /// Appends the ids of `text` to `out`; special tokens in the text become their ids.
    pub fn encode_into(&self, text: &str, cache: &mut Cache, out: &mut Vec<u32>) {
        self.specials
            .for_each_segment(text, |segment| match segment {
                Segment::Special(k) => out.push(self.special_ids[k]),
                Segment::Text(t) => {
                    for piece in self.pre.pieces_with(t, &mut cache.search) {
                        self.encode_piece(piece.as_bytes(), &mut cache.pieces, out);
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
        self.encode_piece(word, &mut cache.pieces, out);
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
