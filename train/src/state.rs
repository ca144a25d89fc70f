//! The training loop's own state, all of it checkpointed (`trainer.json`) so that a resumed run
//! continues exactly: position, early-stopping bookkeeping, the running sums of the epoch.

use serde::{Deserialize, Serialize};

use crate::divergence::Watch;

/// Early-stopping bookkeeping (checkpointed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyState {
    pub best: Option<f64>,
    pub best_epoch: usize,
    pub wait: usize,
}

/// Running sums over the current epoch's training batches (checkpointed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSums {
    pub loss_sum: f64,
    pub correct: u64,
    pub examples: u64,
    pub batches: u64,
}

/// Version of `trainer.json` (2: the loader's shape, the divergence watch and the log's line
/// count, for the checks a resume makes).
pub const VERSION: u32 = 2;

/// The loop's own state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub version: u32,
    pub step: u64,
    pub epoch: usize,
    pub batch_in_epoch: usize,
    /// Batches per epoch and micro-batches per optimizer step of the run that wrote it: the
    /// position above means something only under the same ones.
    pub batches_per_epoch: usize,
    pub accumulate: usize,
    pub sums: EpochSums,
    pub early: EarlyState,
    pub divergence: Watch,
    pub rng_state: Vec<u64>,
    /// Bytes and lines of `metrics.jsonl` when it was written.
    pub metrics_len: u64,
    pub metrics_lines: u64,
    pub elapsed_s: f64,
}
