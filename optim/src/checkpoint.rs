//! Saving and restoring an optimizer's state (and its learning-rate schedule's) in safetensors.
//!
//! # Format
//!
//! A checkpoint is a [safetensors](https://github.com/huggingface/safetensors) file. For every
//! parameter that has state (it has taken at least one step with a gradient), and for every
//! transform `k` (0-based position in the chain) that keeps state, it holds
//!
//! * each per-element buffer as a tensor `{param}/{k}.{transform}.{buffer}`, e.g.
//!   `0.weight/1.trace.momentum_buffer`, of the optimizer's dtype (`F32`/`F64`), with the
//!   parameter's shape when the buffer is parameter-sized and shape `[len]` otherwise;
//! * the transform's scalars (step counters, running sums) as an `F64` tensor
//!   `{param}/{k}.{transform}.scalars` of shape `[n]`.
//!
//! Parameters without state have no tensors, and come back without state (their state is
//! created lazily at their next step with a gradient, exactly as if they had never stepped).
//!
//! The string metadata holds `format` = `"gradlab.optim"`, `version` = `"1"`, `optimizer` (the
//! recipe name), `chain` ([`Chain::describe`](crate::Chain::describe)), `dtype`, `step`,
//! `skipped`, `groups` (JSON: a list of `{lr, initial_lr, weight_decay, momentum, params}`) and,
//! when a schedule was saved, `schedule` (JSON: `{name, state}`).
//!
//! Real numbers in the JSON metadata are written as **decimal strings** (`"0.1"`, `"1e-5"`,
//! `"inf"`), the shortest representation that reads back to the same `f64`: JSON numbers cannot
//! hold ±∞ or NaN (a plateau schedule's initial best is +∞), and a generic JSON reader need not
//! round correctly. Plain JSON numbers are accepted when reading hand-written files.
//!
//! # Guarantees
//!
//! * The step after [`load`] is bit-identical to the step the saved run took next: buffers are
//!   stored in the optimizer's own dtype and scalars, learning rates and schedule state in
//!   `f64`, all exactly.
//! * [`load`] validates the whole file against the optimizer (format, version, dtype, optimizer
//!   name and chain, parameter names and shapes, buffer and scalar counts, group count, schedule
//!   presence and name) before changing anything; on error the optimizer and the schedule are
//!   left as they were.
//! * [`save`] writes atomically: a temporary file in the same directory, flushed to disk, then
//!   renamed over the target, so a crash never leaves a truncated checkpoint.
//!
//! Hyperparameters of the transforms (momentum, betas), clipping settings and parameter-group
//! patterns are configuration, not state: they come from the optimizer being loaded into. The
//! groups' current `lr`, `initial_lr`, `weight_decay` and scheduled `momentum` are restored.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};

use crate::transform::TensorInfo;
use crate::{Float, LrSchedule, OptimError, Optimizer, Result, State};

/// Value of the `format` metadata key.
pub const FORMAT: &str = "gradlab.optim";
/// Value of the `version` metadata key.
pub const VERSION: &str = "1";

/// Saves the optimizer's state, and the schedule's if given, to `path` (atomically).
pub fn save<F: Float>(
    opt: &Optimizer<F>,
    schedule: Option<&dyn LrSchedule>,
    path: &Path,
) -> Result<()> {
    let bytes = to_bytes(opt, schedule).map_err(|e| OptimError::file(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Restores the state saved by [`save`] into `opt` (and `schedule`). See the module docs for
/// what is checked; errors name the file.
pub fn load<F: Float>(
    opt: &mut Optimizer<F>,
    schedule: Option<&mut dyn LrSchedule>,
    path: &Path,
) -> Result<()> {
    let bytes =
        std::fs::read(path).map_err(|e| OptimError::file(path, format!("cannot read: {e}")))?;
    from_bytes(opt, schedule, &bytes).map_err(|e| OptimError::file(path, e.to_string()))
}

/// The checkpoint [`save`] writes, in memory.
pub fn to_bytes<F: Float>(
    opt: &Optimizer<F>,
    schedule: Option<&dyn LrSchedule>,
) -> Result<Vec<u8>> {
    let mut names: Vec<String> = Vec::new();
    let mut data: Vec<(Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for slot in &opt.slots {
        let Some(states) = &slot.state else { continue };
        for (k, (t, st)) in opt.chain.transforms().iter().zip(states).enumerate() {
            let prefix = format!("{}/{k}.{}", slot.name, t.name());
            for (b, buf) in st.bufs.iter().enumerate() {
                let shape = if buf.len() == slot.len {
                    slot.shape.clone()
                } else {
                    vec![buf.len()]
                };
                let mut bytes = Vec::with_capacity(buf.len() * F::BYTES);
                buf.iter().for_each(|&x| x.write_le(&mut bytes));
                names.push(format!("{prefix}.{}", buffer_name(t.buffers(), b)));
                data.push((F::DTYPE, shape, bytes));
            }
            if !st.scalars.is_empty() {
                let bytes = st.scalars.iter().flat_map(|x| x.to_le_bytes()).collect();
                names.push(format!("{prefix}.scalars"));
                data.push((Dtype::F64, vec![st.scalars.len()], bytes));
            }
        }
    }
    let groups: Vec<Value> = opt
        .groups
        .iter()
        .map(|g| {
            json!({
                "lr": num(g.lr),
                "initial_lr": num(g.initial_lr),
                "weight_decay": num(g.weight_decay),
                "momentum": g.momentum.map(num),
                "params": g.patterns,
            })
        })
        .collect();
    let mut meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("version".to_string(), VERSION.to_string()),
        ("optimizer".to_string(), opt.name.clone()),
        ("chain".to_string(), opt.chain.describe()),
        ("dtype".to_string(), format!("{:?}", F::DTYPE)),
        ("step".to_string(), opt.step.to_string()),
        ("skipped".to_string(), opt.skipped.to_string()),
        ("groups".to_string(), Value::Array(groups).to_string()),
    ]);
    if let Some(s) = schedule {
        let state: Vec<String> = s.state().into_iter().map(num).collect();
        meta.insert(
            "schedule".into(),
            json!({ "name": s.name(), "state": state }).to_string(),
        );
    }
    serialize(names, data, meta)
}

/// Restores a checkpoint held in memory (see [`load`]).
pub fn from_bytes<F: Float>(
    opt: &mut Optimizer<F>,
    schedule: Option<&mut dyn LrSchedule>,
    bytes: &[u8],
) -> Result<()> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| OptimError::Invalid(format!("not a valid safetensors checkpoint: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| OptimError::Invalid(format!("not a valid safetensors checkpoint: {e}")))?;
    let empty = HashMap::new();
    let meta = header.metadata().as_ref().unwrap_or(&empty);
    let get = |key: &str| {
        meta.get(key).map(String::as_str).ok_or_else(|| {
            OptimError::Invalid(format!("optimizer checkpoint: metadata lacks `{key}`"))
        })
    };

    // Header: what the file is and what it was saved from.
    let format = meta.get("format").map(String::as_str).unwrap_or("");
    if format != FORMAT {
        return Err(OptimError::Invalid(format!(
            "not an optimizer checkpoint: metadata `format` = {format:?}, expected {FORMAT:?}"
        )));
    }
    let version = get("version")?;
    if version != VERSION {
        return Err(OptimError::Invalid(format!(
            "unsupported optimizer checkpoint version {version:?} (this build reads version {VERSION:?})"
        )));
    }
    let dtype = get("dtype")?;
    let want_dtype = format!("{:?}", F::DTYPE);
    if dtype != want_dtype {
        return Err(mismatch(format!(
            "checkpoint holds {dtype} state, the optimizer runs in {want_dtype}"
        )));
    }
    let name = get("optimizer")?;
    if name != opt.name {
        return Err(mismatch(format!(
            "checkpoint is of optimizer `{name}`, the optimizer is `{}`",
            opt.name
        )));
    }
    let chain = get("chain")?;
    if chain != opt.chain.describe() {
        return Err(mismatch(format!(
            "checkpoint chain `{chain}` differs from the optimizer's chain `{}`",
            opt.chain.describe()
        )));
    }
    let step = parse_u64(get("step")?, "step")?;
    let skipped = parse_u64(get("skipped")?, "skipped")?;

    // Groups.
    let groups_json: Value = serde_json::from_str(get("groups")?).map_err(|e| {
        OptimError::Invalid(format!(
            "optimizer checkpoint: metadata `groups` is not JSON: {e}"
        ))
    })?;
    let groups_arr = groups_json.as_array().ok_or_else(|| {
        OptimError::Invalid("optimizer checkpoint: metadata `groups` is not a list".into())
    })?;
    if groups_arr.len() != opt.groups.len() {
        return Err(mismatch(format!(
            "checkpoint has {} parameter groups, the optimizer has {}",
            groups_arr.len(),
            opt.groups.len()
        )));
    }
    let mut groups = opt.groups.clone();
    for (i, (g, v)) in groups.iter_mut().zip(groups_arr).enumerate() {
        let field = |key: &str| -> Result<Option<f64>> {
            let ctx = format!("groups[{i}].{key}");
            match v.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => real(x, &ctx).map(Some),
            }
        };
        let required = |key: &str| -> Result<f64> {
            field(key)?.ok_or_else(|| {
                OptimError::Invalid(format!("optimizer checkpoint: groups[{i}] lacks `{key}`"))
            })
        };
        g.lr = required("lr")?;
        g.initial_lr = required("initial_lr")?;
        g.weight_decay = required("weight_decay")?;
        g.momentum = field("momentum")?;
    }

    // Schedule.
    let saved_schedule = match meta.get("schedule") {
        None => None,
        Some(s) => {
            let v: Value = serde_json::from_str(s).map_err(|e| {
                OptimError::Invalid(format!(
                    "optimizer checkpoint: metadata `schedule` is not JSON: {e}"
                ))
            })?;
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    OptimError::Invalid("optimizer checkpoint: `schedule` lacks `name`".into())
                })?
                .to_string();
            let state = v
                .get("state")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    OptimError::Invalid("optimizer checkpoint: `schedule` lacks `state`".into())
                })?
                .iter()
                .enumerate()
                .map(|(i, x)| real(x, &format!("schedule.state[{i}]")))
                .collect::<Result<Vec<f64>>>()?;
            Some((name, state))
        }
    };
    match (&saved_schedule, &schedule) {
        (Some((saved, _)), None) => {
            return Err(mismatch(format!(
                "checkpoint holds the state of schedule `{saved}`, but no schedule was given to restore it into"
            )))
        }
        (None, Some(s)) => {
            return Err(mismatch(format!(
                "a schedule (`{}`) was given, but the checkpoint holds no schedule state",
                s.name()
            )))
        }
        (Some((saved, _)), Some(s)) if saved != s.name() => {
            return Err(mismatch(format!(
                "checkpoint holds the state of schedule `{saved}`, the given schedule is `{}`",
                s.name()
            )))
        }
        _ => {}
    }

    // Tensors: group them by parameter, then rebuild and check every parameter's state.
    let tensors = header.tensors();
    let mut by_param: HashMap<&str, HashSet<&str>> = HashMap::new();
    for tname in tensors.keys() {
        let (param, _) = tname.rsplit_once('/').ok_or_else(|| {
            OptimError::Invalid(format!(
                "optimizer checkpoint: tensor `{tname}` is not named `{{param}}/{{k}}.{{transform}}.{{buffer}}`"
            ))
        })?;
        by_param.entry(param).or_default().insert(tname.as_str());
    }
    let known: HashSet<&str> = opt.slots.iter().map(|s| s.name.as_str()).collect();
    let mut unknown: Vec<&str> = by_param
        .keys()
        .copied()
        .filter(|p| !known.contains(p))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(mismatch(format!(
            "checkpoint holds state for parameter `{}`, which the optimizer does not have",
            unknown.join("`, `")
        )));
    }

    let mut new_states: Vec<Option<Vec<State<F>>>> = Vec::with_capacity(opt.slots.len());
    for slot in &opt.slots {
        let Some(present) = by_param.get(slot.name.as_str()) else {
            new_states.push(None);
            continue;
        };
        let mut used = 0usize;
        let mut states = Vec::with_capacity(opt.chain.transforms().len());
        for (k, t) in opt.chain.transforms().iter().enumerate() {
            // The state layout this transform expects for this parameter.
            let (buf_lens, n_scalars) = if t.elementwise() {
                (vec![slot.len; t.buffers().len()], t.scalars())
            } else {
                let fresh = t.init(
                    &vec![F::zero(); slot.len],
                    TensorInfo {
                        name: &slot.name,
                        shape: &slot.shape,
                    },
                );
                (
                    fresh.bufs.iter().map(Vec::len).collect(),
                    fresh.scalars.len(),
                )
            };
            let prefix = format!("{}/{k}.{}", slot.name, t.name());
            let mut st = State {
                bufs: Vec::with_capacity(buf_lens.len()),
                scalars: Vec::new(),
            };
            for (b, &len) in buf_lens.iter().enumerate() {
                let tname = format!("{prefix}.{}", buffer_name(t.buffers(), b));
                let expected = if len == slot.len {
                    slot.shape.clone()
                } else {
                    vec![len]
                };
                let view = tensor(
                    &file,
                    &tensors,
                    present,
                    &tname,
                    F::DTYPE,
                    &slot.name,
                    &expected,
                )?;
                let buf: Vec<F> = view.data().chunks_exact(F::BYTES).map(F::read_le).collect();
                // A NaN moment or velocity would turn every later step of this parameter into NaN.
                if let Some((i, x)) = buf.iter().enumerate().find(|(_, x)| !x.f64().is_finite()) {
                    return Err(OptimError::Invalid(format!(
                        "optimizer checkpoint: tensor `{tname}` holds {} at index {i}; state must be finite",
                        x.f64()
                    )));
                }
                st.bufs.push(buf);
                used += 1;
            }
            if n_scalars > 0 {
                let tname = format!("{prefix}.scalars");
                let view = tensor(
                    &file,
                    &tensors,
                    present,
                    &tname,
                    Dtype::F64,
                    &slot.name,
                    &[n_scalars],
                )?;
                st.scalars = view
                    .data()
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect();
                // Step counters and running sums: a non-finite one would silently turn the next
                // steps' coefficients into NaN.
                if let Some((i, x)) = st.scalars.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                    return Err(OptimError::Invalid(format!(
                        "optimizer checkpoint: tensor `{tname}` holds {x} at index {i}; state must be finite"
                    )));
                }
                used += 1;
            }
            states.push(st);
        }
        if used != present.len() {
            let mut extra: Vec<&str> = present
                .iter()
                .copied()
                .filter(|n| !expected_names(opt, slot.name.as_str()).contains(*n))
                .collect();
            extra.sort_unstable();
            return Err(mismatch(format!(
                "parameter `{}`: checkpoint holds {} state tensors, the chain `{}` keeps {used}; unexpected: `{}`",
                slot.name,
                present.len(),
                opt.chain.describe(),
                extra.join("`, `")
            )));
        }
        new_states.push(Some(states));
    }

    // Everything checked: apply. The schedule goes first, since its own validation may fail; if it
    // does, its previous state is put back and the optimizer is untouched.
    if let (Some((_, state)), Some(s)) = (saved_schedule, schedule) {
        let old = s.state();
        if let Err(e) = s.load_state(&state) {
            let _ = s.load_state(&old);
            return Err(e);
        }
    }
    for (slot, st) in opt.slots.iter_mut().zip(new_states) {
        slot.state = st;
    }
    opt.groups = groups;
    opt.step = step;
    opt.skipped = skipped;
    Ok(())
}

/// Writes `bytes` to `path` durably ([`durable::write`]); errors name the path.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write(path, bytes).map_err(|e| OptimError::file(path, format!("cannot write: {e}")))
}

/// Serialises named tensors `(dtype, shape, little-endian bytes)` with string metadata.
pub(crate) fn serialize(
    names: Vec<String>,
    data: Vec<(Dtype, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let views = names
        .into_iter()
        .zip(&data)
        .map(|(n, (dtype, shape, bytes))| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (n, v))
                .map_err(|e| OptimError::Invalid(format!("cannot serialise state: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, &Some(meta))
        .map_err(|e| OptimError::Invalid(format!("cannot serialise state: {e}")))
}

/// Name of buffer `b`, from the transform's declared names (`buf{b}` past their end).
fn buffer_name(names: &[&str], b: usize) -> String {
    names
        .get(b)
        .map_or_else(|| format!("buf{b}"), |n| n.to_string())
}

/// Every tensor name the optimizer expects for parameter `param` (for error messages).
fn expected_names<F: Float>(opt: &Optimizer<F>, param: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for (k, t) in opt.chain.transforms().iter().enumerate() {
        let prefix = format!("{param}/{k}.{}", t.name());
        for name in t.buffers() {
            out.insert(format!("{prefix}.{name}"));
        }
        if t.scalars() > 0 {
            out.insert(format!("{prefix}.scalars"));
        }
    }
    out
}

/// Looks up tensor `name` of parameter `param` and checks its dtype and shape.
fn tensor<'a>(
    file: &SafeTensors<'a>,
    infos: &HashMap<String, &safetensors::tensor::TensorInfo>,
    present: &HashSet<&str>,
    name: &str,
    dtype: Dtype,
    param: &str,
    shape: &[usize],
) -> Result<TensorView<'a>> {
    if !present.contains(name) {
        return Err(mismatch(format!(
            "parameter `{param}`: checkpoint lacks state tensor `{name}` (the chain keeps more buffers than were saved)"
        )));
    }
    let info = infos[name];
    if info.dtype != dtype {
        return Err(mismatch(format!(
            "tensor `{name}` has dtype {:?}, expected {dtype:?}",
            info.dtype
        )));
    }
    if info.shape != shape {
        return Err(mismatch(format!(
            "parameter `{param}`: tensor `{name}` has shape {:?}, expected {shape:?} (has the parameter changed shape?)",
            info.shape
        )));
    }
    file.tensor(name)
        .map_err(|e| OptimError::Invalid(format!("optimizer checkpoint: tensor `{name}`: {e}")))
}

fn mismatch(msg: String) -> OptimError {
    OptimError::StateMismatch(msg)
}

/// An `f64` as the shortest decimal string that parses back to it exactly (`inf`, `NaN` too).
pub(crate) fn num(x: f64) -> String {
    format!("{x:?}")
}

/// Reads a real number written by [`num`] (or a plain JSON number).
pub(crate) fn real(v: &Value, what: &str) -> Result<f64> {
    match v {
        Value::String(s) => s.parse::<f64>().map_err(|_| {
            OptimError::Invalid(format!("checkpoint: `{what}` = {s:?} is not a number"))
        }),
        Value::Number(n) => n.as_f64().ok_or_else(|| {
            OptimError::Invalid(format!("checkpoint: `{what}` = {n} is not a number"))
        }),
        other => Err(OptimError::Invalid(format!(
            "checkpoint: `{what}` = {other} is not a number"
        ))),
    }
}

pub(crate) fn parse_u64(s: &str, what: &str) -> Result<u64> {
    s.parse().map_err(|_| {
        OptimError::Invalid(format!(
            "checkpoint: metadata `{what}` = {s:?} is not a count"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_exactly() {
        for x in [
            0.1,
            1e-5,
            0.1 + 0.2,
            std::f64::consts::PI * 1e300,
            5e-324,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let back = real(&Value::String(num(x)), "x").unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{x:?} -> {}", num(x));
        }
        assert!(real(&Value::String(num(f64::NAN)), "x").unwrap().is_nan());
        assert_eq!(real(&json!(0.25), "x").unwrap(), 0.25);
        let e = real(&json!("abc"), "groups[0].lr").unwrap_err().to_string();
        assert!(e.contains("groups[0].lr") && e.contains("abc"), "{e}");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.safetensors");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let bad = dir.path().join("no/such/dir/x.safetensors");
        let e = write_atomic(&bad, b"x").unwrap_err().to_string();
        assert!(
            e.contains("no/such/dir/x.safetensors") && e.contains("cannot write"),
            "{e}"
        );
    }
}
