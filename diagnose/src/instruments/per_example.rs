//! Per-example gradient statistics: how noisy is the mini-batch gradient for this batch size?
//!
//! Notation: a batch of `B` examples with per-example losses ℓᵢ and mean loss L = (1/B) Σ ℓᵢ;
//! gᵢ = ∇ℓᵢ (the per-example loss gradient) and ḡ = ∇L = (1/B) Σ gᵢ (the step's gradient, before
//! clipping or weight decay). The engine's extended backward gives sᵢ = ‖gᵢ / B‖² (each
//! example's share of the mean-loss gradient), so ‖gᵢ‖ = B·√sᵢ.
//!
//! Batch norm in training mode couples the examples (an example's loss depends on the whole
//! batch through the batch statistics), so per-example gradients are not defined. For such models
//! the readings are of the *evaluation-statistics variant*, as BackPACK (Dangel, Kunstner &
//! Hennig, ICLR 2020) proposes for this case: every batch norm is the fixed affine map it is in
//! evaluation mode (running mean and variance as constants: those after the step's training
//! forward, which has folded in this batch), dropout keeps the step's masks, and
//! gᵢ, ḡ and the subsample gradients are all of that variant's loss (one extra forward and
//! backward pass per due step, [`Probe::per_example_eval_statistics`]). Such steps also record
//! the marker series [`EVAL_STATISTICS`] (value 1) and the report labels the readings. Batch
//! norm without running statistics has no such variant: nothing is recorded.
//!
//! Series (run-level) on due steps, when the model offers per-example norms (exact, or in the
//! evaluation-statistics variant):
//! - `pe_norm_mean`, `pe_norm_max`: mean and max of ‖gᵢ‖.
//! - `grad_snr` = ‖ḡ‖² / (V / B), with V = (1/B) Σ ‖gᵢ − ḡ‖² = (1/B) Σ ‖gᵢ‖² − ‖ḡ‖²: the squared
//!   mean over the variance of the mean. Not recorded when V = 0.
//! - `norm_test` = V / (B ‖ḡ‖²): the norm test of Byrd, Chin, Nocedal & Wu (2012) as used by
//!   Bollapragada, Byrd & Nocedal (2018); > θ² (θ = 0.9) says the batch gradient is too noisy
//!   for the batch size. Not recorded when ḡ = 0.
//!
//! - `noise_trace` = B·V/(B − 1): the unbiased estimate of tr(Σ), Σ the covariance of one
//!   example's gradient (Σ‖gᵢ − ḡ‖²/(B − 1)); `grad_sq_unbiased` = ‖ḡ‖² − noise_trace/B: the
//!   unbiased estimate of ‖G‖², G the true gradient (it can be ≤ 0 when noise dominates one batch).
//! - `b_simple` = ⟨noise_trace⟩ / ⟨grad_sq_unbiased⟩, both averaged over the last
//!   [`NOISE_WINDOW`] readings (the ratio of one batch's estimates is too noisy): the simple
//!   gradient noise scale of McCandlish, Kaplan, Amodei et al., "An empirical model of
//!   large-batch training" (2018), eq. 2.8 and App. A, which predicts the critical batch size —
//!   below it, doubling the batch nearly halves the steps needed; above it, it barely helps.
//!   Recorded when the averaged ‖G‖² is positive. `batch_size` is B.
//!
//! In the full preset, on sparser steps, a subsample of `m` examples i ∈ S (spread over the batch)
//! gets its exact gradients from [`Probe::example_gradient`] for the two tests of Bollapragada,
//! Byrd & Nocedal, "Adaptive sampling strategies for stochastic optimization" (SIAM J. Optim.
//! 2018), with sample variances over S (denominator m − 1) and the batch size B of the step:
//! - `inner_product_test` = [Σ_{i∈S} (gᵢᵀḡ − ‖ḡ‖²)² / (m − 1)] / (B ‖ḡ‖⁴): the variance of the
//!   projection of the batch gradient on the true direction; the test asks it to be ≤ θ²
//!   (θ = 0.9), i.e. ḡ is a descent direction with high probability.
//! - `orthogonality_test` = [Σ_{i∈S} ‖gᵢ − (gᵢᵀḡ / ‖ḡ‖²) ḡ‖² / (m − 1)] / (B ‖ḡ‖²): the variance of
//!   the component orthogonal to ḡ; the test asks it to be ≤ ν² for a chosen ν (a bound on the
//!   angle between the batch gradient and the true gradient; the paper uses large ν).
//!
//! Both statistics are the test's left-hand side divided by its right-hand side without θ²/ν², so
//! detectors compare them with their own thresholds. ḡ stands in for the true gradient ∇F, as
//! in the paper's practical version.

use optim::Params;
use train::Probe;

use super::reduce::sum2;
use super::{Every, Instrument};
use crate::{Result, Timeline};

/// The marker series (value 1 on every due step) saying that the step's per-example readings
/// are of the evaluation-statistics variant (a model with batch norm; see the module docs).
pub const EVAL_STATISTICS: &str = "per_example_eval_statistics";

/// Readings averaged into `b_simple`.
pub const NOISE_WINDOW: usize = 10;

/// Per-example gradient statistics (see the module docs).
pub struct PerExample {
    pub every: Every,
    /// The inner-product / orthogonality tests: schedule and subsample size (None: off).
    pub tests: Option<(Every, usize)>,
    gbar: Vec<Vec<f32>>,
    gi: Vec<Vec<f32>>,
    /// The evaluation-statistics variant's per-example squared shares, reused.
    sq_variant: Vec<f32>,
    /// The last readings of `(noise_trace, grad_sq_unbiased)`.
    noise: std::collections::VecDeque<(f64, f64)>,
}

impl PerExample {
    pub fn new(every: Every, tests: Option<(Every, usize)>) -> PerExample {
        PerExample {
            every,
            tests,
            gbar: Vec::new(),
            gi: Vec::new(),
            sq_variant: Vec::new(),
            noise: std::collections::VecDeque::new(),
        }
    }

    /// Economy: the norms every 50 steps, no subsample tests.
    pub fn economy() -> PerExample {
        PerExample::new(Every(50), None)
    }

    /// Full: the norms every 5 steps, the tests on 8 examples (8 extra backward passes) every
    /// 100 steps.
    pub fn full() -> PerExample {
        PerExample::new(Every(5), Some((Every(100), 8)))
    }

    fn tests_due(&self, step: u64) -> Option<usize> {
        self.tests
            .filter(|(e, m)| *m >= 2 && e.due(step))
            .map(|(_, m)| m)
    }
}

/// Statistics from the per-example squared shares `sq` (sᵢ = ‖gᵢ/B‖²) and ‖ḡ‖²:
/// `(pe_norm_mean, pe_norm_max, grad_snr, norm_test)` (see the module docs).
pub fn norm_stats(sq: &[f32], gbar_sq: f64) -> (f64, f64, Option<f64>, Option<f64>) {
    let b = sq.len() as f64;
    let norms = sq.iter().map(|&s| b * (s.max(0.0) as f64).sqrt());
    let mean = norms.clone().sum::<f64>() / b;
    let max = norms.fold(0.0f64, f64::max);
    let mean_sq = b * b * sq.iter().map(|&s| s as f64).sum::<f64>() / b;
    let v = (mean_sq - gbar_sq).max(0.0);
    let snr = (v > 0.0).then(|| gbar_sq / (v / b));
    let norm_test = (gbar_sq > 0.0).then(|| v / (b * gbar_sq));
    (mean, max, snr, norm_test)
}

/// `(tr Σ, ‖G‖²)`, the unbiased one-batch estimates from the per-example squared shares `sq`
/// (sᵢ = ‖gᵢ/B‖²) and ‖ḡ‖² (see the module docs); `None` for a batch of one.
pub fn noise_estimates(sq: &[f32], gbar_sq: f64) -> Option<(f64, f64)> {
    let b = sq.len() as f64;
    if sq.len() < 2 {
        return None;
    }
    let mean_sq = b * sq.iter().map(|&s| s as f64).sum::<f64>();
    let tr = b * (mean_sq - gbar_sq) / (b - 1.0);
    Some((tr, gbar_sq - tr / b))
}

/// The inner-product and orthogonality statistics from the subsample's `dots` (gᵢᵀḡ) and
/// `sq` (‖gᵢ‖²), ‖ḡ‖² and the batch size (see the module docs).
pub fn subsample_tests(dots: &[f64], sq: &[f64], gbar_sq: f64, batch: usize) -> (f64, f64) {
    let m = dots.len() as f64;
    let b = batch as f64;
    let ip = dots.iter().map(|d| (d - gbar_sq).powi(2)).sum::<f64>() / (m - 1.0);
    let orth = dots
        .iter()
        .zip(sq)
        .map(|(d, s)| (s - d * d / gbar_sq).max(0.0))
        .sum::<f64>()
        / (m - 1.0);
    (ip / (b * gbar_sq * gbar_sq), orth / (b * gbar_sq))
}

impl Instrument for PerExample {
    fn name(&self) -> &'static str {
        "per_example"
    }

    fn wants_per_example(&self, step: u64) -> bool {
        self.every.due(step) || self.tests_due(step).is_some()
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        let step = p.step;
        if !self.wants_per_example(step) {
            return Ok(());
        }
        // Exact statistics from the step's backward pass, or (batch norm) the
        // evaluation-statistics variant's, with its own mean gradient.
        let mut sq_variant = std::mem::take(&mut self.sq_variant);
        let out = match p.per_example_sq_norms {
            Some(sq) => self.record(p, t, sq, false),
            None => match p.per_example_eval_statistics(&mut sq_variant, &mut self.gbar) {
                Ok(Some(_)) => self.record(p, t, &sq_variant, true),
                Ok(None) => Ok(()),
                Err(e) => Err(e.into()),
            },
        };
        self.sq_variant = sq_variant;
        out
    }
}

impl PerExample {
    /// Records the due readings of step `p.step` from the per-example squared shares `sq`: of
    /// the step itself (`self.gbar` is filled from the model's gradient), or with `variant` of
    /// the evaluation-statistics variant (`self.gbar` already holds that variant's gradient).
    fn record(
        &mut self,
        p: &mut Probe<'_>,
        t: &mut Timeline,
        sq: &[f32],
        variant: bool,
    ) -> Result<()> {
        let step = p.step;
        let batch = sq.len();
        if batch == 0 {
            return Ok(());
        }
        let tests = self.tests_due(step);
        let gbar_sq: f64 = if variant {
            t.push(EVAL_STATISTICS, None, step, 1.0);
            self.gbar.iter().map(|g| sum2(g, g, |x, _| x * x)).sum()
        } else {
            // The step's own gradient: read in place, copied only for the subsample tests.
            let m = &*p.model;
            let n = Params::<f32>::count(m);
            if tests.is_some() {
                self.gbar.resize_with(n, Vec::new);
                for (i, g) in self.gbar.iter_mut().enumerate() {
                    g.clear();
                    match Params::<f32>::grad(m, i) {
                        Some(src) => g.extend_from_slice(src),
                        None => g.resize(Params::<f32>::value(m, i).len(), 0.0),
                    }
                }
            }
            (0..n)
                .filter_map(|i| Params::<f32>::grad(m, i))
                .map(|g| sum2(g, g, |x, _| x * x))
                .sum()
        };
        if self.every.due(step) {
            let (mean, max, snr, norm_test) = norm_stats(sq, gbar_sq);
            t.push("pe_norm_mean", None, step, mean);
            t.push("pe_norm_max", None, step, max);
            if let Some(s) = snr {
                t.push("grad_snr", None, step, s);
            }
            if let Some(nt) = norm_test {
                t.push("norm_test", None, step, nt);
            }
            if let Some((tr, g2)) = noise_estimates(sq, gbar_sq) {
                t.push("noise_trace", None, step, tr);
                t.push("grad_sq_unbiased", None, step, g2);
                t.push("batch_size", None, step, batch as f64);
                if self.noise.len() == NOISE_WINDOW {
                    self.noise.pop_front();
                }
                self.noise.push_back((tr, g2));
                let (a, b) = self
                    .noise
                    .iter()
                    .fold((0.0, 0.0), |(a, b), x| (a + x.0, b + x.1));
                if b > 0.0 && a.is_finite() {
                    t.push("b_simple", None, step, a / b);
                }
            }
        }
        if let Some(mm) = tests {
            if gbar_sq <= 0.0 {
                return Ok(());
            }
            let mm = mm.min(batch);
            if mm < 2 {
                return Ok(());
            }
            let scale = batch as f64;
            // Spread over the batch, shifted with the step so other examples get their turn.
            let idx: Vec<usize> = (0..mm)
                .map(|k| (k * batch / mm + step as usize) % batch)
                .collect();
            let mut dots = Vec::with_capacity(mm);
            let mut sqs = Vec::with_capacity(mm);
            let gbar = &self.gbar;
            // The subsample shares one forward pass (`Probe::example_gradients`).
            let each = |_: usize, gi: &[Vec<f32>]| {
                let (mut d, mut s) = (0.0f64, 0.0f64);
                for (gi, gb) in gi.iter().zip(gbar) {
                    for (&a, &b) in gi.iter().zip(gb) {
                        let a = a as f64 * scale;
                        d += a * b as f64;
                        s += a * a;
                    }
                }
                dots.push(d);
                sqs.push(s);
            };
            if variant {
                p.example_gradients_eval_statistics(&idx, &mut self.gi, each)?;
            } else {
                p.example_gradients(&idx, &mut self.gi, each)?;
            }
            let (ip, orth) = subsample_tests(&dots, &sqs, gbar_sq, batch);
            t.push("inner_product_test", None, step, ip);
            t.push("orthogonality_test", None, step, orth);
        }
        Ok(())
    }
}
