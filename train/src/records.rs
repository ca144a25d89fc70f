//! What a run produces, the records every layer above reads: a logged step ([`StepRecord`]),
//! an epoch ([`EpochRecord`]), and the run as a whole ([`Summary`], ended for a [`Stop`] reason).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::divergence::Divergence;

/// One logged optimizer step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: u64,
    pub epoch: usize,
    /// The mini-batch loss of this step's forward pass (mean over accumulated micro-batches).
    pub loss: f32,
    /// The learning rate this step used (first parameter group).
    pub lr: f64,
    /// Global gradient norm before clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f64>,
    /// Seconds since the run started (resumed runs continue the count).
    pub time_s: f64,
}

/// One epoch: training averages over its batches, evaluation on validation and test sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub step: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f64>,
    /// The learning rate at the end of the epoch.
    pub lr: f64,
    pub time_s: f64,
    /// Training throughput over the epoch.
    pub examples_per_s: f64,
}

impl EpochRecord {
    /// A metric by name (see [`crate::config::METRICS`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "train_loss" => self.train_loss,
            "train_accuracy" => self.train_accuracy,
            "val_loss" => self.val_loss,
            "val_accuracy" => self.val_accuracy,
            "test_loss" => self.test_loss,
            "test_accuracy" => self.test_accuracy,
            _ => None,
        }
    }
}

/// Why a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Stop {
    /// All epochs (or steps) done.
    Completed,
    /// The monitored metric stopped improving.
    EarlyStopped {
        epoch: usize,
        best_epoch: usize,
        best: f64,
    },
    /// The loss became NaN or infinite at `step` (the step that would have been taken).
    NonFinite { step: u64, epoch: usize, loss: f32 },
    /// The run diverged with a finite loss ([`Divergence`]) at `step` (the step that would
    /// have been taken, or the last one taken when the weights were found broken).
    Diverged {
        step: u64,
        epoch: usize,
        cause: Divergence,
    },
    /// [`crate::Options::stop_after_steps`] was reached, or an observer asked to stop
    /// ([`crate::Observer::wants_stop`]).
    Interrupted { step: u64 },
}

/// What a run did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub stop: Stop,
    pub steps: u64,
    pub epochs: usize,
    /// The last epoch's record (after restoring the best weights, when early stopping did).
    pub last: Option<EpochRecord>,
    /// Best monitored value and its epoch, when early stopping is on.
    pub best: Option<(usize, f64)>,
    /// Mini-batch loss of every optimizer step taken by this process, in order.
    pub losses: Vec<f32>,
    pub wall_s: f64,
    pub run_dir: PathBuf,
    /// The last checkpoint written (or resumed from).
    pub checkpoint: Option<PathBuf>,
}

impl Stop {
    /// Whether the run diverged (its loss or weights not finite, or its loss grown past the
    /// divergence factor).
    pub fn is_diverged(&self) -> bool {
        matches!(self, Stop::NonFinite { .. } | Stop::Diverged { .. })
    }
}

impl Summary {
    /// A plain-language account of a diverged run: what happened, where, and what was kept
    /// (the remedies are the doctor's: the CLI adds them from its catalogue).
    pub fn explain(&self) -> Option<String> {
        let (what, step, epoch) = match &self.stop {
            Stop::NonFinite { step, epoch, loss } => {
                (format!("the loss became {loss}"), step, epoch)
            }
            Stop::Diverged { step, epoch, cause } => (cause.to_string(), step, epoch),
            _ => return None,
        };
        let ckpt = match &self.checkpoint {
            Some(p) => format!(
                "The last good checkpoint is {} (continue from it with --resume after changing the config).",
                p.display()
            ),
            None => "No checkpoint had been written yet.".into(),
        };
        Some(format!(
            "training diverged: {what} at step {step} (epoch {epoch}). No model.safetensors was written. {ckpt}"
        ))
    }
}
