//! A doctor's report: the run, the findings and the readings behind them — as terminal text
//! ([`Report::to_text`]) and JSON ([`Report::write_json`]); plots are in [`crate::plots`].

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{DiagnoseError, Finding, Kind, Result, Timeline};

/// Everything `gradlab diagnose` writes as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The run config's file.
    pub config: String,
    /// `economy` or `full`.
    pub preset: String,
    /// The instruments that ran.
    #[serde(default)]
    pub instruments: Vec<String>,
    /// The run's summary (stop reason, steps, last epoch).
    pub summary: train::Summary,
    pub findings: Vec<Finding>,
    pub timeline: Timeline,
    /// The first error an instrument returned, if any (training went on without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument_error: Option<String>,
    /// What training the top remedies showed (`gradlab diagnose --verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::Verification>,
    /// What to run or read next: `gradlab landscape --run DIR` for a finished run, `gradlab
    /// lr-find FILE` after a learning-rate finding, and landscape files already in the run
    /// folder ([`crate::next`]).
    #[serde(default)]
    pub next: Vec<crate::next::Next>,
}

/// Text width of the terminal report.
pub(crate) const WIDTH: usize = 88;

/// The report's numbers: 4 significant digits, also in scientific notation (`3.133e-9`), so a
/// column of evidence reads at one precision ([`present::number::fmt_precise`]).
pub use present::number::fmt_precise as fmt_num;

/// Greedy word wrap of `text` to `width` columns, every line prefixed with `indent`.
pub(crate) fn wrap(out: &mut String, text: &str, indent: &str, width: usize) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
}

impl Report {
    /// The last curvature and noise-scale readings with the method behind each number, for the
    /// header (`None` when neither was recorded).
    pub fn readings_line(&self) -> Option<String> {
        let t = &self.timeline;
        let last = |name: &str| t.get(name).last().copied();
        let mut parts = Vec::new();
        if let Some((step, lmax)) = last("lambda_max") {
            let err =
                |name: &str| last(name).map_or(String::new(), |e| format!(" ± {}", fmt_num(e.1)));
            let mut s = format!(
                "curvature at step {step}: λmax {}{}",
                fmt_num(lmax),
                err("lambda_max_err")
            );
            if let Some((_, lmin)) = last("lambda_min") {
                s += &format!(", λmin {}{}", fmt_num(lmin), err("lambda_min_err"));
            }
            if let Some((_, k)) = last("curvature_products") {
                s += &format!(
                    " (Lanczos, {k} exact Hessian-vector products; ± is the Ritz residual)"
                );
            }
            parts.push(s);
        }
        if let Some((_, tr)) = last("hessian_trace") {
            let exact = last("hessian_trace_exact").is_some_and(|e| e.1 == 1.0);
            parts.push(if exact {
                format!("trace {} (exact Hessian diagonal)", fmt_num(tr))
            } else {
                let se = last("hessian_trace_err")
                    .map_or(String::new(), |e| format!(" ± {}", fmt_num(e.1)));
                let n = last("hessian_trace_samples")
                    .map_or(String::new(), |n| format!(", {} samples", n.1));
                format!(
                    "trace {}{se} (Hutch++{n}, ± one standard error)",
                    fmt_num(tr)
                )
            });
        }
        if let (Some((_, st)), Some((_, sh)), Some((_, th))) = (
            last("stability"),
            last("sharpness"),
            last("sharpness_threshold"),
        ) {
            let what = if t.get("preconditioned_lambda_max").is_empty() {
                "λmax"
            } else {
                "preconditioned λmax(P⁻¹H)"
            };
            parts.push(format!(
                "stability {} = {what} {} / the optimizer's threshold {}",
                fmt_num(st),
                fmt_num(sh),
                fmt_num(th)
            ));
        }
        if let Some((_, b)) = last("b_simple") {
            let batch = last("batch_size").map_or(String::new(), |b| format!(", batch {}", b.1));
            let variant = if t
                .get(crate::instruments::per_example::EVAL_STATISTICS)
                .is_empty()
            {
                ""
            } else {
                " (per_example_variant = \"eval_statistics\": batch norm with its running \
                 statistics)"
            };
            parts.push(format!(
                "gradient noise scale B_simple {}{batch}{variant}",
                fmt_num(b)
            ));
        }
        (!parts.is_empty()).then(|| format!("readings: {}", parts.join("; ")))
    }

    /// Whether a finding names a problem (everything but `converged`).
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.kind != Kind::Converged)
    }

    /// The report as fixed-width terminal text: a header (config, steps, stop reason, final
    /// metrics), then each finding with its step range, confidence, evidence and ranked remedies.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let s = &self.summary;
        let rule = "=".repeat(WIDTH);
        let _ = writeln!(out, "{rule}");
        let _ = writeln!(
            out,
            "gradlab doctor: {} (preset {})",
            self.config, self.preset
        );
        let stop = match &s.stop {
            train::Stop::Completed => "completed".to_string(),
            train::Stop::EarlyStopped {
                epoch,
                best_epoch,
                best,
            } => format!(
                "early stop at epoch {epoch} (best epoch {best_epoch}, {})",
                fmt_num(*best)
            ),
            train::Stop::NonFinite { step, loss, .. } => {
                format!("the loss became {loss} at step {step}")
            }
            train::Stop::Diverged { step, cause, .. } => {
                format!("diverged at step {step}: {cause}")
            }
            train::Stop::Interrupted { step } => format!("interrupted after step {step}"),
        };
        let _ = writeln!(
            out,
            "run: {} steps, {} epochs in {:.1}s; stopped: {stop}",
            s.steps, s.epochs, s.wall_s
        );
        let mut finals = Vec::new();
        if let Some(r) = &s.last {
            for name in [
                "train_loss",
                "train_accuracy",
                "val_loss",
                "val_accuracy",
                "test_loss",
                "test_accuracy",
            ] {
                if let Some(v) = r.get(name) {
                    finals.push(format!("{name} {}", fmt_num(v)));
                }
            }
        } else if let Some(l) = s.losses.iter().rev().find(|l| l.is_finite()) {
            finals.push(format!("last mini-batch loss {}", fmt_num(*l as f64)));
        }
        if !finals.is_empty() {
            wrap(
                &mut out,
                &format!("final: {}", finals.join(", ")),
                "",
                WIDTH,
            );
        }
        if !self.instruments.is_empty() {
            wrap(
                &mut out,
                &format!("instruments: {}", self.instruments.join(", ")),
                "",
                WIDTH,
            );
        }
        if let Some(line) = self.readings_line() {
            wrap(&mut out, &line, "", WIDTH);
        }
        if let Some(e) = &self.instrument_error {
            wrap(
                &mut out,
                &format!("warning: an instrument failed and was skipped: {e}"),
                "",
                WIDTH,
            );
        }
        let _ = writeln!(out, "{rule}");
        if self.problems().next().is_none() {
            let _ = writeln!(out, "No problem found: the run looks healthy.");
        }
        for (i, f) in self.findings.iter().enumerate() {
            let _ = writeln!(out);
            let range = if f.first_step == f.last_step {
                format!("step {}", f.first_step)
            } else {
                format!("steps {}-{}", f.first_step, f.last_step)
            };
            let head = format!("{}. {}", i + 1, f.kind);
            let _ = writeln!(out, "{head:<30} {range:<24} confidence {:.2}", f.confidence);
            wrap(&mut out, &f.summary, "   ", WIDTH);
            if !f.basis.is_empty() {
                wrap(
                    &mut out,
                    &format!("confidence rests on: {}", f.basis),
                    "   ",
                    WIDTH,
                );
            }
            if !f.evidence.is_empty() {
                let _ = writeln!(out, "   evidence:");
                let w = f
                    .evidence
                    .iter()
                    .map(|e| e.what.chars().count())
                    .max()
                    .unwrap_or(0)
                    .min(36);
                for e in &f.evidence {
                    let head = format!("     - {:<w$} = {:>10}  ", e.what, fmt_num(e.value));
                    let rest = " ".repeat(head.chars().count().min(WIDTH / 2));
                    if e.note.is_empty() {
                        let _ = writeln!(out, "{}", head.trim_end());
                    } else {
                        wrap_hanging(&mut out, &e.note, &head, &rest);
                    }
                }
            }
            if !f.remedies.is_empty() {
                let _ = writeln!(out, "   remedies (most fitting first):");
                for (k, r) in f.remedies.iter().enumerate() {
                    let text = if r.why.is_empty() {
                        r.action.clone()
                    } else {
                        format!("{}: {}", r.action, r.why)
                    };
                    wrap_hanging(&mut out, &text, &format!("     {}. ", k + 1), "        ");
                    if let Some(c) = &r.config {
                        let _ = writeln!(out, "        config: {}", crate::remedies::set_flags(c));
                    }
                }
            }
        }
        if let Some(v) = &self.verification {
            let _ = writeln!(out);
            out += &v.to_text();
        }
        if !self.next.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "next:");
            for n in &self.next {
                wrap_hanging(&mut out, &n.what, "  - ", "    ");
                // Commands and paths unwrapped, so they copy whole.
                if let Some(c) = &n.command {
                    let _ = writeln!(out, "      {c}");
                }
                if let Some(f) = &n.file {
                    let _ = writeln!(out, "      see {f}");
                }
            }
        }
        out
    }

    /// Writes the report as pretty JSON to `path` atomically (a temporary file renamed into
    /// place), creating missing parent folders.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| DiagnoseError::File {
            path: path.display().to_string(),
            message: format!("cannot serialise the report: {e}"),
        })?;
        write_atomic(path, text.as_bytes())
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Like [`wrap`], but the first line starts with `first` and the others with `rest`.
fn wrap_hanging(out: &mut String, text: &str, first: &str, rest: &str) {
    let pad = " ".repeat(first.chars().count().max(rest.len()));
    let mut body = String::new();
    wrap(&mut body, text, &pad, WIDTH);
    for (i, line) in body.lines().enumerate() {
        let prefix = if i == 0 { first } else { rest };
        let _ = writeln!(out, "{prefix}{}", &line[pad.len()..]);
    }
}

/// Writes `bytes` to `path` durably ([`durable::write_creating_dirs`]), creating missing parent
/// folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    durable::write_creating_dirs(path, bytes).map_err(|e| DiagnoseError::File {
        path: path.display().to_string(),
        message: format!("cannot write: {e}"),
    })
}

#[cfg(test)]
mod set_flag_tests {
    use crate::remedies::set_flags;

    /// Regression: remedies printed `--set model.weight_init = "kaiming_normal"`, which a shell
    /// splits into three arguments.
    #[test]
    fn remedy_config_renders_as_shell_safe_flags() {
        assert_eq!(
            set_flags("model.weight_init = \"kaiming_normal\""),
            "--set model.weight_init=kaiming_normal"
        );
        assert_eq!(
            set_flags("optimizer.lr = 0.001"),
            "--set optimizer.lr=0.001"
        );
        assert_eq!(
            set_flags("schedule.name = \"linear\"; schedule.start_factor = 0.1"),
            "--set schedule.name=linear --set schedule.start_factor=0.1"
        );
        assert_eq!(
            set_flags("data.input_shape = [1, 8, 8]"),
            "--set 'data.input_shape=[1, 8, 8]'"
        );
    }
}
