//! Study files: problems, optimizers with search spaces, seeds and a tuning protocol.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Result, RunRecord, RunSpec};

/// A problem: a base run config (data + model + epochs) that every optimizer trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub name: String,
    /// The base run config as a TOML table (its `[optimizer]` is replaced per run).
    pub config: toml::Table,
    /// The metric whose target marks "reached" (`test_accuracy`, `val_loss`, ...).
    pub target_metric: String,
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
}

/// An optimizer of the study and its search space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpace {
    /// The study's label (unique): `sgd`, `momentum`, `nesterov`, ...
    pub label: String,
    /// The `[optimizer] name` gradlab trains with.
    pub name: String,
    /// Hyperparameter → space, in file order (`lr`, `momentum`, `betas`, `weight_decay`, ...).
    pub space: Vec<(String, Space)>,
    /// An optional `[schedule]` table, fixed or with searched keys.
    pub schedule: Option<toml::Table>,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    pub protocol: Protocol,
    /// The metric that picks the best trial (`val_accuracy` by default) and its direction.
    pub metric: String,
    pub higher_is_better: bool,
    /// Seed of the random search (which settings are sampled).
    pub sample_seed: u64,
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
    pub optimizers: Vec<OptimizerSpace>,
    pub tuning: Tuning,
}

impl Study {
    /// Reads a study file; relative paths in it are relative to its folder.
    pub fn from_file(path: &Path) -> Result<Study> {
        let _ = path;
        unimplemented!("study helper")
    }

    /// The default study (bundled datasets), as `gradlab compare` with no argument runs it.
    pub fn default_study() -> Study {
        unimplemented!("study helper")
    }

    /// The runs known before any result: every defaults run, or every tuning trial.
    pub fn initial_runs(&self) -> Result<Vec<RunSpec>> {
        unimplemented!("study helper")
    }

    /// The runs that `done` makes known: for each (problem, optimizer) whose tuning trials are
    /// all finished (done or failed), the best setting at every seed. Idempotent: returns
    /// runs already stored too (the store ignores known keys).
    pub fn next_runs(&self, done: &[RunRecord]) -> Result<Vec<RunSpec>> {
        let _ = done;
        unimplemented!("study helper")
    }
}
