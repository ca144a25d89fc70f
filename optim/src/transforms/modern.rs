//! Transforms of the optimizers beyond `torch.optim`: Lion, LAMB, LARS, AdaBelief, signSGD /
//! Signum, Schedule-Free and Muon. Each is documented with the update rule it computes; the
//! named recipes in [`crate::optimizers`] compose them with the basic transforms
//! (`add_decayed_weights`, `trace`, `scale_by_sign`, `scale_by_learning_rate`).

use std::sync::Mutex;

use crate::transform::{Coef, Ctx, TensorInfo, Transform};
use crate::{Float, State};

/// L2 norm of a slice, accumulated in `f64`.
fn l2<F: Float>(x: &[F]) -> f64 {
    x.iter().map(|&v| v.f64() * v.f64()).sum::<f64>().sqrt()
}

// ------------------------------------------------------------------------------------------------
// Lion
// ------------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------------
// Signum: a zero-initialised exponential moving average
// ------------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------------
// Adam moments (for LAMB)
// ------------------------------------------------------------------------------------------------

/// Bias-corrected Adam direction, with PyTorch Adam's order of operations:
/// ```text
/// m ← m + (1 − β₁)(g − m)            (lerp)
/// v ← β₂·v + (1 − β₂)·g²
/// u ← (m / bc₁) / (√v / √bc₂ + ε)    bcᵢ = 1 − βᵢᵗ
/// ```
/// A minimal, private moment step for LAMB, written while the shared `scale_by_adam` is being
/// written elsewhere; it is meant to be replaced by that transform when both are merged (the
/// arithmetic is the same). A scheduled momentum in [`Ctx::momentum`] replaces `β₁`.
#[derive(Clone, Debug)]
pub(crate) struct AdamMoments {
    pub b1: f64,
    pub b2: f64,
    pub eps: f64,
}

pub(crate) fn adam_moments(b1: f64, b2: f64, eps: f64) -> AdamMoments {
    AdamMoments { b1, b2, eps }
}

impl<F: Float> Transform<F> for AdamMoments {
    fn name(&self) -> &'static str {
        "adam_moments"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_sq"]
    }
    fn scalars(&self) -> usize {
        1
    }
    fn begin(&self, ctx: &Ctx, s: &mut [f64]) -> Coef {
        s[0] += 1.0;
        let t = s[0] as i32;
        let b1 = ctx.momentum.unwrap_or(self.b1);
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - self.b2.powi(t);
        [
            1.0 - b1,
            self.b2,
            1.0 - self.b2,
            1.0 / bc1,
            bc2.sqrt(),
            self.eps,
            0.,
            0.,
        ]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (k1, b2, k2) = (F::of(c[0]), F::of(c[1]), F::of(c[2]));
        let (inv_bc1, sbc2, eps) = (F::of(c[3]), F::of(c[4]), F::of(c[5]));
        let [m, v] = bufs else { unreachable!() };
        m.iter_mut()
            .zip(v.iter_mut())
            .zip(upd.iter_mut())
            .for_each(|((m, v), u)| {
                let g = *u;
                *m = *m + (g - *m) * k1;
                *v = *v * b2 + g * g * k2;
                *u = *m * inv_bc1 / (v.sqrt() / sbc2 + eps);
            });
    }
}

// ------------------------------------------------------------------------------------------------
// Trust ratios (LAMB, LARS)
// ------------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------------
// AdaBelief
// ------------------------------------------------------------------------------------------------

/// AdaBelief's direction (Zhuang et al. 2020), with adabelief-pytorch 0.2's operations:
/// ```text
/// m ← β₁·m + (1 − β₁)·g
/// s ← β₂·s + (1 − β₂)·(g − m)² + ε       (ε is added to the stored state, in place)
/// u ← (m / (√s / √bc₂ + ε)) / bc₁                      (rectify = false)
/// ```
/// With `rectify` (RAdam's rectification, `degenerated_to_sgd = true`), with
/// `ρ∞ = 2/(1−β₂) − 1`, `ρₜ = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ)`:
/// `u ← r·m / (√s + ε)` when `ρₜ ≥ 5`, with
/// `r = √((1−β₂ᵗ)(ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)ρₜ(ρ∞−2))) / bc₁`, else `u ← m / bc₁` (SGD with momentum).
/// A scheduled momentum in [`Ctx::momentum`] replaces `β₁`.
#[derive(Clone, Debug)]
pub struct ScaleByBelief {
    pub b1: f64,
    pub b2: f64,
    pub eps: f64,
    pub rectify: bool,
}

pub fn scale_by_belief(b1: f64, b2: f64, eps: f64, rectify: bool) -> ScaleByBelief {
    ScaleByBelief {
        b1,
        b2,
        eps,
        rectify,
    }
}

impl<F: Float> Transform<F> for ScaleByBelief {
    fn name(&self) -> &'static str {
        "scale_by_belief"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_var"]
    }
    fn scalars(&self) -> usize {
        1
    }
    fn begin(&self, ctx: &Ctx, s: &mut [f64]) -> Coef {
        s[0] += 1.0;
        let t = s[0];
        let b1 = ctx.momentum.unwrap_or(self.b1);
        let b2 = self.b2;
        let bc1 = 1.0 - b1.powi(t as i32);
        let b2t = b2.powi(t as i32);
        let bc2 = 1.0 - b2t;
        // c[4]: scale of the direction; c[5]: √bc₂ dividing √s; c[6]: 1 = adaptive, 0 = SGD.
        let (scale, sbc2, adaptive) = if !self.rectify {
            (1.0 / bc1, bc2.sqrt(), 1.0)
        } else {
            let rho_inf = 2.0 / (1.0 - b2) - 1.0;
            let rho = rho_inf - 2.0 * t * b2t / bc2;
            if rho >= 5.0 {
                let r = ((1.0 - b2t) * (rho - 4.0) / (rho_inf - 4.0) * (rho - 2.0) / rho * rho_inf
                    / (rho_inf - 2.0))
                    .sqrt()
                    / bc1;
                (r, 1.0, 1.0)
            } else {
                (1.0 / bc1, 1.0, 0.0)
            }
        };
        [b1, 1.0 - b1, b2, 1.0 - b2, scale, sbc2, adaptive, self.eps]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (b1, k1, b2, k2) = (F::of(c[0]), F::of(c[1]), F::of(c[2]), F::of(c[3]));
        let (scale, sbc2, eps) = (F::of(c[4]), F::of(c[5]), F::of(c[7]));
        let [m, s] = bufs else { unreachable!() };
        if c[6] == 1.0 {
            m.iter_mut()
                .zip(s.iter_mut())
                .zip(upd.iter_mut())
                .for_each(|((m, s), u)| {
                    let g = *u;
                    *m = *m * b1 + g * k1;
                    let r = g - *m;
                    *s = *s * b2 + r * r * k2 + eps;
                    *u = *m / (s.sqrt() / sbc2 + eps) * scale;
                });
        } else {
            m.iter_mut()
                .zip(s.iter_mut())
                .zip(upd.iter_mut())
                .for_each(|((m, s), u)| {
                    let g = *u;
                    *m = *m * b1 + g * k1;
                    let r = g - *m;
                    *s = *s * b2 + r * r * k2 + eps;
                    *u = *m * scale;
                });
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Schedule-Free
// ------------------------------------------------------------------------------------------------

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
            lr *= (1.0 - b2.powi(k as i32 + 1)).sqrt();
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

// ------------------------------------------------------------------------------------------------
// Muon
// ------------------------------------------------------------------------------------------------

/// Newton–Schulz quintic coefficients of the Muon reference.
pub const NS_COEFFS: (f64, f64, f64) = (3.4445, -4.7750, 2.0315);

/// Muon (Keller Jordan 2024), with the AdamW fallback for tensors that are not matrices, as in the
/// reference's `MuonWithAuxAdam`. Dispatch is on [`TensorInfo::shape`]: tensors with two or more
/// dimensions (viewed as `[shape[0], rest]`) take the Muon path, the others (biases, norms,
/// scalars) the Adam path. The output is the update *before* `−lr`, weight decay included:
/// ```text
/// Muon:  buf ← buf + (1 − μ)(g − buf);  G ← g + μ(buf − g) if nesterov else buf
///        u ← NS5(G)·√max(1, rows/cols) + λ·p
/// Adam:  m ← m + (1 − β₁)(g − m);  v ← v + (1 − β₂)(g² − v)
///        u ← ρ·((m/bc₁) / (√(v/bc₂) + ε) + λ·p),   ρ = adam_lr / lr
/// ```
/// State: `bufs = [momentum_buffer | exp_avg, exp_avg_sq]` (the second is empty on the Muon
/// path), `scalars = [step]`. The Newton–Schulz iterations use a scratch held by the transform
/// (grown once, to the largest matrix seen).
pub struct Muon<F> {
    pub momentum: f64,
    pub nesterov: bool,
    pub ns_steps: usize,
    pub adam_lr_ratio: f64,
    pub adam_betas: (f64, f64),
    pub adam_eps: f64,
    /// Parameter names (glob patterns) sent to the Adam path whatever their shape (the reference
    /// advises this for embeddings and the output head).
    pub adam_params: Vec<glob::Pattern>,
    scratch: Mutex<Vec<F>>,
}

impl<F> Muon<F> {
    /// Sends the parameters whose names match any of `patterns` to the Adam path.
    pub fn with_adam_params(mut self, patterns: Vec<glob::Pattern>) -> Self {
        self.adam_params = patterns;
        self
    }

    /// `(rows, cols)` when this tensor takes the Muon path, `None` for the Adam path.
    pub fn matrix(&self, info: TensorInfo<'_>) -> Option<(usize, usize)> {
        if self.adam_params.iter().any(|p| p.matches(info.name)) {
            return None;
        }
        muon_matrix_shape(info.shape)
    }
}

pub fn muon<F: Float>(
    momentum: f64,
    nesterov: bool,
    ns_steps: usize,
    adam_lr_ratio: f64,
    adam_betas: (f64, f64),
    adam_eps: f64,
) -> Muon<F> {
    Muon {
        momentum,
        nesterov,
        ns_steps,
        adam_lr_ratio,
        adam_betas,
        adam_eps,
        adam_params: Vec::new(),
        scratch: Mutex::new(Vec::new()),
    }
}

/// `(rows, cols)` of a tensor on the Muon path, `None` for the Adam path.
pub fn muon_matrix_shape(shape: &[usize]) -> Option<(usize, usize)> {
    if shape.len() < 2 || shape[0] == 0 {
        return None;
    }
    let rows = shape[0];
    let cols = shape[1..].iter().product::<usize>();
    (cols > 0).then_some((rows, cols))
}

/// `dst = alpha·dst + beta·(lhs · rhs)` (`alpha` ignored when `read_dst` is false) with `lhs`
/// `m×k`, `rhs` `k×n`, `dst` `m×n`; each matrix given as a slice with (row, column) strides.
#[allow(clippy::too_many_arguments)]
fn matmul<F: Float>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [F],
    read_dst: bool,
    alpha: F,
    lhs: (&[F], isize, isize),
    rhs: (&[F], isize, isize),
    beta: F,
) {
    assert!(dst.len() >= m * n);
    let span = |rows: usize, cols: usize, rs: isize, cs: isize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs as usize + (cols - 1) * cs as usize + 1
        }
    };
    assert!(lhs.0.len() >= span(m, k, lhs.1, lhs.2));
    assert!(rhs.0.len() >= span(k, n, rhs.1, rhs.2));
    let par = if m * n * k >= 1 << 18 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every access inside the slices; dst does not alias lhs/rhs
    // (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            read_dst,
            lhs.0.as_ptr(),
            lhs.2,
            lhs.1,
            rhs.0.as_ptr(),
            rhs.2,
            rhs.1,
            alpha,
            beta,
            false,
            false,
            false,
            par,
        );
    }
}

/// Orthogonalises `g` (`rows×cols`, row-major) in place by `steps` Newton–Schulz quintic
/// iterations, as the reference's `zeropower_via_newtonschulz5` (but in `F`, not bfloat16).
/// `scratch` is grown to `2·rows·cols + 2·min(rows, cols)²` if shorter.
pub fn newton_schulz5<F: Float>(
    g: &mut [F],
    rows: usize,
    cols: usize,
    steps: usize,
    scratch: &mut Vec<F>,
) {
    let (r, c) = (rows.min(cols), rows.max(cols));
    let need = 2 * r * c + 2 * r * r;
    if scratch.len() < need {
        scratch.resize(need, F::zero());
    }
    let (x, rest) = scratch.split_at_mut(r * c);
    let (y, rest) = rest.split_at_mut(r * c);
    let (a_m, rest) = rest.split_at_mut(r * r);
    let b_m = &mut rest[..r * r];
    // X = G / (‖G‖ + 1e-7), as an r×c matrix (transposed when rows > cols).
    let inv = F::of(1.0 / (l2(g) + 1e-7));
    let transposed = rows > cols;
    if transposed {
        for i in 0..rows {
            for j in 0..cols {
                x[j * c + i] = g[i * cols + j] * inv;
            }
        }
    } else {
        x.iter_mut().zip(g.iter()).for_each(|(x, &g)| *x = g * inv);
    }
    let (a, b, cc) = (F::of(NS_COEFFS.0), F::of(NS_COEFFS.1), F::of(NS_COEFFS.2));
    let (ci, ri) = (c as isize, r as isize);
    let (mut x, mut y) = (x, y);
    for _ in 0..steps {
        // A = X Xᵀ
        matmul(
            (r, r, c),
            a_m,
            false,
            F::zero(),
            (&*x, ci, 1),
            (&*x, 1, ci),
            F::one(),
        );
        // B = b·A + c·A·A
        b_m.iter_mut()
            .zip(a_m.iter())
            .for_each(|(bb, &aa)| *bb = b * aa);
        matmul(
            (r, r, r),
            b_m,
            true,
            F::one(),
            (&*a_m, ri, 1),
            (&*a_m, ri, 1),
            cc,
        );
        // X ← a·X + B·X
        y.iter_mut().zip(x.iter()).for_each(|(y, &x)| *y = a * x);
        matmul(
            (r, c, r),
            y,
            true,
            F::one(),
            (&*b_m, ri, 1),
            (&*x, ci, 1),
            F::one(),
        );
        std::mem::swap(&mut x, &mut y);
    }
    if transposed {
        for i in 0..rows {
            for j in 0..cols {
                g[i * cols + j] = x[j * c + i];
            }
        }
    } else {
        g.copy_from_slice(x);
    }
}

impl<F: Float> Transform<F> for Muon<F> {
    fn name(&self) -> &'static str {
        "muon"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["momentum_buffer", "exp_avg_sq"]
    }
    fn scalars(&self) -> usize {
        1
    }
    fn elementwise(&self) -> bool {
        false
    }
    fn init(&self, param: &[F], info: TensorInfo<'_>) -> State<F> {
        let n = param.len();
        let second = if self.matrix(info).is_some() { 0 } else { n };
        State {
            bufs: vec![vec![F::zero(); n], vec![F::zero(); second]],
            scalars: vec![0.0],
        }
    }
    fn tensor(
        &self,
        ctx: &Ctx,
        state: &mut State<F>,
        upd: &mut [F],
        param: &[F],
        info: TensorInfo<'_>,
    ) {
        state.scalars[0] += 1.0;
        let t = state.scalars[0] as i32;
        let wd = F::of(ctx.weight_decay);
        if let Some((rows, cols)) = self.matrix(info) {
            let buf = &mut state.bufs[0];
            let mu = ctx.momentum.unwrap_or(self.momentum);
            let (m, k) = (F::of(mu), F::of(1.0 - mu));
            buf.iter_mut().zip(upd.iter_mut()).for_each(|(b, u)| {
                *b = *b + (*u - *b) * k;
                *u = if self.nesterov {
                    *u + (*b - *u) * m
                } else {
                    *b
                };
            });
            let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
            newton_schulz5(upd, rows, cols, self.ns_steps, &mut scratch);
            let s = F::of((rows as f64 / cols as f64).max(1.0).sqrt());
            upd.iter_mut()
                .zip(param)
                .for_each(|(u, &p)| *u = *u * s + wd * p);
        } else {
            let [m, v] = &mut state.bufs[..] else {
                unreachable!()
            };
            let (b1, b2) = self.adam_betas;
            let (k1, k2) = (F::of(1.0 - b1), F::of(1.0 - b2));
            let inv_bc1 = F::of(1.0 / (1.0 - b1.powi(t)));
            let inv_bc2 = F::of(1.0 / (1.0 - b2.powi(t)));
            let (eps, rho) = (F::of(self.adam_eps), F::of(self.adam_lr_ratio));
            m.iter_mut()
                .zip(v.iter_mut())
                .zip(upd.iter_mut().zip(param))
                .for_each(|((m, v), (u, &p))| {
                    let g = *u;
                    *m = *m + (g - *m) * k1;
                    *v = *v + (g * g - *v) * k2;
                    *u = ((*m * inv_bc1) / ((*v * inv_bc2).sqrt() + eps) + wd * p) * rho;
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::optimizers::build;
    use crate::{Hyper, Optimizer, Param, ParamStore};

    /// Every optimizer of this family builds from an empty config (its defaults), in f32 and f64,
    /// and moves a matrix and a bias against their gradient in one step.
    #[test]
    fn all_build_with_defaults_and_descend() {
        fn run<F: crate::Float>(name: &str) {
            let t = toml::Table::new();
            let mut h = Hyper::new(format!("optimizer `{name}`"), &t);
            let recipe = build::<F>(name, &mut h).unwrap();
            h.finish().unwrap();
            let mut params = ParamStore::new(vec![
                Param::new(
                    "w",
                    &[2, 3],
                    (0..6).map(|i| F::of(0.1 * i as f64)).collect(),
                ),
                Param::new("b", &[3], vec![F::of(0.5); 3]),
            ]);
            let mut opt = Optimizer::new(recipe, &params).unwrap();
            let before: Vec<Vec<F>> = params.params.iter().map(|p| p.value.clone()).collect();
            params.set_grad(0, &[F::of(1.0); 6]);
            params.set_grad(1, &[F::of(-1.0); 3]);
            opt.step(&mut params).unwrap();
            for (i, sign) in [(0, -1.0), (1, 1.0)] {
                for (a, b) in params.params[i].value.iter().zip(&before[i]) {
                    let d = (a.f64() - b.f64()) * sign;
                    assert!(d > 0.0 && d.is_finite(), "{name}: param {i} moved by {d}");
                }
            }
        }
        for name in [
            "lion",
            "lamb",
            "lars",
            "adabelief",
            "sgd_schedule_free",
            "adamw_schedule_free",
            "muon",
            "signsgd",
        ] {
            run::<f32>(name);
            run::<f64>(name);
        }
    }
}
