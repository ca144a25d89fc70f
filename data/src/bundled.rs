//! Datasets by name: the bundled ones in the data folder ([`crate::root::data_root`]), and the
//! downloaded ones (`mnist`, `fashion-mnist`, `cifar10`: see [`mod@crate::download`]) from
//! `<root>/<name>/` under [`crate::root::download_root`].
//!
//! | name | train | test | example shape | values |
//! |---|---|---|---|---|
//! | `mnist-10k` | 8,000 | 2,000 | `[1, 28, 28]` | pixels scaled to [0, 1] |
//! | `mnist1d` | 4,000 | 1,000 | `[40]` | as stored (f32) |
//! | `digits` | 1,437 | 360 | `[1, 8, 8]` | pixel values 0–16 as stored |
//!
//! All bundled ones have 10 classes; provenance and licences are in `datasets/README.md`.
//!
//! A process keeps the bundled datasets it has read (a few tens of MB in all) and hands out
//! copies: a study trains hundreds of runs on the same three files, and decoding mnist-10k's
//! gzipped IDX costs about 0.1 s a run, a tenth of a short run. Each call checks the files'
//! sizes and modification times, so a file edited while the process lives is read again.
//! Downloaded datasets (hundreds of MB) are not kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use crate::dataset::Split;
use crate::download::{load_remote, DATASETS_REMOTE};
use crate::error::{DataError, Result};
use crate::idx::read_mnist_split;
use crate::root::download_root;
// Where callers have always found them.
pub use crate::idx::read_idx_pair;
pub use crate::npz::npz_split;
pub use crate::root::{data_root, DATASETS};

/// Loads a bundled dataset by name from `root` (default: [`data_root`]), or a downloaded one
/// (`mnist`, `fashion-mnist`, `cifar10`: see [`mod@crate::download`]) from `<root>/<name>/`
/// (default root: [`download_root`]).
pub fn load(name: &str, root: Option<&Path>) -> Result<Split> {
    load_shared(name, root).map(Arc::unwrap_or_clone)
}

/// [`load`] without the copy: the process's kept dataset itself (a bundled one), for callers
/// that only read it, e.g. to cut a validation split from it.
pub fn load_shared(name: &str, root: Option<&Path>) -> Result<Arc<Split>> {
    if DATASETS_REMOTE.contains(&name) {
        let root = match root {
            Some(r) => r.to_path_buf(),
            None => download_root()?,
        };
        return load_remote(name, &root).map(Arc::new);
    }
    let root = root.map_or_else(data_root, Path::to_path_buf);
    let Some(files) = bundled_files(name, &root) else {
        return read(name, &root).map(Arc::new);
    };
    // A file that cannot be stat'ed is left to the reader, which names it in its error.
    let stamp: Option<Vec<(u64, SystemTime)>> = files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.len(), m.modified().ok()?))
        })
        .collect();
    let Some(stamp) = stamp else {
        return read(name, &root).map(Arc::new);
    };
    let key = (name.to_string(), root.clone());
    let cache = CACHE.get_or_init(Default::default);
    if let Some((s, split)) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if *s == stamp {
            return Ok(Arc::clone(split));
        }
    }
    // Read outside the lock: workers loading different datasets do not wait on each other.
    let split = Arc::new(read(name, &root)?);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, (stamp, Arc::clone(&split)));
    Ok(split)
}

type Cache = Mutex<HashMap<(String, PathBuf), (Vec<(u64, SystemTime)>, Arc<Split>)>>;

static CACHE: OnceLock<Cache> = OnceLock::new();

/// The files a bundled dataset is read from; `None` for any other name.
fn bundled_files(name: &str, root: &Path) -> Option<Vec<PathBuf>> {
    Some(match name {
        "mnist-10k" => {
            let dir = root.join("mnist-10k");
            ["train", "t10k"]
                .iter()
                .flat_map(|p| {
                    [
                        dir.join(format!("{p}-images-idx3-ubyte.gz")),
                        dir.join(format!("{p}-labels-idx1-ubyte.gz")),
                    ]
                })
                .collect()
        }
        "mnist1d" => vec![root.join("mnist1d").join("mnist1d.npz")],
        "digits" => vec![root.join("digits").join("digits.npz")],
        _ => return None,
    })
}

fn read(name: &str, root: &Path) -> Result<Split> {
    let root = root.to_path_buf();
    match name {
        "mnist-10k" => read_mnist_split(&root.join("mnist-10k"), name),
        "mnist1d" => npz_split(&root.join("mnist1d").join("mnist1d.npz"), name, None),
        "digits" => npz_split(
            &root.join("digits").join("digits.npz"),
            name,
            Some(&[1, 8, 8]),
        ),
        _ => Err(DataError::UnknownDataset {
            name: name.into(),
            known: [&DATASETS[..], &DATASETS_REMOTE[..]].concat().join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::{NpyArray, NpyData};

    fn check(split: &Split, n_train: usize, n_test: usize, features: usize) {
        for (d, n) in [(&split.train, n_train), (&split.test, n_test)] {
            assert_eq!(d.len(), n, "{}", d.name);
            assert_eq!(d.features(), features, "{}", d.name);
            assert_eq!(d.num_classes(), Some(10));
            let counts = d.class_counts().unwrap();
            // Every digit is present in every part, none dominates.
            assert!(
                counts.iter().all(|&c| c > n / 20 && c < n / 5),
                "{counts:?}"
            );
            assert!(d.x.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn mnist_10k() {
        let s = load("mnist-10k", None).unwrap();
        check(&s, 8000, 2000, 784);
        assert_eq!(s.train.shape, vec![1, 28, 28]);
        let (lo, hi) = s
            .train
            .x
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!((lo, hi), (0.0, 1.0));
    }

    #[test]
    fn mnist1d_and_digits() {
        let s = load("mnist1d", None).unwrap();
        check(&s, 4000, 1000, 40);
        assert_eq!(s.train.shape, vec![40]);
        let s = load("digits", None).unwrap();
        check(&s, 1437, 360, 64);
        assert_eq!(s.test.shape, vec![1, 8, 8]);
        assert!(s.train.x.iter().all(|&v| (0.0..=16.0).contains(&v)));
        let e = load("cifar", None).unwrap_err();
        assert!(e.to_string().contains("mnist1d"), "{e}");
    }

    #[test]
    fn explicit_root_without_the_files() {
        // An explicit root that lacks the files: an error naming the missing file.
        let dir = tempfile::tempdir().unwrap();
        let e = load("digits", Some(dir.path())).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e}");
        assert!(e.to_string().contains("digits.npz"), "{e}");
    }

    #[test]
    fn kept_copies_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("digits");
        std::fs::create_dir(&d).unwrap();
        let write = |n: usize, v: f32| {
            let x = NpyArray {
                shape: vec![n, 64],
                data: NpyData::F32(vec![v; n * 64]),
            };
            let y = NpyArray {
                shape: vec![n],
                data: NpyData::I64(vec![3; n]),
            };
            let p = crate::npz::tests::write_set(&d, x, y);
            std::fs::rename(p, d.join("digits.npz")).unwrap();
        };
        write(2, 1.0);
        let a = load("digits", Some(dir.path())).unwrap();
        let mut b = load("digits", Some(dir.path())).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.train.x, vec![1.0; 128]);
        // A caller's copy is its own.
        b.train.x[0] = 5.0;
        assert_eq!(load("digits", Some(dir.path())).unwrap(), a);
        // The file replaced (another size): read again.
        write(3, 2.0);
        let c = load("digits", Some(dir.path())).unwrap();
        assert_eq!(c.train.len(), 3);
        assert_eq!(c.train.x, vec![2.0; 192]);
        // Removed: the reader's error, not a stale copy.
        std::fs::remove_file(d.join("digits.npz")).unwrap();
        let e = load("digits", Some(dir.path())).unwrap_err();
        assert!(e.to_string().contains("digits.npz"), "{e}");
    }

    #[test]
    fn corrupted_mnist_folder() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("mnist-10k");
        std::fs::create_dir(&m).unwrap();
        let real = data_root().join("mnist-10k");
        for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            std::fs::copy(real.join(f), m.join(f)).unwrap();
        }
        // Training images truncated (plain, not gzipped, under a .gz name: bad gzip magic) ...
        let imgs = m.join("train-images-idx3-ubyte.gz");
        std::fs::write(&imgs, [0u8, 0, 8, 3]).unwrap();
        std::fs::copy(
            real.join("train-labels-idx1-ubyte.gz"),
            m.join("train-labels-idx1-ubyte.gz"),
        )
        .unwrap();
        let e = load("mnist-10k", Some(dir.path())).unwrap_err();
        assert!(matches!(e, DataError::BadMagic { .. }), "{e}");
        assert!(e.to_string().contains("train-images-idx3-ubyte.gz"), "{e}");
        // ... then a gzipped IDX payload far shorter than its header says: the claim cannot
        // come from so few compressed bytes, an error before anything is inflated.
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = vec![0u8, 0, 8, 3];
        for d in [8000u32, 28, 28] {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(&[0; 1000]);
        enc.write_all(&b).unwrap();
        std::fs::write(&imgs, enc.finish().unwrap()).unwrap();
        let e = load("mnist-10k", Some(dir.path())).unwrap_err();
        assert!(
            matches!(e, DataError::ImplausibleSize { claimed, .. } if claimed == 8000 * 784),
            "{e}"
        );
        assert!(e.to_string().contains("train-images-idx3-ubyte.gz"), "{e}");
    }
}
