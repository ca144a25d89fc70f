//! Run checkpoints: `checkpoints/step-NNNNNNNNN/` holds `model.safetensors` (weights and
//! buffers, PyTorch names), `optimizer.safetensors` (optimizer and schedule state),
//! `ema.safetensors`, `best.safetensors` (early stopping's best weights), `trainer.json` (step,
//! epoch, position in the epoch, dropout generators, early-stopping and divergence state, length
//! of `metrics.jsonl`) and, written last, `checksums.json` (the length and CRC-32C of each of
//! the others).
//!
//! The folder is written under a temporary name and renamed, then `checkpoint.json` (also
//! written to a temporary file and renamed) points at it, and only then are older checkpoints
//! removed — all but the one before it: a run killed at any moment leaves a complete
//! checkpoint, and a damaged latest one (a flipped bit, a truncated file, an edit) leaves the
//! previous one to resume from. A resume reads them newest first ([`candidates`]) and takes the
//! first whose files match their checksums ([`read`]) and whose state is consistent
//! (`crate::resume`).
//!
//! CRC-32C, not a cryptographic hash: it catches what damages files (every burst of up to 32
//! flipped bits, truncation through the length, any other change but for one chance in 2^32)
//! at 17 GB/s, where SHA-256 (1.4 GB/s here) cost 1.5% of the mnist-10k MLP's run in per-epoch
//! checkpoints. Neither would stop a deliberate edit: whoever can edit a file can rewrite
//! `checksums.json`; the state's consistency checks are the second line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use nn::Sequential;
use optim::{Ema, LrSchedule, Optimizer};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::files::{is_temp_of, write_atomic};
use crate::state::{TrainerState, VERSION};
use crate::{Result, TrainError};

/// The folder holding the checkpoints, in the run folder.
pub const DIR: &str = "checkpoints";
/// The pointer at the latest checkpoint, in the run folder.
pub const POINTER: &str = "checkpoint.json";
/// The checksums of a checkpoint's files, written last.
pub const CHECKSUMS: &str = "checksums.json";
/// Every file a checkpoint may hold besides [`CHECKSUMS`]; the first three always.
pub const FILES: [&str; 5] = [
    "model.safetensors",
    "optimizer.safetensors",
    "trainer.json",
    "ema.safetensors",
    "best.safetensors",
];

#[derive(Serialize, Deserialize)]
struct Pointer {
    dir: String,
    step: u64,
    epoch: usize,
}

#[derive(Serialize, Deserialize)]
struct Checksums {
    /// File name → its length and checksum.
    files: BTreeMap<String, FileSum>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct FileSum {
    bytes: u64,
    /// CRC-32C (Castagnoli) of the bytes, 8 lowercase hex digits.
    crc32c: String,
}

impl FileSum {
    fn of(bytes: &[u8]) -> FileSum {
        FileSum {
            bytes: bytes.len() as u64,
            crc32c: format!("{:08x}", crc32c::crc32c(bytes)),
        }
    }
}

/// `step-NNNNNNNNN`, the folder name of the checkpoint at `step`.
fn folder_name(step: u64) -> String {
    format!("step-{step:09}")
}

/// The step of a checkpoint folder name, when it is one.
fn step_of(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("step-")?;
    (digits.len() >= 9 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Writes a checkpoint and returns its folder; afterwards only it and `keep` (the previous
/// good checkpoint) remain.
#[allow(clippy::too_many_arguments)]
pub fn save(
    run_dir: &Path,
    keep: Option<&Path>,
    state: &TrainerState,
    model: &Sequential,
    opt: &Optimizer<f32>,
    schedule: Option<&dyn LrSchedule>,
    ema: Option<&Ema<f32>>,
    best: Option<&[Vec<f32>]>,
) -> Result<PathBuf> {
    let root = run_dir.join(DIR);
    let name = folder_name(state.step);
    let tmp = root.join(format!(".{name}.tmp"));
    let dir = root.join(&name);
    let io =
        |p: &Path, e: std::io::Error| TrainError::file(p, format!("cannot write checkpoint: {e}"));
    if tmp.exists() {
        remove(&tmp)?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    model.save(tmp.join("model.safetensors"))?;
    optim::save_state(opt, schedule, &tmp.join("optimizer.safetensors"))?;
    if let Some(ema) = ema {
        ema.save(&tmp.join("ema.safetensors"))?;
    }
    if let Some(best) = best {
        write_atomic(&tmp.join("best.safetensors"), &snapshot_bytes(best)?)?;
    }
    let json = serde_json::to_string_pretty(state).expect("state serialises");
    write_atomic(&tmp.join("trainer.json"), json.as_bytes())?;
    // The checksums of what is on disk, read back, and written last: a folder with them is
    // complete.
    let mut sums = Checksums {
        files: BTreeMap::new(),
    };
    for f in FILES {
        let p = tmp.join(f);
        if p.exists() {
            let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
            sums.files.insert(f.to_string(), FileSum::of(&bytes));
        }
    }
    let text = serde_json::to_string_pretty(&sums).expect("checksums serialise");
    write_atomic(&tmp.join(CHECKSUMS), text.as_bytes())?;
    // Every file in it is synced; the folder's own entries must be too before it gets its name.
    durable::sync_dir(&tmp).map_err(|e| io(&tmp, e))?;
    if dir.exists() {
        remove(&dir)?;
    }
    durable::rename(&tmp, &dir).map_err(|e| io(&dir, e))?;
    let pointer = Pointer {
        dir: format!("{DIR}/{name}"),
        step: state.step,
        epoch: state.epoch,
    };
    write_atomic(
        &run_dir.join(POINTER),
        serde_json::to_string_pretty(&pointer)
            .expect("pointer")
            .as_bytes(),
    )?;
    // Only now that the pointer names the new checkpoint may older ones go, all but `keep`. A
    // second save at the same step (an epoch's end that is also a `checkpoint_every_steps`
    // step) replaced `keep` itself: the one before it stays.
    let keep = keep.and_then(|k| k.file_name()).map(|k| k.to_owned());
    if keep.as_deref() == Some(std::ffi::OsStr::new(&name)) {
        return Ok(dir);
    }
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let n = e.file_name();
            let s = n.to_string_lossy();
            if s != name && Some(&n) != keep.as_ref() && step_of(&s).is_some() {
                // A folder that cannot go now goes at a later save.
                let _ = remove(&e.path());
            }
        }
    }
    Ok(dir)
}

/// The checkpoint folders of `run_dir` to try for a resume, best first: the one
/// `checkpoint.json` points at, then the others by step, newest first. An error when there is
/// none.
pub fn candidates(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let root = run_dir.join(DIR);
    let pointed = std::fs::read_to_string(run_dir.join(POINTER))
        .ok()
        .and_then(|t| parse_pointer(&t, &run_dir.join(POINTER)).ok())
        .and_then(|dir| {
            let name = dir.strip_prefix(DIR).ok()?.to_str()?.to_string();
            step_of(&name).map(|_| name)
        });
    let mut steps: Vec<(u64, String)> = std::fs::read_dir(&root)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    step_of(&n).map(|s| (s, n))
                })
                .collect()
        })
        .unwrap_or_default();
    steps.sort_unstable_by(|a, b| b.cmp(a));
    let mut out: Vec<PathBuf> = Vec::new();
    if let Some(p) = pointed.filter(|p| root.join(p).is_dir()) {
        out.push(root.join(p));
    }
    for (_, n) in steps {
        let p = root.join(n);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(TrainError::checkpoint(
            run_dir,
            "no checkpoint to resume from; run without --resume to start afresh",
        ));
    }
    Ok(out)
}

/// The checkpoint folder that the text of `checkpoint.json` (read from `path`, for messages)
/// names, relative to the run folder. It must lie inside the run folder: a pointer naming an
/// absolute path or climbing out with `..` would resume from another run's (or any) files.
pub fn parse_pointer(text: &str, path: &Path) -> Result<PathBuf> {
    let ptr: Pointer = serde_json::from_str(text)
        .map_err(|e| TrainError::checkpoint(path, format!("not a checkpoint pointer: {e}")))?;
    let dir = PathBuf::from(&ptr.dir);
    let inside = !ptr.dir.is_empty()
        && dir
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(TrainError::checkpoint(
            path,
            format!(
                "`dir` = {:?} is not a folder inside the run folder (e.g. \"checkpoints/step-000000100\")",
                ptr.dir
            ),
        ));
    }
    Ok(dir)
}

/// The trainer state in the text of a `trainer.json` (read from `path`, for messages).
pub fn parse_state(text: &str, path: &Path) -> Result<TrainerState> {
    let state: TrainerState = serde_json::from_str(text)
        .map_err(|e| TrainError::checkpoint(path, format!("invalid: {e}")))?;
    if state.version != VERSION {
        return Err(TrainError::checkpoint(
            path,
            format!("version {} is not the supported {VERSION}", state.version),
        ));
    }
    Ok(state)
}

/// Verifies a checkpoint folder's files against its checksums and reads its trainer state;
/// the error says what is wrong (for the resume's account of each folder it tried).
pub fn read(dir: &Path) -> std::result::Result<TrainerState, String> {
    let text = std::fs::read_to_string(dir.join(CHECKSUMS)).map_err(|e| {
        format!(
            "cannot read {CHECKSUMS} ({e}): the checkpoint is incomplete or from an older gradlab"
        )
    })?;
    let sums: Checksums =
        serde_json::from_str(&text).map_err(|e| format!("{CHECKSUMS} is not valid: {e}"))?;
    if let Some(n) = sums.files.keys().find(|n| !FILES.contains(&n.as_str())) {
        return Err(format!(
            "{CHECKSUMS} lists `{n}`, which no checkpoint holds"
        ));
    }
    for f in FILES {
        let p = dir.join(f);
        match (sums.files.get(f), p.exists()) {
            (None, false) if FILES[3..].contains(&f) => {}
            (None, false) => return Err(format!("{f} is missing")),
            (None, true) => return Err(format!("{f} is not listed in {CHECKSUMS}")),
            (Some(_), false) => return Err(format!("{f} is missing")),
            (Some(want), true) => {
                let bytes = std::fs::read(&p).map_err(|e| format!("cannot read {f}: {e}"))?;
                let got = FileSum::of(&bytes);
                if got.bytes != want.bytes {
                    return Err(format!(
                        "{f} has {} bytes where its checksum recorded {} (the file was truncated or changed)",
                        got.bytes, want.bytes
                    ));
                }
                if got != *want {
                    return Err(format!(
                        "{f} does not match its checksum (the file was changed or damaged)"
                    ));
                }
            }
        }
    }
    let path = dir.join("trainer.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read trainer.json: {e}"))?;
    parse_state(&text, &path).map_err(|e| e.to_string())
}

/// Loads a checkpoint's tensors into the run's objects (every one of them: a failed earlier
/// attempt leaves nothing behind); errors name the file.
pub fn load_into(
    dir: &Path,
    model: &mut Sequential,
    opt: &mut Optimizer<f32>,
    schedule: Option<&mut dyn LrSchedule>,
    ema: Option<&mut Ema<f32>>,
    best: &mut Option<Vec<Vec<f32>>>,
) -> Result<()> {
    model.load(dir.join("model.safetensors"))?;
    optim::load_state(opt, schedule, &dir.join("optimizer.safetensors"))?;
    if let Some(ema) = ema {
        let p = dir.join("ema.safetensors");
        if p.exists() {
            ema.load(&p)?;
        }
    }
    *best = None;
    let p = dir.join("best.safetensors");
    if p.exists() {
        let bytes = std::fs::read(&p).map_err(|e| TrainError::checkpoint(&p, e))?;
        *best = Some(parse_best(&bytes, model, &p)?);
    }
    Ok(())
}

/// Removes a checkpoint folder: the files a checkpoint holds (and temporary files of
/// interrupted writes), then the folder, which must then be empty — gradlab never deletes
/// what it did not write.
pub fn remove(dir: &Path) -> Result<()> {
    let io = |p: &Path, e: std::io::Error| TrainError::file(p, format!("cannot remove: {e}"));
    for e in std::fs::read_dir(dir).map_err(|e| io(dir, e))?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        // `checksums.json`'s temporary file too: a kill while it is written leaves one.
        if FILES.contains(&n.as_str())
            || n == CHECKSUMS
            || is_temp_of(&n, &FILES)
            || is_temp_of(&n, &[CHECKSUMS])
        {
            std::fs::remove_file(e.path()).map_err(|err| io(&e.path(), err))?;
        }
    }
    std::fs::remove_dir(dir).map_err(|e| {
        TrainError::file(
            dir,
            format!("cannot remove: {e} (it holds files gradlab did not write; move them away)"),
        )
    })
}

/// Removes the checkpoints folder of a run folder ([`remove`] for each checkpoint in it, then
/// the folder when that leaves it empty).
pub fn remove_all(run_dir: &Path) -> Result<()> {
    let root = run_dir.join(DIR);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let inner = n
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".tmp"))
            .unwrap_or(&n);
        if e.path().is_dir() && step_of(inner).is_some() {
            remove(&e.path())?;
        }
    }
    // Anything else in it is not gradlab's: the folder stays with it.
    let _ = std::fs::remove_dir(&root);
    Ok(())
}

/// Early stopping's best weights from the bytes of `best.safetensors` (read from `path`, for
/// messages): one `F32` tensor per stored tensor of `model`, each of its size.
pub fn parse_best(bytes: &[u8], model: &Sequential, path: &Path) -> Result<Vec<Vec<f32>>> {
    let snap = snapshot_from_bytes(bytes).map_err(|e| TrainError::checkpoint(path, e))?;
    let want: Vec<usize> = model.snapshot().iter().map(Vec::len).collect();
    let got: Vec<usize> = snap.iter().map(Vec::len).collect();
    if got != want {
        return Err(TrainError::checkpoint(
            path,
            format!(
                "best weights do not fit this model: tensor sizes {got:?}, the model's {want:?}"
            ),
        ));
    }
    Ok(snap)
}

fn snapshot_bytes(snap: &[Vec<f32>]) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = snap
        .iter()
        .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let v = TensorView::new(Dtype::F32, vec![b.len() / 4], b)
                .map_err(|e| TrainError::Config(format!("snapshot tensor {i}: {e}")))?;
            Ok((format!("{i:05}"), v))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([("format".to_string(), "gradlab.snapshot".to_string())]);
    safetensors::serialize(views, &Some(meta))
        .map_err(|e| TrainError::Config(format!("snapshot: {e}")))
}

fn snapshot_from_bytes(bytes: &[u8]) -> std::result::Result<Vec<Vec<f32>>, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let mut names = st.names();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let t = st.tensor(n).map_err(|e| e.to_string())?;
            if t.dtype() != Dtype::F32 {
                return Err(format!("tensor {n} is not f32"));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn::{LayerConfig, LinearConfig};

    #[test]
    fn names_of_checkpoints_and_temporary_files() {
        assert_eq!(step_of("step-000000120"), Some(120));
        assert_eq!(step_of(&folder_name(7)), Some(7));
        for bad in [
            "step-12",
            "step-00000012x",
            "steps-000000012",
            ".step-000000012.tmp",
        ] {
            assert_eq!(step_of(bad), None, "{bad}");
        }
        assert!(is_temp_of(".model.safetensors.123.0.tmp", &FILES));
        assert!(!is_temp_of(".model.safetensors.tmp", &FILES));
        assert!(!is_temp_of(".notes.txt.1.2.tmp", &FILES));
        assert!(!is_temp_of("model.safetensors", &FILES));
    }

    /// Removing a checkpoint folder that holds a file gradlab did not write removes only
    /// gradlab's files and says why the folder stays.
    #[test]
    fn removing_a_checkpoint_keeps_files_gradlab_did_not_write() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("step-000000001");
        std::fs::create_dir(&d).unwrap();
        for f in [
            "model.safetensors",
            "trainer.json",
            ".trainer.json.9.0.tmp",
            "mine.txt",
        ] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        let e = remove(&d).unwrap_err().to_string();
        assert!(e.contains("did not write"), "{e}");
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["mine.txt"]);
    }

    /// Regression (cli test `train_kill_and_resume_gives_the_uninterrupted_numbers`, once in
    /// several runs): a kill while `checksums.json` was being written left its temporary file in
    /// the checkpoint's temporary folder, and the next save refused to remove that folder.
    #[test]
    fn an_interrupted_checksums_write_is_cleaned_up() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join(".step-000000024.tmp");
        std::fs::create_dir(&d).unwrap();
        for f in [
            "model.safetensors",
            "optimizer.safetensors",
            "trainer.json",
            ".checksums.json.4242.0.tmp",
        ] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        remove(&d).unwrap();
        assert!(!d.exists());
    }

    #[test]
    fn checkpoint_pointer_naming_a_folder_outside_the_run_is_an_error() {
        let path = Path::new("run/checkpoint.json");
        let ptr = |dir: &str| format!(r#"{{"dir": {dir:?}, "step": 10, "epoch": 1}}"#);
        assert_eq!(
            parse_pointer(&ptr("checkpoints/step-000000010"), path).unwrap(),
            Path::new("checkpoints/step-000000010")
        );
        for bad in [
            "/etc",
            "../other/checkpoints/step-000000010",
            "checkpoints/../..",
            "",
        ] {
            let e = parse_pointer(&ptr(bad), path).unwrap_err().to_string();
            assert!(
                e.starts_with("checkpoint run/checkpoint.json: `dir` = ")
                    && e.contains("not a folder inside the run folder"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn best_weights_of_the_wrong_sizes_are_an_error_when_loaded_not_at_the_end_of_the_run() {
        let model =
            Sequential::new(&[2], &[LayerConfig::Linear(LinearConfig::new(2, 3))], 0).unwrap();
        let path = Path::new("best.safetensors");
        let mut snap = model.snapshot();
        assert_eq!(
            parse_best(&snapshot_bytes(&snap).unwrap(), &model, path).unwrap(),
            snap
        );
        // As many tensors as the model has, one of them too short.
        snap[0].pop();
        let e = parse_best(&snapshot_bytes(&snap).unwrap(), &model, path)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "checkpoint best.safetensors: best weights do not fit this model: tensor sizes [5, 3], the model's [6, 3]"
        );
    }
}
