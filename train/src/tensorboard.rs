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
        Self::create_named(dir, &Self::new_name())
    }

    /// A fresh event file name, `events.out.tfevents.{secs}.{host}.{pid}.{nanos}` (so the run
    /// folder's manifest can list it before it exists).
    pub fn new_name() -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gradlab".into());
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
            "events.out.tfevents.{}.{host}.{}.{}",
            now.as_secs(),
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
                    out.push((tag, step, f32::from_bits(v.1 as u32)));
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
