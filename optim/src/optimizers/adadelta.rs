//! Adadelta: steps scaled by the ratio of the RMS of past updates to the RMS of past gradients.
//!
//! Update rule (PyTorch's `torch.optim.Adadelta`, single-tensor path), with gradient `g`,
//! parameter `p`:
//! ```text
//! g ← −g                                   if maximize
//! g ← g + λ·p                              (coupled L2, λ = weight_decay)
//! v ← ρ·v + (1 − ρ)·g²
//! δ ← √(a + eps) / √(v + eps) · g
//! a ← ρ·a + (1 − ρ)·δ²
//! p ← p − lr·δ
//! ```
//! Paper: Zeiler, "ADADELTA: An Adaptive Learning Rate Method" (arXiv:1212.5701, 2012).
//! Conventions: PyTorch's. The paper has no learning rate (its update is `p ← p − δ`); PyTorch
//! multiplies δ by `lr`, whose default 1.0 recovers the paper, and the accumulator `a` holds
//! the un-scaled δ, so the lr (and any schedule on it) does not feed back into the step sizes.
//! eps is inside both square roots, as in the paper and in Keras (whose defaults differ:
//! `learning_rate = 0.001`, `rho = 0.95`, `epsilon = 1e-7`). Both averages start at zero,
//! without bias correction. Defaults are PyTorch's: `lr = 1.0`, `rho = 0.9`, `eps = 1e-6`,
//! `weight_decay = 0`; there are no intended differences.
//!
//! Recipe: `[scale(-1)] > add_decayed_weights > scale_by_adadelta > scale_by_learning_rate`.

use crate::hyper::{Check, Hyper};
use crate::optimizers::{check_non_neg, torch_chain};
use crate::transforms::{scale_by_adadelta, scale_by_learning_rate};
use crate::{Float, OptimError, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct AdadeltaConfig {
    pub lr: f64,
    pub rho: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub maximize: bool,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        AdadeltaConfig {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AdadeltaConfig {
    /// Reads PyTorch's keyword names; ranges are PyTorch's (`0 ≤ rho ≤ 1`, the rest `>= 0`).
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = AdadeltaConfig::default();
        Ok(AdadeltaConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            rho: h.f64("rho", d.rho, Check::UnitClosed)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            maximize: h.bool("maximize", d.maximize)?,
        })
    }

    fn validate(&self) -> Result<()> {
        let ctx = "optimizer `adadelta`";
        if !(0.0..=1.0).contains(&self.rho) {
            return Err(OptimError::invalid(
                ctx,
                "rho",
                self.rho,
                "must be in [0, 1]",
            ));
        }
        check_non_neg(
            ctx,
            &[
                ("lr", self.lr),
                ("eps", self.eps),
                ("weight_decay", self.weight_decay),
            ],
        )
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        self.validate()?;
        let core = scale_by_adadelta(self.rho, self.eps);
        let chain = torch_chain(self.maximize, false, Some(core))?.then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "adadelta".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    AdadeltaConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, assert_close, assert_rows_close, QUAD_H, QUAD_P0};
    use crate::{Optimizer, ParamStore};

    fn cfg() -> AdadeltaConfig {
        AdadeltaConfig {
            lr: 0.5,
            rho: 0.8,
            eps: 1e-4,
            weight_decay: 0.1,
            maximize: false,
        }
    }

    fn run_fixed(c: &AdadeltaConfig) -> Vec<Vec<f64>> {
        testutil::run_fixed(c.recipe().unwrap())
    }

    fn run_quadratic<F: Float>(c: &AdadeltaConfig, steps: usize) -> Vec<f64> {
        testutil::run_quadratic(c.recipe::<F>().unwrap(), &QUAD_H, &QUAD_P0, steps)
    }

    #[test]
    fn hand_computed_steps() {
        // Step 1: g = [0.6, −1.2]; v = 0.2·g² = [0.072, 0.288];
        // δ = √1e-4 / √(v + 1e-4) · g = [0.02234…, −0.02235…]; p = p − 0.5·δ.
        let d0 = 0.01 / (0.072f64 + 1e-4).sqrt() * 0.6;
        let want = [
            [0.9888274161591422, -1.9888216006384007],
            [0.9943699069407163, -1.9965457659998866],
            [0.9885779655378262, -1.9965510612596187],
        ];
        let got = run_fixed(&cfg());
        assert_close(&[got[0][0]], &[1.0 - 0.5 * d0], 1e-15);
        assert_rows_close(&got, &want, 1e-14);
    }

    #[test]
    fn maximize_flips_the_gradient() {
        let c = AdadeltaConfig {
            maximize: true,
            ..cfg()
        };
        let want = [
            [1.011162911443719, -2.011175975124542],
            [0.999382598289992, -1.9983171352280273],
            [0.9993850440561861, -1.9915730575696846],
        ];
        assert_rows_close(&run_fixed(&c), &want, 1e-14);
    }

    #[test]
    fn state_is_in_unscaled_units() {
        // The accumulated δ² does not depend on lr: two runs with different lr but the same
        // gradients hold the same `acc_delta` after one step.
        let acc = |lr: f64| {
            let c = AdadeltaConfig { lr, ..cfg() };
            let mut params = ParamStore::single("w", vec![1.0f64, -2.0]);
            let mut opt = Optimizer::new(c.recipe().unwrap(), &params).unwrap();
            params.set_grad(0, &[0.5, -1.0]);
            opt.step(&mut params).unwrap();
            opt.state("w").unwrap()[1].clone()
        };
        let (a, b) = (acc(0.5), acc(7.0));
        assert_eq!(a, b);
        let d0 = 0.01 / (0.072f64 + 1e-4).sqrt() * 0.6;
        assert_close(
            &[a.bufs[0][0], a.bufs[1][0]],
            &[0.072, 0.2 * d0 * d0],
            1e-15,
        );
    }

    #[test]
    fn matches_pytorch_reference_over_many_steps() {
        let c = AdadeltaConfig {
            weight_decay: 0.01,
            ..AdadeltaConfig::default()
        };
        let (mut p, mut v, mut a) = (QUAD_P0.to_vec(), [0.0; 3], [0.0; 3]);
        for _ in 0..300 {
            for i in 0..3 {
                let g = QUAD_H[i] * p[i] + c.weight_decay * p[i];
                v[i] = v[i] * c.rho + (1.0 - c.rho) * g * g;
                let std = (v[i] + c.eps).sqrt();
                let d = (a[i] + c.eps).sqrt() / std * g;
                a[i] = a[i] * c.rho + (1.0 - c.rho) * d * d;
                p[i] += -c.lr * d;
            }
        }
        assert_close(&run_quadratic::<f64>(&c, 300), &p, 1e-12);
    }

    #[test]
    fn f32_agrees_with_f64() {
        let c = cfg();
        let a = run_quadratic::<f32>(&c, 30);
        let b = run_quadratic::<f64>(&c, 30);
        assert_close(&a, &b, 1e-5);
    }

    #[test]
    fn converges_on_a_quadratic() {
        // With the default lr = 1 the curvature-4 coordinate settles into a small oscillation
        // (|p| ≈ 0.02, since δ's ratio of RMS tracks the step itself); lr = 0.5 converges.
        let c = AdadeltaConfig {
            lr: 0.5,
            ..AdadeltaConfig::default()
        };
        let p = run_quadratic::<f64>(&c, 3000);
        assert!(p.iter().all(|x| x.abs() < 1e-6), "{p:?}");
        let p = run_quadratic::<f64>(&AdadeltaConfig::default(), 3000);
        assert!(p.iter().all(|x| x.abs() < 0.05), "{p:?}");
    }

    #[test]
    fn defaults_and_validation() {
        let t: toml::Table = "".parse().unwrap();
        let c = AdadeltaConfig::from_hyper(&mut Hyper::new("t", &t)).unwrap();
        assert_eq!(c, AdadeltaConfig::default());
        assert_eq!((c.lr, c.rho, c.eps), (1.0, 0.9, 1e-6));
        let t: toml::Table = "rho = 1.5".parse().unwrap();
        let e = AdadeltaConfig::from_hyper(&mut Hyper::new("t", &t)).unwrap_err();
        assert!(e.to_string().contains("`rho` = 1.5"), "{e}");
        let bad = AdadeltaConfig {
            eps: -1.0,
            ..AdadeltaConfig::default()
        };
        assert!(bad.recipe::<f64>().unwrap_err().to_string().contains("eps"));
        let t: toml::Table = "name = \"adadelta\"\nmaximize = true".parse().unwrap();
        let r = crate::optimizers::from_table::<f64>("t", &t, &[]).unwrap();
        assert_eq!(r.lr, 1.0);
        assert_eq!(
            r.chain.describe(),
            "scale > add_decayed_weights > scale_by_adadelta > scale_by_learning_rate"
        );
    }
}
