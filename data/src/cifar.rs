//! CIFAR-10 binary batches (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin` from
//! `cifar-10-binary.tar.gz`).
//!
//! A batch is a sequence of fixed-size records: one label byte (0–9), then 3,072 pixel bytes —
//! the 1,024 red values of the 32×32 image row by row, then the green, then the blue (CHW).
//! The official batches hold 10,000 records each; the reader accepts any whole number of records.

use std::path::Path;

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};
use crate::memory;

/// Pixel bytes of one image (3 × 32 × 32).
pub const PIXELS: usize = 3 * 32 * 32;
/// Bytes of one record: the label byte and the pixels.
pub const RECORD: usize = 1 + PIXELS;
/// Classes of CIFAR-10 (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck).
pub const NUM_CLASSES: usize = 10;

/// The examples of one batch: pixels scaled to [0, 1] (CHW per image) and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub x: Vec<f32>,
    pub labels: Vec<u32>,
}

/// Parses the bytes of a binary batch; `file` names the source in errors.
pub fn parse(bytes: &[u8], file: &str) -> Result<Batch> {
    let n = records(bytes.len() as u64, file)?;
    memory::check(file, &format!("{n} records"), (4 * PIXELS * n) as u64)?;
    let mut x = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (index, rec) in bytes.chunks_exact(RECORD).enumerate() {
        let label = rec[0];
        if label as usize >= NUM_CLASSES {
            return Err(DataError::LabelOutOfRange {
                file: file.into(),
                index,
                label: label as i64,
                num_classes: NUM_CLASSES,
            });
        }
        labels.push(label as u32);
        x.extend(rec[1..].iter().map(|&p| p as f32 / 255.0));
    }
    Ok(Batch { x, labels })
}

/// The number of records in `len` bytes: a whole, non-zero number, or `Truncated`.
fn records(len: u64, file: &str) -> Result<usize> {
    let record = RECORD as u64;
    if len == 0 || !len.is_multiple_of(record) {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: ((len / record + 1) * record) as usize,
            found: len as usize,
        });
    }
    Ok((len / record) as usize)
}

/// Reads one binary batch file.
pub fn read(path: impl AsRef<Path>) -> Result<Batch> {
    let path = path.as_ref();
    parse(&read_bytes(path)?, &path.display().to_string())
}

/// The bytes of a batch file, once its size is a whole number of records that fits in memory.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let file = path.display().to_string();
    let len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len();
    let n = records(len, &file)?;
    memory::check(&file, &format!("{n} records"), len)?;
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}

/// Reads batch files in order as one dataset named `name`, of example shape `[3, 32, 32]`.
pub fn read_dataset<P: AsRef<Path>>(paths: &[P], name: &str) -> Result<Dataset> {
    read_dataset_with(paths, name, read_bytes)
}

/// [`read_dataset`] with `read` fetching each file's bytes (e.g. checking them against a
/// manifest first).
pub(crate) fn read_dataset_with<P: AsRef<Path>>(
    paths: &[P],
    name: &str,
    read: impl Fn(&Path) -> Result<Vec<u8>>,
) -> Result<Dataset> {
    // Every batch's pixels as f32, before the first is read.
    let mut total = 0u64;
    for p in paths {
        let p = p.as_ref();
        total += std::fs::metadata(p).map_err(|e| DataError::io(p, e))?.len();
    }
    memory::check(name, "the batches as f32", total.saturating_mul(4))?;
    let n = (total / RECORD as u64) as usize;
    let mut x = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for p in paths {
        let p = p.as_ref();
        let b = parse(&read(p)?, &p.display().to_string())?;
        x.extend_from_slice(&b.x);
        labels.extend_from_slice(&b.labels);
    }
    Dataset::new(
        name,
        x,
        vec![3, 32, 32],
        Targets::Classes {
            labels,
            num_classes: NUM_CLASSES,
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record whose channel `c` pixel `i` is `(seed + 3 c + i) % 256`.
    pub(crate) fn record(label: u8, seed: usize) -> Vec<u8> {
        let mut r = vec![label];
        for c in 0..3 {
            r.extend((0..1024).map(|i| ((seed + 3 * c + i) % 256) as u8));
        }
        r
    }

    #[test]
    fn reads_records_in_chw_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = record(3, 0);
        bytes.extend(record(9, 100));
        let p = dir.path().join("data_batch_1.bin");
        std::fs::write(&p, &bytes).unwrap();
        let b = read(&p).unwrap();
        assert_eq!(b.labels, vec![3, 9]);
        assert_eq!(b.x.len(), 2 * PIXELS);
        // Image 0: red (0,0) = 0, red (0,1) = 1, green (0,0) = 3, blue (31,31) = (6+1023)%256.
        assert_eq!(b.x[0], 0.0);
        assert_eq!(b.x[1], 1.0 / 255.0);
        assert_eq!(b.x[1024], 3.0 / 255.0);
        assert_eq!(b.x[PIXELS - 1], ((6 + 1023) % 256) as f32 / 255.0);
        // Image 1 starts after the 3,072 values of image 0: red (0,0) = 100.
        assert_eq!(b.x[PIXELS], 100.0 / 255.0);
        assert!(b.x.iter().all(|v| (0.0..=1.0).contains(v)));

        let p2 = dir.path().join("test_batch.bin");
        std::fs::write(&p2, record(0, 7)).unwrap();
        let d = read_dataset(&[&p, &p2], "cifar10/train").unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.shape, vec![3, 32, 32]);
        assert_eq!(d.labels().unwrap(), &[3, 9, 0]);
        assert_eq!(d.example(2)[0], 7.0 / 255.0);
    }

    #[test]
    fn truncated_and_bad_labels_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data_batch_2.bin");
        let mut bytes = record(1, 0);
        bytes.extend(record(2, 0));
        bytes.truncate(RECORD + 100);
        std::fs::write(&p, &bytes).unwrap();
        let e = read(&p).unwrap_err();
        assert!(
            matches!(e, DataError::Truncated { expected, found, .. }
                if expected == 2 * RECORD && found == RECORD + 100),
            "{e}"
        );
        assert!(e.to_string().contains("data_batch_2.bin"), "{e}");

        std::fs::write(&p, []).unwrap();
        let e = read(&p).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    expected: RECORD,
                    found: 0,
                    ..
                }
            ),
            "{e}"
        );

        let mut bytes = record(1, 0);
        bytes.extend(record(10, 0));
        std::fs::write(&p, &bytes).unwrap();
        let e = read(&p).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::LabelOutOfRange {
                    index: 1,
                    label: 10,
                    num_classes: 10,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("data_batch_2.bin"), "{e}");

        let e = read(dir.path().join("test_batch.bin")).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e}");
        assert!(e.to_string().contains("test_batch.bin"), "{e}");
    }
}
