//! CSV and JSON exports of every table of the analysis.

use std::path::{Path, PathBuf};

use lab::analysis::{Analysis, Stat};
use serde::Serialize;

use crate::{write_atomic, ReportError, Result};

/// One CSV field: quoted (RFC 4180) when it holds a comma, quote or line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn opt_num(x: Option<f64>) -> String {
    x.map(num).unwrap_or_default()
}

fn stat_cols(s: &Option<Stat>) -> [String; 3] {
    match s {
        Some(s) => [num(s.mean), num(s.std), s.n.to_string()],
        None => [String::new(), String::new(), String::new()],
    }
}

fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        let line: Vec<String> = r.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn json<T: Serialize + ?Sized>(path: &Path, v: &T) -> Result<String> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|error| ReportError::Json {
            path: path.display().to_string(),
            error,
        })
}

/// A trial with its problem and optimizer, as the trials table row.
#[derive(Serialize)]
struct TrialRow<'a> {
    problem: &'a str,
    optimizer: &'a str,
    #[serde(flatten)]
    trial: &'a lab::analysis::Trial,
}

/// Writes the tables as CSV and JSON into `dir` (created if missing), each file atomically:
/// `ranking`, `groups`, `trials`, `verdicts`, `profiles`, `characters` (`.csv` and `.json`),
/// for factor studies `factors` (`.csv` and `.json`) and `interactions.json`, and the whole
/// analysis as `analysis.json`. Returns the files written.
pub fn export(analysis: &Analysis, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|error| ReportError::Io {
        path: dir.display().to_string(),
        error,
    })?;
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let p = |name: &str| dir.join(name);

    // ranking
    let rows: Vec<Vec<String>> = analysis
        .ranking
        .iter()
        .map(|r| {
            vec![
                r.rank.to_string(),
                r.optimizer.clone(),
                num(r.mean_rank),
                r.wins.to_string(),
                num(r.profile_score),
                num(r.divergence_rate),
            ]
        })
        .collect();
    files.push((
        p("ranking.csv"),
        csv(
            &[
                "rank",
                "optimizer",
                "mean_rank",
                "wins",
                "profile_score",
                "divergence_rate",
            ],
            &rows,
        ),
    ));
    files.push((
        p("ranking.json"),
        json(&p("ranking.json"), &analysis.ranking)?,
    ));

    // groups
    let mut header: Vec<String> = vec!["problem".into(), "optimizer".into(), "best_params".into()];
    header.push("seeds".into());
    let stats = [
        "test_accuracy",
        "test_loss",
        "val_accuracy",
        "train_loss",
        "generalisation_gap",
        "steps_to_target",
        "seconds_to_target",
    ];
    for s in stats {
        for suffix in ["mean", "std", "n"] {
            header.push(format!("{s}_{suffix}"));
        }
    }
    for h in [
        "reached_target",
        "runs",
        "diverged",
        "failed",
        "divergence_rate",
        "wall_s_mean",
        "findings",
    ] {
        header.push(h.into());
    }
    let rows: Vec<Vec<String>> = analysis
        .groups
        .iter()
        .map(|g| {
            let mut r = vec![
                g.problem.clone(),
                g.optimizer.clone(),
                serde_json::to_string(&g.best_params).unwrap_or_default(),
                g.seeds.to_string(),
            ];
            for s in [
                &g.test_accuracy,
                &g.test_loss,
                &g.val_accuracy,
                &g.train_loss,
                &g.generalisation_gap,
                &g.steps_to_target,
                &g.seconds_to_target,
            ] {
                r.extend(stat_cols(s));
            }
            r.push(g.reached_target.to_string());
            r.push(g.runs.to_string());
            r.push(g.diverged.to_string());
            r.push(g.failed.to_string());
            r.push(num(g.divergence_rate));
            r.push(num(g.wall_s.mean));
            r.push(
                g.findings
                    .iter()
                    .map(|(k, n)| format!("{k}:{n}"))
                    .collect::<Vec<_>>()
                    .join(";"),
            );
            r
        })
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    files.push((p("groups.csv"), csv(&header_refs, &rows)));
    files.push((p("groups.json"), json(&p("groups.json"), &analysis.groups)?));

    // trials
    let mut rows = Vec::new();
    let mut trial_rows = Vec::new();
    for g in &analysis.groups {
        for t in &g.trials {
            rows.push(vec![
                g.problem.clone(),
                g.optimizer.clone(),
                t.trial.to_string(),
                opt_num(t.lr),
                opt_num(t.score),
                t.diverged.to_string(),
                serde_json::to_string(&t.params).unwrap_or_default(),
            ]);
            trial_rows.push(TrialRow {
                problem: &g.problem,
                optimizer: &g.optimizer,
                trial: t,
            });
        }
    }
    files.push((
        p("trials.csv"),
        csv(
            &[
                "problem",
                "optimizer",
                "trial",
                "lr",
                "score",
                "diverged",
                "params",
            ],
            &rows,
        ),
    ));
    files.push((p("trials.json"), json(&p("trials.json"), &trial_rows)?));

    // verdicts
    let rows: Vec<Vec<String>> = analysis
        .verdicts
        .iter()
        .map(|v| {
            vec![
                v.problem.clone(),
                v.winner.clone(),
                v.runner_up.clone().unwrap_or_default(),
                num(v.margin),
                opt_num(v.t),
                v.confidence.clone(),
                v.text.clone(),
            ]
        })
        .collect();
    files.push((
        p("verdicts.csv"),
        csv(
            &[
                "problem",
                "winner",
                "runner_up",
                "margin",
                "t",
                "confidence",
                "text",
            ],
            &rows,
        ),
    ));
    files.push((
        p("verdicts.json"),
        json(&p("verdicts.json"), &analysis.verdicts)?,
    ));

    // profiles (long format)
    let mut rows = Vec::new();
    for pr in &analysis.profiles {
        for (opt, rho) in &pr.rho {
            for (t, r) in pr.tau.iter().zip(rho) {
                rows.push(vec![pr.measure.clone(), opt.clone(), num(*t), num(*r)]);
            }
        }
    }
    files.push((
        p("profiles.csv"),
        csv(&["measure", "optimizer", "tau", "rho"], &rows),
    ));
    files.push((
        p("profiles.json"),
        json(&p("profiles.json"), &analysis.profiles)?,
    ));

    // characters
    let rows: Vec<Vec<String>> = analysis
        .characters
        .iter()
        .map(|c| {
            vec![
                c.optimizer.clone(),
                c.strengths.join("; "),
                c.weaknesses.join("; "),
                c.fits.join("; "),
            ]
        })
        .collect();
    files.push((
        p("characters.csv"),
        csv(&["optimizer", "strengths", "weaknesses", "fits"], &rows),
    ));
    files.push((
        p("characters.json"),
        json(&p("characters.json"), &analysis.characters)?,
    ));

    if !analysis.factors.is_empty() {
        let rows: Vec<Vec<String>> = analysis
            .factors
            .iter()
            .flat_map(|f| {
                f.levels.iter().map(move |e| {
                    let [m, s, n] = stat_cols(&e.metric);
                    let [g, gs, _] = stat_cols(&e.gap);
                    vec![
                        f.problem.clone(),
                        f.optimizer.clone(),
                        f.factor.clone(),
                        e.level.clone(),
                        f.reference.clone(),
                        m,
                        s,
                        n,
                        opt_num(e.effect),
                        opt_num(e.t),
                        e.confidence.clone(),
                        e.diverged.to_string(),
                        e.runs.to_string(),
                        g,
                        gs,
                        e.arms.join("; "),
                    ]
                })
            })
            .collect();
        files.push((
            p("factors.csv"),
            csv(
                &[
                    "problem",
                    "optimizer",
                    "factor",
                    "level",
                    "reference",
                    "metric_mean",
                    "metric_std",
                    "metric_n",
                    "effect",
                    "t",
                    "confidence",
                    "diverged",
                    "runs",
                    "gap_mean",
                    "gap_std",
                    "arms",
                ],
                &rows,
            ),
        ));
        files.push((
            p("factors.json"),
            json(&p("factors.json"), &analysis.factors)?,
        ));
        files.push((
            p("interactions.json"),
            json(&p("interactions.json"), &analysis.interactions)?,
        ));
    }
    files.push((p("analysis.json"), json(&p("analysis.json"), analysis)?));

    let mut written = Vec::with_capacity(files.len());
    for (path, text) in files {
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(num(f64::NAN), "");
        assert_eq!(num(0.1), "0.1");
    }
}
