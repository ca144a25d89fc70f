//! The train crate's error type.

use std::path::Path;

/// Everything that can go wrong preparing or running a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A config value is wrong; the message names the file, field and value.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Optim(#[from] optim::OptimError),
    #[error(transparent)]
    Nn(#[from] nn::NnError),
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// A checkpoint that cannot be resumed from.
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: String, message: String },
}

pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    pub fn config(context: &str, field: &str, value: impl std::fmt::Display, why: &str) -> Self {
        TrainError::Config(format!("{context}: `{field}` = {value}: {why}"))
    }

    pub fn file(path: &Path, message: impl std::fmt::Display) -> Self {
        TrainError::File {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }

    pub fn checkpoint(path: &Path, message: impl std::fmt::Display) -> Self {
        TrainError::Checkpoint {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}
