//! One optimizer on one problem: its tuning trials, the chosen setting and its seed runs, their
//! final metrics, speed to the target, divergence, curves and doctor findings.

use std::collections::BTreeMap;

use train::Metric;

use super::model::{Band, Group, SeedRun, Stat, Trial};
use super::stats::{ratio, stat, tuneability};
use crate::study::{Outcome, Problem};
use crate::{Phase, RunRecord, RunState, Study};

/// The last epoch's value of `metric` of a done, non-diverged run.
fn final_value(r: &RunRecord, metric: Metric) -> Option<f64> {
    Outcome::of(r, metric).and_then(Outcome::score)
}

/// The (step, time_s) of the first epoch whose `metric` reaches `target` (≥ when higher is
/// better, else ≤).
pub fn first_reach(
    epochs: &[train::EpochRecord],
    metric: Metric,
    target: f64,
) -> Option<(u64, f64)> {
    let higher = metric.higher_is_better();
    epochs
        .iter()
        .find(|e| {
            e.get(metric.as_str())
                .is_some_and(|v| v.is_finite() && if higher { v >= target } else { v <= target })
        })
        .map(|e| (e.step, e.time_s))
}

/// A band over seeds of `metric` per epoch (epochs where no seed has a finite value are skipped).
pub(super) fn band(runs: &[&RunRecord], metric: Metric) -> Band {
    let mut per_epoch: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in runs {
        if let Some(res) = &r.result {
            for e in &res.epochs_log {
                if let Some(v) = e.get(metric.as_str()).filter(|v| v.is_finite()) {
                    per_epoch.entry(e.epoch).or_default().push(v);
                }
            }
        }
    }
    let mut b = Band::default();
    for (epoch, vals) in per_epoch {
        if let Some(s) = stat(&vals) {
            b.x.push(epoch as f64);
            b.mean.push(s.mean);
            b.std.push(s.std);
            b.min.push(s.min);
            b.max.push(s.max);
        }
    }
    b
}

pub(super) fn build_group(
    study: &Study,
    problem: &Problem,
    label: &str,
    recs: &[&RunRecord],
) -> Group {
    let tuning_higher = study.tuning.higher_is_better;
    let tmetric = study.tuning.metric;

    // Tuning trials (finished ones), in trial order.
    let mut tune: Vec<&RunRecord> = recs
        .iter()
        .copied()
        .filter(|r| {
            r.spec.phase == Phase::Tune && matches!(r.state, RunState::Done | RunState::Failed)
        })
        .collect();
    tune.sort_by_key(|r| (r.spec.trial, r.spec.seed));
    let trials: Vec<Trial> = tune
        .iter()
        .filter_map(|r| Some((r, Outcome::of(r, tmetric)?)))
        .map(|(r, outcome)| Trial {
            trial: r.spec.trial,
            params: r.spec.params.clone(),
            lr: r.spec.params.get("lr").and_then(|v| v.as_f64()),
            score: outcome.score(),
            diverged: outcome == Outcome::Diverged,
            failed: outcome == Outcome::Failed,
            pruned: outcome == Outcome::Pruned,
        })
        .collect();

    // The chosen setting.
    let (chosen_params, chosen_trial) = if let Some(best) = best_trial(&trials, tuning_higher) {
        (best.params.clone(), Some(best.trial))
    } else {
        let mut defaults: Vec<&RunRecord> = recs
            .iter()
            .copied()
            .filter(|r| r.spec.phase == Phase::Defaults)
            .collect();
        if defaults.is_empty() {
            defaults = recs
                .iter()
                .copied()
                .filter(|r| r.state == RunState::Done)
                .collect();
        }
        defaults.sort_by_key(|r| r.spec.seed);
        match defaults.first() {
            Some(r) => (r.spec.params.clone(), None),
            None => (BTreeMap::new(), None),
        }
    };
    let mut seeds: Vec<&RunRecord> = recs
        .iter()
        .copied()
        .filter(|r| r.state == RunState::Done && r.result.is_some())
        .filter(|r| r.spec.params == chosen_params)
        .collect();
    // Unbiased finals: a tuned setting's run at the tuning seed is the trial that won the
    // selection, so it is left out when runs at other seeds exist; otherwise (a single-seed
    // study, or finals not run yet) it is all there is, and the group says so.
    let mut selection_biased = false;
    if chosen_trial.is_some() {
        let finals = study.final_seeds();
        let unbiased: Vec<&RunRecord> = seeds
            .iter()
            .copied()
            .filter(|r| finals.contains(&r.spec.seed))
            .collect();
        if unbiased.is_empty() {
            selection_biased = !seeds.is_empty();
        } else {
            seeds = unbiased;
        }
    }
    seeds.sort_by(|a, b| {
        a.spec
            .seed
            .cmp(&b.spec.seed)
            .then(a.spec.key.cmp(&b.spec.key))
    });

    let seed_runs: Vec<SeedRun> = seeds
        .iter()
        .map(|r| {
            let res = r.result.as_ref().expect("filtered on result");
            let reach = problem
                .target
                .and_then(|t| first_reach(&res.epochs_log, problem.target_metric, t));
            SeedRun {
                key: r.spec.key.clone(),
                seed: r.spec.seed,
                diverged: res.diverged,
                test_accuracy: final_value(r, Metric::TestAccuracy),
                test_loss: final_value(r, Metric::TestLoss),
                val_accuracy: final_value(r, Metric::ValAccuracy),
                train_loss: final_value(r, Metric::TrainLoss),
                steps_to_target: reach.map(|x| x.0),
                seconds_to_target: reach.map(|x| x.1),
                wall_s: res.wall_s,
            }
        })
        .collect();
    let col = |f: fn(&SeedRun) -> Option<f64>| -> Vec<f64> {
        seed_runs.iter().filter_map(f).collect::<Vec<f64>>()
    };
    let gaps = col(|s| Some(s.test_loss? - s.train_loss?));

    let mut findings = BTreeMap::new();
    for r in &seeds {
        let kinds: std::collections::BTreeSet<&str> = r
            .result
            .iter()
            .flat_map(|x| x.findings.iter().map(|f| f.kind.as_str()))
            .collect();
        for k in kinds {
            *findings.entry(k.to_string()).or_insert(0) += 1;
        }
    }

    let finished: Vec<&RunRecord> = recs
        .iter()
        .copied()
        .filter(|r| matches!(r.state, RunState::Done | RunState::Failed))
        .collect();
    let failed = finished
        .iter()
        .filter(|r| r.state == RunState::Failed)
        .count();
    let diverged = finished
        .iter()
        .filter(|r| Outcome::of(r, tmetric) == Some(Outcome::Diverged))
        .count();
    let walls: Vec<f64> = finished
        .iter()
        .filter(|r| r.state == RunState::Done)
        .filter_map(|r| r.result.as_ref().map(|x| x.wall_s))
        .collect();

    let scores: Vec<Option<f64>> = trials.iter().map(|t| t.score).collect();
    Group {
        problem: problem.name.clone(),
        optimizer: label.to_string(),
        best_params: chosen_params,
        seeds: seed_runs.len(),
        test_accuracy: stat(&col(|s| s.test_accuracy)),
        test_loss: stat(&col(|s| s.test_loss)),
        val_accuracy: stat(&col(|s| s.val_accuracy)),
        train_loss: stat(&col(|s| s.train_loss)),
        generalisation_gap: stat(&gaps),
        steps_to_target: stat(&col(|s| s.steps_to_target.map(|x| x as f64))),
        seconds_to_target: stat(&col(|s| s.seconds_to_target)),
        reached_target: seed_runs
            .iter()
            .filter(|s| s.steps_to_target.is_some())
            .count(),
        runs: finished.len(),
        diverged,
        failed,
        divergence_rate: ratio(diverged, finished.len() - failed),
        tuneability: tuneability(&scores, tuning_higher),
        trials,
        findings,
        test_accuracy_curve: band(&seeds, Metric::TestAccuracy),
        val_loss_curve: band(&seeds, Metric::ValLoss),
        train_loss_curve: band(&seeds, Metric::TrainLoss),
        wall_s: stat(&walls).unwrap_or_default(),
        chosen_trial,
        seeds_diverged: seed_runs.iter().filter(|s| s.diverged).count(),
        selection_biased,
        seed_runs,
    }
}

/// The best trial by the rule the runner re-runs ([`crate::study::best_trial`]): scores first
/// (best by direction), then finished runs without the metric, then diverged, then failed ones;
/// ties go to the lower trial index.
pub fn best_trial(trials: &[Trial], higher_is_better: bool) -> Option<&Trial> {
    let outcomes: Vec<(u32, Outcome)> = trials.iter().map(|t| (t.trial, t.outcome())).collect();
    crate::study::best_trial(&outcomes, higher_is_better).map(|i| &trials[i])
}

/// The final stat of `metric` of a group (`None` for the metrics a group does not keep).
pub fn final_stat(g: &Group, metric: Metric) -> Option<&Stat> {
    match metric {
        Metric::TestAccuracy => g.test_accuracy.as_ref(),
        Metric::TestLoss => g.test_loss.as_ref(),
        Metric::ValAccuracy => g.val_accuracy.as_ref(),
        Metric::TrainLoss => g.train_loss.as_ref(),
        Metric::TrainAccuracy | Metric::ValLoss => None,
    }
}

/// The per-seed final values of `metric` of a group.
pub fn seed_values(g: &Group, metric: Metric) -> Vec<f64> {
    g.seed_runs
        .iter()
        .filter_map(|s| match metric {
            Metric::TestAccuracy => s.test_accuracy,
            Metric::TestLoss => s.test_loss,
            Metric::ValAccuracy => s.val_accuracy,
            Metric::TrainLoss => s.train_loss,
            Metric::TrainAccuracy | Metric::ValLoss => None,
        })
        .collect()
}
