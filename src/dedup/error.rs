//! Errors of the dedup stages: each names the file (and where useful the record) it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An intermediate file that is truncated, corrupt, from another run or missing.
    #[error("{path}: {why}")]
    StageFile { path: PathBuf, why: String },
    /// An input that cannot be read at all (records that fail to parse go to quarantine).
    #[error(transparent)]
    Corpus(crate::corpus::CorpusError),
    /// The filter stage's run over the corpus.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error("{0}")]
    Config(String),
}

impl DedupError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DedupError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn stage(path: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        DedupError::StageFile {
            path: path.into(),
            why: why.into(),
        }
    }
}

pub type Result<T, E = DedupError> = std::result::Result<T, E>;
