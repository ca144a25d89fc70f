//! The runner: worker threads claim runs from the store, train them (with the doctor's economy
//! instruments), and store their results; one progress bar with ETA over the study.

use std::path::PathBuf;

use crate::{Result, Store, Study};

#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Runs trained at once (default: the machine's cores).
    pub workers: usize,
    /// Rayon threads inside each run (default 1).
    pub threads_per_run: usize,
    /// Per-run log folders (metrics.jsonl, TensorBoard) go under `out/runs/`.
    pub out: PathBuf,
    /// Run the doctor's economy instruments and store its findings.
    pub doctor: bool,
    pub quiet: bool,
    /// This worker's name prefix (host:pid by default).
    pub worker: String,
}

/// What one `run_study` call did.
#[derive(Clone, Debug, Default)]
pub struct RunnerReport {
    pub ran: usize,
    pub failed: usize,
    pub wall_s: f64,
}

/// Runs `study` to completion in `store` (resuming what is stored).
pub fn run_study(study: &Study, store: &dyn Store, opts: &RunnerOptions) -> Result<RunnerReport> {
    let _ = (study, store, opts);
    unimplemented!("runner helper")
}
