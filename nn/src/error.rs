//! Errors of the `nn` crate; every message names the offending value.

use thiserror::Error;

/// An error from building, running, saving or loading a model.
#[derive(Debug, Error)]
pub enum NnError {
    /// A configuration field is out of range, e.g. `dropout: p = 1.5 is not in [0, 1]`.
    #[error("{what}: {field} = {value} {reason}")]
    InvalidConfig {
        what: &'static str,
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// Shapes that do not fit together (input to a layer, tensor to its data, file to model).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A label, name or other value that is not acceptable.
    #[error("invalid value: {0}")]
    Invalid(String),
    /// A weights file that is not valid or does not match the model.
    #[error("weights file `{path}`: {msg}")]
    Weights { path: String, msg: String },
    /// The cause is part of the message (and not a `source`), so `{:#}` prints it once.
    #[error("`{path}`: {error}")]
    Io { path: String, error: std::io::Error },
}

impl NnError {
    pub(crate) fn config(
        what: &'static str,
        field: &'static str,
        value: impl std::fmt::Display,
        reason: &'static str,
    ) -> Self {
        NnError::InvalidConfig {
            what,
            field,
            value: value.to_string(),
            reason,
        }
    }

    /// A layer without an R-operator was asked for a Hessian-vector product.
    pub(crate) fn no_r_operator(kind: &str) -> Self {
        NnError::Invalid(format!(
            "layer `{kind}` has no R-operator: exact Hessian-vector products are not available"
        ))
    }
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, NnError>;
