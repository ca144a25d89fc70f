//! Dolan–Moré performance profiles: the costs per problem and optimizer, ρ(τ) and the area
//! under it.

use std::collections::BTreeMap;

use super::model::{Group, Profile};
use super::stats::ratio;
use crate::study::Problem;

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

/// The steps-to-target cost: the mean when every seed reached the target, else ∞.
pub(super) fn steps_cost(problem: &Problem, g: &Group) -> f64 {
    match (&problem.target, &g.steps_to_target) {
        (Some(_), Some(s)) if !g.seed_runs.is_empty() && g.reached_target == g.seed_runs.len() => {
            s.mean
        }
        _ => f64::INFINITY,
    }
}

/// Shifts every finite cost so that the smallest one is positive (when some cost is ≤ 0): the
/// smallest becomes 1% of the spread (or 1e-3 without spread).
pub(super) fn shift_positive(costs: &mut [Vec<f64>]) {
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
