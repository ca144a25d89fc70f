//! Pruning hopeless tuning trials: the median stopping rule.
//!
//! With `prune = "median"` in `[tuning]`, a tuning trial whose tuning metric at epoch e is worse
//! than the median of the completed trials' values at epoch e stops there (Golovin et al. 2017,
//! "Google Vizier: a service for black-box optimization", §3.2.2; Optuna's `MedianPruner`). The
//! rule waits `prune_warmup` epochs (early epochs are noisy), needs at least `prune_min_trials`
//! completed curves with a value at epoch e, and never stops a trial at its last budgeted epoch
//! (nothing would be saved). A pruned trial is stored done with the stop reason `pruned` and
//! ranks below every finished trial ([`super::best_trial`]); it is never re-run at other seeds
//! unless every trial of its arm was pruned or worse.
//!
//! Determinism. Which trials have finished when a trial starts depends on how many workers run
//! and how fast, so "the trials finished so far" would make the study's results depend on
//! timing. Instead an arm's trials (in trial order) run in *waves* of `prune_min_trials`: wave
//! w is queued only when every trial of the waves before it has finished, and a trial of wave w
//! is judged against the completed (not pruned, not diverged, not failed) trials of waves
//! 0..w only. Wave 0 is never pruned. The reference curves of every trial are thus a function
//! of the study alone: two runs of a study prune the same trials, whatever the workers. The
//! price is that an arm runs at most `prune_min_trials` trials at once; the other arms and
//! problems fill the remaining workers.

use serde::{Deserialize, Serialize};
use train::Metric;

use crate::{RunRecord, RunState};

/// The stop reason stored for a pruned trial (in the run result's `stop`).
pub const PRUNED: &str = "pruned";

/// Whether and how tuning trials are pruned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Prune {
    /// Every trial runs its full budget.
    #[default]
    None,
    /// The median stopping rule (see the module documentation).
    Median {
        /// Epochs never pruned at the start of a trial.
        warmup: u32,
        /// Completed reference trials needed before a trial can be pruned; also the wave size.
        min_trials: u32,
    },
}

/// Default `prune_warmup`.
pub const DEFAULT_WARMUP: u32 = 2;
/// Default `prune_min_trials`.
pub const DEFAULT_MIN_TRIALS: u32 = 3;

impl Prune {
    pub fn is_none(&self) -> bool {
        *self == Prune::None
    }

    /// The wave of the trial at `position` in its arm's trial order (0 without pruning).
    pub fn wave(&self, position: usize) -> usize {
        match self {
            Prune::None => 0,
            Prune::Median { min_trials, .. } => position / (*min_trials).max(1) as usize,
        }
    }
}

/// The rule applied to one trial: the reference curves and the settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MedianRule {
    pub metric: Metric,
    pub higher_is_better: bool,
    pub warmup: u32,
    pub min_trials: u32,
    /// The trial's budget in epochs (never pruned at the last one).
    pub epochs: usize,
    /// The reference trials' tuning-metric values, epoch 1 first (`None`: not recorded or not
    /// finite at that epoch).
    pub curves: Vec<Vec<Option<f64>>>,
}

impl MedianRule {
    /// The median of the reference values at `epoch` (1-based), when at least `min_trials`
    /// reference trials have one.
    pub fn median_at(&self, epoch: usize) -> Option<f64> {
        let mut v: Vec<f64> = self
            .curves
            .iter()
            .filter_map(|c| c.get(epoch.checked_sub(1)?).copied().flatten())
            .collect();
        if v.is_empty() || v.len() < self.min_trials as usize {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }

    /// Whether a trial whose tuning metric is `value` at `epoch` (1-based) stops: past the
    /// warm-up, before its last epoch, and strictly worse than the median (a tie goes on).
    pub fn should_stop(&self, epoch: usize, value: f64) -> bool {
        if epoch <= self.warmup as usize || epoch >= self.epochs || !value.is_finite() {
            return false;
        }
        match self.median_at(epoch) {
            Some(m) if self.higher_is_better => value < m,
            Some(m) => value > m,
            None => false,
        }
    }
}

/// A run's tuning-metric curve (epoch 1 first).
pub fn curve(record: &RunRecord, metric: Metric) -> Vec<Option<f64>> {
    record.result.as_ref().map_or_else(Vec::new, |r| {
        r.epochs_log
            .iter()
            .map(|e| e.get(metric.as_str()).filter(|x| x.is_finite()))
            .collect()
    })
}

/// Whether `record` is a completed trial that may serve as a reference: done, neither pruned
/// nor diverged.
pub fn is_reference(record: &RunRecord) -> bool {
    record.state == RunState::Done
        && record
            .result
            .as_ref()
            .is_some_and(|r| !r.diverged && r.stop != PRUNED)
}

/// Whether `record` is a pruned trial.
pub fn is_pruned(record: &RunRecord) -> bool {
    record.state == RunState::Done && record.result.as_ref().is_some_and(|r| r.stop == PRUNED)
}

/// An observer that applies a [`MedianRule`] after each epoch and asks the run to stop, looking
/// through to `inner` (the doctor, or nothing) for everything else.
pub struct Pruner<'a> {
    pub inner: &'a mut (dyn train::Observer + Send),
    pub rule: Option<MedianRule>,
    /// The epoch at which the rule stopped the run.
    pub pruned_at: Option<usize>,
}

impl train::Observer for Pruner<'_> {
    fn wants_per_example(&self, step: u64) -> bool {
        self.inner.wants_per_example(step)
    }
    fn wants_grad_norm(&self, step: u64) -> bool {
        self.inner.wants_grad_norm(step)
    }
    fn after_backward(&mut self, probe: &mut train::Probe<'_>) -> train::Result<()> {
        self.inner.after_backward(probe)
    }
    fn after_update(&mut self, probe: &mut train::Probe<'_>) -> train::Result<()> {
        self.inner.after_update(probe)
    }
    fn active(&self) -> bool {
        self.inner.active()
    }
    fn after_epoch(&mut self, record: &train::EpochRecord) -> train::Result<()> {
        self.inner.after_epoch(record)?;
        if let (Some(rule), None) = (&self.rule, self.pruned_at) {
            if let Some(x) = record.get(rule.metric.as_str()) {
                if rule.should_stop(record.epoch, x) {
                    self.pruned_at = Some(record.epoch);
                }
            }
        }
        Ok(())
    }
    fn wants_stop(&self) -> bool {
        self.pruned_at.is_some() || self.inner.wants_stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(curves: Vec<Vec<Option<f64>>>) -> MedianRule {
        MedianRule {
            metric: Metric::ValAccuracy,
            higher_is_better: true,
            warmup: 2,
            min_trials: 3,
            epochs: 10,
            curves,
        }
    }

    #[test]
    fn the_median_rule_on_hand_made_curves() {
        let c = |v: &[f64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        let r = rule(vec![
            c(&[0.1, 0.2, 0.30, 0.40]),
            c(&[0.1, 0.3, 0.50, 0.60]),
            c(&[0.2, 0.4, 0.70, 0.80]),
        ]);
        // Epoch 3: values 0.3, 0.5, 0.7 → median 0.5.
        assert_eq!(r.median_at(3), Some(0.5));
        assert!(r.should_stop(3, 0.49));
        assert!(!r.should_stop(3, 0.5), "a tie goes on");
        assert!(!r.should_stop(3, 0.51));
        // Warm-up: epochs 1 and 2 never stop, however bad.
        assert!(!r.should_stop(2, 0.0));
        // Epoch 5: no reference has a value → no decision.
        assert_eq!(r.median_at(5), None);
        assert!(!r.should_stop(5, 0.0));
        // The last budgeted epoch never stops (nothing to save).
        let mut long = r.clone();
        long.curves.iter_mut().for_each(|c| c.resize(10, Some(0.9)));
        assert!(long.should_stop(9, 0.1));
        assert!(!long.should_stop(10, 0.1));
        // Lower is better: stop when above the median.
        let mut loss = r.clone();
        loss.higher_is_better = false;
        assert!(loss.should_stop(3, 0.51));
        assert!(!loss.should_stop(3, 0.49));
        // Even count: the mean of the middle two (0.4, 0.6, 0.8, 0.9 → 0.7), and too few values.
        let mut four = r.clone();
        four.curves.push(c(&[0.0, 0.0, 0.9, 0.9]));
        assert!((four.median_at(4).unwrap() - 0.7).abs() < 1e-12);
        let two = rule(vec![
            c(&[0.5, 0.5, 0.5]),
            c(&[0.5, 0.5, 0.5]),
            vec![None; 3],
        ]);
        assert_eq!(
            two.median_at(3),
            None,
            "only two values at epoch 3, three needed"
        );
    }
}
