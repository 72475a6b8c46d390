use std::path::{Path, PathBuf};

/// An error that stops reading or writing a corpus file. Bad *records* are not errors: they go
/// to quarantine (see [`super::Quarantine`]).
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{}: {message}", path.display())]
    BadInput { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: parquet: {message}", path.display())]
    Parquet { path: PathBuf, message: String },
}

impl CorpusError {
    pub(crate) fn io(path: impl AsRef<Path>, source: &std::io::Error) -> Self {
        CorpusError::Io {
            path: path.as_ref().to_path_buf(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        }
    }

    pub(crate) fn parquet(path: impl AsRef<Path>, message: impl ToString) -> Self {
        CorpusError::Parquet {
            path: path.as_ref().to_path_buf(),
            message: message.to_string(),
        }
    }
}
