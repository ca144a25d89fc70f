//! NPZ archives (`np.savez` / `np.savez_compressed`): a zip of `.npy` members.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::NpyData;

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
