//! How much memory this machine has for what a process is about to load, and the check every
//! loader makes with it: an array that would not fit is an error naming the file and the
//! estimate, not an abort (or the OOM killer) halfway through.
//!
//! [`available_bytes`] is the one place that reads it (for the loaders here and for anyone
//! else sizing work before allocating): on Linux `MemAvailable` from `/proc/meminfo`, lowered
//! to what the process's cgroup (v2) still allows when it has a `memory.max`; `None` where
//! neither can be read (other systems), and then only the caps of [`crate::limits`] apply.

use crate::error::{DataError, Result};

/// Bytes of memory the process can still allocate, as far as the system says; `None` where it
/// cannot be read.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo(&t));
    let cgroup = cgroup_room();
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line["MemAvailable:".len()..].split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// What the process's cgroup v2 still allows: `memory.max - memory.current`; `None` without a
/// limit or where the files are not there.
fn cgroup_room() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let max = std::fs::read_to_string(dir.join("memory.max")).ok()?;
    let current = std::fs::read_to_string(dir.join("memory.current")).ok()?;
    room(&max, &current)
}

fn room(max: &str, current: &str) -> Option<u64> {
    let max: u64 = max.trim().parse().ok()?; // "max": no limit
    let current: u64 = current.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

/// Checks that loading `what` from `file`, estimated at `needed` bytes, fits in the memory the
/// machine has available ([`available_bytes`]); passes where that cannot be read.
pub fn check(file: &str, what: &str, needed: u64) -> Result<()> {
    check_against(file, what, needed, available_bytes())
}

fn check_against(file: &str, what: &str, needed: u64, available: Option<u64>) -> Result<()> {
    match available {
        Some(available) if needed > available => Err(DataError::OutOfMemory {
            file: file.into(),
            what: what.into(),
            needed,
            available,
        }),
        _ => Ok(()),
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
    fn meminfo_and_cgroup_texts() {
        let t =
            "MemTotal:       16314720 kB\nMemFree:         1000 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(parse_meminfo(t), Some(8_192_000_000));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
        assert_eq!(parse_meminfo("MemAvailable: lots\n"), None);
        assert_eq!(room("max\n", "100\n"), None);
        assert_eq!(room("1000\n", "300\n"), Some(700));
        assert_eq!(room("1000\n", "3000\n"), Some(0));
        #[cfg(target_os = "linux")]
        assert!(available_bytes().is_some_and(|b| b > 0));
    }

    #[test]
    fn a_load_beyond_available_memory_names_the_estimate() {
        assert!(check_against("f", "x", 10, None).is_ok());
        assert!(check_against("f", "x", 10, Some(10)).is_ok());
        let e = check_against("a.npz:x", "[60000, 784] <f8", 3 << 30, Some(1 << 30)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.npz:x: loading [60000, 784] <f8 needs about 3.0 GiB but this machine has 1.0 GiB available"
        );
        assert_eq!(fmt_bytes(1023), "1023 bytes");
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(u64::MAX), "16.0 EiB");
    }
}
