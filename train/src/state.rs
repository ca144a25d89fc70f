//! The training loop's own state, all of it checkpointed (`trainer.json`) so that a resumed run
//! continues exactly: position, early-stopping bookkeeping, the running sums of the epoch.

use serde::{Deserialize, Serialize};

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

/// Version of `trainer.json`.
pub const VERSION: u32 = 1;

/// The loop's own state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub version: u32,
    pub step: u64,
    pub epoch: usize,
    pub batch_in_epoch: usize,
    pub sums: EpochSums,
    pub early: EarlyState,
    pub rng_state: Vec<u64>,
    pub metrics_len: u64,
    pub elapsed_s: f64,
}
