//! Each optimizer's strengths, weaknesses and fitting situations, as sentences built only from
//! the study's numbers.

use std::collections::BTreeMap;

use diagnose::Kind;
use present::sig;
use train::Metric;

use super::format::{fmt_list, fmt_margin, fmt_pm, fmt_target, fmt_value};
use super::groups::final_stat;
use super::model::{Character, Group, RankRow, Verdict};
use super::stats::ratio;
use crate::Study;

pub(super) fn characters(
    study: &Study,
    groups: &[Group],
    metric: Metric,
    verdicts: &[Verdict],
    ranking: &[RankRow],
    steps_costs: &[Vec<f64>],
    ranked_problems: usize,
) -> Vec<Character> {
    let opts: Vec<&str> = study.optimizers.iter().map(|o| o.label.as_str()).collect();
    let no = opts.len();
    let np = study.problems.len();
    let g = |pi: usize, oi: usize| &groups[pi * no + oi];
    let higher = metric.higher_is_better();
    let label = metric.label();
    let tmetric = study.tuning.metric;
    let tlabel = tmetric.label();
    let thigher = study.tuning.higher_is_better;
    // "Within tolerance of the best": 1 point for accuracies, 5% (relative) otherwise.
    let acc_metric = tmetric.is_accuracy();
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
                            "did not reach the target ({}) with every seed on {} ({} of {} seeds), while {} other optimizer{} did",
                            fmt_target(problem.target_metric, target),
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
                    fastest_s[oi].push(format!("{}: {} s", problem.name, present::sig(best, 2)));
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
                        gap_small[oi].push(format!("{}: {}", problem.name, sig(small, 3)));
                    }
                    if gaps[oi] == Some(large) {
                        gap_large[oi].push(format!("{}: {}", problem.name, sig(large, 3)));
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
                s.push_str(&format!(", all at lr ≥ {}", sig(lo, 3)));
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
                if Kind::from_name(k) != Some(Kind::Converged) {
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
