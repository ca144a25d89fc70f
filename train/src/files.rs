//! Writing a run folder's files: durably (the `durable` crate: a reader or a restarted process
//! sees the old content or the new, never a mixture), a failure naming the file.

use std::path::Path;

use crate::{Result, TrainError};

/// Writes `bytes` to `path` durably ([`durable::write`]); errors name the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write(path, bytes).map_err(|e| TrainError::file(path, format!("cannot write: {e}")))
}

/// Whether `name` is a temporary file [`durable`] writes for one of `targets`
/// (`.NAME.PID.N.tmp`).
pub(crate) fn is_temp_of(name: &str, targets: &[&str]) -> bool {
    name.strip_suffix(".tmp")
        .and_then(|n| n.strip_prefix('.'))
        .is_some_and(|n| {
            targets.iter().any(|t| {
                n.strip_prefix(t)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|rest| {
                        rest.split('.').count() == 2
                            && rest
                                .split('.')
                                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    })
            })
        })
}
