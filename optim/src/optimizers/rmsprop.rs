//! RMSprop: gradients divided by a moving RMS of their recent magnitudes, optionally centred
//! and with heavy-ball momentum.
//!
//! Update rule (PyTorch's `torch.optim.RMSprop`, single-tensor path), with gradient `g`,
//! parameter `p`:
//! ```text
//! g ← −g                                   if maximize
//! g ← g + λ·p                              (coupled L2, λ = weight_decay)
//! v ← α·v + (1 − α)·g²
//! m ← lerp(m, g, 1 − α);  d ← √(v − m²) + eps     if centered
//!                          d ← √v + eps            otherwise
//! b ← μ·b + g/d;  p ← p − lr·b                    if momentum μ > 0 (b starts at 0)
//! p ← p − lr·g/d                                  otherwise
//! ```
//! Paper: Tieleman & Hinton, "Lecture 6.5 — rmsprop", COURSERA: Neural Networks for Machine
//! Learning (2012); the centred variant is from Graves, "Generating Sequences With Recurrent
//! Neural Networks" (2013). Conventions: PyTorch's. eps is added *outside* the square root
//! (TensorFlow/Keras and optax add it inside, `g/√(v + eps)`, and TensorFlow's default eps is
//! 1e-7 and its `rho` is PyTorch's `alpha`); the moving averages start at zero and are not
//! bias-corrected. Momentum accumulates the *un-scaled* step `g/d` and the learning rate
//! multiplies the buffer (TensorFlow folds lr into its momentum buffer, so lr changes act
//! differently under a schedule). The momentum buffer starting at zero with no dampening is
//! exactly SGD's `trace` with `dampening = 0` (its first-step copy `b ← g/d` equals
//! `μ·0 + g/d`), so the recipe reuses it; a scheduled momentum (one-cycle) replaces μ when the
//! optimizer was built with `momentum > 0` (built with `momentum = 0` there is no buffer, where
//! PyTorch would start one). Defaults are PyTorch's: `lr = 1e-2`, `alpha = 0.99`, `eps = 1e-8`,
//! everything else off; there are no intended differences.
//!
//! Recipe: `[scale(-1)] > add_decayed_weights > scale_by_rms > [trace] > scale_by_learning_rate`.

use crate::hyper::{Check, Hyper};
use crate::optimizers::{check_non_neg, torch_chain};
use crate::transforms::{scale_by_learning_rate, scale_by_rms, trace};
use crate::{Float, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct RmspropConfig {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
    pub maximize: bool,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        RmspropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl RmspropConfig {
    /// Reads PyTorch's keyword names; ranges are PyTorch's (every number `>= 0`).
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = RmspropConfig::default();
        Ok(RmspropConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            alpha: h.f64("alpha", d.alpha, Check::NonNeg)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            momentum: h.f64("momentum", d.momentum, Check::NonNeg)?,
            centered: h.bool("centered", d.centered)?,
            maximize: h.bool("maximize", d.maximize)?,
        })
    }

    fn validate(&self) -> Result<()> {
        check_non_neg(
            "optimizer `rmsprop`",
            &[
                ("lr", self.lr),
                ("alpha", self.alpha),
                ("eps", self.eps),
                ("weight_decay", self.weight_decay),
                ("momentum", self.momentum),
            ],
        )
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        self.validate()?;
        let core = scale_by_rms(self.alpha, self.eps, self.centered);
        let mut chain = torch_chain(self.maximize, false, Some(core))?;
        if self.momentum > 0.0 {
            chain = chain.then(trace(self.momentum, 0.0, false))?;
        }
        chain = chain.then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "rmsprop".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    RmspropConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{self, assert_close, assert_rows_close, QUAD_H, QUAD_P0};
    use crate::{Optimizer, ParamStore};

    fn cfg() -> RmspropConfig {
        RmspropConfig {
            lr: 0.01,
            alpha: 0.9,
            eps: 1e-8,
            weight_decay: 0.1,
            ..RmspropConfig::default()
        }
    }

    /// Parameter values after each step with the fixed gradients `FIXED_GRADS`, from `[1, −2]`.
    fn run_fixed(c: &RmspropConfig) -> Vec<Vec<f64>> {
        testutil::run_fixed(c.recipe().unwrap())
    }

    /// PyTorch's `_single_tensor_rmsprop`, transliterated over plain `f64` scalars.
    fn reference(c: &RmspropConfig, p0: &[f64], h: &[f64], steps: usize) -> Vec<f64> {
        let mut p = p0.to_vec();
        let n = p.len();
        let (mut v, mut m, mut b) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for _ in 0..steps {
            for i in 0..n {
                let mut g = h[i] * p[i];
                if c.maximize {
                    g = -g;
                }
                g += c.weight_decay * p[i];
                v[i] = v[i] * c.alpha + (1.0 - c.alpha) * g * g;
                let avg = if c.centered {
                    let w = 1.0 - c.alpha;
                    m[i] = if w.abs() < 0.5 {
                        m[i] + w * (g - m[i])
                    } else {
                        g - (g - m[i]) * (1.0 - w)
                    };
                    (v[i] - m[i] * m[i]).sqrt()
                } else {
                    v[i].sqrt()
                } + c.eps;
                if c.momentum > 0.0 {
                    b[i] = b[i] * c.momentum + g / avg;
                    p[i] += -c.lr * b[i];
                } else {
                    p[i] += -c.lr * g / avg;
                }
            }
        }
        p
    }

    fn run_quadratic<F: Float>(c: &RmspropConfig, steps: usize) -> Vec<f64> {
        testutil::run_quadratic(c.recipe::<F>().unwrap(), &QUAD_H, &QUAD_P0, steps)
    }

    fn check_fixed(c: &RmspropConfig, want: [[f64; 2]; 3]) {
        assert_rows_close(&run_fixed(c), &want, 1e-14);
    }

    #[test]
    fn hand_computed_steps() {
        // Step 1: g = [0.6, −1.2]; v = 0.1·g² = [0.036, 0.144]; √v = √0.1·|g|, so
        // g/(√v + eps) ≈ ±√10 and p ≈ [1 − 0.0316228, −2 + 0.0316228] (eps shifts the 10th digit).
        check_fixed(
            &cfg(),
            [
                [0.9683772250649828, -1.9683772242316495],
                [0.9790072217281168, -1.9831821305101307],
                [0.968689701916949, -1.9832256436879503],
            ],
        );
    }

    #[test]
    fn centered_steps() {
        // Step 1: m = 0.1·g, v − m² = 0.1·g² − 0.01·g² = 0.09·g², so p moves by 0.01/0.3 = 1/30.
        check_fixed(
            &RmspropConfig {
                centered: true,
                ..cfg()
            },
            [
                [0.9666666685185185, -1.9666666675925926],
                [0.9774735600338755, -1.9815772464768193],
                [0.9667937037271883, -1.9816252027725707],
            ],
        );
    }

    #[test]
    fn centered_with_a_large_lerp_weight() {
        // alpha = 0.3: lerp weight 0.7 ≥ 0.5 takes ATen's `end − (end − self)·(1 − w)` branch.
        check_fixed(
            &RmspropConfig {
                alpha: 0.3,
                weight_decay: 0.0,
                centered: true,
                ..cfg()
            },
            [
                [0.9781782119287816, -1.9781782114525912],
                [0.9874596453007236, -1.9891104787924085],
                [0.9824700970628689, -1.9940285527618935],
            ],
        );
    }

    #[test]
    fn momentum_steps() {
        // Step 1 equals plain RMSprop (b = g/d); afterwards b = 0.5·b + g/d.
        check_fixed(
            &RmspropConfig {
                momentum: 0.5,
                ..cfg()
            },
            [
                [0.9683772250649828, -1.9683772242316495],
                [0.9631958342606082, -1.9673707426259555],
                [0.9503613702629753, -1.9669519238697701],
            ],
        );
    }

    #[test]
    fn centered_momentum_maximize_steps() {
        check_fixed(
            &RmspropConfig {
                momentum: 0.5,
                centered: true,
                maximize: true,
                ..cfg()
            },
            [
                [1.0333333305555559, -2.0333333319444447],
                [1.02696140370852, -2.0247155653785516],
                [1.0236131056588968, -2.0101612850560366],
            ],
        );
    }

    #[test]
    fn matches_pytorch_reference_over_many_steps() {
        for (momentum, centered, maximize) in [
            (0.0, false, false),
            (0.0, true, false),
            (0.9, false, false),
            (0.9, true, true),
        ] {
            let c = RmspropConfig {
                lr: 1e-3,
                momentum,
                centered,
                maximize,
                weight_decay: 0.01,
                ..RmspropConfig::default()
            };
            let got = run_quadratic::<f64>(&c, 200);
            let want = reference(&c, &QUAD_P0, &QUAD_H, 200);
            assert_close(&got, &want, 1e-12);
        }
    }

    #[test]
    fn state_names_and_values() {
        let c = RmspropConfig {
            momentum: 0.5,
            centered: true,
            ..cfg()
        };
        let recipe = c.recipe::<f64>().unwrap();
        let names: Vec<_> = recipe
            .chain
            .transforms()
            .iter()
            .map(|t| t.buffers())
            .collect();
        assert_eq!(
            names,
            vec![
                &[][..],
                &["square_avg", "grad_avg"][..],
                &["momentum_buffer"][..],
                &[][..]
            ]
        );
        let mut params = ParamStore::single("w", vec![1.0f64, -2.0]);
        let mut opt = Optimizer::new(recipe, &params).unwrap();
        params.set_grad(0, &[0.5, -1.0]);
        opt.step(&mut params).unwrap();
        let s = opt.state("w").unwrap();
        let g = [0.6, -1.2];
        assert_close(&s[1].bufs[0], &[0.1 * 0.36, 0.1 * 1.44], 1e-15);
        assert_close(&s[1].bufs[1], &[0.1 * g[0], 0.1 * g[1]], 1e-15);
        // b = g / (√(0.09 g²) + eps) ≈ ±1/0.3
        let b = [g[0] / (0.3 * 0.6 + 1e-8), g[1] / (0.3 * 1.2 + 1e-8)];
        assert_close(&s[2].bufs[0], &b, 1e-12);
    }

    #[test]
    fn f32_agrees_with_f64() {
        for centered in [false, true] {
            let c = RmspropConfig {
                momentum: 0.5,
                centered,
                ..cfg()
            };
            let a = run_quadratic::<f32>(&c, 30);
            let b = run_quadratic::<f64>(&c, 30);
            assert_close(&a, &b, 1e-5);
        }
    }

    #[test]
    fn converges_on_a_quadratic() {
        // RMSprop's steps have size ≈ lr near the optimum; a decaying lr is not needed for a
        // small enough lr to bring every coordinate within a few lr of 0.
        for (momentum, centered) in [(0.0, false), (0.9, false), (0.0, true), (0.9, true)] {
            let c = RmspropConfig {
                lr: 1e-2,
                momentum,
                centered,
                ..RmspropConfig::default()
            };
            let p = run_quadratic::<f64>(&c, 2000);
            assert!(
                p.iter().all(|x| x.abs() < 0.05),
                "momentum {momentum}, centered {centered}: {p:?}"
            );
        }
    }

    #[test]
    fn defaults_and_validation() {
        let t: toml::Table = "".parse().unwrap();
        let c = RmspropConfig::from_hyper(&mut Hyper::new("t", &t)).unwrap();
        assert_eq!(c, RmspropConfig::default());
        assert_eq!((c.lr, c.alpha, c.eps), (1e-2, 0.99, 1e-8));
        let t: toml::Table = "momentum = -0.9".parse().unwrap();
        let e = RmspropConfig::from_hyper(&mut Hyper::new("t", &t)).unwrap_err();
        assert!(e.to_string().contains("`momentum` = -0.9"), "{e}");
        let bad = RmspropConfig {
            alpha: f64::NAN,
            ..RmspropConfig::default()
        };
        assert!(bad
            .recipe::<f64>()
            .unwrap_err()
            .to_string()
            .contains("alpha"));
        let t: toml::Table = "name = \"rmsprop\"\nmomentum = 0.9\ncentered = true\nmaximize = true"
            .parse()
            .unwrap();
        let r = crate::optimizers::from_table::<f64>("t", &t, &[]).unwrap();
        assert_eq!(
            r.chain.describe(),
            "scale > add_decayed_weights > scale_by_rms > trace > scale_by_learning_rate"
        );
        let t: toml::Table = "name = \"rmsprop\"\nbeta = 0.9".parse().unwrap();
        assert!(crate::optimizers::from_table::<f64>("t", &t, &[]).is_err());
    }
}
