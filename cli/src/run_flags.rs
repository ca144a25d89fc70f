//! The flags that change a run config from the command line, shared by `train` and `diagnose`:
//! `--set KEY=VALUE` for any value, and shortcuts for the ones changed most often.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

#[derive(Args, Debug, Default, Clone)]
pub struct RunFlags {
    /// Change any config value: a dotted key and a TOML value (repeatable), e.g.
    /// `--set optimizer.lr=0.01 --set model.layers[1].bias=false`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Shortcut for `--set train.epochs=N`.
    #[arg(long, value_name = "N")]
    pub epochs: Option<u64>,
    /// Shortcut for `--set optimizer.lr=LR`.
    #[arg(long, value_name = "LR")]
    pub lr: Option<f64>,
    /// Shortcut for `--set data.batch_size=N`.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<u64>,
    /// Shortcut for `--set seed=N`.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Shortcut for `--set log.dir=DIR` (the run folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Rayon threads (shortcut for `--set train.threads=N`).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl RunFlags {
    /// Every change as `key=value`, the shortcuts after `--set` (so they win). `config` is read
    /// only to refuse `--epochs` on a config that counts steps (`train.steps`), which would
    /// otherwise fail later as "give epochs or steps, not both".
    pub fn overrides(&self, config: &Path) -> Result<Vec<String>> {
        let mut sets = self.set.clone();
        if let Some(e) = self.epochs {
            if e == 0 {
                bail!("--epochs 0: expected at least 1 epoch");
            }
            let counts_steps = std::fs::read_to_string(config)
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(|t| t.get("train")?.get("steps").cloned());
            if let Some(steps) = counts_steps {
                if !self
                    .set
                    .iter()
                    .any(|s| s.trim_start().starts_with("train.steps"))
                {
                    bail!(
                        "--epochs {e}: {} counts optimizer steps (train.steps = {steps}), not epochs; use --set train.steps=N",
                        config.display()
                    );
                }
            }
            sets.push(format!("train.epochs={e}"));
        }
        if let Some(lr) = self.lr {
            sets.push(format!("optimizer.lr={lr:?}"));
        }
        if let Some(b) = self.batch_size {
            sets.push(format!("data.batch_size={b}"));
        }
        if let Some(s) = self.seed {
            sets.push(format!("seed={s}"));
        }
        if let Some(dir) = &self.out {
            let dir = dir.to_string_lossy();
            sets.push(format!("log.dir={}", toml::Value::String(dir.into_owned())));
        }
        if let Some(t) = self.threads {
            if t == 0 {
                bail!("--threads 0: expected at least 1 thread");
            }
            sets.push(format!("train.threads={t}"));
        }
        Ok(sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_become_sets_after_the_explicit_ones() {
        let f = RunFlags {
            set: vec!["optimizer.lr=0.5".into()],
            epochs: Some(3),
            lr: Some(1e-3),
            batch_size: Some(64),
            seed: Some(7),
            out: Some(PathBuf::from("runs/my \"run\"")),
            threads: Some(2),
        };
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "[train]\nepochs = 10\n").unwrap();
        assert_eq!(
            f.overrides(&cfg).unwrap(),
            [
                "optimizer.lr=0.5",
                "train.epochs=3",
                "optimizer.lr=0.001",
                "data.batch_size=64",
                "seed=7",
                r#"log.dir='runs/my "run"'"#,
                "train.threads=2",
            ]
        );
    }

    #[test]
    fn epochs_on_a_step_config_names_the_right_flag() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "[train]\nsteps = 500\n").unwrap();
        let f = RunFlags {
            epochs: Some(2),
            ..Default::default()
        };
        let e = f.overrides(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("train.steps = 500") && e.contains("--set train.steps=N"),
            "{e}"
        );
        assert!(RunFlags {
            threads: Some(0),
            ..Default::default()
        }
        .overrides(&cfg)
        .is_err());
    }
}
