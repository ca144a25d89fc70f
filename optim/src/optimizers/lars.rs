//! LARS: layer-wise adaptive rate scaling.
//!
//! Update rule (You et al. 2017, "Large Batch Training of Convolutional Networks"), with gradient
//! `g`, parameter `p`, per tensor:
//! ```text
//! local_lr = η·‖p‖ / (‖g‖ + λ·‖p‖ + ε)     (1 when ‖p‖ = 0 or ‖g‖ = 0)   η = trust_coefficient
//! g ← (g + λ·p)·local_lr                                                λ = weight_decay
//! b ← g  at the first step, else  b ← μ·b + g                           (PyTorch SGD momentum)
//! p ← p − lr·b
//! ```
//! Conventions: torchlars' (kakaobrain) and NVIDIA apex's `LARC` (non-clip mode): the local rate
//! uses `‖g‖ + λ‖p‖` (the paper's denominator) plus `ε`, the weight decay is added to the
//! gradient before scaling, and the result feeds PyTorch's SGD momentum (`lr` multiplies the
//! buffer, the first buffer is the raw gradient). Where they differ: apex skips both the scaling
//! *and* the weight decay when a norm is zero, torchlars (and this) still adds the decay;
//! implementations in self-supervised code (SimCLR, Barlow Twins) use `‖g + λp‖` instead of
//! `‖g‖ + λ‖p‖`. Biases and normalisation weights are usually excluded from weight decay: put them
//! in a parameter group with `weight_decay = 0` (`params = ["*.bias", "*norm*"]`); note that the
//! layer-wise scaling still applies to them (a group-level switch for that is not available).
//! Defaults: `lr = 1e-3`, `momentum = 0.9`, `weight_decay = 0`, `trust_coefficient = 1e-3`,
//! `eps = 1e-8`. With `η = 1e-3` the effective per-layer step is `lr·1e-3·‖p‖/‖g‖`, so LARS
//! setups use large base rates (e.g. `lr` 1–10 for ResNet-50 at large batch): tune `lr`.
//!
//! Recipe: `scale_by_lars_ratio > [trace] > scale_by_learning_rate`.

use crate::hyper::{Check, Hyper};
use crate::transforms::{scale_by_lars_ratio, scale_by_learning_rate, trace};
use crate::{Chain, Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct LarsConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub trust_coefficient: f64,
    pub eps: f64,
}

impl Default for LarsConfig {
    fn default() -> Self {
        LarsConfig {
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 0.0,
            trust_coefficient: 1e-3,
            eps: 1e-8,
        }
    }
}

impl LarsConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = LarsConfig::default();
        Ok(LarsConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            momentum: h.f64("momentum", d.momentum, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            trust_coefficient: h.f64("trust_coefficient", d.trust_coefficient, Check::Positive)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let mut chain =
            Chain::new(vec![])?.then(scale_by_lars_ratio(self.trust_coefficient, self.eps))?;
        if self.momentum != 0.0 {
            chain = chain.then(trace(self.momentum, 0.0, false))?;
        }
        chain = chain.then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "lars".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    LarsConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{close, quadratic, trajectory};

    #[test]
    fn first_steps_by_hand() {
        let cfg = LarsConfig {
            lr: 0.5,
            momentum: 0.9,
            weight_decay: 0.1,
            trust_coefficient: 0.02,
            eps: 1e-8,
        };
        let p0 = [3.0, 4.0];
        let w = trajectory(
            cfg.recipe().unwrap(),
            &[2],
            &p0,
            &[&[0.6, 0.8], &[0.0, 2.0]],
        );
        // Step 1: ‖p‖ = 5, ‖g‖ = 1: local = 0.02·5/(1 + 0.5 + 1e-8).
        let l1 = 0.1 / (1.5 + 1e-8);
        let b1 = [(0.6 + 0.3) * l1, (0.8 + 0.4) * l1];
        let p1 = [3.0 - 0.5 * b1[0], 4.0 - 0.5 * b1[1]];
        assert!(close(&w[0], &p1, 1e-14), "{:?} vs {p1:?}", w[0]);
        // Step 2: ‖g‖ = 2.
        let pn = (p1[0] * p1[0] + p1[1] * p1[1]).sqrt();
        let l2 = 0.02 * pn / (2.0 + 0.1 * pn + 1e-8);
        let g = [(0.0 + 0.1 * p1[0]) * l2, (2.0 + 0.1 * p1[1]) * l2];
        let b2 = [0.9 * b1[0] + g[0], 0.9 * b1[1] + g[1]];
        let p2 = [p1[0] - 0.5 * b2[0], p1[1] - 0.5 * b2[1]];
        assert!(close(&w[1], &p2, 1e-14), "{:?} vs {p2:?}", w[1]);
    }

    #[test]
    fn zero_norm_uses_unit_rate() {
        // ‖p‖ = 0: local_lr = 1, so LARS is plain SGD (weight decay still added, here 0·p).
        let cfg = LarsConfig {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.3,
            ..Default::default()
        };
        let w = trajectory(cfg.recipe().unwrap(), &[2], &[0.0, 0.0], &[&[1.0, -2.0]]);
        assert!(close(&w[0], &[-0.1, 0.2], 1e-15), "{:?}", w[0]);
    }

    #[test]
    fn converges_on_quadratic() {
        let cfg = LarsConfig {
            lr: 5.0,
            trust_coefficient: 1e-3,
            ..Default::default()
        };
        let (f0, f) = quadratic(cfg.recipe().unwrap(), &[2], &[1.0, 10.0], &[1.0, -1.0], 300);
        assert!(f < f0 / 10.0, "{f0} -> {f}");
    }
}
