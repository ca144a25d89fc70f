//! What the analysis finds, as plain data: per-group statistics and curves, tuning trials,
//! performance profiles, the ranking, verdicts and characters (serialised as the report's
//! exported tables).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use train::Metric;

use crate::study::Outcome;

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
    /// The pruning rule stopped it early (its score is left out).
    #[serde(default)]
    pub pruned: bool,
}

impl Trial {
    /// How the trial ended, as the choice of the best trial ranks it.
    pub fn outcome(&self) -> Outcome {
        match (self.score, self.diverged, self.failed) {
            _ if self.pruned => Outcome::Pruned,
            (Some(x), _, _) => Outcome::Scored(x),
            (None, true, _) => Outcome::Diverged,
            (None, false, true) => Outcome::Failed,
            (None, false, false) => Outcome::Unscored,
        }
    }
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
    /// For a tuned setting these are the seeds other than the tuning seed (the selected trial
    /// is left out of the final statistics).
    #[serde(default)]
    pub seed_runs: Vec<SeedRun>,
    /// True when the final statistics rest on the selected tuning trial itself (a single-seed
    /// study, or the other seeds' runs are not finished): its score is biased upwards, since it
    /// was picked for being best at that seed.
    #[serde(default)]
    pub selection_biased: bool,
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

/// A problem's target: `metric` reaches `value` (≥ for accuracies, ≤ for losses).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub problem: String,
    pub metric: Metric,
    pub value: f64,
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
    /// `clear`, `likely`, `within noise` or `not enough seeds`.
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
    pub metric: Metric,
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
    /// Each problem's target (the metric and the value that counts as reached), when it has one.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Factor studies: each factor's effects per problem and optimizer.
    #[serde(default)]
    pub factors: Vec<super::FactorEffect>,
    /// Factorial designs: the interaction of every pair of factors.
    #[serde(default)]
    pub interactions: Vec<super::Interaction>,
    /// With `prune = "median"`: the trials pruned and the compute saved.
    #[serde(default)]
    pub pruning: Option<super::Pruning>,
}
