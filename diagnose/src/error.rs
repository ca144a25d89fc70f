//! The diagnose crate's error type.

#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error(transparent)]
    Train(#[from] train::TrainError),
    #[error(transparent)]
    Nn(#[from] nn::NnError),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

pub type Result<T> = std::result::Result<T, DiagnoseError>;
