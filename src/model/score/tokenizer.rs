//! Turning text into the ids the model scores. One small trait, so other tokenizer formats (the
//! tiktoken rank file of the BPE module) slot in next to tokenizer.json.

use std::path::Path;

use crate::model::ModelError;

/// Text to token ids, plus the prefix GLM-4 puts before every document.
pub trait TextEncoder: Send + Sync {
    /// Ids of `text` alone, without special tokens.
    fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError>;

    /// Ids that open every sequence: `[gMASK]<sop>` for GLM-4 tokenizers, else nothing.
    fn prefix(&self) -> &[u32];

    /// Largest id the encoder can produce, to check against the model's vocabulary.
    fn max_id(&self) -> u32;
}

/// The GLM-4 prefix tokens, added when the vocabulary has both.
pub const GLM_PREFIX: [&str; 2] = ["[gMASK]", "<sop>"];

/// A transformers `tokenizer.json`.
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    prefix: Vec<u32>,
}

impl HfTokenizer {
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| ModelError::Input(format!("{}: {e}", path.display())))?;
        Ok(Self::new(inner))
    }

    /// A tokenizer.json held in memory (`label` names it in errors).
    pub fn from_json_str(label: &str, json: &str) -> Result<Self, ModelError> {
        let inner: tokenizers::Tokenizer = json
            .parse()
            .map_err(|e| ModelError::Input(format!("{label}: tokenizer.json: {e}")))?;
        Ok(Self::new(inner))
    }

    fn new(inner: tokenizers::Tokenizer) -> Self {
        let prefix: Option<Vec<u32>> = GLM_PREFIX.iter().map(|t| inner.token_to_id(t)).collect();
        HfTokenizer {
            prefix: prefix.unwrap_or_default(),
            inner,
        }
    }
}

impl TextEncoder for HfTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| ModelError::Input(format!("tokenizer: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    fn prefix(&self) -> &[u32] {
        &self.prefix
    }

    fn max_id(&self) -> u32 {
        self.inner.get_vocab_size(true).saturating_sub(1) as u32
    }
}

/// A tiktoken rank file (GLM-4's `tokenizer.model`, or one written by `glmkit bpe train`),
/// encoded by glmkit's own BPE encoder. Special-token strings inside a document are encoded as
/// plain text, as GLM-4's tiktoken tokenizer does (`disallowed_special=()`).
pub struct RankFileTokenizer {
    encoder: crate::bpe::Encoder,
    prefix: Vec<u32>,
    max_id: u32,
}

impl RankFileTokenizer {
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let input =
            |e: &dyn std::fmt::Display| ModelError::Input(format!("{}: {e}", path.display()));
        let vocab = crate::bpe::formats::read_vocabulary(path).map_err(|e| input(&e))?;
        let specials = vocab.specials();
        let id_of = |name: &str| specials.iter().find(|(s, _)| s == name).map(|&(_, id)| id);
        let prefix: Option<Vec<u32>> = GLM_PREFIX.iter().map(|t| id_of(t)).collect();
        let max_id = specials
            .iter()
            .map(|&(_, id)| id)
            .chain([vocab.len().saturating_sub(1) as u32])
            .max()
            .unwrap_or(0);
        let encoder = crate::bpe::Encoder::new(vocab)
            .map_err(|e| input(&e))?
            .with_plain_specials();
        Ok(RankFileTokenizer {
            encoder,
            prefix: prefix.unwrap_or_default(),
            max_id,
        })
    }
}

impl TextEncoder for RankFileTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        Ok(self.encoder.encode(text))
    }

    fn prefix(&self) -> &[u32] {
        &self.prefix
    }

    fn max_id(&self) -> u32 {
        self.max_id
    }
}

/// The tokenizers glmkit can score with, chosen from the file.
pub enum Tokenizer {
    /// `tokenizer.json`, through the tokenizers crate.
    Hf(HfTokenizer),
    /// A tiktoken rank file such as GLM-4's `tokenizer.model`.
    RankFile(RankFileTokenizer),
}

impl Tokenizer {
    /// Opens `tokenizer.json` (transformers' format) or, for any other file, a tiktoken rank
    /// file (GLM-4's `tokenizer.model`).
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        if path.extension().is_some_and(|e| e == "json") {
            Ok(Tokenizer::Hf(HfTokenizer::from_file(path)?))
        } else {
            Ok(Tokenizer::RankFile(RankFileTokenizer::from_file(path)?))
        }
    }

    /// A tokenizer.json held in memory (the built-in model's).
    pub fn from_json_str(label: &str, json: &str) -> Result<Self, ModelError> {
        Ok(Tokenizer::Hf(HfTokenizer::from_json_str(label, json)?))
    }

    fn encoder(&self) -> &dyn TextEncoder {
        match self {
            Tokenizer::Hf(t) => t,
            Tokenizer::RankFile(t) => t,
        }
    }
}

impl TextEncoder for Tokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.encoder().encode(text)
    }

    fn prefix(&self) -> &[u32] {
        self.encoder().prefix()
    }

    fn max_id(&self) -> u32 {
        self.encoder().max_id()
    }
}
