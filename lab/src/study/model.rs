//! What a study is: its problems, its optimizers with their search spaces, its seeds and its
//! tuning protocol, as read from a study file (see [`crate::study`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use train::Metric;

use super::key::canonical_json;
use super::prune::Prune;

/// A problem: a base run config (data + model + epochs) that every optimizer trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub name: String,
    /// The base run config as a TOML table (its `[optimizer]` is replaced per run).
    pub config: toml::Table,
    /// The metric whose target marks "reached" (`test_accuracy`, `val_loss`, ...).
    pub target_metric: Metric,
    /// The target value (reached when ≥ for accuracies, ≤ for losses).
    pub target: Option<f64>,
}

/// How one hyperparameter is searched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Space {
    /// A fixed value.
    Fixed(toml::Value),
    /// A grid of values (a TOML array).
    Grid(Vec<toml::Value>),
    /// Uniform in [lo, hi].
    Uniform(f64, f64),
    /// Log-uniform in [lo, hi].
    LogUniform(f64, f64),
    /// Log-uniform in [s/10^decades, s·10^decades] around the learning-rate range test's
    /// suggestion `s` for each problem ([`crate::lr_range`]); `fallback` = [lo, hi] when the test
    /// gives no clear answer (without it, no answer is an error).
    LrFind {
        decades: f64,
        fallback: Option<(f64, f64)>,
    },
}

/// The log range an [`Space::LrFind`] of one problem × optimizer resolved to (stored with the
/// study, so that a resumed study samples the same learning rates).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrRange {
    /// lr-find's suggestion (`None`: no clear answer, the range is the space's fallback).
    pub suggestion: Option<f64>,
    pub lo: f64,
    pub hi: f64,
}

/// An optimizer of the study and its search space (in a study with factors: one arm, an
/// optimizer at one level of every factor).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpace {
    /// The study's label (unique): `sgd`, `momentum`, `nesterov`, ...
    pub label: String,
    /// The `[optimizer] name` gradlab trains with.
    pub name: String,
    /// Hyperparameter → space, in file order (`lr`, `momentum`, `betas`, `weight_decay`, ...).
    /// Searched keys of the schedule appear here as `schedule.KEY`.
    pub space: Vec<(String, Space)>,
    /// An optional `[schedule]` table, fixed or with searched keys (the searched ones are in
    /// `space` as `schedule.KEY`; this table holds the fixed ones).
    pub schedule: Option<toml::Table>,
    /// In a study with factors: the optimizer and factor levels this arm is, and their
    /// overrides (left out of the stored definition otherwise, so older studies resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<Arm>,
}

impl OptimizerSpace {
    /// The study file's optimizer label (the arm's optimizer, or the label itself).
    pub fn base_label(&self) -> &str {
        self.arm
            .as_ref()
            .map_or(&self.label, |a| a.optimizer.as_str())
    }
}

/// How settings are chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Protocol {
    /// Each optimizer's defaults (fixed values in its space; the first grid value; the
    /// geometric middle of a range), once per seed.
    Defaults,
    /// `trials` settings per optimizer (the grid in order, or random samples) at the tuning
    /// seed; the best by `metric` is re-run at every seed.
    Budget { trials: u32 },
}

/// How the ranges of a search space (`uniform`, `log_uniform`) are sampled; grids always walk
/// their product in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Search {
    /// Independent draws from a ChaCha8 stream seeded by (`sample_seed`, label).
    #[default]
    Random,
    /// The Halton sequence (bases 2, 3, 5, … over the searched ranges, in the space's order),
    /// points `sample_seed + 1`, `sample_seed + 2`, …: deterministic and low-discrepancy, so a
    /// small budget covers the ranges more evenly than random draws.
    Halton,
}

impl Search {
    pub fn is_random(&self) -> bool {
        *self == Search::Random
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    pub protocol: Protocol,
    /// The metric that picks the best trial (`val_accuracy` by default) and its direction.
    pub metric: Metric,
    pub higher_is_better: bool,
    /// Seed of the random search (which settings are sampled).
    pub sample_seed: u64,
    /// Random or quasi-random (Halton) sampling of ranges. Left out of the stored definition
    /// when random, so studies stored before it existed resume unchanged.
    #[serde(default, skip_serializing_if = "Search::is_random")]
    pub search: Search,
    /// Pruning of hopeless trials ([`super::prune`]). Left out of the stored definition when
    /// off, so studies stored before it existed resume unchanged.
    #[serde(default, skip_serializing_if = "Prune::is_none")]
    pub prune: Prune,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Study {
    pub name: String,
    /// The file it came from (for messages), or `<default study>`.
    pub source: String,
    /// The exact text it was read from (stored with the study, so a changed file is noticed).
    pub text: String,
    pub seeds: Vec<u64>,
    pub problems: Vec<Problem>,
    /// The study's arms: its optimizers, or with factors every optimizer × level combination
    /// of the design ([`crate::study::factors`]).
    pub optimizers: Vec<OptimizerSpace>,
    pub tuning: Tuning,
    /// Factors varied besides the optimizer (empty: an optimizer study).
    #[serde(default)]
    pub factors: Vec<Factor>,
    #[serde(default)]
    pub design: Design,
    /// The resolved [`Space::LrFind`] ranges, by `problem/optimizer label` (empty until
    /// [`crate::lr_range::resolve`] has run; left out of the definition when empty).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lr_found: BTreeMap<String, LrRange>,
}

impl Study {
    /// The resolved study as canonical JSON (problem configs as read, spaces, seeds, tuning):
    /// unlike `text`, it changes when a referenced run config file changes.
    pub fn definition(&self) -> String {
        let v = serde_json::json!({
            "name": self.name,
            "seeds": self.seeds,
            "problems": self.problems,
            "optimizers": self.optimizers,
            "tuning": self.tuning,
        });
        let mut v = v;
        if !self.factors.is_empty() {
            v["factors"] = serde_json::json!(self.factors);
            v["design"] = serde_json::json!(self.design);
        }
        if !self.lr_found.is_empty() {
            v["lr_found"] = serde_json::json!(self.lr_found);
        }
        let mut s = String::new();
        canonical_json(&v, &mut s);
        s
    }

    /// The problem named `name`.
    pub fn problem(&self, name: &str) -> Option<&Problem> {
        self.problems.iter().find(|p| p.name == name)
    }

    /// The key of `lr_found` for a problem × optimizer.
    pub fn lr_found_key(problem: &str, label: &str) -> String {
        format!("{problem}/{label}")
    }

    /// Whether an optimizer searches a key with [`Space::LrFind`].
    pub fn uses_lr_find(&self) -> bool {
        self.optimizers.iter().any(|o| {
            o.space
                .iter()
                .any(|(_, s)| matches!(s, Space::LrFind { .. }))
        })
    }

    /// The optimizer labelled `label`.
    pub fn optimizer(&self, label: &str) -> Option<&OptimizerSpace> {
        self.optimizers.iter().find(|o| o.label == label)
    }
}

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
