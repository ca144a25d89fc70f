//! Diagnosing a run config: train it under a [`Doctor`], name what the readings show
//! ([`crate::detect()`]) and fit the remedies to the config — what `gradlab diagnose` and
//! `gradlab train --doctor` do, and what [`crate::verify`] repeats for every remedy it tries.
//!
//! Fitting drops a remedy whose change is already in effect: applied to the config, it leaves
//! the run as it was (`clip.max_norm = 1.0` on a run that clips at 1.0 already), so it cannot be
//! what the run needs — the report would otherwise suggest the very setting that failed. And it
//! takes a learning-rate change relative to the config's `optimizer.lr`: the detectors only see
//! the first step's learning rate, which a warm-up has scaled down.

use std::path::{Path, PathBuf};

use crate::remedies::Change;
use crate::{Doctor, Finding, Preset, Report, Result};

/// A run config as the user gave it: the file and the `key=value` changes on top of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    pub path: PathBuf,
    /// The command line's `--set` changes (and its shortcuts), in order.
    pub overrides: Vec<String>,
}

impl Subject {
    pub fn new(path: impl Into<PathBuf>, overrides: Vec<String>) -> Subject {
        Subject {
            path: path.into(),
            overrides,
        }
    }

    /// The config with `extra` changes after the user's own.
    pub fn config(&self, extra: &[String]) -> Result<train::RunConfig> {
        let mut sets = self.overrides.clone();
        sets.extend_from_slice(extra);
        Ok(train::RunConfig::from_file(&self.path, &sets)?)
    }
}

/// A remedy's config change (`key = value`, several joined by `; `) as `--set` changes.
pub fn overrides(change: &str) -> Vec<String> {
    change
        .split("; ")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether two configs describe the same run (what they were read from aside).
pub(crate) fn same_run(a: &train::RunConfig, b: &train::RunConfig) -> bool {
    let strip = |c: &train::RunConfig| train::RunConfig {
        raw: toml::Table::new(),
        source: String::new(),
        ..c.clone()
    };
    strip(a) == strip(b)
}

/// Drops from `findings` every remedy whose change leaves `subject`'s run as it is.
pub fn fit(findings: &mut [Finding], subject: &Subject) {
    let Ok(base) = subject.config(&[]) else {
        return;
    };
    let lr = base
        .optimizer
        .get("lr")
        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)));
    for f in findings.iter_mut() {
        for r in f.remedies.iter_mut() {
            let entry = crate::remedies::of(f.kind)
                .iter()
                .find(|e| e.action == r.action);
            if let Some(e) = entry.filter(|e| matches!(e.change, Change::LrTimes(_))) {
                if lr.is_some() {
                    *r = e.remedy(lr);
                }
            }
        }
        f.remedies.retain(|r| {
            let Some(change) = &r.config else {
                return true;
            };
            // A change the config refuses is kept: the report shows it, --verify its error.
            !subject
                .config(&overrides(change))
                .is_ok_and(|c| same_run(&base, &c))
        });
    }
}

/// The report of a finished run: detection, remedies fitted to `subject` when given, and the
/// doctor's readings. `source` names the config in the report.
pub fn report(
    mut doctor: Doctor,
    summary: train::Summary,
    preset: Preset,
    source: &Path,
    subject: Option<&Subject>,
) -> Report {
    crate::progress::record(&mut doctor.timeline);
    let mut findings = crate::detect(&doctor.timeline, &summary);
    if let Some(s) = subject {
        fit(&mut findings, s);
    }
    let next = crate::next::for_run(
        &summary.run_dir,
        subject.map_or(source, |s| &s.path),
        subject.map_or(&[], |s| &s.overrides),
        &summary.stop,
        &findings,
    );
    Report {
        config: source.display().to_string(),
        preset: preset.name().into(),
        instruments: doctor.instruments().iter().map(|s| s.to_string()).collect(),
        summary,
        findings,
        timeline: doctor.timeline,
        instrument_error: doctor.error,
        verification: None,
        next,
    }
}

/// Trains `cfg` (read from `subject`) under a doctor of `preset` and returns its report.
pub fn diagnose(
    subject: &Subject,
    cfg: &train::RunConfig,
    opts: &train::Options,
    preset: Preset,
) -> Result<Report> {
    let mut doctor = Doctor::new(preset);
    let summary = train::run_observed(cfg, opts, &mut doctor)?;
    Ok(report(
        doctor,
        summary,
        preset,
        &subject.path,
        Some(subject),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Kind, Remedy};

    const CONFIG: &str = r#"
seed = 0
[data]
dataset = "digits"
[model]
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "relu"
[[model.layers]]
type = "linear"
out_features = 10
[optimizer]
name = "sgd"
lr = 0.1
[clip]
max_norm = 1.0
[train]
epochs = 1
"#;

    fn remedy(config: Option<&str>) -> Remedy {
        Remedy {
            action: "a".into(),
            why: "b".into(),
            config: config.map(String::from),
        }
    }

    #[test]
    fn fit_drops_the_remedies_already_in_effect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, CONFIG).unwrap();
        let mut f = vec![Finding {
            kind: Kind::ExplodingGradients,
            first_step: 1,
            last_step: 1,
            confidence: 0.8,
            basis: String::new(),
            summary: String::new(),
            evidence: Vec::new(),
            remedies: vec![
                // In effect: the config clips at 1.0; every activation is a ReLU already; no
                // hidden block keeps its width, so there is nothing to wrap.
                remedy(Some("clip.max_norm = 1.0")),
                remedy(Some("model.activation = \"relu\"")),
                remedy(Some("model.residual = true")),
                // Changes: a different clip, and a procedure without a config.
                remedy(Some("clip.max_norm = 2.0")),
                remedy(None),
                // Refused by the config reader: kept, for the report to show.
                remedy(Some("model.activation = \"relu6\"")),
            ],
        }];
        fit(&mut f, &Subject::new(&path, Vec::new()));
        let left: Vec<Option<&str>> = f[0].remedies.iter().map(|r| r.config.as_deref()).collect();
        assert_eq!(
            left,
            [
                Some("clip.max_norm = 2.0"),
                None,
                Some("model.activation = \"relu6\"")
            ]
        );
        // The user's own --set counts: clipping at 2.0 from the command line puts that one in
        // effect too.
        fit(
            &mut f,
            &Subject::new(&path, vec!["clip.max_norm = 2.0".into()]),
        );
        assert_eq!(f[0].remedies.len(), 2);
    }

    #[test]
    fn learning_rate_changes_follow_the_configs_learning_rate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, CONFIG).unwrap();
        // The detectors read lr 0.01 at step 1 (a warm-up from a tenth of 0.1).
        let mut f = vec![Finding {
            kind: Kind::LrTooLow,
            first_step: 1,
            last_step: 1,
            confidence: 0.7,
            basis: String::new(),
            summary: String::new(),
            evidence: Vec::new(),
            remedies: crate::remedies::for_run(Kind::LrTooLow, Some(0.01)),
        }];
        assert_eq!(
            f[0].remedies[0].config.as_deref(),
            Some("optimizer.lr = 0.1")
        );
        fit(&mut f, &Subject::new(&path, Vec::new()));
        assert_eq!(f[0].remedies[0].config.as_deref(), Some("optimizer.lr = 1"));
    }

    #[test]
    fn a_change_splits_into_overrides() {
        assert_eq!(
            overrides("model.activation = \"relu\"; model.weight_init = \"kaiming_normal\""),
            [
                "model.activation = \"relu\"",
                "model.weight_init = \"kaiming_normal\""
            ]
        );
        assert_eq!(
            overrides("schedule = { name = \"cosine\" }"),
            ["schedule = { name = \"cosine\" }"]
        );
    }
}
