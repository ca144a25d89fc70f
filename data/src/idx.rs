//! IDX files (the classic MNIST format), plain or gzipped.
//!
//! Layout: a big-endian magic `0x0000TTNN` (TT = element type, only `0x08` = u8 is supported;
//! NN = number of dimensions: images are `0x00000803`, labels `0x00000801`), then NN big-endian
//! u32 dimensions, then the elements. A file is gunzipped first when it starts with the gzip
//! magic `1f 8b` (a name ending in `.gz` requires it).
//!
//! The header is read first and checked before anything is allocated for the elements: a plain
//! file must hold exactly what the dimensions describe; a gzipped one must be able to inflate to
//! it ([`crate::limits`]), and is then inflated through `Read::take` of exactly that, so a stream
//! that holds more stops one byte past the claim (trailing data) instead of inflating the rest.
//!
//! An image file `[n, rows, cols]` and its label file `[n]` make a dataset ([`read_idx_pair`]);
//! MNIST's four files (`{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`) make a split
//! ([`read_mnist_split`]), for the bundled `mnist-10k` and the downloaded `mnist` and
//! `fashion-mnist` alike.

use std::io::Read;
use std::path::Path;

use crate::dataset::{Dataset, Split, Targets};
use crate::error::{DataError, Result};
use crate::limits::{self, Source};
use crate::memory;

/// An IDX array of bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[n, 28, 28]` for images, `[n]` for labels).
    pub dims: Vec<usize>,
    /// Elements, row-major.
    pub data: Vec<u8>,
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
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = f.metadata().map_err(|e| DataError::io(path, e))?.len();
    let gz_name = path.extension().is_some_and(|e| e == "gz");
    let io = |e: std::io::Error| DataError::io(path, e);
    read_from(
        &mut std::io::BufReader::new(f),
        len,
        &path.display().to_string(),
        gz_name,
        &io,
    )
}

/// [`read`] of a file's bytes in memory, gunzipped when they start with the gzip magic; `file`
/// names them in errors (and, ending in `.gz`, requires the gzip magic).
pub fn read_bytes(bytes: &[u8], file: &str) -> Result<IdxArray> {
    let io = |e: std::io::Error| DataError::malformed(file, e.to_string());
    read_from(
        &mut &bytes[..],
        bytes.len() as u64,
        file,
        file.ends_with(".gz"),
        &io,
    )
}

/// Parses IDX bytes (not gzipped); `file` names the source in errors.
pub fn parse(bytes: &[u8], file: &str) -> Result<IdxArray> {
    let io = |e: std::io::Error| DataError::malformed(file, e.to_string());
    parse_stream(
        &mut &bytes[..],
        Source::Stored {
            available: bytes.len() as u64,
        },
        file,
        &io,
    )
}

/// An IDX array from `r`, a source of `len` bytes, gzipped when it starts with the gzip magic
/// (or, `gz_name`, must).
fn read_from(
    r: &mut dyn Read,
    len: u64,
    file: &str,
    gz_name: bool,
    io: &dyn Fn(std::io::Error) -> DataError,
) -> Result<IdxArray> {
    let mut magic = [0u8; 2];
    let got = limits::read_up_to(r, &mut magic).map_err(io)?;
    let mut whole = (&magic[..got]).chain(r);
    if got == 2 && magic == [0x1f, 0x8b] {
        let gzip = |e: std::io::Error| DataError::malformed(file, format!("gzip stream: {e}"));
        let mut inflated = flate2::read::MultiGzDecoder::new(whole);
        return parse_stream(
            &mut inflated,
            Source::Deflated { compressed: len },
            file,
            &gzip,
        );
    }
    if gz_name {
        return Err(DataError::BadMagic {
            file: file.into(),
            expected: "gzip magic 1f 8b (the name ends in .gz)".into(),
            found: hex(&magic[..got]),
        });
    }
    parse_stream(&mut whole, Source::Stored { available: len }, file, io)
}

/// The header, checked, then exactly the elements it describes (see [`crate::limits`]).
fn parse_stream(
    r: &mut dyn Read,
    source: Source,
    file: &str,
    io: &dyn Fn(std::io::Error) -> DataError,
) -> Result<IdxArray> {
    let mut m = [0u8; 4];
    let got = limits::read_up_to(r, &mut m).map_err(io)?;
    if got < 4 {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: 4,
            found: got,
        });
    }
    let magic = u32::from_be_bytes(m);
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
    let mut d = vec![0u8; 4 * ndim];
    let got = limits::read_up_to(r, &mut d).map_err(io)?;
    if got < d.len() {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: header,
            found: 4 + got,
        });
    }
    let dims: Vec<usize> = d
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = limits::product(file, "dimensions", &dims)?;
    let what = format!("the IDX header (dimensions {dims:?})");
    if let Source::Stored { available } = source {
        let left = available.saturating_sub(header as u64);
        if count as u64 > left {
            return Err(DataError::Truncated {
                file: file.into(),
                expected: header.saturating_add(count),
                found: available as usize,
            });
        }
        if (count as u64) < left {
            return Err(DataError::malformed(
                file,
                format!(
                    "{} trailing bytes after the {} that dimensions {dims:?} describe",
                    left - count as u64,
                    header + count
                ),
            ));
        }
    }
    limits::check_claim(file, &what, count as u64, source)?;
    // The bytes, and the f32 copy a dataset makes of them.
    memory::check(file, &format!("dimensions {dims:?}"), 5 * count as u64)?;
    let data = limits::read_exact_then_end(r, count, file, header, io)?;
    Ok(IdxArray { dims, data })
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

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b).unwrap();
        enc.finish().unwrap()
    }

    /// A reader that counts the bytes read from it.
    struct Counting<'a>(&'a [u8], usize);

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1 += n;
            Ok(n)
        }
    }

    /// Regression: a gzipped IDX file was inflated whole before its header was read (6 MB
    /// inflating to 6 GB). A header claiming 60000×28×28 followed by more zeros than that: the
    /// loader inflates the claim and one byte more, reports the trailing data, and reads only
    /// part of the compressed stream.
    #[test]
    fn gzip_bomb_idx_stops_one_byte_past_its_claim() {
        let claim = 60_000 * 28 * 28;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&idx_bytes(&[60_000, 28, 28], &[])).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(3 * claim) >> 20 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let mut src = Counting(&bomb, 0);
        let io = |e: std::io::Error| DataError::malformed("bomb.gz", e.to_string());
        let e = read_from(&mut src, bomb.len() as u64, "bomb.gz", true, &io).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "bomb.gz: malformed: trailing data after the {} bytes the header describes",
                16 + claim
            )
        );
        assert!(src.1 < bomb.len() / 2, "read {} of {}", src.1, bomb.len());
        // The same through a file, and through bytes in memory.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train-images-idx3-ubyte.gz");
        std::fs::write(&p, &bomb).unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("trailing data"));
        assert!(read_bytes(&bomb, "b.gz")
            .unwrap_err()
            .to_string()
            .contains("trailing data"));
    }

    /// A small gzip file whose header claims more than its compressed bytes can inflate to is
    /// refused before anything is inflated or allocated, naming the claim.
    #[test]
    fn gzipped_idx_is_not_inflated_before_its_header_is_checked() {
        let small = gz(&idx_bytes(&[60_000, 28, 28], &[0; 1000]));
        assert!(small.len() < 1024);
        let e = read_bytes(&small, "t.gz").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "t.gz: the IDX header (dimensions [60000, 28, 28]) claims 47040000 bytes, but {} deflated bytes inflate to at most {} (ratio 1032:1)",
                small.len(),
                crate::limits::max_inflated(small.len() as u64)
            )
        );
        // Within the ratio but cut short: truncated, naming what came.
        let noise: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let cut = gz(&idx_bytes(&[100, 28, 28], &noise));
        let e = read_bytes(&cut, "c.gz").unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    expected: 78_416,
                    found: 20_016,
                    ..
                }
            ),
            "{e}"
        );
        // Plain files: dimensions beyond the file, or overflowing, allocate nothing.
        let e = parse(&idx_bytes(&[65_535, 65_535, 65_535], &[0; 8]), "p").unwrap_err();
        assert!(matches!(e, DataError::Truncated { found: 24, .. }), "{e}");
        let e = parse(&idx_bytes(&[u32::MAX; 3], &[]), "p").unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
        let e = parse(&idx_bytes(&[2], &[1, 2, 3]), "p").unwrap_err();
        assert!(e.to_string().contains("1 trailing bytes"), "{e}");
        // Every prefix of a good file is an error, not a panic.
        let good = idx_bytes(&[2, 2], &[1, 2, 3, 4]);
        for n in 0..good.len() {
            assert!(parse(&good[..n], "p").is_err(), "{n}");
            assert!(read_bytes(&gz(&good)[..n.min(10)], "p").is_err(), "{n}");
        }
        // Concatenated gzip members are one stream (as gunzip reads them).
        let two = [gz(&good[..10]), gz(&good[10..])].concat();
        assert_eq!(read_bytes(&two, "two.gz").unwrap().data, vec![1, 2, 3, 4]);
    }

    #[test]
    fn labels_out_of_range_and_mismatched_pairs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("i-idx3-ubyte");
        let lab = dir.path().join("l-idx1-ubyte");
        std::fs::write(&img, idx_bytes(&[3, 2, 2], &[0; 12])).unwrap();
        std::fs::write(&lab, idx_bytes(&[3], &[0, 9, 10])).unwrap();
        let e = read_idx_pair(&img, &lab, "t", 10).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::LabelOutOfRange {
                    index: 2,
                    label: 10,
                    num_classes: 10,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("l-idx1-ubyte"), "{e}");
        std::fs::write(&lab, idx_bytes(&[2], &[0, 1])).unwrap();
        let e = read_idx_pair(&img, &lab, "t", 10).unwrap_err();
        assert!(e.to_string().contains("2 labels for 3 images"), "{e}");
    }
}
