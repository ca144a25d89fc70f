//! Whether a checkpoint's trainer state can be resumed from: consistent in itself (step, epoch
//! and position in the epoch agree), with the config (the same batches per epoch and
//! accumulation, within the run's budget) and with `metrics.jsonl` (the log holds the lines the
//! state counted, ending where it says). A state that fails is not used: the resume tries the
//! previous checkpoint, and refuses when none passes.

use std::path::Path;

use crate::metrics::Line;
use crate::state::TrainerState;

/// What the run being resumed expects of a checkpoint.
pub(crate) struct Expect<'a> {
    pub batches_per_epoch: usize,
    pub accumulate: usize,
    /// The training batch size (clamped to the training set).
    pub batch_size: usize,
    pub epochs: Option<usize>,
    pub steps: Option<u64>,
    pub metrics: &'a Path,
}

/// Checks `s` against itself, the config and the log; the error says what disagrees.
pub(crate) fn check(s: &TrainerState, e: &Expect<'_>) -> Result<(), String> {
    if (s.batches_per_epoch, s.accumulate) != (e.batches_per_epoch, e.accumulate) {
        return Err(format!(
            "it was written with {} batches per epoch and accumulate = {}, but the config gives {} and {}: resume with the [data] and [train] accumulate that wrote it",
            s.batches_per_epoch, s.accumulate, e.batches_per_epoch, e.accumulate
        ));
    }
    let (nb, acc) = (s.batches_per_epoch, s.accumulate.max(1));
    let inconsistent = |what: String| Err(format!("trainer.json is inconsistent: {what}"));
    if s.batch_in_epoch >= nb || !s.batch_in_epoch.is_multiple_of(acc) {
        return inconsistent(format!(
            "batch_in_epoch = {} with {nb} batches per epoch and accumulate = {acc}",
            s.batch_in_epoch
        ));
    }
    // Every full epoch takes `nb / acc` steps (a partial accumulation window is dropped).
    let want = (s.epoch as u64)
        .checked_mul((nb / acc) as u64)
        .and_then(|v| v.checked_add((s.batch_in_epoch / acc) as u64));
    if want != Some(s.step) {
        return inconsistent(format!(
            "step = {} but epoch = {} and batch_in_epoch = {} make {}",
            s.step,
            s.epoch,
            s.batch_in_epoch,
            want.map_or("more than 2^64".into(), |w| w.to_string())
        ));
    }
    let sums = &s.sums;
    if sums.batches != s.batch_in_epoch as u64
        || sums.correct > sums.examples
        || sums.examples > sums.batches.saturating_mul(e.batch_size as u64)
        || !sums.loss_sum.is_finite()
    {
        return inconsistent(format!(
            "the epoch's running sums ({} batches, {} examples, {} correct) do not fit batch_in_epoch = {}",
            sums.batches, sums.examples, sums.correct, s.batch_in_epoch
        ));
    }
    let early = &s.early;
    if early.best.is_some_and(|b| !b.is_finite()) || early.best_epoch > s.epoch + 1 {
        return inconsistent(format!(
            "early stopping's best epoch {} is past epoch {}",
            early.best_epoch, s.epoch
        ));
    }
    if !(s.divergence.is_valid() && s.elapsed_s >= 0.0 && s.elapsed_s.is_finite()) {
        return inconsistent("its divergence watch or elapsed time is malformed".into());
    }
    if let Some(epochs) = e.epochs.filter(|&n| s.epoch > n) {
        return Err(format!(
            "it is at epoch {}, past [train] epochs = {epochs}: raise epochs to continue it",
            s.epoch
        ));
    }
    if let Some(steps) = e.steps.filter(|&n| s.step > n) {
        return Err(format!(
            "it is at step {}, past [train] steps = {steps}: raise steps to continue it",
            s.step
        ));
    }
    check_log(s, e.metrics)
}

/// The first `metrics_len` bytes of the log hold `metrics_lines` whole lines: the epoch lines
/// of the epochs done, step lines up to `step`.
fn check_log(s: &TrainerState, path: &Path) -> Result<(), String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(format!("cannot read metrics.jsonl: {err}")),
    };
    let len = usize::try_from(s.metrics_len).unwrap_or(usize::MAX);
    if len > bytes.len() {
        return Err(format!(
            "it counted {} bytes of metrics.jsonl, which has {}: the log was truncated or changed",
            s.metrics_len,
            bytes.len()
        ));
    }
    let prefix = &bytes[..len];
    let bad_log = |what: String| Err(format!("metrics.jsonl disagrees with it: {what}"));
    if prefix.last().is_some_and(|&b| b != b'\n') {
        return bad_log(format!("byte {len} is not the end of a line"));
    }
    let lines = prefix.iter().filter(|&&b| b == b'\n').count() as u64;
    if lines != s.metrics_lines {
        return bad_log(format!(
            "its first {len} bytes hold {lines} lines, the checkpoint counted {}",
            s.metrics_lines
        ));
    }
    let (mut epochs, mut last_step) = (0usize, 0u64);
    for (i, l) in prefix.split(|&b| b == b'\n').enumerate() {
        if l.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Line>(l) {
            Ok(Line::Epoch(_)) => epochs += 1,
            Ok(Line::Step(r)) => last_step = r.step,
            Err(err) => return bad_log(format!("line {}: {err}", i + 1)),
        }
    }
    // An epoch cut short by the step budget is logged without being counted done.
    let partial = usize::from(s.batch_in_epoch > 0);
    if epochs < s.epoch || epochs > s.epoch + partial || last_step > s.step {
        return bad_log(format!(
            "it holds {epochs} epoch lines and steps up to {last_step}, the checkpoint is at epoch {} step {}",
            s.epoch, s.step
        ));
    }
    Ok(())
}
