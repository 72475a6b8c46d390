//! Errors of the model module: each names the file, key or tensor it is about.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("config key `{key}`: {message}")]
    Config { key: String, message: String },

    #[error("{path}: config key `{key}`: {message}")]
    ConfigFile {
        path: PathBuf,
        key: String,
        message: String,
    },

    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },

    #[error("tensor `{name}` is missing from the checkpoint (expected shape {expected:?})")]
    MissingTensor { name: String, expected: Vec<usize> },

    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    WrongShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("tensor `{name}` has dtype {found}, expected a float tensor (F32, BF16 or F16) of shape {expected:?}")]
    WrongDtype {
        name: String,
        found: String,
        expected: Vec<usize>,
    },

    #[error("input: {0}")]
    Input(String),

    #[error("device: {0}")]
    Device(String),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl ModelError {
    /// Adds the config file's path to a config error.
    pub(crate) fn in_file(self, path: &Path) -> Self {
        match self {
            ModelError::Config { key, message } => ModelError::ConfigFile {
                path: path.to_path_buf(),
                key,
                message,
            },
            other => other,
        }
    }
}
