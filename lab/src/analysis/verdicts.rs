//! The winner of each problem, its margin over the runner-up and how sure that is.

use train::Metric;

use super::format::{fmt_margin, fmt_pm, fmt_target, fmt_with_label};
use super::groups::{final_stat, seed_values};
use super::model::{Group, Stat, Verdict};
use super::stats::{ln_choose, stat, welch_t};
use crate::study::Problem;

/// The fewest seeds per side behind a `clear`, `likely` or `within noise` label.
pub const MIN_SEEDS: usize = 3;
/// The label when the seeds cannot say (fewer than [`MIN_SEEDS`] a side, or no spread at all).
pub const NOT_ENOUGH_SEEDS: &str = "not enough seeds";

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
        return (t, NOT_ENOUGH_SEEDS.into());
    };
    // Seed noise cannot be estimated from fewer than 3 seeds a side, nor when neither side
    // varies at all (identical accuracies over seeds say nothing about how large the noise is).
    if sw.n < MIN_SEEDS || sr.n < MIN_SEEDS || (sw.std == 0.0 && sr.std == 0.0) {
        return (t, NOT_ENOUGH_SEEDS.into());
    }
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
    let label = match t {
        _ if separated => "clear",
        Some(t) if t >= 3.0 => "clear",
        Some(t) if t >= 1.5 => "likely",
        _ => "within noise",
    };
    (t, label.into())
}

pub(super) fn verdict(
    problem: &Problem,
    groups: &[&Group],
    metric: Metric,
    steps_costs: &[f64],
    optimizers: &[String],
) -> Option<Verdict> {
    let higher = metric.higher_is_better();
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
    let label = metric.label();
    let mut v = Verdict {
        problem: problem.name.clone(),
        winner: winner.optimizer.clone(),
        ..Verdict::default()
    };
    match order.get(1) {
        None => {
            v.confidence = NOT_ENOUGH_SEEDS.into();
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
            } else if metric.is_accuracy() {
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
            let what = fmt_target(problem.target_metric, target);
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
