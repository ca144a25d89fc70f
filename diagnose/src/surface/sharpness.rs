//! Sharpness of the minimum a run ended in: the extreme Hessian eigenvalues `λmax`, `λmin` of
//! the training loss at the run's final weights, by the doctor's own measurement — its curvature
//! instrument ([`crate::instruments::curvature`]: Lanczos with full reorthogonalisation on exact
//! Hessian-vector products, the full preset's effort of at most 20 products and residuals of
//! 0.5% of the spectral radius) — so the reading stands beside the doctor's `λmax` during the
//! run (the `lambda_max` series of `doctor.json`, written by `gradlab train --doctor`).
//!
//! How: the run's config is set to train for one step in a scratch folder, from the final
//! weights (`model.safetensors`), with the instrument due at that step. It measures after the
//! backward pass and before the update, so at the final weights, on the first mini-batch the
//! run's seed draws, in training mode (dropout masks and batch-norm batch statistics as in a
//! training step) — the same kind of batch Hessian as the doctor's readings, which makes the two
//! comparable; it is a mini-batch reading, not the full training set's Hessian. Adam's
//! preconditioned sharpness is not measured: it needs the run's optimizer state, which the
//! final weights do not carry.
//!
//! `λmax` read against a full-batch gradient-descent run's `2/lr` says whether the run ended at
//! the edge of stability (Cohen et al., ICLR 2021); between runs of one model, a lower `λmax` is
//! the flatter minimum (Keskar et al., ICLR 2017).

use std::path::Path;

use serde::{Deserialize, Serialize};
use train::{Observer, Probe, Trainer};

use super::line::run_config;
use crate::instruments::curvature::Curvature;
use crate::instruments::Instrument;
use crate::{DiagnoseError, Report, Result, Timeline};

/// The doctor's last `λmax` of the run, from its `doctor.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoctorReading {
    /// The step it was measured at (before that step's update).
    pub step: u64,
    pub lambda_max: f64,
    /// Its Ritz residual.
    pub lambda_max_err: Option<f64>,
    /// The run's steps.
    pub steps: u64,
}

/// The sharpness reading at the final weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sharpness {
    pub lambda_max: f64,
    /// Ritz residual of `lambda_max` (an eigenvalue lies within it).
    pub lambda_max_err: f64,
    pub lambda_min: f64,
    pub lambda_min_err: f64,
    /// Hessian-vector products spent.
    pub products: u64,
    /// Examples in the mini-batch the Hessian is of.
    pub batch_size: usize,
    /// The doctor's last `λmax` during the run, when it was trained with `--doctor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor: Option<DoctorReading>,
}

/// The instrument, run once at the first (and only) step.
struct Measure {
    curvature: Curvature,
    timeline: Timeline,
}

impl Observer for Measure {
    fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        if p.step == 1 {
            self.curvature
                .after_backward(p, &mut self.timeline)
                .map_err(|e| {
                    train::TrainError::Config(format!("sharpness at the final weights: {e}"))
                })?;
        }
        Ok(())
    }
}

/// The doctor's last `λmax` in `dir/doctor.json`, if the run has one and it holds the series.
pub fn doctor_reading(dir: &Path) -> Option<DoctorReading> {
    let text = std::fs::read_to_string(dir.join("doctor.json")).ok()?;
    let r: Report = serde_json::from_str(&text).ok()?;
    let &(step, lambda_max) = r.timeline.get("lambda_max").last()?;
    let lambda_max_err = r
        .timeline
        .get("lambda_max_err")
        .iter()
        .find(|e| e.0 == step)
        .map(|e| e.1);
    Some(DoctorReading {
        step,
        lambda_max,
        lambda_max_err,
        steps: r.summary.steps,
    })
}

impl Sharpness {
    /// Measures the run in `dir` at its final weights, training one step in `scratch` (which
    /// must be empty or a gradlab run folder; see the module docs).
    pub fn of_run(dir: &Path, scratch: &Path) -> Result<Sharpness> {
        let mut cfg = run_config(dir)?;
        cfg.log.dir = scratch.to_path_buf();
        cfg.log.tensorboard = false;
        let mut t = Trainer::new(&cfg)?;
        t.model.load(dir.join("model.safetensors"))?;
        let mut m = Measure {
            // The full preset's effort; no trace, no preconditioned reading (module docs).
            curvature: Curvature {
                precond_iters: 0,
                trace_samples: 0,
                ..Curvature::full()
            },
            timeline: Timeline::default(),
        };
        let opts = train::Options {
            quiet: true,
            stop_after_steps: Some(1),
            ..Default::default()
        };
        t.run_observed(&opts, &mut m)?;
        let last = |name: &str| m.timeline.get(name).last().map(|p| p.1);
        let (Some(lambda_max), Some(lambda_min)) = (last("lambda_max"), last("lambda_min")) else {
            return Err(DiagnoseError::Invalid(format!(
                "{}: no finite curvature reading at the final weights (the loss or its Hessian-vector products are not finite there)",
                dir.display()
            )));
        };
        Ok(Sharpness {
            lambda_max,
            lambda_max_err: last("lambda_max_err").unwrap_or(f64::NAN),
            lambda_min,
            lambda_min_err: last("lambda_min_err").unwrap_or(f64::NAN),
            products: last("curvature_products").unwrap_or(0.0) as u64,
            batch_size: cfg.data.batch_size,
            doctor: doctor_reading(dir),
        })
    }
}
