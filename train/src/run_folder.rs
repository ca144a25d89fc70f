//! The run folder (`[log] dir`) and what gradlab wrote in it. A manifest, `gradlab-run.json`,
//! lists every file (and the `checkpoints/` folder) that gradlab created there, each entered
//! before it is created. A fresh run removes exactly those — and nothing else: a folder that
//! holds anything but has no manifest is refused, so `log.dir = "."` can never delete a user's
//! own `checkpoints/` or `metrics.jsonl`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::files::{is_temp_of, write_atomic};
use crate::{Result, TrainError};

/// The manifest's file name.
pub const MANIFEST: &str = "gradlab-run.json";
const FORMAT: &str = "gradlab run folder";

/// What a run writes in its folder (besides TensorBoard event files, entered as each is
/// created). `checkpoints/` is the folder of [`checkpoint`]s.
pub const RUN_FILES: [&str; 6] = [
    "config.toml",
    "metrics.jsonl",
    "summary.json",
    "model.safetensors",
    checkpoint::POINTER,
    "checkpoints/",
];

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    format: String,
    /// Names of files in the folder, and `checkpoints/`.
    entries: Vec<String>,
}

/// Makes `dir` ready for a fresh run: creates it; or, when it holds an earlier run, removes what
/// that run's manifest lists; or refuses a non-empty folder without a manifest. Then writes the
/// manifest of the new run.
pub fn start_fresh(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(TrainError::file(
            dir,
            "is not a folder; choose another [log] dir",
        ));
    }
    let listed = match read(dir)? {
        Some(m) => m.entries,
        None => {
            let mut entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
            if entries.next().is_some() {
                return Err(TrainError::file(
                    dir,
                    format!(
                        "a fresh run needs an empty folder, and this one holds files gradlab did not \
                         write (it has no {MANIFEST} listing them). Nothing was removed. Choose another \
                         [log] dir (--set log.dir=\"runs/new\"), continue the run there with --resume, \
                         or empty the folder yourself"
                    ),
                ));
            }
            Vec::new()
        }
    };
    for e in &listed {
        remove_entry(dir, e)?;
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| TrainError::file(dir, format!("cannot create run folder: {e}")))?;
    write(
        dir,
        &Manifest {
            format: FORMAT.into(),
            entries: RUN_FILES.iter().map(|s| s.to_string()).collect(),
        },
    )
}

/// Enters `names` (files of the run folder `dir`) in its manifest, creating the manifest when
/// the folder has none yet (a run of an older gradlab being resumed). Call it before creating
/// the files.
pub fn record(dir: &Path, names: &[&str]) -> Result<()> {
    for n in names {
        check_entry(dir, n)?;
    }
    let mut m = read(dir)?.unwrap_or_else(|| Manifest {
        format: FORMAT.into(),
        entries: RUN_FILES.iter().map(|s| s.to_string()).collect(),
    });
    let before = m.entries.len();
    for n in names {
        if !m.entries.iter().any(|e| e == n) {
            m.entries.push(n.to_string());
        }
    }
    if m.entries.len() == before && dir.join(MANIFEST).exists() {
        return Ok(());
    }
    write(dir, &m)
}

fn read(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::file(&path, format!("cannot read: {e}"))),
    };
    let bad = |why: String| {
        TrainError::file(
            &path,
            format!(
                "{why}; nothing was removed. Choose another [log] dir, or remove the folder's files yourself"
            ),
        )
    };
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a gradlab run manifest ({e})")))?;
    if m.format != FORMAT {
        return Err(bad(format!("`format` is {:?}, not {FORMAT:?}", m.format)));
    }
    for e in &m.entries {
        check_entry(dir, e)
            .map_err(|_| bad(format!("lists {e:?}, which is not a file of this folder")))?;
    }
    Ok(Some(m))
}

fn write(dir: &Path, m: &Manifest) -> Result<()> {
    let text = serde_json::to_string_pretty(m).expect("manifest serialises");
    write_atomic(&dir.join(MANIFEST), text.as_bytes())
}

/// An entry must name a file directly in the folder (or be `checkpoints/`): never a path
/// elsewhere, whatever a damaged manifest says.
fn check_entry(dir: &Path, e: &str) -> Result<()> {
    let plain = !e.is_empty()
        && e != "."
        && e != ".."
        && e != MANIFEST
        && !e.contains(['/', '\\', '\0'])
        && Path::new(e).components().count() == 1;
    if plain || e == "checkpoints/" {
        Ok(())
    } else {
        Err(TrainError::file(
            dir,
            format!("{e:?} is not a file name of the run folder"),
        ))
    }
}

/// Removes one manifest entry (and the temporary files of its interrupted writes); a missing
/// one is fine.
fn remove_entry(dir: &Path, e: &str) -> Result<()> {
    if e == "checkpoints/" {
        return checkpoint::remove_all(dir);
    }
    let path: PathBuf = dir.join(e);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => Some(m),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(TrainError::file(&path, format!("cannot remove: {err}"))),
    };
    // gradlab writes files only: a folder of that name is someone else's.
    if meta.is_some_and(|m| !m.is_dir()) {
        std::fs::remove_file(&path)
            .map_err(|err| TrainError::file(&path, format!("cannot remove: {err}")))?;
    }
    for t in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if is_temp_of(&t.file_name().to_string_lossy(), &[e]) {
            let _ = std::fs::remove_file(t.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_fresh_run_removes_only_what_the_manifest_lists() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("run");
        start_fresh(&d).unwrap();
        for f in [
            "metrics.jsonl",
            "model.safetensors",
            "notes.txt",
            ".summary.json.12.3.tmp",
        ] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        std::fs::create_dir_all(d.join("checkpoints/step-000000005")).unwrap();
        std::fs::write(d.join("checkpoints/step-000000005/trainer.json"), b"{}").unwrap();
        record(&d, &["events.out.tfevents.1.h.2.3"]).unwrap();
        std::fs::write(d.join("events.out.tfevents.1.h.2.3"), b"x").unwrap();
        start_fresh(&d).unwrap();
        assert_eq!(names(&d), [MANIFEST, "notes.txt"]);
    }

    #[test]
    fn a_damaged_manifest_removes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("mine.txt"), b"x").unwrap();
        for text in [
            "not json",
            r#"{"format": "gradlab run folder", "entries": ["../mine.txt"]}"#,
            r#"{"format": "other", "entries": []}"#,
        ] {
            std::fs::write(d.join(MANIFEST), text).unwrap();
            let e = start_fresh(d).unwrap_err().to_string();
            assert!(e.contains("nothing was removed"), "{e}");
            assert!(d.join("mine.txt").exists());
        }
        assert!(record(d, &["../x"]).is_err());
    }
}
