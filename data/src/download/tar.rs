//! Extracting chosen members of a `tar.gz` archive, and nothing else.

use std::io::Read;
use std::path::Path;

use super::catalogue::{base_name, Member};
use super::checksum::Hasher;
use super::manifest::sha256;
use crate::error::{DataError, Result};

/// Reads as many bytes as `buf` holds; `Ok(false)` at a clean end of input before the first byte.
fn read_block(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    match crate::limits::read_up_to(r, buf)? {
        0 => Ok(false),
        n if n < buf.len() => Err(std::io::ErrorKind::UnexpectedEof.into()),
        _ => Ok(true),
    }
}

fn octal(field: &[u8]) -> Option<u64> {
    let s: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Extracts the wanted members of a `tar.gz` archive into `dir` under their base names (each
/// written durably through a temporary file, checked for its exact size); records the SHA-256
/// of each in `found`. Only regular files named in `members` are written: nothing else in the archive
/// reaches the disk. Reads ustar, GNU and pax archives whose member names fit the 100 (+155
/// prefix) bytes of the header (pax extended headers and GNU long names are skipped, not
/// applied).
pub(crate) fn extract(
    archive: &Path,
    dir: &Path,
    members: &[Member],
    found: &mut [Option<String>],
) -> Result<()> {
    let file = archive.display().to_string();
    let f = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut r = std::io::BufReader::new(flate2::read::GzDecoder::new(f));
    let stream_err =
        |e: std::io::Error| DataError::malformed(&file, format!("gzip/tar stream: {e}"));
    let mut offset = 0u64;
    let mut header = [0u8; 512];
    loop {
        if !read_block(&mut r, &mut header).map_err(stream_err)? || header.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let stored = octal(&header[148..156]);
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    b as u64
                }
            })
            .sum();
        if stored != Some(sum) {
            return Err(DataError::malformed(
                &file,
                format!("tar header at byte {offset}: bad checksum"),
            ));
        }
        let mut name = text(&header[0..100]);
        // POSIX ustar ("ustar\0") keeps a name prefix at 345; GNU ("ustar  \0") keeps other
        // fields there.
        if &header[257..263] == b"ustar\0" {
            let prefix = text(&header[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let name = name.trim_start_matches("./");
        let size = octal(&header[124..136]).ok_or_else(|| {
            DataError::malformed(&file, format!("tar member {name}: unreadable size field"))
        })?;
        let kind = header[156];
        let padded = size.div_ceil(512) * 512;
        offset += 512;
        let wanted = members.iter().position(|m| m.path == name);
        match wanted {
            Some(i) if kind == b'0' || kind == 0 => {
                let m = &members[i];
                if size != m.size {
                    return Err(DataError::malformed(
                        &file,
                        format!("member {name} holds {size} bytes, expected {}", m.size),
                    ));
                }
                let dest = dir.join(base_name(m.path));
                let mut tmp =
                    durable::AtomicFile::create(&dest).map_err(|e| DataError::io(dir, e))?;
                let mut hashed = Hashing {
                    inner: &mut tmp,
                    hasher: sha256(),
                };
                let copied = std::io::copy(&mut (&mut r).take(size), &mut hashed)
                    .map_err(|e| DataError::malformed(&file, format!("member {name}: {e}")))?;
                let hash = hashed.hasher.finish();
                if copied != size {
                    return Err(DataError::malformed(
                        &file,
                        format!("member {name} cut short: {copied} of {size} bytes"),
                    ));
                }
                tmp.commit().map_err(|e| DataError::io(&dest, e))?;
                found[i] = Some(hash);
                skip(&mut r, padded - size, &file)?;
            }
            _ => skip(&mut r, padded, &file)?,
        }
        offset += padded;
    }
}

fn skip(r: &mut impl Read, n: u64, file: &str) -> Result<()> {
    let skipped = std::io::copy(&mut r.take(n), &mut std::io::sink())
        .map_err(|e| DataError::malformed(file, format!("gzip/tar stream: {e}")))?;
    if skipped != n {
        return Err(DataError::malformed(file, "tar archive cut short"));
    }
    Ok(())
}

/// A writer that hashes what goes through it.
struct Hashing<'a, W> {
    inner: &'a mut W,
    hasher: Hasher,
}

impl<W: std::io::Write> std::io::Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
