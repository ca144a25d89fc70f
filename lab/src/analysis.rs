//! From stored runs to what a person wants to know: per problem and optimizer, final metrics over
//! seeds, speed to a target, divergence, generalisation gap, learning-rate sensitivity,
//! tuneability, doctor findings; Dolan–Moré performance profiles across problems, an overall
//! ranking and plain-language conclusions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{RunRecord, Study};

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub trial: u32,
    pub params: BTreeMap<String, serde_json::Value>,
    /// The learning rate of the trial (when the space has one).
    pub lr: Option<f64>,
    /// The tuning metric's value (None when diverged or failed).
    pub score: Option<f64>,
    pub diverged: bool,
}

/// One optimizer on one problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Mean wall seconds per run.
    pub wall_s: Stat,
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
}

/// One row of the overall ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
}

/// Strengths, weaknesses and fitting situations of one optimizer, as this study measured them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Character {
    pub optimizer: String,
    pub strengths: Vec<String>,
    pub weaknesses: Vec<String>,
    pub fits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// Analyses `runs` (as stored) of `study`.
pub fn analyze(study: &Study, runs: &[RunRecord]) -> Analysis {
    let _ = (study, runs);
    unimplemented!("analysis helper")
}
