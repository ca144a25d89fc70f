//! NPY arrays (numpy's `.npy` format, versions 1–3), parsed by hand.
//!
//! Supported dtypes: `<f4`, `<f8`, `<i8`, `<i4`, `|u1` (little-endian, as numpy writes them on
//! x86 and ARM); any other is an [`DataError::UnsupportedDtype`] naming it. `fortran_order` must
//! be `False`.

use std::path::Path;

use crate::error::{DataError, Result};

/// Elements of an NPY array.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
}

/// An NPY array: shape and elements (C order).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::U8(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numpy dtype string of the elements.
    pub fn dtype(&self) -> &'static str {
        match &self.data {
            NpyData::F32(_) => "<f4",
            NpyData::F64(_) => "<f8",
            NpyData::I64(_) => "<i8",
            NpyData::I32(_) => "<i4",
            NpyData::U8(_) => "|u1",
        }
    }

    /// Elements converted to f32 (any dtype).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&a| a as f32).collect(),
            NpyData::I64(v) => v.iter().map(|&a| a as f32).collect(),
            NpyData::I32(v) => v.iter().map(|&a| a as f32).collect(),
            NpyData::U8(v) => v.iter().map(|&a| a as f32).collect(),
        }
    }

    /// Elements as class labels in `0..num_classes`; an integer dtype is required and any
    /// label out of range is an error naming `file`, the example and the label.
    pub fn to_labels(&self, file: &str, num_classes: usize) -> Result<Vec<u32>> {
        let ints: Vec<i64> = match &self.data {
            NpyData::I64(v) => v.clone(),
            NpyData::I32(v) => v.iter().map(|&a| a as i64).collect(),
            NpyData::U8(v) => v.iter().map(|&a| a as i64).collect(),
            NpyData::F32(_) | NpyData::F64(_) => {
                return Err(DataError::UnsupportedDtype {
                    file: file.into(),
                    dtype: format!("{} for labels (an integer dtype is needed)", self.dtype()),
                })
            }
        };
        ints.iter()
            .enumerate()
            .map(|(index, &label)| {
                if label < 0 || label as u64 >= num_classes as u64 {
                    Err(DataError::LabelOutOfRange {
                        file: file.into(),
                        index,
                        label,
                        num_classes,
                    })
                } else {
                    Ok(label as u32)
                }
            })
            .collect()
    }
}

/// Reads a `.npy` file.
pub fn read(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(&bytes, &path.display().to_string())
}

/// Parses the bytes of an NPY array; `file` names the source in errors.
pub fn parse(bytes: &[u8], file: &str) -> Result<NpyArray> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 10 {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: 10,
            found: bytes.len(),
        });
    }
    if &bytes[..6] != MAGIC {
        return Err(DataError::BadMagic {
            file: file.into(),
            expected: "\\x93NUMPY".into(),
            found: format!("{:?}", String::from_utf8_lossy(&bytes[..6])),
        });
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(DataError::Truncated {
                    file: file.into(),
                    expected: 12,
                    found: bytes.len(),
                });
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(DataError::malformed(
                file,
                format!("NPY format version {v} is not supported (1, 2, 3 are)"),
            ))
        }
    };
    let data_start = start + header_len;
    if bytes.len() < data_start {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: data_start,
            found: bytes.len(),
        });
    }
    let header = std::str::from_utf8(&bytes[start..data_start])
        .map_err(|_| DataError::malformed(file, "NPY header is not UTF-8"))?;
    let descr = dict_value(header, "descr", file)?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| DataError::malformed(file, format!("descr {descr:?} is not a string")))?
        .to_string();
    let fortran = dict_value(header, "fortran_order", file)?;
    if fortran.starts_with("True") {
        return Err(DataError::malformed(
            file,
            "fortran_order True is not supported (save C-ordered arrays)",
        ));
    } else if !fortran.starts_with("False") {
        return Err(DataError::malformed(
            file,
            format!("fortran_order {fortran:?}"),
        ));
    }
    let shape_src = dict_value(header, "shape", file)?;
    let inner = shape_src
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| DataError::malformed(file, format!("shape {shape_src:?} is not a tuple")))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| DataError::malformed(file, format!("shape entry {s:?}")))
        })
        .collect::<Result<_>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| DataError::malformed(file, format!("shape {shape:?} overflows")))?;
    let size = match descr.as_str() {
        "<f4" | "<i4" => 4,
        "<f8" | "<i8" => 8,
        "|u1" => 1,
        _ => {
            return Err(DataError::UnsupportedDtype {
                file: file.into(),
                dtype: descr,
            })
        }
    };
    let body = &bytes[data_start..];
    let expected = count * size;
    if body.len() < expected {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: data_start + expected,
            found: bytes.len(),
        });
    }
    let body = &body[..expected];
    let data = match descr.as_str() {
        "<f4" => NpyData::F32(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        "<i4" => NpyData::I32(
            body.chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        "<f8" => NpyData::F64(
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        "<i8" => NpyData::I64(
            body.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        _ => NpyData::U8(body.to_vec()),
    };
    Ok(NpyArray { shape, data })
}

/// The source text of the value of `'key':` in a Python dict literal, up to the end.
fn dict_value<'a>(header: &'a str, key: &str, file: &str) -> Result<&'a str> {
    for quote in ['\'', '"'] {
        let pat = format!("{quote}{key}{quote}");
        if let Some(pos) = header.find(&pat) {
            let rest = header[pos + pat.len()..].trim_start();
            if let Some(rest) = rest.strip_prefix(':') {
                return Ok(rest.trim_start());
            }
        }
    }
    Err(DataError::malformed(
        file,
        format!("NPY header has no {key:?}: {header:?}"),
    ))
}

/// Encodes an array as NPY version 1 bytes (used by tests and for writing small fixtures).
pub fn to_bytes(array: &NpyArray) -> Vec<u8> {
    let shape = match array.shape.len() {
        1 => format!("({},)", array.shape[0]),
        _ => format!(
            "({})",
            array
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        array.dtype()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match &array.data {
        NpyData::F32(v) => v
            .iter()
            .for_each(|a| out.extend_from_slice(&a.to_le_bytes())),
        NpyData::F64(v) => v
            .iter()
            .for_each(|a| out.extend_from_slice(&a.to_le_bytes())),
        NpyData::I64(v) => v
            .iter()
            .for_each(|a| out.extend_from_slice(&a.to_le_bytes())),
        NpyData::I32(v) => v
            .iter()
            .for_each(|a| out.extend_from_slice(&a.to_le_bytes())),
        NpyData::U8(v) => out.extend_from_slice(v),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype() {
        for data in [
            NpyData::F32(vec![1.5, -2.0, 3.25, 0.0, 7.0, 8.0]),
            NpyData::F64(vec![1.5, -2.0, 3.25, 0.0, 7.0, 8.0]),
            NpyData::I64(vec![1, -2, 3, 0, 7, 8]),
            NpyData::I32(vec![1, -2, 3, 0, 7, 8]),
            NpyData::U8(vec![1, 2, 3, 0, 7, 255]),
        ] {
            let a = NpyArray {
                shape: vec![2, 3],
                data,
            };
            let b = parse(&to_bytes(&a), "mem.npy").unwrap();
            assert_eq!(a, b);
        }
        let a = NpyArray {
            shape: vec![4],
            data: NpyData::I64(vec![0, 3, 9, 2]),
        };
        let b = parse(&to_bytes(&a), "mem.npy").unwrap();
        assert_eq!(b.shape, vec![4]);
        assert_eq!(b.to_labels("mem.npy", 10).unwrap(), vec![0, 3, 9, 2]);
        let e = b.to_labels("mem.npy", 9).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::LabelOutOfRange {
                    index: 2,
                    label: 9,
                    num_classes: 9,
                    ..
                }
            ),
            "{e}"
        );
    }

    /// Replaces the first occurrence of `from` by `to` (same length) in `bytes`.
    fn patch(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let pos = bytes.windows(from.len()).position(|w| w == from).unwrap();
        let mut out = bytes.to_vec();
        out[pos..pos + to.len()].copy_from_slice(to);
        out
    }

    #[test]
    fn bad_files_are_named_errors() {
        let a = NpyArray {
            shape: vec![2, 2],
            data: NpyData::F32(vec![1.0; 4]),
        };
        let good = to_bytes(&a);
        // Wrong dtype: a big-endian float.
        let e = parse(&patch(&good, b"<f4", b">f4"), "be.npy").unwrap_err();
        assert!(matches!(&e, DataError::UnsupportedDtype { dtype, .. } if dtype == ">f4"));
        assert!(e.to_string().contains("be.npy") && e.to_string().contains(">f4"));
        // Truncated body.
        let e = parse(&good[..good.len() - 3], "cut.npy").unwrap_err();
        assert!(
            matches!(e, DataError::Truncated { found, expected, .. } if expected == found + 3),
            "{e}"
        );
        // Bad magic.
        let e = parse(b"PK\x03\x04 not numpy at all", "x.npy").unwrap_err();
        assert!(matches!(e, DataError::BadMagic { .. }), "{e}");
        // Fortran order.
        assert!(parse(&patch(&good, b"False", b"True "), "f.npy")
            .unwrap_err()
            .to_string()
            .contains("fortran_order"));
    }
}
