//! Run checkpoints: `checkpoints/step-NNNNNNNNN/` holds `model.safetensors` (weights and
//! buffers, PyTorch names), `optimizer.safetensors` (optimizer and schedule state),
//! `ema.safetensors`, `best.safetensors` (early stopping's best weights) and `trainer.json` (step,
//! epoch, position in the epoch, dropout generators, early-stopping state, length of
//! `metrics.jsonl`). The directory is written under a temporary name and renamed, then
//! `checkpoint.json` (also written to a temporary file and renamed) points at it, and only then
//! is the previous checkpoint removed: a run killed at any moment leaves a complete checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nn::Sequential;
use optim::{Ema, LrSchedule, Optimizer};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::files::write_atomic;
use crate::state::{TrainerState, VERSION};
use crate::{Result, TrainError};

#[derive(Serialize, Deserialize)]
struct Pointer {
    dir: String,
    step: u64,
    epoch: usize,
}

/// Removes what a previous run left in `run_dir` (its logs, checkpoints and weights), so a fresh
/// run does not mix with it. Other files are left alone.
pub fn clear(run_dir: &Path) -> Result<()> {
    let rm = |p: PathBuf| -> Result<()> {
        if p.is_dir() {
            std::fs::remove_dir_all(&p)
                .map_err(|e| TrainError::file(&p, format!("cannot remove: {e}")))
        } else if p.exists() {
            std::fs::remove_file(&p)
                .map_err(|e| TrainError::file(&p, format!("cannot remove: {e}")))
        } else {
            Ok(())
        }
    };
    for f in [
        "checkpoint.json",
        "checkpoints",
        "metrics.jsonl",
        "summary.json",
        "model.safetensors",
    ] {
        rm(run_dir.join(f))?;
    }
    if let Ok(entries) = std::fs::read_dir(run_dir) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
            {
                rm(e.path())?;
            }
        }
    }
    Ok(())
}

/// Writes a checkpoint and returns its directory.
#[allow(clippy::too_many_arguments)]
pub fn save(
    run_dir: &Path,
    state: &TrainerState,
    model: &Sequential,
    opt: &Optimizer<f32>,
    schedule: Option<&dyn LrSchedule>,
    ema: Option<&Ema<f32>>,
    best: Option<&[Vec<f32>]>,
) -> Result<PathBuf> {
    let root = run_dir.join("checkpoints");
    let name = format!("step-{:09}", state.step);
    let tmp = root.join(format!(".{name}.tmp"));
    let dir = root.join(&name);
    let io =
        |p: &Path, e: std::io::Error| TrainError::file(p, format!("cannot write checkpoint: {e}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
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
    // Every file in it is synced; the folder's own entries must be too before it gets its name.
    durable::sync_dir(&tmp).map_err(|e| io(&tmp, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
    }
    durable::rename(&tmp, &dir).map_err(|e| io(&dir, e))?;
    let pointer = Pointer {
        dir: format!("checkpoints/{name}"),
        step: state.step,
        epoch: state.epoch,
    };
    write_atomic(
        &run_dir.join("checkpoint.json"),
        serde_json::to_string_pretty(&pointer)
            .expect("pointer")
            .as_bytes(),
    )?;
    // Only now that the pointer names the new checkpoint may older ones go.
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n != name && n.starts_with("step-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(dir)
}

/// Reads `checkpoint.json` and the state it points at.
pub fn load_latest(run_dir: &Path) -> Result<(TrainerState, PathBuf)> {
    let ptr_path = run_dir.join("checkpoint.json");
    let text = std::fs::read_to_string(&ptr_path).map_err(|e| {
        TrainError::checkpoint(
            &ptr_path,
            format!("no checkpoint to resume from ({e}); run without --resume to start afresh"),
        )
    })?;
    let dir = run_dir.join(parse_pointer(&text, &ptr_path)?);
    let state_path = dir.join("trainer.json");
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| TrainError::checkpoint(&state_path, format!("cannot read: {e}")))?;
    Ok((parse_state(&text, &state_path)?, dir))
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

/// Loads a checkpoint's tensors into the run's objects; errors name the file and leave the
/// objects unchanged where the underlying loaders do.
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
    let p = dir.join("best.safetensors");
    if p.exists() {
        let bytes = std::fs::read(&p).map_err(|e| TrainError::checkpoint(&p, e))?;
        *best = Some(parse_best(&bytes, model, &p)?);
    }
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
