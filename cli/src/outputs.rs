//! Writing a command's output files: durably, and all or nothing; and checking before the work
//! that they can be written at all.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Fails now, before any training, when `target` (a file that the command writes at the end)
/// could not be written: a path through a file (`/dev/null/x.json`), a target that is a folder,
/// or a folder that refuses new files. Creates nothing: the nearest existing folder on the
/// way is tested with a temporary file that is removed at once (the folders below it are made
/// only once the work succeeded, as [`write_all_or_nothing`] does).
pub fn check_writable(target: &Path, what: &str) -> Result<()> {
    if target.is_dir() {
        bail!("{what} {}: is a folder, not a file", target.display());
    }
    let mut dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    while !dir.exists() {
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
            _ => {
                dir = PathBuf::from(".");
                break;
            }
        }
    }
    if !dir.is_dir() {
        bail!(
            "{what} {}: cannot be written: {} is not a folder",
            target.display(),
            dir.display()
        );
    }
    let probe = dir.join(format!(".gradlab-write-check-{}", std::process::id()));
    std::fs::File::create(&probe).with_context(|| {
        format!(
            "{what} {}: cannot be written: the folder {} refuses new files",
            target.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

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
