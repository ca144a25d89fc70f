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
            *s += g * g;
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
        upd.iter_mut().for_each(|u| *u *= s);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::{
        add_decayed_weights, clip_by_param_norm, scale_by_learning_rate, trace,
    };
    use crate::Chain;

    fn info(shape: &[usize]) -> TensorInfo<'_> {
        TensorInfo { name: "w", shape }
    }

    /// Runs `steps` steps of `chain` from `p0` with gradients `g(t, i)`, returning the parameter.
    fn run<F: Float>(
        chain: &Chain<F>,
        p0: &[F],
        g: impl Fn(usize, usize) -> F,
        steps: usize,
        lr: f64,
    ) -> Vec<F> {
        let shape = [p0.len()];
        let mut p = p0.to_vec();
        let mut states = chain.init(&p, info(&shape));
        let mut work = Vec::new();
        for t in 1..=steps {
            let grad: Vec<F> = (0..p.len()).map(|i| g(t, i)).collect();
            let ctx = Ctx {
                lr,
                weight_decay: 0.01,
                momentum: None,
                step: t as u64,
            };
            chain.step_tensor(
                &ctx,
                &mut states,
                &mut p,
                &grad,
                1.0,
                info(&shape),
                &mut work,
            );
        }
        p
    }

    fn grad_f32(t: usize, i: usize) -> f32 {
        ((t * 7 + i * 13) % 17) as f32 / 8.0 - 1.0
    }

    #[test]
    fn rms_f32_follows_pytorchs_rounding_exactly() {
        // PyTorch on a float32 tensor casts every Python-float coefficient to float32 once and
        // computes `v·α + ((1−α)·g)·g`, `√v + eps`, `p + (−lr)·(g/avg)` in float32.
        let chain = Chain::<f32>::new(vec![
            Box::new(scale_by_rms(0.9, 1e-8, false)),
            Box::new(scale_by_learning_rate()),
        ])
        .unwrap();
        let p0 = [0.3f32, -1.7, 2.5, 0.0];
        let got = run(&chain, &p0, grad_f32, 5, 0.01);
        let (a, w, eps, nlr) = (
            0.9f64 as f32,
            (1.0f64 - 0.9) as f32,
            1e-8f64 as f32,
            -0.01f64 as f32,
        );
        let mut p = p0;
        let mut v = [0f32; 4];
        for t in 1..=5 {
            for i in 0..4 {
                let g = grad_f32(t, i);
                v[i] = v[i] * a + w * g * g;
                p[i] += nlr * (g / (v[i].sqrt() + eps));
            }
        }
        assert_eq!(got, p.to_vec());
    }

    #[test]
    fn rss_starts_at_the_initial_value() {
        let t = scale_by_rss(0.25, 1e-10);
        let s = Transform::<f32>::init(&t, &[1.0, 2.0, 3.0], info(&[3]));
        assert_eq!(s.bufs, vec![vec![0.25f32; 3]]);
        // One step with g = 2: s = 4.25, u = 2/(√4.25 + 1e-10).
        let chain = Chain::<f64>::new(vec![Box::new(t)]).unwrap();
        let got = run(&chain, &[0.0], |_, _| 2.0, 1, 1.0);
        assert_eq!(got, vec![2.0 / (4.25f64.sqrt() + 1e-10)]);
    }

    #[test]
    fn decayed_lr_counts_its_own_steps() {
        let t = scale_by_decayed_learning_rate(0.5);
        let mut s = [0.0];
        let ctx = Ctx {
            lr: 0.3,
            step: 100,
            ..Ctx::default()
        };
        let c1 = Transform::<f64>::begin(&t, &ctx, &mut s);
        let c2 = Transform::<f64>::begin(&t, &ctx, &mut s);
        let c3 = Transform::<f64>::begin(&t, &ctx, &mut s);
        assert_eq!([c1[0], c2[0], c3[0]], [-0.3, -0.3 / 1.5, -0.3 / 2.0]);
        assert_eq!(s, [3.0]);
        // With lr_decay = 0 it is scale_by_learning_rate exactly.
        let z = scale_by_decayed_learning_rate(0.0);
        let c = Transform::<f64>::begin(&z, &ctx, &mut [7.0]);
        let r = Transform::<f64>::begin(&scale_by_learning_rate(), &ctx, &mut []);
        assert_eq!(c, r);
    }

    #[test]
    fn centred_lerp_forms() {
        // One centred step from zero state: m = (1−α)·g by either lerp form.
        for alpha in [0.9, 0.2] {
            let chain = Chain::<f64>::new(vec![Box::new(scale_by_rms(alpha, 0.0, true))]).unwrap();
            let mut states = chain.init(&[0.0], info(&[1]));
            let mut p = [0.0];
            let mut work = Vec::new();
            chain.step_tensor(
                &Ctx::default(),
                &mut states,
                &mut p,
                &[2.0],
                1.0,
                info(&[1]),
                &mut work,
            );
            let w = 1.0 - alpha;
            let m = if w < 0.5 {
                w * 2.0
            } else {
                2.0 - 2.0 * (1.0 - w)
            };
            assert_eq!(states[0].bufs, vec![vec![w * 4.0], vec![m]]);
            assert_eq!(p[0], 2.0 / (w * 4.0 - m * m).sqrt());
        }
    }

    /// The same chain with a whole-tensor link in front (a clip that never fires) runs the
    /// unfused path; both must agree bit for bit, also on tensors large enough to be split
    /// across threads.
    #[test]
    fn fused_and_unfused_paths_agree() {
        let n = 300_000;
        let p0: Vec<f64> = (0..n).map(|i| ((i % 101) as f64 - 50.0) / 25.0).collect();
        let g = |t: usize, i: usize| (((t * 31 + i * 7) % 23) as f64 - 11.0) / 5.0;
        type Make = fn() -> Vec<crate::transform::BoxedTransform<f64>>;
        let makes: [Make; 3] = [
            || {
                vec![
                    Box::new(add_decayed_weights()),
                    Box::new(scale_by_rms(0.9, 1e-8, true)),
                    Box::new(trace(0.9, 0.0, false)),
                    Box::new(scale_by_learning_rate()),
                ]
            },
            || {
                vec![
                    Box::new(add_decayed_weights()),
                    Box::new(scale_by_adadelta(0.9, 1e-6)),
                    Box::new(scale_by_learning_rate()),
                ]
            },
            || {
                vec![
                    Box::new(add_decayed_weights()),
                    Box::new(scale_by_rss(0.1, 1e-10)),
                    Box::new(scale_by_decayed_learning_rate(0.1)),
                ]
            },
        ];
        for make in makes {
            let fused = Chain::new(make()).unwrap();
            let mut ts = make();
            ts.insert(0, Box::new(clip_by_param_norm(1e300)));
            let unfused = Chain::new(ts).unwrap();
            assert!(fused.fused() && !unfused.fused());
            let a = run(&fused, &p0, g, 3, 0.01);
            let b = run(&unfused, &p0, g, 3, 0.01);
            assert!(a == b, "{}", fused.describe());
            // (The formulas themselves are checked against scalar replays in the optimizer
            // tests.) Nearly every element moved.
            assert!(a.iter().zip(&p0).filter(|(x, y)| x != y).count() > n * 9 / 10);
        }
    }
}
