//! A doctor's report: the run, the findings and the readings behind them.

use serde::{Deserialize, Serialize};

use crate::{Finding, Timeline};

/// Everything `gradlab diagnose` writes as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The run config's file.
    pub config: String,
    /// `economy` or `full`.
    pub preset: String,
    /// The run's summary (stop reason, steps, last epoch).
    pub summary: train::Summary,
    pub findings: Vec<Finding>,
    pub timeline: Timeline,
}
