//! RAdam: Adam with the variance of the adaptive learning rate rectified.
//!
//! Update rule (PyTorch's `torch.optim.RAdam`, single-tensor path), with gradient `g`, parameter
//! `p`, step `t` (1-based):
//! ```text
//! g ← −g                                   if maximize
//! g ← g + λ·p                              coupled L2 (default), λ = weight_decay
//! p ← p·(1 − lr·λ)                         if decoupled_weight_decay
//! m ← lerp(m, g, 1 − β₁);  v ← β₂·v + (1 − β₂)·g²
//! bc₁ = 1 − β₁ᵗ,  bc₂ = 1 − β₂ᵗ
//! ρ_∞ = 2/(1 − β₂) − 1,  ρ_t = ρ_∞ − 2t·β₂ᵗ/bc₂
//! if ρ_t > 5:  r = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))
//!              p ← p − lr·(m/bc₁)·r·√bc₂/(√v + ε)
//! else:        p ← p − lr·(m/bc₁)
//! ```
//! Paper: Liu et al. (2020), *On the Variance of the Adaptive Learning Rate and Beyond*.
//!
//! Conventions: PyTorch's. **ε is added to `√v` before the bias correction** (`√bc₂/(√v + ε)`),
//! unlike Adam's `√v/√bc₂ + ε`, so the same ε weighs `1/√bc₂` times more here. The threshold is
//! `ρ_t > 5`, as in the authors' code (the paper's algorithm says `ρ_t > 4`). While
//! unrectified, the update is bias-corrected SGD with momentum (the authors' code can instead
//! skip those steps). With the default `β₂ = 0.999` the first five steps are unrectified. optax's
//! `radam` uses the same threshold but adds ε to the bias-corrected `√v̂` (Adam's placement) and
//! has `eps_root`. A scheduled momentum replaces `β₁`.
//!
//! Defaults are PyTorch's; no differences are intended: `lr = 1e-3`, `betas = (0.9, 0.999)`,
//! `eps = 1e-8`, `weight_decay = 0`, `decoupled_weight_decay = false`, `maximize = false`.
//!
//! Recipe: `[scale(-1)] > [add_decayed_weights] > scale_by_radam > [add_decayed_weights] >
//! scale_by_learning_rate`, where `scale_by_radam` is `scale_by_adam` in its rectified variant.

use crate::hyper::{Check, Hyper};
use crate::optimizers::adam::family_chain;
use crate::transforms::scale_by_radam;
use crate::{Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct RadamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled_weight_decay: bool,
    pub maximize: bool,
}

impl Default for RadamConfig {
    fn default() -> Self {
        RadamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl RadamConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = RadamConfig::default();
        Ok(RadamConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            betas: h.pair("betas", d.betas, Check::Unit)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            decoupled_weight_decay: h.bool("decoupled_weight_decay", d.decoupled_weight_decay)?,
            maximize: h.bool("maximize", d.maximize)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let (b1, b2) = self.betas;
        Ok(Recipe {
            name: "radam".into(),
            chain: family_chain(
                scale_by_radam(b1, b2, self.eps),
                self.maximize,
                self.decoupled_weight_decay,
            )?,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    RadamConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizers::adam::testutil::*;
    use crate::testutil::from_toml;

    fn cfg(s: &str) -> RadamConfig {
        from_toml("radam", s, RadamConfig::from_hyper)
    }

    #[test]
    fn defaults_are_pytorchs() {
        let c = cfg("");
        assert_eq!(c, RadamConfig::default());
        assert_eq!(
            (c.lr, c.betas, c.eps, c.weight_decay),
            (1e-3, (0.9, 0.999), 1e-8, 0.0)
        );
        assert!(!c.decoupled_weight_decay && !c.maximize);
        let r = c.recipe::<f32>().unwrap();
        assert_eq!(
            r.chain.describe(),
            "add_decayed_weights > scale_by_radam > scale_by_learning_rate"
        );
    }

    #[test]
    fn hand_computed_steps_around_rectification() {
        // lr 0.1, β = (0.5, 0.5), ε = 0.01, no decay, constant g = 2 from p₀ = 0.
        // ρ_∞ = 3: ρ_t < 5 forever, so every step is m/bc₁ = 2 exactly → p = −0.2·t.
        let r = cfg("lr = 0.1\nbetas = [0.5, 0.5]\neps = 0.01")
            .recipe::<f64>()
            .unwrap();
        let out = run_fn(r, &[0.0], 3, &|_| vec![2.0]);
        assert_eq!(out, vec![vec![-0.2], vec![-0.4], vec![-0.6000000000000001]]);

        // β = (0.5, 0.8), ε = 0.01, g = 1 for seven steps, then 3. ρ_∞ = 9,
        // ρ_t = 9 − 2t·0.8ᵗ/(1 − 0.8ᵗ): ρ₆ ≈ 4.74, ρ₇ ≈ 5.28, so step 7 is the first rectified.
        let r = cfg("lr = 0.1\nbetas = [0.5, 0.8]\neps = 0.01")
            .recipe::<f64>()
            .unwrap();
        let one = |_: &[f64]| vec![1.0];
        let gs: [GradFn; 8] = [&one, &one, &one, &one, &one, &one, &one, &|_| vec![3.0]];
        let out = run(r, &[0.0], &gs);
        // Steps 1–6: m/bc₁ = 1 exactly (both are 1 − 0.5ᵗ), so p falls by 0.1 a step.
        let p6 = (0..6).fold(0.0, |p, _| p - 0.1);
        assert_eq!(out[5][0], p6);
        let rho = |t: f64| 9.0 - 2.0 * t * 0.8f64.powf(t) / (1.0 - 0.8f64.powf(t));
        assert!(rho(6.0) < 5.0 && rho(7.0) > 5.0);
        let rect = |t: f64| {
            let r = rho(t);
            ((r - 4.0) * (r - 2.0) * 9.0 / (5.0 * 7.0 * r)).sqrt()
        };
        // Step 7: m/bc₁ = 1, v = bc₂ → √bc₂/(√v + ε) = √bc₂/(√bc₂ + 0.01).
        let bc2 = 1.0 - 0.8f64.powi(7);
        let p7 = p6 - 0.1 * rect(7.0) * bc2.sqrt() / (bc2.sqrt() + 0.01);
        assert!(close_rel(out[6][0], p7, 1e-14), "{} vs {p7}", out[6][0]);
        // Step 8, g = 3: m = 0.5·(1 − 0.5⁷) + 1.5, bc₁ = 1 − 0.5⁸; v = 0.8·bc₂(7) + 0.2·9.
        let m = 0.5 * (1.0 - 0.5f64.powi(7)) + 1.5;
        let v = 0.8 * bc2 + 1.8;
        let bc2_8 = 1.0 - 0.8f64.powi(8);
        let p8 =
            p7 - 0.1 * m / (1.0 - 0.5f64.powi(8)) * bc2_8.sqrt() / (v.sqrt() + 0.01) * rect(8.0);
        assert!(close_rel(out[7][0], p8, 1e-14), "{} vs {p8}", out[7][0]);
    }

    #[test]
    fn matches_pytorch() {
        // β₂ = 0.9: unrectified for steps 1–5, rectified from step 6.
        let s = "lr = 0.05\nbetas = [0.8, 0.9]\neps = 1e-6\nweight_decay = 0.05";
        assert_torch(cfg(s).recipe().unwrap(), TORCH_RADAM);
        let s = "lr = 0.05\nweight_decay = 0.3\ndecoupled_weight_decay = true\nmaximize = true";
        assert_torch(cfg(s).recipe().unwrap(), TORCH_RADAMW);
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
    fn f32_tracks_f64() {
        let c = cfg("lr = 0.01\nweight_decay = 0.01");
        assert_f32_tracks_f64(c.recipe().unwrap(), c.recipe().unwrap());
    }

    #[test]
    fn converges_on_a_quadratic() {
        assert_converges(cfg("lr = 0.05").recipe().unwrap(), 2000, "radam");
    }
}
