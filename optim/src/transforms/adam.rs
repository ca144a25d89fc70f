//! Adam-family moment transforms: `scale_by_adam` (with its AMSGrad, Nesterov/NAdam and
//! rectified/RAdam variants) and `scale_by_adamax`.
//!
//! All of them keep the first moment as PyTorch does, `m ← lerp(m, g, 1 − β₁)`, and (except
//! Adamax) the second moment `v ← β₂·v + (1 − β₂)·g²`; they differ only in how the update is
//! formed from `m` and `v`. The variants are a [`AdamVariant`] flag on one transform rather than
//! copies, so the moment code exists once. Their output is the *direction* only: the learning
//! rate (and, for decoupled decay, the weight decay) is applied by later links of the chain.
//!
//! Scalar coefficients (bias corrections, momentum schedules) are computed in `f64` in `begin`
//! with `powf`, as Python does with `beta ** step`, and the elementwise operations follow the
//! order of PyTorch's single-tensor code paths so that `f64` trajectories agree with PyTorch's to
//! rounding. A scheduled momentum in [`Ctx::momentum`] (one-cycle's `cycle_momentum`) replaces
//! `β₁` everywhere `β₁` appears, bias corrections included, as it does when PyTorch's schedulers
//! rewrite `group["betas"]`.

use crate::transform::Link;
use crate::transform::{Coef, Ctx, TensorInfo, Transform};
use crate::{Float, State};

/// Which member of the Adam family [`ScaleByAdam`] computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AdamVariant {
    /// Adam (Kingma & Ba, 2015): `u = (m / bc₁) / (√v / √bc₂ + ε)`. With `amsgrad` (Reddi et
    /// al., 2018) `v` in the denominator is replaced by its running maximum `v_max ← max(v_max, v)`.
    Adam { amsgrad: bool },
    /// NAdam (Dozat, 2016), PyTorch's form with the momentum schedule
    /// `μ_t = β₁·(1 − ½·0.96^(t·ψ))`, `ψ = momentum_decay`:
    /// `u = (1 − μ_t)/(1 − Πμ)·g / d + μ_{t+1}/(1 − Πμ·μ_{t+1})·m / d`, `d = √(v / bc₂) + ε`.
    Nesterov { momentum_decay: f64 },
    /// RAdam (Liu et al., 2020): with `ρ_∞ = 2/(1 − β₂) − 1` and
    /// `ρ_t = ρ_∞ − 2t·β₂ᵗ/bc₂`, `u = (m / bc₁)·r_t·√bc₂ / (√v + ε)` when `ρ_t > 5`, where
    /// `r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))`, and `u = m / bc₁` otherwise.
    Rectified,
}

/// Adam's moment estimates and adaptive scaling; see [`AdamVariant`] for the output of each
/// variant.
///
/// Buffers: `exp_avg`, `exp_avg_sq` (and `max_exp_avg_sq` with AMSGrad). Scalars: the step
/// count, and for NAdam the running product `mu_product` (starting at 1).
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleByAdam {
    pub b1: f64,
    pub b2: f64,
    pub eps: f64,
    pub variant: AdamVariant,
}

/// Adam's scaling (`scale_by_adam` in optax, but with PyTorch's ε placement and AMSGrad).
pub fn scale_by_adam(b1: f64, b2: f64, eps: f64, amsgrad: bool) -> ScaleByAdam {
    ScaleByAdam {
        b1,
        b2,
        eps,
        variant: AdamVariant::Adam { amsgrad },
    }
}

/// NAdam's scaling: Adam with PyTorch's scheduled Nesterov momentum.
pub fn scale_by_nadam(b1: f64, b2: f64, eps: f64, momentum_decay: f64) -> ScaleByAdam {
    ScaleByAdam {
        b1,
        b2,
        eps,
        variant: AdamVariant::Nesterov { momentum_decay },
    }
}

/// RAdam's scaling: Adam with the variance rectification term.
pub fn scale_by_radam(b1: f64, b2: f64, eps: f64) -> ScaleByAdam {
    ScaleByAdam {
        b1,
        b2,
        eps,
        variant: AdamVariant::Rectified,
    }
}

/// `torch.lerp(m, g, w)` as PyTorch's CPU kernel computes it: `m + w·(g − m)` when `|w| < ½`,
/// else `g − (1 − w)·(g − m)`. Both are `base + c·(g − m)`; `lerp_coef` picks `(base is m, c)`
/// once per chunk so that the loop body is branch-free.
#[inline(always)]
pub(crate) fn lerp_coef<F: Float>(w: f64) -> (bool, F) {
    let w = F::of(w);
    if w.abs() < F::of(0.5) {
        (true, w)
    } else {
        (false, w - F::one())
    }
}

/// One element of the first and second moment updates:
/// `m ← lerp(m, g, 1 − β₁)`, `v ← β₂·v + ((1 − β₂)·g)·g`.
#[inline(always)]
pub(crate) fn moments<F: Float>(m: &mut F, v: &mut F, g: F, small: bool, c: F, b2: F, k2: F) {
    let base = if small { *m } else { g };
    *m = base + c * (g - *m);
    *v = *v * b2 + k2 * g * g;
}

/// `torch.maximum`: the larger of the two, NaN if either is NaN.
#[inline(always)]
fn maximum<F: Float>(a: F, b: F) -> F {
    if a > b || a.is_nan() {
        a
    } else {
        b
    }
}

impl ScaleByAdam {
    fn amsgrad(&self) -> bool {
        matches!(self.variant, AdamVariant::Adam { amsgrad: true })
    }
}

impl<F: Float> Transform<F> for ScaleByAdam {
    fn link(&self) -> Link {
        match self.variant {
            AdamVariant::Adam { amsgrad: false } => Link::Adam,
            _ => Link::Other,
        }
    }

    fn name(&self) -> &'static str {
        match self.variant {
            AdamVariant::Adam { .. } => "scale_by_adam",
            AdamVariant::Nesterov { .. } => "scale_by_nadam",
            AdamVariant::Rectified => "scale_by_radam",
        }
    }

    fn buffers(&self) -> &'static [&'static str] {
        if self.amsgrad() {
            &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            &["exp_avg", "exp_avg_sq"]
        }
    }

    fn scalars(&self) -> usize {
        match self.variant {
            AdamVariant::Nesterov { .. } => 2,
            _ => 1,
        }
    }

    fn init(&self, param: &[F], _info: TensorInfo<'_>) -> State<F> {
        let mut s = State::zeros(
            <Self as Transform<F>>::buffers(self).len(),
            param.len(),
            <Self as Transform<F>>::scalars(self),
        );
        if let AdamVariant::Nesterov { .. } = self.variant {
            s.scalars[1] = 1.0; // mu_product
        }
        s
    }

    /// Coefficients: `[1 − β₁, β₂, 1 − β₂, a, b, c, d, e]` with the variant's `a..e`.
    fn begin(&self, ctx: &Ctx, s: &mut [f64]) -> Coef {
        s[0] += 1.0;
        let t = s[0];
        let b1 = ctx.momentum.unwrap_or(self.b1);
        let b2 = self.b2;
        let bc1 = 1.0 - b1.powf(t);
        let bc2 = 1.0 - b2.powf(t);
        let mut c = [1.0 - b1, b2, 1.0 - b2, 0., 0., 0., 0., 0.];
        match self.variant {
            AdamVariant::Adam { .. } => {
                // step_size = lr / bc1 is split: 1/bc1 here, −lr in scale_by_learning_rate.
                c[3] = 1.0 / bc1;
                c[4] = bc2.sqrt();
                c[5] = self.eps;
            }
            AdamVariant::Nesterov { momentum_decay } => {
                let mu = b1 * (1.0 - 0.5 * 0.96f64.powf(t * momentum_decay));
                let mu_next = b1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * momentum_decay));
                s[1] *= mu;
                let mu_product = s[1];
                let mu_product_next = mu_product * mu_next;
                c[3] = bc2;
                c[4] = self.eps;
                c[5] = (1.0 - mu) / (1.0 - mu_product);
                c[6] = mu_next / (1.0 - mu_product_next);
            }
            AdamVariant::Rectified => {
                let rho_inf = 2.0 / (1.0 - b2) - 1.0;
                let rho_t = rho_inf - 2.0 * t * b2.powf(t) / bc2;
                c[3] = bc1;
                c[4] = self.eps;
                if rho_t > 5.0 {
                    let rect = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                        / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                        .powf(0.5);
                    c[5] = bc2.powf(0.5);
                    c[6] = rect;
                    c[7] = 1.0;
                }
            }
        }
        c
    }

    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (small, k1) = lerp_coef::<F>(c[0]);
        let (b2, k2) = (F::of(c[1]), F::of(c[2]));
        let (m, rest) = bufs.split_at_mut(1);
        let m = &mut *m[0];
        match self.variant {
            AdamVariant::Adam { amsgrad } => {
                let (inv_bc1, sqrt_bc2, eps) = (F::of(c[3]), F::of(c[4]), F::of(c[5]));
                if amsgrad {
                    let (v, vmax) = rest.split_at_mut(1);
                    let (v, vmax) = (&mut *v[0], &mut *vmax[0]);
                    for (((u, m), v), vmax) in upd
                        .iter_mut()
                        .zip(m.iter_mut())
                        .zip(v.iter_mut())
                        .zip(vmax.iter_mut())
                    {
                        moments(m, v, *u, small, k1, b2, k2);
                        *vmax = maximum(*vmax, *v);
                        let denom = vmax.sqrt() / sqrt_bc2 + eps;
                        *u = *m * inv_bc1 / denom;
                    }
                } else {
                    let v = &mut *rest[0];
                    for ((u, m), v) in upd.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
                        moments(m, v, *u, small, k1, b2, k2);
                        let denom = v.sqrt() / sqrt_bc2 + eps;
                        *u = *m * inv_bc1 / denom;
                    }
                }
            }
            AdamVariant::Nesterov { .. } => {
                let (bc2, eps) = (F::of(c[3]), F::of(c[4]));
                let (kg, km) = (F::of(c[5]), F::of(c[6]));
                let v = &mut *rest[0];
                for ((u, m), v) in upd.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
                    let g = *u;
                    moments(m, v, g, small, k1, b2, k2);
                    // PyTorch's single-tensor NAdam: denom = (v / bc2).sqrt() + eps.
                    let denom = (*v / bc2).sqrt() + eps;
                    *u = kg * g / denom + km * *m / denom;
                }
            }
            AdamVariant::Rectified => {
                let (bc1, eps) = (F::of(c[3]), F::of(c[4]));
                let v = &mut *rest[0];
                if c[7] == 1.0 {
                    let (sqrt_bc2, rect) = (F::of(c[5]), F::of(c[6]));
                    for ((u, m), v) in upd.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
                        moments(m, v, *u, small, k1, b2, k2);
                        let adaptive_lr = sqrt_bc2 / (v.sqrt() + eps);
                        *u = *m / bc1 * adaptive_lr * rect;
                    }
                } else {
                    for ((u, m), v) in upd.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
                        moments(m, v, *u, small, k1, b2, k2);
                        *u = *m / bc1;
                    }
                }
            }
        }
    }
}

/// Adamax's scaling (Kingma & Ba, 2015, §7.1), PyTorch's form: `m ← lerp(m, g, 1 − β₁)`,
/// `u_inf ← max(β₂·u_inf, |g| + ε)`, output `(m / bc₁) / u_inf`.
///
/// Buffers: `exp_avg`, `exp_inf`. Scalars: the step count.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleByAdamax {
    pub b1: f64,
    pub b2: f64,
    pub eps: f64,
}

pub fn scale_by_adamax(b1: f64, b2: f64, eps: f64) -> ScaleByAdamax {
    ScaleByAdamax { b1, b2, eps }
}

impl<F: Float> Transform<F> for ScaleByAdamax {
    fn name(&self) -> &'static str {
        "scale_by_adamax"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_inf"]
    }
    fn scalars(&self) -> usize {
        1
    }
    /// `[1 − β₁, β₂, ε, 1/bc₁]`.
    fn begin(&self, ctx: &Ctx, s: &mut [f64]) -> Coef {
        s[0] += 1.0;
        let b1 = ctx.momentum.unwrap_or(self.b1);
        let bc1 = 1.0 - b1.powf(s[0]);
        [1.0 - b1, self.b2, self.eps, 1.0 / bc1, 0., 0., 0., 0.]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (small, k1) = lerp_coef::<F>(c[0]);
        let (b2, eps, inv_bc1) = (F::of(c[1]), F::of(c[2]), F::of(c[3]));
        let (m, rest) = bufs.split_at_mut(1);
        let (m, e) = (&mut *m[0], &mut *rest[0]);
        for ((u, m), e) in upd.iter_mut().zip(m.iter_mut()).zip(e.iter_mut()) {
            let g = *u;
            let base = if small { *m } else { g };
            *m = base + k1 * (g - *m);
            *e = maximum(*e * b2, g.abs() + eps);
            *u = *m * inv_bc1 / *e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(step: u64) -> Ctx {
        Ctx {
            lr: 1.0,
            step,
            ..Default::default()
        }
    }

    /// Runs `t` on a one-element tensor for the given gradients; returns the outputs.
    fn outputs(t: &dyn Transform<f64>, grads: &[f64], momentum: Option<f64>) -> Vec<f64> {
        let info = TensorInfo {
            name: "w",
            shape: &[1],
        };
        let mut s = t.init(&[0.0], info);
        grads
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                let mut u = [g];
                let c = Ctx {
                    momentum,
                    ..ctx(i as u64 + 1)
                };
                t.tensor(&c, &mut s, &mut u, &[0.0], info);
                u[0]
            })
            .collect()
    }

    #[test]
    fn lerp_matches_both_pytorch_branches() {
        // |w| < 0.5: m + w(g − m); otherwise g − (1 − w)(g − m).
        let (small, c) = lerp_coef::<f64>(0.1);
        assert!(small && c == 0.1);
        let (small, c) = lerp_coef::<f64>(0.7);
        assert!(!small && c == 0.7 - 1.0);
        let (m, g) = (2.0, -1.0);
        let mut mm = m;
        let mut v = 0.0;
        moments(&mut mm, &mut v, g, small, c, 0.5, 0.5);
        assert_eq!(mm, g - (1.0 - 0.7) * (g - m));
        assert_eq!(v, 0.5);
    }

    #[test]
    fn adam_first_step_is_sign_like() {
        // Step 1: m = (1−β₁)g, v = (1−β₂)g², so m/bc₁ = g and √v/√bc₂ = |g|.
        let t = scale_by_adam(0.8, 0.99, 0.0, false);
        let out = outputs(&t, &[0.25, -4.0], None);
        assert!((out[0] - 1.0).abs() < 1e-15, "{out:?}");
        // Step 2 by hand: m = 0.8·0.05 + 0.2·(−4) = −0.76, v = 0.99·0.000625 + 0.01·16 = 0.16061875.
        let m = -0.76 / (1.0 - 0.64);
        let d = 0.160_618_75f64.sqrt() / (1.0 - 0.99f64 * 0.99).sqrt();
        assert!((out[1] - m / d).abs() < 1e-14, "{} vs {}", out[1], m / d);
    }

    #[test]
    fn scheduled_momentum_replaces_beta1() {
        let a = outputs(
            &scale_by_adam(0.9, 0.999, 1e-8, false),
            &[1.0, 2.0, -1.0],
            Some(0.5),
        );
        let b = outputs(
            &scale_by_adam(0.5, 0.999, 1e-8, false),
            &[1.0, 2.0, -1.0],
            None,
        );
        assert_eq!(a, b);
        let a = outputs(
            &scale_by_adamax(0.9, 0.999, 1e-8),
            &[1.0, 2.0, -1.0],
            Some(0.5),
        );
        let b = outputs(&scale_by_adamax(0.5, 0.999, 1e-8), &[1.0, 2.0, -1.0], None);
        assert_eq!(a, b);
    }

    #[test]
    fn nadam_keeps_mu_product_in_state() {
        let t = scale_by_nadam(0.9, 0.999, 1e-8, 4e-3);
        let info = TensorInfo {
            name: "w",
            shape: &[1],
        };
        let mut s = Transform::<f64>::init(&t, &[0.0], info);
        assert_eq!(s.scalars, vec![0.0, 1.0]);
        let mut u = [1.0];
        t.tensor(&ctx(1), &mut s, &mut u, &[0.0], info);
        let mu1 = 0.9 * (1.0 - 0.5 * 0.96f64.powf(4e-3));
        assert_eq!(s.scalars, vec![1.0, mu1]);
        t.tensor(&ctx(2), &mut s, &mut u, &[0.0], info);
        let mu2 = 0.9 * (1.0 - 0.5 * 0.96f64.powf(8e-3));
        assert_eq!(s.scalars, vec![2.0, mu1 * mu2]);
    }

    #[test]
    fn radam_is_unrectified_for_the_first_steps() {
        // With β₂ = 0.999, ρ_t ≤ 5 for t ≤ 5 and the output is m / bc₁ (SGD with momentum).
        let t = scale_by_radam(0.9, 0.999, 1e-8);
        let out = outputs(&t, &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], None);
        for o in &out[..5] {
            assert!((o - 1.0).abs() < 1e-14, "{out:?}");
        }
        // t = 6: rectified, √bc₂/(√v + ε) ≈ 1 for a constant gradient, so the output is r₆ < 1.
        assert!(out[5] < 0.2 && out[5] > 0.0, "{out:?}");
    }

    #[test]
    fn amsgrad_declares_third_buffer_and_nan_propagates() {
        let t = scale_by_adam(0.9, 0.999, 1e-8, true);
        assert_eq!(Transform::<f32>::buffers(&t).len(), 3);
        assert!(maximum(f64::NAN, 1.0).is_nan());
        assert!(maximum(1.0, f64::NAN).is_nan());
        assert_eq!(maximum(1.0, 2.0), 2.0);
    }
}
