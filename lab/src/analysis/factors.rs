//! Factor effects: what each level of each factor does to the final metric, divergence, the
//! generalisation gap and the doctor's findings, per problem and optimizer, and whether two
//! factors interact.
//!
//! Rules (the report cites them):
//! - **Arms of a level**: the arms of the optimizer whose level of the factor is L. Each is
//!   paired with its **reference arm**, the same arm with the factor at its first level (in a
//!   factorial design every combination of the other factors; in an ablation the baseline).
//! - **Effect** of L = mean over pairs of (arm mean − reference arm mean) of the final metric
//!   (each arm's mean over its final seeds); in points for accuracies.
//! - **Confidence** of an effect: the verdict rule ([`super::confidence`]) on the pooled seed
//!   values of L's arms against those of their reference arms (better side first): `not enough
//!   seeds` with fewer than 3 seeds a side or no spread; `clear`, `likely`, `within noise`.
//!   Pooling over the other factors' levels adds their effects to the spread, so the test is
//!   conservative in a factorial design.
//! - **Steps to target** of a level: over its arms' final seeds that reached the problem's
//!   target (with how many did). **Divergence** of a level: diverged / done runs over its arms' runs (trials and seeds);
//!   **gap**: test − train loss over its arms' final seeds; **findings**: per doctor finding,
//!   the final seeds of its arms where it fired, out of their seeds; **curve**: the final
//!   metric per epoch over the same seeds (mean, std, min–max).
//! - **Interaction** (factorial designs, every pair of factors, per problem and optimizer):
//!   cells = the pooled final seed values of the arms at (level i, level j) (pooled over any
//!   other factor), tested by the two-way ANOVA interaction F ([`super::interaction_f`],
//!   least-squares additive model against cell means), p from Fisher's F distribution;
//!   `interact` when p < 0.05, and `not enough seeds` when a cell has fewer than 3 values.
//! - When every final seed of one side diverged (so it has no final metric) and the other side
//!   has at least 3 finished seeds, the difference is `clear` in the finished side's favour.
//! - **Claims**: a level with a `claim` is `supported` when it beats the reference and the
//!   effect is `clear` or `likely`, `contradicted` when it loses and is `clear` or `likely`,
//!   `not shown` within noise, `not enough seeds` otherwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use train::Metric;

use super::groups::{band, seed_values};
use super::model::{Band, Group, Stat};
use super::stats::{interaction_f, stat};
use super::verdicts::{confidence, MIN_SEEDS, NOT_ENOUGH_SEEDS};
use crate::study::Arm;
use crate::{RunRecord, Study};

/// An arm and its group on one problem.
type ArmGroup<'a> = (&'a Arm, &'a Group);

/// One level of a factor on one problem with one optimizer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelEffect {
    pub level: String,
    /// The arms (labels) pooled for this level.
    pub arms: Vec<String>,
    /// The final metric over the pooled final seeds of those arms.
    pub metric: Option<Stat>,
    /// Mean over pairs of (arm mean − reference arm mean); 0 for the reference level.
    pub effect: Option<f64>,
    /// Welch's t of the effect (positive: this level is better), and its confidence label
    /// (`reference` for the reference level).
    pub t: Option<f64>,
    pub confidence: String,
    pub diverged: usize,
    /// Done runs of the arms (trials and seeds).
    pub runs: usize,
    pub divergence_rate: f64,
    pub gap: Option<Stat>,
    /// Steps to the problem's target over the final seeds that reached it, and how many did.
    #[serde(default)]
    pub steps_to_target: Option<Stat>,
    #[serde(default)]
    pub reached_target: usize,
    /// Doctor finding → final seeds of the arms where it fired.
    pub findings: BTreeMap<String, usize>,
    /// Final seeds of the arms (the denominator of `findings`), and how many diverged.
    pub seeds: usize,
    #[serde(default)]
    pub seeds_diverged: usize,
    /// The level's claim (study file) and whether this measurement bears it out:
    /// `supported` (better than the reference, clear or likely), `contradicted` (worse, clear
    /// or likely), `not shown` (within noise) or `not enough seeds`.
    #[serde(default)]
    pub claim: Option<String>,
    #[serde(default)]
    pub claim_verdict: Option<String>,
    /// The final metric over epochs: per epoch, mean, std, min and max over the pooled final
    /// seeds of the level's arms (the report draws one curve per level with this band).
    #[serde(default)]
    pub curve: Band,
}

/// One factor's levels on one problem with one optimizer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FactorEffect {
    pub factor: String,
    pub problem: String,
    pub optimizer: String,
    pub reference: String,
    pub levels: Vec<LevelEffect>,
    /// One plain sentence per non-reference level.
    pub verdicts: Vec<String>,
}

/// A two-factor interaction table and its test.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub problem: String,
    pub optimizer: String,
    pub factors: (String, String),
    pub levels: (Vec<String>, Vec<String>),
    /// `cells[i][j]`: the final metric at level i of the first and j of the second factor.
    pub cells: Vec<Vec<Option<Stat>>>,
    /// (F, df₁, df₂, p) of the interaction test, when it can be computed.
    pub test: Option<(f64, usize, usize, f64)>,
    /// `interact`, `no evidence` or `not enough seeds`.
    pub label: String,
    pub text: String,
}

fn show_stat(metric: Metric, s: &Option<Stat>) -> String {
    match s {
        Some(s) if metric.is_accuracy() => {
            format!(
                "{:.1} ± {:.1}% over {} seeds",
                100.0 * s.mean,
                100.0 * s.std,
                s.n
            )
        }
        Some(s) => format!(
            "{} ± {} over {} seeds",
            present::sig(s.mean, 3),
            present::sig(s.std, 2),
            s.n
        ),
        None => "no final result".into(),
    }
}

fn level_stats(
    level: &str,
    arms: &[(&Arm, &Group)],
    metric: Metric,
    runs: &[&RunRecord],
) -> LevelEffect {
    let keys: std::collections::BTreeSet<&str> = arms
        .iter()
        .flat_map(|(_, g)| g.seed_runs.iter().map(|s| s.key.as_str()))
        .collect();
    let seed_runs: Vec<&RunRecord> = runs
        .iter()
        .copied()
        .filter(|r| keys.contains(r.spec.key.as_str()))
        .collect();
    let mut e = LevelEffect {
        level: level.to_string(),
        curve: band(&seed_runs, metric),
        ..LevelEffect::default()
    };
    let mut vals = Vec::new();
    let mut gaps = Vec::new();
    let mut steps = Vec::new();
    for (_, g) in arms {
        steps.extend(
            g.seed_runs
                .iter()
                .filter_map(|s| s.steps_to_target.map(|x| x as f64)),
        );
        e.reached_target += g.reached_target;
        e.arms.push(g.optimizer.clone());
        vals.extend(seed_values(g, metric));
        gaps.extend(
            g.seed_runs
                .iter()
                .filter_map(|s| Some(s.test_loss? - s.train_loss?)),
        );
        e.diverged += g.diverged;
        e.runs += g.runs - g.failed;
        e.seeds += g.seeds;
        e.seeds_diverged += g.seeds_diverged;
        for (k, n) in &g.findings {
            *e.findings.entry(k.clone()).or_insert(0) += n;
        }
    }
    e.metric = stat(&vals);
    e.gap = stat(&gaps);
    e.steps_to_target = stat(&steps);
    e.divergence_rate = if e.runs > 0 {
        e.diverged as f64 / e.runs as f64
    } else {
        0.0
    };
    e
}

/// The factor effects and interactions of a factor study (`groups` as the analysis built them,
/// one per problem × arm).
pub(super) fn factor_effects(
    study: &Study,
    groups: &[Group],
    metric: Metric,
    runs: &[&RunRecord],
) -> (Vec<FactorEffect>, Vec<Interaction>) {
    let mut effects = Vec::new();
    let mut interactions = Vec::new();
    if study.factors.is_empty() {
        return (effects, interactions);
    }
    let higher = metric.higher_is_better();
    let mut bases: Vec<&str> = Vec::new();
    for o in &study.optimizers {
        if !bases.contains(&o.base_label()) {
            bases.push(o.base_label());
        }
    }
    for p in &study.problems {
        for &base in &bases {
            let arms: Vec<(&Arm, &Group)> = study
                .optimizers
                .iter()
                .filter_map(|o| {
                    let arm = o.arm.as_ref().filter(|a| a.optimizer == base)?;
                    let g = groups
                        .iter()
                        .find(|g| g.problem == p.name && g.optimizer == o.label)?;
                    Some((arm, g))
                })
                .collect();
            for f in &study.factors {
                let reference = f.levels[0].name.as_str();
                // The reference arm of an arm: the same levels but this factor's first.
                let partner = |a: &Arm| {
                    arms.iter().copied().find(|(b, _)| {
                        b.levels.iter().all(|(bf, bl)| {
                            if bf == &f.name {
                                bl == reference
                            } else {
                                a.level(bf) == Some(bl.as_str())
                            }
                        })
                    })
                };
                let mut fe = FactorEffect {
                    factor: f.name.clone(),
                    problem: p.name.clone(),
                    optimizer: base.to_string(),
                    reference: reference.to_string(),
                    ..FactorEffect::default()
                };
                let mut ref_arms: Vec<(&Arm, &Group)> = Vec::new();
                let mut rows = Vec::new();
                for level in f.levels.iter().skip(1) {
                    let mine: Vec<(&Arm, &Group)> = arms
                        .iter()
                        .copied()
                        .filter(|(a, _)| a.level(&f.name) == Some(level.name.as_str()))
                        .collect();
                    let pairs: Vec<(ArmGroup, ArmGroup)> = mine
                        .iter()
                        .filter_map(|&x| partner(x.0).map(|y| (x, y)))
                        .collect();
                    let partners: Vec<(&Arm, &Group)> = pairs.iter().map(|p| p.1).collect();
                    for &pa in &partners {
                        if !ref_arms.iter().any(|r| r.1.optimizer == pa.1.optimizer) {
                            ref_arms.push(pa);
                        }
                    }
                    let mut e = level_stats(&level.name, &mine, metric, runs);
                    let diffs: Vec<f64> = pairs
                        .iter()
                        .filter_map(|(x, y)| {
                            let mx = stat(&seed_values(x.1, metric))?.mean;
                            let my = stat(&seed_values(y.1, metric))?.mean;
                            Some(mx - my)
                        })
                        .collect();
                    e.effect =
                        (!diffs.is_empty()).then(|| diffs.iter().sum::<f64>() / diffs.len() as f64);
                    let lv: Vec<f64> = mine
                        .iter()
                        .flat_map(|(_, g)| seed_values(g, metric))
                        .collect();
                    let rv: Vec<f64> = partners
                        .iter()
                        .flat_map(|(_, g)| seed_values(g, metric))
                        .collect();
                    let ref_div: usize = partners.iter().map(|(_, g)| g.seeds_diverged).sum();
                    // One side has no final metric because every final seed diverged: the
                    // comparison is then divergence itself (at least 3 seeds a side).
                    let all_diverged =
                        |vals: &[f64], div: usize| vals.is_empty() && div >= MIN_SEEDS;
                    let (better, (t, conf)) = if all_diverged(&rv, ref_div) && lv.len() >= MIN_SEEDS
                    {
                        (true, (None, "clear".to_string()))
                    } else if all_diverged(&lv, e.seeds_diverged) && rv.len() >= MIN_SEEDS {
                        (false, (None, "clear".to_string()))
                    } else {
                        let better = e.effect.is_some_and(|d| (d >= 0.0) == higher);
                        let tc = if better {
                            confidence(&lv, &rv, higher)
                        } else {
                            let (t, c) = confidence(&rv, &lv, higher);
                            (t.map(|t| -t), c)
                        };
                        (better, tc)
                    };
                    e.t = t;
                    e.confidence = conf;
                    if let Some(claim) = &level.claim {
                        e.claim = Some(claim.clone());
                        e.claim_verdict = Some(
                            match (e.confidence.as_str(), better) {
                                ("clear" | "likely", true) => "supported",
                                ("clear" | "likely", false) => "contradicted",
                                (NOT_ENOUGH_SEEDS, _) => NOT_ENOUGH_SEEDS,
                                _ => "not shown",
                            }
                            .to_string(),
                        );
                    }
                    rows.push((e, partners));
                }
                let mut ref_row = level_stats(reference, &ref_arms, metric, runs);
                ref_row.effect = Some(0.0);
                ref_row.confidence = "reference".into();
                fe.levels.push(ref_row);
                for (e, partners) in rows {
                    let r = level_stats(reference, &partners, metric, runs);
                    fe.verdicts.push(sentence(&fe, &e, &r, metric));
                    fe.levels.push(e);
                }
                effects.push(fe);
            }
            if study.design == crate::study::Design::Factorial {
                for (i, fa) in study.factors.iter().enumerate() {
                    for fb in &study.factors[i + 1..] {
                        interactions.push(interaction(
                            p.name.as_str(),
                            base,
                            fa,
                            fb,
                            &arms,
                            metric,
                        ));
                    }
                }
            }
        }
    }
    (effects, interactions)
}

fn sentence(fe: &FactorEffect, e: &LevelEffect, r: &LevelEffect, metric: Metric) -> String {
    let label = metric.label();
    let what = match e.effect {
        None => format!("{}={} has no final {label} to compare", fe.factor, e.level),
        Some(0.0) => format!("{}={} leaves final {label} unchanged", fe.factor, e.level),
        Some(d) => {
            let dir = if d > 0.0 { "raises" } else { "lowers" };
            let by = if metric.is_accuracy() {
                format!("{:.1} points", 100.0 * d.abs())
            } else {
                present::sig(d.abs(), 3)
            };
            format!("{}={} {dir} final {label} by {by}", fe.factor, e.level)
        }
    };
    let t = e.t.map(|t| format!(", t = {t:.1}")).unwrap_or_default();
    let mut s = format!(
        "On {} with {}, {what} vs {} ({} vs {}); {}{t}.",
        fe.problem,
        fe.optimizer,
        fe.reference,
        show_stat(metric, &e.metric),
        show_stat(metric, &r.metric),
        e.confidence
    );
    if e.seeds_diverged + r.seeds_diverged > 0 {
        s.push_str(&format!(
            " Final seeds diverged: {} of {} (vs {} of {}).",
            e.seeds_diverged, e.seeds, r.seeds_diverged, r.seeds
        ));
    }
    if e.diverged + r.diverged > 0 {
        s.push_str(&format!(
            " Diverged in {} of {} runs (vs {} of {}).",
            e.diverged, e.runs, r.diverged, r.runs
        ));
    }
    let kinds: std::collections::BTreeSet<&String> =
        e.findings.keys().chain(r.findings.keys()).collect();
    for k in kinds {
        let (a, b) = (
            e.findings.get(k).copied().unwrap_or(0),
            r.findings.get(k).copied().unwrap_or(0),
        );
        if a == b || k == "converged" {
            continue;
        }
        let verb = if a < b { "removed" } else { "brought" };
        s.push_str(&format!(
            " The doctor's `{k}`: {a} of {} seeds vs {b} of {} ({verb}).",
            e.seeds, r.seeds
        ));
    }
    if let (Some(c), Some(v)) = (&e.claim, &e.claim_verdict) {
        s.push_str(&format!(" Claim \"{c}\": {v}."));
    }
    s
}

fn interaction(
    problem: &str,
    base: &str,
    fa: &crate::study::Factor,
    fb: &crate::study::Factor,
    arms: &[(&Arm, &Group)],
    metric: Metric,
) -> Interaction {
    let cell_values = |la: &str, lb: &str| -> Vec<f64> {
        arms.iter()
            .filter(|(a, _)| a.level(&fa.name) == Some(la) && a.level(&fb.name) == Some(lb))
            .flat_map(|(_, g)| seed_values(g, metric))
            .collect()
    };
    let values: Vec<Vec<Vec<f64>>> = fa
        .levels
        .iter()
        .map(|la| {
            fb.levels
                .iter()
                .map(|lb| cell_values(&la.name, &lb.name))
                .collect()
        })
        .collect();
    let cells: Vec<Vec<Option<Stat>>> = values
        .iter()
        .map(|row| row.iter().map(|c| stat(c)).collect())
        .collect();
    let test = interaction_f(&values);
    let smallest = values.iter().flatten().map(Vec::len).min().unwrap_or(0);
    let (label, why) = match test {
        None => (
            NOT_ENOUGH_SEEDS,
            "the test needs a value in every cell and spread within cells".to_string(),
        ),
        Some((f, d1, d2, p)) => {
            let stats = format!(
                "interaction F({d1}, {d2}) = {f:.2}, p = {}",
                present::sig(p, 2)
            );
            if smallest < MIN_SEEDS {
                (
                    NOT_ENOUGH_SEEDS,
                    format!("{stats}, but the smallest cell has {smallest} seeds"),
                )
            } else if p < 0.05 {
                ("interact", stats)
            } else {
                ("no evidence", stats)
            }
        }
    };
    let text = match label {
        "interact" => format!(
            "On {problem} with {base}, the effect of {} depends on {} ({why}).",
            fa.name, fb.name
        ),
        "no evidence" => format!(
            "On {problem} with {base}, no evidence that {} and {} interact ({why}): their effects add up.",
            fa.name, fb.name
        ),
        _ => format!(
            "On {problem} with {base}, {} × {}: not enough seeds to test the interaction ({why}).",
            fa.name, fb.name
        ),
    };
    Interaction {
        problem: problem.to_string(),
        optimizer: base.to_string(),
        factors: (fa.name.clone(), fb.name.clone()),
        levels: (
            fa.levels.iter().map(|l| l.name.clone()).collect(),
            fb.levels.iter().map(|l| l.name.clone()).collect(),
        ),
        cells,
        test,
        label: label.to_string(),
        text,
    }
}
