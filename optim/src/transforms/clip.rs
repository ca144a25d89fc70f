//! Gradient clipping that acts on one tensor at a time. Clipping by the *global* norm over all
//! parameters (`clip_grad_norm_`) needs every gradient at once, so the optimizer driver does it
//! before the chain runs; see [`Clipping`](crate::Clipping).

use crate::float::l2;
use crate::transform::{Coef, Ctx, TensorInfo, Transform};
use crate::{Float, State};

/// Clamps every element to `[-value, value]` (`torch.nn.utils.clip_grad_value_`).
#[derive(Clone, Debug)]
pub struct ClipByValue {
    pub value: f64,
}

pub fn clip_by_value(value: f64) -> ClipByValue {
    ClipByValue { value }
}

impl<F: Float> Transform<F> for ClipByValue {
    fn name(&self) -> &'static str {
        "clip_by_value"
    }
    fn chunk(&self, _: &Coef, _: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (lo, hi) = (F::of(-self.value), F::of(self.value));
        upd.iter_mut().for_each(|u| *u = u.max(lo).min(hi));
    }
}

/// Rescales a tensor's update so its L2 norm is at most `max_norm`, with `clip_grad_norm_`'s
/// `max_norm / (norm + 1e-6)` coefficient, but per parameter rather than over all of them.
#[derive(Clone, Debug)]
pub struct ClipByParamNorm {
    pub max_norm: f64,
}

pub fn clip_by_param_norm(max_norm: f64) -> ClipByParamNorm {
    ClipByParamNorm { max_norm }
}

impl<F: Float> Transform<F> for ClipByParamNorm {
    fn name(&self) -> &'static str {
        "clip_by_param_norm"
    }
    fn elementwise(&self) -> bool {
        false
    }
    fn tensor(&self, _: &Ctx, _: &mut State<F>, upd: &mut [F], _: &[F], _: TensorInfo<'_>) {
        let coef = self.max_norm / (l2(upd) + 1e-6);
        if coef < 1.0 {
            let c = F::of(coef);
            upd.iter_mut().for_each(|u| *u *= c);
        }
    }
}

/// Adaptive gradient clipping (Brock et al. 2021, "High-Performance Large-Scale Image
/// Recognition Without Normalization"), unit-wise as in timm's `adaptive_clip_grad`.
///
/// For each output unit (row along dimension 0; the whole tensor for 0-/1-D parameters), the
/// gradient is rescaled to norm `clipping · max(‖w‖, eps)` when its norm exceeds that, with the
/// gradient norm clamped below at 1e-6.
#[derive(Clone, Debug)]
pub struct AdaptiveClip {
    pub clipping: f64,
    pub eps: f64,
}

pub fn adaptive_clip(clipping: f64, eps: f64) -> AdaptiveClip {
    AdaptiveClip { clipping, eps }
}

impl<F: Float> Transform<F> for AdaptiveClip {
    fn name(&self) -> &'static str {
        "adaptive_clip"
    }
    fn elementwise(&self) -> bool {
        false
    }
    fn tensor(&self, _: &Ctx, _: &mut State<F>, upd: &mut [F], param: &[F], info: TensorInfo<'_>) {
        let unit = if info.shape.len() <= 1 || upd.is_empty() {
            upd.len().max(1)
        } else {
            upd.len() / info.shape[0]
        };
        for (u, p) in upd.chunks_mut(unit).zip(param.chunks(unit)) {
            let max_norm = l2(p).max(self.eps) * self.clipping;
            let g_norm = l2(u);
            if g_norm > max_norm {
                let c = F::of(max_norm / g_norm.max(1e-6));
                u.iter_mut().for_each(|v| *v *= c);
            }
        }
    }
}
