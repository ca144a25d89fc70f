//! NPZ archives (`np.savez` / `np.savez_compressed`): a zip of `.npy` members.
//!
//! An archive holding `x`, `y`, `x_test`, `y_test` reads as a split ([`npz_split`]): the bundled
//! `mnist1d` and `digits`, and any such file a run names.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::dataset::{Dataset, Split, Targets};
use crate::error::{DataError, Result};
use crate::npy::{self, NpyArray};

/// Reads every array of an `.npz` file, keyed by name without the `.npy` suffix.
pub fn read(path: impl AsRef<Path>) -> Result<BTreeMap<String, NpyArray>> {
    let path = path.as_ref();
    let file_name = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| {
        DataError::malformed(&file_name, format!("not a readable zip archive: {e}"))
    })?;
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut member = zip
            .by_index(i)
            .map_err(|e| DataError::malformed(&file_name, format!("zip member {i}: {e}")))?;
        let name = member.name().to_string();
        let label = format!("{file_name}:{name}");
        let mut bytes = Vec::with_capacity(member.size() as usize);
        member
            .read_to_end(&mut bytes)
            .map_err(|e| DataError::malformed(&label, format!("cannot decompress: {e}")))?;
        let array = npy::parse(&bytes, &label)?;
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        out.insert(key, array);
    }
    Ok(out)
}

/// Removes the array `name` from a map read by [`read`], or an error listing what is there.
pub fn take(arrays: &mut BTreeMap<String, NpyArray>, name: &str, file: &str) -> Result<NpyArray> {
    arrays.remove(name).ok_or_else(|| DataError::MissingArray {
        file: file.into(),
        name: name.into(),
        present: arrays.keys().cloned().collect::<Vec<_>>().join(", "),
    })
}

/// Writes arrays as an uncompressed or deflated `.npz` (for fixtures and exports).
pub fn write(path: impl AsRef<Path>, arrays: &[(&str, &NpyArray)], compress: bool) -> Result<()> {
    use std::io::Write;
    let path = path.as_ref();
    let f = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut zip = zip::ZipWriter::new(f);
    let method = if compress {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    let err =
        |e: &dyn std::fmt::Display| DataError::malformed(path.display().to_string(), e.to_string());
    for (name, array) in arrays {
        zip.start_file(format!("{name}.npy"), opts)
            .map_err(|e| err(&e))?;
        zip.write_all(&npy::to_bytes(array))
            .map_err(|e| DataError::io(path, e))?;
    }
    zip.finish().map_err(|e| err(&e))?;
    Ok(())
}

/// Reads an npz holding `x`, `y`, `x_test`, `y_test` as a split with 10 classes. `shape`, when
/// given, is the per-example shape (it must hold as many values as a row of `x`).
pub fn npz_split(path: &Path, name: &str, shape: Option<&[usize]>) -> Result<Split> {
    let file = path.display().to_string();
    let mut arrays = read(path)?;
    let mut part = |xk: &str, yk: &str, which: &str| -> Result<Dataset> {
        let x = take(&mut arrays, xk, &file)?;
        let y = take(&mut arrays, yk, &file)?;
        let xf = format!("{file}:{xk}");
        let yf = format!("{file}:{yk}");
        if x.shape.len() < 2 {
            return Err(DataError::shape(
                xf,
                format!("examples must be [n, features...], found {:?}", x.shape),
            ));
        }
        if y.shape.len() != 1 || y.shape[0] != x.shape[0] {
            return Err(DataError::shape(
                yf,
                format!(
                    "labels of shape {:?} for {xk} of shape {:?}",
                    y.shape, x.shape
                ),
            ));
        }
        let row: Vec<usize> = x.shape[1..].to_vec();
        let shape = match shape {
            Some(s) if s.iter().product::<usize>() == row.iter().product::<usize>() => s.to_vec(),
            Some(s) => {
                return Err(DataError::shape(
                    xf,
                    format!("rows of shape {row:?} cannot be viewed as {s:?}"),
                ))
            }
            None => row,
        };
        let labels = y.to_labels(&yf, 10)?;
        Dataset::new(
            format!("{name}/{which}"),
            x.to_f32(),
            shape,
            Targets::Classes {
                labels,
                num_classes: 10,
            },
        )
    };
    let train = part("x", "y", "train")?;
    let test = part("x_test", "y_test", "test")?;
    Ok(Split { train, test })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::npy::NpyData;
    use std::path::PathBuf;

    pub(crate) fn write_set(dir: &Path, x: NpyArray, y: NpyArray) -> PathBuf {
        let p = dir.join("bad.npz");
        let xt = x.clone();
        let yt = y.clone();
        write(
            &p,
            &[("x", &x), ("y", &y), ("x_test", &xt), ("y_test", &yt)],
            false,
        )
        .unwrap();
        p
    }

    #[test]
    fn corrupted_npz_sets() {
        let dir = tempfile::tempdir().unwrap();
        let x = NpyArray {
            shape: vec![3, 2],
            data: NpyData::F32(vec![0.0; 6]),
        };
        // Shape mismatch between x and y.
        let y = NpyArray {
            shape: vec![2],
            data: NpyData::I64(vec![0, 1]),
        };
        let p = write_set(dir.path(), x.clone(), y);
        let e = npz_split(&p, "bad", None).unwrap_err();
        assert!(matches!(e, DataError::ShapeMismatch { .. }), "{e}");
        assert!(e.to_string().contains("bad.npz:y"), "{e}");
        // Label out of range.
        let y = NpyArray {
            shape: vec![3],
            data: NpyData::I64(vec![0, 12, 1]),
        };
        let p = write_set(dir.path(), x.clone(), y);
        let e = npz_split(&p, "bad", None).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::LabelOutOfRange {
                    index: 1,
                    label: 12,
                    ..
                }
            ),
            "{e}"
        );
        // Wrong dtype for labels.
        let y = NpyArray {
            shape: vec![3],
            data: NpyData::F64(vec![0.0, 1.0, 1.0]),
        };
        let p = write_set(dir.path(), x, y);
        let e = npz_split(&p, "bad", None).unwrap_err();
        assert!(matches!(e, DataError::UnsupportedDtype { .. }), "{e}");
        // Missing array.
        let p = dir.path().join("partial.npz");
        let y = NpyArray {
            shape: vec![1],
            data: NpyData::I64(vec![0]),
        };
        write(&p, &[("y", &y)], true).unwrap();
        let e = npz_split(&p, "bad", None).unwrap_err();
        assert!(matches!(e, DataError::MissingArray { .. }), "{e}");
    }

    #[test]
    fn stored_and_deflated_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let x = NpyArray {
            shape: vec![3, 2],
            data: NpyData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        };
        let y = NpyArray {
            shape: vec![3],
            data: NpyData::I64(vec![0, 1, 0]),
        };
        for compress in [false, true] {
            let p = dir.path().join(format!("a{compress}.npz"));
            write(&p, &[("x", &x), ("y", &y)], compress).unwrap();
            let mut m = read(&p).unwrap();
            assert_eq!(take(&mut m, "x", "a").unwrap(), x);
            assert_eq!(take(&mut m, "y", "a").unwrap(), y);
            let e = take(&mut m, "x_test", "a.npz").unwrap_err();
            assert!(e.to_string().contains("x_test"), "{e}");
        }
        let p = dir.path().join("junk.npz");
        std::fs::write(&p, b"not a zip").unwrap();
        let e = read(&p).unwrap_err();
        assert!(e.to_string().contains("junk.npz"), "{e}");
    }
}
