//! A TensorBoard event-file writer for scalars.
//!
//! An event file is a sequence of TFRecords (`u64` length, masked CRC-32C of the length, the
//! bytes, masked CRC-32C of the bytes), each holding a serialised `tensorflow.Event` protobuf.
//! Scalars are `Event { wall_time, step, summary { value { tag, simple_value } } }`; the first
//! record carries `file_version = "brain.Event:2"`. The few protobuf fields needed are encoded
//! here by hand rather than pulling in a protobuf toolchain.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends scalar summaries to one `events.out.tfevents.*` file.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates a new event file in `dir` (which must exist), named [`new_name`](Self::new_name).
    /// Several writers in one directory (a resumed run) are read by TensorBoard as one run.
    pub fn create(dir: &Path) -> std::io::Result<EventWriter> {
        Self::create_named(dir, &Self::new_name(dir))
    }

    /// A fresh event file name for `dir`, `events.out.tfevents.{secs}.{host}.{pid}.{nanos}` (so
    /// the run folder's manifest can list it before it exists).
    pub fn new_name(dir: &Path) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gradlab".into());
        // TensorBoard reads a folder's event files in name order, and a continuation must come
        // after what it continues: its timestamp field is later than every existing file's,
        // even within the same second.
        let secs = latest_timestamp(dir).map_or(now.as_secs(), |t| now.as_secs().max(t + 1));
        // The host name becomes part of a file name: keep it to one plain component.
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!(
            "events.out.tfevents.{secs}.{host}.{}.{:09}",
            std::process::id(),
            now.subsec_nanos()
        )
    }

    /// Creates the event file `name` in `dir`.
    pub fn create_named(dir: &Path, name: &str) -> std::io::Result<EventWriter> {
        let path = dir.join(name);
        let mut w = EventWriter {
            out: BufWriter::new(File::create(&path)?),
            path,
        };
        let mut ev = Vec::new();
        put_double(&mut ev, 1, wall_time());
        put_bytes(&mut ev, 3, b"brain.Event:2");
        w.record(&ev)?;
        w.out.flush()?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one scalar (`tag` such as `train/loss`) at `step`.
    pub fn scalar(&mut self, tag: &str, value: f64, step: u64) -> std::io::Result<()> {
        let mut val = Vec::new();
        put_bytes(&mut val, 1, tag.as_bytes());
        put_float(&mut val, 2, value as f32);
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, &val);
        let mut ev = Vec::new();
        put_double(&mut ev, 1, wall_time());
        put_varint_field(&mut ev, 2, step);
        put_bytes(&mut ev, 5, &summary);
        self.record(&ev)
    }

    /// Marks a restart at `step`: `Event { step, session_log { status: START } }`. TensorBoard
    /// (file version 2) then drops every event of the run with a step ≥ `step` written before
    /// this one, so the steps a resumed run redoes are not shown twice.
    pub fn session_start(&mut self, step: u64) -> std::io::Result<()> {
        let mut log = Vec::new();
        put_varint_field(&mut log, 1, SESSION_START);
        let mut ev = Vec::new();
        put_double(&mut ev, 1, wall_time());
        put_varint_field(&mut ev, 2, step);
        put_bytes(&mut ev, 7, &log);
        self.record(&ev)?;
        self.out.flush()
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn record(&mut self, data: &[u8]) -> std::io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc(&len).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc(data).to_le_bytes())
    }
}

/// The largest timestamp field of the event files in `dir`.
fn latest_timestamp(dir: &Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("events.out.tfevents.")?
                .split('.')
                .next()?
                .parse()
                .ok()
        })
        .max()
}

/// `tensorflow.SessionLog.SessionStatus.START`.
const SESSION_START: u64 = 1;

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// TFRecord's CRC: CRC-32C rotated right by 15 bits plus a constant.
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field) << 3);
    put_varint(out, v);
}

fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_varint(out, (u64::from(field) << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_float(out: &mut Vec<u8>, field: u32, v: f32) {
    put_varint(out, (u64::from(field) << 3) | 5);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads the scalars back from an event file: `(tag, step, value)` in file order. Used by
/// tests and by tools that summarise runs; it checks every CRC.
pub fn read_scalars(path: &Path) -> Result<Vec<(String, u64, f32)>, String> {
    Ok(read_events(path)?
        .into_iter()
        .filter_map(|e| match e {
            Event::Scalar(tag, step, v) => Some((tag, step, v)),
            Event::SessionStart(_) => None,
        })
        .collect())
}

/// What [`read_events`] returns: a scalar, or a restart marker.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Scalar(String, u64, f32),
    SessionStart(u64),
}

/// The scalars of a run folder as TensorBoard shows them: its event files in name order (their
/// names start with the creation time), a restart marker at step `s` dropping what came before
/// it with a step ≥ `s`.
pub fn read_run_scalars(dir: &Path) -> Result<Vec<(String, u64, f32)>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents."))
        })
        .collect();
    files.sort();
    let mut out: Vec<(String, u64, f32)> = Vec::new();
    for f in files {
        for e in read_events(&f)? {
            match e {
                Event::Scalar(tag, step, v) => out.push((tag, step, v)),
                Event::SessionStart(s) => out.retain(|x| x.1 < s),
            }
        }
    }
    Ok(out)
}

/// Every scalar and restart marker of one event file, in file order; checks every CRC.
pub fn read_events(path: &Path) -> Result<Vec<Event>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let head = bytes.get(at..at + 12).ok_or("truncated record header")?;
        let len = u64::from_le_bytes(head[..8].try_into().unwrap()) as usize;
        if u32::from_le_bytes(head[8..12].try_into().unwrap()) != masked_crc(&head[..8]) {
            return Err(format!("bad length CRC at byte {at}"));
        }
        let data = bytes
            .get(at + 12..at + 12 + len)
            .ok_or("truncated record")?;
        let crc = bytes
            .get(at + 12 + len..at + 16 + len)
            .ok_or("truncated record CRC")?;
        if u32::from_le_bytes(crc.try_into().unwrap()) != masked_crc(data) {
            return Err(format!("bad data CRC at byte {at}"));
        }
        at += 16 + len;
        let ev = fields(data)?;
        let step = ev.iter().find(|f| f.0 == 2).map_or(0, |f| f.1);
        for (_, _, sub) in ev.iter().filter(|f| f.0 == 7) {
            if fields(sub)?
                .iter()
                .any(|f| f.0 == 1 && f.1 == SESSION_START)
            {
                out.push(Event::SessionStart(step));
            }
        }
        for (num, _, sub) in &ev {
            if *num != 5 {
                continue;
            }
            for (vn, _, val) in fields(sub)? {
                if vn != 1 {
                    continue;
                }
                let vf = fields(&val)?;
                let tag = vf
                    .iter()
                    .find(|f| f.0 == 1)
                    .map(|f| String::from_utf8_lossy(&f.2).into_owned())
                    .unwrap_or_default();
                if let Some(v) = vf.iter().find(|f| f.0 == 2) {
                    out.push(Event::Scalar(tag, step, f32::from_bits(v.1 as u32)));
                }
            }
        }
    }
    Ok(out)
}

/// Decodes a protobuf message into `(field, number value, bytes value)`.
fn fields(mut b: &[u8]) -> Result<Vec<(u32, u64, Vec<u8>)>, String> {
    fn varint(b: &mut &[u8]) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first().ok_or("truncated varint")?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let (field, wire) = ((key >> 3) as u32, key & 7);
        let take = |n: usize, b: &mut &[u8]| -> Result<Vec<u8>, String> {
            if b.len() < n {
                return Err("truncated field".into());
            }
            let (head, rest) = b.split_at(n);
            *b = rest;
            Ok(head.to_vec())
        };
        match wire {
            0 => out.push((field, varint(&mut b)?, Vec::new())),
            1 => {
                let v = take(8, &mut b)?;
                out.push((field, u64::from_le_bytes(v.try_into().unwrap()), Vec::new()))
            }
            5 => {
                let v = take(4, &mut b)?;
                out.push((
                    field,
                    u64::from(u32::from_le_bytes(v.try_into().unwrap())),
                    Vec::new(),
                ))
            }
            2 => {
                let n = varint(&mut b)? as usize;
                out.push((field, 0, take(n, &mut b)?))
            }
            w => return Err(format!("unsupported wire type {w}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue: TensorBoard showed 11 duplicate `train/loss` points at a resume): the
    /// continuation's event file starts with a restart marker, and reading the folder as
    /// TensorBoard does (file version 2: a START session log purges later steps) shows each
    /// step once.
    #[test]
    fn resumed_run_shows_each_step_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = EventWriter::create(dir.path()).unwrap();
        for step in 1..=10 {
            first.scalar("train/loss", step as f64, step).unwrap();
        }
        first.flush().unwrap();
        // Killed after step 10; the checkpoint was at step 7, so the resumed run redoes 8..=12.
        // Within the same second, too, the continuation's file sorts after the first.
        let mut second = EventWriter::create(dir.path()).unwrap();
        assert!(
            second.path() > first.path(),
            "event files sort by creation time"
        );
        second.session_start(8).unwrap();
        for step in 8..=12 {
            second
                .scalar("train/loss", 100.0 + step as f64, step)
                .unwrap();
        }
        second.flush().unwrap();
        let got = read_run_scalars(dir.path()).unwrap();
        let steps: Vec<u64> = got.iter().map(|x| x.1).collect();
        assert_eq!(steps, (1..=12).collect::<Vec<_>>());
        assert_eq!(got[6].2, 7.0);
        assert_eq!(got[7].2, 108.0, "the redone step's new value is shown");
        assert_eq!(
            read_events(second.path()).unwrap()[0],
            Event::SessionStart(8)
        );
    }

    /// The CRC-32C check value, and TFRecord framing of a record.
    #[test]
    fn crc_and_framing() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalar("train/loss", 0.25, 7).unwrap();
        w.scalar("val/accuracy", 0.875, 9).unwrap();
        w.flush().unwrap();
        let s = read_scalars(w.path()).unwrap();
        assert_eq!(
            s,
            vec![
                ("train/loss".to_string(), 7, 0.25),
                ("val/accuracy".to_string(), 9, 0.875)
            ]
        );
        // A flipped byte is caught by the CRC.
        let mut bytes = std::fs::read(w.path()).unwrap();
        let n = bytes.len();
        bytes[n - 6] ^= 1;
        std::fs::write(w.path(), &bytes).unwrap();
        assert!(read_scalars(w.path()).is_err());
    }

    /// Field encodings match protobuf's wire format (hand-checked bytes).
    #[test]
    fn wire_format() {
        let mut v = Vec::new();
        put_varint_field(&mut v, 2, 300);
        assert_eq!(v, [0x10, 0xAC, 0x02]);
        let mut v = Vec::new();
        put_bytes(&mut v, 1, b"ab");
        assert_eq!(v, [0x0A, 2, b'a', b'b']);
        let mut v = Vec::new();
        put_float(&mut v, 2, 1.0);
        assert_eq!(v, [0x15, 0, 0, 0x80, 0x3F]);
    }
}
