//! Layer-wise trust ratios: each tensor's update rescaled by a ratio of norms, LAMB's
//! `‖p‖ / ‖u‖` and LARS's rate with its weight decay. Norms are per tensor, accumulated in `f64`.

use crate::float::l2;
use crate::transform::{Ctx, TensorInfo, Transform};
use crate::{Float, State};

/// LAMB's layer-wise trust ratio (optax's `scale_by_trust_ratio`):
/// `u ← (‖p‖ / ‖u‖)·u`, with the ratio 1 when either norm is zero. Norms are per tensor, in
/// `f64`.
#[derive(Clone, Debug, Default)]
pub struct ScaleByTrustRatio;

pub fn scale_by_trust_ratio() -> ScaleByTrustRatio {
    ScaleByTrustRatio
}

/// The trust ratio `‖p‖ / ‖u‖` (1 when either norm is zero), exposed for tests and logging.
pub fn trust_ratio<F: Float>(param: &[F], upd: &[F]) -> f64 {
    let (pn, un) = (l2(param), l2(upd));
    if pn > 0.0 && un > 0.0 {
        pn / un
    } else {
        1.0
    }
}

impl<F: Float> Transform<F> for ScaleByTrustRatio {
    fn name(&self) -> &'static str {
        "scale_by_trust_ratio"
    }
    fn elementwise(&self) -> bool {
        false
    }
    fn tensor(&self, _: &Ctx, _: &mut State<F>, upd: &mut [F], param: &[F], _: TensorInfo<'_>) {
        let r = trust_ratio(param, upd);
        if r != 1.0 {
            let r = F::of(r);
            upd.iter_mut().for_each(|u| *u *= r);
        }
    }
}

/// LARS's layer-wise rate with weight decay (You et al. 2017; torchlars' convention):
/// ```text
/// local_lr = η·‖p‖ / (‖g‖ + λ·‖p‖ + ε)    (1 when ‖p‖ = 0 or ‖g‖ = 0)
/// u ← (g + λ·p)·local_lr
/// ```
/// with `η` the trust coefficient and `λ` the group's weight decay (read from [`Ctx`], so this
/// transform *is* the weight decay of a LARS chain).
#[derive(Clone, Debug)]
pub struct ScaleByLarsRatio {
    pub trust_coefficient: f64,
    pub eps: f64,
}

pub fn scale_by_lars_ratio(trust_coefficient: f64, eps: f64) -> ScaleByLarsRatio {
    ScaleByLarsRatio {
        trust_coefficient,
        eps,
    }
}

impl<F: Float> Transform<F> for ScaleByLarsRatio {
    fn name(&self) -> &'static str {
        "scale_by_lars_ratio"
    }
    fn elementwise(&self) -> bool {
        false
    }
    fn tensor(&self, ctx: &Ctx, _: &mut State<F>, upd: &mut [F], param: &[F], _: TensorInfo<'_>) {
        let wd = ctx.weight_decay;
        let (pn, gn) = (l2(param), l2(upd));
        let local = if pn > 0.0 && gn > 0.0 {
            self.trust_coefficient * pn / (gn + wd * pn + self.eps)
        } else {
            1.0
        };
        let (l, w) = (F::of(local), F::of(wd));
        upd.iter_mut()
            .zip(param)
            .for_each(|(u, &p)| *u = (*u + w * p) * l);
    }
}
