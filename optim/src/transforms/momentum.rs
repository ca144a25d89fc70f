//! Momentum variants beside SGD's heavy ball ([`trace`](crate::transforms::trace)): Lion's
//! two-beta interpolation and Signum's zero-initialised moving average. Neither is
//! bias-corrected; both take a scheduled momentum from [`Ctx::momentum`] in place of their first
//! β.

use crate::transform::{Coef, Ctx, Transform};
use crate::Float;

/// Lion's two-beta momentum (Chen et al. 2023), *without* the sign (compose with
/// [`scale_by_sign`](crate::transforms::scale_by_sign)):
/// ```text
/// u ← β₁·m + (1 − β₁)·g          (the interpolation whose sign is the update)
/// m ← β₂·m + (1 − β₂)·g
/// ```
/// A scheduled momentum in [`Ctx::momentum`] replaces `β₁`.
#[derive(Clone, Debug)]
pub struct LionMomentum {
    pub b1: f64,
    pub b2: f64,
}

pub fn lion_momentum(b1: f64, b2: f64) -> LionMomentum {
    LionMomentum { b1, b2 }
}

impl<F: Float> Transform<F> for LionMomentum {
    fn name(&self) -> &'static str {
        "lion_momentum"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["exp_avg"]
    }
    fn begin(&self, ctx: &Ctx, _: &mut [f64]) -> Coef {
        let b1 = ctx.momentum.unwrap_or(self.b1);
        [b1, 1.0 - b1, self.b2, 1.0 - self.b2, 0., 0., 0., 0.]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (b1, k1, b2, k2) = (F::of(c[0]), F::of(c[1]), F::of(c[2]), F::of(c[3]));
        let m = &mut *bufs[0];
        m.iter_mut().zip(upd.iter_mut()).for_each(|(m, u)| {
            let g = *u;
            *u = *m * b1 + g * k1;
            *m = *m * b2 + g * k2;
        });
    }
}

/// Exponential moving average of the updates, zero-initialised and not bias-corrected
/// (optax's `ema(decay, debias=False)`; Signum's momentum):
/// ```text
/// m ← β·m + (1 − β)·g,   u ← m
/// ```
/// Unlike [`trace`](crate::transforms::trace) the first step does not copy the gradient into
/// the buffer. A scheduled momentum in [`Ctx::momentum`] replaces `β`.
#[derive(Clone, Debug)]
pub struct Ema {
    pub decay: f64,
}

pub fn ema(decay: f64) -> Ema {
    Ema { decay }
}

impl<F: Float> Transform<F> for Ema {
    fn name(&self) -> &'static str {
        "ema"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["momentum_buffer"]
    }
    fn begin(&self, ctx: &Ctx, _: &mut [f64]) -> Coef {
        let b = ctx.momentum.unwrap_or(self.decay);
        [b, 1.0 - b, 0., 0., 0., 0., 0., 0.]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (b, k) = (F::of(c[0]), F::of(c[1]));
        let m = &mut *bufs[0];
        m.iter_mut().zip(upd.iter_mut()).for_each(|(m, u)| {
            *m = *m * b + *u * k;
            *u = *m;
        });
    }
}
