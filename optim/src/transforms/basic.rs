//! Scaling, weight decay and momentum: the transforms every recipe uses.

use crate::transform::Link;
use crate::transform::{Coef, Ctx, Transform};
use crate::Float;

/// `u ← s·u` with a fixed factor (`scale(-1.0)` is PyTorch's `maximize`).
#[derive(Clone, Debug)]
pub struct Scale {
    pub factor: f64,
}

pub fn scale(factor: f64) -> Scale {
    Scale { factor }
}

impl<F: Float> Transform<F> for Scale {
    fn name(&self) -> &'static str {
        "scale"
    }
    fn as_scalar(&self, _: &Coef) -> Option<f64> {
        Some(self.factor)
    }
    fn chunk(&self, _: &Coef, _: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let s = F::of(self.factor);
        upd.iter_mut().for_each(|u| *u *= s);
    }
}

/// `u ← −lr·u`, with the group's (scheduled) learning rate; the last link of most chains.
#[derive(Clone, Debug, Default)]
pub struct ScaleByLearningRate {
    /// Multiplies the group lr (1 for the usual case; Muon's shape factor is another use).
    pub multiplier: f64,
}

pub fn scale_by_learning_rate() -> ScaleByLearningRate {
    ScaleByLearningRate { multiplier: 1.0 }
}

impl<F: Float> Transform<F> for ScaleByLearningRate {
    fn link(&self) -> Link {
        Link::LearningRate
    }
    fn name(&self) -> &'static str {
        "scale_by_learning_rate"
    }
    fn begin(&self, ctx: &Ctx, _: &mut [f64]) -> Coef {
        [-ctx.lr * self.multiplier, 0., 0., 0., 0., 0., 0., 0.]
    }
    fn as_scalar(&self, c: &Coef) -> Option<f64> {
        Some(c[0])
    }
    fn chunk(&self, c: &Coef, _: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let s = F::of(c[0]);
        upd.iter_mut().for_each(|u| *u *= s);
    }
}

/// `u ← u + wd·p` with the group's `weight_decay`.
///
/// Placed before the moment estimates it is **coupled L2 regularisation** (PyTorch's
/// `weight_decay` in SGD/Adam: the decay is seen by momentum and adaptive scaling); placed after
/// them and before `scale_by_learning_rate` it is **decoupled weight decay** (AdamW:
/// `p ← p − lr·wd·p`), as in Loshchilov & Hutter (2019).
#[derive(Clone, Debug, Default)]
pub struct AddDecayedWeights {
    /// Multiplies the group's weight decay (1 for the usual case).
    pub multiplier: f64,
}

pub fn add_decayed_weights() -> AddDecayedWeights {
    AddDecayedWeights { multiplier: 1.0 }
}

impl<F: Float> Transform<F> for AddDecayedWeights {
    fn link(&self) -> Link {
        Link::DecayedWeights
    }
    fn name(&self) -> &'static str {
        "add_decayed_weights"
    }
    fn begin(&self, ctx: &Ctx, _: &mut [f64]) -> Coef {
        [
            ctx.weight_decay * self.multiplier,
            0.,
            0.,
            0.,
            0.,
            0.,
            0.,
            0.,
        ]
    }
    fn chunk(&self, c: &Coef, _: &mut [&mut [F]], upd: &mut [F], param: &[F]) {
        if c[0] == 0.0 {
            return;
        }
        let wd = F::of(c[0]);
        upd.iter_mut().zip(param).for_each(|(u, &p)| *u += wd * p);
    }
}

/// Heavy-ball momentum with PyTorch SGD's conventions (`trace` in optax).
///
/// `buf ← g` at the first step, then `buf ← μ·buf + (1 − dampening)·g`;
/// the output is `buf`, or `g + μ·buf` with `nesterov`. A scheduled momentum in
/// [`Ctx::momentum`] replaces `μ`.
#[derive(Clone, Debug)]
pub struct Trace {
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
}

pub fn trace(momentum: f64, dampening: f64, nesterov: bool) -> Trace {
    Trace {
        momentum,
        dampening,
        nesterov,
    }
}

impl<F: Float> Transform<F> for Trace {
    fn link(&self) -> Link {
        Link::Trace {
            nesterov: self.nesterov,
        }
    }
    fn name(&self) -> &'static str {
        "trace"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["momentum_buffer"]
    }
    fn scalars(&self) -> usize {
        1
    }
    fn begin(&self, ctx: &Ctx, s: &mut [f64]) -> Coef {
        s[0] += 1.0;
        let first = if s[0] == 1.0 { 1.0 } else { 0.0 };
        let mu = ctx.momentum.unwrap_or(self.momentum);
        [mu, 1.0 - self.dampening, first, 0., 0., 0., 0., 0.]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (mu, keep) = (F::of(c[0]), F::of(c[1]));
        let buf = &mut *bufs[0];
        if c[2] == 1.0 {
            // PyTorch clones the first gradient into the buffer, without dampening.
            buf.copy_from_slice(upd);
        } else {
            buf.iter_mut()
                .zip(upd.iter())
                .for_each(|(b, &g)| *b = *b * mu + keep * g);
        }
        if self.nesterov {
            upd.iter_mut()
                .zip(buf.iter())
                .for_each(|(u, &b)| *u += mu * b);
        } else {
            upd.copy_from_slice(buf);
        }
    }
}

/// `u ← sign(u)` (signSGD; `sign(0) = 0` as in `torch.sign`).
#[derive(Clone, Debug, Default)]
pub struct ScaleBySign;

pub fn scale_by_sign() -> ScaleBySign {
    ScaleBySign
}

impl<F: Float> Transform<F> for ScaleBySign {
    fn name(&self) -> &'static str {
        "scale_by_sign"
    }
    fn chunk(&self, _: &Coef, _: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        upd.iter_mut().for_each(|u| {
            *u = if *u > F::zero() {
                F::one()
            } else if *u < F::zero() {
                -F::one()
            } else {
                *u
            }
        });
    }
}
