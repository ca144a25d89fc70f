//! Writing a run folder's files: durably (the `durable` crate: a reader or a restarted process
//! sees the old content or the new, never a mixture), a failure naming the file.

use std::path::Path;

use crate::{Result, TrainError};

/// Writes `bytes` to `path` durably ([`durable::write`]); errors name the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write(path, bytes).map_err(|e| TrainError::file(path, format!("cannot write: {e}")))
}
