//! How much memory this machine has for what a process is about to load, and the check every
//! loader makes with it: an array that would not fit is an error naming the file and the
//! estimate, not an abort (or the OOM killer) halfway through.
//!
//! [`available_bytes`] is the one place that reads it (for the loaders here and for anyone
//! else sizing work before allocating): on Linux `MemAvailable` from `/proc/meminfo`, lowered
//! to what the process's cgroup still allows when it has a memory limit (a container's
//! `--memory`, which `/proc/meminfo` does not show); `None` where neither can be read (other
//! systems), and then only the caps of [`crate::limits`] apply.

use std::path::Path;

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

/// What the process's cgroup still allows: its memory limit less the anonymous memory its
/// processes hold (page cache is reclaimable, as in `MemAvailable`); the smallest over the
/// cgroup and its parents (v2), or from the hierarchical limit (v1). `None` without a limit or
/// where the files cannot be read.
fn cgroup_room() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let mut rooms = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            // v2: the cgroup's folder, or the mount's root inside a cgroup namespace.
            let mount = Path::new("/sys/fs/cgroup");
            let leaf = [mount.join(rel), mount.to_path_buf()]
                .into_iter()
                .find(|d| d.join("memory.max").is_file());
            for dir in leaf.iter().flat_map(|l| l.ancestors()) {
                if !dir.starts_with(mount) {
                    break;
                }
                if let (Some(max), Some(stat)) = (
                    read(&dir.join("memory.max")),
                    read(&dir.join("memory.stat")),
                ) {
                    rooms.extend(room_v2(&max, &stat));
                }
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            let mount = Path::new("/sys/fs/cgroup/memory");
            let stat = [mount.join(rel), mount.to_path_buf()]
                .into_iter()
                .find_map(|d| read(&d.join("memory.stat")));
            rooms.extend(stat.and_then(|s| room_v1(&s)));
        }
    }
    rooms.into_iter().min()
}

/// A field of a `memory.stat` text.
fn stat_field(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// cgroup v2: `memory.max` (`max`: no limit) less `anon` of `memory.stat`.
fn room_v2(max: &str, stat: &str) -> Option<u64> {
    let max: u64 = max.trim().parse().ok()?;
    Some(max.saturating_sub(stat_field(stat, "anon")?))
}

/// cgroup v1: `hierarchical_memory_limit` (near 2^63: no limit) less `total_rss` (or `rss`).
fn room_v1(stat: &str) -> Option<u64> {
    let limit = stat_field(stat, "hierarchical_memory_limit").filter(|&l| l < 1 << 62)?;
    let rss = stat_field(stat, "total_rss").or_else(|| stat_field(stat, "rss"))?;
    Some(limit.saturating_sub(rss))
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
        let stat2 = "anon 300\nfile 5000\nkernel 10\n";
        assert_eq!(room_v2("max\n", stat2), None);
        assert_eq!(room_v2("1000\n", stat2), Some(700));
        assert_eq!(room_v2("200\n", stat2), Some(0));
        assert_eq!(room_v2("1000\n", "file 5\n"), None);
        let stat1 = "cache 5000\nrss 100\nhierarchical_memory_limit 1000\ntotal_rss 400\n";
        assert_eq!(room_v1(stat1), Some(600));
        let unlimited = "rss 1\nhierarchical_memory_limit 9223372036854771712\ntotal_rss 4\n";
        assert_eq!(room_v1(unlimited), None);
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
        assert_eq!(present::fmt_bytes(1023), "1023 bytes");
        assert_eq!(present::fmt_bytes(1536), "1.5 KiB");
        assert_eq!(present::fmt_bytes(u64::MAX), "16.0 EiB");
    }
}
