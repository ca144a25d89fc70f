//! Durable file writes, the one home of this rule for every gradlab crate.
//!
//! A reader (or a process restarted after a crash or power loss) must see either the old
//! content of a file or the new one, never a mixture and never a missing file. The recipe:
//!
//! 1. write the new bytes to a temporary file in the *same* folder (a rename is only atomic
//!    within one file system);
//! 2. `fsync` the temporary file, so its data is on disk before its name is;
//! 3. rename it over the target (atomic on POSIX);
//! 4. `fsync` the folder, so the rename itself survives a power loss.
//!
//! Without step 2 a crash can leave the new name pointing at an empty file (ext4 with
//! `data=writeback`, XFS); without step 4 the rename can be lost and the old file come back.
//!
//! Errors are plain [`std::io::Error`]s: each caller wraps them in its own error, which names
//! the path once.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` durably (see the crate documentation). The folder must exist.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// [`write()`], creating the missing folders above `path` first.
pub fn write_creating_dirs(path: &Path, bytes: &[u8]) -> io::Result<()> {
    create_parent(path)?;
    write(path, bytes)
}

/// Creates the folders above `path` (nothing when it has none).
pub fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir),
        None => Ok(()),
    }
}

/// Renames `from` to `to` (a file or a folder, in the same file system) and fsyncs the folders
/// that hold them, so the rename survives a power loss. The caller has already made the
/// content of `from` durable (for a folder: each file in it, and the folder itself, see
/// [`sync_dir`]).
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    let (a, b) = (folder_of(from), folder_of(to));
    sync_dir(&b)?;
    if a != b {
        sync_dir(&a)?;
    }
    Ok(())
}

/// Removes a file and fsyncs its folder; a missing file is not an error.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(&folder_of(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fsyncs a folder, making the creation, removal and renaming of its entries durable. A no-op
/// where folders cannot be opened for syncing (Windows).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The folder holding `path` (`.` for a bare name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file being written under a temporary name beside its target; [`commit`](Self::commit)
/// makes it the target durably, and dropping it uncommitted removes the temporary file, so a
/// failed write leaves the target as it was and no debris beside it.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`: creates a temporary file in its folder, named
    /// `.NAME.PID.N.tmp` (unique within the machine while the process lives).
    pub fn create(target: &Path) -> io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = folder_of(target).join(format!(
            ".{}.{}.{n}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::create(&tmp)?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// The temporary file's path (for messages).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// The file being written.
    pub fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("an AtomicFile holds its file until committed")
    }

    /// Fsyncs the temporary file, renames it over the target and fsyncs the folder.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("committed once");
        file.sync_all()?;
        drop(file);
        rename(&self.tmp, &self.target)?;
        // Renamed: nothing left to clean up.
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("open").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("open").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file.take();
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes several files all or nothing as far as a crash allows: every one goes to its
/// temporary file first, and only when all of them are written and synced are they renamed
/// into place (in order). A failure before the renames touches no target.
pub fn write_all(outputs: &[(&Path, &[u8])]) -> io::Result<()> {
    let mut files = Vec::with_capacity(outputs.len());
    for (target, bytes) in outputs {
        let mut f = AtomicFile::create(target)?;
        f.write_all(bytes)?;
        f.file().sync_all()?;
        files.push(f);
    }
    for f in files {
        f.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(entries(dir.path()), ["a.json"]);
    }

    #[test]
    fn missing_folder_is_an_error_unless_asked_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/deeper/a.txt");
        assert!(write(&p, b"x").is_err());
        write_creating_dirs(&p, b"x").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
    }

    #[test]
    fn a_dropped_file_leaves_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.bin");
        write(&p, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half").unwrap();
            assert!(f.temp_path().exists());
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["w.bin"]);
    }

    #[test]
    fn writing_under_a_file_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"x").unwrap();
        assert!(write(&p.join("g"), b"y").is_err());
        assert!(write(Path::new(""), b"y").is_err());
        assert_eq!(entries(dir.path()), ["f"]);
    }

    #[test]
    fn write_all_touches_no_target_when_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        write(&a, b"old").unwrap();
        let bad = dir.path().join("missing/b");
        assert!(write_all(&[(&a, b"new"), (&bad, b"b")]).is_err());
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["a"]);
        let b = dir.path().join("b");
        write_all(&[(&a, b"new"), (&b, b"b")]).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
    }

    #[test]
    fn rename_moves_folders_and_remove_tolerates_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(".ck.tmp");
        std::fs::create_dir(&tmp).unwrap();
        write(&tmp.join("x"), b"1").unwrap();
        sync_dir(&tmp).unwrap();
        let done = dir.path().join("ck");
        rename(&tmp, &done).unwrap();
        assert_eq!(std::fs::read(done.join("x")).unwrap(), b"1");
        remove_file(&done.join("x")).unwrap();
        remove_file(&done.join("x")).unwrap();
        assert!(entries(&done).is_empty());
    }

    /// Many threads writing one target: every reader sees a whole version, temporary names never
    /// collide.
    #[test]
    fn concurrent_writers_never_tear_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shared");
        write(&p, &[0u8; 4096]).unwrap();
        std::thread::scope(|s| {
            for t in 1..=4u8 {
                let p = p.clone();
                s.spawn(move || {
                    for _ in 0..20 {
                        write(&p, &[t; 4096]).unwrap();
                    }
                });
            }
            let p = p.clone();
            s.spawn(move || {
                for _ in 0..50 {
                    let b = std::fs::read(&p).unwrap();
                    assert_eq!(b.len(), 4096);
                    assert!(b.iter().all(|&x| x == b[0]));
                }
            });
        });
        assert_eq!(entries(dir.path()), ["shared"]);
    }
}
