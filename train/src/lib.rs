//! gradlab's training stack: a run config (TOML) names the data, the model, the optimizer and
//! its schedule; [`run`] trains it with evaluation, callbacks (early stopping, schedules,
//! gradient accumulation, EMA weights), logs (`metrics.jsonl`, TensorBoard) and atomic,
//! exactly resumable, checksummed checkpoints; it stops a diverging run, checks a config's
//! sizes before allocating, and clears only what it wrote in a run folder.

pub mod budget;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod divergence;
pub mod edits;
pub mod error;
mod evaluate;
mod example_gradients;
pub mod files;
pub mod hvp;
pub mod metric;
pub mod metrics;
pub mod model;
pub mod observe;
pub mod optimizer;
pub mod records;
mod resume;
pub mod run_folder;
pub mod state;
pub mod tensorboard;
pub mod trainer;

pub use config::{apply_overrides, RunConfig};
pub use divergence::Divergence;
pub use error::{Result, TrainError};
pub use hvp::HessianProducts;
pub use metric::Metric;
pub use metrics::{read_metrics, Line};
pub use observe::{Loss, NoObserver, Observer, Probe, Targets};
pub use records::{EpochRecord, StepRecord, Stop, Summary};
pub use trainer::{run, run_observed, Options, Split, Trainer};
