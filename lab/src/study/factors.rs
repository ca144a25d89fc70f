//! Factors: what a study varies besides the optimizer — initialisation, activation,
//! normalisation, dropout, weight decay, residual connections, batch size, early stopping, any
//! run config key — and the arms (optimizer × levels) they expand into.
//!
//! ```toml
//! design = "factorial"         # every combination of levels; or "ablation": the baseline (each
//!                              # factor's first level) and one factor changed at a time
//! [[factors]]
//! name = "norm"
//! levels = [
//!   { name = "none", set = [] },                                   # the first: the reference
//!   { name = "batchnorm", set = ["model.normalization=batchnorm"],
//!     claim = "BatchNorm cures vanishing gradients" },   # optional: checked against the reference
//! ]
//! [[factors]]
//! name = "init"
//! levels = [
//!   { name = "default", set = [] },
//!   { name = "he", set = ["model.weight_init=\"kaiming_normal\"", "model.activation=relu"] },
//! ]
//! ```
//!
//! A level is a list of `--set`-style overrides (`key=value`) applied to each run's config after
//! the problem's config and the optimizer's setting, so a level may set `optimizer.*` keys the
//! optimizer's search space leaves alone (weight decay), `data.*` (batch size, augmentation),
//! `train.*` (early stopping), `clip.*`, `schedule.*`, and the model edits of
//! `train::edits` (`model.activation`, `model.normalization`, `model.dropout`,
//! `model.residual`) — the same config operations the doctor's remedies apply. Every level is
//! built into a complete run config on every problem and checked before any run starts, so an
//! unknown key fails with the reader's "did you mean" hint, naming the factor and level.
//!
//! The arms are labelled `OPTIMIZER+FACTOR=LEVEL+...` (every factor, in file order), and each
//! arm is tuned on its own (the budget protocol picks the learning rate per arm, so each
//! technique is compared at its own best setting). An arm samples the same settings as its
//! optimizer (the random stream is seeded by the optimizer's label), so the levels of one
//! optimizer are tried at the same learning rates.

use super::model::OptimizerSpace;
pub use super::model::{Arm, Design, Factor, Level};

/// The most arms (optimizers × level combinations) a study may have.
pub const MAX_ARMS: usize = 4096;

/// How many level combinations a design has (None on overflow).
pub fn combination_count(factors: &[Factor], design: Design) -> Option<usize> {
    match design {
        Design::Factorial => factors
            .iter()
            .try_fold(1usize, |a, f| a.checked_mul(f.levels.len())),
        Design::Ablation => factors
            .iter()
            .try_fold(1usize, |a, f| a.checked_add(f.levels.len() - 1)),
    }
}

/// The level combinations of a design, as level indices per factor.
pub fn combinations(factors: &[Factor], design: Design) -> Vec<Vec<usize>> {
    match design {
        Design::Factorial => {
            let mut out = vec![Vec::new()];
            for f in factors {
                out = out
                    .into_iter()
                    .flat_map(|c: Vec<usize>| {
                        (0..f.levels.len()).map(move |l| {
                            let mut c = c.clone();
                            c.push(l);
                            c
                        })
                    })
                    .collect();
            }
            out
        }
        Design::Ablation => {
            let mut out = vec![vec![0; factors.len()]];
            for (i, f) in factors.iter().enumerate() {
                for l in 1..f.levels.len() {
                    let mut c = vec![0; factors.len()];
                    c[i] = l;
                    out.push(c);
                }
            }
            out
        }
    }
}

/// The arms: every optimizer × every level combination of the design, optimizer-major.
pub fn expand(
    optimizers: &[OptimizerSpace],
    factors: &[Factor],
    design: Design,
) -> Vec<OptimizerSpace> {
    if factors.is_empty() {
        return optimizers.to_vec();
    }
    let combos = combinations(factors, design);
    let mut out = Vec::new();
    for o in optimizers {
        for c in &combos {
            let mut label = o.label.clone();
            let mut levels = Vec::new();
            let mut set = Vec::new();
            for (f, &l) in factors.iter().zip(c) {
                let level = &f.levels[l];
                label.push_str(&format!("+{}={}", f.name, level.name));
                levels.push((f.name.clone(), level.name.clone()));
                set.extend(level.set.iter().cloned());
            }
            out.push(OptimizerSpace {
                label,
                arm: Some(Arm {
                    optimizer: o.label.clone(),
                    levels,
                    set,
                }),
                ..o.clone()
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(name: &str, levels: &[&str]) -> Factor {
        Factor {
            name: name.into(),
            levels: levels
                .iter()
                .map(|l| Level {
                    name: l.to_string(),
                    set: vec![format!("x.{name}={l}")],
                    claim: None,
                })
                .collect(),
        }
    }

    #[test]
    fn factorial_and_ablation_combinations() {
        let fs = [factor("a", &["0", "1"]), factor("b", &["0", "1", "2"])];
        let full = combinations(&fs, Design::Factorial);
        assert_eq!(full.len(), 6);
        assert_eq!(full[0], vec![0, 0]);
        assert_eq!(full[1], vec![0, 1]);
        assert_eq!(full[5], vec![1, 2]);
        let abl = combinations(&fs, Design::Ablation);
        assert_eq!(abl, vec![vec![0, 0], vec![1, 0], vec![0, 1], vec![0, 2]]);
    }
}
