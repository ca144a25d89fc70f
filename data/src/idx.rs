//! IDX files (the classic MNIST format), plain or gzipped.
//!
//! Layout: a big-endian magic `0x0000TTNN` (TT = element type, only `0x08` = u8 is supported;
//! NN = number of dimensions: images are `0x00000803`, labels `0x00000801`), then NN big-endian
//! u32 dimensions, then the elements. A file is gunzipped first when it starts with the gzip
//! magic `1f 8b` or its name ends in `.gz`.
//!
//! An image file `[n, rows, cols]` and its label file `[n]` make a dataset ([`read_idx_pair`]);
//! MNIST's four files (`{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`) make a split
//! ([`read_mnist_split`]), for the bundled `mnist-10k` and the downloaded `mnist` and
//! `fashion-mnist` alike.

use std::io::Read;
use std::path::Path;

use crate::dataset::{Dataset, Split, Targets};
use crate::error::{DataError, Result};

/// An IDX array of bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[n, 28, 28]` for images, `[n]` for labels).
    pub dims: Vec<usize>,
    /// Elements, row-major.
    pub data: Vec<u8>,
}

/// Reads a file whole, gunzipping it if it is gzipped (by magic or `.gz` extension).
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let by_ext = path.extension().is_some_and(|e| e == "gz");
    let by_magic = raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b;
    if !(by_magic || by_ext) {
        return Ok(raw);
    }
    if !by_magic {
        return Err(DataError::BadMagic {
            file: path.display().to_string(),
            expected: "gzip magic 1f 8b (the name ends in .gz)".into(),
            found: hex(&raw[..raw.len().min(2)]),
        });
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| {
            DataError::malformed(path.display().to_string(), format!("gzip stream: {e}"))
        })?;
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads an IDX file of u8 elements (gzipped or not).
pub fn read(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path)?;
    parse(&bytes, &path.display().to_string())
}

/// Parses IDX bytes; `file` names the source in errors.
pub fn parse(bytes: &[u8], file: &str) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: 4,
            found: bytes.len(),
        });
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let ndim = (magic & 0xff) as usize;
    if magic >> 16 != 0 || ndim == 0 {
        return Err(DataError::BadMagic {
            file: file.into(),
            expected: "0x00000803 (images) or 0x00000801 (labels)".into(),
            found: format!("0x{magic:08x}"),
        });
    }
    let ty = (magic >> 8) & 0xff;
    if ty != 0x08 {
        return Err(DataError::UnsupportedDtype {
            file: file.into(),
            dtype: format!("IDX element type 0x{ty:02x} (only 0x08 = u8 is read)"),
        });
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: header,
            found: bytes.len(),
        });
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|d| {
            let o = 4 + 4 * d;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| DataError::malformed(file, format!("dimensions {dims:?} overflow")))?;
    let expected = header + count;
    if bytes.len() < expected {
        return Err(DataError::Truncated {
            file: file.into(),
            expected,
            found: bytes.len(),
        });
    }
    if bytes.len() > expected {
        return Err(DataError::malformed(
            file,
            format!(
                "{} trailing bytes after the {expected} that dimensions {dims:?} describe",
                bytes.len() - expected
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an IDX image file and its label file as one dataset (pixels / 255).
pub fn read_idx_pair(
    images: &Path,
    labels: &Path,
    name: &str,
    num_classes: usize,
) -> Result<Dataset> {
    let img = read(images)?;
    let lab = read(labels)?;
    let img_file = images.display().to_string();
    let lab_file = labels.display().to_string();
    if img.dims.len() != 3 {
        return Err(DataError::shape(
            img_file,
            format!("images must be [n, rows, cols], found {:?}", img.dims),
        ));
    }
    if lab.dims.len() != 1 {
        return Err(DataError::shape(
            lab_file,
            format!("labels must be [n], found {:?}", lab.dims),
        ));
    }
    if lab.dims[0] != img.dims[0] {
        return Err(DataError::shape(
            lab_file,
            format!(
                "{} labels for {} images in {img_file}",
                lab.dims[0], img.dims[0]
            ),
        ));
    }
    if let Some((index, &l)) = lab
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= num_classes)
    {
        return Err(DataError::LabelOutOfRange {
            file: lab_file,
            index,
            label: l as i64,
            num_classes,
        });
    }
    let x = img.data.iter().map(|&p| p as f32 / 255.0).collect();
    Dataset::new(
        name,
        x,
        vec![1, img.dims[1], img.dims[2]],
        Targets::Classes {
            labels: lab.data.iter().map(|&l| l as u32).collect(),
            num_classes,
        },
    )
}

/// Reads the MNIST layout in `dir` (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
/// `t10k-…`) as a split with 10 classes, its parts named `{name}/train` and `{name}/t10k`.
pub fn read_mnist_split(dir: &Path, name: &str) -> Result<Split> {
    let pair = |prefix: &str| {
        read_idx_pair(
            &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            &dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            &format!("{name}/{prefix}"),
            10,
        )
    };
    Ok(Split {
        train: pair("train")?,
        test: pair("t10k")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn plain_and_gz_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = idx_bytes(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let plain = dir.path().join("a-idx3-ubyte");
        std::fs::write(&plain, &bytes).unwrap();
        let gz = dir.path().join("b.bin"); // gzipped, found by magic, not extension
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        for p in [&plain, &gz] {
            let a = read(p).unwrap();
            assert_eq!(a.dims, vec![2, 2, 3]);
            assert_eq!(a.data, (1..=12).collect::<Vec<u8>>());
        }
    }

    #[test]
    fn corrupt_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short-idx3-ubyte");
        let mut bytes = idx_bytes(&[2, 2, 3], &[0; 12]);
        bytes.truncate(20);
        std::fs::write(&p, &bytes).unwrap();
        let e = read(&p).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    expected: 28,
                    found: 20,
                    ..
                }
            ),
            "{e}"
        );
        let msg = e.to_string();
        assert!(msg.contains("short-idx3-ubyte") && msg.contains("expected 28 bytes, found 20"));

        let p = dir.path().join("magic-idx1-ubyte");
        std::fs::write(&p, [0x12, 0x34, 0x08, 0x01, 0, 0, 0, 0]).unwrap();
        let e = read(&p).unwrap_err();
        assert!(matches!(e, DataError::BadMagic { .. }), "{e}");
        assert!(e.to_string().contains("0x12340801"), "{e}");

        let p = dir.path().join("float-idx1-ubyte");
        std::fs::write(&p, [0, 0, 0x0d, 0x01, 0, 0, 0, 0]).unwrap();
        assert!(matches!(
            read(&p).unwrap_err(),
            DataError::UnsupportedDtype { .. }
        ));

        // A .gz name that is not gzip, and a truncated gzip stream.
        let p = dir.path().join("fake.gz");
        std::fs::write(&p, idx_bytes(&[1], &[0])).unwrap();
        assert!(matches!(read(&p).unwrap_err(), DataError::BadMagic { .. }));
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&idx_bytes(&[64], &[7; 64])).unwrap();
        let mut gz = enc.finish().unwrap();
        gz.truncate(gz.len() / 2);
        let p = dir.path().join("cut.gz");
        std::fs::write(&p, gz).unwrap();
        let e = read(&p).unwrap_err();
        assert!(e.to_string().contains("cut.gz"), "{e}");

        let e = read(dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }) && e.to_string().contains("missing"));
    }
}
