//! The lab's error type: every message names the file, field or database and the bad value.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LabError {
    /// A malformed study file: `{file}: {field}: {message}`.
    #[error("{file}: {message}")]
    Study { file: String, message: String },
    /// The results store (open, schema, query).
    #[error("results store {store}: {message}")]
    Store { store: String, message: String },
    /// A run that could not be set up or trained.
    #[error("run {key} ({problem} / {optimizer}): {message}")]
    Run {
        key: String,
        problem: String,
        optimizer: String,
        message: String,
    },
    /// A runner option out of range (`workers = 100000`).
    #[error("{option} = {value}: {message}")]
    Option {
        option: &'static str,
        value: String,
        message: String,
    },
    #[error(transparent)]
    Train(#[from] train::TrainError),
    /// The cause is part of the message (and not a `source`), so `{:#}` prints it once.
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
}

pub type Result<T, E = LabError> = std::result::Result<T, E>;
