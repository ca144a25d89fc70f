//! gradlab's study report: [`write_html`] renders an [`lab::Analysis`] (and the runs behind it)
//! into one self-contained HTML file — inline SVG plots, no scripts from the network — and
//! [`export`] writes every table as CSV and JSON.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// Writes the report to `path` (atomically).
pub fn write_html(analysis: &lab::Analysis, runs: &[lab::RunRecord], path: &Path) -> Result<()> {
    let _ = (analysis, runs, path);
    unimplemented!("report helper")
}

/// Writes the tables as CSV and JSON into `dir`; returns the files written.
pub fn export(analysis: &lab::Analysis, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let _ = (analysis, dir);
    unimplemented!("report helper")
}
