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
        let prefix: Option<Vec<u32>> = GLM_PREFIX.iter().map(|t| inner.token_to_id(t)).collect();
        Ok(HfTokenizer {
            prefix: prefix.unwrap_or_default(),
            inner,
        })
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

/// The tokenizers glmkit can score with, chosen from the file.
pub enum Tokenizer {
    Hf(HfTokenizer),
}

impl Tokenizer {
    /// Opens `tokenizer.json` (transformers' format). GLM-4's tiktoken rank file
    /// (`tokenizer.model`) gets a clear error until its encoder is wired in.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let is_json = path.extension().is_some_and(|e| e == "json");
        if !is_json && path.is_file() {
            let mut head = [0u8; 1];
            let first = std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                .map_err(|source| ModelError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
            if first == 0 || head[0] != b'{' {
                return Err(ModelError::Input(format!(
                    "{}: not a tokenizer.json (tiktoken rank files such as GLM-4's tokenizer.model \
                     are not supported for scoring yet)",
                    path.display()
                )));
            }
        }
        Ok(Tokenizer::Hf(HfTokenizer::from_file(path)?))
    }

    fn encoder(&self) -> &dyn TextEncoder {
        match self {
            Tokenizer::Hf(t) => t,
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
