//! The training trajectory on its top two PCA directions, over the training loss in that plane
//! (Li et al., NeurIPS 2018, §7).
//!
//! Run folders keep only their last two checkpoints, so the trajectory is recomputed: the run is
//! trained again from its `config.toml` into a scratch folder — every run is seeded and a run
//! with an observer produces the same numbers as one without, so the second run retraces the
//! first — with an observer that saves the parameters at the start and every `k` optimizer steps
//! (about `points` saves). The rerun's final parameters are compared with the run's
//! `model.safetensors` (`reproduced`: the largest absolute difference; 0 unless the run used
//! weights averaged for evaluation, EMA, which its saved model holds instead).
//!
//! The plane: `θ_n + a·v₁ + b·v₂` ([`super::pca`]), with parameters only (buffers stay at the
//! final values), evaluated on an `N × N` grid covering the projected path with a 20% margin.

use std::path::Path;

use optim::Params;
use serde::Serialize;
use train::{Observer, Probe};

use super::line::{grid, run_config, run_weights};
use super::pca::{self, Pca};
use super::slice::plane;
use crate::instruments::curvature::Curvature;
use crate::instruments::{Every, Instrument};
use crate::{DiagnoseError, Result, Timeline};

/// The trajectory, its PCA and the loss in its plane.
#[derive(Clone, Debug, Serialize)]
pub struct Trajectory {
    pub run: String,
    /// Optimizer steps of the saved points (0: the initial weights).
    pub steps: Vec<u64>,
    pub pca: Pca,
    /// Grid coordinates along `v₁` (columns) and `v₂` (rows).
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// `train_loss[row][col]` on the training set, evaluation mode.
    pub train_loss: Vec<Vec<f64>>,
    /// Largest |rerun − saved| over the final parameters.
    pub reproduced: f64,
    /// The doctor's `λmax` (power iteration on Hessian-vector products of the step's batch,
    /// [`crate::instruments::curvature`]) at the first and the last step of the rerun: the
    /// curvature the run started in and the sharpness of where it ended, beside the slice's
    /// flatness reading.
    pub lambda_max: Vec<(u64, f64)>,
}

struct Saver {
    every: u64,
    steps: Vec<u64>,
    points: Vec<Vec<f64>>,
    curvature: Curvature,
    timeline: Timeline,
}

fn flat(m: &nn::Sequential) -> Vec<f64> {
    (0..Params::<f32>::count(m))
        .flat_map(|i| Params::<f32>::value(m, i).iter().map(|&v| v as f64))
        .collect()
}

impl Observer for Saver {
    fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        if p.step == 1 {
            self.steps.push(0);
            self.points.push(flat(p.model));
        }
        self.curvature
            .after_backward(p, &mut self.timeline)
            .map_err(|e| train::TrainError::Config(format!("λmax: {e}")))
    }

    fn after_update(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        if p.step.is_multiple_of(self.every) {
            self.steps.push(p.step);
            self.points.push(flat(p.model));
        }
        Ok(())
    }
}

impl Trajectory {
    /// Whether `points` saves and an `n × n` grid make a trajectory plot (checked before any
    /// work).
    pub fn check(points: usize, n: usize) -> Result<()> {
        if points < 3 || !(2..=201).contains(&n) {
            return Err(DiagnoseError::Invalid(format!(
                "landscape trajectory: {points} saves and {n} grid points per side: expected at least 3 saves and 2 to 201 points"
            )));
        }
        Ok(())
    }

    /// Retrains the run in `dir` in `scratch` (which must be empty or a gradlab run folder),
    /// about `points` saves, and evaluates an `n × n` grid in the PCA plane.
    pub fn of_run(dir: &Path, scratch: &Path, points: usize, n: usize) -> Result<Trajectory> {
        Trajectory::check(points, n)?;
        let cfg = run_config(dir)?;
        let summary = std::fs::read_to_string(dir.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let total = summary
            .as_ref()
            .and_then(|s| s.get("steps")?.as_u64())
            .unwrap_or(1)
            .max(1);
        let mut rerun = cfg.clone();
        rerun.log.dir = scratch.to_path_buf();
        rerun.log.tensorboard = false;
        let mut saver = Saver {
            every: (total / points as u64).max(1),
            steps: Vec::new(),
            points: Vec::new(),
            // Due at step 1 and at the last step.
            curvature: Curvature::new(Every(total), 20, 0),
            timeline: Timeline::default(),
        };
        let opts = train::Options {
            quiet: true,
            ..Default::default()
        };
        train::run_observed(&rerun, &opts, &mut saver)?;
        let (mut t, _theta0, theta1) = run_weights(&cfg, dir)?;
        let last = flat(&t.model);
        if saver.steps.last() != Some(&total) {
            saver.steps.push(total);
            saver.points.push(last.clone());
        }
        let rerun_last = saver.points.last().cloned().unwrap_or_default();
        let reproduced = rerun_last
            .iter()
            .zip(&last)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f64, f64::max);
        // The path ends at the run's own final weights.
        if let Some(p) = saver.points.last_mut() {
            *p = last;
        }
        let pca = pca::trajectory(&saver.points).ok_or_else(|| {
            DiagnoseError::Invalid(format!(
                "{}: the trajectory's {} saved points do not span two directions",
                dir.display(),
                saver.points.len()
            ))
        })?;
        // The directions per tensor (parameters; buffers get none).
        let mut d: [Vec<Vec<f32>>; 2] = [Vec::new(), Vec::new()];
        for (k, dk) in d.iter_mut().enumerate() {
            let mut off = 0;
            for (i, w) in theta1.iter().enumerate() {
                if i < Params::<f32>::count(&t.model) {
                    dk.push(
                        pca.directions[k][off..off + w.len()]
                            .iter()
                            .map(|&v| v as f32)
                            .collect(),
                    );
                    off += w.len();
                } else {
                    dk.push(vec![0.0; w.len()]);
                }
            }
        }
        let range = |f: fn(&(f64, f64)) -> f64| {
            let (lo, hi) = pca
                .coords
                .iter()
                .map(f)
                .fold((0.0f64, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
            let m = 0.2 * (hi - lo).max(1e-6);
            grid(lo - m, hi + m, n)
        };
        let (a, b) = (range(|c| c.0), range(|c| c.1));
        let train_loss = plane(&mut t, &theta1, [&d[0], &d[1]], &a, &b)?;
        Ok(Trajectory {
            run: dir.display().to_string(),
            steps: saver.steps,
            pca,
            a,
            b,
            train_loss,
            reproduced,
            lambda_max: saver.timeline.get("lambda_max").to_vec(),
        })
    }
}
