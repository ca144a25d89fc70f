//! Curvature of the loss on the step's batch at the current weights, from exact
//! Hessian-vector products.
//!
//! # Series (run-level)
//!
//! * `lambda_max`, `lambda_min`: the largest and smallest Hessian eigenvalue (`< 0` marks
//!   negative curvature, a saddle), with `lambda_max_err`, `lambda_min_err`: their Ritz
//!   residuals, how coarse the readings are (an eigenvalue of `H` lies within the residual of
//!   the reading; once the extreme Ritz value has converged — full preset — that eigenvalue is
//!   the extreme one; a reading cut short after a few products — economy — can still be farther
//!   from the extreme than its residual), and `curvature_products` (products spent). The
//!   readings never overshoot: `lambda_max ≤ λmax`, `lambda_min ≥ λmin`.
//! * `preconditioned_lambda_max` (+ `_err`), Adam-family runs only: `λmax(P⁻¹H)` with Adam's
//!   preconditioner `P` of this step (see [`stability`](super::stability)).
//! * `sharpness`: the one the optimizer's stability threshold applies to (`lambda_max`, or the
//!   preconditioned one for Adam), `sharpness_threshold` (the threshold at the step's lr) and
//!   `stability = sharpness / sharpness_threshold` (1 = the edge of stability; above it the
//!   update rule diverges along the sharpest direction of the local quadratic). Not recorded for
//!   optimizers without a known threshold.
//! * `hessian_trace` (+ `hessian_trace_err`, one standard error; 0 when exact), when trace
//!   samples are asked for, and `hessian_trace_exact`: which method produced it (1: the exact
//!   diagonal, then also `hessian_trace@{parameter}` per parameter; 0: Hutch++, then also
//!   `hessian_trace_samples`, the samples it drew).
//!
//! # Methods
//!
//! * **Products**: exact, [`Probe::hvp`] (Pearlmutter's R-operator, forward-over-backward through
//!   every layer of the engine; training mode with the step's dropout masks and batch-norm batch
//!   statistics, so `H` is the Hessian of the step's own mean loss). No finite differences: every
//!   built-in layer has an R-operator; a custom layer without one makes the instrument report
//!   that error.
//! * **Extreme eigenvalues**: Lanczos with full reorthogonalisation
//!   ([`lanczos`]) from a Rademacher start vector seeded by `(seed, step)`: no
//!   warm start, so every measurement — the first included — stands on its own. Both ends come
//!   from one Krylov space; the run stops when both Ritz residuals fall below `tol · ρ` or after
//!   `iters` products. The `_err` series are those residuals `‖H y − θ y‖`.
//! * **Preconditioned sharpness** (Adam): Lanczos on `D H D`, `D = P^{-1/2}` (similar to `P⁻¹H`,
//!   so the same eigenvalues), with `P = (1 − β₁ᵗ)(√v̂ₜ + ε)` computed from the optimizer's second
//!   moment before this step and this step's gradient: exactly the `v̂ₜ` the update is about to
//!   use (`v̂₁ = g₁²` at the first step).
//! * **Trace, exact**: the Hessian diagonal by second-order backpropagation
//!   ([`hessian_diag`]) for chains of linear and convolution layers, elementwise activations,
//!   pooling, flatten, dropout and residual blocks of these under cross-entropy or MSE, when it
//!   costs no more than the measurement's products.
//! * **Trace, otherwise**: Hutch++ (Meyer, Musco, Musco & Woodruff, "Hutch++: optimal stochastic trace
//!   estimation", SOSA 2021) with the Lanczos basis `Q` as its low-rank sketch: `tr(H) =
//!   tr(QᵀHQ) + tr((I − QQᵀ) H (I − QQᵀ))`, the first term exact (`Σ αⱼ` of the Lanczos
//!   tridiagonal, no extra product) and the second Hutchinson's estimate over Rademacher
//!   vectors projected off `Q` (one product each), seeded by `(seed, step)`. The sketch removes
//!   the extreme eigendirections, which carry most of Hutchinson's variance;
//!   `hessian_trace_err` is the remaining term's sample standard error. **Adaptive**: at least
//!   `trace_samples`, then one more at a time until that error is at most `trace_rel_se ·
//!   |trace|` (full preset: 2.5%, so ≈ 95% of readings within the 5% goal) or the cap
//!   `hessian_trace_cap` is reached: `trace_samples` plus the Lanczos products this
//!   measurement left unspent of `iters` (at most `trace_max_samples`), so the trace never
//!   makes a measurement dearer than its fixed-sample worst case. The variance of the deflated term is
//!   `2 Σ_{i≠j} H̃ᵢⱼ²` (`H̃` the projected Hessian): when the trace is small against `‖H̃‖_F`
//!   — small, indefinite Hessians, e.g. at initialisation — the cap ends the run short of the
//!   target, and `hessian_trace_err` says how far (the engine's references with batch norm
//!   stop there, `tests/exact_curvature.rs`).
//!
//! Cost per measurement: `curvature_products` (+ as many for the preconditioned run) +
//! `hessian_trace_samples` products, each about twice a training step's forward+backward; the
//! measurement's products share one training-mode forward pass ([`Probe::hessian_products`]),
//! each bit for bit the product computed alone.

use optim::Params;
use train::{HessianProducts, Probe};

use super::hessian_diag;
use super::lanczos;
use super::reduce::{axpy, dot};
use super::stability::Rule;
use super::{Every, Instrument};
use crate::{Result, Timeline};

/// The full preset's most trace samples per measurement (see [`Curvature::full`]): its Lanczos
/// budget plus its least trace samples, `20 + 4`.
pub const FULL_TRACE_CAP: usize = 24;

/// Which quantities to measure, and how hard.
#[derive(Clone, Debug)]
pub struct Curvature {
    pub every: Every,
    /// Most Lanczos products for the Hessian's spectrum.
    pub iters: usize,
    /// Most Lanczos products for Adam's preconditioned sharpness (its spectrum is spread by
    /// the preconditioner, so its top converges in fewer).
    pub precond_iters: usize,
    /// Convergence: both extreme Ritz residuals at most `tol` times the spectral radius.
    pub tol: f64,
    /// Rademacher samples of the trace's deflated Hutchinson term, at least (0: no trace).
    pub trace_samples: usize,
    /// At most this many samples (one product each): the estimator keeps drawing until its
    /// standard error is at most `trace_rel_se · |trace|` or it has drawn this many — or, when
    /// adaptive, `trace_samples` plus the Lanczos products the measurement left unspent of
    /// `iters`, whichever is fewer, so a measurement never costs more products than
    /// `iters + precond_iters + trace_samples`.
    pub trace_max_samples: usize,
    /// The target standard error relative to the trace (0.025: ≈ 95% of readings within 5%).
    pub trace_rel_se: f64,
    pub seed: u64,
}

impl Curvature {
    /// `λmax`, `λmin` (and Adam's preconditioned sharpness) at step 1 and every 1,000 steps, at
    /// most 5 products (3 for the preconditioned one), stopping at residuals of 5% of the
    /// spectral radius: coarse, and the `_err` series say how coarse. A product costs about two
    /// training steps, so a measurement is ≤ ~10 training steps' worth (~17 for Adam): ≤ 2% of
    /// training once runs pass a few thousand steps, within the preset's 10% beside the other
    /// instruments.
    pub fn economy() -> Curvature {
        Curvature {
            precond_iters: 3,
            ..Curvature::new(Every(1000), 5, 0).with_tol(0.05)
        }
    }

    /// `λmax`, `λmin`, the trace and Adam's preconditioned sharpness at step 1 and every 250
    /// steps: at most 20 Lanczos products (12 for the preconditioned one), stopping at residuals
    /// of 0.5% of the spectral radius (the extreme eigenvalues then within 0.1% of exact on the
    /// reference models, `tests/exact_curvature.rs`), and the trace exact where the structure
    /// allows, else by Hutch++ from 4 samples on, stopping at a standard error of 2.5% of the
    /// trace or when the products the Lanczos run left unspent are used up (at most
    /// [`FULL_TRACE_CAP`]). ≤ 36 products, ~80 training steps per 250.
    pub fn full() -> Curvature {
        Curvature {
            precond_iters: 12,
            ..Curvature::new(Every(250), 20, 4)
                .with_tol(5e-3)
                .with_adaptive_trace(FULL_TRACE_CAP, 0.025)
        }
    }

    pub fn new(every: Every, iters: usize, trace_samples: usize) -> Curvature {
        Curvature {
            every,
            iters,
            precond_iters: iters,
            tol: 1e-3,
            trace_samples,
            trace_max_samples: trace_samples,
            trace_rel_se: 0.0,
            seed: 0x5eed_c0de,
        }
    }

    /// The same with an adaptive trace: at least `trace_samples`, then more until the standard
    /// error is at most `rel_se · |trace|`, at most `max_samples` in all.
    pub fn with_adaptive_trace(mut self, max_samples: usize, rel_se: f64) -> Curvature {
        self.trace_max_samples = max_samples.max(self.trace_samples);
        self.trace_rel_se = rel_se;
        self
    }

    /// The same with another convergence tolerance.
    pub fn with_tol(mut self, tol: f64) -> Curvature {
        self.tol = tol;
        self
    }
}

/// SplitMix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` values ±1 from `seed`.
pub fn rademacher(n: usize, seed: u64) -> Vec<f32> {
    let mut s = mix(seed);
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
}

/// Lengths of the model's parameters, in order.
fn shapes(p: &Probe<'_>) -> Vec<usize> {
    let m = &*p.model;
    (0..Params::<f32>::count(m))
        .map(|i| Params::<f32>::value(m, i).len())
        .collect()
}

/// Products `H x` on flat vectors (the parameters concatenated in order), optionally as
/// `D H D x` with a diagonal `D`; all of a measurement's products share one forward pass
/// ([`Probe::hessian_products`]).
struct Operator<'h, 'p, 'a> {
    h: &'h mut HessianProducts<'p, 'a>,
    shapes: Vec<usize>,
    d: Option<Vec<f32>>,
    v: Vec<Vec<f32>>,
    hv: Vec<Vec<f32>>,
    dx: Vec<f32>,
}

impl<'h, 'p, 'a> Operator<'h, 'p, 'a> {
    fn new(h: &'h mut HessianProducts<'p, 'a>, shapes: Vec<usize>) -> Self {
        Operator {
            h,
            v: shapes.iter().map(|&n| vec![0.0; n]).collect(),
            shapes,
            d: None,
            hv: Vec::new(),
            dx: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.shapes.iter().sum()
    }

    fn apply(&mut self, x: &[f32], out: &mut [f32]) -> Result<()> {
        let x = match &self.d {
            Some(d) => {
                self.dx.clear();
                self.dx.extend(x.iter().zip(d).map(|(x, d)| x * d));
                &self.dx[..]
            }
            None => x,
        };
        let mut at = 0;
        for (v, &n) in self.v.iter_mut().zip(&self.shapes) {
            v.copy_from_slice(&x[at..at + n]);
            at += n;
        }
        self.h.apply(&self.v, &mut self.hv)?;
        let mut at = 0;
        for (h, &n) in self.hv.iter().zip(&self.shapes) {
            out[at..at + n].copy_from_slice(h);
            at += n;
        }
        if let Some(d) = &self.d {
            out.iter_mut().zip(d).for_each(|(o, d)| *o *= d);
        }
        Ok(())
    }
}

/// `D = P^{-1/2}` of Adam's preconditioner for this step (see the module docs), flat; `None`
/// when the optimizer keeps no Adam state under the expected transform.
fn adam_scaling(p: &Probe<'_>, rule: &Rule) -> Option<Vec<f32>> {
    let Rule::Adam {
        b1,
        b2,
        eps,
        amsgrad,
    } = *rule
    else {
        return None;
    };
    let k = p.optimizer.chain().transforms().iter().position(|t| {
        matches!(
            t.name(),
            "scale_by_adam" | "scale_by_nadam" | "scale_by_radam"
        )
    })?;
    let m = &*p.model;
    let mut d = Vec::new();
    for i in 0..Params::<f32>::count(m) {
        let n = Params::<f32>::value(m, i).len();
        let Some(g) = Params::<f32>::grad(m, i) else {
            // Not updated this step: it does not take part in the dynamics.
            d.extend(std::iter::repeat_n(0.0, n));
            continue;
        };
        let state = p
            .optimizer
            .state(Params::<f32>::name(m, i))
            .and_then(|s| s.get(k));
        let t = state.map_or(0.0, |s| s.scalars.first().copied().unwrap_or(0.0)) + 1.0;
        let (bc1, bc2) = (1.0 - b1.powf(t), 1.0 - b2.powf(t));
        for (j, &g) in g.iter().enumerate() {
            let prev = state.map_or(0.0, |s| s.bufs[1][j] as f64);
            let mut v = b2 * prev + (1.0 - b2) * g as f64 * g as f64;
            if amsgrad {
                v = v.max(state.map_or(0.0, |s| s.bufs[2][j] as f64));
            }
            let pj = bc1 * ((v / bc2).sqrt() + eps);
            d.push((1.0 / pj.sqrt()) as f32);
        }
    }
    Some(d)
}

impl Instrument for Curvature {
    fn name(&self) -> &'static str {
        "curvature"
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        if !self.every.due(p.step) || self.iters == 0 {
            return Ok(());
        }
        let step = p.step;
        let rule = Rule::of(p);
        let lr = p.lr;
        let scaling = if rule.preconditioned() {
            adam_scaling(p, &rule)
        } else {
            None
        };
        let seed = mix(self.seed ^ mix(step));
        // The exact diagonal where the structure allows it and it costs no more than the
        // measurement's products.
        let exact = if self.trace_samples > 0 {
            let budget = (self.iters + self.trace_samples) as f64;
            hessian_diag::exact_diagonal(p, budget)?.ok()
        } else {
            None
        };
        if let Some(diag) = &exact {
            let mut total = 0.0;
            for d in diag {
                let s: f64 = d.diag.iter().sum();
                t.push("hessian_trace", Some(&d.name), step, s);
                total += s;
            }
            t.push("hessian_trace", None, step, total);
            t.push("hessian_trace_err", None, step, 0.0);
            t.push("hessian_trace_exact", None, step, 1.0);
        }
        let shapes = shapes(p);
        p.hessian_products(|h| -> Result<()> {
            let mut op = Operator::new(h, shapes);
            let n = op.len();
            let e = lanczos::lanczos(&rademacher(n, seed), self.iters, self.tol, |x, y| {
                op.apply(x, y)
            })?;
            if !(e.max.is_finite() && e.min.is_finite()) {
                return Ok(());
            }
            t.push("lambda_max", None, step, e.max);
            t.push("lambda_min", None, step, e.min);
            t.push("lambda_max_err", None, step, e.max_residual);
            t.push("lambda_min_err", None, step, e.min_residual);
            t.push("curvature_products", None, step, e.products as f64);
            if self.trace_samples > 0 && exact.is_none() {
                // Hutch++ with the Lanczos basis as the sketch (module docs).
                let unspent = self.iters.saturating_sub(e.products);
                let mut max = self.trace_max_samples;
                if self.trace_rel_se > 0.0 {
                    max = max.min(self.trace_samples + unspent);
                }
                let (min, max) = (self.trace_samples, max.max(self.trace_samples));
                let mut z_hz = Vec::with_capacity(max);
                let mut hz = vec![0.0f32; n];
                // (trace, standard error) of the samples so far.
                let estimate = |z_hz: &[f64]| {
                    let s = z_hz.len() as f64;
                    let mean = z_hz.iter().sum::<f64>() / s;
                    let var = z_hz.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (s - 1.0);
                    (e.trace_t + mean, (var / s).sqrt())
                };
                for k in 0..max {
                    let mut z = rademacher(n, mix(seed ^ mix(k as u64 + 1)));
                    for q in &e.basis {
                        axpy(-dot(q, &z), q, &mut z);
                    }
                    op.apply(&z, &mut hz)?;
                    z_hz.push(dot(&z, &hz));
                    // Sequential stopping on the sample standard error, never before `min` samples
                    // (fewer would make the error itself too noisy to stop on).
                    if z_hz.len() >= min.max(2) {
                        let (tr, se) = estimate(&z_hz);
                        if se <= self.trace_rel_se * tr.abs() {
                            break;
                        }
                    }
                }
                let (tr, se) = if z_hz.len() > 1 {
                    estimate(&z_hz)
                } else {
                    (e.trace_t + z_hz[0], f64::NAN)
                };
                if tr.is_finite() {
                    t.push("hessian_trace", None, step, tr);
                    t.push("hessian_trace_exact", None, step, 0.0);
                    t.push("hessian_trace_samples", None, step, z_hz.len() as f64);
                    t.push("hessian_trace_cap", None, step, max as f64);
                    if se.is_finite() {
                        t.push("hessian_trace_err", None, step, se);
                    }
                }
            }
            let lmax = e.max;
            // The basis can be large (iters × parameters): free it before the next run.
            drop(e);
            let sharpness = match scaling {
                Some(d) => {
                    op.d = Some(d);
                    let e = lanczos::lanczos(
                        &rademacher(n, mix(seed ^ 0x9c)),
                        self.precond_iters,
                        self.tol,
                        |x, y| op.apply(x, y),
                    )?;
                    if !e.max.is_finite() {
                        return Ok(());
                    }
                    t.push("preconditioned_lambda_max", None, step, e.max);
                    t.push("preconditioned_lambda_max_err", None, step, e.max_residual);
                    e.max
                }
                None if rule.preconditioned() => return Ok(()),
                None => lmax,
            };
            if let Some(thr) = rule.threshold(lr) {
                t.push("sharpness", None, step, sharpness);
                t.push("sharpness_threshold", None, step, thr);
                t.push("stability", None, step, sharpness / thr);
            }
            Ok(())
        })
    }
}
