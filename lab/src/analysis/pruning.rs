//! What pruning saved: how many tuning trials the median rule stopped and the epochs (and the
//! estimated seconds) they did not run, for the report's disclosure.
//!
//! A trial's budget is its run config's `train.epochs` (trials budgeted in steps are left out of
//! the epoch counts). The seconds saved are an estimate, not a measurement: the epochs not run
//! times the measured seconds per epoch of the study's tuning trials.

use serde::{Deserialize, Serialize};

use crate::study::prune::{is_pruned, Prune};
use crate::study::Study;
use crate::{Phase, RunRecord, RunState};

/// Pruning over a whole study.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pruning {
    /// The rule, in words: `median (warm-up 2 epochs, 3 completed trials)`.
    pub rule: String,
    /// Finished tuning trials (done or failed).
    pub trials: usize,
    /// Trials the rule stopped.
    pub pruned: usize,
    /// Epochs the tuning trials were budgeted, and the epochs the pruned trials did not run.
    pub epochs_budgeted: usize,
    pub epochs_saved: usize,
    /// Measured wall seconds of the finished tuning trials.
    pub tuning_s: f64,
    /// Estimated seconds not spent: `epochs_saved` × the tuning trials' seconds per epoch.
    pub seconds_saved: f64,
}

impl Pruning {
    /// `2 of 6 trials pruned: 14 of 60 budgeted epochs not run (23%), about 3.1 s saved`.
    pub fn line(&self) -> String {
        let pct = if self.epochs_budgeted > 0 {
            100.0 * self.epochs_saved as f64 / self.epochs_budgeted as f64
        } else {
            0.0
        };
        format!(
            "{} of {} tuning trials pruned ({}): {} of {} budgeted epochs not run ({pct:.0}%), \
             about {} saved (estimated from the trials' measured seconds per epoch)",
            self.pruned,
            self.trials,
            self.rule,
            self.epochs_saved,
            self.epochs_budgeted,
            present::duration(self.seconds_saved)
        )
    }
}

/// The budgeted epochs of a run (its config's `train.epochs`).
fn budget(record: &RunRecord) -> Option<usize> {
    let t: toml::Table = record.spec.config.parse().ok()?;
    let e = t.get("train")?.get("epochs")?.as_integer()?;
    usize::try_from(e).ok()
}

/// The study's pruning summary; `None` when pruning is off.
pub fn pruning(study: &Study, runs: &[&RunRecord]) -> Option<Pruning> {
    let Prune::Median { warmup, min_trials } = study.tuning.prune else {
        return None;
    };
    let mut p = Pruning {
        rule: format!("median rule, warm-up {warmup} epochs, {min_trials} completed trials"),
        ..Pruning::default()
    };
    let mut epochs_run = 0usize;
    for r in runs.iter().filter(|r| {
        r.spec.phase == Phase::Tune && matches!(r.state, RunState::Done | RunState::Failed)
    }) {
        p.trials += 1;
        let Some(res) = &r.result else { continue };
        p.tuning_s += res.wall_s;
        epochs_run += res.epochs;
        let Some(b) = budget(r) else { continue };
        p.epochs_budgeted += b;
        if is_pruned(r) {
            p.pruned += 1;
            p.epochs_saved += b.saturating_sub(res.epochs);
        }
    }
    if epochs_run > 0 {
        p.seconds_saved = p.epochs_saved as f64 * p.tuning_s / epochs_run as f64;
    }
    Some(p)
}
