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

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::{OptimizerSpace, Study};
use super::reader::{show, Reader};
use crate::Result;

const FACTOR_KEYS: &[&str] = &["name", "levels"];
const LEVEL_KEYS: &[&str] = &["name", "set", "claim"];
/// Keys a level may not set: the study sets them per run.
const RESERVED: &[&str] = &["seed", "optimizer.name", "log.dir", "train.threads"];

/// How levels combine into arms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Every combination of every factor's levels.
    #[default]
    Factorial,
    /// The baseline (every factor at its first level), then each other level of each factor
    /// with the rest at the baseline.
    Ablation,
}

/// One level of a factor: a name and the overrides it applies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub name: String,
    /// `key=value` overrides, as `--set` takes them.
    pub set: Vec<String>,
    /// An optional claim this level is expected to bear out against the reference level
    /// ("BatchNorm cures vanishing gradients"): the analysis says whether the measurement
    /// supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

/// A factor and its levels (the first is the reference/baseline).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub name: String,
    pub levels: Vec<Level>,
}

/// What makes an arm of a factor study: its optimizer and its level of each factor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// The optimizer's label in the study file.
    pub optimizer: String,
    /// (factor, level) for every factor, in file order.
    pub levels: Vec<(String, String)>,
    /// The levels' overrides, in factor order.
    pub set: Vec<String>,
}

impl Arm {
    /// This arm's level of `factor`.
    pub fn level(&self, factor: &str) -> Option<&str> {
        self.levels
            .iter()
            .find(|(f, _)| f == factor)
            .map(|(_, l)| l.as_str())
    }
}

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

impl Reader {
    /// The top-level `[[factors]]` and `design` of a study file.
    pub(super) fn factors(&self, top: &toml::Table) -> Result<(Vec<Factor>, Design)> {
        let design = match top.get("design") {
            None => Design::Factorial,
            Some(toml::Value::String(s)) if s == "factorial" => Design::Factorial,
            Some(toml::Value::String(s)) if s == "ablation" => Design::Ablation,
            Some(v) => {
                return Err(self.bad(
                    "design",
                    show(v),
                    &present::choices::hint(v.as_str().unwrap_or(""), &["factorial", "ablation"]),
                ))
            }
        };
        let list = match top.get("factors") {
            None => {
                if top.contains_key("design") {
                    return Err(self.err("`design` needs [[factors]] to combine"));
                }
                return Ok((Vec::new(), design));
            }
            Some(toml::Value::Array(a)) if !a.is_empty() => a,
            Some(v) => {
                return Err(self.bad(
                    "factors",
                    show(v),
                    "expected one or more [[factors]] tables",
                ))
            }
        };
        let mut factors: Vec<Factor> = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let field = format!("factors[{i}]");
            let t = v
                .as_table()
                .ok_or_else(|| self.bad(&field, show(v), "expected a [[factors]] table"))?;
            self.check_keys(&field, t, FACTOR_KEYS)?;
            let name = match t.get("name") {
                Some(v) => self.name(&format!("{field}.name"), v)?,
                None => return Err(self.err(format!("{field}: missing `name`"))),
            };
            if factors.iter().any(|f| f.name == name) {
                return Err(self.bad(
                    &format!("{field}.name"),
                    format!("{name:?}"),
                    "duplicate factor name",
                ));
            }
            let levels = match t.get("levels") {
                Some(toml::Value::Array(a)) if a.len() >= 2 => a,
                Some(v) => {
                    return Err(self.bad(
                        &format!("{field}.levels"),
                        show(v),
                        "expected at least two levels, e.g. [{ name = \"off\", set = [] }, { name = \"on\", set = [\"model.normalization=batchnorm\"] }]",
                    ))
                }
                None => return Err(self.err(format!("{field} ({name}): missing `levels`"))),
            };
            let mut parsed: Vec<Level> = Vec::new();
            for (j, lv) in levels.iter().enumerate() {
                let lf = format!("{field}.levels[{j}]");
                let lt = lv.as_table().ok_or_else(|| {
                    self.bad(
                        &lf,
                        show(lv),
                        "expected { name = \"...\", set = [\"key=value\", ...] }",
                    )
                })?;
                self.check_keys(&lf, lt, LEVEL_KEYS)?;
                let lname = match lt.get("name") {
                    Some(v) => self.name(&format!("{lf}.name"), v)?,
                    None => return Err(self.err(format!("{lf}: missing `name`"))),
                };
                if parsed.iter().any(|l| l.name == lname) {
                    return Err(self.bad(
                        &format!("{lf}.name"),
                        format!("{lname:?}"),
                        "duplicate level name",
                    ));
                }
                let set: Vec<String> = match lt.get("set") {
                    None => Vec::new(),
                    Some(toml::Value::Array(a)) if a.iter().all(|x| x.is_str()) => a
                        .iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect(),
                    Some(v) => {
                        return Err(self.bad(
                            &format!("{lf}.set"),
                            show(v),
                            "expected a list of \"key=value\" strings",
                        ))
                    }
                };
                for (k, o) in set.iter().enumerate() {
                    let key = o.split_once('=').map(|(k, _)| k.trim());
                    match key {
                        None => {
                            return Err(self.bad(
                                &format!("{lf}.set[{k}]"),
                                format!("{o:?}"),
                                "expected key=value (e.g. \"model.dropout=0.2\")",
                            ))
                        }
                        Some(key) if RESERVED.contains(&key) => return Err(self.bad(
                            &format!("{lf}.set[{k}]"),
                            format!("{o:?}"),
                            "the study sets this key per run (seeds, optimizers); vary it there",
                        )),
                        Some(_) => {}
                    }
                }
                let claim = match lt.get("claim") {
                    None => None,
                    Some(toml::Value::String(c)) if !c.trim().is_empty() => {
                        Some(c.trim().to_string())
                    }
                    Some(v) => {
                        return Err(self.bad(
                            &format!("{lf}.claim"),
                            show(v),
                            "expected a sentence",
                        ))
                    }
                };
                if claim.is_some() && j == 0 {
                    return Err(self.err(format!(
                        "{lf}.claim: the first level is the reference the others are measured against; put the claim on the level that should beat it"
                    )));
                }
                parsed.push(Level {
                    name: lname,
                    set,
                    claim,
                });
            }
            factors.push(Factor {
                name,
                levels: parsed,
            });
        }
        Ok((factors, design))
    }

    /// Builds every level of every factor alone into a run config on every problem (with the
    /// first optimizer at its default setting) and checks it, so that a mistake names its
    /// factor and level; and refuses a level that sets a key an optimizer searches.
    pub(super) fn validate_levels(&self, s: &Study) -> Result<()> {
        for (i, f) in s.factors.iter().enumerate() {
            for (j, level) in f.levels.iter().enumerate() {
                let at = format!(
                    "factors[{i}] ({}) level `{}` (levels[{j}])",
                    f.name, level.name
                );
                for o in &s.optimizers {
                    for entry in &level.set {
                        let key = entry.split_once('=').map_or("", |(k, _)| k.trim());
                        if let Some(k) = key.strip_prefix("optimizer.") {
                            if o.space.iter().any(|(sk, _)| sk == k) {
                                return Err(self.err(format!(
                                    "{at}: sets optimizer.{k}, which optimizer `{}` searches or fixes in its own entry; set it in one place",
                                    o.label
                                )));
                            }
                        }
                    }
                }
                let Some(o) = s.optimizers.first() else {
                    continue;
                };
                let arm = OptimizerSpace {
                    arm: Some(Arm {
                        optimizer: o.label.clone(),
                        levels: vec![(f.name.clone(), level.name.clone())],
                        set: level.set.clone(),
                    }),
                    ..o.clone()
                };
                for (pi, p) in s.problems.iter().enumerate() {
                    let table = s
                        .config_table(p, &arm, &s.default_setting(o), s.seeds[0])
                        .map_err(|e| self.err(format!("{at}: {e}")))?;
                    let source = format!("{at} on problems[{pi}] ({})", p.name);
                    train::RunConfig::from_table(&source, table, Path::new("."), &p.name)
                        .map_err(|e| self.err(e.to_string()))?;
                }
            }
        }
        Ok(())
    }
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
