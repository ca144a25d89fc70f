//! Writing a command's output files: durably, and all or nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Writes every output durably, all or nothing ([`durable::write_all`]): on any failure before
/// the renames no target is touched and no temporary file is left.
pub fn write_all_or_nothing(outputs: &[(PathBuf, String)]) -> Result<()> {
    // Only reached once the whole run succeeded, so a created folder is never left empty by a
    // failed run.
    for (target, _) in outputs {
        durable::create_parent(target)
            .with_context(|| format!("cannot create the folder of {}", target.display()))?;
    }
    let files: Vec<(&Path, &[u8])> = outputs
        .iter()
        .map(|(p, t)| (p.as_path(), t.as_bytes()))
        .collect();
    let names: Vec<String> = outputs
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    durable::write_all(&files).with_context(|| format!("cannot write {}", names.join(", ")))
}
