//! Lion: EvoLved Sign Momentum.
//!
//! Update rule (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2),
//! with gradient `g`, parameter `p`:
//! ```text
//! p ← p·(1 − lr·λ)                    (decoupled weight decay, λ = weight_decay)
//! u ← sign(β₁·m + (1 − β₁)·g)
//! p ← p − lr·u
//! m ← β₂·m + (1 − β₂)·g
//! ```
//! Conventions: lucidrains' `lion-pytorch` (the de-facto PyTorch reference): `m` starts at zero,
//! no bias correction, `sign(0) = 0`, decoupled weight decay multiplied by `lr` (as the paper's
//! Algorithm 2, so the paper's advice to use a 3–10× smaller `lr` and 3–10× larger `λ` than for
//! AdamW keeps `lr·λ` comparable). optax's `lion` is the same rule. Defaults are lion-pytorch's:
//! `lr = 1e-4`, `betas = (0.9, 0.99)`, `weight_decay = 0`. A scheduled momentum (one-cycle)
//! replaces `β₁`.
//!
//! Recipe: `lion_momentum > scale_by_sign > add_decayed_weights > scale_by_learning_rate`.

use crate::hyper::{Check, Hyper};
use crate::transforms::{
    add_decayed_weights, lion_momentum, scale_by_learning_rate, scale_by_sign,
};
use crate::{Chain, Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct LionConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub weight_decay: f64,
}

impl Default for LionConfig {
    fn default() -> Self {
        LionConfig {
            lr: 1e-4,
            betas: (0.9, 0.99),
            weight_decay: 0.0,
        }
    }
}

impl LionConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = LionConfig::default();
        Ok(LionConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            betas: h.pair("betas", d.betas, Check::UnitClosed)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let chain = Chain::new(vec![])?
            .then(lion_momentum(self.betas.0, self.betas.1))?
            .then(scale_by_sign())?
            .then(add_decayed_weights())?
            .then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "lion".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    LionConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{close, quadratic, trajectory};

    #[test]
    fn first_steps_by_hand() {
        let cfg = LionConfig {
            lr: 0.1,
            betas: (0.9, 0.99),
            weight_decay: 0.5,
        };
        let w = trajectory(
            cfg.recipe().unwrap(),
            &[3],
            &[1.0, -2.0, 0.5],
            &[&[0.3, -0.4, 0.0], &[-0.5, -0.1, 0.2]],
        );
        // Step 1: m = 0 → u = sign(0.1 g) = sign(g); p ← p − 0.1·(u + 0.5 p).
        let p1 = [
            1.0 - 0.1 * (1.0 + 0.5),
            -2.0 - 0.1 * (-1.0 - 1.0),
            0.5 - 0.1 * (0.0 + 0.25),
        ];
        assert!(close(&w[0], &p1, 1e-14), "{:?}", w[0]);
        // m₁ = 0.01·g₁ = [0.003, −0.004, 0]; step 2: 0.9 m₁ + 0.1 g₂ = [−0.0473, −0.0136, 0.02].
        let u = [-1.0, -1.0, 1.0];
        let p2: Vec<f64> = p1
            .iter()
            .zip(u)
            .map(|(p, u)| p - 0.1 * (u + 0.5 * p))
            .collect();
        assert!(close(&w[1], &p2, 1e-14), "{:?}", w[1]);
    }

    #[test]
    fn momentum_sign_can_differ_from_gradient_sign() {
        // After many positive gradients, a small negative one does not flip the update.
        let cfg = LionConfig {
            lr: 1.0,
            ..Default::default()
        };
        let (one, neg): (&[f64], &[f64]) = (&[1.0], &[-0.05]);
        let g = [one, one, one, one, one, neg];
        let w = trajectory(cfg.recipe().unwrap(), &[1], &[0.0], &g);
        assert_eq!(w[5][0], -6.0);
    }

    #[test]
    fn converges_on_quadratic() {
        let cfg = LionConfig {
            lr: 0.01,
            ..Default::default()
        };
        let (f0, f) = quadratic(cfg.recipe().unwrap(), &[2], &[1.0, 10.0], &[1.0, -1.0], 300);
        assert!(f < f0 / 10.0, "{f0} -> {f}");
    }
}
