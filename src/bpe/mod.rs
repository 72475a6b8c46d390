//! Byte-level BPE for GLM-4: pre-tokenizer, trainer, encoder and tokenizer formats.
//!
//! The pieces, in the order data flows through them:
//! - [`pattern`]: splits text into pre-tokens with GLM-4's (cl100k-style) regex;
//! - [`special`]: cuts special tokens out of text;
//! - [`count`]: counts pre-tokens in parallel, per shard, under a memory cap;
//! - [`train`]: merges pairs exactly as HF tokenizers' `BpeTrainer` does;
//! - [`vocab`]: the resulting vocabulary; [`formats`] reads and writes it;
//! - [`encode`]: rank-based merging into ids, with a cache.

pub mod byte_level;
pub mod count;
pub mod count_file;
pub mod encode;
pub mod formats;
pub mod input;
pub mod megatron;
pub mod pattern;
pub mod special;
pub mod stages;
pub mod train;
pub mod vocab;

pub use count::{Pruned, WordCounter, WordCounts};
pub use encode::Encoder;
pub use pattern::PreTokenizer;
pub use special::SpecialSplitter;
pub use train::{train, TrainerConfig};
pub use vocab::{Merge, Token, Vocabulary};
