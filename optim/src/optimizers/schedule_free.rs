//! Schedule-Free SGD and AdamW: no learning-rate schedule, iterate averaging built in.
//!
//! Update rule (Defazio et al. 2024, "The Road Less Scheduled"; the reference is
//! facebookresearch/schedule_free's `SGDScheduleFree` / `AdamWScheduleFree`). Three sequences:
//! `z` (the base SGD/Adam iterates), `x` (their weighted average, the *evaluation* point) and
//! `y = (1 − β)·z + β·x` (where gradients are taken). With `k` the 0-based step and `lr` the
//! group's learning rate:
//! ```text
//! sched  = (k+1)/warmup_steps if k < warmup_steps else 1
//! SGD:    lrₖ = lr·sched;             d = g + λ·y
//! AdamW:  lrₖ = lr·sched·√(1 − β₂ᵏ⁺¹); v ← β₂v + (1−β₂)g²;  d = g/(√v + ε) + λ·y
//! lr_max = max(lr_max, lrₖ);  wₖ = (k+1)^r · lr_max^weight_lr_power;  cₖ = wₖ / Σᵢ≤ₖ wᵢ
//! y ← y + cₖ·(z − y) + lrₖ·(β(1 − cₖ) − 1)·d          (x ← (1−cₖ)x + cₖ z, expressed on y)
//! z ← z − lrₖ·d
//! ```
//! Conventions: the reference's closure-free ("train/eval mode") form. The model's parameter holds
//! `y` during training; the state holds `z`, and `x` is recovered as
//! `x = y + (1 − 1/β)·(z − y)` (the reference's `eval()`), which [`eval_params`] computes. Evaluate
//! (and checkpoint for inference) at `x`, not at the stored parameter: the reference swaps the
//! parameters with `optimizer.eval()` / `optimizer.train()`; here the training parameter is never
//! swapped, and callers compute `x` into a copy with [`eval_params`] or [`eval_point`]. Weight
//! decay is evaluated at `y` (as the reference). The reference keeps `k`, `lr_max` and
//! `weight_sum` per parameter *group*; here they are per tensor, which is the same as long as
//! every tensor of a group gets a gradient at every step. BatchNorm statistics (the reference's
//! advice to recompute them at `x`) are the caller's concern. `β = momentum` (`β₁` for AdamW) must
//! be in (0, 1) so that `x` is recoverable.
//!
//! Defaults (the reference's): `sgd_schedule_free`: `lr = 1.0`, `momentum = 0.9`,
//! `weight_decay = 0`, `warmup_steps = 0`, `r = 0`, `weight_lr_power = 2`;
//! `adamw_schedule_free`: `lr = 0.0025`, `betas = (0.9, 0.999)`, `eps = 1e-8`, `weight_decay = 0`,
//! `warmup_steps = 0`, `r = 0`, `weight_lr_power = 2`. The output update of the chain is
//! `y_new − y` (the learning rate is applied inside `schedule_free`).
//!
//! Recipes: `add_decayed_weights > schedule_free` (SGD) and
//! `scale_by_second_moment > add_decayed_weights > schedule_free` (AdamW).

use crate::hyper::{Check, Hyper};
use crate::transforms::{add_decayed_weights, scale_by_second_moment, ScheduleFree};
use crate::{Chain, Float, OptimError, Optimizer, Params, Recipe, Result, State};

#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleFreeConfig {
    /// `false`: `sgd_schedule_free`; `true`: `adamw_schedule_free`.
    pub adam: bool,
    pub lr: f64,
    /// SGD's `momentum`, or AdamW's `betas`.
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub warmup_steps: u64,
    pub r: f64,
    pub weight_lr_power: f64,
}

impl ScheduleFreeConfig {
    pub fn sgd() -> Self {
        ScheduleFreeConfig {
            adam: false,
            lr: 1.0,
            betas: (0.9, 0.0),
            eps: 0.0,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
        }
    }

    pub fn adamw() -> Self {
        ScheduleFreeConfig {
            adam: true,
            lr: 0.0025,
            betas: (0.9, 0.999),
            eps: 1e-8,
            ..Self::sgd()
        }
    }

    pub fn from_hyper(name: &str, h: &mut Hyper<'_>) -> Result<Self> {
        let adam = name == "adamw_schedule_free";
        let d = if adam { Self::adamw() } else { Self::sgd() };
        let lr = h.f64("lr", d.lr, Check::NonNeg)?;
        let (betas, eps) = if adam {
            (
                h.pair("betas", d.betas, Check::Unit)?,
                h.f64("eps", d.eps, Check::NonNeg)?,
            )
        } else {
            ((h.f64("momentum", d.betas.0, Check::Unit)?, 0.0), 0.0)
        };
        if betas.0 <= 0.0 {
            let (key, v) = if adam {
                ("betas", format!("[{}, {}]", betas.0, betas.1))
            } else {
                ("momentum", betas.0.to_string())
            };
            return Err(OptimError::invalid(
                h.context(),
                key,
                v,
                "the schedule-free momentum must be > 0 (the evaluation point x = y + (1 - 1/β)(z - y) needs β > 0)",
            ));
        }
        Ok(ScheduleFreeConfig {
            adam,
            lr,
            betas,
            eps,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            warmup_steps: h.usize("warmup_steps", 0)? as u64,
            r: h.f64("r", d.r, Check::NonNeg)?,
            weight_lr_power: h.f64("weight_lr_power", d.weight_lr_power, Check::NonNeg)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let mut chain = Chain::new(vec![])?;
        if self.adam {
            chain = chain.then(scale_by_second_moment(self.betas.1, self.eps))?;
        }
        chain = chain.then(add_decayed_weights())?.then(ScheduleFree {
            momentum: self.betas.0,
            warmup_steps: self.warmup_steps,
            r: self.r,
            weight_lr_power: self.weight_lr_power,
            adam_b2: self.adam.then_some(self.betas.1),
        })?;
        Ok(Recipe {
            name: if self.adam {
                "adamw_schedule_free"
            } else {
                "sgd_schedule_free"
            }
            .into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    ScheduleFreeConfig::from_hyper(name, h)?.recipe()
}

/// The evaluation point `x = y + (1 − 1/β)·(z − y)` of one tensor, from the `schedule_free`
/// transform's state (`bufs[0] = z`, `scalars[3] = β`) and the training parameter `y`.
/// Before the first step (no state yet) `x = y`.
pub fn eval_params<F: Float>(state: &State<F>, y: &[F]) -> Vec<F> {
    let beta = state.scalars[3];
    let w = F::of(1.0 - 1.0 / beta);
    y.iter()
        .zip(&state.bufs[0])
        .map(|(&y, &z)| y + w * (z - y))
        .collect()
}

/// The evaluation point of every parameter of `params` (trained by `opt`), in order: what the
/// reference's `optimizer.eval()` would put into the model. Parameters without state yet keep
/// their value. Errors if `opt` has no `schedule_free` transform.
pub fn eval_point<F: Float>(opt: &Optimizer<F>, params: &impl Params<F>) -> Result<Vec<Vec<F>>> {
    let idx = opt
        .chain()
        .transforms()
        .iter()
        .position(|t| t.name() == "schedule_free")
        .ok_or_else(|| {
            OptimError::Invalid(format!("optimizer `{}` is not schedule-free", opt.name()))
        })?;
    Ok((0..params.count())
        .map(|i| {
            let y = params.value(i);
            match opt.state(params.name(i)) {
                Some(states) => eval_params(&states[idx], y),
                None => y.to_vec(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{close, quadratic};
    use crate::ParamStore;

    #[test]
    fn sgd_warmup_first_steps_by_hand() {
        let cfg = ScheduleFreeConfig {
            lr: 0.5,
            warmup_steps: 2,
            ..ScheduleFreeConfig::sgd()
        };
        let mut params = ParamStore::single("w", vec![2.0f64]);
        let mut opt = Optimizer::new(cfg.recipe().unwrap(), &params).unwrap();
        // Step 1 (k = 0): lr₀ = 0.25, c = 1; y = z → y₁ = 2 − 0.25·1 = 1.75, z₁ = 1.75, x₁ = 1.75.
        params.set_grad(0, &[1.0]);
        opt.step(&mut params).unwrap();
        assert!((params.params[0].value[0] - 1.75).abs() < 1e-15);
        let x = eval_point(&opt, &params).unwrap();
        assert!((x[0][0] - 1.75).abs() < 1e-15);
        // Step 2 (k = 1): lr₁ = 0.5, lr_max = 0.5, w = [0.0625, 0.25], c = 0.8.
        // y₂ = 1.75 + 0.8·0 + 0.5·(0.9·0.2 − 1)·2 = 1.75 − 0.82 = 0.93; z₂ = 1.75 − 1 = 0.75;
        // x₂ = 0.2·x₁ + 0.8·z₂ = 0.95 (and y₂ = 0.1·z₂ + 0.9·x₂ = 0.93).
        params.set_grad(0, &[2.0]);
        opt.step(&mut params).unwrap();
        assert!(
            (params.params[0].value[0] - 0.93).abs() < 1e-14,
            "{:?}",
            params.params[0].value
        );
        let st = &opt.state("w").unwrap()[1];
        assert!((st.bufs[0][0] - 0.75).abs() < 1e-15);
        assert_eq!(&st.scalars[..3], &[2.0, 0.5, 0.0625 + 0.25]);
        let x = eval_point(&opt, &params).unwrap();
        assert!((x[0][0] - 0.95).abs() < 1e-14, "{x:?}");
    }

    #[test]
    fn adamw_first_steps_by_hand() {
        let cfg = ScheduleFreeConfig {
            lr: 0.1,
            weight_decay: 0.5,
            warmup_steps: 0,
            ..ScheduleFreeConfig::adamw()
        };
        let mut params = ParamStore::single("w", vec![1.0f64]);
        let mut opt = Optimizer::new(cfg.recipe().unwrap(), &params).unwrap();
        params.set_grad(0, &[2.0]);
        opt.step(&mut params).unwrap();
        // k = 0: v = 0.004, d = 2/(√0.004 + 1e-8) + 0.5·1, lr₀ = 0.1·√0.001, c = 1.
        let lr0 = 0.1 * 0.001f64.sqrt();
        let d = 2.0 / (0.004f64.sqrt() + 1e-8) + 0.5;
        let y1 = 1.0 - lr0 * d;
        assert!((params.params[0].value[0] - y1).abs() < 1e-14);
        params.set_grad(0, &[-1.0]);
        opt.step(&mut params).unwrap();
        // k = 1: v = 0.999·0.004 + 0.001, lr₁ = 0.1·√(1 − 0.999²), weights lr₀², lr₁².
        let v: f64 = 0.999 * 0.004 + 0.001;
        let lr1 = 0.1 * (1.0 - 0.999f64 * 0.999).sqrt();
        let c = lr1 * lr1 / (lr0 * lr0 + lr1 * lr1);
        let d2 = -1.0 / (v.sqrt() + 1e-8) + 0.5 * y1;
        let y2 = y1 + c * 0.0 + lr1 * (0.9 * (1.0 - c) - 1.0) * d2;
        assert!(
            (params.params[0].value[0] - y2).abs() < 1e-13,
            "{} vs {y2}",
            params.params[0].value[0]
        );
    }

    #[test]
    fn eval_point_is_the_average_of_z() {
        // With r = 0 and constant lr, c_k = 1/(k+1): x is the running mean of z₁..z_k.
        let cfg = ScheduleFreeConfig {
            lr: 0.1,
            ..ScheduleFreeConfig::sgd()
        };
        let mut params = ParamStore::single("w", vec![1.0f64, -3.0]);
        let mut opt = Optimizer::new(cfg.recipe().unwrap(), &params).unwrap();
        let mut zs = vec![];
        for k in 0..5 {
            params.set_grad(0, &[0.3 * k as f64, 1.0]);
            opt.step(&mut params).unwrap();
            zs.push(opt.state("w").unwrap()[1].bufs[0].clone());
        }
        let mean: Vec<f64> = (0..2)
            .map(|i| zs.iter().map(|z| z[i]).sum::<f64>() / 5.0)
            .collect();
        let x = eval_point(&opt, &params).unwrap();
        assert!(close(&x[0], &mean, 1e-13), "{x:?} vs {mean:?}");
    }

    #[test]
    fn converges_on_quadratic() {
        for cfg in [
            ScheduleFreeConfig {
                lr: 0.05,
                ..ScheduleFreeConfig::sgd()
            },
            ScheduleFreeConfig {
                lr: 0.05,
                warmup_steps: 10,
                ..ScheduleFreeConfig::adamw()
            },
        ] {
            let (f0, f) = quadratic(cfg.recipe().unwrap(), &[2], &[1.0, 10.0], &[1.0, -1.0], 300);
            assert!(f < f0 / 10.0, "{cfg:?}: {f0} -> {f}");
        }
    }

    #[test]
    fn zero_momentum_is_rejected() {
        let t: toml::Table = "momentum = 0.0".parse().unwrap();
        let mut h = Hyper::new("optimizer `sgd_schedule_free`", &t);
        let e = build::<f64>("sgd_schedule_free", &mut h)
            .unwrap_err()
            .to_string();
        assert!(e.contains("momentum") && e.contains("> 0"), "{e}");
    }
}
