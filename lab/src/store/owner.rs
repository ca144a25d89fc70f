//! Which processes hold a SQLite store's claims, and whether each is still alive.
//!
//! The rule: every open SQLite store that claims a run has an *owner* id, unique on the machine
//! (`<pid>-<nanoseconds>-<n>`), written into the rows it claims; and it holds an exclusive OS
//! lock (`flock`; `LockFileEx` on Windows) on `<database>-owners/<owner>.lock` for as long as
//! it is open. The kernel releases that lock when the process ends, however it ends (SIGKILL,
//! the out-of-memory killer, an abort), so "can this owner's lock be taken?" tells at once, with
//! no lease to expire, whether the runs it claimed were left behind. A run whose owner's lock is
//! held is never reset.
//!
//! The lock file is created and locked under a temporary name and only then renamed into place,
//! so that no process can find a live owner's file unlocked. Whoever finds an owner dead deletes
//! its file (holding its lock); a store deletes its own when it closes, and the folder when it
//! is left empty.
//!
//! The locks hold among the processes of one machine (one kernel), which is also what SQLite
//! supports: its file must not be shared over a network file system.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use fs4::TryLockError;

/// An owner id and its held lock; dropping it deletes the lock file and releases the lock.
#[derive(Debug)]
pub(crate) struct Owner {
    id: String,
    path: PathBuf,
    /// Holds the lock until dropped (closing the file releases it).
    _file: File,
}

impl Owner {
    /// A new owner id for the database at `db`, with its lock taken.
    pub fn acquire(db: &Path) -> io::Result<Owner> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = folder(db);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let id = format!(
            "{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(format!("{id}.lock"));
        let tmp = dir.join(format!("{id}.new"));
        let mut tries = 0;
        let file = loop {
            std::fs::create_dir_all(&dir)?;
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(f) => break f,
                // Another store closing removed the (empty) folder in between.
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 => tries += 1,
                Err(e) => return Err(e),
            }
        };
        let locked = try_lock(&file).and_then(|held| {
            if held {
                std::fs::rename(&tmp, &path)
            } else {
                Err(io::Error::other(
                    "a new lock file is locked by another process",
                ))
            }
        });
        if let Err(e) = locked {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(Owner {
            id,
            path,
            _file: file,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Deleted while still locked: nobody can take the lock of a file that no longer has a name.
        let _ = std::fs::remove_file(&self.path);
        // The folder goes with the last owner (removing a folder that is not empty fails).
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Whether the process of `owner` (an id from the database at `db`) is alive: its lock is held.
/// An id that no gradlab writes, or whose lock file is gone, belongs to no live process. A dead
/// owner's file is deleted.
pub(crate) fn is_alive(db: &Path, owner: &str) -> io::Result<bool> {
    let well_formed = !owner.is_empty()
        && owner.len() <= 80
        && owner.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if !well_formed {
        return Ok(false);
    }
    let path = folder(db).join(format!("{owner}.lock"));
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if try_lock(&file)? {
        let _ = std::fs::remove_file(&path);
        Ok(false)
    } else {
        Ok(true)
    }
}

/// The folder of a database's owner locks: `<database>-owners`, beside SQLite's own `-wal` and
/// `-shm` files.
pub(crate) fn folder(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-owners");
    PathBuf::from(name)
}

/// Takes `file`'s exclusive lock without waiting: `false` when another holds it.
fn try_lock(file: &File) -> io::Result<bool> {
    // Qualified: std's inherent `File::try_lock` (Rust 1.89) would shadow the trait method.
    match fs4::FileExt::try_lock(file) {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_alive_while_its_lock_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let a = Owner::acquire(&db).unwrap();
        let b = Owner::acquire(&db).unwrap();
        assert_ne!(a.id(), b.id());
        assert!(is_alive(&db, a.id()).unwrap());
        let id = a.id().to_string();
        drop(a);
        assert!(!is_alive(&db, &id).unwrap());
        assert!(is_alive(&db, b.id()).unwrap());
        // Ids that gradlab never writes name no live process (and no file outside the folder).
        for bad in ["", "../r.db", "a b", "1/2"] {
            assert!(!is_alive(&db, bad).unwrap(), "{bad:?}");
        }
        assert_eq!(
            std::fs::read_dir(folder(&db)).unwrap().count(),
            1,
            "only the live owner's file is left"
        );
        drop(b);
        assert!(
            !folder(&db).exists(),
            "the last owner takes the folder along"
        );
    }

    /// A dead process's lock file (left behind by a kill) is found unlocked, and deleted.
    #[test]
    fn a_left_behind_lock_file_is_a_dead_owner() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        std::fs::create_dir_all(folder(&db)).unwrap();
        let left = folder(&db).join("1-2-3.lock");
        std::fs::write(&left, "").unwrap();
        assert!(!is_alive(&db, "1-2-3").unwrap());
        assert!(!left.exists());
    }
}
