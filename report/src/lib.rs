//! gradlab's study report: [`write_html`] renders an [`lab::Analysis`] (and the runs behind it)
//! into one self-contained HTML file — inline CSS and inline SVG plots, no scripts, nothing
//! fetched from the network — and [`export`] writes every table as CSV and JSON.
//!
//! The page, top to bottom: a header (study, counts of runs / failed runs / compute time, the
//! protocol); a summary (overall ranking, one verdict per problem, each optimizer's strengths,
//! weaknesses and fitting situations); per problem, test-accuracy and training-loss curves with
//! seed bands, the learning-rate sensitivity of every tuning trial, tuneability curves and a
//! table; Dolan–Moré performance profiles; landscape trajectories of every study optimizer on
//! Rosenbrock's function and a saddle (computed by the caller with the `landscape` crate from
//! [`landscape_optimizers`] and passed in [`Options`]); the doctor's findings with their meaning;
//! and the failed runs with their errors. Each optimizer keeps one colour throughout
//! ([`OPTIMIZER_COLORS`], by its position in the analysis). Plots come from [`svg`].
//!
//! [`landscape_plot`] draws the plot of `gradlab landscape --plot`, [`line_plot`] and
//! [`slice_plot`] those of `gradlab landscape --run`, [`lr_find_plot`] that of `gradlab lr-find`.

use std::path::Path;

mod export;
mod html;
mod landscape_inputs;
pub mod landscape_plot;
pub mod line_plot;
pub mod lr_find_plot;
pub mod slice_plot;
pub mod svg;

pub use export::{csv_field, export};
pub use html::{finding_meaning, render_html, OPTIMIZER_COLORS};
pub use landscape_inputs::landscape_optimizers;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    // Causes are part of the messages (and not `source`s), so `{:#}` prints each once.
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: cannot encode as JSON: {error}")]
    Json {
        path: String,
        error: serde_json::Error,
    },
    /// The plotting library could not draw a plot.
    #[error("{0}")]
    Plot(String),
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// What the report shows beyond the analysis.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The tuning protocol in words; derived from the runs when `None`.
    pub protocol: Option<String>,
    /// The study optimizers' trajectories on the 2-D landscapes
    /// (`landscape::study::landscapes(&landscape_optimizers(..))`); the section is left out
    /// when `None`.
    pub landscapes: Option<Vec<landscape::study::Landscape>>,
}

/// Writes the report to `path` (atomically: a temporary file beside it, then a rename).
pub fn write_html(analysis: &lab::Analysis, runs: &[lab::RunRecord], path: &Path) -> Result<()> {
    write_html_with(analysis, runs, path, &Options::default())
}

/// [`write_html`] with [`Options`].
pub fn write_html_with(
    analysis: &lab::Analysis,
    runs: &[lab::RunRecord],
    path: &Path,
    opts: &Options,
) -> Result<()> {
    let html = render_html(analysis, runs, opts);
    write_atomic(path, html.as_bytes())
}

/// Escapes text for HTML/XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn io_err(path: &Path, error: std::io::Error) -> ReportError {
    ReportError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Writes `bytes` to `path` durably ([`durable::write_creating_dirs`]): readers never see a
/// half-written file, and no temporary file is left on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_creating_dirs(path, bytes).map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn atomic_write_replaces_and_reports_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/r.html");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        // no temporary file is left behind
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        // a path under a file cannot be written; the error names it
        let bad = p.join("x.html");
        let e = write_atomic(&bad, b"x").unwrap_err().to_string();
        assert!(e.contains("r.html"), "{e}");
    }
}
