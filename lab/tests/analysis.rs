//! The analysis on hand-built runs whose right numbers are known.

use std::collections::BTreeMap;

use lab::analysis::{
    analyze, average_ranks, best_trial, confidence, first_reach, performance_profile,
    profile_scores, stat, tuneability, welch_t, Analysis, Trial,
};
use lab::study::{OptimizerSpace, Problem, Protocol, Tuning};
use lab::{FindingRow, Phase, RunRecord, RunResult, RunSpec, RunState, Study};
use train::{EpochRecord, Metric};

const EPS: f64 = 1e-9;

/// (values, mean, sample std, n, min, max)
type StatCase<'a> = (&'a [f64], f64, f64, usize, f64, f64);
/// (curve, metric, target, expected (step, time))
type ReachCase<'a> = (&'a [f64], Metric, f64, Option<(u64, f64)>);
/// (winner, runner-up, higher_is_better, t, label)
type ConfidenceCase<'a> = (&'a [f64], &'a [f64], bool, Option<f64>, &'a str);

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

fn study(problems: &[(&str, &str, Option<f64>)], opts: &[&str], protocol: Protocol) -> Study {
    Study {
        name: "test".into(),
        source: "<test>".into(),
        text: String::new(),
        seeds: vec![0, 1, 2],
        problems: problems
            .iter()
            .map(|&(name, metric, target)| Problem {
                name: name.into(),
                config: toml::Table::new(),
                target_metric: Metric::from_name(metric).unwrap(),
                target,
            })
            .collect(),
        optimizers: opts
            .iter()
            .map(|&o| OptimizerSpace {
                label: o.into(),
                name: o.into(),
                space: Vec::new(),
                schedule: None,
                arm: None,
            })
            .collect(),
        tuning: Tuning {
            protocol,
            metric: Metric::ValAccuracy,
            higher_is_better: true,
            sample_seed: 0,
            search: Default::default(),
            prune: Default::default(),
        },
        factors: Vec::new(),
        design: Default::default(),
        lr_found: Default::default(),
    }
}

fn ep(epoch: usize, step: u64, time_s: f64, m: &[(&str, f64)]) -> EpochRecord {
    let get = |k: &str| m.iter().find(|(n, _)| *n == k).map(|x| x.1);
    EpochRecord {
        epoch,
        step,
        train_loss: get("train_loss"),
        train_accuracy: get("train_accuracy"),
        val_loss: get("val_loss"),
        val_accuracy: get("val_accuracy"),
        test_loss: get("test_loss"),
        test_accuracy: get("test_accuracy"),
        lr: 0.1,
        time_s,
        examples_per_s: 1000.0,
    }
}

fn params(lr: f64) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([("lr".to_string(), serde_json::json!(lr))])
}

struct Run<'a> {
    problem: &'a str,
    opt: &'a str,
    phase: Phase,
    trial: u32,
    seed: u64,
    lr: f64,
}

impl Run<'_> {
    fn spec(&self) -> RunSpec {
        RunSpec {
            key: format!("{}/{}/{}/{}", self.problem, self.opt, self.lr, self.seed),
            problem: self.problem.into(),
            optimizer: self.opt.into(),
            phase: self.phase,
            trial: self.trial,
            seed: self.seed,
            params: params(self.lr),
            config: String::new(),
        }
    }

    fn done(&self, epochs: Vec<EpochRecord>, diverged: bool, findings: &[&str]) -> RunRecord {
        RunRecord {
            spec: self.spec(),
            state: RunState::Done,
            worker: Some("test".into()),
            error: None,
            result: Some(RunResult {
                stop: if diverged { "non_finite" } else { "completed" }.into(),
                diverged,
                steps: epochs.last().map_or(0, |e| e.step),
                epochs: epochs.len(),
                wall_s: 2.0,
                step_losses: Vec::new(),
                epochs_log: epochs,
                findings: findings
                    .iter()
                    .map(|k| FindingRow {
                        kind: k.to_string(),
                        first_step: 1,
                        last_step: 2,
                        confidence: 0.9,
                        summary: String::new(),
                    })
                    .collect(),
            }),
        }
    }

    fn failed(&self) -> RunRecord {
        RunRecord {
            spec: self.spec(),
            state: RunState::Failed,
            worker: Some("test".into()),
            error: Some("boom".into()),
            result: None,
        }
    }
}

fn tune<'a>(problem: &'a str, opt: &'a str, trial: u32, lr: f64) -> Run<'a> {
    Run {
        problem,
        opt,
        phase: Phase::Tune,
        trial,
        seed: 0,
        lr,
    }
}

fn fin<'a>(problem: &'a str, opt: &'a str, seed: u64, lr: f64) -> Run<'a> {
    Run {
        problem,
        opt,
        phase: Phase::Final,
        trial: 0,
        seed,
        lr,
    }
}

fn defaults<'a>(problem: &'a str, opt: &'a str, seed: u64) -> Run<'a> {
    Run {
        problem,
        opt,
        phase: Phase::Defaults,
        trial: 0,
        seed,
        lr: 0.01,
    }
}

/// One epoch with the final numbers.
fn last(val_acc: f64, test_acc: f64, test_loss: f64, train_loss: f64) -> Vec<EpochRecord> {
    vec![ep(
        1,
        100,
        1.0,
        &[
            ("val_accuracy", val_acc),
            ("test_accuracy", test_acc),
            ("test_loss", test_loss),
            ("train_loss", train_loss),
            ("val_loss", test_loss),
        ],
    )]
}

fn diverged_epochs() -> Vec<EpochRecord> {
    vec![ep(
        1,
        50,
        0.5,
        &[("train_loss", 2.3), ("val_accuracy", 0.1)],
    )]
}

fn group<'a>(a: &'a Analysis, problem: &str, opt: &str) -> &'a lab::analysis::Group {
    a.groups
        .iter()
        .find(|g| g.problem == problem && g.optimizer == opt)
        .expect("group")
}

fn character<'a>(a: &'a Analysis, opt: &str) -> &'a lab::analysis::Character {
    a.characters
        .iter()
        .find(|c| c.optimizer == opt)
        .expect("character")
}

#[test]
fn stat_mean_and_sample_std() {
    // (values, mean, sample std, n, min, max)
    let cases: &[StatCase] = &[
        (
            &[1.0, 2.0, 3.0, 4.0],
            2.5,
            (5.0f64 / 3.0).sqrt(),
            4,
            1.0,
            4.0,
        ),
        (&[5.0], 5.0, 0.0, 1, 5.0, 5.0),
        (&[2.0, 2.0, 2.0], 2.0, 0.0, 3, 2.0, 2.0),
        (&[0.70, 0.72, 0.74], 0.72, 0.02, 3, 0.70, 0.74),
        // Non-finite values are left out.
        (
            &[1.0, f64::NAN, 3.0, f64::INFINITY],
            2.0,
            2f64.sqrt(),
            2,
            1.0,
            3.0,
        ),
    ];
    for &(v, mean, std, n, min, max) in cases {
        let s = stat(v).unwrap();
        assert!(close(s.mean, mean, EPS), "{v:?}: mean {}", s.mean);
        assert!(close(s.std, std, EPS), "{v:?}: std {}", s.std);
        assert_eq!((s.n, s.min, s.max), (n, min, max), "{v:?}");
    }
    assert!(stat(&[]).is_none());
    assert!(stat(&[f64::NAN]).is_none());
}

/// A trial; `diverged` None = failed.
fn trial(i: u32, score: Option<f64>, diverged: Option<bool>) -> Trial {
    Trial {
        trial: i,
        params: params(i as f64),
        lr: Some(i as f64),
        score,
        diverged: diverged == Some(true),
        failed: diverged.is_none(),
        pruned: false,
    }
}

#[test]
fn a_pruned_trial_ranks_below_finished_ones_and_above_diverged_ones() {
    use lab::study::{best_trial as rank, Outcome};
    // Pruned trial 0 had the best partial score; finished trial 1 still wins.
    let mut pruned = trial(0, Some(0.99), Some(false));
    pruned.pruned = true;
    assert_eq!(pruned.outcome(), Outcome::Pruned);
    let ts = [pruned.clone(), trial(1, Some(0.5), Some(false))];
    assert_eq!(best_trial(&ts, true).unwrap().trial, 1);
    let o = [
        (0, Outcome::Diverged),
        (1, Outcome::Pruned),
        (2, Outcome::Failed),
    ];
    assert_eq!(rank(&o, true), Some(1));
    assert_eq!(
        rank(&[(0, Outcome::Pruned), (1, Outcome::Unscored)], true),
        Some(1)
    );
}

#[test]
fn best_trial_ranks_diverged_and_failed_last() {
    // (trials, higher_is_better, expected trial)
    let cases: Vec<(Vec<Trial>, bool, u32)> = vec![
        (
            vec![
                trial(0, Some(0.5), Some(false)),
                trial(1, None, Some(true)),
                trial(2, Some(0.7), Some(false)),
                trial(3, Some(0.7), Some(false)),
                trial(4, None, None),
            ],
            true,
            2, // tie 0.7 → lower trial
        ),
        (
            vec![
                trial(0, Some(0.5), Some(false)),
                trial(1, None, Some(true)),
                trial(2, Some(0.3), Some(false)),
            ],
            false,
            2, // lower is better
        ),
        (
            vec![
                trial(0, None, None),
                trial(1, None, Some(true)),
                trial(2, None, Some(true)),
            ],
            true,
            1, // no score: diverged before failed, then the lower trial
        ),
        (
            vec![
                trial(0, None, Some(true)),
                trial(1, None, None),
                trial(2, None, Some(false)),
            ],
            true,
            2, // finished without the metric before diverged and failed
        ),
    ];
    for (trials, higher, want) in cases {
        assert_eq!(best_trial(&trials, higher).unwrap().trial, want);
    }
    assert!(best_trial(&[], true).is_none());
}

#[test]
fn chosen_setting_seeds_stats_divergence_and_findings() {
    let s = study(
        &[("p", "test_accuracy", Some(0.55))],
        &["adam"],
        Protocol::Budget { trials: 5 },
    );
    let runs = vec![
        tune("p", "adam", 0, 0.001).done(last(0.60, 0.58, 1.0, 0.9), false, &[]),
        tune("p", "adam", 1, 1.0).done(diverged_epochs(), true, &["diverged"]),
        // Best by val accuracy (0.80): the chosen setting, lr 0.01; its run is seed 0.
        tune("p", "adam", 2, 0.01).done(
            last(0.80, 0.70, 0.50, 0.30),
            false,
            &["overfitting", "converged"],
        ),
        tune("p", "adam", 3, 0.1).failed(),
        tune("p", "adam", 4, 0.003).done(last(0.75, 0.99, 0.1, 0.1), false, &[]),
        fin("p", "adam", 1, 0.01).done(last(0.79, 0.72, 0.40, 0.30), false, &["overfitting"]),
        fin("p", "adam", 2, 0.01).done(last(0.78, 0.74, 0.60, 0.45), false, &[]),
        // A pending run is not counted anywhere.
        RunRecord {
            state: RunState::Pending,
            result: None,
            ..fin("p", "adam", 3, 0.01).failed()
        },
    ];
    let a = analyze(&s, &runs);
    let g = group(&a, "p", "adam");
    assert_eq!(g.chosen_trial, Some(2));
    assert_eq!(g.best_params, params(0.01));
    // The finals are seeds 1 and 2: the trial at seed 0 won the selection and is left out.
    assert_eq!(g.seeds, 2);
    assert!(!g.selection_biased);
    assert_eq!(
        g.seed_runs.iter().map(|r| r.seed).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // 0.72, 0.74: mean 0.73, std √((0.01² + 0.01²)/1) = 0.01√2.
    let acc = g.test_accuracy.unwrap();
    assert!(close(acc.mean, 0.73, EPS) && close(acc.std, 0.01 * 2f64.sqrt(), EPS) && acc.n == 2);
    // 0.4, 0.6: mean 0.5, std 0.1√2.
    let loss = g.test_loss.unwrap();
    assert!(close(loss.mean, 0.5, EPS) && close(loss.std, 0.1 * 2f64.sqrt(), EPS));
    // Gaps 0.1, 0.15: mean 0.125, std 0.025√2.
    let gap = g.generalisation_gap.unwrap();
    assert!(close(gap.mean, 0.125, EPS) && close(gap.std, 0.025 * 2f64.sqrt(), EPS));
    assert!(close(g.train_loss.unwrap().mean, 0.375, EPS));
    assert!(close(g.val_accuracy.unwrap().mean, 0.785, EPS));
    // Divergence over all 7 finished runs: 1 diverged, 1 failed, rate 1 / 6 done.
    assert_eq!((g.runs, g.diverged, g.failed), (7, 1, 1));
    assert!(close(g.divergence_rate, 1.0 / 6.0, EPS));
    // Trials with lr and score.
    assert_eq!(g.trials.len(), 5);
    assert_eq!(g.trials[1].lr, Some(1.0));
    assert!(g.trials[1].diverged && g.trials[1].score.is_none());
    assert!(g.trials[3].score.is_none() && !g.trials[3].diverged);
    assert_eq!(g.trials[2].score, Some(0.80));
    // Findings count the chosen setting's final runs.
    assert_eq!(g.findings.get("overfitting"), Some(&1));
    assert_eq!(g.findings.get("converged"), None);
    assert_eq!(g.findings.get("diverged"), None);
    // Curves: one epoch, two seeds.
    assert_eq!(g.test_accuracy_curve.x, vec![1.0]);
    assert!(close(g.test_accuracy_curve.mean[0], 0.73, EPS));
    assert!(close(g.test_accuracy_curve.max[0], 0.74, EPS));
    assert_eq!(g.train_loss_curve.x.len(), 1);
    assert_eq!(a.runs, 8);
    assert_eq!(a.failed, 1);
    assert!(close(a.total_wall_s, 12.0, EPS));
    // Tuneability over the 5 trials (diverged/failed count as the worst score 0.60):
    // k = 1 is the mean, k = 5 the best.
    assert_eq!(g.tuneability.len(), 5);
    assert!(close(
        g.tuneability[0],
        (0.6 + 0.6 + 0.8 + 0.6 + 0.75) / 5.0,
        EPS
    ));
    assert!(close(g.tuneability[4], 0.8, EPS));
}

/// The winner's curse: the trial chosen for scoring best at the tuning seed is not averaged
/// into the final statistics, which come only from the seeds not used for selection.
#[test]
fn finals_leave_out_the_selected_trial() {
    let mut s = study(
        &[("p", "test_accuracy", None)],
        &["adam"],
        Protocol::Budget { trials: 2 },
    );
    let trials = vec![
        // Lucky at seed 0: chosen (val 0.90 > 0.80), test accuracy 0.95.
        tune("p", "adam", 0, 0.01).done(last(0.90, 0.95, 0.2, 0.1), false, &[]),
        tune("p", "adam", 1, 0.001).done(last(0.80, 0.80, 0.5, 0.4), false, &[]),
    ];
    let mut runs = trials.clone();
    runs.push(fin("p", "adam", 1, 0.01).done(last(0.85, 0.80, 0.5, 0.3), false, &[]));
    runs.push(fin("p", "adam", 2, 0.01).done(last(0.86, 0.82, 0.4, 0.3), false, &[]));
    let a = analyze(&s, &runs);
    let g = group(&a, "p", "adam");
    assert_eq!(g.chosen_trial, Some(0));
    // (0.80 + 0.82) / 2 = 0.81, not (0.95 + 0.80 + 0.82) / 3 = 0.8567 with the selected trial.
    let acc = g.test_accuracy.unwrap();
    assert_eq!(acc.n, 2);
    assert!(close(acc.mean, 0.81, EPS), "{acc:?}");
    assert!(!g.selection_biased);
    // The runner enqueues no final at the tuning seed.
    assert_eq!(s.final_seeds(), vec![1, 2]);

    // Finals not run yet: the selected trial is all there is, flagged.
    let a = analyze(&s, &trials);
    let g = group(&a, "p", "adam");
    assert!(g.selection_biased);
    assert!(close(g.test_accuracy.unwrap().mean, 0.95, EPS));

    // A single-seed study: no unbiased seed exists.
    s.seeds = vec![0];
    assert!(s.final_seeds().is_empty());
    let a = analyze(&s, &trials);
    let g = group(&a, "p", "adam");
    assert_eq!((g.seeds, g.selection_biased), (1, true));

    // The defaults protocol selects nothing: every seed counts.
    let d = study(
        &[("p", "test_accuracy", None)],
        &["adam"],
        Protocol::Defaults,
    );
    let runs = vec![
        defaults("p", "adam", 0).done(last(0.8, 0.7, 0.5, 0.4), false, &[]),
        defaults("p", "adam", 1).done(last(0.8, 0.9, 0.3, 0.2), false, &[]),
    ];
    let a = analyze(&d, &runs);
    let g = group(&a, "p", "adam");
    assert_eq!((g.seeds, g.selection_biased), (2, false));
}

#[test]
fn diverged_seeds_are_left_out_of_final_stats() {
    let s = study(
        &[("p", "test_accuracy", None)],
        &["sgd"],
        Protocol::Defaults,
    );
    let runs = vec![
        defaults("p", "sgd", 0).done(last(0.8, 0.7, 0.5, 0.4), false, &[]),
        defaults("p", "sgd", 1).done(diverged_epochs(), true, &[]),
        defaults("p", "sgd", 2).done(last(0.8, 0.9, 0.3, 0.2), false, &[]),
    ];
    let a = analyze(&s, &runs);
    let g = group(&a, "p", "sgd");
    assert_eq!(g.chosen_trial, None);
    assert_eq!((g.seeds, g.seeds_diverged), (3, 1));
    let acc = g.test_accuracy.unwrap();
    assert_eq!(acc.n, 2);
    assert!(close(acc.mean, 0.8, EPS));
    assert_eq!((g.runs, g.diverged), (3, 1));
    assert!(close(g.divergence_rate, 1.0 / 3.0, EPS));
    // No target: nothing reached, no steps.
    assert!(g.steps_to_target.is_none() && g.reached_target == 0);
    // The diverged seed's logged epoch still shows in the train-loss curve band.
    assert_eq!(g.train_loss_curve.x, vec![1.0]);
    assert!(close(g.train_loss_curve.max[0], 2.3, EPS));
}

#[test]
fn steps_and_seconds_to_target() {
    let acc = |v: &[f64]| -> Vec<EpochRecord> {
        v.iter()
            .enumerate()
            .map(|(i, &x)| {
                ep(
                    i + 1,
                    100 * (i as u64 + 1),
                    1.5 * (i as f64 + 1.0),
                    &[("test_accuracy", x), ("val_loss", 1.0 - x)],
                )
            })
            .collect()
    };
    // (curve, metric, target, expected (step, time))
    let cases: &[ReachCase] = &[
        (
            &[0.3, 0.6, 0.8],
            Metric::TestAccuracy,
            0.55,
            Some((200, 3.0)),
        ),
        (
            &[0.3, 0.55, 0.8],
            Metric::TestAccuracy,
            0.55,
            Some((200, 3.0)),
        ), // ≥
        (&[0.3, 0.5, 0.54], Metric::TestAccuracy, 0.55, None),
        (
            &[0.9, 0.95, 0.99],
            Metric::TestAccuracy,
            0.5,
            Some((100, 1.5)),
        ),
        // Losses are reached from above (≤): val_loss 0.7, 0.4, 0.2.
        (&[0.3, 0.6, 0.8], Metric::ValLoss, 0.4, Some((200, 3.0))),
        (&[0.3, 0.6, 0.8], Metric::ValLoss, 0.1, None),
    ];
    for &(curve, metric, target, want) in cases {
        assert_eq!(
            first_reach(&acc(curve), metric, target),
            want,
            "{curve:?} {metric}"
        );
    }

    // Through analyze: two of three seeds reach 0.55.
    let s = study(
        &[("p", "test_accuracy", Some(0.55))],
        &["sgd"],
        Protocol::Defaults,
    );
    let runs = vec![
        defaults("p", "sgd", 0).done(acc(&[0.3, 0.6, 0.8]), false, &[]),
        defaults("p", "sgd", 1).done(acc(&[0.6, 0.7, 0.8]), false, &[]),
        defaults("p", "sgd", 2).done(acc(&[0.3, 0.4, 0.5]), false, &[]),
    ];
    let a = analyze(&s, &runs);
    let g = group(&a, "p", "sgd");
    assert_eq!(g.reached_target, 2);
    let st = g.steps_to_target.unwrap();
    assert_eq!(st.n, 2);
    assert!(close(st.mean, 150.0, EPS));
    assert!(close(g.seconds_to_target.unwrap().mean, 2.25, EPS));
    assert_eq!(g.seed_runs[2].steps_to_target, None);
    // Not every seed reached it: no finite cost in the steps profile.
    let p = &a.profiles[0];
    assert_eq!(p.measure, "steps to target");
    assert!(p.problems.is_empty());
    // Curves align on epochs.
    assert_eq!(g.test_accuracy_curve.x, vec![1.0, 2.0, 3.0]);
    assert!(close(
        g.test_accuracy_curve.mean[1],
        (0.6 + 0.7 + 0.4) / 3.0,
        EPS
    ));
    assert!(close(g.test_accuracy_curve.min[2], 0.5, EPS));
}

/// E[best of a random k-subset] by enumerating every subset.
fn brute_tuneability(scores: &[Option<f64>], higher: bool) -> Vec<f64> {
    let finite: Vec<f64> = scores.iter().flatten().copied().collect();
    let worst = if higher {
        finite.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    };
    let v: Vec<f64> = scores.iter().map(|s| s.unwrap_or(worst)).collect();
    let n = v.len();
    (1..=n)
        .map(|k| {
            let (mut sum, mut count) = (0.0, 0usize);
            for mask in 0u32..(1 << n) {
                if mask.count_ones() as usize != k {
                    continue;
                }
                let picked = (0..n).filter(|i| mask & (1 << i) != 0).map(|i| v[i]);
                let best = if higher {
                    picked.fold(f64::NEG_INFINITY, f64::max)
                } else {
                    picked.fold(f64::INFINITY, f64::min)
                };
                sum += best;
                count += 1;
            }
            sum / count as f64
        })
        .collect()
}

#[test]
fn tuneability_matches_enumeration_of_all_subsets() {
    let cases: Vec<Vec<Option<f64>>> = vec![
        vec![Some(0.5)],
        vec![Some(0.5), Some(0.7), Some(0.6)],
        vec![Some(0.1), None, Some(0.9), Some(0.4), Some(0.4), None],
        vec![
            Some(0.62),
            Some(0.71),
            Some(0.55),
            None,
            Some(0.80),
            Some(0.33),
            Some(0.71),
            Some(0.12),
            Some(0.9),
            Some(0.5),
        ],
    ];
    for scores in &cases {
        for higher in [true, false] {
            let got = tuneability(scores, higher);
            let want = brute_tuneability(scores, higher);
            assert_eq!(got.len(), want.len());
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    close(*g, *w, 1e-12),
                    "{scores:?} {higher} k={}: {g} vs {w}",
                    k + 1
                );
            }
            // Monotone in the metric's direction and ending at the best.
            for w in got.windows(2) {
                assert!(if higher {
                    w[1] >= w[0] - 1e-12
                } else {
                    w[1] <= w[0] + 1e-12
                });
            }
        }
    }
    assert!(tuneability(&[None, None], true).is_empty());
    assert!(tuneability(&[], true).is_empty());
}

/// Regression: the expectation summed each binomial coefficient's logarithm afresh, O(K³) in
/// the trial count, so `gradlab report` on a store with 9,025 finished trials of one optimizer
/// ran for many minutes (K = 5,000 took about 5 minutes). Now O(K²); the ends are exact:
/// one trial's expectation is the mean, all K trials' the best.
#[test]
fn tuneability_of_thousands_of_trials_is_quadratic_and_exact_at_the_ends() {
    let k = 5000;
    let scores: Vec<Option<f64>> = (0..k)
        .map(|i| Some(((i as u64 * 2654435761) % 10007) as f64 / 10007.0))
        .collect();
    let t = tuneability(&scores, true);
    assert_eq!(t.len(), k);
    let mean = scores.iter().flatten().sum::<f64>() / k as f64;
    let best = scores.iter().flatten().copied().fold(f64::MIN, f64::max);
    assert!(close(t[0], mean, 1e-9), "{} vs {mean}", t[0]);
    assert!(close(t[k - 1], best, 1e-9), "{} vs {best}", t[k - 1]);
    assert!(t.windows(2).all(|w| w[1] >= w[0] - 1e-9));
}

#[test]
fn performance_profile_worked_by_hand() {
    // costs[problem][optimizer]: A, B, C.
    //   p1: 100, 200, ∞   -> ratios 1, 2, -
    //   p2: 300, 150, 600 -> ratios 2, 1, 4
    //   p3:  50,  50, 100 -> ratios 1, 1, 2
    let inf = f64::INFINITY;
    let problems = vec!["p1".to_string(), "p2".into(), "p3".into()];
    let opts = vec!["A".to_string(), "B".into(), "C".into()];
    let costs = vec![
        vec![100.0, 200.0, inf],
        vec![300.0, 150.0, 600.0],
        vec![50.0, 50.0, 100.0],
    ];
    let p = performance_profile("steps to target", &problems, &opts, &costs);
    assert_eq!(p.problems, problems);
    assert_eq!(p.ratios["A"], vec![Some(1.0), Some(2.0), Some(1.0)]);
    assert_eq!(p.ratios["B"], vec![Some(2.0), Some(1.0), Some(1.0)]);
    assert_eq!(p.ratios["C"], vec![None, Some(4.0), Some(2.0)]);
    // tau: 50 log-spaced points from 1 to max(4, 1.1 × 4) = 4.4.
    assert_eq!(p.tau.len(), 50);
    assert_eq!(p.tau[0], 1.0);
    assert!(close(p.tau[49], 4.4, EPS));
    for w in p.tau.windows(2) {
        assert!(close(w[1] / w[0], 4.4f64.powf(1.0 / 49.0), 1e-9));
    }
    // By hand: ρ_A = ρ_B = 2/3 below τ = 2, then 1; ρ_C = 0, 1/3 from 2, 2/3 from 4.
    for (i, &tau) in p.tau.iter().enumerate() {
        let ab = if tau < 2.0 { 2.0 / 3.0 } else { 1.0 };
        let c = if tau < 2.0 {
            0.0
        } else if tau < 4.0 {
            1.0 / 3.0
        } else {
            2.0 / 3.0
        };
        assert!(close(p.rho["A"][i], ab, EPS), "A at {tau}");
        assert!(close(p.rho["B"][i], ab, EPS), "B at {tau}");
        assert!(close(p.rho["C"][i], c, EPS), "C at {tau}");
    }
    // Area on the log axis, exactly: (1/3) Σ (L − ln r)/L, L = ln 4.4.
    let l = 4.4f64.ln();
    let scores = profile_scores(&p);
    let a = (1.0 + (l - 2f64.ln()) / l + 1.0) / 3.0;
    let c = ((l - 4f64.ln()) / l + (l - 2f64.ln()) / l) / 3.0;
    assert!(close(scores["A"], a, EPS) && close(scores["B"], a, EPS));
    assert!(close(scores["C"], c, EPS));

    // A problem no optimizer finished is left out of |P|.
    let costs2 = vec![vec![inf, inf, inf], vec![10.0, 20.0, 10.0]];
    let p2 = performance_profile("x", &problems[..2], &opts, &costs2);
    assert_eq!(p2.problems, vec!["p2".to_string()]);
    assert_eq!(p2.rho["A"][0], 1.0);
    assert_eq!(p2.rho["B"][0], 0.0);
    assert_eq!(*p2.rho["B"].last().unwrap(), 1.0);
    assert!(close(*p2.tau.last().unwrap(), 4.0, EPS));
}

#[test]
fn profile_and_ranking_through_analyze() {
    // The same worked example, from runs: each defaults run reaches 0.5 at the cost's step.
    let s = study(
        &[
            ("p1", "test_accuracy", Some(0.5)),
            ("p2", "test_accuracy", Some(0.5)),
            ("p3", "test_accuracy", Some(0.5)),
        ],
        &["A", "B", "C"],
        Protocol::Defaults,
    );
    let reach = |step: Option<u64>, final_acc: f64| -> Vec<EpochRecord> {
        let first = ep(1, 10, 0.1, &[("test_accuracy", 0.1), ("test_loss", 2.0)]);
        match step {
            Some(st) => vec![
                first,
                ep(
                    2,
                    st,
                    st as f64 / 100.0,
                    &[("test_accuracy", final_acc), ("test_loss", 1.0 - final_acc)],
                ),
            ],
            None => vec![
                first,
                ep(2, 1000, 10.0, &[("test_accuracy", 0.4), ("test_loss", 0.6)]),
            ],
        }
    };
    let table: &[(&str, &str, Option<u64>, f64)] = &[
        ("p1", "A", Some(100), 0.9),
        ("p1", "B", Some(200), 0.8),
        ("p1", "C", None, 0.4),
        ("p2", "A", Some(300), 0.7),
        ("p2", "B", Some(150), 0.7),
        ("p2", "C", Some(600), 0.9),
        ("p3", "A", Some(50), 0.6),
        ("p3", "B", Some(50), 0.8),
        ("p3", "C", Some(100), 0.7),
    ];
    let runs: Vec<RunRecord> = table
        .iter()
        .map(|&(p, o, st, acc)| defaults(p, o, 0).done(reach(st, acc), false, &[]))
        .collect();
    let a = analyze(&s, &runs);
    assert_eq!(a.metric, "test_accuracy");
    assert!(a.higher_is_better);
    let p = &a.profiles[0];
    assert_eq!(p.ratios["C"], vec![None, Some(4.0), Some(2.0)]);
    assert_eq!(p.ratios["A"], vec![Some(1.0), Some(2.0), Some(1.0)]);
    assert_eq!(a.profiles[1].measure, "final test loss");
    // Final test loss: p1: 0.1, 0.2, 0.6 -> C ratio 6.
    assert!(close(a.profiles[1].ratios["C"][0].unwrap(), 6.0, 1e-9));

    // Ranks by final accuracy: p1 A1 B2 C3; p2 C1, A=B 2.5; p3 B1 C2 A3.
    // Mean ranks: A (1 + 2.5 + 3)/3 = 6.5/3, B (2 + 2.5 + 1)/3 = 5.5/3, C (3 + 1 + 2)/3 = 2.
    let row = |o: &str| a.ranking.iter().find(|r| r.optimizer == o).unwrap();
    assert!(close(row("A").mean_rank, 6.5 / 3.0, EPS));
    assert!(close(row("B").mean_rank, 5.5 / 3.0, EPS));
    assert!(close(row("C").mean_rank, 2.0, EPS));
    let order: Vec<&str> = a.ranking.iter().map(|r| r.optimizer.as_str()).collect();
    assert_eq!(order, vec!["B", "C", "A"]);
    assert_eq!(
        a.ranking.iter().map(|r| r.rank).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!((row("A").wins, row("B").wins, row("C").wins), (1, 1, 1));
    let l = 4.4f64.ln();
    assert!(close(
        row("C").profile_score,
        ((l - 4f64.ln()) / l + (l - 2f64.ln()) / l) / 3.0,
        EPS
    ));
    // Fastest to target on p2 is B, while C won p2: the verdict says so.
    let v2 = a.verdicts.iter().find(|v| v.problem == "p2").unwrap();
    assert_eq!(v2.winner, "C");
    assert_eq!(v2.fastest.as_deref(), Some("B"));
    assert!(v2.text.contains("B reached the target (test accuracy ≥ 50.0%) fastest: 150 steps on average vs 600 for C"), "{}", v2.text);
    // p3: A and B tie at 50 steps; the tie goes to the winner B, and nothing is added.
    let v3 = a.verdicts.iter().find(|v| v.problem == "p3").unwrap();
    assert_eq!(
        (v3.winner.as_str(), v3.fastest.as_deref()),
        ("B", Some("B"))
    );
    assert!(!v3.text.contains("fastest"), "{}", v3.text);
    // One seed each: no noise estimate.
    assert_eq!(v2.t, None);
    assert_eq!(v2.confidence, "not enough seeds");
    assert!(
        v2.text.contains("1 seed, so no noise estimate"),
        "{}",
        v2.text
    );
    // p1: C never reached the target while A and B did.
    let c = character(&a, "C");
    assert!(
        c.weaknesses.iter().any(|w| w.contains("did not reach the target (test accuracy ≥ 50.0%) with every seed on p1 (0 of 1 seeds), while 2 other optimizers did")),
        "{:?}",
        c.weaknesses
    );
    // Fastest to target: A on p1 and p3 (tie with B), B on p2 and p3.
    let fa = character(&a, "A");
    assert!(
        fa.strengths
            .iter()
            .any(|s| s
                .starts_with("fastest to target on 2 of 3 problems (p1: 100 steps, p3: 50 steps)")),
        "{:?}",
        fa.strengths
    );
    assert!(c.strengths.iter().all(|s| !s.starts_with("fastest")));
    // B has the best overall mean rank.
    let fb = character(&a, "B");
    assert!(
        fb.strengths
            .iter()
            .any(|s| s == "best overall mean rank by test accuracy: 1.8 over 3 problems"),
        "{:?}",
        fb.strengths
    );
}

#[test]
fn average_ranks_with_ties_and_missing() {
    // (values, higher_is_better, ranks)
    let cases: Vec<(Vec<Option<f64>>, bool, Vec<f64>)> = vec![
        (
            vec![Some(0.9), Some(0.8), Some(0.9), None, Some(0.7)],
            true,
            vec![1.5, 3.0, 1.5, 5.0, 4.0],
        ),
        (
            vec![Some(0.9), Some(0.8), Some(0.9), None, Some(0.7)],
            false,
            vec![3.5, 2.0, 3.5, 5.0, 1.0],
        ),
        (
            vec![Some(1.0), Some(1.0), Some(1.0)],
            true,
            vec![2.0, 2.0, 2.0],
        ),
        (vec![None, Some(2.0), None], true, vec![2.5, 1.0, 2.5]),
        (
            vec![Some(3.0), Some(1.0), Some(2.0), Some(1.0)],
            true,
            vec![1.0, 3.5, 2.0, 3.5],
        ),
    ];
    for (values, higher, want) in cases {
        assert_eq!(average_ranks(&values, higher), want, "{values:?} {higher}");
    }
}

/// Regression: the default study ranked optimizers by the last bit of their mean accuracy.
/// Three optimizers reached the same five digits accuracies (k/360) in another seed order; their
/// means differed by one ulp, and which one "won" flipped with how the stored metrics were
/// parsed. The mean is a function of the values alone, and near-equal means rank as ties.
#[test]
fn equal_accuracies_in_another_seed_order_rank_as_equals() {
    let a = [
        353.0 / 360.0,
        354.0 / 360.0,
        352.0 / 360.0,
        355.0 / 360.0,
        352.0 / 360.0,
    ];
    let b = [
        353.0 / 360.0,
        354.0 / 360.0,
        355.0 / 360.0,
        352.0 / 360.0,
        352.0 / 360.0,
    ];
    let naive = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (sa, sb) = (stat(&a).unwrap(), stat(&b).unwrap());
    assert_eq!(sa.mean.to_bits(), sb.mean.to_bits());
    assert_eq!(sa.std.to_bits(), sb.std.to_bits());
    // The plain left-to-right sums are not equal: this is the case being guarded.
    assert_ne!(naive(&a).to_bits(), naive(&b).to_bits());
    let m = naive(&a);
    let next = f64::from_bits(m.to_bits() + 1);
    assert_eq!(
        average_ranks(&[Some(m), Some(next), Some(0.5)], true),
        vec![1.5, 1.5, 3.0]
    );
    // A real difference still ranks.
    assert_eq!(
        average_ranks(&[Some(m), Some(m + 1e-9), Some(0.5)], true),
        vec![2.0, 1.0, 3.0]
    );
}

#[test]
fn welch_t_against_hand_computation() {
    // a: mean 0.72, s² = 0.0004; b: mean 0.68, s² = 0.0007;
    // t = 0.04 / sqrt(0.0004/3 + 0.0007/3) = 0.04 / sqrt(0.0011/3) = 2.088931...
    let a = [0.70, 0.72, 0.74];
    let b = [0.66, 0.67, 0.71];
    let t = welch_t(&a, &b).unwrap();
    assert!(close(t, 0.04 / (0.0011f64 / 3.0).sqrt(), 1e-9));
    assert!(close(t, 2.0889318, 1e-6));
    assert!(close(welch_t(&b, &a).unwrap(), -t, 1e-12));
    // Unequal sizes: a = [1, 2, 3, 4] (s² = 5/3), b = [2, 4] (s² = 2): t = (2.5 − 3)/sqrt(5/12 + 1).
    let t2 = welch_t(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0]).unwrap();
    assert!(close(t2, -0.5 / (5.0f64 / 12.0 + 1.0).sqrt(), 1e-12));
    assert!(welch_t(&[1.0], &[1.0, 2.0]).is_none());
    assert!(welch_t(&[1.0, 1.0], &[2.0, 2.0]).is_none());
}

#[test]
fn confidence_levels() {
    // (winner, runner-up, higher_is_better, t (None = no t), label); the t values were checked
    // with Python's statistics module: (mean(a) − mean(b)) / sqrt(var(a)/n + var(b)/n).
    let cases: &[ConfidenceCase] = &[
        // t = 3.2175 ≥ 3, not separated (0.80 < 0.81).
        (
            &[0.80, 0.82, 0.84, 0.86],
            &[0.70, 0.72, 0.74, 0.81],
            true,
            Some(3.2175),
            "clear",
        ),
        // Separated 3 vs 3 (chance 1/20) with t = 1.83: clear.
        (
            &[0.795, 0.80, 0.99],
            &[0.70, 0.71, 0.79],
            true,
            Some(1.8279),
            "clear",
        ),
        // 2 vs 2: fewer than 3 seeds a side (t = 1.486 is still reported).
        (
            &[0.80, 0.95],
            &[0.70, 0.79],
            true,
            Some(1.4863),
            "not enough seeds",
        ),
        // 3 vs 3, not separated (0.71 < 0.72) and t = 1.1092 < 1.5.
        (
            &[0.71, 0.80, 0.95],
            &[0.70, 0.72, 0.79],
            true,
            Some(1.1092),
            "within noise",
        ),
        // t = 2.09: likely.
        (
            &[0.70, 0.72, 0.74],
            &[0.66, 0.67, 0.71],
            true,
            Some(2.0889),
            "likely",
        ),
        (
            &[0.70, 0.75, 0.80],
            &[0.69, 0.74, 0.81],
            true,
            Some(0.0737),
            "within noise",
        ),
        // One seed each: no noise estimate.
        (&[0.9], &[0.5], true, None, "not enough seeds"),
        // Two seeds with identical accuracy a side (once "clear"): not enough seeds.
        (&[0.8, 0.8], &[0.7, 0.7], true, None, "not enough seeds"),
        (&[0.8, 0.8], &[0.8, 0.8], true, None, "not enough seeds"),
        // Three seeds but no spread on either side: the noise is not measured.
        (
            &[0.8, 0.8, 0.8],
            &[0.7, 0.7, 0.7],
            true,
            None,
            "not enough seeds",
        ),
        // Three seeds, one side without spread: Welch's t is defined (t = 0.02/(0.01/√3)).
        (
            &[0.72, 0.72, 0.72],
            &[0.69, 0.70, 0.71],
            true,
            Some(3.4641),
            "clear",
        ),
        // Lower is better: t is signed for the winner.
        (
            &[0.30, 0.31, 0.33],
            &[0.40, 0.41, 0.42],
            false,
            Some(9.1706),
            "clear",
        ),
    ];
    for &(w, r, higher, t, label) in cases {
        let (got_t, got_label) = confidence(w, r, higher);
        assert_eq!(got_label, label, "{w:?} vs {r:?}");
        match (got_t, t) {
            (Some(g), Some(want)) => assert!(close(g, want, 1e-4), "{w:?} vs {r:?}: t {g}"),
            (None, None) => {}
            other => panic!("{w:?} vs {r:?}: {other:?}"),
        }
    }
}

#[test]
fn verdict_text_and_confidence_from_runs() {
    let s = study(
        &[("mnist1d_mlp", "test_accuracy", None)],
        &["adam", "nadam", "sgd"],
        Protocol::Defaults,
    );
    let table: &[(&str, [f64; 3])] = &[
        ("adam", [0.70, 0.72, 0.74]),
        ("nadam", [0.66, 0.67, 0.71]),
        ("sgd", [0.50, 0.52, 0.54]),
    ];
    let mut runs = Vec::new();
    for (o, accs) in table {
        for (seed, &acc) in accs.iter().enumerate() {
            runs.push(defaults("mnist1d_mlp", o, seed as u64).done(
                last(acc, acc, 1.0 - acc, 0.3),
                false,
                &[],
            ));
        }
    }
    let a = analyze(&s, &runs);
    assert_eq!(a.verdicts.len(), 1);
    let v = &a.verdicts[0];
    assert_eq!(v.winner, "adam");
    assert_eq!(v.runner_up.as_deref(), Some("nadam"));
    assert!(close(v.margin, 0.04, 1e-9));
    assert!(close(v.t.unwrap(), 2.0889318, 1e-6));
    assert_eq!(v.confidence, "likely");
    assert_eq!(v.seeds, (3, 3));
    assert_eq!(
        v.text,
        "adam wins mnist1d_mlp with 72.0 ± 2.0% test accuracy, 4.0 points ahead of nadam \
         (68.0 ± 2.6%); likely (t = 2.1, 3 seeds)."
    );
    // Characters: adam has the win; sgd is last (3 optimizers); all never diverged.
    let adam = character(&a, "adam");
    assert!(
        adam.strengths.iter().any(|s| s
            == "highest mean test accuracy on 1 of 1 problems: mnist1d_mlp (72.0 ± 2.0%, likely)"),
        "{:?}",
        adam.strengths
    );
    let sgd = character(&a, "sgd");
    assert!(
        sgd.weaknesses
            .iter()
            .any(|s| s == "worst test accuracy on mnist1d_mlp (52.0 ± 2.0%)"),
        "{:?}",
        sgd.weaknesses
    );
    assert!(sgd.strengths.iter().all(|s| !s.starts_with("highest")));
    // The gap is test − train loss: adam 0.28 − 0.3 < nadam < sgd.
    assert!(sgd.weaknesses.iter().any(|s| s.starts_with("largest generalisation gap (test − train loss) on 1 of 1 problems (mnist1d_mlp: 0.180)")), "{:?}", sgd.weaknesses);
    assert!(adam
        .strengths
        .iter()
        .any(|s| s.starts_with("smallest generalisation gap")));

    // A loss-only study compares test loss, lower is better.
    let mut runs2 = Vec::new();
    for (o, losses) in [("adam", [0.30, 0.31, 0.33]), ("nadam", [0.40, 0.41, 0.42])] {
        for (seed, &l) in losses.iter().enumerate() {
            runs2.push(defaults("mnist1d_mlp", o, seed as u64).done(
                vec![ep(1, 10, 1.0, &[("test_loss", l), ("train_loss", 0.2)])],
                false,
                &[],
            ));
        }
    }
    let a2 = analyze(&s, &runs2);
    assert_eq!(a2.metric, "test_loss");
    assert!(!a2.higher_is_better);
    let v2 = &a2.verdicts[0];
    assert_eq!(v2.winner, "adam");
    assert_eq!(v2.confidence, "clear");
    assert!(v2.text.starts_with("adam wins mnist1d_mlp with test loss 0.313 ± 0.0153, 0.0967 lower than nadam (0.410 ± 0.0100); clear (t = 9.2, 3 seeds)."), "{}", v2.text);
}

#[test]
fn characters_cite_only_what_the_data_shows() {
    let s = study(
        &[("p1", "test_accuracy", None), ("p2", "test_accuracy", None)],
        &["steady", "wild", "calm"],
        Protocol::Budget { trials: 3 },
    );
    let mut runs = Vec::new();
    for p in ["p1", "p2"] {
        // steady: three trials, all within 1 point; best lr 0.01.
        runs.push(tune(p, "steady", 0, 0.001).done(last(0.795, 0.79, 0.5, 0.4), false, &[]));
        runs.push(tune(p, "steady", 1, 0.01).done(last(0.80, 0.80, 0.5, 0.4), false, &[]));
        runs.push(tune(p, "steady", 2, 0.003).done(last(0.792, 0.79, 0.5, 0.4), false, &[]));
        // wild: two trials diverge (lr 0.5 and 2.0), one is the best of all.
        runs.push(tune(p, "wild", 0, 0.5).done(diverged_epochs(), true, &[]));
        let good = last(0.85, 0.85, 0.45, 0.4);
        runs.push(tune(p, "wild", 1, 0.05).done(good.clone(), false, &["lr_too_high"]));
        runs.push(tune(p, "wild", 2, 2.0).done(diverged_epochs(), true, &[]));
        // calm: good at every trial, two of three within 1 point of its best.
        runs.push(tune(p, "calm", 0, 0.02).done(last(0.84, 0.83, 0.47, 0.4), false, &[]));
        runs.push(tune(p, "calm", 1, 0.03).done(last(0.845, 0.84, 0.47, 0.4), false, &[]));
        runs.push(tune(p, "calm", 2, 0.2).done(last(0.83, 0.83, 0.47, 0.4), false, &[]));
        for seed in 1..3 {
            runs.push(fin(p, "steady", seed, 0.01).done(last(0.80, 0.80, 0.5, 0.4), false, &[]));
            runs.push(fin(p, "wild", seed, 0.05).done(good.clone(), false, &["lr_too_high"]));
            runs.push(fin(p, "calm", seed, 0.03).done(last(0.845, 0.84, 0.47, 0.4), false, &[]));
        }
    }
    let a = analyze(&s, &runs);
    let steady = character(&a, "steady");
    let wild = character(&a, "wild");
    let calm = character(&a, "calm");
    let has = |list: &[String], want: &str| list.iter().any(|s| s == want);
    let starts = |list: &[String], want: &str| list.iter().any(|s| s.starts_with(want));

    // Divergence: the strength for those that never diverged, the weakness for wild.
    for c in [steady, calm] {
        assert!(has(&c.strengths, "never diverged in 10 runs"), "{c:?}");
        assert!(
            c.weaknesses.iter().all(|w| !w.contains("diverged")),
            "{c:?}"
        );
        assert!(
            has(
                &c.fits,
                "when a run must not blow up: no divergence in 10 runs, while the other \
                 optimizers diverged in 4 of 20 runs"
            ),
            "{c:?}"
        );
    }
    assert!(
        wild.strengths.iter().all(|s| !s.contains("never diverged")),
        "{wild:?}"
    );
    assert!(
        has(
            &wild.weaknesses,
            "diverged in 4 of 10 runs, all at lr ≥ 0.500"
        ),
        "{wild:?}"
    );
    assert!(wild.fits.iter().all(|s| !s.contains("blow up")));

    // Sensitivity: steady 6 of 6 trials within 1 point of its best, calm 4 of 6, wild 2 of 6.
    assert!(has(
        &steady.strengths,
        "least sensitive to its hyperparameters: 6 of 6 tuning trials within 1 point of its \
         best validation accuracy"
    ));
    assert!(has(
        &wild.weaknesses,
        "widest hyperparameter sensitivity: only 2 of 6 tuning trials within 1 point of its \
         best validation accuracy"
    ));
    assert!(calm
        .strengths
        .iter()
        .chain(&calm.weaknesses)
        .all(|s| !s.contains("sensitiv")));

    // Wild wins both problems over calm with no spread at all, on the 2 seeds that were not
    // used for selection: not enough seeds, no t.
    for v in &a.verdicts {
        assert_eq!(
            (v.winner.as_str(), v.runner_up.as_deref()),
            ("wild", Some("calm"))
        );
        assert_eq!((v.confidence.as_str(), v.t), ("not enough seeds", None));
        assert!(
            v.text
                .ends_with("not enough seeds (no spread over seeds, 2 seeds)."),
            "{}",
            v.text
        );
    }
    assert!(starts(
        &wild.strengths,
        "highest mean test accuracy on 2 of 2 problems: p1 (85.0 ± 0.0%, not enough seeds)"
    ));
    assert!(has(
        &steady.weaknesses,
        "worst test accuracy on p1 (80.0 ± 0.0%), p2 (80.0 ± 0.0%)"
    ));
    // Gaps: steady 0.1, calm 0.07, wild 0.05.
    assert!(starts(
        &wild.strengths,
        "smallest generalisation gap (test − train loss) on 2 of 2 problems (p1: 0.0500"
    ));
    assert!(starts(
        &steady.weaknesses,
        "largest generalisation gap (test − train loss) on 2 of 2 problems (p1: 0.100"
    ));

    // The doctor's most frequent finding (other than "converged").
    assert!(has(
        &wild.weaknesses,
        "the doctor reported lr too high in 4 of 4 runs of its chosen settings"
    ));

    // Tuneability: diverged trials count as the worst score seen on the problem, 0.792.
    let worst = 0.792;
    let t = |o: &str| group(&a, "p1", o).tuneability.clone();
    let want: [(&str, [f64; 3]); 3] = [
        (
            "steady",
            [
                (0.795 + 0.80 + 0.792) / 3.0,
                (0.795 + 2.0 * 0.80) / 3.0,
                0.80,
            ],
        ),
        (
            "wild",
            [(0.85 + 2.0 * worst) / 3.0, (worst + 2.0 * 0.85) / 3.0, 0.85],
        ),
        (
            "calm",
            [
                (0.84 + 0.845 + 0.83) / 3.0,
                (0.84 + 2.0 * 0.845) / 3.0,
                0.845,
            ],
        ),
    ];
    for (o, w) in want {
        let got = t(o);
        assert_eq!(got.len(), 3);
        for k in 0..3 {
            assert!(
                close(got[k], w[k], EPS),
                "{o} k={}: {} vs {}",
                k + 1,
                got[k],
                w[k]
            );
        }
    }
    // calm is best after 1 trial and never diverged: the safe default; wild gains the most.
    assert!(
        has(
            &calm.fits,
            "a safe default when the tuning budget is small: highest expected validation accuracy \
         after 1 random trial on 2 of 2 problems (p1: 83.8%, p2: 83.8%), and no trial diverged"
        ),
        "{calm:?}"
    );
    assert!(wild
        .fits
        .iter()
        .chain(&steady.fits)
        .all(|s| !s.contains("safe default")));
    assert!(has(
        &wild.fits,
        "rewards a tuning budget: its expected best validation accuracy improves by 3.9 points \
         from 1 to 3 trials (mean over 2 problems), the most of any optimizer"
    ), "{wild:?}");

    // Nothing about targets or seconds: the problems have no target.
    for c in &a.characters {
        for s in c.strengths.iter().chain(&c.weaknesses).chain(&c.fits) {
            assert!(!s.contains("target") && !s.contains("seconds"), "{s}");
        }
    }
    // No target: the steps profile has no problems and scores 0.
    assert!(a.profiles[0].problems.is_empty());
    assert!(a.ranking.iter().all(|r| r.profile_score == 0.0));
    let row = |o: &str| a.ranking.iter().find(|r| r.optimizer == o).unwrap();
    assert!(close(row("wild").divergence_rate, 0.4, EPS));
    assert_eq!(row("calm").divergence_rate, 0.0);
    // Ranks: wild 1, calm 2, steady 3 on both problems.
    let order: Vec<(&str, f64)> = a
        .ranking
        .iter()
        .map(|r| (r.optimizer.as_str(), r.mean_rank))
        .collect();
    assert_eq!(order, vec![("wild", 1.0), ("calm", 2.0), ("steady", 3.0)]);
}

#[test]
fn empty_and_failed_only_inputs_do_not_panic() {
    let s = study(
        &[
            ("p1", "test_accuracy", Some(0.9)),
            ("p2", "val_loss", Some(0.1)),
        ],
        &["a", "b", "c"],
        Protocol::Budget { trials: 2 },
    );
    let a = analyze(&s, &[]);
    assert_eq!(a.groups.len(), 6);
    assert!(a.verdicts.is_empty());
    assert_eq!(a.ranking.len(), 3);
    assert!(a.ranking.iter().all(|r| r.mean_rank == 2.0 && r.wins == 0));
    assert!(a
        .characters
        .iter()
        .all(|c| c.strengths.is_empty() && c.weaknesses.is_empty() && c.fits.is_empty()));
    assert_eq!((a.runs, a.failed), (0, 0));
    assert!(a
        .profiles
        .iter()
        .all(|p| p.problems.is_empty() && p.tau.len() == 50));

    let runs = vec![
        tune("p1", "a", 0, 0.1).failed(),
        tune("p1", "a", 1, 0.2).failed(),
        tune("p2", "b", 0, 0.1).failed(),
        // Done without any epoch.
        tune("p2", "c", 0, 0.1).done(Vec::new(), false, &[]),
        tune("p2", "c", 1, 0.3).done(diverged_epochs(), true, &[]),
    ];
    let a = analyze(&s, &runs);
    let g = group(&a, "p1", "a");
    assert_eq!((g.runs, g.failed, g.diverged, g.seeds), (2, 2, 0, 0));
    assert_eq!(g.divergence_rate, 0.0);
    assert!(g.tuneability.is_empty());
    assert!(g.test_accuracy.is_none());
    let gc = group(&a, "p2", "c");
    assert_eq!(gc.chosen_trial, Some(0)); // finished without a score beats diverged
    assert_eq!((gc.seeds, gc.seeds_diverged), (1, 0));
    assert!(a.verdicts.is_empty());
    assert_eq!((a.runs, a.failed), (5, 3));
    let ca = character(&a, "a");
    assert!(
        ca.weaknesses
            .contains(&"2 of 2 runs failed (crashed)".to_string()),
        "{:?}",
        ca.weaknesses
    );
    assert!(ca.strengths.iter().all(|s| !s.contains("never diverged")));
    // The whole analysis survives a JSON round trip (no NaN or ∞ anywhere).
    let json = serde_json::to_string(&a).unwrap();
    let back: Analysis = serde_json::from_str(&json).unwrap();
    // (serde_json parses floats to within an ulp; compare the parsed forms.)
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    );
    assert_eq!(
        (back.groups.len(), &back.verdicts),
        (a.groups.len(), &a.verdicts)
    );
}

#[test]
fn json_round_trip_of_a_full_analysis() {
    let s = study(
        &[("p", "test_accuracy", Some(0.6))],
        &["x", "y"],
        Protocol::Budget { trials: 2 },
    );
    let mut runs = Vec::new();
    for (o, lr, acc) in [("x", 0.1, 0.7), ("y", 0.2, 0.65)] {
        runs.push(tune("p", o, 0, lr).done(last(acc, acc, 0.5, 0.4), false, &["converged"]));
        runs.push(tune("p", o, 1, lr * 10.0).done(diverged_epochs(), true, &[]));
        for seed in 1..3 {
            runs.push(fin("p", o, seed, lr).done(
                last(acc, acc + 0.01 * seed as f64, 0.5, 0.4),
                false,
                &[],
            ));
        }
    }
    let a = analyze(&s, &runs);
    let json = serde_json::to_string(&a).unwrap();
    let back: Analysis = serde_json::from_str(&json).unwrap();
    // (serde_json parses floats to within an ulp; compare the parsed forms.)
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    );
    assert_eq!(
        (back.groups.len(), &back.verdicts),
        (a.groups.len(), &a.verdicts)
    );
    assert_eq!(a.verdicts[0].winner, "x");
    assert!(close(a.groups[0].steps_to_target.unwrap().mean, 100.0, EPS));
    // Both reach the target at step 100: the same cost, ratios 1.
    assert_eq!(a.profiles[0].ratios["x"], vec![Some(1.0)]);
    assert_eq!(a.profiles[0].ratios["y"], vec![Some(1.0)]);
}
