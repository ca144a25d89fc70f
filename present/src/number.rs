//! Numbers for people.

/// A compact number with at most 4 significant digits: `0.031`, `1200`, `1e-5`, `2.5e6`;
/// plain notation in [1e-3, 1e5), scientific (3 significant digits, trailing zeros dropped)
/// outside; `NaN`, `∞`, `−∞` for non-finite values.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{:.4}", v);
        let s = format!("{}", s.parse::<f64>().unwrap_or(v));
        // Keep at most 4 significant digits.
        let sig = format!("{:.3e}", v);
        let back: f64 = sig.parse().unwrap_or(v);
        let t = format!("{back}");
        if t.len() < s.len() {
            t
        } else {
            s
        }
    } else {
        let s = format!("{:.2e}", v);
        // 1.00e-5 → 1e-5, 2.50e6 → 2.5e6
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        format!("{m}e{e}")
    }
}

/// `x` rounded to `digits` significant digits and printed in plain notation with exactly that
/// many (`sig(0.00999999, 3)` = `0.0100`, `sig(1234.5, 3)` = `1230`, never fewer than 0
/// decimals). Zero and non-finite values print as Rust does (`0`, `NaN`, `inf`).
pub fn sig(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = digits.max(1);
    // Round to `digits` significant digits first, so 0.00999999 prints as 0.0100.
    let x: f64 = format!("{x:.p$e}", p = digits - 1).parse().unwrap_or(x);
    let d = (digits as i64 - 1 - x.abs().log10().floor() as i64).max(0) as usize;
    format!("{x:.d$}")
}

/// A number with 4 significant digits also in scientific notation, for columns of readings
/// where every value shows the same precision (the doctor's evidence): `0.1235`, `1234`,
/// `12346` (all integer digits from 1e4 on), `3.133e-9`, `2.500e7`. Plain in [1e-3, 1e5) with
/// trailing zeros dropped, `{:.3e}` outside; zero is `0`, non-finite values print as Rust does
/// (`NaN`, `inf`, `-inf`).
pub fn fmt_precise(v: f64) -> String {
    trimmed(v, 4, 1e-3..1e5, 3)
}

/// `v` with `digits` significant digits in plain notation when `|v|` is in `plain`, trailing
/// zeros dropped (`0.5`, `12346`); in scientific notation with `sci_decimals` decimals outside
/// (`3.200e-4`); `0`, and Rust's `NaN`/`inf` for non-finite values. The doctor's numbers
/// ([`fmt_precise`]) and plot ticks are presets of it.
pub fn trimmed(v: f64, digits: i32, plain: std::ops::Range<f64>, sci_decimals: usize) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if plain.contains(&a) {
        let decimals = (digits - 1 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.sci_decimals$e}")
    }
}

/// A duration for people: `12.3s`, `4m 05s`, `2h 07m`.
pub fn duration(s: f64) -> String {
    let s = s.max(0.0);
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// A duration in a report's words: `12.3 s`, `4.1 min`, `2 h 07 min`; `—` when unknown.
pub fn duration_spaced(s: f64) -> String {
    if !s.is_finite() {
        return "—".into();
    }
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!(
            "{:.0} h {:02.0} min",
            (s / 3600.0).floor(),
            (s % 3600.0) / 60.0
        )
    }
}

/// A byte count for people: `512 bytes`, `6.3 MiB`, `1.0 TiB`.
pub fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_numbers() {
        for (v, s) in [
            (0.031, "0.031"),
            (1200.0, "1200"),
            (1e-5, "1e-5"),
            (2.5e6, "2.5e6"),
            (-0.5, "-0.5"),
            (0.0, "0"),
            (1.234567, "1.235"),
            (12345.678, "12350"),
            (123456.0, "1.23e5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "∞"),
            (f64::NEG_INFINITY, "−∞"),
        ] {
            assert_eq!(fmt_num(v), s, "{v}");
        }
    }

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.00999999, 3), "0.0100");
        assert_eq!(sig(1234.5, 3), "1230");
        assert_eq!(sig(0.123456, 3), "0.123");
        assert_eq!(sig(2.0, 3), "2.00");
        assert_eq!(sig(-0.5, 2), "-0.50");
        assert_eq!(sig(0.0, 3), "0");
        assert_eq!(sig(f64::NAN, 3), "NaN");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(12.34), "12.3s");
        assert_eq!(duration(245.0), "4m 05s");
        assert_eq!(duration(7620.0), "2h 07m");
        assert_eq!(duration(-1.0), "0.0s");
        assert_eq!(duration_spaced(12.34), "12.3 s");
        assert_eq!(duration_spaced(245.0), "4.1 min");
        assert_eq!(duration_spaced(7620.0), "2 h 07 min");
        assert_eq!(duration_spaced(f64::NAN), "—");
    }

    #[test]
    fn trimmed_presets() {
        for (v, s) in [
            (3.2e-4, "3.200e-4"),
            (12345.6, "12346"),
            (2.5e7, "2.500e7"),
            (0.5, "0.5"),
            (1.0, "1"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(fmt_precise(v), s, "{v}");
        }
        assert_eq!(trimmed(0.012345, 3, 0.01..1e4, 1), "0.0123");
        assert_eq!(trimmed(20000.0, 3, 0.01..1e4, 1), "2.0e4");
    }
}
