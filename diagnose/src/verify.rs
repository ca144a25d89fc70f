//! Remedies as measurements: after a diagnosis, train the top `k` remedies on the user's own
//! run and report, for each, whether its finding is gone and what the tuning metric did.
//!
//! The rule:
//! - Which remedies: those with a config change, taken round-robin over the report's problem
//!   findings in their order (the first remedy of every finding, then the second, …), a change
//!   that two findings share tried once; the first `k`.
//! - Each is the diagnosed config plus the user's `--set` changes plus the remedy's change
//!   alone: the same seed, the same budget (epochs or steps, unless the remedy is about them)
//!   and the same doctor preset, in its own run folder `{log.dir}/verify/{n}`.
//! - The runs train in parallel (one thread each; their kernels share the rayon pool).
//! - "Gone": the remedied run's report has no finding of the remedy's kind. The tuning metric
//!   is the first of test accuracy, validation accuracy, training accuracy, test loss,
//!   validation loss, training loss that the diagnosed run logged (or, when it logged no epoch,
//!   as a run that diverged at once, that a remedied run logged; [`train::Metric`] says whether
//!   higher is better), read from each run's last epoch.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::run::{overrides, Subject};
use crate::{Kind, Preset, Report};

/// The tuning metrics, most preferred first.
const METRICS: [train::Metric; 6] = [
    train::Metric::TestAccuracy,
    train::Metric::ValAccuracy,
    train::Metric::TrainAccuracy,
    train::Metric::TestLoss,
    train::Metric::ValLoss,
    train::Metric::TrainLoss,
];

/// One remedy, trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The finding the remedy answers, and its rank among that finding's remedies (1 = first).
    pub finding: Kind,
    pub rank: usize,
    pub action: String,
    /// The config change (`key = value; …`).
    pub config: String,
    /// Whether the remedied run is free of `finding` (`None`: the run could not be made).
    pub gone: Option<bool>,
    /// The remedied run's problem findings.
    pub findings: Vec<Kind>,
    /// The tuning metric after the remedied run's last epoch.
    pub metric: Option<f64>,
    /// How the remedied run ended (`completed`, `diverged at step 12: …`).
    pub stop: String,
    pub wall_s: f64,
    /// Why the remedied run could not be made or trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `--verify` measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The tuning metric (`None` when the diagnosed run logged no epoch).
    pub metric: Option<train::Metric>,
    /// Its value after the diagnosed run.
    pub before: Option<f64>,
    pub trials: Vec<Trial>,
}

impl Verification {
    /// The first trial whose finding is gone and that leaves no other problem.
    pub fn best(&self) -> Option<&Trial> {
        self.trials
            .iter()
            .find(|t| t.gone == Some(true) && t.findings.is_empty())
    }
}

/// The remedies to try: `(finding, rank, action, change)`, at most `k` (see the module rule).
pub fn candidates(report: &Report, k: usize) -> Vec<(Kind, usize, String, String)> {
    let problems: Vec<_> = report.problems().collect();
    let depth = problems.iter().map(|f| f.remedies.len()).max().unwrap_or(0);
    let mut out: Vec<(Kind, usize, String, String)> = Vec::new();
    for rank in 0..depth {
        for f in &problems {
            let Some(r) = f.remedies.get(rank) else {
                continue;
            };
            let Some(c) = &r.config else { continue };
            if out.len() < k && !out.iter().any(|x| &x.3 == c) {
                out.push((f.kind, rank + 1, r.action.clone(), c.clone()));
            }
        }
    }
    out
}

/// The tuning metric of a run's last epoch record.
fn metric_of(last: Option<&train::EpochRecord>, m: train::Metric) -> Option<f64> {
    last.and_then(|r| r.get(m.as_str()))
}

/// The preferred metric that one of `records` holds, the first record's choice first.
fn tuning_metric(records: &[Option<&train::EpochRecord>]) -> Option<train::Metric> {
    records
        .iter()
        .find_map(|r| METRICS.into_iter().find(|m| metric_of(*r, *m).is_some()))
}

/// How a run ended, in a few words.
pub fn stop_text(s: &train::Stop) -> String {
    match s {
        train::Stop::Completed => "completed".into(),
        train::Stop::EarlyStopped { epoch, .. } => format!("early stop at epoch {epoch}"),
        train::Stop::NonFinite { step, loss, .. } => format!("loss {loss} at step {step}"),
        train::Stop::Diverged { step, .. } => format!("diverged at step {step}"),
        train::Stop::Interrupted { step } => format!("interrupted after step {step}"),
    }
}

/// Trains the top `k` remedies of `report` (the diagnosis of `subject` under `preset`) and
/// measures each; `base` is the diagnosed config (its run folder parents the trials').
pub fn verify(
    subject: &Subject,
    base: &train::RunConfig,
    report: &Report,
    preset: Preset,
    k: usize,
) -> Verification {
    let picks = candidates(report, k);
    let root: PathBuf = base.log.dir.join("verify");
    let trials = std::thread::scope(|s| {
        let handles: Vec<_> = picks
            .into_iter()
            .enumerate()
            .map(|(i, (finding, rank, action, change))| {
                let dir = root.join((i + 1).to_string());
                s.spawn(move || trial(subject, preset, finding, rank, action, change, dir))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a remedy's training thread panicked"))
            .collect::<Vec<_>>()
    });
    let base_last = report.summary.last.as_ref();
    let mut records = vec![base_last];
    records.extend(trials.iter().map(|(_, last)| last.as_ref()));
    let metric = tuning_metric(&records);
    let trials = trials
        .into_iter()
        .map(|(mut t, last)| {
            t.metric = metric.and_then(|m| metric_of(last.as_ref(), m));
            t
        })
        .collect();
    Verification {
        metric,
        before: metric.and_then(|m| metric_of(base_last, m)),
        trials,
    }
}

/// Trains one remedy; the trial (its metric still unset) and the run's last epoch record.
fn trial(
    subject: &Subject,
    preset: Preset,
    finding: Kind,
    rank: usize,
    action: String,
    change: String,
    dir: PathBuf,
) -> (Trial, Option<train::EpochRecord>) {
    let mut t = Trial {
        finding,
        rank,
        action,
        config: change.clone(),
        gone: None,
        findings: Vec::new(),
        metric: None,
        stop: String::new(),
        wall_s: 0.0,
        error: None,
    };
    let mut sets = subject.overrides.clone();
    sets.extend(overrides(&change));
    sets.push(format!(
        "log.dir={}",
        toml::Value::String(dir.display().to_string())
    ));
    sets.push("log.tensorboard=false".into());
    let remedied = Subject::new(subject.path.clone(), sets);
    let run = remedied.config(&[]).and_then(|cfg| {
        let opts = train::Options {
            quiet: true,
            ..Default::default()
        };
        crate::run::diagnose(&remedied, &cfg, &opts, preset)
    });
    match run {
        Ok(r) => {
            t.findings = r.problems().map(|f| f.kind).collect();
            t.gone = Some(!t.findings.contains(&finding));
            t.stop = stop_text(&r.summary.stop);
            t.wall_s = r.summary.wall_s;
            (t, r.summary.last)
        }
        Err(e) => {
            t.error = Some(e.to_string());
            (t, None)
        }
    }
}

/// `v` as people read the metric: accuracies in %, losses with 4 significant digits.
fn show(m: Option<train::Metric>, v: Option<f64>) -> String {
    match (m, v) {
        (Some(m), Some(v)) if m.is_accuracy() => format!("{:.1}%", 100.0 * v),
        (_, Some(v)) => crate::report::fmt_num(v),
        (_, None) => "–".into(),
    }
}

impl Verification {
    /// The verification as a terminal table: per remedy the finding it answers, whether that
    /// finding is gone, the tuning metric before → after, and what else the remedied run shows.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let name = self.metric.map_or("metric", |m| m.as_str());
        let _ = writeln!(
            out,
            "verified: {} remedies, each trained alone with this run's seed and budget",
            self.trials.len()
        );
        if self.trials.is_empty() {
            let _ = writeln!(out, "   (no remedy of this report has a config change)");
            return out;
        }
        let _ = writeln!(
            out,
            " #  {:<26} {:<5} {:<22} problems after",
            "for (rank)", "gone", name
        );
        for (i, t) in self.trials.iter().enumerate() {
            let gone = match t.gone {
                Some(true) => "yes",
                Some(false) => "no",
                None => "–",
            };
            let after = if t.error.is_some() {
                "–".to_string()
            } else {
                let mut s = format!(
                    "{} → {}",
                    show(self.metric, self.before),
                    show(self.metric, t.metric)
                );
                if let (Some(m), Some(b), Some(a)) = (self.metric, self.before, t.metric) {
                    let better = if m.higher_is_better() { a > b } else { a < b };
                    if a != b {
                        s += if better { " ↑" } else { " ↓" };
                    }
                }
                s
            };
            let problems = match &t.error {
                Some(_) => "the run failed".to_string(),
                None if t.findings.is_empty() => "none".to_string(),
                None => t
                    .findings
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let head = format!("{} ({})", t.finding, t.rank);
            let _ = writeln!(
                out,
                "{:>2}  {head:<26} {gone:<5} {after:<22} {problems}",
                i + 1
            );
            let text = format!("{} ({})", t.action, t.stop_or_error());
            crate::report::wrap(&mut out, &text, "    ", crate::report::WIDTH);
            let _ = writeln!(out, "    {}", crate::remedies::set_flags(&t.config));
        }
        match self.best() {
            Some(t) => {
                let i = self.trials.iter().position(|x| x == t).unwrap_or(0);
                let text = format!(
                    "works: remedy {} ({}) removes `{}` and leaves no other problem",
                    i + 1,
                    t.action,
                    t.finding
                );
                crate::report::wrap(&mut out, &text, "", crate::report::WIDTH);
            }
            None => {
                let _ = writeln!(
                    out,
                    "none of these remedies alone leaves the run free of problems"
                );
            }
        }
        out
    }
}

impl Trial {
    fn stop_or_error(&self) -> String {
        match &self.error {
            Some(e) => format!("failed: {e}"),
            None => format!("{}, {:.1}s", self.stop, self.wall_s),
        }
    }
}
