//! Orthogonalised updates: Muon's Newton–Schulz iteration ([`newton_schulz5`]) and the [`Muon`]
//! transform, with its AdamW fallback for tensors that are not matrices. The matrix products run
//! on the `kernels` crate ([`kernels::Gemm`]), which allocates nothing, and the iteration's
//! scratch is held by the transform and grown once, so a steady-state Muon step allocates
//! nothing.

use std::sync::Mutex;

use crate::float::l2;
use crate::transform::{Ctx, TensorInfo, Transform};
use crate::{Float, State};

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

/// Orthogonalises `g` (`rows×cols`, row-major) in place by `steps` Newton–Schulz quintic
/// iterations, as the reference's `zeropower_via_newtonschulz5` (but in `F`, not bfloat16).
/// `scratch` is grown to `2·rows·cols + 3·min(rows, cols)²` if shorter; the products run on
/// [`kernels::Gemm`], so once the scratch is sized nothing is allocated.
pub fn newton_schulz5<F: Float>(
    g: &mut [F],
    rows: usize,
    cols: usize,
    steps: usize,
    scratch: &mut Vec<F>,
) {
    let (r, c) = (rows.min(cols), rows.max(cols));
    let need = 2 * r * c + 3 * r * r;
    if scratch.len() < need {
        scratch.resize(need, F::zero());
    }
    let (x, rest) = scratch.split_at_mut(r * c);
    let (y, rest) = rest.split_at_mut(r * c);
    let (a_m, rest) = rest.split_at_mut(r * r);
    let (aa, rest) = rest.split_at_mut(r * r);
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
    let (mut x, mut y) = (x, y);
    for _ in 0..steps {
        // A = X Xᵀ
        F::gemm((r, r, c), a_m, false, x, (c, 1), x, (1, c));
        // B = b·A + c·A·A
        F::gemm((r, r, r), aa, false, a_m, (r, 1), a_m, (r, 1));
        b_m.iter_mut()
            .zip(a_m.iter().zip(aa.iter()))
            .for_each(|(bb, (&p, &q))| *bb = b * p + cc * q);
        // X ← a·X + B·X
        y.iter_mut().zip(x.iter()).for_each(|(y, &x)| *y = a * x);
        F::gemm((r, c, r), y, true, b_m, (r, 1), x, (c, 1));
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
