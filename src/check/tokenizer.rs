//! The tokenizer rule's engine: encode, count, decode, compare.
//!
//! A byte-level BPE file that glmkit's own reader takes (tiktoken rank files, the
//! `tokenizer.json` of GLM-4 or of `glmkit bpe train`) runs on glmkit's encoder
//! ([`crate::bpe::Encoder`]); any other `tokenizer.json` (with a normalizer, a non-byte-level
//! pre-tokenizer, an unknown token, ...) runs on the tokenizers crate, whose decoding is where
//! round trips can lose text.

use super::CheckError;
use crate::bpe::formats::read_vocabulary;
use std::path::Path;

pub enum RoundTrip {
    Bpe(Box<crate::bpe::Encoder>),
    Hf(Box<tokenizers::Tokenizer>),
}

/// What one document gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokenized {
    pub tokens: u64,
    /// Whether decoding the ids gave the text back.
    pub round_trip: bool,
}

impl RoundTrip {
    pub fn open(path: &Path) -> Result<RoundTrip, CheckError> {
        let error = |message: String| CheckError::Tokenizer {
            path: path.display().to_string(),
            message,
        };
        if !path.is_file() {
            return Err(error("no such file".into()));
        }
        match read_vocabulary(path) {
            Ok(vocab) => Ok(RoundTrip::Bpe(Box::new(
                crate::bpe::Encoder::new(vocab).map_err(|e| error(e.to_string()))?,
            ))),
            Err(bpe_error) if path.extension().is_some_and(|e| e == "json") => {
                tokenizers::Tokenizer::from_file(path)
                    .map(|t| RoundTrip::Hf(Box::new(t)))
                    .map_err(|e| error(format!("{e} (and as byte-level BPE: {bpe_error})")))
            }
            Err(e) => Err(error(e.to_string())),
        }
    }

    /// Encodes `text`, then decodes the ids and compares. `cache` is the BPE encoder's
    /// per-thread cache (unused by the tokenizers crate).
    pub fn check(&self, text: &str, cache: &mut Option<crate::bpe::encode::Cache>) -> Tokenized {
        match self {
            RoundTrip::Bpe(encoder) => {
                let cache = cache.get_or_insert_with(|| encoder.cache());
                let mut ids = Vec::new();
                encoder.encode_into(text, cache, &mut ids);
                let round_trip = encoder
                    .decode_bytes(&ids)
                    .is_some_and(|bytes| bytes == text.as_bytes());
                Tokenized {
                    tokens: ids.len() as u64,
                    round_trip,
                }
            }
            RoundTrip::Hf(tokenizer) => match tokenizer.encode_fast(text, false) {
                Ok(encoding) => {
                    let ids = encoding.get_ids();
                    let round_trip = tokenizer
                        .decode(ids, false)
                        .is_ok_and(|decoded| decoded == text);
                    Tokenized {
                        tokens: ids.len() as u64,
                        round_trip,
                    }
                }
                Err(_) => Tokenized {
                    tokens: 0,
                    round_trip: false,
                },
            },
        }
    }
}
