//! Step quality α (after Cockpit, Schneider et al. 2021): where the update lands within a 1-D
//! quadratic fit of the loss along the update direction.
//!
//! Series (run-level): `alpha`.
//!
//! Along the update `d = θ_{t+1} − θ_t`, the loss on the step's batch is fitted by
//! `q(s) = a s² + b s + c` with `q(0) = c = f(θ_t)` (the step's loss), `q'(0) = b = ∇f(θ_t)·d`
//! (the step's gradient, read in `after_backward`) and `q(1) = f(θ_{t+1})` (the same batch,
//! same dropout masks, [`Probe::loss_at`] in `after_update`), so `a = f(θ_{t+1}) − c − b`.
//! With the minimiser `s* = −b / 2a` the reading is `α = 1/s* − 1 = −2a/b − 1`: 0 when the
//! step lands at the valley floor, → −1 for a step far too short, +1 at the mirror point
//! (the loss back at its start), > 1 overshooting beyond it.
//!
//! Degenerate cases:
//! * `b < 0`, `a ≤ 0` (the loss still falls, or falls faster, at the end of the step: no floor
//!   ahead): α = −1, the step undershoots without bound.
//! * `b ≥ 0` (the update is not a descent direction, e.g. momentum carrying the weights
//!   uphill, or a zero update): α is not defined and nothing is recorded.
//!
//! Cost per measurement: one forward pass and a copy of the weights.

use optim::Params;
use train::Probe;

use super::reduce::sum3;
use super::{Every, Instrument};
use crate::{Result, Timeline};

/// α from the fit: `c` the loss at the start, `b` the directional derivative, `f1` the loss at
/// the end of the step (see the module docs; `None` when `b ≥ 0` or not finite).
pub fn alpha(c: f64, b: f64, f1: f64) -> Option<f64> {
    if b.is_nan() || b >= 0.0 || !c.is_finite() || !f1.is_finite() {
        return None;
    }
    let a = f1 - c - b;
    if a <= 0.0 {
        return Some(-1.0);
    }
    Some(-2.0 * a / b - 1.0)
}

/// The step-quality instrument.
#[derive(Clone, Debug)]
pub struct StepQuality {
    pub every: Every,
    /// `(step, loss)` of the step `after_backward` stored `theta` and `grad` for.
    pending: Option<(u64, f32)>,
    /// `θ_t` and `∇f(θ_t)` of that step, reused from one measurement to the next (fresh
    /// multi-megabyte vectors each time would cost page faults and zeroing).
    theta: Vec<Vec<f32>>,
    grad: Vec<Vec<f32>>,
}

impl StepQuality {
    pub fn new(every: Every) -> StepQuality {
        StepQuality {
            every,
            pending: None,
            theta: Vec::new(),
            grad: Vec::new(),
        }
    }
}

impl Instrument for StepQuality {
    fn name(&self) -> &'static str {
        "step"
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, _t: &mut Timeline) -> Result<()> {
        self.pending = None;
        if !self.every.due(p.step) {
            return Ok(());
        }
        let m = &*p.model;
        let n = Params::<f32>::count(m);
        m.snapshot_into(&mut self.theta);
        self.grad.resize_with(n, Vec::new);
        for (i, g) in self.grad.iter_mut().enumerate() {
            g.clear();
            match Params::<f32>::grad(m, i) {
                Some(src) => g.extend_from_slice(src),
                None => g.resize(Params::<f32>::value(m, i).len(), 0.0),
            }
        }
        self.pending = Some((p.step, p.loss));
        Ok(())
    }

    fn after_update(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        let Some((step, loss)) = self.pending.take() else {
            return Ok(());
        };
        if step != p.step {
            return Ok(());
        }
        let m = &*p.model;
        let mut b = 0.0f64;
        for (i, (th, g)) in self.theta.iter().zip(&self.grad).enumerate() {
            if i >= Params::<f32>::count(m) {
                break;
            }
            let now = Params::<f32>::value(m, i);
            b += sum3(now, th, g, |new, old, g| (new - old) * g);
        }
        let f1 = p.loss_at(None)? as f64;
        if let Some(a) = alpha(loss as f64, b, f1) {
            t.push("alpha", None, p.step, a);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::alpha;

    #[test]
    fn alpha_of_exact_quadratics() {
        // f(s) = (s − m)², c = m², b = −2m, f(1) = (1 − m)²: α = 1/m − 1.
        for m in [0.25, 0.5, 1.0, 2.0, 10.0] {
            let a = alpha(m * m, -2.0 * m, (1.0 - m) * (1.0 - m)).unwrap();
            assert!((a - (1.0 / m - 1.0)).abs() < 1e-12, "m {m}: {a}");
        }
        assert_eq!(alpha(1.0, -1.0, -0.5), Some(-1.0)); // linear descent: no floor ahead
        assert_eq!(alpha(1.0, 0.5, 2.0), None);
    }
}
