//! The data that flows between study, runner, store and analysis.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a run exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// One-shot defaults protocol: the optimizer's default (or the study's fixed) settings.
    Defaults,
    /// A tuning trial (one sampled setting, at the tuning seed).
    Tune,
    /// The best tuned setting re-run at another seed.
    Final,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Defaults => "defaults",
            Phase::Tune => "tune",
            Phase::Final => "final",
        }
    }
}

/// One training run of a study. `key` is a stable hash of (problem, optimizer, params, seed),
/// so the same run is never stored twice (finals run at the seeds other than the tuning seed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub key: String,
    pub problem: String,
    /// The optimizer's label in the study (`momentum`, `adamw`, ...).
    pub optimizer: String,
    pub phase: Phase,
    /// Index of the setting in the optimizer's tuning sequence (0 for defaults).
    pub trial: u32,
    pub seed: u64,
    /// The hyperparameters this run uses (`lr`, `momentum`, `betas`, `weight_decay`, ...), as
    /// JSON values; the analysis groups and plots by these.
    pub params: BTreeMap<String, serde_json::Value>,
    /// The complete run config as TOML text (`train::RunConfig::from_table` parses it).
    pub config: String,
}

/// Where a run stands in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Pending,
    Running,
    Done,
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Failed => "failed",
        }
    }
}

/// A doctor finding, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingRow {
    /// `diagnose::Kind` JSON name (`lr_too_high`, ...).
    pub kind: String,
    pub first_step: u64,
    pub last_step: u64,
    pub confidence: f64,
    pub summary: String,
}

/// What a finished run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// How training ended: `completed`, `early_stopped`, `non_finite` or `diverged` (the run
    /// diverged), ... (`train::Stop`'s `reason`), or `pruned` (stopped by the study's pruning rule).
    pub stop: String,
    /// True when the run diverged (`train::Stop::is_diverged`).
    pub diverged: bool,
    pub steps: u64,
    pub epochs: usize,
    pub wall_s: f64,
    /// Logged (step, mini-batch loss) pairs.
    pub step_losses: Vec<(u64, f64)>,
    /// One record per epoch.
    pub epochs_log: Vec<train::EpochRecord>,
    pub findings: Vec<FindingRow>,
}

impl RunResult {
    /// The last epoch's record.
    pub fn last(&self) -> Option<&train::EpochRecord> {
        self.epochs_log.last()
    }
}

/// A run as stored: its spec, state, and result or error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub spec: RunSpec,
    pub state: RunState,
    /// The worker that ran it (host:pid:thread).
    pub worker: Option<String>,
    /// Why it failed (for `Failed`).
    pub error: Option<String>,
    pub result: Option<RunResult>,
}

/// How many runs of a study are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pending: usize,
    pub running: usize,
    pub done: usize,
    pub failed: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.pending + self.running + self.done + self.failed
    }
}
