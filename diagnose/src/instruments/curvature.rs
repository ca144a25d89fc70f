//! Curvature of the loss on the step's batch at the current weights, from Hessian-vector
//! products.
//!
//! Series (run-level): `lambda_max` (largest Hessian eigenvalue), `lambda_min` (smallest; < 0
//! marks negative curvature, a saddle), `hessian_trace` (Hutchinson estimate), `stability`
//! (`lr · lambda_max`; above 2 plain gradient descent diverges along the top eigenvector).
//!
//! Hessian-vector products are central finite differences of the gradient,
//! `Hv ≈ (∇f(θ + h v) − ∇f(θ − h v)) / 2h`, with both gradients from
//! [`Probe::loss_and_gradient`] (training mode, the step's dropout masks and batch-norm batch
//! statistics replayed, so `f` is one deterministic function within the step).
//! The step is `h = δ · max(‖θ‖, 1) / ‖v‖` with `δ = 2⁻⁹ ≈ 2e-3`: the weights move by a
//! fraction `δ` of their norm. The rounding error of an f32 gradient difference is about
//! `ε_f32 ‖g‖ / h` (relative `ε/δ ≈ 6e-5` of the gradient scale), the truncation error
//! `O(h²)` (zero for a quadratic); `δ ≈ ε^{1/3}` balances the two for smooth losses and stays
//! small enough not to cross many ReLU kinks.
//!
//! * `λmax`: power iteration on `H`, warm-started from the previous measurement's vector (a
//!   random one the first time), at most `iters` products, stopping early when the Rayleigh
//!   quotient changes by less than `tol` relative.
//!   When the quotient falls short of `‖Hv‖` (the dominant eigenvalue is negative, or `±λ`
//!   tie at a symmetric saddle), the iteration goes on with `H + ‖Hv‖·I` instead.
//! * `λmin`: power iteration on `H − λmax I`, whose dominant eigenvalue is `λmin − λmax`
//!   (all its eigenvalues are ≤ 0); warm-started likewise.
//! * trace: Hutchinson's `mean zᵀHz` over `samples` Rademacher vectors `z` seeded by
//!   `(seed, step)` (deterministic).
//!
//! Cost per measurement: `2 ·` (products) forward+backward passes on the batch.

use optim::Params;
use train::Probe;

use super::{Every, Instrument};
use crate::{Result, Timeline};

/// Relative finite-difference step (see the module docs).
pub const DELTA: f64 = 1.0 / 512.0;

/// Which quantities to measure, and how hard.
#[derive(Clone, Debug)]
pub struct Curvature {
    pub every: Every,
    /// Power-iteration products for `λmax` (and for `λmin`).
    pub iters: usize,
    /// Relative change of the Rayleigh quotient that ends a power iteration early.
    pub tol: f64,
    /// Also `λmin` (power iteration on `H − λmax I`).
    pub lambda_min: bool,
    /// Rademacher samples for the trace (0: no trace).
    pub trace_samples: usize,
    pub seed: u64,
    v_max: Option<Vec<Vec<f32>>>,
    v_min: Option<Vec<Vec<f32>>>,
}

impl Curvature {
    /// `λmax` only, at step 1 and every 500 steps, at most 2 products (warm starts carry the iteration on
    /// from one measurement to the next). A product costs about two training steps plus the
    /// probes' save/restore (measured on a 784-512-512-10 MLP, batch 128: ~22 ms per product
    /// against ~5.6 ms per training step on a shared 2-core machine), so every 50 steps would
    /// already cost ~18% and every 100 about 8% (a measurement costs ~8 training steps:
    /// `cargo test --release -p diagnose --test curvature cost_per_measurement -- --ignored`);
    /// every 500 (~2%) leaves room for the other instruments within the preset's 10%. The full
    /// preset is the one for watching curvature closely.
    pub fn economy() -> Curvature {
        Curvature::new(Every(500), 2, false, 0)
    }

    /// `λmax`, `λmin` (≤ 4 products each, warm-started) and the trace (2 samples) every 100
    /// steps: ≤ 10 products, ~25 training steps' worth, about 0.25× training time. (All three
    /// every 10 steps with 8 + 8 + 4 products measured ~60 training steps per measurement, 6×.)
    pub fn full() -> Curvature {
        Curvature::new(Every(100), 4, true, 2)
    }

    pub fn new(every: Every, iters: usize, lambda_min: bool, trace_samples: usize) -> Curvature {
        Curvature {
            every,
            iters,
            tol: 1e-3,
            lambda_min,
            trace_samples,
            seed: 0x5eed_c0de,
            v_max: None,
            v_min: None,
        }
    }
}

impl Curvature {
    /// The same with another early-stopping tolerance.
    pub fn with_tol(mut self, tol: f64) -> Curvature {
        self.tol = tol;
        self
    }
}

fn dot(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| super::layers::sum2(a, b, |x, y| x * y))
        .sum()
}

fn norm(a: &[Vec<f32>]) -> f64 {
    dot(a, a).sqrt()
}

fn scale(a: &mut [Vec<f32>], s: f64) {
    a.iter_mut()
        .flat_map(|v| v.iter_mut())
        .for_each(|x| *x = (*x as f64 * s) as f32);
}

/// SplitMix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A vector of ±1 shaped like the model's parameters, from `seed`.
pub fn rademacher(shapes: &[usize], seed: u64) -> Vec<Vec<f32>> {
    let mut s = mix(seed);
    shapes
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    s = mix(s);
                    if s >> 63 == 1 {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect()
        })
        .collect()
}

fn shapes(p: &Probe<'_>) -> Vec<usize> {
    let m = &*p.model;
    (0..Params::<f32>::count(m))
        .map(|i| Params::<f32>::value(m, i).len())
        .collect()
}

fn weight_norm(p: &Probe<'_>) -> f64 {
    let m = &*p.model;
    (0..Params::<f32>::count(m))
        .map(|i| nn::sum_sq(Params::<f32>::value(m, i)))
        .sum::<f64>()
        .sqrt()
}

/// Hessian-vector products of the step's loss at the probe's current weights.
pub struct Hvp {
    theta_norm: f64,
    plus: Vec<Vec<f32>>,
    minus: Vec<Vec<f32>>,
    /// Products computed so far.
    pub count: usize,
}

impl Hvp {
    pub fn new(p: &Probe<'_>) -> Hvp {
        Hvp {
            theta_norm: weight_norm(p),
            plus: Vec::new(),
            minus: Vec::new(),
            count: 0,
        }
    }

    /// `out = H v` (central differences, see the module docs).
    pub fn apply(
        &mut self,
        p: &mut Probe<'_>,
        v: &[Vec<f32>],
        out: &mut Vec<Vec<f32>>,
    ) -> Result<()> {
        let vn = norm(v);
        out.resize_with(v.len(), Vec::new);
        if vn == 0.0 || !vn.is_finite() {
            for (o, v) in out.iter_mut().zip(v) {
                o.clear();
                o.resize(v.len(), 0.0);
            }
            return Ok(());
        }
        let h = DELTA * self.theta_norm.max(1.0) / vn;
        p.loss_and_gradient(Some((v, h as f32)), &mut self.plus)?;
        p.loss_and_gradient(Some((v, -h as f32)), &mut self.minus)?;
        // The step actually taken in f32 is `h as f32`.
        let inv = 1.0 / (2.0 * (h as f32) as f64);
        for ((o, a), b) in out.iter_mut().zip(&self.plus).zip(&self.minus) {
            o.clear();
            o.extend(
                a.iter()
                    .zip(b)
                    .map(|(&a, &b)| ((a as f64 - b as f64) * inv) as f32),
            );
        }
        self.count += 1;
        Ok(())
    }
}

/// Power iteration for the dominant eigenpair of `H − shift·I`, starting from `v` (normalised
/// in place; on return the eigenvector estimate). Returns the Rayleigh quotient of `H − shift·I`
/// and the last `‖(H − shift·I) v‖` (an estimate of the dominant eigenvalue's magnitude that,
/// unlike the Rayleigh quotient, does not cancel when `±λ` share the top magnitude).
pub fn power_iteration(
    p: &mut Probe<'_>,
    hvp: &mut Hvp,
    v: &mut [Vec<f32>],
    shift: f64,
    iters: usize,
    tol: f64,
) -> Result<(f64, f64)> {
    let n = norm(v);
    if n == 0.0 || !n.is_finite() {
        return Ok((f64::NAN, f64::NAN));
    }
    scale(v, 1.0 / n);
    let mut w = Vec::new();
    let mut lambda = f64::NAN;
    let mut magnitude = f64::NAN;
    for _ in 0..iters {
        hvp.apply(p, v, &mut w)?;
        if shift != 0.0 {
            for (w, v) in w.iter_mut().zip(v.iter()) {
                w.iter_mut()
                    .zip(v)
                    .for_each(|(w, &v)| *w = (*w as f64 - shift * v as f64) as f32);
            }
        }
        let rq = dot(v, &w);
        let wn = norm(&w);
        magnitude = wn;
        if wn == 0.0 || !wn.is_finite() {
            return Ok((rq, wn));
        }
        for (v, w) in v.iter_mut().zip(&w) {
            v.iter_mut()
                .zip(w)
                .for_each(|(v, &w)| *v = (w as f64 / wn) as f32);
        }
        let done = lambda.is_finite() && (rq - lambda).abs() <= tol * rq.abs();
        lambda = rq;
        if done {
            break;
        }
    }
    Ok((lambda, magnitude))
}

/// Hutchinson's trace estimate from `samples` Rademacher vectors seeded by `seed`.
pub fn hutchinson(p: &mut Probe<'_>, hvp: &mut Hvp, samples: usize, seed: u64) -> Result<f64> {
    let sh = shapes(p);
    let mut w = Vec::new();
    let mut sum = 0.0;
    for k in 0..samples {
        let z = rademacher(&sh, mix(seed ^ mix(k as u64)));
        hvp.apply(p, &z, &mut w)?;
        sum += dot(&z, &w);
    }
    Ok(sum / samples.max(1) as f64)
}

impl Instrument for Curvature {
    fn name(&self) -> &'static str {
        "curvature"
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        if !self.every.due(p.step) || self.iters == 0 {
            return Ok(());
        }
        let sh = shapes(p);
        let mut hvp = Hvp::new(p);
        let fits = |v: &Option<Vec<Vec<f32>>>| {
            v.as_ref()
                .is_some_and(|v| v.iter().map(Vec::len).eq(sh.iter().copied()))
        };
        let mut v = match self.v_max.take() {
            Some(v) if fits(&Some(v.clone())) => v,
            _ => rademacher(&sh, mix(self.seed ^ 1)),
        };
        let (mut lmax, magnitude) =
            power_iteration(p, &mut hvp, &mut v, 0.0, self.iters, self.tol)?;
        if magnitude.is_finite() && lmax < 0.9 * magnitude {
            // The dominant eigenvalue is negative, or ±λ share the top magnitude (a symmetric
            // saddle) and the Rayleigh quotient cancels: iterate on H + |λ|·I, whose dominant
            // eigenvalue is λmax + |λ|.
            let shift = magnitude * 1.05;
            let (mu, _) = power_iteration(p, &mut hvp, &mut v, -shift, self.iters, self.tol)?;
            if mu.is_finite() {
                lmax = mu - shift;
            }
        }
        self.v_max = Some(v);
        if !lmax.is_finite() {
            return Ok(());
        }
        t.push("lambda_max", None, p.step, lmax);
        t.push("stability", None, p.step, p.lr * lmax);
        if self.lambda_min {
            let mut v = match self.v_min.take() {
                Some(v) if fits(&Some(v.clone())) => v,
                _ => rademacher(&sh, mix(self.seed ^ 2)),
            };
            // Shift by a little more than the top eigenvalue magnitude so that H − shift·I is
            // negative definite even when λmax is slightly underestimated (or the Rayleigh
            // quotient cancelled between ±λ at a symmetric saddle).
            let top = if magnitude.is_finite() {
                lmax.abs().max(magnitude)
            } else {
                lmax.abs()
            };
            let shift = top * 1.05 + f64::MIN_POSITIVE;
            let (mu, _) = power_iteration(p, &mut hvp, &mut v, shift, self.iters, self.tol)?;
            self.v_min = Some(v);
            if mu.is_finite() {
                t.push("lambda_min", None, p.step, (mu + shift).min(lmax));
            }
        }
        if self.trace_samples > 0 {
            let tr = hutchinson(p, &mut hvp, self.trace_samples, mix(self.seed ^ p.step))?;
            if tr.is_finite() {
                t.push("hessian_trace", None, p.step, tr);
            }
        }
        Ok(())
    }
}
