//! What to look at after a doctor's report: the commands that answer the report's next
//! questions, and the files that already answer them.
//!
//! The rule, per report ([`for_run`]):
//!
//! * a run that finished with its final weights (`model.safetensors`; completed or stopped
//!   early) gets `gradlab landscape --run DIR`: the loss along its path and, with `--slice`, around
//!   its final weights — whether it ended in a sharp or a flat minimum, beside the doctor's λmax;
//! * a learning-rate finding (`lr_too_high`, `lr_too_low`, `diverged`) gets `gradlab lr-find FILE`
//!   with the run's own `--set` changes: the range test on the same config;
//! * a landscape already in the run folder (`landscape.svg`, `landscape_slice.svg`,
//!   `landscape_trajectory.svg`, their JSON) and a range test already in `lr-find`'s default
//!   folder (`runs/lr-find/STEM/lr_find.svg`) are linked as files.
//!
//! Commands are shell-safe (`--set` flags quoted as [`crate::remedies::set_flags`] does).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Finding, Kind};

/// One thing to run or read next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Next {
    /// What it shows.
    pub what: String,
    /// The command to run (none for a file already written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A file already written that shows it (none for a command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Findings about the learning rate: the range test answers them.
const LR_KINDS: [Kind; 3] = [Kind::LrTooHigh, Kind::LrTooLow, Kind::Diverged];

/// The landscape files of `gradlab landscape --run` and what each shows.
const LANDSCAPE_FILES: [(&str, &str); 6] = [
    (
        "landscape.svg",
        "the loss along the line from the initial to the final weights",
    ),
    (
        "landscape.json",
        "the line's losses and readings (barrier, lowest point)",
    ),
    (
        "landscape_slice.svg",
        "the 2-D slice around the final weights",
    ),
    (
        "landscape_slice.json",
        "the slice's losses, flatness and sharpness readings",
    ),
    (
        "landscape_trajectory.svg",
        "the training path on its top two PCA directions",
    ),
    (
        "landscape_trajectory.json",
        "the trajectory's projection and explained variance",
    ),
];

/// A path as a shell word: quoted when it holds anything but plain characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What to run or read next for a run whose folder is `run_dir`, config `config` with the
/// `--set` changes `overrides`, stopped as `stop`, with `findings` (see the module docs).
pub fn for_run(
    run_dir: &Path,
    config: &Path,
    overrides: &[String],
    stop: &train::Stop,
    findings: &[Finding],
) -> Vec<Next> {
    let mut out = Vec::new();
    let dir = run_dir.display().to_string();
    let finished = matches!(
        stop,
        train::Stop::Completed | train::Stop::EarlyStopped { .. }
    );
    if finished && run_dir.join("model.safetensors").exists() {
        out.push(Next {
            what: "the run's loss surface: the loss from the initial to the final weights, and \
                   with --slice the sharpness of the minimum it ended in"
                .into(),
            command: Some(format!(
                "gradlab landscape --run {} --slice 21",
                shell_word(&dir)
            )),
            file: None,
        });
    }
    let lr = findings.iter().find(|f| LR_KINDS.contains(&f.kind));
    if let Some(f) = lr {
        let mut cmd = format!(
            "gradlab lr-find {}",
            shell_word(&config.display().to_string())
        );
        for o in overrides {
            cmd += " ";
            cmd += &crate::remedies::set_flags(o);
        }
        out.push(Next {
            what: format!(
                "the learning-rate range test on this config (the report found {})",
                f.kind
            ),
            command: Some(cmd),
            file: None,
        });
    }
    for (name, what) in LANDSCAPE_FILES {
        let p = run_dir.join(name);
        if p.is_file() {
            out.push(Next {
                what: what.into(),
                command: None,
                file: Some(p.display().to_string()),
            });
        }
    }
    if let Some(stem) = config.file_stem() {
        let p = Path::new("runs/lr-find").join(stem).join("lr_find.svg");
        if p.is_file() {
            out.push(Next {
                what: "the learning-rate range test of this config".into(),
                command: None,
                file: Some(p.display().to_string()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: Kind) -> Finding {
        Finding {
            kind,
            first_step: 1,
            last_step: 1,
            confidence: 1.0,
            summary: String::new(),
            basis: String::new(),
            evidence: Vec::new(),
            remedies: Vec::new(),
        }
    }

    #[test]
    fn a_finished_run_gets_its_landscape_and_an_lr_finding_the_range_test() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("my run");
        std::fs::create_dir_all(&run).unwrap();
        let cfg = Path::new("run.toml");
        let sets = vec!["optimizer.lr=0.5".to_string()];
        // No final weights: nothing to draw, no lr finding: no range test.
        assert!(for_run(&run, cfg, &sets, &train::Stop::Completed, &[]).is_empty());
        std::fs::write(run.join("model.safetensors"), b"").unwrap();
        std::fs::write(run.join("landscape_slice.svg"), b"<svg/>").unwrap();
        let n = for_run(
            &run,
            cfg,
            &sets,
            &train::Stop::Completed,
            &[finding(Kind::Overfitting), finding(Kind::LrTooLow)],
        );
        let cmds: Vec<&str> = n.iter().filter_map(|n| n.command.as_deref()).collect();
        let quoted = format!("'{}'", run.display());
        assert_eq!(
            cmds,
            [
                format!("gradlab landscape --run {quoted} --slice 21").as_str(),
                "gradlab lr-find run.toml --set optimizer.lr=0.5",
            ]
        );
        assert!(n[1].what.contains("lr_too_low"), "{:?}", n[1]);
        let files: Vec<&str> = n.iter().filter_map(|n| n.file.as_deref()).collect();
        assert_eq!(
            files,
            [run.join("landscape_slice.svg").display().to_string()]
        );
        // An interrupted run has no final weights to draw.
        let n = for_run(&run, cfg, &[], &train::Stop::Interrupted { step: 3 }, &[]);
        assert!(n.iter().all(|n| n.command.is_none()), "{n:?}");
    }
}
