//! Non-finite input values are errors. One NaN among the inputs trains to NaN weights (a ReLU
//! can hide it from the loss, so a run would end "successfully"), and a value beyond f32's range
//! becomes infinite once converted; so every loader checks the f32 values it hands out and names
//! the file, the array, the row and the column of the first bad one, and how many more there are.
//! [`crate::Dataset::new`] checks again, so no dataset (loaded, generated or built by hand) holds
//! one.

use crate::error::{DataError, Result};

/// The index of the first non-finite value and how many non-finite values there are.
pub fn first_non_finite(values: &[f32]) -> Option<(usize, usize)> {
    // Blocks without an early exit vectorise; the block holding the first one is searched.
    const BLOCK: usize = 4096;
    let block = values
        .chunks(BLOCK)
        .position(|c| c.iter().fold(false, |bad, v| bad | !v.is_finite()))?;
    let start = block * BLOCK;
    let first = start + values[start..].iter().position(|v| !v.is_finite())?;
    let count = values[first..].iter().filter(|v| !v.is_finite()).count();
    Some((first, count))
}

/// Checks `values`, rows of `row_len` values, of `file`; `show(i)` writes value `i` as it was
/// in the file (e.g. an f64 before conversion, or the text of a CSV cell).
pub(crate) fn check(
    file: &str,
    values: &[f32],
    row_len: usize,
    show: impl Fn(usize) -> String,
) -> Result<()> {
    match first_non_finite(values) {
        None => Ok(()),
        Some((i, count)) => {
            let row_len = row_len.max(1);
            Err(DataError::NonFinite {
                file: file.into(),
                row: i / row_len,
                column: i % row_len,
                value: show(i),
                others: count - 1,
            })
        }
    }
}

/// A value as a message shows it: `NaN`, `inf`, `-inf`, or a finite f64 that f32 cannot hold
/// (`1e300, beyond f32`).
pub(crate) fn show_f64(v: f64) -> String {
    if v.is_finite() && !(v as f32).is_finite() {
        format!("{v:e} (beyond f32's range)")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bad_value_is_named_and_the_others_counted() {
        assert!(check("f", &[1.0, 2.0], 2, |_| String::new()).is_ok());
        let v = [
            0.0,
            1.0,
            2.0,
            f32::NAN,
            4.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        assert_eq!(first_non_finite(&v), Some((3, 3)));
        let e = check("a.npz:x", &v, 2, |i| show_f64(v[i] as f64)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.npz:x: non-finite value NaN at row 1, column 1 (and 2 more)"
        );
        assert_eq!(show_f64(1e300), "1e300 (beyond f32's range)");
        assert_eq!(show_f64(f64::NEG_INFINITY), "-inf");
    }
}
