//! NPZ archives (`np.savez` / `np.savez_compressed`): a zip of `.npy` members.
//!
//! An archive holding `x`, `y`, `x_test`, `y_test` reads as a split ([`npz_split`]): the bundled
//! `mnist1d` and `digits`, and any such file a run names.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::dataset::{Dataset, Split, Targets};
use crate::error::{DataError, Result};
use crate::limits;
use crate::npy::{self, NpyArray};

/// Reads every array of an `.npz` file, keyed by name without the `.npy` suffix.
pub fn read(path: impl AsRef<Path>) -> Result<BTreeMap<String, NpyArray>> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    read_from(std::io::BufReader::new(f), &path.display().to_string())
}

/// [`read`] from any seekable source (an open file, bytes in a `std::io::Cursor`); `file`
/// names it in errors.
///
/// Each member's sizes are checked before it is read: its compressed size must fit in the
/// source; a stored member holds what it claims, a deflated one claims at most
/// [`limits::MAX_DEFLATE_RATIO`] times its compressed size (and [`limits::MAX_ARRAY_BYTES`] in
/// all). The NPY array inside must then be exactly that claim ([`npy`]), and is inflated through
/// `Read::take` of it: a deflate bomb stops one byte past its claim.
pub fn read_from<R: Read + Seek>(mut source: R, file: &str) -> Result<BTreeMap<String, NpyArray>> {
    let io = |e: std::io::Error| DataError::Io {
        file: file.into(),
        error: e,
    };
    let len = source.seek(SeekFrom::End(0)).map_err(io)?;
    source.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut zip = zip::ZipArchive::new(source)
        .map_err(|e| DataError::malformed(file, format!("not a readable zip archive: {e}")))?;
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut member = zip
            .by_index(i)
            .map_err(|e| DataError::malformed(file, format!("zip member {i}: {e}")))?;
        let name = member.name().to_string();
        let label = format!("{file}:{name}");
        let claim = member.size();
        let compressed = member.compressed_size();
        limits::check_claim(
            &label,
            "the zip directory's compressed size",
            compressed,
            limits::Source::Stored { available: len },
        )?;
        match member.compression() {
            zip::CompressionMethod::Stored if claim != compressed => {
                return Err(DataError::malformed(
                    &label,
                    format!("a stored member of {compressed} bytes claims {claim} bytes"),
                ))
            }
            zip::CompressionMethod::Stored => {}
            zip::CompressionMethod::Deflated => limits::check_claim(
                &label,
                "the zip directory",
                claim,
                limits::Source::Deflated { compressed },
            )?,
            m => {
                return Err(DataError::malformed(
                    &label,
                    format!("compression {m} is not supported (stored and deflated are)"),
                ))
            }
        }
        let inflate =
            |e: std::io::Error| DataError::malformed(&label, format!("cannot decompress: {e}"));
        let array = npy::read_from(&mut member, claim, &label, &inflate)?;
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

/// Writes arrays as an uncompressed or deflated `.npz` (for fixtures and exports), durably.
pub fn write(path: impl AsRef<Path>, arrays: &[(&str, &NpyArray)], compress: bool) -> Result<()> {
    use std::io::Write;
    let path = path.as_ref();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
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
    let bytes = zip.finish().map_err(|e| err(&e))?.into_inner();
    durable::write(path, &bytes).map_err(|e| DataError::io(path, e))
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
            x.to_f32_checked(&xf)?,
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

    /// One member of a hand-made zip: its name, method (0 stored, 8 deflated), the bytes as
    /// stored in the file, and the sizes its headers claim.
    pub(crate) struct Raw<'a> {
        pub name: &'a str,
        pub method: u16,
        pub data: &'a [u8],
        pub crc: u32,
        pub uncompressed: u64,
        pub compressed: u64,
    }

    /// A zip archive of `members` whose headers say whatever the members claim (sizes beyond
    /// 4 GiB through zip64 extra fields), as a hostile file would.
    pub(crate) fn raw_zip(members: &[Raw]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for m in members {
            let offset = out.len() as u32;
            let big = m.uncompressed >= u32::MAX as u64 || m.compressed >= u32::MAX as u64;
            let (c32, u32_) = if big {
                (u32::MAX, u32::MAX)
            } else {
                (m.compressed as u32, m.uncompressed as u32)
            };
            let mut extra = Vec::new();
            if big {
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&16u16.to_le_bytes());
                extra.extend_from_slice(&m.uncompressed.to_le_bytes());
                extra.extend_from_slice(&m.compressed.to_le_bytes());
            }
            let version: u16 = if big { 45 } else { 20 };
            let common = |b: &mut Vec<u8>| {
                b.extend_from_slice(&version.to_le_bytes());
                b.extend_from_slice(&0u16.to_le_bytes()); // flags
                b.extend_from_slice(&m.method.to_le_bytes());
                b.extend_from_slice(&0u16.to_le_bytes()); // time
                b.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
                b.extend_from_slice(&m.crc.to_le_bytes());
                b.extend_from_slice(&c32.to_le_bytes());
                b.extend_from_slice(&u32_.to_le_bytes());
                b.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
                b.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            };
            out.extend_from_slice(&0x04034b50u32.to_le_bytes());
            common(&mut out);
            out.extend_from_slice(m.name.as_bytes());
            out.extend_from_slice(&extra);
            out.extend_from_slice(m.data);
            central.extend_from_slice(&0x02014b50u32.to_le_bytes());
            central.extend_from_slice(&version.to_le_bytes()); // made by
            common(&mut central);
            central.extend_from_slice(&0u16.to_le_bytes()); // comment
            central.extend_from_slice(&0u16.to_le_bytes()); // disk
            central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(m.name.as_bytes());
            central.extend_from_slice(&extra);
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x06054b50u32.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn crc(b: &[u8]) -> u32 {
        let mut c = flate2::Crc::new();
        c.update(b);
        c.sum()
    }

    fn deflate(b: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn small_npy() -> Vec<u8> {
        npy::to_bytes(&NpyArray {
            shape: vec![2, 3],
            data: NpyData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        })
    }

    #[test]
    fn hand_made_zip_reads_like_numpys() {
        let x = small_npy();
        let z = deflate(&x);
        for (method, data) in [(0, &x), (8, &z)] {
            let bytes = raw_zip(&[Raw {
                name: "x.npy",
                method,
                data,
                crc: crc(&x),
                uncompressed: x.len() as u64,
                compressed: data.len() as u64,
            }]);
            let m = read_from(std::io::Cursor::new(bytes), "h.npz").unwrap();
            assert_eq!(m["x"].to_f32(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
            // The CRC is still checked, though the member is read through its exact length.
            let bytes = raw_zip(&[Raw {
                name: "x.npy",
                method,
                data,
                crc: crc(&x) ^ 1,
                uncompressed: x.len() as u64,
                compressed: data.len() as u64,
            }]);
            let e = read_from(std::io::Cursor::new(bytes), "h.npz").unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("h.npz:x.npy: malformed: cannot decompress"),
                "{e}"
            );
        }
    }

    /// The claims of a hostile `.npz`: each must be an error naming the file, the member and
    /// the claim (the process used to abort, or panic, allocating a buffer of the claimed size).
    fn hostile_claims(claim: u64) {
        let x = small_npy();
        let z = deflate(&x);
        let cases = [
            // Stored, both sizes claimed: more than the whole file.
            (0, &x, claim, claim, "compressed size claims"),
            // Stored, only the uncompressed size claimed.
            (0, &x, claim, x.len() as u64, "a stored member of"),
            // Deflated: more than the compressed bytes can inflate to.
            (8, &z, claim, z.len() as u64, "inflate to at most"),
        ];
        for (method, data, uncompressed, compressed, why) in cases {
            let bytes = raw_zip(&[Raw {
                name: "x.npy",
                method,
                data,
                crc: crc(&x),
                uncompressed,
                compressed,
            }]);
            assert!(bytes.len() < 1024, "{}", bytes.len());
            let e = read_from(std::io::Cursor::new(bytes), "hostile.npz").unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("hostile.npz:x.npy: "), "{msg}");
            assert!(msg.contains(&claim.to_string()), "{msg}");
            assert!(msg.contains(why), "{why:?} not in {msg}");
        }
        // And through a file on disk.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hostile.npz");
        std::fs::write(
            &p,
            raw_zip(&[Raw {
                name: "x.npy",
                method: 8,
                data: &z,
                crc: crc(&x),
                uncompressed: claim,
                compressed: z.len() as u64,
            }]),
        )
        .unwrap();
        let e = read(&p).unwrap_err();
        assert!(matches!(e, DataError::ImplausibleSize { claimed, .. } if claimed == claim));
        assert!(e.to_string().contains("hostile.npz:x.npy"), "{e}");
    }

    #[test]
    fn npz_member_claiming_2_pow_40_bytes_is_an_error_not_an_abort() {
        hostile_claims(1 << 40);
    }

    #[test]
    fn npz_member_claiming_2_pow_63_bytes_is_an_error_not_a_panic() {
        hostile_claims(1 << 63);
        hostile_claims(u64::MAX - 1);
    }

    /// A reader that counts the bytes read from it.
    struct Counting {
        inner: std::io::Cursor<Vec<u8>>,
        read: std::rc::Rc<std::cell::Cell<u64>>,
    }

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl Seek for Counting {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    /// A deflate bomb: a member whose NPY header (and zip directory) describe 6 floats, but
    /// whose deflate stream goes on with 64 MiB of zeros. It is read up to its claim and one
    /// byte more, then refused: the rest is never inflated. A bomb whose directory claims what
    /// the stream really holds (shape to match) is refused before inflating anything, as the
    /// compressed bytes cannot hold it under the ratio.
    #[test]
    fn npz_deflate_bomb_member_stops_one_byte_past_its_claim() {
        use std::io::Write;
        let x = small_npy();
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&x).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        let bytes = raw_zip(&[Raw {
            name: "x.npy",
            method: 8,
            data: &bomb,
            crc: crc(&x),
            uncompressed: x.len() as u64,
            compressed: bomb.len() as u64,
        }]);
        let total = bytes.len() as u64;
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let src = Counting {
            inner: std::io::Cursor::new(bytes),
            read: read.clone(),
        };
        let e = read_from(src, "bomb.npz").unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "bomb.npz:x.npy: malformed: trailing data after the {} bytes",
                x.len()
            )),
            "{e}"
        );
        // The directory and the first blocks, not the stream.
        assert!(read.get() < total / 4, "read {} of {total}", read.get());

        // The same stream under an honest directory, its NPY header describing 2^34 floats:
        // 64 GiB cannot come from so few bytes.
        let big = npy::to_bytes(&NpyArray {
            shape: vec![1 << 34],
            data: NpyData::F32(vec![]),
        });
        let claim = big.len() as u64 + (4u64 << 34); // the header, then 2^34 floats
        let bytes = raw_zip(&[Raw {
            name: "x.npy",
            method: 8,
            data: &bomb,
            crc: 0,
            uncompressed: claim,
            compressed: bomb.len() as u64,
        }]);
        let e = read_from(std::io::Cursor::new(bytes), "bomb.npz").unwrap_err();
        assert!(
            matches!(&e, DataError::ImplausibleSize { claimed, .. } if *claimed == claim),
            "{e}"
        );
    }

    /// Regression: one NaN among an npz's inputs trained to NaN weights and a run that
    /// "succeeded". It is an error naming the file, the array, the row and the column.
    #[test]
    fn nan_in_npz_inputs_is_an_error_naming_array_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = vec![0.5f32; 3 * 4];
        v[6] = f32::NAN; // row 1, column 2
        v[11] = f32::INFINITY;
        let x = NpyArray {
            shape: vec![3, 4],
            data: NpyData::F32(v),
        };
        let y = NpyArray {
            shape: vec![3],
            data: NpyData::I64(vec![0, 1, 2]),
        };
        let p = write_set(dir.path(), x, y.clone());
        let e = npz_split(&p, "bad", None).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::NonFinite {
                    row: 1,
                    column: 2,
                    others: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "{}:x: non-finite value NaN at row 1, column 2 (and 1 more)",
                p.display()
            )
        );
        // f64 values beyond f32's range become infinite: named as they were stored.
        let mut v = vec![0.0f64; 2 * 2 * 2];
        v[5] = -1e300;
        let x = NpyArray {
            shape: vec![2, 2, 2],
            data: NpyData::F64(v),
        };
        let y = NpyArray {
            shape: vec![2],
            data: NpyData::I64(vec![0, 1]),
        };
        let p = write_set(dir.path(), x, y);
        let e = npz_split(&p, "bad", None).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(":x: non-finite value -1e300 (beyond f32's range) at row 1, column 1"),
            "{e}"
        );
    }
}
