//! LAMB: layer-wise adaptive moments for large-batch training.
//!
//! Update rule (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in
//! 76 minutes", Algorithm 2), with gradient `g`, parameter `p`, per tensor:
//! ```text
//! m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²
//! r ← (m / bc₁) / (√v / √bc₂ + ε) + λ·p              bcᵢ = 1 − βᵢᵗ, λ = weight_decay
//! τ ← ‖p‖ / ‖r‖   (τ = 1 when ‖p‖ = 0 or ‖r‖ = 0)
//! p ← p − lr·τ·r
//! ```
//! Conventions: the common implementation (optax's `lamb`, timm's `Lamb` with its defaults):
//! Adam moments *with* bias correction (cybertronai's `pytorch-lamb` omits it), decoupled weight
//! decay inside the trust-ratio numerator's update, the identity scaling `φ(x) = x` of the paper
//! (no clamping of `‖p‖`; timm's `trust_clip` and NVIDIA's `max_grad_norm` pre-clipping are not
//! here — use `[clip]` for the latter), and the ratio applied to every tensor (biases and norms
//! included; give them a parameter group with `weight_decay = 0` as BERT does). Defaults:
//! `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-6`, `weight_decay = 0`. A scheduled momentum
//! replaces `β₁`.
//!
//! Recipe: `scale_by_adam > add_decayed_weights > scale_by_trust_ratio > scale_by_learning_rate`
//! (Adam's moments in PyTorch Adam's order of operations, without AMSGrad).

use crate::hyper::{Check, Hyper};
use crate::transforms::{
    add_decayed_weights, scale_by_adam, scale_by_learning_rate, scale_by_trust_ratio,
};
use crate::{Chain, Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct LambConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for LambConfig {
    fn default() -> Self {
        LambConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-6,
            weight_decay: 0.0,
        }
    }
}

impl LambConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = LambConfig::default();
        Ok(LambConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            betas: h.pair("betas", d.betas, Check::Unit)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let chain = Chain::new(vec![])?
            .then(scale_by_adam(self.betas.0, self.betas.1, self.eps, false))?
            .then(add_decayed_weights())?
            .then(scale_by_trust_ratio())?
            .then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "lamb".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    LambConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{close, quadratic, trajectory};
    use crate::transforms::trust_ratio;

    fn norm(x: &[f64]) -> f64 {
        x.iter().map(|v| v * v).sum::<f64>().sqrt()
    }

    #[test]
    fn first_steps_by_hand() {
        let (lr, wd, eps, b1, b2) = (0.1, 0.01, 1e-6, 0.9, 0.999);
        let cfg = LambConfig {
            lr,
            weight_decay: wd,
            ..Default::default()
        };
        let p0 = [3.0, 4.0];
        let (g1, g2) = ([1.0, -2.0], [0.5, 1.0]);
        let w = trajectory(cfg.recipe().unwrap(), &[2], &p0, &[&g1, &g2]);
        // Step 1: m̂ = g, v̂ = g² → r = g/(|g| + ε) + λp.
        let r: Vec<f64> = (0..2)
            .map(|i| g1[i] / (g1[i].abs() + eps) + wd * p0[i])
            .collect();
        let tau = 5.0 / norm(&r);
        let p1: Vec<f64> = (0..2).map(|i| p0[i] - lr * tau * r[i]).collect();
        assert!(close(&w[0], &p1, 1e-12), "{:?} vs {p1:?}", w[0]);
        // Step 2.
        let r: Vec<f64> = (0..2)
            .map(|i| {
                let m = b1 * (1.0 - b1) * g1[i] + (1.0 - b1) * g2[i];
                let v = b2 * (1.0 - b2) * g1[i] * g1[i] + (1.0 - b2) * g2[i] * g2[i];
                (m / (1.0 - b1 * b1)) / (v.sqrt() / (1.0 - b2 * b2).sqrt() + eps) + wd * p1[i]
            })
            .collect();
        let tau = norm(&p1) / norm(&r);
        let p2: Vec<f64> = (0..2).map(|i| p1[i] - lr * tau * r[i]).collect();
        assert!(close(&w[1], &p2, 1e-12), "{:?} vs {p2:?}", w[1]);
    }

    #[test]
    fn trust_ratio_is_one_for_zero_parameter() {
        assert_eq!(trust_ratio(&[0.0f64, 0.0], &[1.0, 2.0]), 1.0);
        assert_eq!(trust_ratio(&[1.0f64, 2.0], &[0.0, 0.0]), 1.0);
        assert_eq!(trust_ratio(&[3.0f64, 4.0], &[0.0, 0.5]), 10.0);
        // A zero parameter with wd = 0 takes a plain Adam step of size lr: p₁ = −lr·g/(|g| + ε).
        let cfg = LambConfig {
            lr: 0.1,
            ..Default::default()
        };
        let w = trajectory(cfg.recipe().unwrap(), &[2], &[0.0, 0.0], &[&[2.0, -0.5]]);
        assert!(
            close(
                &w[0],
                &[-0.1 * 2.0 / (2.0 + 1e-6), 0.1 * 0.5 / (0.5 + 1e-6)],
                1e-14
            ),
            "{:?}",
            w[0]
        );
    }

    #[test]
    fn converges_on_quadratic() {
        let cfg = LambConfig {
            lr: 0.02,
            ..Default::default()
        };
        let (f0, f) = quadratic(cfg.recipe().unwrap(), &[2], &[1.0, 10.0], &[1.0, -1.0], 300);
        assert!(f < f0 / 10.0, "{f0} -> {f}");
    }
}
