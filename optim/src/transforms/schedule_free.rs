//! Schedule-Free (Defazio et al. 2024): the averaged step that replaces a learning-rate
//! schedule, and the second-moment normalisation of its AdamW variant.

use crate::transform::{Coef, Ctx, TensorInfo, Transform};
use crate::{Float, State};

/// Schedule-Free AdamW's normalisation (facebookresearch/schedule_free `AdamWScheduleFree`):
/// ```text
/// v ← β₂·v + (1 − β₂)·g²,   u ← g / (√v + ε)
/// ```
/// The bias correction of `v` is not here: the reference folds `√(1 − β₂ᵏ⁺¹)` into the learning
/// rate (see [`ScheduleFree`]).
#[derive(Clone, Debug)]
pub struct ScaleBySecondMoment {
    pub b2: f64,
    pub eps: f64,
}

pub fn scale_by_second_moment(b2: f64, eps: f64) -> ScaleBySecondMoment {
    ScaleBySecondMoment { b2, eps }
}

impl<F: Float> Transform<F> for ScaleBySecondMoment {
    fn name(&self) -> &'static str {
        "scale_by_second_moment"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["exp_avg_sq"]
    }
    fn chunk(&self, _: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (b2, k2, eps) = (F::of(self.b2), F::of(1.0 - self.b2), F::of(self.eps));
        let v = &mut *bufs[0];
        v.iter_mut().zip(upd.iter_mut()).for_each(|(v, u)| {
            let g = *u;
            *v = *v * b2 + g * g * k2;
            *u = g / (v.sqrt() + eps);
        });
    }
}

/// The Schedule-Free step (Defazio et al. 2024), in the reference's closure-free form: the
/// parameter holds the gradient point `y`, the state holds `z`, and `x` (the evaluation point) is
/// recovered from them. With `k` the 0-based step, `β` the momentum (`β₁` for AdamW):
/// ```text
/// sched   = (k+1)/warmup_steps  if k < warmup_steps  else 1
/// lr      = group_lr · sched  [· √(1 − β₂ᵏ⁺¹) for AdamW]
/// lr_max  = max(lr_max, lr)
/// weight  = (k+1)^r · lr_max^weight_lr_power;  weight_sum += weight;  c = weight / weight_sum
/// y ← y + c·(z − y) + lr·(β(1 − c) − 1)·g
/// z ← z − lr·g
/// ```
/// The output update is `y_new − y`, so the learning rate is applied here (no
/// `scale_by_learning_rate` after it). Scalars: `[k, lr_max, weight_sum, β]` (β is kept so that
/// [`eval_params`](crate::optimizers::schedule_free::eval_params) needs only the state).
#[derive(Clone, Debug)]
pub struct ScheduleFree {
    pub momentum: f64,
    pub warmup_steps: u64,
    pub r: f64,
    pub weight_lr_power: f64,
    /// `Some(β₂)` for AdamW's `√(1 − β₂ᵏ⁺¹)` learning-rate factor.
    pub adam_b2: Option<f64>,
}

impl<F: Float> Transform<F> for ScheduleFree {
    fn name(&self) -> &'static str {
        "schedule_free"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["z"]
    }
    fn scalars(&self) -> usize {
        4
    }
    fn init(&self, param: &[F], _: TensorInfo<'_>) -> State<F> {
        State {
            bufs: vec![param.to_vec()],
            scalars: vec![0.0, -1.0, 0.0, self.momentum],
        }
    }
    fn begin(&self, ctx: &Ctx, s: &mut [f64]) -> Coef {
        let k = s[0];
        let sched = if k < self.warmup_steps as f64 {
            (k + 1.0) / self.warmup_steps as f64
        } else {
            1.0
        };
        let mut lr = ctx.lr * sched;
        if let Some(b2) = self.adam_b2 {
            // Saturating: a step count restored from a checkpoint may be past `i32::MAX`.
            lr *= (1.0 - b2.powi((k + 1.0) as i32)).sqrt();
        }
        s[1] = s[1].max(lr);
        let weight = (k + 1.0).powf(self.r) * s[1].powf(self.weight_lr_power);
        s[2] += weight;
        let c = if s[2] == 0.0 { 0.0 } else { weight / s[2] };
        s[0] = k + 1.0;
        s[3] = self.momentum;
        [
            c,
            lr * (self.momentum * (1.0 - c) - 1.0),
            lr,
            0.,
            0.,
            0.,
            0.,
            0.,
        ]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], param: &[F]) {
        let (ck, a, lr) = (F::of(c[0]), F::of(c[1]), F::of(c[2]));
        let z = &mut *bufs[0];
        z.iter_mut()
            .zip(upd.iter_mut())
            .zip(param)
            .for_each(|((z, u), &y)| {
                let g = *u;
                *u = ck * (*z - y) + a * g;
                *z -= lr * g;
            });
    }
}
