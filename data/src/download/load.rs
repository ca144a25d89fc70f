//! Loading a downloaded dataset from `<root>/<name>/`, or saying how to get it; where a named
//! dataset's files are.

use std::path::{Path, PathBuf};

use super::catalogue::{remote, Format, Remote, DATASETS_REMOTE};
use crate::cifar;
use crate::dataset::Split;
use crate::error::{DataError, Result};
use crate::idx::read_mnist_split;
use crate::root::{data_root, DATASETS};

/// What to tell a user whose dataset is not there yet.
fn hint(name: &str, root: &Path) -> String {
    let flag = if root == data_root() {
        String::new()
    } else {
        format!(" --root {}", root.display())
    };
    format!("get it with `gradlab data download {name}{flag}` or `download = true` in a run's [data] section")
}

/// Loads a downloaded dataset from `<root>/<name>/`.
pub fn load_remote(name: &str, root: &Path) -> Result<Split> {
    let spec = remote(name).ok_or_else(|| DataError::UnknownDataset {
        name: name.into(),
        known: DATASETS_REMOTE.join(", "),
    })?;
    load_spec(spec, root)
}

/// Loads the dataset `spec` describes from `<root>/<spec.name>/`.
pub fn load_spec(spec: &Remote, root: &Path) -> Result<Split> {
    let dir = root.join(spec.name);
    if let Some(missing) = spec.missing(&dir) {
        return Err(DataError::NotDownloaded {
            dataset: spec.name.into(),
            missing: missing.display().to_string(),
            hint: hint(spec.name, root),
        });
    }
    let name = spec.name;
    match spec.format {
        Format::Idx => read_mnist_split(&dir, name),
        Format::CifarBinary => {
            let files: Vec<PathBuf> = spec.local_files().iter().map(|f| dir.join(f)).collect();
            let (test, train) = files.split_last().ok_or_else(|| {
                DataError::malformed(dir.display().to_string(), "no batch files listed")
            })?;
            Ok(Split {
                train: cifar::read_dataset(train, &format!("{name}/train"))?,
                test: cifar::read_dataset(std::slice::from_ref(test), &format!("{name}/test"))?,
            })
        }
    }
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
