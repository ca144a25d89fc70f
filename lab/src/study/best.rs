//! Which tuning trial is best: one rule for the runner (the setting it re-runs at every seed)
//! and the analysis (the setting it reports as chosen), so both always name the same trial.
//!
//! Trials with a score (the tuning metric's last-epoch value) come first, best in the metric's
//! direction; then finished trials without the metric, then pruned ones (stopped early by
//! the median rule, [`super::prune`]: their partial score is not comparable), then diverged
//! ones, failed ones last.
//! Ties go to the lower trial index.

use std::cmp::Ordering;

use train::Metric;

use crate::{RunRecord, RunState};

/// How a finished tuning trial ended, as the ranking sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// The tuning metric's last-epoch value.
    Scored(f64),
    /// Finished without a finite value of the tuning metric.
    Unscored,
    /// Stopped early by the pruning rule.
    Pruned,
    /// The loss became non-finite.
    Diverged,
    /// The run crashed.
    Failed,
}

impl Outcome {
    /// How the trial run `record` ended for `metric`; `None` while it is pending or running.
    pub fn of(record: &RunRecord, metric: Metric) -> Option<Outcome> {
        match record.state {
            RunState::Pending | RunState::Running => None,
            RunState::Failed => Some(Outcome::Failed),
            RunState::Done => Some(match &record.result {
                Some(r) if r.diverged => Outcome::Diverged,
                Some(r) if r.stop == super::prune::PRUNED => Outcome::Pruned,
                Some(r) => r
                    .last()
                    .and_then(|e| e.get(metric.as_str()))
                    .filter(|x| x.is_finite())
                    .map_or(Outcome::Unscored, Outcome::Scored),
                None => Outcome::Unscored,
            }),
        }
    }

    /// The score, when there is one.
    pub fn score(self) -> Option<f64> {
        match self {
            Outcome::Scored(x) => Some(x),
            _ => None,
        }
    }

    /// The rank of the outcome before scores are compared.
    fn class(self) -> u8 {
        match self {
            Outcome::Scored(_) => 0,
            Outcome::Unscored => 1,
            Outcome::Pruned => 2,
            Outcome::Diverged => 3,
            Outcome::Failed => 4,
        }
    }
}

/// The position in `trials` — (trial index, outcome) pairs — of the best trial (see the module
/// documentation); `None` when there is none.
pub fn best_trial(trials: &[(u32, Outcome)], higher_is_better: bool) -> Option<usize> {
    let order = |&(ta, a): &(u32, Outcome), &(tb, b): &(u32, Outcome)| {
        a.class()
            .cmp(&b.class())
            .then_with(|| match (a, b) {
                (Outcome::Scored(x), Outcome::Scored(y)) if higher_is_better => y.total_cmp(&x),
                (Outcome::Scored(x), Outcome::Scored(y)) => x.total_cmp(&y),
                _ => Ordering::Equal,
            })
            .then(ta.cmp(&tb))
    };
    (0..trials.len()).min_by(|&i, &j| order(&trials[i], &trials[j]))
}
