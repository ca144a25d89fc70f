//! Loading a downloaded dataset from `<root>/<name>/` (every file checked first), or saying how
//! to get it; where a named dataset's files are.

use std::path::{Path, PathBuf};

use super::catalogue::{base_name, remote, Format, Member, Remote, DATASETS_REMOTE};
use super::manifest::Manifest;
use crate::cifar;
use crate::dataset::Split;
use crate::error::{DataError, Result};
use crate::idx::read_mnist_split;
use crate::root::{download_root, DATASETS};

/// The command that downloads `name` into `root`.
fn command(name: &str, root: &Path) -> String {
    let flag = if download_root().is_ok_and(|d| d == root) {
        String::new()
    } else {
        format!(" --root {}", root.display())
    };
    format!("gradlab data download {name}{flag}")
}

/// What to tell a user whose dataset is not there yet.
fn hint(name: &str, root: &Path) -> String {
    format!(
        "get it with `{}` or `download = true` in a run's [data] section",
        command(name, root)
    )
}

/// Loads a downloaded dataset from `<root>/<name>/`.
pub fn load_remote(name: &str, root: &Path) -> Result<Split> {
    let spec = remote(name).ok_or_else(|| DataError::UnknownDataset {
        name: name.into(),
        known: DATASETS_REMOTE.join(", "),
    })?;
    load_spec(spec, root)
}

/// Loads the dataset `spec` describes from `<root>/<spec.name>/`, checking every file first:
/// downloaded files against their published checksums, extracted ones against the manifest.
pub fn load_spec(spec: &Remote, root: &Path) -> Result<Split> {
    let dir = root.join(spec.name);
    if let Some(missing) = spec.missing(&dir) {
        return Err(DataError::NotDownloaded {
            dataset: spec.name.into(),
            missing: missing.display().to_string(),
            hint: hint(spec.name, root),
        });
    }
    let again = format!("get it again with `{}`", command(spec.name, root));
    let name = spec.name;
    if spec.extract.is_empty() {
        verify_published(spec, &dir, &again)?;
    }
    match spec.format {
        Format::Idx => read_mnist_split(&dir, name),
        Format::CifarBinary => {
            let (test, train) = spec.extract.split_last().ok_or_else(|| {
                DataError::malformed(dir.display().to_string(), "no batch files listed")
            })?;
            let manifest = Manifest::read(&dir)?;
            let part = |members: &[Member], which: &str| {
                let paths: Vec<PathBuf> = members
                    .iter()
                    .map(|m| dir.join(base_name(m.path)))
                    .collect();
                cifar::read_dataset_with(&paths, &format!("{name}/{which}"), |p| {
                    let m = members
                        .iter()
                        .find(|m| dir.join(base_name(m.path)) == p)
                        .ok_or_else(|| {
                            DataError::malformed(p.display().to_string(), "not a listed member")
                        })?;
                    manifest.read_verified(&dir, m, &again)
                })
            };
            Ok(Split {
                train: part(train, "train")?,
                test: part(std::slice::from_ref(test), "test")?,
            })
        }
    }
}

/// Checks each of `spec`'s files in `dir` against its published checksum.
fn verify_published(spec: &Remote, dir: &Path, again: &str) -> Result<()> {
    for f in spec.files {
        let path = dir.join(f.name);
        let got = std::fs::File::open(&path)
            .and_then(|r| f.checksum.digest(r))
            .map_err(|e| DataError::io(&path, e))?;
        if !f.checksum.matches(&got) {
            return Err(DataError::Corrupt {
                file: path.display().to_string(),
                what: format!(
                    "its {} is {got}, the published one {}",
                    f.checksum.algorithm(),
                    f.checksum.expected()
                ),
                hint: again.into(),
            });
        }
    }
    Ok(())
}

/// Whether `name` (bundled or downloadable) has its files under `root`, and where they are.
pub fn location(name: &str, root: &Path) -> Option<(PathBuf, bool)> {
    if let Some(spec) = remote(name) {
        let dir = root.join(name);
        let present = spec.missing(&dir).is_none();
        return Some((dir, present));
    }
    DATASETS.contains(&name).then(|| root.join(name)).map(|d| {
        let present = d.is_dir();
        (d, present)
    })
}
