//! What a file may claim: the rule every loader applies to a size read from a file (an NPY
//! shape, IDX dimensions, a zip directory entry) before it allocates or inflates anything for it.
//!
//! A claim is accepted only when the bytes at hand can hold it:
//!
//! - stored data must fit in what is left of the file;
//! - deflated data (gzip, zip) inflates to at most [`MAX_DEFLATE_RATIO`] bytes per compressed
//!   byte: deflate's best code is a 258-byte match in 2 bits, 258 × 8 / 2 = 1032, so a
//!   compressed stream of `c` bytes yields at most `1032 c` bytes (plus [`MAX_DEFLATE_RATIO`] of
//!   slack for tiny streams);
//! - and no array is larger than [`MAX_ARRAY_BYTES`] (64 GiB) whatever the file says.
//!
//! The claim is then checked against the memory the machine has ([`crate::memory`]), and the
//! data is read through `Read::take` of exactly the claim, so a stream that holds more than its
//! header says is an error after one byte too many, not after inflating the rest.

use crate::error::{DataError, Result};

/// The most bytes a deflate stream yields per compressed byte.
pub const MAX_DEFLATE_RATIO: u64 = 1032;

/// The largest array (in bytes as stored) any loader accepts: 64 GiB.
pub const MAX_ARRAY_BYTES: u64 = 1 << 36;

/// Where the claimed bytes are to come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Stored as they are: `available` bytes are left in the file.
    Stored { available: u64 },
    /// A deflate stream (gzip, zip) of `compressed` bytes.
    Deflated { compressed: u64 },
}

/// The most bytes a deflate stream of `compressed` bytes can yield.
pub fn max_inflated(compressed: u64) -> u64 {
    compressed
        .saturating_mul(MAX_DEFLATE_RATIO)
        .saturating_add(MAX_DEFLATE_RATIO)
}

/// Checks that `claimed` bytes of `what` (e.g. "the IDX header", "the zip directory entry")
/// in `file` can come from `source` and are within [`MAX_ARRAY_BYTES`].
pub fn check_claim(file: &str, what: &str, claimed: u64, source: Source) -> Result<()> {
    let err = |limit: String| {
        Err(DataError::ImplausibleSize {
            file: file.into(),
            what: what.into(),
            claimed,
            limit,
        })
    };
    match source {
        Source::Stored { available } if claimed > available => {
            return err(format!("the file holds only {available}"))
        }
        Source::Deflated { compressed } if claimed > max_inflated(compressed) => {
            return err(format!(
                "{compressed} deflated bytes inflate to at most {} (ratio {MAX_DEFLATE_RATIO}:1)",
                max_inflated(compressed)
            ))
        }
        _ => {}
    }
    if claimed > MAX_ARRAY_BYTES {
        return err(format!(
            "gradlab loads arrays of at most {MAX_ARRAY_BYTES} bytes (64 GiB)"
        ));
    }
    Ok(())
}

/// `a × b × …` of a shape, or an error naming `file` and the shape when it overflows.
pub fn product(file: &str, what: &str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            DataError::malformed(file, format!("{what} {dims:?}: the product overflows"))
        })
}

/// Fills as much of `buf` as `r` yields (less only at the end of the stream); the number of
/// bytes read.
pub(crate) fn read_up_to(r: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads exactly `len` bytes from `r` (a length already checked with [`check_claim`]), then
/// makes sure nothing follows: a short stream is [`DataError::Truncated`] (`offset` bytes came
/// before these), one more byte is trailing data. `io` words an error of the stream itself (a
/// file's I/O error, a corrupt deflate stream, a bad CRC).
pub(crate) fn read_exact_then_end(
    r: &mut dyn std::io::Read,
    len: usize,
    file: &str,
    offset: usize,
    io: &dyn Fn(std::io::Error) -> DataError,
) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(len);
    (&mut *r)
        .take(len as u64)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() < len {
        return Err(DataError::Truncated {
            file: file.into(),
            expected: offset + len,
            found: offset + buf.len(),
        });
    }
    let mut one = [0u8; 1];
    let extra = loop {
        match r.read(&mut one) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other.map_err(io)?,
        }
    };
    if extra != 0 {
        return Err(DataError::malformed(
            file,
            format!(
                "trailing data after the {} bytes the header describes",
                offset + len
            ),
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_beyond_the_source_or_the_cap_are_errors() {
        assert!(check_claim("f", "x", 10, Source::Stored { available: 10 }).is_ok());
        let e = check_claim("f", "the header", 11, Source::Stored { available: 10 }).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f: the header claims 11 bytes, but the file holds only 10"
        );
        assert!(check_claim(
            "f",
            "x",
            1032 * 2 + 1032,
            Source::Deflated { compressed: 2 }
        )
        .is_ok());
        let e = check_claim("f", "x", 1 << 40, Source::Deflated { compressed: 1000 }).unwrap_err();
        assert!(
            e.to_string()
                .contains("1000 deflated bytes inflate to at most 1033032"),
            "{e}"
        );
        let e = check_claim(
            "f",
            "x",
            u64::MAX,
            Source::Deflated {
                compressed: u64::MAX,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 68719476736 bytes"), "{e}");
        assert!(product("f", "shape", &[usize::MAX, 2]).is_err());
        assert_eq!(product("f", "shape", &[]).unwrap(), 1);
    }

    #[test]
    fn exact_reads_stop_one_byte_past_the_claim() {
        let data = [7u8; 10];
        let io = |e: std::io::Error| DataError::malformed("f", e.to_string());
        let mut r = &data[..];
        let e = read_exact_then_end(&mut r, 7, "f", 4, &io).unwrap_err();
        assert!(
            e.to_string().contains("trailing data after the 11 bytes"),
            "{e}"
        );
        // One byte past the claim was read, no more.
        assert_eq!(r.len(), 2);
        let mut r = &data[..];
        let e = read_exact_then_end(&mut r, 11, "f", 4, &io).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    expected: 15,
                    found: 14,
                    ..
                }
            ),
            "{e}"
        );
        let mut r = &data[..];
        assert_eq!(read_exact_then_end(&mut r, 10, "f", 0, &io).unwrap(), data);
    }
}
