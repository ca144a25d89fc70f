//! From stored runs to what a person wants to know: per problem and optimizer, final metrics over
//! seeds, speed to a target, divergence, generalisation gap, learning-rate sensitivity,
//! tuneability, doctor findings; Dolan–Moré performance profiles across problems, an overall
//! ranking and plain-language conclusions.
//!
//! How the numbers are made (every choice is here, so the report can cite it):
//! - **Chosen setting** of a (problem, optimizer): the tuning trial with the best tuning metric
//!   (`study.tuning.metric`, last epoch, in its direction); finished trials without the metric
//!   rank after every finite score, diverged ones after those and failed ones last; ties go to
//!   the lower trial index.
//!   Without tuning trials, the defaults runs' setting. Its **seeds** are the done runs with
//!   exactly those params (the trial itself is the run at the tuning seed).
//! - **Final metrics** (mean, sample std, n, min, max) are over the seeds that did not diverge
//!   (a diverged run's last logged epoch is not a final result); `seeds_diverged` counts the rest.
//!   Generalisation gap = test_loss − train_loss of the last epoch.
//! - **Steps / seconds to target**: the `step` and `time_s` of the first epoch whose target metric
//!   reaches the problem's target (≥ for accuracies, ≤ for losses), over the seeds that reached it.
//! - **Divergence** over every finished run of the group (trials and seeds): `runs` = done +
//!   failed, rate = diverged / done runs.
//! - **Tuneability**: the expected best tuning score after k trials drawn without replacement
//!   from the K finished trials, E = Σᵢ v₍ᵢ₎ · C(i−1, k−1) / C(K, k) with v sorted worst to best;
//!   a diverged or failed trial counts as the worst finite tuning score seen on the problem (any
//!   optimizer).
//! - **Compared metric**: test_accuracy when every problem with results has it, else test_loss
//!   (then val_accuracy, train_loss).
//! - **Profiles** (Dolan–Moré): `steps to target` costs the mean steps to target when *every*
//!   seed reached it, else ∞; `final test loss` costs the mean final test loss (shifted so the
//!   smallest cost is positive when some is ≤ 0). r = cost / best cost on the problem;
//!   ρ(τ) = |{p : r ≤ τ}| / |P| over the problems where some optimizer has a finite cost, on 50
//!   log-spaced τ from 1 to max(4, 1.1 × the largest finite ratio).
//! - **Ranking**: per problem, rank by the compared metric's mean (ties share the average rank,
//!   optimizers without a result share the last places); mean rank over the problems with any
//!   result; wins = verdicts won; profile score = normalised area under the steps-to-target ρ on
//!   a log τ axis, exactly (1/|P|) Σ_p max(0, ln τ_max − ln r_p) / ln τ_max.
//! - **Verdicts**: winner and runner-up by mean (ties: lower std, then study order); Welch's
//!   t = margin / √(s₁²/n₁ + s₂²/n₂) (None with fewer than 2 seeds or no spread); `clear` when
//!   t ≥ 3, or every winner seed beats every runner-up seed and that separation has chance
//!   probability 1/C(n₁+n₂, n₁) ≤ 0.05, or both have ≥ 2 seeds with no spread at all and a
//!   positive margin; `likely` when t ≥ 1.5; else `within noise` (also with a single seed).
//! - **Characters**: sentences built only from the numbers above, each citing them; a
//!   superlative (best, fastest, smallest, …) needs at least two optimizers with a number, a
//!   "worst/largest" needs at least three.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::study::Problem;
use crate::{Phase, RunRecord, RunState, Study};

/// Mean ± sample standard deviation over `n` values (std 0 when n < 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
    pub min: f64,
    pub max: f64,
}

/// A curve over epochs with a band over seeds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Epoch numbers (1-based) or steps, the x axis.
    pub x: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

/// One tuning trial, for the learning-rate sensitivity plot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub trial: u32,
    pub params: BTreeMap<String, serde_json::Value>,
    /// The learning rate of the trial (when the space has one).
    pub lr: Option<f64>,
    /// The tuning metric's value (None when diverged or failed).
    pub score: Option<f64>,
    pub diverged: bool,
    /// The run failed (crashed) instead of finishing.
    #[serde(default)]
    pub failed: bool,
}

/// One optimizer on one problem.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub problem: String,
    pub optimizer: String,
    /// The chosen setting (best tuning trial, or the defaults).
    pub best_params: BTreeMap<String, serde_json::Value>,
    /// The runs of the chosen setting over seeds.
    pub seeds: usize,
    pub test_accuracy: Option<Stat>,
    pub test_loss: Option<Stat>,
    pub val_accuracy: Option<Stat>,
    pub train_loss: Option<Stat>,
    /// test_loss − train_loss at the end (over seeds).
    pub generalisation_gap: Option<Stat>,
    /// Epoch-steps and seconds until the target metric was first reached (over the seeds that
    /// reached it), and how many seeds reached it.
    pub steps_to_target: Option<Stat>,
    pub seconds_to_target: Option<Stat>,
    pub reached_target: usize,
    /// Over every run of this optimizer on this problem (trials and seeds).
    pub runs: usize,
    pub diverged: usize,
    pub failed: usize,
    pub divergence_rate: f64,
    /// All tuning trials (empty for the defaults protocol).
    pub trials: Vec<Trial>,
    /// Expected best score after k = 1..=K random trials (tuneability).
    pub tuneability: Vec<f64>,
    /// Doctor findings over the chosen setting's runs: kind → runs in which it fired.
    pub findings: BTreeMap<String, usize>,
    /// Curves of the chosen setting over seeds.
    pub test_accuracy_curve: Band,
    pub val_loss_curve: Band,
    pub train_loss_curve: Band,
    /// Mean wall seconds per run (over every done run of the group: trials and seeds).
    pub wall_s: Stat,
    /// The tuning trial whose setting was chosen (None for the defaults protocol).
    #[serde(default)]
    pub chosen_trial: Option<u32>,
    /// How many of the chosen setting's seed runs diverged (they are left out of the final
    /// metric stats, whose `n` says how many seeds they cover).
    #[serde(default)]
    pub seeds_diverged: usize,
    /// The chosen setting's runs, one per seed (sorted by seed), with their final numbers.
    #[serde(default)]
    pub seed_runs: Vec<SeedRun>,
}

/// One seed run of a group's chosen setting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedRun {
    pub key: String,
    pub seed: u64,
    pub diverged: bool,
    /// Last-epoch values (None when missing, non-finite, or the run diverged).
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub train_loss: Option<f64>,
    /// `step` and `time_s` of the first epoch whose target metric reached the target.
    pub steps_to_target: Option<u64>,
    pub seconds_to_target: Option<f64>,
    pub wall_s: f64,
}

/// A Dolan–Moré performance profile: for each optimizer, ρ(τ) = fraction of problems on which
/// its cost is within a factor τ of the best optimizer's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// What cost is profiled (e.g. `steps to target`, `final test loss`).
    pub measure: String,
    pub tau: Vec<f64>,
    /// optimizer → ρ(τ) at each tau.
    pub rho: BTreeMap<String, Vec<f64>>,
    /// The problems profiled (those where at least one optimizer has a finite cost).
    #[serde(default)]
    pub problems: Vec<String>,
    /// optimizer → performance ratio r = cost / best cost on each of `problems`
    /// (None = no finite cost: target not reached by every seed, or no result).
    #[serde(default)]
    pub ratios: BTreeMap<String, Vec<Option<f64>>>,
}

/// One row of the overall ranking.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankRow {
    pub rank: usize,
    pub optimizer: String,
    /// Mean rank over problems by the final metric (lower is better).
    pub mean_rank: f64,
    /// Problems won.
    pub wins: usize,
    /// Area under the steps-to-target profile (normalised 0–1, higher is better).
    pub profile_score: f64,
    pub divergence_rate: f64,
}

/// The winner of one problem and how sure we are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub problem: String,
    pub winner: String,
    pub runner_up: Option<String>,
    /// The winner's margin on the final metric, in its units.
    pub margin: f64,
    /// Welch's t statistic of the margin over seeds (None with one seed).
    pub t: Option<f64>,
    /// `clear`, `likely` or `within noise`.
    pub confidence: String,
    /// One or two sentences.
    pub text: String,
    /// Seeds behind the winner's and the runner-up's final metric.
    #[serde(default)]
    pub seeds: (usize, usize),
    /// The optimizer that reached the problem's target in the fewest steps (mean over seeds,
    /// every seed reaching it), when any did.
    #[serde(default)]
    pub fastest: Option<String>,
}

/// Strengths, weaknesses and fitting situations of one optimizer, as this study measured them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Character {
    pub optimizer: String,
    pub strengths: Vec<String>,
    pub weaknesses: Vec<String>,
    pub fits: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub study: String,
    /// The final metric groups are compared by (`test_accuracy` when every problem has labels).
    pub metric: String,
    /// Higher is better for `metric`.
    pub higher_is_better: bool,
    pub problems: Vec<String>,
    pub optimizers: Vec<String>,
    pub groups: Vec<Group>,
    pub profiles: Vec<Profile>,
    pub ranking: Vec<RankRow>,
    pub verdicts: Vec<Verdict>,
    pub characters: Vec<Character>,
    /// Counts over the whole study.
    pub runs: usize,
    pub failed: usize,
    pub total_wall_s: f64,
}

/// Analyses `runs` (as stored) of `study`: one [`Group`] per (problem, optimizer) of the study in
/// its order (runs of other problems or optimizers are ignored; pending and running runs only
/// count in `runs`), the profiles `steps to target` and `final test loss` (in that order), the
/// ranking, a verdict per problem with any final result, and a character per optimizer. Never
/// panics: missing data gives `None` stats, empty curves and no sentence.
pub fn analyze(study: &Study, runs: &[RunRecord]) -> Analysis {
    // The store keeps one record per key; be robust to duplicates anyway (first one wins).
    let mut seen = std::collections::BTreeSet::new();
    let runs: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| seen.insert(r.spec.key.clone()))
        .collect();
    let problems: Vec<String> = study.problems.iter().map(|p| p.name.clone()).collect();
    let optimizers: Vec<String> = study.optimizers.iter().map(|o| o.label.clone()).collect();

    let mut groups = Vec::new();
    for problem in &study.problems {
        for label in &optimizers {
            let recs: Vec<&RunRecord> = runs
                .iter()
                .copied()
                .filter(|r| r.spec.problem == problem.name && &r.spec.optimizer == label)
                .collect();
            groups.push(build_group(study, problem, label, &recs));
        }
    }
    let no = optimizers.len();
    // Tuneability: a diverged or failed trial counts as the worst finite tuning score seen on
    // the problem (any optimizer), so one lucky trial does not hide the others' divergence.
    let thigher = study.tuning.higher_is_better;
    for chunk in groups.chunks_mut(no.max(1)) {
        let worst = chunk
            .iter()
            .flat_map(|g| g.trials.iter().filter_map(|t| t.score))
            .filter(|x| x.is_finite())
            .reduce(|a, b| if (b < a) == thigher { b } else { a });
        for g in chunk.iter_mut() {
            let scores: Vec<Option<f64>> = g.trials.iter().map(|t| t.score).collect();
            g.tuneability = tuneability_with_worst(&scores, thigher, worst);
        }
    }
    let group = |pi: usize, oi: usize| &groups[pi * no + oi];

    // The compared final metric.
    let candidates = ["test_accuracy", "test_loss", "val_accuracy", "train_loss"];
    let with_data: Vec<usize> = (0..problems.len())
        .filter(|&pi| {
            (0..no).any(|oi| {
                candidates
                    .iter()
                    .any(|m| final_stat(group(pi, oi), m).is_some())
            })
        })
        .collect();
    let has = |m: &str, pi: usize| (0..no).any(|oi| final_stat(group(pi, oi), m).is_some());
    let metric = candidates
        .iter()
        .find(|m| !with_data.is_empty() && with_data.iter().all(|&pi| has(m, pi)))
        .or_else(|| {
            candidates
                .iter()
                .find(|m| (0..problems.len()).any(|pi| has(m, pi)))
        })
        .copied()
        .unwrap_or("test_accuracy")
        .to_string();
    let higher = metric_higher_is_better(&metric);

    // Profiles.
    let steps_costs: Vec<Vec<f64>> = (0..problems.len())
        .map(|pi| {
            (0..no)
                .map(|oi| steps_cost(&study.problems[pi], group(pi, oi)))
                .collect()
        })
        .collect();
    let mut loss_costs: Vec<Vec<f64>> = (0..problems.len())
        .map(|pi| {
            (0..no)
                .map(|oi| {
                    group(pi, oi)
                        .test_loss
                        .map(|s| s.mean)
                        .unwrap_or(f64::INFINITY)
                })
                .collect()
        })
        .collect();
    shift_positive(&mut loss_costs);
    let steps_profile =
        performance_profile("steps to target", &problems, &optimizers, &steps_costs);
    let loss_profile = performance_profile("final test loss", &problems, &optimizers, &loss_costs);

    // Verdicts.
    let mut verdicts = Vec::new();
    for (pi, problem) in study.problems.iter().enumerate() {
        let gs: Vec<&Group> = (0..no).map(|oi| group(pi, oi)).collect();
        if let Some(v) = verdict(problem, &gs, &metric, &steps_costs[pi], &optimizers) {
            verdicts.push(v);
        }
    }

    // Ranking.
    let mut rank_sums = vec![0.0; no];
    let mut ranked_problems = 0usize;
    for pi in 0..problems.len() {
        let values: Vec<Option<f64>> = (0..no)
            .map(|oi| final_stat(group(pi, oi), &metric).map(|s| s.mean))
            .collect();
        if values.iter().all(|v| v.is_none()) {
            continue;
        }
        ranked_problems += 1;
        for (sum, r) in rank_sums.iter_mut().zip(average_ranks(&values, higher)) {
            *sum += r;
        }
    }
    let steps_scores = profile_scores(&steps_profile);
    let mut ranking: Vec<RankRow> = optimizers
        .iter()
        .enumerate()
        .map(|(oi, o)| {
            let (done, diverged) = (0..problems.len()).fold((0, 0), |(d, v), pi| {
                let g = group(pi, oi);
                (d + g.runs - g.failed, v + g.diverged)
            });
            RankRow {
                rank: 0,
                optimizer: o.clone(),
                mean_rank: if ranked_problems > 0 {
                    rank_sums[oi] / ranked_problems as f64
                } else {
                    (no as f64 + 1.0) / 2.0
                },
                wins: verdicts.iter().filter(|v| &v.winner == o).count(),
                profile_score: steps_scores.get(o).copied().unwrap_or(0.0),
                divergence_rate: ratio(diverged, done),
            }
        })
        .collect();
    // Stable sort keeps the study order for complete ties.
    ranking.sort_by(|a, b| {
        a.mean_rank
            .total_cmp(&b.mean_rank)
            .then(b.wins.cmp(&a.wins))
            .then(b.profile_score.total_cmp(&a.profile_score))
    });
    for (i, row) in ranking.iter_mut().enumerate() {
        row.rank = i + 1;
    }

    let characters = characters(
        study,
        &groups,
        &metric,
        &verdicts,
        &ranking,
        &steps_costs,
        ranked_problems,
    );

    let failed = runs.iter().filter(|r| r.state == RunState::Failed).count();
    let total_wall_s = runs
        .iter()
        .filter_map(|r| r.result.as_ref())
        .map(|r| r.wall_s)
        .filter(|w| w.is_finite())
        .sum();
    Analysis {
        study: study.name.clone(),
        metric,
        higher_is_better: higher,
        problems,
        optimizers,
        groups,
        profiles: vec![steps_profile, loss_profile],
        ranking,
        verdicts,
        characters,
        runs: runs.len(),
        failed,
        total_wall_s,
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// Whether larger values of `metric` are better: everything except losses.
pub fn metric_higher_is_better(metric: &str) -> bool {
    !metric.contains("loss")
}

/// Mean, sample standard deviation (n − 1; 0 when n < 2), n, min and max of the finite values;
/// None when there is none.
pub fn stat(values: &[f64]) -> Option<Stat> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let std = if n < 2 {
        0.0
    } else {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    };
    // Rounding noise of equal values (0.85 three times has std ~1e-16) is no spread.
    let std = if std <= 1e-12 * mean.abs() { 0.0 } else { std };
    Some(Stat {
        mean,
        std,
        n,
        min: v.iter().copied().fold(f64::INFINITY, f64::min),
        max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// ln C(n, k).
fn ln_choose(n: usize, k: usize) -> f64 {
    (1..=k).map(|j| ((n - k + j) as f64 / j as f64).ln()).sum()
}

/// Expected best score after k = 1..=K trials drawn at random without replacement from the K
/// `scores` (None = diverged/failed, counted as the worst finite score), in the metric's
/// direction: E = Σᵢ v₍ᵢ₎ · C(i−1, k−1) / C(K, k), v sorted from worst to best. Empty when no
/// score is finite.
pub fn tuneability(scores: &[Option<f64>], higher_is_better: bool) -> Vec<f64> {
    tuneability_with_worst(scores, higher_is_better, None)
}

/// [`tuneability`] with diverged/failed trials counted as `worst` (when given and worse than
/// every finite score; else the worst finite score of `scores`).
pub fn tuneability_with_worst(
    scores: &[Option<f64>],
    higher_is_better: bool,
    worst: Option<f64>,
) -> Vec<f64> {
    let finite: Vec<f64> = scores
        .iter()
        .flatten()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if finite.is_empty() {
        return Vec::new();
    }
    let own_worst = if higher_is_better {
        finite.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    };
    let worst = match worst.filter(|w| w.is_finite()) {
        Some(w) if higher_is_better => w.min(own_worst),
        Some(w) => w.max(own_worst),
        None => own_worst,
    };
    let mut v: Vec<f64> = scores
        .iter()
        .map(|s| s.filter(|x| x.is_finite()).unwrap_or(worst))
        .collect();
    if higher_is_better {
        v.sort_by(|a, b| a.total_cmp(b));
    } else {
        v.sort_by(|a, b| b.total_cmp(a));
    }
    let big_k = v.len();
    (1..=big_k)
        .map(|k| {
            let denom = ln_choose(big_k, k);
            (k..=big_k)
                .map(|i| v[i - 1] * (ln_choose(i - 1, k - 1) - denom).exp())
                .sum()
        })
        .collect()
}

/// Welch's t statistic (mean(a) − mean(b)) / √(s_a²/n_a + s_b²/n_b); None when either side has
/// fewer than 2 finite values or both have no spread.
pub fn welch_t(a: &[f64], b: &[f64]) -> Option<f64> {
    let (sa, sb) = (stat(a)?, stat(b)?);
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let se = (sa.std * sa.std / sa.n as f64 + sb.std * sb.std / sb.n as f64).sqrt();
    (se > 0.0).then(|| (sa.mean - sb.mean) / se)
}

/// Ranks (1 = best) of `values` in the metric's direction; equal values share the average of
/// their places, missing ones share the last places.
pub fn average_ranks(values: &[Option<f64>], higher_is_better: bool) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_some_and(|v| !v.is_nan()))
        .collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (values[a].unwrap(), values[b].unwrap());
        if higher_is_better {
            y.total_cmp(&x)
        } else {
            x.total_cmp(&y)
        }
    });
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = r;
        }
        i = j + 1;
    }
    let m = order.len();
    let missing = values.len() - m;
    if missing > 0 {
        let r = (m + 1 + values.len()) as f64 / 2.0;
        for (k, v) in values.iter().enumerate() {
            if !v.is_some_and(|v| !v.is_nan()) {
                ranks[k] = r;
            }
        }
    }
    ranks
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

/// The last epoch's value of `metric` of a done, non-diverged run.
fn final_value(r: &RunRecord, metric: &str) -> Option<f64> {
    if r.state != RunState::Done {
        return None;
    }
    let res = r.result.as_ref()?;
    if res.diverged {
        return None;
    }
    res.last()?.get(metric).filter(|v| v.is_finite())
}

fn is_diverged(r: &RunRecord) -> bool {
    r.state == RunState::Done && r.result.as_ref().is_some_and(|x| x.diverged)
}

/// The (step, time_s) of the first epoch whose `metric` reaches `target`.
pub fn first_reach(epochs: &[train::EpochRecord], metric: &str, target: f64) -> Option<(u64, f64)> {
    let higher = metric_higher_is_better(metric);
    epochs
        .iter()
        .find(|e| {
            e.get(metric)
                .is_some_and(|v| v.is_finite() && if higher { v >= target } else { v <= target })
        })
        .map(|e| (e.step, e.time_s))
}

/// A band over seeds of `metric` per epoch (epochs where no seed has a finite value are skipped).
fn band(runs: &[&RunRecord], metric: &str) -> Band {
    let mut per_epoch: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in runs {
        if let Some(res) = &r.result {
            for e in &res.epochs_log {
                if let Some(v) = e.get(metric).filter(|v| v.is_finite()) {
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

fn build_group(study: &Study, problem: &Problem, label: &str, recs: &[&RunRecord]) -> Group {
    let tuning_higher = study.tuning.higher_is_better;
    let tmetric = &study.tuning.metric;

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
        .map(|r| Trial {
            trial: r.spec.trial,
            params: r.spec.params.clone(),
            lr: r.spec.params.get("lr").and_then(|v| v.as_f64()),
            score: final_value(r, tmetric),
            diverged: is_diverged(r),
            failed: r.state == RunState::Failed,
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
                .and_then(|t| first_reach(&res.epochs_log, &problem.target_metric, t));
            SeedRun {
                key: r.spec.key.clone(),
                seed: r.spec.seed,
                diverged: res.diverged,
                test_accuracy: final_value(r, "test_accuracy"),
                test_loss: final_value(r, "test_loss"),
                val_accuracy: final_value(r, "val_accuracy"),
                train_loss: final_value(r, "train_loss"),
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
    let diverged = finished.iter().filter(|r| is_diverged(r)).count();
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
        test_accuracy_curve: band(&seeds, "test_accuracy"),
        val_loss_curve: band(&seeds, "val_loss"),
        train_loss_curve: band(&seeds, "train_loss"),
        wall_s: stat(&walls).unwrap_or_default(),
        chosen_trial,
        seeds_diverged: seed_runs.iter().filter(|s| s.diverged).count(),
        seed_runs,
    }
}

/// The best trial: finite scores first (best by direction), then finished runs without the
/// metric, then diverged, then failed ones; ties go to the lower trial index.
pub fn best_trial(trials: &[Trial], higher_is_better: bool) -> Option<&Trial> {
    let class = |t: &Trial| match (t.score, t.diverged, t.failed) {
        (Some(_), _, _) => 0,
        (None, false, false) => 1,
        (None, true, _) => 2,
        (None, false, true) => 3,
    };
    trials.iter().min_by(|a, b| {
        class(a)
            .cmp(&class(b))
            .then_with(|| match (a.score, b.score) {
                (Some(x), Some(y)) if higher_is_better => y.total_cmp(&x),
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => std::cmp::Ordering::Equal,
            })
            .then(a.trial.cmp(&b.trial))
    })
}

/// The final stat of `metric` of a group.
pub fn final_stat<'a>(g: &'a Group, metric: &str) -> Option<&'a Stat> {
    match metric {
        "test_accuracy" => g.test_accuracy.as_ref(),
        "test_loss" => g.test_loss.as_ref(),
        "val_accuracy" => g.val_accuracy.as_ref(),
        "train_loss" => g.train_loss.as_ref(),
        _ => None,
    }
}

/// The per-seed final values of `metric` of a group.
pub fn seed_values(g: &Group, metric: &str) -> Vec<f64> {
    g.seed_runs
        .iter()
        .filter_map(|s| match metric {
            "test_accuracy" => s.test_accuracy,
            "test_loss" => s.test_loss,
            "val_accuracy" => s.val_accuracy,
            "train_loss" => s.train_loss,
            _ => None,
        })
        .collect()
}

/// The steps-to-target cost: the mean when every seed reached the target, else ∞.
fn steps_cost(problem: &Problem, g: &Group) -> f64 {
    match (&problem.target, &g.steps_to_target) {
        (Some(_), Some(s)) if !g.seed_runs.is_empty() && g.reached_target == g.seed_runs.len() => {
            s.mean
        }
        _ => f64::INFINITY,
    }
}

/// Shifts every finite cost so that the smallest one is positive (when some cost is ≤ 0): the
/// smallest becomes 1% of the spread (or 1e-3 without spread).
fn shift_positive(costs: &mut [Vec<f64>]) {
    let finite = || costs.iter().flatten().copied().filter(|c| c.is_finite());
    let min = finite().fold(f64::INFINITY, f64::min);
    if min.is_nan() || min > 0.0 {
        return;
    }
    let max = finite().fold(f64::NEG_INFINITY, f64::max);
    let delta = (0.01 * (max - min)).max(1e-3);
    for c in costs.iter_mut().flatten() {
        if c.is_finite() {
            *c += delta - min;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Profiles

/// The Dolan–Moré profile of `costs[problem][optimizer]` (positive; non-finite = failed).
pub fn performance_profile(
    measure: &str,
    problems: &[String],
    optimizers: &[String],
    costs: &[Vec<f64>],
) -> Profile {
    let ok = |c: f64| c.is_finite() && c > 0.0;
    let mut profile = Profile {
        measure: measure.to_string(),
        ..Profile::default()
    };
    for o in optimizers {
        profile.ratios.insert(o.clone(), Vec::new());
    }
    for (pi, row) in costs.iter().enumerate() {
        let best = row
            .iter()
            .copied()
            .filter(|&c| ok(c))
            .fold(f64::INFINITY, f64::min);
        if !best.is_finite() {
            continue;
        }
        profile.problems.push(problems[pi].clone());
        for (oi, o) in optimizers.iter().enumerate() {
            let c = row.get(oi).copied().unwrap_or(f64::INFINITY);
            profile
                .ratios
                .get_mut(o)
                .expect("inserted")
                .push(ok(c).then(|| c / best));
        }
    }
    let max_ratio = profile
        .ratios
        .values()
        .flatten()
        .flatten()
        .copied()
        .fold(1.0, f64::max);
    let tau_max = (1.1 * max_ratio).max(4.0);
    let points = 50;
    profile.tau = (0..points)
        .map(|i| {
            if i == 0 {
                1.0
            } else if i == points - 1 {
                tau_max
            } else {
                tau_max.powf(i as f64 / (points - 1) as f64)
            }
        })
        .collect();
    let np = profile.problems.len();
    for o in optimizers {
        let ratios = &profile.ratios[o];
        let rho = profile
            .tau
            .iter()
            .map(|&tau| {
                let within = ratios
                    .iter()
                    .filter(|r| r.is_some_and(|r| r <= tau * (1.0 + 1e-12)))
                    .count();
                ratio(within, np)
            })
            .collect();
        profile.rho.insert(o.clone(), rho);
    }
    profile
}

/// optimizer → normalised area under ρ on a log τ axis:
/// (1/|P|) Σ_p max(0, ln τ_max − ln r_p) / ln τ_max (0 for unreached problems).
pub fn profile_scores(profile: &Profile) -> BTreeMap<String, f64> {
    let tau_max = profile.tau.last().copied().unwrap_or(4.0);
    let l = tau_max.ln();
    profile
        .ratios
        .iter()
        .map(|(o, ratios)| {
            let score = if ratios.is_empty() || l <= 0.0 {
                0.0
            } else {
                ratios
                    .iter()
                    .map(|r| r.map_or(0.0, |r| ((l - r.ln()) / l).max(0.0)))
                    .sum::<f64>()
                    / ratios.len() as f64
            };
            (o.clone(), score)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Verdicts

/// Welch's t of `winner` over `runner_up` (signed so that positive favours the winner) and the
/// confidence label (see the module documentation).
pub fn confidence(
    winner: &[f64],
    runner_up: &[f64],
    higher_is_better: bool,
) -> (Option<f64>, String) {
    let sign = if higher_is_better { 1.0 } else { -1.0 };
    let t = welch_t(winner, runner_up).map(|t| sign * t);
    let (Some(sw), Some(sr)) = (stat(winner), stat(runner_up)) else {
        return (t, "within noise".into());
    };
    let margin = sign * (sw.mean - sr.mean);
    if margin <= 0.0 {
        return (t, "within noise".into());
    }
    let beats = |a: f64, b: f64| if higher_is_better { a > b } else { a < b };
    let separated = winner.iter().filter(|x| x.is_finite()).all(|&w| {
        runner_up
            .iter()
            .filter(|x| x.is_finite())
            .all(|&r| beats(w, r))
    }) && ln_choose(sw.n + sr.n, sw.n) >= (20.0f64).ln() - 1e-12;
    let no_spread = sw.n >= 2 && sr.n >= 2 && sw.std == 0.0 && sr.std == 0.0;
    let label = match t {
        _ if separated || no_spread => "clear",
        Some(t) if t >= 3.0 => "clear",
        Some(t) if t >= 1.5 => "likely",
        _ => "within noise",
    };
    (t, label.into())
}

fn verdict(
    problem: &Problem,
    groups: &[&Group],
    metric: &str,
    steps_costs: &[f64],
    optimizers: &[String],
) -> Option<Verdict> {
    let higher = metric_higher_is_better(metric);
    let mut order: Vec<(usize, Stat)> = groups
        .iter()
        .enumerate()
        .filter_map(|(i, g)| final_stat(g, metric).map(|s| (i, *s)))
        .collect();
    order.sort_by(|a, b| {
        let by_mean = if higher {
            b.1.mean.total_cmp(&a.1.mean)
        } else {
            a.1.mean.total_cmp(&b.1.mean)
        };
        by_mean
            .then(a.1.std.total_cmp(&b.1.std))
            .then(a.0.cmp(&b.0))
    });
    let &(wi, ws) = order.first()?;
    let winner = groups[wi];
    let label = metric_label(metric);
    let mut v = Verdict {
        problem: problem.name.clone(),
        winner: winner.optimizer.clone(),
        ..Verdict::default()
    };
    match order.get(1) {
        None => {
            v.confidence = "within noise".into();
            v.seeds = (ws.n, 0);
            v.text = format!(
                "{} is the only optimizer with a final {label} on {}: {}.",
                winner.optimizer,
                problem.name,
                fmt_pm(metric, &ws)
            );
        }
        Some(&(ri, rs)) => {
            let runner = groups[ri];
            let (t, conf) = confidence(
                &seed_values(winner, metric),
                &seed_values(runner, metric),
                higher,
            );
            v.runner_up = Some(runner.optimizer.clone());
            v.margin = (ws.mean - rs.mean).abs();
            v.t = t;
            v.seeds = (ws.n, rs.n);
            let seeds = if ws.n == rs.n {
                format!("{} seed{}", ws.n, if ws.n == 1 { "" } else { "s" })
            } else {
                format!("{} vs {} seeds", ws.n, rs.n)
            };
            let why = match t {
                Some(t) => format!("t = {t:.1}, {seeds}"),
                None if ws.n < 2 || rs.n < 2 => format!("{seeds}, so no noise estimate"),
                None => format!("no spread over seeds, {seeds}"),
            };
            let ahead = if v.margin == 0.0 {
                format!("tied with {}", runner.optimizer)
            } else if is_accuracy(metric) {
                format!(
                    "{} ahead of {}",
                    fmt_margin(metric, v.margin),
                    runner.optimizer
                )
            } else {
                format!(
                    "{} lower than {}",
                    fmt_margin(metric, v.margin),
                    runner.optimizer
                )
            };
            v.text = format!(
                "{} wins {} with {}, {ahead} ({}); {conf} ({why}).",
                winner.optimizer,
                problem.name,
                fmt_with_label(metric, &ws),
                fmt_pm(metric, &rs),
            );
            v.confidence = conf;
        }
    }
    // Fastest to the target.
    // (Ties go to the winner, then to the study order.)
    let best = steps_costs
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_finite())
        .min_by(|a, b| {
            a.1.total_cmp(b.1)
                .then((a.0 != wi).cmp(&(b.0 != wi)))
                .then(a.0.cmp(&b.0))
        });
    if let (Some((fi, &fc)), Some(target)) = (best, problem.target) {
        v.fastest = Some(optimizers[fi].clone());
        if fi != wi {
            let what = format!(
                "{} {} {}",
                metric_label(&problem.target_metric),
                if metric_higher_is_better(&problem.target_metric) {
                    "≥"
                } else {
                    "≤"
                },
                fmt_value(&problem.target_metric, target)
            );
            let theirs = if steps_costs[wi].is_finite() {
                format!("{:.0} for {}", steps_costs[wi], winner.optimizer)
            } else {
                format!(
                    "{} reached it with {} of {} seeds",
                    winner.optimizer, winner.reached_target, winner.seeds
                )
            };
            v.text.push_str(&format!(
                " {} reached the target ({what}) fastest: {fc:.0} steps on average vs {theirs}.",
                optimizers[fi]
            ));
        }
    }
    Some(v)
}

// ---------------------------------------------------------------------------------------------
// Formatting

fn is_accuracy(metric: &str) -> bool {
    metric.contains("accuracy")
}

/// `test_accuracy` → `test accuracy`, `val_loss` → `validation loss`.
pub fn metric_label(metric: &str) -> String {
    metric.replacen("val_", "validation_", 1).replace('_', " ")
}

/// Three significant digits.
fn sig3(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    // Round to 3 significant digits first, so 0.00999999 prints as 0.0100.
    let x: f64 = format!("{x:.2e}").parse().unwrap_or(x);
    let d = (2 - x.abs().log10().floor() as i64).max(0) as usize;
    format!("{x:.d$}")
}

fn fmt_value(metric: &str, v: f64) -> String {
    if is_accuracy(metric) {
        format!("{:.1}%", 100.0 * v)
    } else {
        sig3(v)
    }
}

fn fmt_pm(metric: &str, s: &Stat) -> String {
    if is_accuracy(metric) {
        format!("{:.1} ± {:.1}%", 100.0 * s.mean, 100.0 * s.std)
    } else {
        format!("{} ± {}", sig3(s.mean), sig3(s.std))
    }
}

fn fmt_with_label(metric: &str, s: &Stat) -> String {
    if is_accuracy(metric) {
        format!("{} {}", fmt_pm(metric, s), metric_label(metric))
    } else {
        format!("{} {}", metric_label(metric), fmt_pm(metric, s))
    }
}

fn fmt_margin(metric: &str, m: f64) -> String {
    if is_accuracy(metric) {
        format!("{:.1} points", 100.0 * m)
    } else {
        sig3(m)
    }
}

fn fmt_list(items: &[String]) -> String {
    items.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Characters

fn characters(
    study: &Study,
    groups: &[Group],
    metric: &str,
    verdicts: &[Verdict],
    ranking: &[RankRow],
    steps_costs: &[Vec<f64>],
    ranked_problems: usize,
) -> Vec<Character> {
    let opts: Vec<&str> = study.optimizers.iter().map(|o| o.label.as_str()).collect();
    let no = opts.len();
    let np = study.problems.len();
    let g = |pi: usize, oi: usize| &groups[pi * no + oi];
    let higher = metric_higher_is_better(metric);
    let label = metric_label(metric);
    let tmetric = &study.tuning.metric;
    let tlabel = metric_label(tmetric);
    let thigher = study.tuning.higher_is_better;
    // "Within tolerance of the best": 1 point for accuracies, 5% (relative) otherwise.
    let acc_metric = is_accuracy(tmetric);
    let tol_text = if acc_metric { "1 point" } else { "5%" };
    let within_tol = |best: f64, x: f64| {
        let tol = if acc_metric { 0.01 } else { 0.05 * best.abs() };
        (best - x).abs() <= tol + 1e-12
    };
    let better = |a: f64, b: f64, hi: bool| if hi { a > b } else { a < b };

    // Per problem: who is best/worst at what (ties share).
    let extreme = |vals: &[Option<f64>], hi: bool| -> Option<f64> {
        vals.iter()
            .flatten()
            .copied()
            .reduce(|a, b| if better(b, a, hi) { b } else { a })
    };
    let count_with = |vals: &[Option<f64>]| vals.iter().filter(|v| v.is_some()).count();

    let mut out: Vec<Character> = opts
        .iter()
        .map(|o| Character {
            optimizer: o.to_string(),
            ..Character::default()
        })
        .collect();

    // Totals over the study (for "never diverged" / reliability).
    let tot = |oi: usize| {
        (0..np).fold((0usize, 0usize, 0usize), |(d, v, f), pi| {
            let x = g(pi, oi);
            (d + x.runs - x.failed, v + x.diverged, f + x.failed)
        })
    };
    let all_div: usize = (0..no).map(|oi| tot(oi).1).sum();
    let all_done: usize = (0..no).map(|oi| tot(oi).0).sum();

    // Per-problem comparisons.
    let mut fastest: Vec<Vec<String>> = vec![Vec::new(); no];
    let mut steps_problems = 0;
    let mut fastest_s: Vec<Vec<String>> = vec![Vec::new(); no];
    let mut secs_problems = 0;
    let mut missed: Vec<Vec<String>> = vec![Vec::new(); no];
    let mut last: Vec<Vec<String>> = vec![Vec::new(); no];
    let mut gap_small: Vec<Vec<String>> = vec![Vec::new(); no];
    let mut gap_large: Vec<Vec<String>> = vec![Vec::new(); no];
    let mut gap_problems = 0;
    let mut k1_best: Vec<Vec<String>> = vec![Vec::new(); no];
    let mut k1_problems = 0;
    let mut gains: Vec<Vec<f64>> = vec![Vec::new(); no];
    let mut within = vec![(0usize, 0usize); no];
    for (pi, problem) in study.problems.iter().enumerate() {
        // Steps to target.
        let steps: Vec<Option<f64>> = steps_costs[pi]
            .iter()
            .map(|c| c.is_finite().then_some(*c))
            .collect();
        if count_with(&steps) >= 2 {
            steps_problems += 1;
            let best = extreme(&steps, false).expect("some");
            for oi in 0..no {
                if steps[oi] == Some(best) {
                    fastest[oi].push(format!("{}: {best:.0} steps", problem.name));
                }
            }
        }
        if let Some(target) = problem.target {
            if count_with(&steps) >= 1 {
                for oi in 0..no {
                    let x = g(pi, oi);
                    if steps[oi].is_none() && x.seeds > 0 {
                        missed[oi].push(format!(
                            "did not reach the target ({} {} {}) with every seed on {} ({} of {} seeds), while {} other optimizer{} did",
                            metric_label(&problem.target_metric),
                            if metric_higher_is_better(&problem.target_metric) { "≥" } else { "≤" },
                            fmt_value(&problem.target_metric, target),
                            problem.name,
                            x.reached_target,
                            x.seeds,
                            count_with(&steps),
                            if count_with(&steps) == 1 { "" } else { "s" },
                        ));
                    }
                }
            }
        }
        let secs: Vec<Option<f64>> = (0..no)
            .map(|oi| steps[oi].and(g(pi, oi).seconds_to_target.map(|s| s.mean)))
            .collect();
        if count_with(&secs) >= 2 {
            secs_problems += 1;
            let best = extreme(&secs, false).expect("some");
            for oi in 0..no {
                if secs[oi] == Some(best) {
                    fastest_s[oi].push(format!("{}: {best:.1} s", problem.name));
                }
            }
        }
        // Worst final metric.
        let finals: Vec<Option<f64>> = (0..no)
            .map(|oi| final_stat(g(pi, oi), metric).map(|s| s.mean))
            .collect();
        if count_with(&finals) >= 3 {
            let worst = extreme(&finals, !higher).expect("some");
            for oi in 0..no {
                if finals[oi] == Some(worst) {
                    last[oi].push(format!(
                        "{} ({})",
                        problem.name,
                        fmt_pm(metric, final_stat(g(pi, oi), metric).expect("some"))
                    ));
                }
            }
        }
        // Generalisation gap.
        let gaps: Vec<Option<f64>> = (0..no)
            .map(|oi| g(pi, oi).generalisation_gap.map(|s| s.mean))
            .collect();
        if count_with(&gaps) >= 3 {
            gap_problems += 1;
            let small = extreme(&gaps, false).expect("some");
            let large = extreme(&gaps, true).expect("some");
            if small != large {
                for oi in 0..no {
                    if gaps[oi] == Some(small) {
                        gap_small[oi].push(format!("{}: {}", problem.name, sig3(small)));
                    }
                    if gaps[oi] == Some(large) {
                        gap_large[oi].push(format!("{}: {}", problem.name, sig3(large)));
                    }
                }
            }
        }
        // Tuneability after 1 trial; gain from 1 to K trials; lr sensitivity.
        let k1: Vec<Option<f64>> = (0..no)
            .map(|oi| g(pi, oi).tuneability.first().copied())
            .collect();
        if count_with(&k1) >= 2 {
            k1_problems += 1;
            let best = extreme(&k1, thigher).expect("some");
            for oi in 0..no {
                if k1[oi] == Some(best) {
                    k1_best[oi].push(format!("{}: {}", problem.name, fmt_value(tmetric, best)));
                }
            }
        }
        for oi in 0..no {
            let x = g(pi, oi);
            if x.tuneability.len() >= 2 {
                let sign = if thigher { 1.0 } else { -1.0 };
                gains[oi].push(sign * (x.tuneability[x.tuneability.len() - 1] - x.tuneability[0]));
            }
            let scores: Vec<f64> = x.trials.iter().filter_map(|t| t.score).collect();
            if let Some(best) = extreme(
                &scores.iter().map(|&s| Some(s)).collect::<Vec<_>>(),
                thigher,
            ) {
                within[oi].0 += scores.iter().filter(|&&s| within_tol(best, s)).count();
            }
            within[oi].1 += x.trials.len();
        }
    }
    let with_trials: Vec<usize> = (0..no).filter(|&oi| within[oi].1 >= 2).collect();
    let frac = |oi: usize| ratio(within[oi].0, within[oi].1);
    let (most_robust, least_robust) = if with_trials.len() >= 2 {
        let hi = with_trials
            .iter()
            .map(|&o| frac(o))
            .fold(f64::NEG_INFINITY, f64::max);
        let lo = with_trials
            .iter()
            .map(|&o| frac(o))
            .fold(f64::INFINITY, f64::min);
        if hi > lo {
            (Some(hi), Some(lo))
        } else {
            (None, None)
        }
    } else {
        (None, None)
    };
    let mean_gain = |oi: usize| {
        (!gains[oi].is_empty()).then(|| gains[oi].iter().sum::<f64>() / gains[oi].len() as f64)
    };
    let gain_vals: Vec<Option<f64>> = (0..no).map(mean_gain).collect();
    let best_gain = (count_with(&gain_vals) >= 2)
        .then(|| extreme(&gain_vals, true))
        .flatten()
        .filter(|&x| x > 0.0);

    for (oi, c) in out.iter_mut().enumerate() {
        let o = opts[oi];
        let (done, div, failed) = tot(oi);
        // Strengths.
        let won: Vec<String> = verdicts
            .iter()
            .filter(|v| v.winner == o && v.runner_up.is_some())
            .map(|v| {
                let pi = study
                    .problems
                    .iter()
                    .position(|p| p.name == v.problem)
                    .unwrap_or(0);
                let s = final_stat(g(pi, oi), metric).copied().unwrap_or_default();
                format!("{} ({}, {})", v.problem, fmt_pm(metric, &s), v.confidence)
            })
            .collect();
        if !won.is_empty() {
            c.strengths.push(format!(
                "highest mean {label} on {} of {} problems: {}",
                won.len(),
                verdicts.len(),
                fmt_list(&won)
            ));
        }
        if !fastest[oi].is_empty() {
            c.strengths.push(format!(
                "fastest to target on {} of {} problems ({})",
                fastest[oi].len(),
                steps_problems,
                fmt_list(&fastest[oi])
            ));
        }
        if done > 0 && div == 0 {
            c.strengths.push(format!("never diverged in {done} runs"));
        }
        if no >= 2 && ranked_problems > 0 && ranking.first().is_some_and(|r| r.optimizer == o) {
            let r = &ranking[0];
            let second = ranking.get(1).map(|x| x.mean_rank).unwrap_or(r.mean_rank);
            if r.mean_rank < second {
                c.strengths.push(format!(
                    "best overall mean rank by {label}: {:.1} over {ranked_problems} problem{}",
                    r.mean_rank,
                    if ranked_problems == 1 { "" } else { "s" }
                ));
            }
        }
        if !gap_small[oi].is_empty() {
            c.strengths.push(format!(
                "smallest generalisation gap (test − train loss) on {} of {gap_problems} problems ({})",
                gap_small[oi].len(),
                fmt_list(&gap_small[oi])
            ));
        }
        if most_robust.is_some_and(|m| within[oi].1 >= 2 && frac(oi) == m) {
            c.strengths.push(format!(
                "least sensitive to its hyperparameters: {} of {} tuning trials within {tol_text} of its best {tlabel}",
                within[oi].0, within[oi].1
            ));
        }
        // Weaknesses.
        if div > 0 {
            // The lr clause only when every diverged trial or seed has a known lr.
            let mut lrs = Vec::new();
            let mut unknown = false;
            for pi in 0..np {
                let x = g(pi, oi);
                let mut push = |lr: Option<f64>| match lr {
                    Some(l) => lrs.push(l),
                    None => unknown = true,
                };
                for t in x.trials.iter().filter(|t| t.diverged) {
                    push(t.lr);
                }
                if x.seeds_diverged > 0 {
                    push(x.best_params.get("lr").and_then(|v| v.as_f64()));
                }
            }
            let mut s = format!("diverged in {div} of {done} runs");
            if !unknown && !lrs.is_empty() {
                let lo = lrs.iter().copied().fold(f64::INFINITY, f64::min);
                s.push_str(&format!(", all at lr ≥ {}", sig3(lo)));
            }
            c.weaknesses.push(s);
        }
        if failed > 0 {
            c.weaknesses.push(format!(
                "{failed} of {} runs failed (crashed)",
                done + failed
            ));
        }
        if !last[oi].is_empty() {
            c.weaknesses
                .push(format!("worst {label} on {}", fmt_list(&last[oi])));
        }
        c.weaknesses.extend(missed[oi].iter().cloned());
        if !gap_large[oi].is_empty() {
            c.weaknesses.push(format!(
                "largest generalisation gap (test − train loss) on {} of {gap_problems} problems ({})",
                gap_large[oi].len(),
                fmt_list(&gap_large[oi])
            ));
        }
        if least_robust.is_some_and(|m| within[oi].1 >= 2 && frac(oi) == m) {
            c.weaknesses.push(format!(
                "widest hyperparameter sensitivity: only {} of {} tuning trials within {tol_text} of its best {tlabel}",
                within[oi].0, within[oi].1
            ));
        }
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        let mut seed_total = 0;
        for pi in 0..np {
            let x = g(pi, oi);
            seed_total += x.seeds;
            for (k, n) in &x.findings {
                if k != "converged" {
                    *kinds.entry(k.as_str()).or_insert(0) += n;
                }
            }
        }
        if let Some((k, n)) = kinds.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) {
            c.weaknesses.push(format!(
                "the doctor reported {} in {n} of {seed_total} runs of its chosen settings",
                k.replace('_', " ")
            ));
        }
        // Fits.
        let trial_div: usize = (0..np)
            .map(|pi| g(pi, oi).trials.iter().filter(|t| t.diverged).count())
            .sum();
        if !k1_best[oi].is_empty() && trial_div == 0 {
            c.fits.push(format!(
                "a safe default when the tuning budget is small: highest expected {tlabel} after 1 random trial on {} of {k1_problems} problems ({}), and no trial diverged",
                k1_best[oi].len(),
                fmt_list(&k1_best[oi])
            ));
        }
        if let (Some(best), Some(mine)) = (best_gain, gain_vals[oi]) {
            if mine == best {
                let k = (0..np)
                    .map(|pi| g(pi, oi).tuneability.len())
                    .max()
                    .unwrap_or(0);
                c.fits.push(format!(
                    "rewards a tuning budget: its expected best {tlabel} improves by {} from 1 to {k} trials (mean over {} problems), the most of any optimizer",
                    fmt_margin(tmetric, mine),
                    gains[oi].len()
                ));
            }
        }
        if !fastest_s[oi].is_empty() {
            c.fits.push(format!(
                "when wall-clock time matters: fastest to target in seconds on {} of {secs_problems} problems ({})",
                fastest_s[oi].len(),
                fmt_list(&fastest_s[oi])
            ));
        }
        if done > 0 && div == 0 && all_div > 0 {
            c.fits.push(format!(
                "when a run must not blow up: no divergence in {done} runs, while the other optimizers diverged in {all_div} of {} runs",
                all_done - done
            ));
        }
    }
    out
}
