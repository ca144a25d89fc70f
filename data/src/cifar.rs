//! CIFAR-10 binary batches (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin` from
//! `cifar-10-binary.tar.gz`).
//!
//! A batch is a sequence of fixed-size records: one label byte (0–9), then 3,072 pixel bytes —
//! the 1,024 red values of the 32×32 image row by row, then the green, then the blue (CHW).
//! The official batches hold 10,000 records each; the reader accepts any whole number of records.

use std::path::Path;

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};

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
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        let whole = bytes.len() / RECORD + 1;
        return Err(DataError::Truncated {
            file: file.into(),
            expected: whole * RECORD,
            found: bytes.len(),
        });
    }
    let n = bytes.len() / RECORD;
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

/// Reads one binary batch file.
pub fn read(path: impl AsRef<Path>) -> Result<Batch> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(&bytes, &path.display().to_string())
}

/// Reads batch files in order as one dataset named `name`, of example shape `[3, 32, 32]`.
pub fn read_dataset<P: AsRef<Path>>(paths: &[P], name: &str) -> Result<Dataset> {
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for p in paths {
        let b = read(p)?;
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
