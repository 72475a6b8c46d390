//! Reading and writing vocabularies: HF `tokenizer.json` and tiktoken rank files (the format of
//! GLM-4's `tokenizer.model`).

mod tiktoken;
mod tokenizer_json;

pub use tiktoken::{
    merge_of_rank, read_tiktoken, write_tiktoken, GLM4_SPECIAL_TOKENS, SPECIALS_FILE,
};
pub use tokenizer_json::{
    from_tokenizer_json, read_tokenizer_json, to_tokenizer_json, write_tokenizer_json,
};

use super::vocab::{VocabError, Vocabulary};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Vocab { path: PathBuf, source: VocabError },
}

impl FormatError {
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        FormatError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Reads a vocabulary from `tokenizer.json` or a tiktoken rank file (any other extension).
/// For a rank file, special tokens come from `special_tokens.json` next to it when present
/// (written by `glmkit bpe train`), else GLM-4's, numbered after the last rank.
pub fn read_vocabulary(path: &Path) -> Result<Vocabulary, FormatError> {
    if path.extension().is_some_and(|e| e == "json") {
        read_tokenizer_json(path)
    } else {
        read_tiktoken(path, None)
    }
}

/// Reads a vocabulary to grow (`glmkit bpe extend`, `merge`): as [`read_vocabulary`], except
/// that a rank file without `special_tokens.json` next to it has no special tokens, rather than
/// GLM-4's numbered after its last rank, which is where new tokens go.
pub fn read_base_vocabulary(path: &Path) -> Result<Vocabulary, FormatError> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json || path.with_file_name(SPECIALS_FILE).exists() {
        read_vocabulary(path)
    } else {
        read_tiktoken(path, Some(vec![]))
    }
}
