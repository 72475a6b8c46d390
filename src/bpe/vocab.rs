//! A byte-level BPE vocabulary: the tokens by id, the merges by rank, the special tokens and the
//! pre-tokenization pattern. Trained by [`super::train`](mod@super::train), read and written by [`super::formats`],
//! used by [`super::encode`].

use super::byte_level;
use rustc_hash::FxHashMap;

/// One entry of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Token {
    /// A byte sequence produced by BPE.
    Bytes(Vec<u8>),
    /// A special token, matched literally in text and never produced by merges.
    Special(String),
}

impl Token {
    /// The token as HF writes it in `tokenizer.json` (byte-level chars for bytes).
    pub fn hf_string(&self) -> String {
        match self {
            Token::Bytes(b) => byte_level::encode_bytes(b),
            Token::Special(s) => s.clone(),
        }
    }

    /// The bytes this token decodes to.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Token::Bytes(b) => b,
            Token::Special(s) => s.as_bytes(),
        }
    }
}

/// A merge: `left` and `right` next to each other become `result`. Its rank is its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub left: u32,
    pub right: u32,
    pub result: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("byte {0:#04x} has no single-byte token; a byte-level vocabulary needs all 256")]
    MissingByte(u8),
    #[error("merge {rank} refers to id {id}, which is not in the vocabulary")]
    UnknownId { rank: usize, id: u32 },
    #[error("merge {rank} ({left} + {right}) does not produce a known token")]
    UnknownMergeResult {
        rank: usize,
        left: String,
        right: String,
    },
}

/// A byte-level BPE vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    pattern: String,
    tokens: Vec<Token>,
    merges: Vec<Merge>,
}

impl Vocabulary {
    /// Checks that all 256 bytes have a token and every merge refers to known ids.
    pub fn new(
        pattern: String,
        tokens: Vec<Token>,
        merges: Vec<Merge>,
    ) -> Result<Self, VocabError> {
        let vocab = Vocabulary {
            pattern,
            tokens,
            merges,
        };
        let ids = vocab.byte_ids();
        if let Some(b) = (0..=255u8).find(|&b| ids[b as usize] == u32::MAX) {
            return Err(VocabError::MissingByte(b));
        }
        for (rank, m) in vocab.merges.iter().enumerate() {
            for id in [m.left, m.right, m.result] {
                if vocab.tokens.get(id as usize).is_none() {
                    return Err(VocabError::UnknownId { rank, id });
                }
            }
        }
        Ok(vocab)
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn token(&self, id: u32) -> Option<&Token> {
        self.tokens.get(id as usize)
    }

    /// The special tokens as `(content, id)`, in id order.
    pub fn specials(&self) -> Vec<(String, u32)> {
        self.tokens
            .iter()
            .enumerate()
            .filter_map(|(id, t)| match t {
                Token::Special(s) => Some((s.clone(), id as u32)),
                Token::Bytes(_) => None,
            })
            .collect()
    }

    /// The id of each single byte (`u32::MAX` where missing).
    pub fn byte_ids(&self) -> [u32; 256] {
        let mut ids = [u32::MAX; 256];
        for (id, t) in self.tokens.iter().enumerate() {
            if let Token::Bytes(b) = t {
                if b.len() == 1 && ids[b[0] as usize] == u32::MAX {
                    ids[b[0] as usize] = id as u32;
                }
            }
        }
        ids
    }

    /// Map from token bytes to id, for the BPE tokens (not the specials).
    pub fn bytes_to_id(&self) -> FxHashMap<&[u8], u32> {
        let mut map = FxHashMap::default();
        for (id, t) in self.tokens.iter().enumerate() {
            if let Token::Bytes(b) = t {
                map.entry(b.as_slice()).or_insert(id as u32);
            }
        }
        map
    }

    /// The bytes of a sequence of ids (specials as their text).
    pub fn decode(&self, ids: &[u32]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for &id in ids {
            out.extend_from_slice(self.token(id)?.bytes());
        }
        Some(out)
    }
}
