//! signSGD and Signum (sign descent, with or without momentum).
//!
//! Update rule (Bernstein et al. 2018, "signSGD: Compressed Optimisation for Non-Convex
//! Problems", Algorithms 1 and 3), with gradient `g`, parameter `p`:
//! ```text
//! m ← β·m + (1 − β)·g       (Signum, momentum β > 0; m starts at zero)   else m ← g
//! p ← p − lr·(sign(m) + λ·p)                    (decoupled weight decay, λ = weight_decay)
//! ```
//! Conventions: the momentum is the paper's zero-initialised exponential average without bias
//! correction (as the authors' MXNet `Signum`), not PyTorch SGD's buffer (which copies the first
//! gradient); `sign(0) = 0`; weight decay is decoupled and multiplied by `lr` (MXNet's `wd_lh`).
//! The paper gives no default learning rate; `lr = 1e-3` here is a conservative default (each
//! element moves by exactly `lr` per step, so it is the step size in parameter units — tune it).
//! Defaults: `lr = 1e-3`, `momentum = 0` (plain signSGD), `weight_decay = 0`. A scheduled momentum
//! (one-cycle) replaces `β` when Signum is on.
//!
//! Recipe: `[ema] > scale_by_sign > add_decayed_weights > scale_by_learning_rate`.

use crate::hyper::{Check, Hyper};
use crate::transforms::{add_decayed_weights, ema, scale_by_learning_rate, scale_by_sign};
use crate::{Chain, Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct SignSgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Default for SignSgdConfig {
    fn default() -> Self {
        SignSgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }
}

impl SignSgdConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = SignSgdConfig::default();
        Ok(SignSgdConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            momentum: h.f64("momentum", d.momentum, Check::Unit)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let mut chain = Chain::new(vec![])?;
        if self.momentum != 0.0 {
            chain = chain.then(ema(self.momentum))?;
        }
        chain = chain
            .then(scale_by_sign())?
            .then(add_decayed_weights())?
            .then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "signsgd".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    SignSgdConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{close, quadratic, trajectory};

    #[test]
    fn signsgd_first_steps_by_hand() {
        let cfg = SignSgdConfig {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.2,
        };
        let w = trajectory(
            cfg.recipe().unwrap(),
            &[3],
            &[1.0, -1.0, 2.0],
            &[&[3.0, -1e-9, 0.0], &[-1.0, 2.0, 5.0]],
        );
        let p1 = [
            1.0 - 0.1 * (1.0 + 0.2),
            -1.0 - 0.1 * (-1.0 - 0.2),
            2.0 - 0.1 * (0.0 + 0.4),
        ];
        assert!(close(&w[0], &p1, 1e-15), "{:?}", w[0]);
        let p2: Vec<f64> = p1
            .iter()
            .zip([-1.0, 1.0, 1.0])
            .map(|(p, s)| p - 0.1 * (s + 0.2 * p))
            .collect();
        assert!(close(&w[1], &p2, 1e-15), "{:?}", w[1]);
    }

    #[test]
    fn signum_uses_zero_initialised_average() {
        let cfg = SignSgdConfig {
            lr: 1.0,
            momentum: 0.9,
            weight_decay: 0.0,
        };
        // m₁ = 0.1·1 = 0.1 → −1; m₂ = 0.09 − 0.1·0.5 = 0.04 → −1; m₃ = 0.036 − 0.1·0.5 = −0.014 → +1.
        // (PyTorch-style momentum, m₁ = g₁ = 1, would give m₃ = 0.81 − 0.095 > 0 → −1.)
        let w = trajectory(
            cfg.recipe().unwrap(),
            &[1],
            &[0.0],
            &[&[1.0], &[-0.5], &[-0.5]],
        );
        assert_eq!(w, vec![vec![-1.0], vec![-2.0], vec![-1.0]]);
    }

    #[test]
    fn converges_on_quadratic() {
        for momentum in [0.0, 0.9] {
            let cfg = SignSgdConfig {
                lr: 0.01,
                momentum,
                weight_decay: 0.0,
            };
            let (f0, f) = quadratic(cfg.recipe().unwrap(), &[2], &[1.0, 10.0], &[1.0, -1.0], 300);
            assert!(f < f0 / 10.0, "momentum {momentum}: {f0} -> {f}");
        }
    }
}
