//! A 2-D slice of the training loss around a run's final weights in filter-normalised random
//! directions (Li, Xu, Taylor, Studer & Goldstein, "Visualizing the loss landscape of neural
//! nets", NeurIPS 2018):
//!
//! ```text
//! L(a, b) = L(θ₁ + a·δ + b·η),   a, b ∈ [−span, span]
//! ```
//!
//! `δ` and `η` are Gaussian directions (seeded) rescaled filter by filter: for every parameter
//! with two or more dimensions, each filter — the slice along its first dimension: a linear
//! layer's output unit, a convolution's output channel — gets the norm of the same filter of
//! `θ₁`, `δ_f ← δ_f · ‖θ₁_f‖ / ‖δ_f‖`. One-dimensional parameters (biases, batch-norm scales and
//! shifts) and buffers get no direction (the paper's `ignore = biasbn`). So `a = 1` moves every
//! filter by its own size, and slices of nets whose weights differ in scale compare.
//!
//! Reading: `rise_at_half` — the mean of `L − L(0, 0)` over the grid points at distance 0.5 ±
//! half a grid step from the centre: how fast the loss rises around the minimum in filter-
//! normalised units (flatter minima rise less; Li et al., Keskar et al. 2017).

use std::path::Path;

use optim::Params;
use serde::Serialize;
use train::{Split, Trainer};

use super::line::grid;
use crate::{DiagnoseError, Result};

/// Rescales `d` filter by filter to the norms of `theta`'s filters; parameters of fewer than two
/// dimensions (and every tensor past `shapes`: buffers) are zeroed. `shapes[i]` is parameter
/// `i`'s shape. A filter of `d` with zero norm stays zero.
pub fn normalize_filters(d: &mut [Vec<f32>], theta: &[Vec<f32>], shapes: &[Vec<usize>]) {
    for (i, (d, w)) in d.iter_mut().zip(theta).enumerate() {
        let shape = shapes.get(i).map(Vec::as_slice).unwrap_or(&[]);
        if shape.len() < 2 || d.is_empty() {
            d.iter_mut().for_each(|v| *v = 0.0);
            continue;
        }
        let per = d.len() / shape[0].max(1);
        for (df, wf) in d.chunks_mut(per.max(1)).zip(w.chunks(per.max(1))) {
            let dn = df.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            let wn = wf.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            let s = if dn > 0.0 { wn / dn } else { 0.0 };
            df.iter_mut().for_each(|v| *v = (*v as f64 * s) as f32);
        }
    }
}

/// A seeded Gaussian direction shaped like `theta`, filter-normalised ([`normalize_filters`]).
pub fn direction(theta: &[Vec<f32>], shapes: &[Vec<usize>], seed: u64) -> Vec<Vec<f32>> {
    let mut rng = nn::rng::Rng::new(seed);
    let mut d: Vec<Vec<f32>> = theta
        .iter()
        .map(|t| t.iter().map(|_| rng.normal() as f32).collect())
        .collect();
    normalize_filters(&mut d, theta, shapes);
    d
}

/// The slice and its reading.
#[derive(Clone, Debug, Serialize)]
pub struct Slice {
    pub run: String,
    /// Grid coordinates along `δ` (columns) and `η` (rows).
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// `train_loss[row][col]` = `L(a[col], b[row])` on the training set, evaluation mode.
    pub train_loss: Vec<Vec<f64>>,
    pub seed: u64,
    /// The loss at the final weights.
    pub center: f64,
    /// Mean rise of the loss at distance 0.5 from the centre (see the module docs).
    pub rise_at_half: f64,
    /// Seconds the evaluations took.
    pub seconds: f64,
    /// The sharpness reading at the final weights (`λmax` by the doctor's Lanczos, beside the
    /// doctor's own during the run): [`super::Sharpness::of_run`], which needs a scratch folder
    /// to train its one step in, so [`Slice::of_run`] leaves it to the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharpness: Option<super::Sharpness>,
}

impl Slice {
    /// Whether `n` points per side over `±span` make a slice (checked before any work).
    pub fn check(n: usize, span: f64) -> Result<()> {
        if !((2..=201).contains(&n) && span.is_finite() && span > 0.0) {
            return Err(DiagnoseError::Invalid(format!(
                "landscape slice: {n} points per side over ±{span}: expected 2 to 201 points and a span > 0"
            )));
        }
        Ok(())
    }

    /// Evaluates an `n × n` grid over `[−span, span]²` around the final weights of the run in
    /// `dir` (initial weights and data rebuilt from its `config.toml`, as for [`super::Line`]).
    pub fn of_run(dir: &Path, n: usize, span: f64, seed: u64) -> Result<Slice> {
        Slice::check(n, span)?;
        let cfg = super::line::run_config(dir)?;
        let (mut t, _theta0, theta1) = super::line::run_weights(&cfg, dir)?;
        let shapes: Vec<Vec<usize>> = (0..Params::<f32>::count(&t.model))
            .map(|i| Params::<f32>::shape(&t.model, i).to_vec())
            .collect();
        let d1 = direction(&theta1, &shapes, seed ^ 0xD1);
        let d2 = direction(&theta1, &shapes, seed ^ 0xD2);
        let a = grid(-span, span, n);
        let started = std::time::Instant::now();
        let rows = plane(&mut t, &theta1, [&d1, &d2], &a, &a)?;
        let seconds = started.elapsed().as_secs_f64();
        t.model.restore(&theta1)?;
        let center = eval_train(&mut t, &theta1)?;
        let step = 2.0 * span / (n - 1) as f64;
        let ring: Vec<f64> = rows
            .iter()
            .enumerate()
            .flat_map(|(r, row)| {
                let a = &a;
                row.iter().enumerate().filter_map(move |(c, &l)| {
                    let dist = (a[c].powi(2) + a[r].powi(2)).sqrt();
                    ((dist - 0.5).abs() <= step / 2.0).then_some(l - center)
                })
            })
            .collect();
        Ok(Slice {
            run: dir.display().to_string(),
            b: a.clone(),
            a,
            train_loss: rows,
            seed,
            center,
            rise_at_half: if ring.is_empty() {
                f64::NAN
            } else {
                ring.iter().sum::<f64>() / ring.len() as f64
            },
            seconds,
            sharpness: None,
        })
    }
}

/// The training loss at `θ₁ + a·d₀ + b·d₁` for every `b` (rows) and `a` (columns); the model is
/// left at `θ₁`.
pub fn plane(
    t: &mut Trainer<'_>,
    theta1: &[Vec<f32>],
    d: [&[Vec<f32>]; 2],
    a: &[f64],
    b: &[f64],
) -> Result<Vec<Vec<f64>>> {
    let mut theta = theta1.to_vec();
    let mut rows = Vec::with_capacity(b.len());
    for &bv in b {
        let mut row = Vec::with_capacity(a.len());
        for &av in a {
            for (((o, w), x), y) in theta.iter_mut().zip(theta1).zip(d[0]).zip(d[1]) {
                for (((o, &w), &x), &y) in o.iter_mut().zip(w).zip(x).zip(y) {
                    *o = (w as f64 + av * x as f64 + bv * y as f64) as f32;
                }
            }
            row.push(eval_train(t, &theta)?);
        }
        rows.push(row);
    }
    t.model.restore(theta1)?;
    Ok(rows)
}

fn eval_train(t: &mut Trainer<'_>, theta: &[Vec<f32>]) -> Result<f64> {
    t.model.restore(theta)?;
    Ok(t.evaluate_split(Split::Train)?
        .map(|(l, _)| l)
        .unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a direct computation: every filter of the result is parallel to the same filter of
    /// `d` and has the norm of `theta`'s; 1-D parameters and buffers get nothing.
    #[test]
    fn filters_get_the_weights_norms() {
        // A 3×4 weight (3 filters of 4), a bias of 3, a 2×2×3 conv-like weight, a buffer.
        let theta = vec![
            vec![
                1.0f32, 2.0, 2.0, 0.0, 0.0, 0.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0,
            ],
            vec![5.0, 6.0, 7.0],
            (0..12).map(|i| i as f32 - 5.0).collect::<Vec<f32>>(),
            vec![9.0, 9.0],
        ];
        let shapes = vec![vec![3, 4], vec![3], vec![2, 2, 3]];
        let d0: Vec<Vec<f32>> = theta
            .iter()
            .map(|t| {
                (0..t.len())
                    .map(|i| ((i * 7 + 3) % 5) as f32 - 2.1)
                    .collect()
            })
            .collect();
        let mut d = d0.clone();
        normalize_filters(&mut d, &theta, &shapes);
        let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        for (k, per) in [(0usize, 4usize), (2, 6)] {
            for f in 0..theta[k].len() / per {
                let r = f * per..(f + 1) * per;
                let (dn, wn) = (norm(&d[k][r.clone()]), norm(&theta[k][r.clone()]));
                assert!(
                    (dn - wn).abs() < 1e-5 * wn.max(1.0),
                    "{k}/{f}: {dn} vs {wn}"
                );
                // Parallel to the original: d = s·d0 with one s per filter.
                let s = dn / norm(&d0[k][r.clone()]);
                for i in r {
                    assert!((d[k][i] as f64 - s * d0[k][i] as f64).abs() < 1e-5);
                }
            }
        }
        assert!(d[1].iter().chain(&d[3]).all(|&v| v == 0.0));
    }

    #[test]
    fn directions_are_seeded() {
        let theta = vec![vec![1.0f32; 8]];
        let shapes = vec![vec![2, 4]];
        assert_eq!(direction(&theta, &shapes, 3), direction(&theta, &shapes, 3));
        assert_ne!(direction(&theta, &shapes, 3), direction(&theta, &shapes, 4));
    }
}
