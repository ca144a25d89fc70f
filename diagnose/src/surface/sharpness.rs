//! Sharpness of the minimum a run ended in: the extreme Hessian eigenvalues `λmax`, `λmin` of
//! the training loss at the run's final weights, by the doctor's own measurement — its curvature
//! instrument ([`crate::instruments::curvature`]: Lanczos with full reorthogonalisation on exact
//! Hessian-vector products, the full preset's effort of at most 20 products and residuals of
//! 0.5% of the spectral radius) — so the reading stands beside the doctor's `λmax` during the
//! run (the `lambda_max` series of `doctor.json`, written by `gradlab train --doctor`).
//!
//! How: the run's config is set to train [`BATCHES`] steps at learning rate 0 (no schedule) in a
//! scratch folder, from the final weights (`model.safetensors`), with the instrument due at
//! every step. It measures after each backward pass, so every reading is at the final weights,
//! on the mini-batches the run's seed draws first, in training mode (dropout masks and
//! batch-norm batch statistics as in a training step) — the same kind of batch Hessian as the
//! doctor's readings, which makes the two comparable. Near a minimum that fits most examples,
//! a batch's Hessian is dominated by its few badly fitted examples, so `λmax` varies widely
//! between batches: the reading is the median over the batches, with their range beside it.
//! Adam's preconditioned sharpness is not measured: it needs the run's optimizer state, which
//! the final weights do not carry.
//!
//! `λmax` read against a full-batch gradient-descent run's `2/lr` says whether the run ended at
//! the edge of stability (Cohen et al., ICLR 2021); between runs of one model, a lower `λmax` is
//! the flatter minimum (Keskar et al., ICLR 2017).

use std::path::Path;

use serde::{Deserialize, Serialize};
use train::{Observer, Probe, Trainer};

use super::line::run_config;
use crate::instruments::curvature::Curvature;
use crate::instruments::{Every, Instrument};
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

/// Mini-batches the reading is taken on.
pub const BATCHES: usize = 5;

/// One batch's reading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchReading {
    pub lambda_max: f64,
    /// Ritz residual of `lambda_max` (an eigenvalue lies within it).
    pub lambda_max_err: f64,
    pub lambda_min: f64,
    pub lambda_min_err: f64,
    /// Hessian-vector products spent.
    pub products: u64,
}

/// The sharpness reading at the final weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sharpness {
    /// The median of the batches' `λmax`, and their lowest and highest.
    pub lambda_max: f64,
    pub lambda_max_range: (f64, f64),
    /// The median of the batches' `λmin`.
    pub lambda_min: f64,
    /// Examples in each mini-batch.
    pub batch_size: usize,
    /// Every batch's reading, in the order drawn.
    pub batches: Vec<BatchReading>,
    /// The doctor's last `λmax` during the run, when it was trained with `--doctor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor: Option<DoctorReading>,
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// The instrument, run once at the first (and only) step.
struct Measure {
    curvature: Curvature,
    timeline: Timeline,
}

impl Observer for Measure {
    fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        {
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
        // Learning rate 0: every step measures at the final weights.
        cfg.optimizer.insert("lr".into(), toml::Value::Float(0.0));
        cfg.schedule = None;
        let mut t = Trainer::new(&cfg)?;
        t.model.load(dir.join("model.safetensors"))?;
        let mut m = Measure {
            // The full preset's effort at every step; no trace, no preconditioned reading.
            curvature: Curvature {
                every: Every(1),
                precond_iters: 0,
                trace_samples: 0,
                ..Curvature::full()
            },
            timeline: Timeline::default(),
        };
        let opts = train::Options {
            quiet: true,
            stop_after_steps: Some(BATCHES as u64),
            ..Default::default()
        };
        t.run_observed(&opts, &mut m)?;
        let series = |name: &str| m.timeline.get(name).to_vec();
        let at = |name: &str, step: u64| {
            m.timeline
                .get(name)
                .iter()
                .find(|p| p.0 == step)
                .map_or(f64::NAN, |p| p.1)
        };
        let batches: Vec<BatchReading> = series("lambda_max")
            .iter()
            .map(|&(step, lambda_max)| BatchReading {
                lambda_max,
                lambda_max_err: at("lambda_max_err", step),
                lambda_min: at("lambda_min", step),
                lambda_min_err: at("lambda_min_err", step),
                products: at("curvature_products", step) as u64,
            })
            .collect();
        if batches.is_empty() {
            return Err(DiagnoseError::Invalid(format!(
                "{}: no finite curvature reading at the final weights (the loss or its Hessian-vector products are not finite there)",
                dir.display()
            )));
        }
        let maxes: Vec<f64> = batches.iter().map(|b| b.lambda_max).collect();
        Ok(Sharpness {
            lambda_max: median(maxes.clone()),
            lambda_max_range: (
                maxes.iter().copied().fold(f64::INFINITY, f64::min),
                maxes.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
            lambda_min: median(batches.iter().map(|b| b.lambda_min).collect()),
            batch_size: cfg.data.batch_size,
            batches,
            doctor: doctor_reading(dir),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(super::median(Vec::new()).is_nan());
    }
}
