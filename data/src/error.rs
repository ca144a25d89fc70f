//! The crate's error type. Every message names the file (or the parameter) and what is wrong.

use std::path::Path;

/// Result alias of the data crate.
pub type Result<T> = std::result::Result<T, DataError>;

/// What went wrong while reading or building a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The cause is part of the message (and not a `source`), so `{:#}` prints it once.
    #[error("{file}: cannot read: {error}")]
    Io { file: String, error: std::io::Error },
    #[error("{file}: bad magic: expected {expected}, found {found}")]
    BadMagic {
        file: String,
        expected: String,
        found: String,
    },
    #[error("{file}: truncated: expected {expected} bytes, found {found}")]
    Truncated {
        file: String,
        expected: usize,
        found: usize,
    },
    #[error("{file}: malformed: {what}")]
    Malformed { file: String, what: String },
    /// A size read from a file that the file cannot hold, or beyond a documented cap
    /// ([`crate::limits`]); nothing was allocated for it.
    #[error("{file}: {what} claims {claimed} bytes, but {limit}")]
    ImplausibleSize {
        file: String,
        what: String,
        claimed: u64,
        limit: String,
    },
    /// Loading would need more memory than the machine has available ([`crate::memory`]).
    #[error(
        "{file}: loading {what} needs about {} but this machine has {} available",
        present::fmt_bytes(*needed),
        present::fmt_bytes(*available)
    )]
    OutOfMemory {
        file: String,
        what: String,
        needed: u64,
        available: u64,
    },
    /// A NaN or infinite input value (or one beyond f32's range): the first one, and how many
    /// more there are. `row` is the example, `column` the value's flat position in it.
    #[error("{file}: non-finite value {value} at row {row}, column {column}{}", more(*others))]
    NonFinite {
        file: String,
        row: usize,
        column: usize,
        value: String,
        others: usize,
    },
    /// A file whose checksum is not the one published (or recorded at extraction).
    #[error("{file}: corrupt: {what}; {hint}")]
    Corrupt {
        file: String,
        what: String,
        hint: String,
    },
    #[error("{file}: unsupported dtype {dtype:?} (supported: <f4, <f8, <i8, <i4, |u1)")]
    UnsupportedDtype { file: String, dtype: String },
    #[error("{file}: shape mismatch: {what}")]
    ShapeMismatch { file: String, what: String },
    #[error("{file}: label {label} at example {index} is out of range 0..{num_classes}")]
    LabelOutOfRange {
        file: String,
        index: usize,
        label: i64,
        num_classes: usize,
    },
    #[error("{file}: no array named {name:?} (arrays present: {present})")]
    MissingArray {
        file: String,
        name: String,
        present: String,
    },
    #[error("{file}:{line}: {what}")]
    Csv {
        file: String,
        line: usize,
        what: String,
    },
    #[error("unknown dataset {name:?} (known: {known})")]
    UnknownDataset { name: String, known: String },
    #[error("downloading {dataset}: {what}")]
    Download { dataset: String, what: String },
    #[error("dataset {dataset:?} is not downloaded: {missing} is missing; {hint}")]
    NotDownloaded {
        dataset: String,
        missing: String,
        hint: String,
    },
    #[error("no folder for downloaded datasets: {why}; set GRADLAB_DATA or pass a root")]
    NoDataFolder { why: String },
    #[error("invalid argument {name} = {value}: {why}")]
    InvalidArgument {
        name: &'static str,
        value: String,
        why: String,
    },
}

fn more(others: usize) -> String {
    match others {
        0 => String::new(),
        1 => " (and 1 more)".into(),
        n => format!(" (and {n} more)"),
    }
}

impl DataError {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> Self {
        DataError::Io {
            file: path.display().to_string(),
            error,
        }
    }

    pub(crate) fn malformed(file: impl Into<String>, what: impl Into<String>) -> Self {
        DataError::Malformed {
            file: file.into(),
            what: what.into(),
        }
    }

    pub(crate) fn shape(file: impl Into<String>, what: impl Into<String>) -> Self {
        DataError::ShapeMismatch {
            file: file.into(),
            what: what.into(),
        }
    }

    pub(crate) fn arg(name: &'static str, value: impl ToString, why: impl Into<String>) -> Self {
        DataError::InvalidArgument {
            name,
            value: value.to_string(),
            why: why.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the I/O cause was both in the message and the error's `source`, so the CLI's
    /// `{:#}` (message, then every source) printed it twice: "cannot read: Not a directory (os
    /// error 20): Not a directory (os error 20)".
    #[test]
    fn an_io_error_states_its_cause_once() {
        let e = DataError::io(
            Path::new("/dev/null/mnist"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(std::error::Error::source(&e).is_none());
        let chain = format!("{:#}", anyhow_like(&e));
        assert_eq!(chain.matches("not found").count(), 1, "{chain}");
    }

    /// The message followed by each source, as `anyhow`'s `{:#}` prints a chain.
    fn anyhow_like(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            s += &format!(": {c}");
            cur = c.source();
        }
        s
    }
}
