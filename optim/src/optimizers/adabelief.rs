//! AdaBelief: adapting step sizes by the belief in observed gradients.
//!
//! Update rule (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
//! Observed Gradients", Algorithm 2), with gradient `g`, parameter `p`, `bcᵢ = 1 − βᵢᵗ`:
//! ```text
//! p ← p·(1 − lr·λ)                 if decoupled_weight_decay   else  g ← g + λ·p
//! m ← β₁·m + (1 − β₁)·g
//! s ← β₂·s + (1 − β₂)·(g − m)² + ε
//! p ← p − (lr / bc₁)·m / (√s / √bc₂ + ε)
//! ```
//! Conventions: adabelief-pytorch 0.2 (the authors' package): `ε` is added to `s` *in the state*
//! (so it accumulates, unlike Adam's), and again to the denominator; decoupled weight decay
//! (`weight_decouple = True`) multiplies `p` by `1 − lr·λ` (`fixed_decay` is not supported);
//! `amsgrad` is not supported. With `rectify`, the RAdam rectification of the package
//! (`degenerated_to_sgd = True`): while `ρₜ < 5` the step is SGD with momentum,
//! `p ← p − (lr/bc₁)·m`, afterwards `p ← p − lr·r·m/(√s + ε)` with RAdam's `r` (see
//! [`ScaleByBelief`](crate::transforms::ScaleByBelief)). Defaults: `lr = 1e-3`,
//! `betas = (0.9, 0.999)`, `eps = 1e-16`, `weight_decay = 0`, `decoupled_weight_decay = true`,
//! `rectify = false`. Note that adabelief-pytorch 0.2's own default is `rectify = True` (the
//! paper's algorithm and the TensorFlow package's default are unrectified); set `rectify = true`
//! to reproduce the package's defaults exactly. A scheduled momentum replaces `β₁`.
//!
//! Recipe: `[add_decayed_weights] > scale_by_belief > [add_decayed_weights] > scale_by_learning_rate`
//! (the first when coupled, the second when decoupled).

use crate::hyper::{Check, Hyper};
use crate::optimizers::torch_chain;
use crate::transforms::{scale_by_belief, scale_by_learning_rate};
use crate::{Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct AdaBeliefConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled_weight_decay: bool,
    pub rectify: bool,
}

impl Default for AdaBeliefConfig {
    fn default() -> Self {
        AdaBeliefConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-16,
            weight_decay: 0.0,
            decoupled_weight_decay: true,
            rectify: false,
        }
    }
}

impl AdaBeliefConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = AdaBeliefConfig::default();
        Ok(AdaBeliefConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            betas: h.pair("betas", d.betas, Check::Unit)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            decoupled_weight_decay: h.bool("decoupled_weight_decay", d.decoupled_weight_decay)?,
            rectify: h.bool("rectify", d.rectify)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let (b1, b2) = self.betas;
        let core = scale_by_belief(b1, b2, self.eps, self.rectify);
        let chain = torch_chain(false, self.decoupled_weight_decay, Some(core))?
            .then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "adabelief".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    AdaBeliefConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{close, quadratic, trajectory};

    /// Reference: a literal transcription of adabelief-pytorch 0.2's step for one scalar.
    fn reference(cfg: &AdaBeliefConfig, p0: f64, grads: &[f64]) -> Vec<f64> {
        let (b1, b2) = cfg.betas;
        let (mut p, mut m, mut s) = (p0, 0.0f64, 0.0f64);
        let mut out = vec![];
        for (t, &g0) in grads.iter().enumerate() {
            let t = (t + 1) as i32;
            let mut g = g0;
            if cfg.decoupled_weight_decay {
                p *= 1.0 - cfg.lr * cfg.weight_decay;
            } else {
                g += cfg.weight_decay * p;
            }
            let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
            m = m * b1 + (1.0 - b1) * g;
            let r = g - m;
            s = s * b2 + (1.0 - b2) * r * r;
            s += cfg.eps;
            let denom = s.sqrt() / bc2.sqrt() + cfg.eps;
            if !cfg.rectify {
                p -= cfg.lr / bc1 * m / denom;
            } else {
                let b2t = b2.powi(t);
                let rho_inf = 2.0 / (1.0 - b2) - 1.0;
                let rho = rho_inf - 2.0 * t as f64 * b2t / (1.0 - b2t);
                if rho >= 5.0 {
                    let step = ((1.0 - b2t) * (rho - 4.0) / (rho_inf - 4.0) * (rho - 2.0) / rho
                        * rho_inf
                        / (rho_inf - 2.0))
                        .sqrt()
                        / bc1;
                    p -= step * cfg.lr * m / (s.sqrt() + cfg.eps);
                } else {
                    p -= cfg.lr / bc1 * m;
                }
            }
            out.push(p);
        }
        out
    }

    #[test]
    fn first_steps_by_hand() {
        let cfg = AdaBeliefConfig {
            lr: 0.1,
            eps: 1e-8,
            ..Default::default()
        };
        let w = trajectory(cfg.recipe().unwrap(), &[1], &[1.0], &[&[0.5], &[-1.0]]);
        // Step 1: m = 0.05, s = 0.001·0.45² + ε, ŝ = 0.45² + 1000ε, m̂ = 0.5.
        let p1 =
            1.0 - 0.1 * 0.5 / ((0.001 * 0.45f64.powi(2) + 1e-8).sqrt() / 0.001f64.sqrt() + 1e-8);
        assert!((w[0][0] - p1).abs() < 1e-14, "{} vs {p1}", w[0][0]);
        // Step 2: m = 0.045 − 0.1 = −0.055, g − m = −0.945.
        let s1 = 0.001 * 0.45f64.powi(2) + 1e-8;
        let s2 = 0.999 * s1 + 0.001 * 0.945f64.powi(2) + 1e-8;
        let bc2 = 1.0 - 0.999f64.powi(2);
        let p2 = p1 - 0.1 / 0.19 * (-0.055) / (s2.sqrt() / bc2.sqrt() + 1e-8);
        assert!((w[1][0] - p2).abs() < 1e-13, "{} vs {p2}", w[1][0]);
    }

    #[test]
    fn matches_reference_transcription() {
        let grads = [
            0.5, -1.0, 0.3, 0.3, 2.0, -0.1, 0.0, 0.7, -0.4, 1.5, 0.2, -0.9,
        ];
        for (decoupled, rectify) in [(true, false), (false, false), (true, true), (false, true)] {
            let cfg = AdaBeliefConfig {
                lr: 0.05,
                betas: (0.8, 0.9), // ρ∞ = 19: SGD steps for t ≤ 5, rectified after
                eps: 1e-10,
                weight_decay: 0.1,
                decoupled_weight_decay: decoupled,
                rectify,
            };
            let want = reference(&cfg, 1.5, &grads);
            let gs: Vec<&[f64]> = grads.iter().map(std::slice::from_ref).collect();
            let got: Vec<f64> = trajectory(cfg.recipe().unwrap(), &[1], &[1.5], &gs)
                .into_iter()
                .map(|v| v[0])
                .collect();
            assert!(
                close(&got, &want, 1e-12),
                "decoupled {decoupled} rectify {rectify}: {got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn converges_on_quadratic() {
        for rectify in [false, true] {
            let cfg = AdaBeliefConfig {
                lr: 0.05,
                rectify,
                ..Default::default()
            };
            let (f0, f) = quadratic(cfg.recipe().unwrap(), &[2], &[1.0, 10.0], &[1.0, -1.0], 300);
            assert!(f < f0 / 10.0, "rectify {rectify}: {f0} -> {f}");
        }
    }
}
