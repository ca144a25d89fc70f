//! The manifest of an extracted archive: `SHA256SUMS` in the dataset folder, one line
//! `<sha-256 in hex>  <name>` per extracted member (so `sha256sum -c SHA256SUMS` checks it too).
//!
//! It is computed from the bytes as they are extracted (from an archive whose published
//! checksum matched) and written durably once every member is in place, before the archive is
//! removed. Loading checks each member's size and SHA-256 against it as it reads the member, so
//! a member changed since (a failing disk, a partial copy, an edit) is an error, not silently
//! different data; `gradlab data download` checks them all and extracts again on a mismatch.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::catalogue::{base_name, Member, MANIFEST};
use super::checksum::{Checksum, Hasher};
use crate::error::{DataError, Result};
use crate::memory;

/// A manifest is a few lines; anything larger is not one.
const MAX_LEN: u64 = 1 << 16;

/// The recorded SHA-256 of each extracted member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    path: PathBuf,
    entries: Vec<(String, String)>,
}

/// A SHA-256 hasher.
pub(crate) fn sha256() -> Hasher {
    Hasher::new(&Checksum::Sha256(""))
}

impl Manifest {
    /// Writes the manifest of `entries` (name, SHA-256) into `dir`, durably.
    pub(crate) fn write(dir: &Path, entries: &[(&str, String)]) -> Result<()> {
        let text: String = entries
            .iter()
            .map(|(name, hash)| format!("{hash}  {name}\n"))
            .collect();
        let path = dir.join(MANIFEST);
        durable::write(&path, text.as_bytes()).map_err(|e| DataError::io(&path, e))
    }

    /// Reads the manifest in `dir`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        let file = path.display().to_string();
        let f = std::fs::File::open(&path).map_err(|e| DataError::io(&path, e))?;
        let mut text = String::new();
        f.take(MAX_LEN + 1)
            .read_to_string(&mut text)
            .map_err(|e| DataError::io(&path, e))?;
        if text.len() as u64 > MAX_LEN {
            return Err(DataError::malformed(
                file,
                format!("longer than {MAX_LEN} bytes: not a manifest"),
            ));
        }
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let parsed = line.split_once("  ").filter(|(hash, name)| {
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty()
            });
            let Some((hash, name)) = parsed else {
                return Err(DataError::malformed(
                    file,
                    format!("line {}: expected `<sha-256 in hex>  <name>`", i + 1),
                ));
            };
            entries.push((name.to_string(), hash.to_ascii_lowercase()));
        }
        Ok(Manifest { path, entries })
    }

    /// The recorded SHA-256 of `name`.
    fn expected(&self, name: &str) -> Result<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_str())
            .ok_or_else(|| {
                DataError::malformed(
                    self.path.display().to_string(),
                    format!("no entry for {name}"),
                )
            })
    }

    /// The bytes of extracted member `m` in `dir`, after checking its size and its SHA-256
    /// against this manifest; `hint` says how to get the file again.
    pub(crate) fn read_verified(&self, dir: &Path, m: &Member, hint: &str) -> Result<Vec<u8>> {
        let name = base_name(m.path);
        let path = dir.join(name);
        let file = path.display().to_string();
        let expected = self.expected(name)?;
        let len = std::fs::metadata(&path)
            .map_err(|e| DataError::io(&path, e))?
            .len();
        if len != m.size {
            return Err(DataError::Corrupt {
                file,
                what: format!("{len} bytes, expected {}", m.size),
                hint: hint.into(),
            });
        }
        memory::check(&file, "the file", len)?;
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let mut h = sha256();
        h.update(&bytes);
        self.compare(
            &file,
            expected,
            h.finish(),
            bytes.len() as u64,
            m.size,
            hint,
        )?;
        Ok(bytes)
    }

    /// Checks every member of `members` in `dir` (streamed, not kept).
    pub(crate) fn verify_all(&self, dir: &Path, members: &[Member], hint: &str) -> Result<()> {
        for m in members {
            let name = base_name(m.path);
            let path = dir.join(name);
            let expected = self.expected(name)?;
            let mut f = std::fs::File::open(&path).map_err(|e| DataError::io(&path, e))?;
            let mut h = sha256();
            let mut buf = vec![0u8; 1 << 16];
            let mut len = 0u64;
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(DataError::io(&path, e)),
                };
                h.update(&buf[..n]);
                len += n as u64;
            }
            let file = path.display().to_string();
            self.compare(&file, expected, h.finish(), len, m.size, hint)?;
        }
        Ok(())
    }

    fn compare(
        &self,
        file: &str,
        expected: &str,
        got: String,
        len: u64,
        size: u64,
        hint: &str,
    ) -> Result<()> {
        if len != size || got != expected {
            return Err(DataError::Corrupt {
                file: file.into(),
                what: format!(
                    "{len} bytes of SHA-256 {got}, but {MANIFEST} recorded {size} bytes of {expected} when it was extracted"
                ),
                hint: hint.into(),
            });
        }
        Ok(())
    }
}
