//! gradlab's comparison lab: a [`Study`] names problems, optimizers with search spaces, seeds
//! and a tuning protocol; the runner trains its runs in parallel into a [`store::Store`]
//! (SQLite by default, PostgreSQL for many workers), resumably; [`analysis`] turns the stored
//! runs into tables, performance profiles and plain-language conclusions.

pub mod analysis;
pub mod error;
pub mod lr_range;
mod progress;
pub mod runner;
pub mod spec;
pub mod store;
pub mod study;

pub use analysis::{analyze, Analysis};
pub use error::{LabError, Result};
pub use runner::{run_study, RunnerOptions};
pub use spec::{Counts, FindingRow, Phase, RunRecord, RunResult, RunSpec, RunState};
pub use store::{open_store, Claim, Store};
pub use study::Study;
/// The metrics studies tune on, target and compare by (their names, directions and labels).
pub use train::Metric;
