//! Adamax: Adam with the infinity norm in place of the second moment.
//!
//! Update rule (PyTorch's `torch.optim.Adamax`, single-tensor path), with gradient `g`, parameter
//! `p`, step `t` (1-based):
//! ```text
//! g ← −g                            if maximize
//! g ← g + λ·p                       (coupled L2, λ = weight_decay)
//! m ← lerp(m, g, 1 − β₁)            = m + (1 − β₁)(g − m)
//! u ← max(β₂·u, |g| + ε)            (exp_inf; NaN propagates as in torch.maximum)
//! p ← p − (lr / (1 − β₁ᵗ))·m / u
//! ```
//! Paper: Kingma & Ba (2015), *Adam: A Method for Stochastic Optimization*, §7.1 (AdaMax).
//!
//! Conventions: PyTorch's, which put `ε` *inside* the maximum (`|g| + ε`), so `u ≥ ε` and no
//! division by zero can happen (optax's `scale_by_adamax` does the same); the paper has no `ε`,
//! and Keras adds it outside, `m / (u + ε)`, with `u = max(β₂·u, |g|)`. Only the first moment is bias-corrected (the max needs none). Weight decay is
//! coupled L2 only, as in PyTorch. A scheduled momentum replaces `β₁`.
//!
//! Defaults are PyTorch's; no differences are intended: `lr = 2e-3`, `betas = (0.9, 0.999)`,
//! `eps = 1e-8`, `weight_decay = 0`, `maximize = false`.
//!
//! Recipe: `[scale(-1)] > add_decayed_weights > scale_by_adamax > scale_by_learning_rate`.

use crate::hyper::{Check, Hyper};
use crate::optimizers::adam::family_chain;
use crate::transforms::scale_by_adamax;
use crate::{Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct AdamaxConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

impl Default for AdamaxConfig {
    fn default() -> Self {
        AdamaxConfig {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AdamaxConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = AdamaxConfig::default();
        Ok(AdamaxConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            betas: h.pair("betas", d.betas, Check::Unit)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            maximize: h.bool("maximize", d.maximize)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let (b1, b2) = self.betas;
        Ok(Recipe {
            name: "adamax".into(),
            chain: family_chain(scale_by_adamax(b1, b2, self.eps), self.maximize, false)?,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    AdamaxConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizers::adam::testutil::*;
    use crate::testutil::from_toml;

    fn cfg(s: &str) -> AdamaxConfig {
        from_toml("adamax", s, AdamaxConfig::from_hyper)
    }

    #[test]
    fn defaults_are_pytorchs() {
        let c = cfg("");
        assert_eq!(c, AdamaxConfig::default());
        assert_eq!(
            (c.lr, c.betas, c.eps, c.weight_decay, c.maximize),
            (2e-3, (0.9, 0.999), 1e-8, 0.0, false)
        );
        let r = c.recipe::<f32>().unwrap();
        assert_eq!(
            r.chain.describe(),
            "add_decayed_weights > scale_by_adamax > scale_by_learning_rate"
        );
        let t: toml::Table = "betas = [1.0, 0.9]".parse().unwrap();
        let e = AdamaxConfig::from_hyper(&mut Hyper::new("optimizer `adamax`", &t)).unwrap_err();
        assert!(e.to_string().contains("`betas`"), "{e}");
    }

    #[test]
    fn hand_computed_three_steps() {
        // lr 0.1, β = (0.5, 0.8), ε = 0.01, coupled decay 0.5, p₀ = 1; raw gradients 3, −1, 0.
        let r = cfg("lr = 0.1\nbetas = [0.5, 0.8]\neps = 0.01\nweight_decay = 0.5")
            .recipe::<f64>()
            .unwrap();
        let gs: [GradFn; 3] = [&|_| vec![3.0], &|_| vec![-1.0], &|_| vec![0.0]];
        let out = run(r, &[1.0], &gs);
        // Step 1: g = 3.5; m = 1.75; u = max(0, 3.51) = 3.51; bc₁ = 0.5.
        let p1 = 1.0 - 0.1 / 0.5 * 1.75 / 3.51;
        assert!(close_rel(out[0][0], p1, 1e-15), "{} vs {p1}", out[0][0]);
        // Step 2: g = −1 + 0.5·p₁ (< 0); m = 1.75 + 0.5(g − 1.75); u = max(0.8·3.51, |g| + 0.01)
        // = 2.808 (|g| < 1); bc₁ = 0.75.
        let g = -1.0 + 0.5 * p1;
        let m2 = 1.75 + 0.5 * (g - 1.75);
        assert!(g.abs() + 0.01 < 2.808);
        let p2 = p1 - 0.1 / 0.75 * m2 / 2.808;
        assert!(close_rel(out[1][0], p2, 1e-14), "{} vs {p2}", out[1][0]);
        // Step 3: g = 0.5·p₂; m = m₂ + 0.5(g − m₂); u = 0.8·2.808 = 2.2464; bc₁ = 0.875.
        let g = 0.5 * p2;
        let m3 = m2 + 0.5 * (g - m2);
        let p3 = p2 - 0.1 / 0.875 * m3 / 2.2464;
        assert!(close_rel(out[2][0], p3, 1e-14), "{} vs {p3}", out[2][0]);
    }

    #[test]
    fn matches_pytorch() {
        let r = cfg("lr = 0.05\nbetas = [0.8, 0.95]\neps = 1e-6\nweight_decay = 0.05")
            .recipe::<f64>()
            .unwrap();
        assert_torch(r, TORCH_ADAMAX);
        // β₁ = 0.3 takes PyTorch's other lerp branch (weight 0.7 ≥ 0.5).
        let r = cfg("lr = 0.05\nbetas = [0.3, 0.95]\neps = 1e-3\nmaximize = true")
            .recipe::<f64>()
            .unwrap();
        assert_torch(r, TORCH_ADAMAX_MAX);
    }

    #[test]
    fn maximize_equals_negated_gradient() {
        let a = cfg("lr = 0.02\nweight_decay = 0.1\nmaximize = true")
            .recipe::<f64>()
            .unwrap();
        let b = cfg("lr = 0.02\nweight_decay = 0.1")
            .recipe::<f64>()
            .unwrap();
        assert_maximize_negates(a, b);
    }

    #[test]
    fn f32_tracks_f64() {
        let c = cfg("lr = 0.01\nweight_decay = 0.01");
        assert_f32_tracks_f64(c.recipe().unwrap(), c.recipe().unwrap());
    }

    #[test]
    fn converges_on_a_quadratic() {
        assert_converges(cfg("lr = 0.05").recipe().unwrap(), 2000, "adamax");
    }
}
