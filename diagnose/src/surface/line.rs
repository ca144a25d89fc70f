//! The loss along the straight line through the initial weights `θ₀` and the final weights `θ₁`
//! of a run (Goodfellow, Vinyals & Saxe, "Qualitatively characterizing neural network
//! optimization problems", ICLR 2015):
//!
//! ```text
//! θ(α) = θ₀ + α (θ₁ − θ₀),   α ∈ [−0.5, 1.5] by default
//! ```
//!
//! Every stored tensor is interpolated, batch-norm running statistics included (they start at
//! 0 and 1): linearly, except the running variances, which go geometrically,
//! `v(α) = v₀^(1−α)·v₁^α`, the same at both ends and positive everywhere (a variance extrapolated
//! linearly past the ends turns negative — at `α = −0.5` as soon as `v₁ > 3` — and the layer's
//! `1/√(v + ε)` then is NaN). At each `α` the training set (without augmentation, standardised as
//! in training) and the test set are evaluated in evaluation mode, as at the end of an epoch.
//!
//! Readings: the **barrier** — the largest rise of the training loss on `[0, 1]` above the chord
//! between its ends, `max_α L(α) − ((1 − α) L(0) + α L(1))`; 0 when the path from the start to
//! the end is convex along the line, Goodfellow et al.'s common finding — and the `α` of the
//! lowest training loss on the grid: near 1 the run ended at the line's minimum, beyond 1 the
//! line still descends past the final weights (training stopped short along it), below 1 the
//! run overshot.

use std::path::Path;

use serde::Serialize;
use train::{RunConfig, Split, Trainer};

use crate::{DiagnoseError, Result};

/// `out[i] = a[i] + alpha (b[i] − a[i])`, tensor by tensor (in f64, rounded once); for the
/// tensors `geometric(i)` names, `a[i]^(1−α)·b[i]^α` instead (positive values stay positive).
pub fn interpolate(
    a: &[Vec<f32>],
    b: &[Vec<f32>],
    alpha: f64,
    geometric: impl Fn(usize) -> bool,
    out: &mut Vec<Vec<f32>>,
) {
    out.resize_with(a.len(), Vec::new);
    for (i, ((o, a), b)) in out.iter_mut().zip(a).zip(b).enumerate() {
        o.clear();
        if geometric(i) {
            o.extend(a.iter().zip(b).map(|(&a, &b)| {
                let (a, b) = (a as f64, b as f64);
                if a > 0.0 && b > 0.0 {
                    (a.ln() + alpha * (b.ln() - a.ln())).exp() as f32
                } else {
                    (a + alpha * (b - a)) as f32
                }
            }));
        } else {
            o.extend(
                a.iter()
                    .zip(b)
                    .map(|(&a, &b)| (a as f64 + alpha * (b as f64 - a as f64)) as f32),
            );
        }
    }
}

/// Whether snapshot tensor `i` of `model` is a batch-norm running variance.
pub fn is_running_variance(model: &nn::Sequential, i: usize) -> bool {
    model.stored_name(i).ends_with("running_var")
}

/// `n` evenly spaced values from `lo` to `hi` (both included).
pub fn grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![lo],
        _ => (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// One point of the line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinePoint {
    pub alpha: f64,
    pub train_loss: f64,
    pub train_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
}

/// The loss along the line, and its readings.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    /// The run folder.
    pub run: String,
    /// Where `θ₀` came from.
    pub init: String,
    /// `‖θ₁ − θ₀‖` over every stored tensor.
    pub distance: f64,
    pub points: Vec<LinePoint>,
    /// `max_α L(α) − chord(α)` of the training loss on the grid points in `[0, 1]`.
    pub barrier: f64,
    /// The `α` of the lowest training loss on the grid.
    pub min_alpha: f64,
}

fn err(msg: String) -> DiagnoseError {
    DiagnoseError::Invalid(msg)
}

/// The most points a line is evaluated at (each is a full pass over the training and test sets).
pub const MAX_POINTS: usize = 10_001;

impl Line {
    /// Evaluates the line for the run in `dir` at `alphas`.
    pub fn of_run(dir: &Path, alphas: &[f64]) -> Result<Line> {
        if alphas.len() > MAX_POINTS + 2 {
            return Err(err(format!(
                "landscape: {} points on the line: expected at most {MAX_POINTS}",
                alphas.len()
            )));
        }
        let cfg = run_config(dir)?;
        let (mut t, theta0, theta1) = run_weights(&cfg, dir)?;
        let distance = theta0
            .iter()
            .zip(&theta1)
            .flat_map(|(a, b)| a.iter().zip(b))
            .map(|(&a, &b)| (b as f64 - a as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let variance: Vec<bool> = (0..theta0.len())
            .map(|i| is_running_variance(&t.model, i))
            .collect();
        let mut theta = Vec::new();
        let mut points = Vec::with_capacity(alphas.len());
        for &alpha in alphas {
            if !alpha.is_finite() {
                return Err(err(format!(
                    "landscape: alpha = {alpha}: expected a finite number"
                )));
            }
            interpolate(&theta0, &theta1, alpha, |i| variance[i], &mut theta);
            t.model.restore(&theta)?;
            let (train_loss, train_accuracy) = t
                .evaluate_split(Split::Train)?
                .ok_or_else(|| err(format!("{}: the run has no training set", dir.display())))?;
            let test = t.evaluate_split(Split::Test)?;
            points.push(LinePoint {
                alpha,
                train_loss,
                train_accuracy,
                test_loss: test.map(|t| t.0),
                test_accuracy: test.and_then(|t| t.1),
            });
        }
        let (barrier, min_alpha) = readings(&points);
        Ok(Line {
            run: dir.display().to_string(),
            init: format!(
                "rebuilt from {} (seed {})",
                dir.join("config.toml").display(),
                cfg.seed
            ),
            distance,
            points,
            barrier,
            min_alpha,
        })
    }
}

/// Every stored tensor of a model ([`nn::Sequential::snapshot`]'s layout).
pub type Weights = Vec<Vec<f32>>;

/// The config of the finished run in `dir` (its `config.toml`; errors when the folder holds no
/// run or the run has no final weights).
pub fn run_config(dir: &Path) -> Result<RunConfig> {
    let config = dir.join("config.toml");
    if !config.exists() {
        return Err(err(format!(
            "{}: not a run folder (no config.toml; `gradlab train` writes one)",
            dir.display()
        )));
    }
    if !dir.join("model.safetensors").exists() {
        return Err(err(format!(
            "{}: no model.safetensors — the run did not finish (it diverged or was interrupted); resume or rerun it first",
            dir.display()
        )));
    }
    Ok(RunConfig::from_file(&config, &[])?)
}

/// The run in `dir` rebuilt for evaluation from its config ([`run_config`]): a trainer (data
/// and model), the initial weights (the model as built, seeded) and the final weights
/// (`model.safetensors`); the trainer's model holds the final weights on return.
pub fn run_weights<'c>(cfg: &'c RunConfig, dir: &Path) -> Result<(Trainer<'c>, Weights, Weights)> {
    let mut t = Trainer::new(cfg)?;
    let theta0 = t.model.snapshot();
    t.model.load(dir.join("model.safetensors"))?;
    let theta1 = t.model.snapshot();
    Ok((t, theta0, theta1))
}

/// The barrier on `[0, 1]` and the `α` of the lowest training loss (see the module docs).
pub fn readings(points: &[LinePoint]) -> (f64, f64) {
    let at = |a: f64| {
        points
            .iter()
            .find(|p| (p.alpha - a).abs() < 1e-9)
            .map(|p| p.train_loss)
    };
    let barrier = match (at(0.0), at(1.0)) {
        (Some(l0), Some(l1)) => points
            .iter()
            .filter(|p| (0.0..=1.0).contains(&p.alpha))
            .map(|p| p.train_loss - ((1.0 - p.alpha) * l0 + p.alpha * l1))
            .fold(0.0f64, f64::max),
        _ => f64::NAN,
    };
    let min_alpha = points
        .iter()
        .filter(|p| p.train_loss.is_finite())
        .min_by(|a, b| a.train_loss.total_cmp(&b.train_loss))
        .map_or(f64::NAN, |p| p.alpha);
    (barrier, min_alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_hits_both_ends_and_extrapolates() {
        let a = vec![vec![1.0f32, -2.0], vec![0.5]];
        let b = vec![vec![3.0f32, 2.0], vec![0.5]];
        let mut o = Vec::new();
        let linear = |_| false;
        interpolate(&a, &b, 0.0, linear, &mut o);
        assert_eq!(o, a);
        interpolate(&a, &b, 1.0, linear, &mut o);
        assert_eq!(o, b);
        interpolate(&a, &b, 1.5, linear, &mut o);
        assert_eq!(o, vec![vec![4.0f32, 4.0], vec![0.5]]);
        interpolate(&a, &b, -0.5, linear, &mut o);
        assert_eq!(o, vec![vec![0.0f32, -4.0], vec![0.5]]);
        // Variances go geometrically: the ends exact, positive past them (linearly, 1 → 21
        // would give −9 at α = −0.5).
        let (v0, v1) = (vec![vec![1.0f32, 4.0]], vec![vec![21.0f32, 1.0]]);
        let geometric = |_| true;
        interpolate(&v0, &v1, 0.0, geometric, &mut o);
        assert_eq!(o, v0);
        interpolate(&v0, &v1, 1.0, geometric, &mut o);
        assert_eq!(o, v1);
        interpolate(&v0, &v1, -0.5, geometric, &mut o);
        assert!((o[0][0] - 21f32.powf(-0.5)).abs() < 1e-6 && (o[0][1] - 8.0).abs() < 1e-5);
        interpolate(&v0, &v1, 1.5, geometric, &mut o);
        assert!((o[0][0] - 21f32.powf(1.5)).abs() < 1e-3 && (o[0][1] - 0.5).abs() < 1e-6);
        assert_eq!(grid(-0.5, 1.5, 5), vec![-0.5, 0.0, 0.5, 1.0, 1.5]);
    }

    #[test]
    fn barrier_is_the_rise_above_the_chord() {
        let p = |alpha: f64, l: f64| LinePoint {
            alpha,
            train_loss: l,
            train_accuracy: None,
            test_loss: None,
            test_accuracy: None,
        };
        // A bump of 1.5 above the chord from 2 to 0 at α = 0.5 (chord value 1).
        let pts = [
            p(-0.5, 3.0),
            p(0.0, 2.0),
            p(0.5, 2.5),
            p(1.0, 0.0),
            p(1.5, 0.5),
        ];
        let (b, m) = readings(&pts);
        assert!((b - 1.5).abs() < 1e-12 && m == 1.0);
        // A convex path: no barrier.
        let pts = [p(0.0, 2.0), p(0.5, 0.5), p(1.0, 0.2)];
        assert_eq!(readings(&pts).0, 0.0);
    }
}
