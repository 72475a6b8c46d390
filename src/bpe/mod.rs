//! Byte-level BPE for GLM-4: pre-tokenizer, trainer, encoder and tokenizer formats.
//!
//! The pieces, in the order data flows through them:
//! - [`input`]: batches of documents from the corpus readers;
//! - [`pattern`]: splits text into pre-tokens with GLM-4's (cl100k-style) regex;
//! - [`count`]: counts pre-tokens in parallel under a memory cap; [`count_file`] stores a
//!   shard's counts so that shards merge;
//! - [`train`](mod@train): merges pairs exactly as HF tokenizers' `BpeTrainer` does ([`byte_level`] gives
//!   the byte alphabet and its id order);
//! - [`grow`]: continued training from an existing vocabulary, and merging of vocabularies,
//!   keeping every existing id;
//! - [`vocab`]: the resulting vocabulary; [`formats`] reads and writes it;
//! - [`special`] and [`encode`]: special tokens cut out of text, then rank-based merging into
//!   ids ([`merge`], O(n log n) in a piece's length), with a cache;
//! - [`megatron`]: training shards in Megatron-LM's indexed dataset format;
//! - [`stages`]: the commands' work over input files (count, tokenize, evaluate).

pub mod byte_level;
pub mod count;
pub mod count_file;
pub mod encode;
pub mod formats;
pub mod grow;
pub mod input;
pub mod megatron;
pub mod merge;
pub mod pattern;
pub mod special;
pub mod stages;
pub mod train;
pub mod vocab;

pub use count::{Pruned, WordCounter, WordCounts};
pub use encode::Encoder;
pub use grow::{extend, merge_vocabularies, ExtendConfig, Grown, MergeConfig};
pub use pattern::PreTokenizer;
pub use special::SpecialSplitter;
pub use train::{train, TrainerConfig};
pub use vocab::{Merge, Token, Vocabulary};
