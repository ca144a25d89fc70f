use std::path::PathBuf;

/// Everything that can go wrong when configuring or running an optimizer.
///
/// Messages name the offending field, value or file, because they reach users through the CLI.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A name not in a fixed set; the message suggests the nearest valid one and lists them.
    #[error("{context}: unknown {what} `{name}`; {}", present::choices::hint(.name, .valid))]
    Unknown {
        context: String,
        what: &'static str,
        name: String,
        valid: Vec<String>,
    },
    #[error("{context}: `{field}` = {value} is invalid: {reason}")]
    InvalidValue {
        context: String,
        field: String,
        value: String,
        reason: String,
    },
    #[error("{context}: missing required field `{field}`")]
    Missing { context: String, field: String },
    #[error("optimizer state does not match the parameters: {0}")]
    StateMismatch(String),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, OptimError>;

impl OptimError {
    pub fn invalid(
        context: &str,
        field: &str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        OptimError::InvalidValue {
            context: context.to_string(),
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        OptimError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}
