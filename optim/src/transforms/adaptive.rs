//! Per-coordinate adaptive scaling without bias correction: Adagrad's running sum of squares,
//! RMSprop's moving average of squares (optionally centred), Adadelta's ratio of RMS, and the
//! inverse-time learning-rate decay Adagrad applies on top.
//!
//! Every formula follows PyTorch's single-tensor code path (`torch/optim/{adagrad,rmsprop,
//! adadelta}.py`) in its order of operations, so that `f64` trajectories agree with it to
//! rounding: `mul_(β).addcmul_(g, g, value=1−β)` is `v·β + ((1−β)·g)·g`, eps sits where PyTorch
//! puts it, and the output is in *un-scaled* units (the learning rate is applied by the last link
//! of the chain, from the group's scheduled lr).

use crate::transform::{Coef, Ctx, TensorInfo, Transform};
use crate::{Float, State};

/// Adagrad's accumulator (optax's `scale_by_rss`, with PyTorch's eps placement):
/// ```text
/// s ← s + g²                 (s starts at initial_accumulator_value)
/// u ← g / (√s + eps)
/// ```
/// optax puts eps inside the root (`g / √(s + eps)`); PyTorch adds it to the root, as here.
#[derive(Clone, Debug)]
pub struct ScaleByRss {
    pub initial_accumulator_value: f64,
    pub eps: f64,
}

pub fn scale_by_rss(initial_accumulator_value: f64, eps: f64) -> ScaleByRss {
    ScaleByRss {
        initial_accumulator_value,
        eps,
    }
}

impl<F: Float> Transform<F> for ScaleByRss {
    fn name(&self) -> &'static str {
        "scale_by_rss"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["sum"]
    }
    fn init(&self, param: &[F], _info: TensorInfo<'_>) -> State<F> {
        State {
            bufs: vec![vec![F::of(self.initial_accumulator_value); param.len()]],
            scalars: vec![],
        }
    }
    fn begin(&self, _: &Ctx, _: &mut [f64]) -> Coef {
        [self.eps, 0., 0., 0., 0., 0., 0., 0.]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let eps = F::of(c[0]);
        let sum = &mut *bufs[0];
        upd.iter_mut().zip(sum.iter_mut()).for_each(|(u, s)| {
            let g = *u;
            // state_sum.addcmul_(g, g, value=1); std = state_sum.sqrt().add_(eps)
            *s = *s + g * g;
            *u = g / (s.sqrt() + eps);
        });
    }
}

/// `u ← −clr·u` with Adagrad's inverse-time decay of the group's (scheduled) learning rate:
/// `clr = lr / (1 + (t − 1)·lr_decay)`, `t` this tensor's own step count (1-based; PyTorch's
/// per-parameter `state["step"]`, which does not advance on steps where the parameter has no
/// gradient). The last link of Adagrad's chain in place of `scale_by_learning_rate`; with
/// `lr_decay = 0` it equals it exactly.
#[derive(Clone, Debug)]
pub struct ScaleByDecayedLearningRate {
    pub lr_decay: f64,
}

pub fn scale_by_decayed_learning_rate(lr_decay: f64) -> ScaleByDecayedLearningRate {
    ScaleByDecayedLearningRate { lr_decay }
}

impl<F: Float> Transform<F> for ScaleByDecayedLearningRate {
    fn name(&self) -> &'static str {
        "scale_by_decayed_learning_rate"
    }
    fn scalars(&self) -> usize {
        1
    }
    fn begin(&self, ctx: &Ctx, s: &mut [f64]) -> Coef {
        s[0] += 1.0;
        let clr = ctx.lr / (1.0 + (s[0] - 1.0) * self.lr_decay);
        [-clr, 0., 0., 0., 0., 0., 0., 0.]
    }
    fn chunk(&self, c: &Coef, _: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let s = F::of(c[0]);
        upd.iter_mut().for_each(|u| *u = *u * s);
    }
}

/// RMSprop's scaling (Tieleman & Hinton 2012), optionally centred (Graves 2013; optax's
/// `scale_by_stddev`):
/// ```text
/// v ← α·v + (1 − α)·g²
/// m ← lerp(m, g, 1 − α)                          (centered only)
/// u ← g / (√v + eps)          or, centred,  u ← g / (√(v − m²) + eps)
/// ```
/// eps is added outside the root as in PyTorch (TensorFlow/Keras and optax put it inside).
/// Buffers: `square_avg`, then `grad_avg` when centred (PyTorch's state names). RMSprop's
/// momentum is a separate link after this one (see `optimizers::rmsprop`).
#[derive(Clone, Debug)]
pub struct ScaleByRms {
    pub alpha: f64,
    pub eps: f64,
    pub centered: bool,
}

pub fn scale_by_rms(alpha: f64, eps: f64, centered: bool) -> ScaleByRms {
    ScaleByRms {
        alpha,
        eps,
        centered,
    }
}

impl<F: Float> Transform<F> for ScaleByRms {
    fn name(&self) -> &'static str {
        "scale_by_rms"
    }
    fn buffers(&self) -> &'static [&'static str] {
        if self.centered {
            &["square_avg", "grad_avg"]
        } else {
            &["square_avg"]
        }
    }
    fn begin(&self, _: &Ctx, _: &mut [f64]) -> Coef {
        [self.alpha, 1.0 - self.alpha, self.eps, 0., 0., 0., 0., 0.]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (alpha, w, eps) = (F::of(c[0]), F::of(c[1]), F::of(c[2]));
        if !self.centered {
            let sq = &mut *bufs[0];
            upd.iter_mut().zip(sq.iter_mut()).for_each(|(u, v)| {
                let g = *u;
                // square_avg.mul_(alpha).addcmul_(g, g, value=1-alpha); avg = sqrt().add_(eps)
                *v = *v * alpha + w * g * g;
                *u = g / (v.sqrt() + eps);
            });
            return;
        }
        let (sq, ga) = bufs.split_at_mut(1);
        let (sq, ga) = (&mut *sq[0], &mut *ga[0]);
        let it = upd.iter_mut().zip(sq.iter_mut()).zip(ga.iter_mut());
        // grad_avg.lerp_(g, 1-alpha): ATen's lerp picks its form by the size of the weight.
        if w.abs() < F::of(0.5) {
            it.for_each(|((u, v), m)| {
                let g = *u;
                *v = *v * alpha + w * g * g;
                *m = *m + w * (g - *m);
                // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
                *u = g / ((*v - *m * *m).sqrt() + eps);
            });
        } else {
            let omw = F::one() - w;
            it.for_each(|((u, v), m)| {
                let g = *u;
                *v = *v * alpha + w * g * g;
                *m = g - (g - *m) * omw;
                *u = g / ((*v - *m * *m).sqrt() + eps);
            });
        }
    }
}

/// Adadelta's unit-correcting scaling (Zeiler 2012):
/// ```text
/// v ← ρ·v + (1 − ρ)·g²
/// δ ← √(a + eps) / √(v + eps) · g
/// a ← ρ·a + (1 − ρ)·δ²
/// u ← δ
/// ```
/// Buffers: `square_avg`, `acc_delta` (PyTorch's state names). eps is inside both roots.
#[derive(Clone, Debug)]
pub struct ScaleByAdadelta {
    pub rho: f64,
    pub eps: f64,
}

pub fn scale_by_adadelta(rho: f64, eps: f64) -> ScaleByAdadelta {
    ScaleByAdadelta { rho, eps }
}

impl<F: Float> Transform<F> for ScaleByAdadelta {
    fn name(&self) -> &'static str {
        "scale_by_adadelta"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["square_avg", "acc_delta"]
    }
    fn begin(&self, _: &Ctx, _: &mut [f64]) -> Coef {
        [self.rho, 1.0 - self.rho, self.eps, 0., 0., 0., 0., 0.]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (rho, w, eps) = (F::of(c[0]), F::of(c[1]), F::of(c[2]));
        let (sq, acc) = bufs.split_at_mut(1);
        let (sq, acc) = (&mut *sq[0], &mut *acc[0]);
        upd.iter_mut()
            .zip(sq.iter_mut())
            .zip(acc.iter_mut())
            .for_each(|((u, v), a)| {
                let g = *u;
                *v = *v * rho + w * g * g;
                // std = square_avg.add(eps).sqrt_(); delta = acc_delta.add(eps).sqrt_().div_(std).mul_(g)
                let std = (*v + eps).sqrt();
                let delta = (*a + eps).sqrt() / std * g;
                *a = *a * rho + w * delta * delta;
                *u = delta;
            });
    }
}
