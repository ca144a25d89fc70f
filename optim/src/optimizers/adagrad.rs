//! Adagrad: per-coordinate step sizes from the running sum of squared gradients.
//!
//! Update rule (PyTorch's `torch.optim.Adagrad`, single-tensor path), with gradient `g`,
//! parameter `p`, this parameter's step count `t` (1-based):
//! ```text
//! g ← −g                              if maximize
//! g ← g + λ·p                         (coupled L2, λ = weight_decay)
//! clr ← lr / (1 + (t − 1)·lr_decay)
//! s ← s + g²                          (s starts at initial_accumulator_value)
//! p ← p − clr · g / (√s + eps)
//! ```
//! Paper: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
//! Stochastic Optimization" (JMLR 2011). Conventions: PyTorch's. eps is added *outside* the
//! square root (optax's `scale_by_rss` and Keras put it inside, `g / √(s + eps)`, and Keras
//! starts the accumulator at 0.1 where PyTorch starts it at 0). `lr_decay` is PyTorch's
//! inverse-time decay, absent from the paper; it counts the parameter's own steps (steps on
//! which it had no gradient do not count) and multiplies the group's current lr, so an lr
//! schedule composes with it as in PyTorch. Defaults are PyTorch's: `lr = 1e-2`,
//! `lr_decay = 0`, `weight_decay = 0`, `initial_accumulator_value = 0`, `eps = 1e-10`;
//! there are no intended differences.
//!
//! Recipe: `[scale(-1)] > add_decayed_weights > scale_by_rss >
//! (scale_by_decayed_learning_rate if lr_decay ≠ 0, else scale_by_learning_rate)`.

use crate::hyper::{Check, Hyper};
use crate::optimizers::{check_non_neg, torch_chain};
use crate::transforms::{scale_by_decayed_learning_rate, scale_by_learning_rate, scale_by_rss};
use crate::{Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct AdagradConfig {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
    pub eps: f64,
    pub maximize: bool,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

impl AdagradConfig {
    /// Reads PyTorch's keyword names; ranges are PyTorch's (every number `>= 0`).
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = AdagradConfig::default();
        Ok(AdagradConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            lr_decay: h.f64("lr_decay", d.lr_decay, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            initial_accumulator_value: h.f64(
                "initial_accumulator_value",
                d.initial_accumulator_value,
                Check::NonNeg,
            )?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            maximize: h.bool("maximize", d.maximize)?,
        })
    }

    fn validate(&self) -> Result<()> {
        check_non_neg(
            "optimizer `adagrad`",
            &[
                ("lr", self.lr),
                ("lr_decay", self.lr_decay),
                ("weight_decay", self.weight_decay),
                ("initial_accumulator_value", self.initial_accumulator_value),
                ("eps", self.eps),
            ],
        )
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        self.validate()?;
        let core = scale_by_rss(self.initial_accumulator_value, self.eps);
        let chain = torch_chain(self.maximize, false, Some(core))?;
        let chain = if self.lr_decay != 0.0 {
            chain.then(scale_by_decayed_learning_rate(self.lr_decay))?
        } else {
            chain.then(scale_by_learning_rate())?
        };
        Ok(Recipe {
            name: "adagrad".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    AdagradConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, assert_close, assert_rows_close, QUAD_H, QUAD_P0};
    use crate::{Optimizer, ParamStore};

    fn cfg() -> AdagradConfig {
        AdagradConfig {
            lr: 0.1,
            lr_decay: 0.5,
            weight_decay: 0.1,
            initial_accumulator_value: 0.2,
            eps: 1e-10,
            maximize: false,
        }
    }

    /// Parameter values after each of the steps with the fixed gradients `FIXED_GRADS`.
    fn run_fixed(c: &AdagradConfig) -> Vec<Vec<f64>> {
        testutil::run_fixed(c.recipe().unwrap())
    }

    /// `steps` steps on `f(p) = ½ Σ h_i p_i²` (gradient `h ⊙ p`), returning the final parameter.
    fn run_quadratic<F: Float>(c: &AdagradConfig, steps: usize) -> Vec<f64> {
        testutil::run_quadratic(c.recipe::<F>().unwrap(), &QUAD_H, &QUAD_P0, steps)
    }

    #[test]
    fn hand_computed_steps() {
        // Step 1: g = [0.5 + 0.1·1, −1 + 0.1·(−2)] = [0.6, −1.2]; s = 0.2 + g² = [0.56, 1.64];
        // clr = 0.1; p = [1 − 0.1·0.6/√0.56, −2 + 0.1·1.2/√1.64] = [0.91982…, −1.90629…].
        // Step 2 uses clr = 0.1/1.5, step 3 clr = 0.1/2.
        let want = [
            [0.919821627436987, -1.9062957428741534],
            [0.9376763432411442, -1.9349407014277327],
            [0.9255735915859223, -1.935170069463596],
        ];
        assert_rows_close(&run_fixed(&cfg()), &want, 1e-14);
    }

    #[test]
    fn maximize_flips_the_gradient() {
        let c = AdagradConfig {
            maximize: true,
            ..cfg()
        };
        let want = [
            [1.0666666666555555, -2.0872871560848734],
            [1.0292632334540837, -2.0379453794014215],
            [1.0290613722184556, -2.02374198891558],
        ];
        assert_rows_close(&run_fixed(&c), &want, 1e-14);
    }

    #[test]
    fn state_holds_the_sum_of_squares() {
        let mut params = ParamStore::single("w", vec![1.0f64, -2.0]);
        let mut opt = Optimizer::new(cfg().recipe().unwrap(), &params).unwrap();
        params.set_grad(0, &[0.5, -1.0]);
        opt.step(&mut params).unwrap();
        let state = opt.state("w").unwrap();
        // chain: add_decayed_weights, scale_by_rss, scale_by_decayed_learning_rate
        assert_close(&state[1].bufs[0], &[0.2 + 0.36, 0.2 + 1.44], 1e-15);
        assert_eq!(state[2].scalars, vec![1.0]);
    }

    #[test]
    fn lr_decay_zero_uses_plain_lr_and_matches_formula() {
        let c = AdagradConfig {
            lr_decay: 0.0,
            ..cfg()
        };
        let recipe = c.recipe::<f64>().unwrap();
        assert_eq!(
            recipe.chain.describe(),
            "add_decayed_weights > scale_by_rss > scale_by_learning_rate"
        );
        // Step 1 is the same with or without decay; step 2 moves by the undecayed lr.
        let got = run_fixed(&c);
        assert_close(&got[0], &[0.919821627436987, -1.9062957428741534], 1e-14);
        let (p, g) = (got[0][0], -0.3 + 0.1 * got[0][0]);
        let s = 0.56 + g * g;
        assert_close(&[got[1][0]], &[p - 0.1 * g / (s.sqrt() + 1e-10)], 1e-14);
    }

    #[test]
    fn decay_uses_the_scheduled_lr_and_the_parameters_own_step() {
        // Two parameters; `b` has no gradient at step 2, so its decay counter lags by one.
        let mut params = ParamStore::new(vec![
            crate::Param::new("a", &[1], vec![1.0f64]),
            crate::Param::new("b", &[1], vec![1.0f64]),
        ]);
        let c = AdagradConfig {
            lr: 1.0,
            lr_decay: 1.0,
            ..AdagradConfig::default()
        };
        let mut opt = Optimizer::new(c.recipe().unwrap(), &params).unwrap();
        params.set_grad(0, &[1.0]);
        params.set_grad(1, &[1.0]);
        opt.step(&mut params).unwrap();
        // s = 1, clr = 1: both move by 1/(1 + 1e-10).
        let first = 1.0 - 1.0 / (1.0 + 1e-10);
        assert_close(&[params.params[0].value[0]], &[first], 1e-15);
        params.clear_grads();
        params.set_grad(0, &[1.0]);
        opt.step(&mut params).unwrap();
        // A schedule halves the lr; `a` is at its step 3 (clr = 0.5/3), `b` at its step 2
        // (clr = 0.5/2); both accumulators are now 2.
        opt.set_lr(0, 0.5);
        params.set_grad(0, &[1.0]);
        params.set_grad(1, &[1.0]);
        opt.step(&mut params).unwrap();
        let std2 = 2f64.sqrt() + 1e-10;
        let std3 = 3f64.sqrt() + 1e-10;
        let a = first - 0.5 / std2 - (0.5 / 3.0) / std3;
        let b = first - 0.25 / std2;
        assert_close(&[params.params[0].value[0]], &[a], 1e-14);
        assert_close(&[params.params[1].value[0]], &[b], 1e-14);
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
        let c = AdagradConfig {
            lr: 0.5,
            ..AdagradConfig::default()
        };
        let p = run_quadratic::<f64>(&c, 300);
        assert!(p.iter().all(|x| x.abs() < 1e-6), "{p:?}");
    }

    #[test]
    fn defaults_and_validation() {
        let t: toml::Table = "".parse().unwrap();
        let c = AdagradConfig::from_hyper(&mut Hyper::new("t", &t)).unwrap();
        assert_eq!(c, AdagradConfig::default());
        assert_eq!((c.lr, c.eps), (1e-2, 1e-10));
        let t: toml::Table = "lr_decay = -1.0".parse().unwrap();
        let e = AdagradConfig::from_hyper(&mut Hyper::new("t", &t)).unwrap_err();
        assert!(e.to_string().contains("`lr_decay` = -1"), "{e}");
        let bad = AdagradConfig {
            initial_accumulator_value: -0.1,
            ..AdagradConfig::default()
        };
        let e = bad.recipe::<f64>().unwrap_err().to_string();
        assert!(e.contains("initial_accumulator_value"), "{e}");
        let t: toml::Table = "name = \"adagrad\"\nlr = 0.1\nmaximize = true\nweight_decay = 0.01"
            .parse()
            .unwrap();
        let r = crate::optimizers::from_table::<f64>("t", &t, &[]).unwrap();
        assert_eq!((r.lr, r.weight_decay), (0.1, 0.01));
        assert_eq!(
            r.chain.describe(),
            "scale > add_decayed_weights > scale_by_rss > scale_by_learning_rate"
        );
    }
}
