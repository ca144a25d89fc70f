//! NAdam: Adam with Nesterov momentum and PyTorch's momentum schedule.
//!
//! Update rule (PyTorch's `torch.optim.NAdam`, single-tensor path), with gradient `g`, parameter
//! `p`, step `t` (1-based), `ψ = momentum_decay`:
//! ```text
//! g ← −g                                   if maximize
//! g ← g + λ·p                              coupled L2 (default), λ = weight_decay
//! p ← p·(1 − lr·λ)                         if decoupled_weight_decay (NAdamW)
//! μ_t = β₁·(1 − ½·0.96^(t·ψ)),  μ_{t+1} = β₁·(1 − ½·0.96^((t+1)·ψ))
//! Π ← Π·μ_t                                (state `mu_product`, starts at 1)
//! m ← lerp(m, g, 1 − β₁);  v ← β₂·v + (1 − β₂)·g²
//! d = √(v / (1 − β₂ᵗ)) + ε
//! p ← p − lr·(1 − μ_t)/(1 − Π)·g/d − lr·μ_{t+1}/(1 − Π·μ_{t+1})·m/d
//! ```
//! Paper: Dozat (2016), *Incorporating Nesterov Momentum into Adam*; the `0.96^(t·ψ)` schedule
//! is Dozat's (from Sutskever et al., 2013), with `ψ = 0.004`.
//!
//! Conventions: the first moment is bias-corrected by the product of the scheduled momenta, not
//! by `1 − β₁ᵗ`, and the Nesterov look-ahead mixes the current gradient and `m` with separate
//! coefficients; `m` itself is updated with the constant `β₁`. `ε` is outside the root and after
//! bias correction, as in Adam. The single-tensor path divides `v` by `bc₂` before the square root
//! (`√(v/bc₂)`), where Adam and PyTorch's foreach path use `√v/√bc₂`; this transform follows the
//! single-tensor path. optax's `nadam` is `scale_by_adam(nesterov=True)`, which uses a constant
//! `β₁` and no momentum schedule; Keras' `Nadam` keeps the `0.96^(t·0.004)` schedule (its
//! `weight_decay`, as for every Keras 3 optimizer, is decoupled). A scheduled momentum
//! (one-cycle) replaces `β₁` in the schedule too.
//! `mu_product` is kept in `f64` (PyTorch keeps it in the default scalar dtype, `float32`
//! unless the default dtype is `float64`).
//!
//! Defaults are PyTorch's; no differences are intended: `lr = 2e-3`, `betas = (0.9, 0.999)`,
//! `eps = 1e-8`, `weight_decay = 0`, `momentum_decay = 4e-3`, `decoupled_weight_decay = false`,
//! `maximize = false`.
//!
//! Recipe: `[scale(-1)] > [add_decayed_weights] > scale_by_nadam > [add_decayed_weights] >
//! scale_by_learning_rate`, where `scale_by_nadam` is `scale_by_adam` in its Nesterov variant.

use crate::hyper::{Check, Hyper};
use crate::optimizers::adam::family_chain;
use crate::transforms::scale_by_nadam;
use crate::{Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct NadamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum_decay: f64,
    pub decoupled_weight_decay: bool,
    pub maximize: bool,
}

impl Default for NadamConfig {
    fn default() -> Self {
        NadamConfig {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl NadamConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = NadamConfig::default();
        Ok(NadamConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            betas: h.pair("betas", d.betas, Check::Unit)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            momentum_decay: h.f64("momentum_decay", d.momentum_decay, Check::NonNeg)?,
            decoupled_weight_decay: h.bool("decoupled_weight_decay", d.decoupled_weight_decay)?,
            maximize: h.bool("maximize", d.maximize)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let (b1, b2) = self.betas;
        let core = scale_by_nadam(b1, b2, self.eps, self.momentum_decay);
        Ok(Recipe {
            name: "nadam".into(),
            chain: family_chain(core, self.maximize, self.decoupled_weight_decay)?,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    NadamConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizers::adam::testutil::*;
    use crate::testutil::from_toml;

    fn cfg(s: &str) -> NadamConfig {
        from_toml("nadam", s, NadamConfig::from_hyper)
    }

    #[test]
    fn defaults_are_pytorchs() {
        let c = cfg("");
        assert_eq!(c, NadamConfig::default());
        assert_eq!(
            (c.lr, c.betas, c.eps, c.weight_decay),
            (2e-3, (0.9, 0.999), 1e-8, 0.0)
        );
        assert_eq!(c.momentum_decay, 4e-3);
        assert!(!c.decoupled_weight_decay && !c.maximize);
        let r = cfg("decoupled_weight_decay = true")
            .recipe::<f64>()
            .unwrap();
        assert_eq!(
            r.chain.describe(),
            "scale_by_nadam > add_decayed_weights > scale_by_learning_rate"
        );
        let t: toml::Table = "momentum_decay = -1.0".parse().unwrap();
        let e = NadamConfig::from_hyper(&mut Hyper::new("optimizer `nadam`", &t)).unwrap_err();
        assert!(e.to_string().contains("`momentum_decay` = -1"), "{e}");
    }

    #[test]
    fn hand_computed_two_steps() {
        // lr 0.1, β = (0.6, 0.9), ε = 0.01, ψ = 0.5, coupled decay 0.5, p₀ = 2; raw g = 1, −2.
        let r = cfg(
            "lr = 0.1\nbetas = [0.6, 0.9]\neps = 0.01\nmomentum_decay = 0.5\nweight_decay = 0.5",
        )
        .recipe::<f64>()
        .unwrap();
        let gs: [GradFn; 2] = [&|_| vec![1.0], &|_| vec![-2.0]];
        let out = run(r, &[2.0], &gs);
        let mu = |t: f64| 0.6 * (1.0 - 0.5 * 0.96f64.powf(0.5 * t));
        // Step 1: g = 2; m = 0.8; v = 0.4; bc₂ = 0.1 → d = √4 + 0.01 = 2.01; Π = μ₁.
        let (mu1, mu2, mu3) = (mu(1.0), mu(2.0), mu(3.0));
        let p1 = 2.0
            - 0.1 * (1.0 - mu1) / (1.0 - mu1) * 2.0 / 2.01
            - 0.1 * mu2 / (1.0 - mu1 * mu2) * 0.8 / 2.01;
        assert!(close_rel(out[0][0], p1, 1e-15), "{} vs {p1}", out[0][0]);
        // Step 2: g = −2 + 0.5·p₁; m = 0.8 + 0.4(g − 0.8); v = 0.36 + 0.1 g²; bc₂ = 0.19; Π = μ₁μ₂.
        let g = -2.0 + 0.5 * p1;
        let m = 0.8 + 0.4 * (g - 0.8);
        let d = ((0.36 + 0.1 * g * g) / 0.19f64).sqrt() + 0.01;
        let pr = mu1 * mu2;
        let p2 = p1 - 0.1 * (1.0 - mu2) / (1.0 - pr) * g / d - 0.1 * mu3 / (1.0 - pr * mu3) * m / d;
        assert!(close_rel(out[1][0], p2, 1e-14), "{} vs {p2}", out[1][0]);
    }

    #[test]
    fn matches_pytorch() {
        let s =
            "lr = 0.05\nbetas = [0.8, 0.95]\neps = 1e-6\nweight_decay = 0.05\nmomentum_decay = 0.1";
        assert_torch(cfg(s).recipe().unwrap(), TORCH_NADAM);
        let s = "lr = 0.05\nbetas = [0.8, 0.95]\neps = 1e-6\nweight_decay = 0.3\ndecoupled_weight_decay = true\nmaximize = true";
        assert_torch(cfg(s).recipe().unwrap(), TORCH_NADAMW);
    }

    #[test]
    fn maximize_equals_negated_gradient() {
        for dec in [false, true] {
            let s = format!("lr = 0.02\nweight_decay = 0.1\ndecoupled_weight_decay = {dec}");
            let a = cfg(&format!("{s}\nmaximize = true"))
                .recipe::<f64>()
                .unwrap();
            let b = cfg(&s).recipe::<f64>().unwrap();
            assert_maximize_negates(a, b);
        }
    }

    #[test]
    fn decoupled_without_decay_is_coupled_bit_for_bit() {
        let a = cfg("lr = 0.01").recipe::<f64>().unwrap();
        let b = cfg("lr = 0.01\ndecoupled_weight_decay = true")
            .recipe::<f64>()
            .unwrap();
        assert_eq!(
            run_fn(a, &[0.3, -0.7], 20, &quad),
            run_fn(b, &[0.3, -0.7], 20, &quad)
        );
    }

    #[test]
    fn f32_tracks_f64() {
        let c = cfg("lr = 0.01\nweight_decay = 0.01");
        assert_f32_tracks_f64(c.recipe().unwrap(), c.recipe().unwrap());
    }

    #[test]
    fn converges_on_a_quadratic() {
        assert_converges(cfg("lr = 0.05").recipe().unwrap(), 2000, "nadam");
    }
}
