//! Batch normalisation over the channel dimension: PyTorch's `nn.BatchNorm1d` (`[N, C]` or
//! `[N, C, L]`) and `nn.BatchNorm2d` (`[N, C, H, W]`).
//!
//! Training: `y = γ·(x − μ_B)/√(σ²_B + eps) + β` with the batch mean and the *biased* batch
//! variance per channel; the running statistics are updated as
//! `running = (1 − m)·running + m·batch_stat`, with the *unbiased* variance `σ²_B·n/(n−1)`, and
//! `num_batches_tracked` is incremented (`momentum = None` uses `m = 1/num_batches_tracked`, a
//! cumulative average). Evaluation normalises with the running statistics.
//!
//! Per-example gradient norms ([`Layer::backward_with_stats`]) exist only when the layer
//! normalises with its running statistics (evaluation, or the evaluation-statistics variant of
//! [`Layer::set_eval_statistics`]): the layer is then the fixed affine map
//! `y = γ·(x − running_mean)/√(running_var + eps) + β`, and example `n`'s share of the
//! parameter gradients is `∂γ_c = Σ_s dy·x̂`, `∂β_c = Σ_s dy` (sums over the spatial positions
//! `s` of that example and channel), squared and added over channels. With batch statistics an
//! example's loss depends on the whole batch, so it is an error.

use optim::Param;

use crate::layer::{contribution, Layer};
use crate::{rop, NnError, Result, Tensor};

/// Configuration of a [`BatchNorm`] layer (PyTorch defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Channels `C`; `None` infers them from the input shape.
    pub num_features: Option<usize>,
    pub eps: f64,
    /// Weight of the new batch statistic in the running average; `None` = cumulative average.
    pub momentum: Option<f64>,
    /// Learnable per-channel `weight` (γ, init 1) and `bias` (β, init 0).
    pub affine: bool,
    /// Keep running statistics (used in evaluation); without them batch statistics are used
    /// in evaluation too.
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            num_features: None,
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }
}

impl BatchNormConfig {
    pub fn validate(&self) -> Result<()> {
        if self.num_features == Some(0) {
            return Err(NnError::config(
                "batch_norm",
                "num_features",
                0,
                "must be positive",
            ));
        }
        if self.eps.is_nan() || self.eps <= 0.0 {
            return Err(NnError::config(
                "batch_norm",
                "eps",
                self.eps,
                "must be positive",
            ));
        }
        if let Some(m) = self.momentum {
            if !(0.0..=1.0).contains(&m) {
                return Err(NnError::config(
                    "batch_norm",
                    "momentum",
                    m,
                    "is not in [0, 1]",
                ));
            }
        }
        Ok(())
    }
}

/// Batch normalisation; `dims` = 1 (`[C]` or `[C, L]` per example) or 2 (`[C, H, W]`).
/// Parameters `weight`, `bias` (when affine); buffers `running_mean`, `running_var`,
/// `num_batches_tracked` (when tracking), as in PyTorch's state dict.
#[derive(Debug)]
pub struct BatchNorm {
    dims: usize,
    channels: usize,
    eps: f64,
    momentum: Option<f64>,
    params: Vec<Param<f32>>,
    buffers: Vec<Param<f32>>,
    /// Normalised input of the last forward.
    xhat: Vec<f32>,
    /// Per-channel `1/√(var + eps)` of the last forward.
    inv_std: Vec<f32>,
    /// Whether the last forward used batch statistics.
    batch_stats: bool,
    /// The evaluation-statistics variant ([`Layer::set_eval_statistics`]).
    eval_statistics: bool,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)): `R{x̂}` (meaningful when `has_rx`; zero
    /// otherwise), per-channel `R{1/σ}`, `R{y}`, `R{dx}`.
    has_rx: bool,
    rxhat: Vec<f32>,
    r_inv_std: Vec<f32>,
    ry: Tensor,
    rdx: Tensor,
}

impl BatchNorm {
    /// A layer for per-example input `in_shape`; `dims` is 1 or 2.
    pub fn new(cfg: &BatchNormConfig, dims: usize, in_shape: &[usize]) -> Result<Self> {
        cfg.validate()?;
        let kind = if dims == 1 {
            "batch_norm1d"
        } else {
            "batch_norm2d"
        };
        let ok = match dims {
            1 => matches!(in_shape.len(), 1 | 2),
            2 => in_shape.len() == 3,
            _ => false,
        };
        if !ok {
            return Err(NnError::Shape(format!(
                "{kind} expects per-example shape {}, got {in_shape:?}",
                if dims == 1 {
                    "[C] or [C, L]"
                } else {
                    "[C, H, W]"
                }
            )));
        }
        let c = in_shape[0];
        if let Some(f) = cfg.num_features {
            if f != c {
                return Err(NnError::Shape(format!(
                    "{kind}: num_features = {f} but the input has {c} channels"
                )));
            }
        }
        if c == 0 {
            return Err(NnError::config(kind, "num_features", 0, "must be positive"));
        }
        let mut params = Vec::new();
        if cfg.affine {
            let mut w = Param::zeros("weight", &[c]);
            w.value.fill(1.0);
            params.push(w);
            params.push(Param::zeros("bias", &[c]));
        }
        let mut buffers = Vec::new();
        if cfg.track_running_stats {
            buffers.push(buffer("running_mean", &[c], 0.0));
            buffers.push(buffer("running_var", &[c], 1.0));
            buffers.push(buffer("num_batches_tracked", &[], 0.0));
        }
        Ok(BatchNorm {
            dims,
            channels: c,
            eps: cfg.eps,
            momentum: cfg.momentum,
            params,
            buffers,
            xhat: Vec::new(),
            inv_std: vec![0.0; c],
            batch_stats: true,
            eval_statistics: false,
            y: Tensor::default(),
            dx: Tensor::default(),
            has_rx: false,
            rxhat: Vec::new(),
            r_inv_std: Vec::new(),
            ry: Tensor::default(),
            rdx: Tensor::default(),
        })
    }

    pub fn num_features(&self) -> usize {
        self.channels
    }

    /// Running mean and variance (`None` without `track_running_stats`).
    pub fn running_stats(&self) -> Option<(&[f32], &[f32])> {
        match self.buffers.as_slice() {
            [m, v, _] => Some((&m.value, &v.value)),
            _ => None,
        }
    }

    /// Number of training batches seen (0 without `track_running_stats`).
    pub fn num_batches_tracked(&self) -> u64 {
        self.buffers.get(2).map_or(0, |b| b.value[0] as u64)
    }

    /// (batch, spatial size) of `t`, checking the channel count.
    fn layout(&self, t: &Tensor, what: &str) -> (usize, usize) {
        assert!(
            t.shape.len() >= 2 && t.shape[1] == self.channels,
            "{}: {what} shape {:?} does not have {} channels",
            self.kind(),
            t.shape,
            self.channels
        );
        (t.shape[0], t.shape[2..].iter().product())
    }
}

/// A buffer: a value saved with the weights, without a gradient.
fn buffer(name: &str, shape: &[usize], v: f32) -> Param<f32> {
    Param {
        name: name.to_string(),
        shape: shape.to_vec(),
        value: vec![v; shape.iter().product()],
        grad: Vec::new(),
        has_grad: false,
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> &'static str {
        if self.dims == 1 {
            "batch_norm1d"
        } else {
            "batch_norm2d"
        }
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        let rank_ok = if self.dims == 1 {
            matches!(in_shape.len(), 1 | 2)
        } else {
            in_shape.len() == 3
        };
        if !rank_ok || in_shape[0] != self.channels {
            return Err(NnError::Shape(format!(
                "{} over {} channels cannot take per-example shape {in_shape:?}",
                self.kind(),
                self.channels
            )));
        }
        Ok(in_shape.to_vec())
    }

    fn forward(&mut self, x: &Tensor, train: bool) -> &Tensor {
        let (n, s) = self.layout(x, "input");
        let c = self.channels;
        let m = n * s;
        self.batch_stats = (train && !self.eval_statistics) || self.buffers.is_empty();
        self.xhat.resize(x.numel(), 0.0);
        self.y.resize(&x.shape);
        let increment = train && !self.eval_statistics && !self.buffers.is_empty();
        if increment {
            self.buffers[2].value[0] += 1.0;
        }
        let factor = match self.momentum {
            Some(mo) => mo,
            None => 1.0 / self.buffers.get(2).map_or(1.0, |b| b.value[0] as f64),
        };
        for ch in 0..c {
            let (mean, var) = if self.batch_stats {
                assert!(
                    !train || m > 1,
                    "{}: expected more than 1 value per channel when training, got input shape {:?}",
                    self.kind(),
                    x.shape
                );
                let mut sum = 0f64;
                for b in 0..n {
                    let o = (b * c + ch) * s;
                    sum += x.data[o..o + s].iter().map(|&v| v as f64).sum::<f64>();
                }
                let mean = sum / m as f64;
                let mut sq = 0f64;
                for b in 0..n {
                    let o = (b * c + ch) * s;
                    sq += x.data[o..o + s]
                        .iter()
                        .map(|&v| (v as f64 - mean).powi(2))
                        .sum::<f64>();
                }
                let var = sq / m as f64;
                if increment {
                    let unbiased = if m > 1 { sq / (m - 1) as f64 } else { var };
                    let (rm, rest) = self.buffers.split_first_mut().unwrap();
                    let rv = &mut rest[0];
                    rm.value[ch] = ((1.0 - factor) * rm.value[ch] as f64 + factor * mean) as f32;
                    rv.value[ch] =
                        ((1.0 - factor) * rv.value[ch] as f64 + factor * unbiased) as f32;
                }
                (mean, var)
            } else {
                (
                    self.buffers[0].value[ch] as f64,
                    self.buffers[1].value[ch] as f64,
                )
            };
            let inv = 1.0 / (var + self.eps).sqrt();
            self.inv_std[ch] = inv as f32;
            let (g, beta) = match self.params.as_slice() {
                [w, b] => (w.value[ch], b.value[ch]),
                _ => (1.0, 0.0),
            };
            let (mean, inv) = (mean as f32, inv as f32);
            for b in 0..n {
                let o = (b * c + ch) * s;
                let xs = &x.data[o..o + s];
                let hs = &mut self.xhat[o..o + s];
                let ys = &mut self.y.data[o..o + s];
                for ((h, y), &v) in hs.iter_mut().zip(ys.iter_mut()).zip(xs) {
                    *h = (v - mean) * inv;
                    *y = g * *h + beta;
                }
            }
        }
        &self.y
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        let (n, s) = self.layout(dy, "gradient");
        assert_eq!(
            dy.numel(),
            self.xhat.len(),
            "{}: backward batch differs from forward",
            self.kind()
        );
        let c = self.channels;
        let m = (n * s) as f32;
        self.dx.resize(&dy.shape);
        // Absent gradients are written, present ones added to (see `contribution`).
        let add = match self.params.as_mut_slice() {
            [w, b] => (contribution(w), contribution(b)),
            _ => (true, true),
        };
        for ch in 0..c {
            let (mut sum_dy, mut sum_dy_xhat) = (0f32, 0f32);
            for b in 0..n {
                let o = (b * c + ch) * s;
                for (&d, &h) in dy.data[o..o + s].iter().zip(&self.xhat[o..o + s]) {
                    sum_dy += d;
                    sum_dy_xhat += d * h;
                }
            }
            let g = match self.params.as_mut_slice() {
                [w, b] => {
                    w.grad[ch] = if add.0 { w.grad[ch] } else { 0.0 } + sum_dy_xhat;
                    b.grad[ch] = if add.1 { b.grad[ch] } else { 0.0 } + sum_dy;
                    w.value[ch]
                }
                _ => 1.0,
            };
            let k = g * self.inv_std[ch];
            for b in 0..n {
                let o = (b * c + ch) * s;
                let ds = &dy.data[o..o + s];
                let hs = &self.xhat[o..o + s];
                let dxs = &mut self.dx.data[o..o + s];
                if self.batch_stats {
                    // dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))
                    let (a, bb) = (sum_dy / m, sum_dy_xhat / m);
                    for ((dx, &d), &h) in dxs.iter_mut().zip(ds).zip(hs) {
                        *dx = k * (d - a - h * bb);
                    }
                } else {
                    for (dx, &d) in dxs.iter_mut().zip(ds) {
                        *dx = k * d;
                    }
                }
            }
        }
        &self.dx
    }

    /// Running statistics only (see the module docs); with batch statistics the examples are
    /// coupled and this is an error, whether or not the layer has parameters (its input gradient
    /// mixes the examples, so the layers before it could not be per-example either).
    fn backward_with_stats(&mut self, dy: &Tensor, sq_norms: &mut [f32]) -> Result<&Tensor> {
        crate::layer::check_stats_len(dy, sq_norms)?;
        if self.batch_stats {
            return Err(NnError::Invalid(format!(
                "{} with batch statistics couples the examples: per-example gradients exist only \
                 with running statistics (evaluation-statistics variant)",
                self.kind()
            )));
        }
        let (n, s) = self.layout(dy, "gradient");
        assert_eq!(
            dy.numel(),
            self.xhat.len(),
            "{}: backward batch differs from forward",
            self.kind()
        );
        if !self.params.is_empty() {
            let c = self.channels;
            for (b, sq) in sq_norms.iter_mut().enumerate().take(n) {
                let mut acc = 0f64;
                for ch in 0..c {
                    let o = (b * c + ch) * s;
                    let (mut dg, mut db) = (0f64, 0f64);
                    for (&d, &h) in dy.data[o..o + s].iter().zip(&self.xhat[o..o + s]) {
                        dg += d as f64 * h as f64;
                        db += d as f64;
                    }
                    acc += dg * dg + db * db;
                }
                *sq += acc as f32;
            }
        }
        Ok(self.backward(dy))
    }

    /// Two examples when an example holds one value per channel: a training batch is
    /// normalised with its own statistics, and one value has no variance.
    fn min_train_batch(&self, in_shape: &[usize]) -> usize {
        if in_shape.iter().skip(1).product::<usize>() > 1 {
            1
        } else {
            2
        }
    }

    fn set_eval_statistics(&mut self, on: bool) -> bool {
        self.eval_statistics = on;
        !self.buffers.is_empty()
    }

    /// `R{y} = γ·R{x̂} + v_γ·x̂ + v_β`. With batch statistics (per channel, means over the
    /// batch and spatial positions) `R{1/σ} = −mean(x̂·R{x})/σ²` and
    /// `R{x̂} = (R{x} − mean(R{x}) − x̂·mean(x̂·R{x}))/σ`; with running statistics
    /// `R{x̂} = R{x}/σ`.
    fn forward_r(&mut self, rx: Option<&Tensor>, v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        rop::assert_directions(self, v);
        self.has_rx = rx.is_some();
        if rx.is_none() && v.is_empty() {
            return Ok(None);
        }
        let (n, s) = self.layout(&self.y, "output");
        let c = self.channels;
        let m = (n * s) as f64;
        self.ry.resize(&self.y.shape);
        self.r_inv_std.clear();
        self.r_inv_std.resize(c, 0.0);
        if let Some(rx) = rx {
            assert_eq!(rx.shape, self.y.shape, "{}: R{{x}} shape", self.kind());
            self.rxhat.resize(rx.numel(), 0.0);
        }
        for ch in 0..c {
            let inv = self.inv_std[ch];
            let g = self.params.first().map_or(1.0, |w| w.value[ch]);
            let (vg, vb) = match v {
                [vg, vb] => (vg[ch], vb[ch]),
                _ => (0.0, 0.0),
            };
            let planes = (0..n).map(|b| (b * c + ch) * s);
            if let Some(rx) = rx {
                let (a, b) = if self.batch_stats {
                    let (mut sr, mut shr) = (0f64, 0f64);
                    for o in planes.clone() {
                        for (&r, &h) in rx.data[o..o + s].iter().zip(&self.xhat[o..o + s]) {
                            sr += r as f64;
                            shr += h as f64 * r as f64;
                        }
                    }
                    ((sr / m) as f32, (shr / m) as f32)
                } else {
                    (0.0, 0.0)
                };
                self.r_inv_std[ch] = -inv * inv * b;
                for o in planes {
                    let rxs = &rx.data[o..o + s];
                    let hs = &self.xhat[o..o + s];
                    let rhs = &mut self.rxhat[o..o + s];
                    let ys = &mut self.ry.data[o..o + s];
                    for (((rh, y), &r), &h) in rhs.iter_mut().zip(ys).zip(rxs).zip(hs) {
                        *rh = inv * (r - a - h * b);
                        *y = g * *rh + vg * h + vb;
                    }
                }
            } else {
                for o in planes {
                    let hs = &self.xhat[o..o + s];
                    for (y, &h) in self.ry.data[o..o + s].iter_mut().zip(hs) {
                        *y = vg * h + vb;
                    }
                }
            }
        }
        Ok(Some(&self.ry))
    }

    /// With `ĝ = γ·dy` (the gradient at `x̂`), `R{ĝ} = v_γ·dy + γ·R{dy}`:
    /// `R{dγ} = Σ(R{dy}·x̂ + dy·R{x̂})`, `R{dβ} = Σ R{dy}`, and with batch statistics
    /// `dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ`,
    /// `R{dx} = R{1/σ}·σ·dx + (R{ĝ} − mean(R{ĝ}) − R{x̂}·mean(ĝ·x̂) − x̂·mean(R{ĝ}·x̂ + ĝ·R{x̂}))/σ`;
    /// with running statistics `dx = ĝ/σ`, `R{dx} = R{ĝ}/σ`.
    fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        v: &[Vec<f32>],
        hv: &mut [Vec<f32>],
        need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        rop::assert_directions(self, v);
        let (n, s) = self.layout(dy, "gradient");
        assert!(
            rdy.shape == dy.shape && dy.numel() == self.xhat.len(),
            "{}: R-backward shapes {:?}, {:?} do not match the last forward",
            self.kind(),
            dy.shape,
            rdy.shape
        );
        let c = self.channels;
        let m = (n * s) as f64;
        if need_dx {
            self.dx.resize(&dy.shape);
            self.rdx.resize(&dy.shape);
        }
        for ch in 0..c {
            let planes = (0..n).map(|b| (b * c + ch) * s);
            // Σdy, Σdy·x̂, ΣR{dy}, ΣR{dy}·x̂, Σdy·R{x̂} over the channel, in f64.
            let (mut s_d, mut s_dh, mut s_r, mut s_rh, mut s_drh) = (0f64, 0f64, 0f64, 0f64, 0f64);
            for o in planes.clone() {
                let (ds, rs, hs) = (
                    &dy.data[o..o + s],
                    &rdy.data[o..o + s],
                    &self.xhat[o..o + s],
                );
                for ((&d, &r), &h) in ds.iter().zip(rs).zip(hs) {
                    let (d, r, h) = (d as f64, r as f64, h as f64);
                    s_d += d;
                    s_dh += d * h;
                    s_r += r;
                    s_rh += r * h;
                }
                if self.has_rx {
                    for (&d, &rh) in ds.iter().zip(&self.rxhat[o..o + s]) {
                        s_drh += d as f64 * rh as f64;
                    }
                }
            }
            let (g, vg) = match v {
                [vg, _] => {
                    hv[0][ch] += (s_rh + s_drh) as f32;
                    hv[1][ch] += s_r as f32;
                    (self.params[0].value[ch], vg[ch])
                }
                _ => (1.0, 0.0),
            };
            if !need_dx {
                continue;
            }
            let inv = self.inv_std[ch];
            if !self.batch_stats {
                for o in planes {
                    let (ds, rs) = (&dy.data[o..o + s], &rdy.data[o..o + s]);
                    let dxs = &mut self.dx.data[o..o + s];
                    let rdxs = &mut self.rdx.data[o..o + s];
                    for (((dx, rdx), &d), &r) in dxs.iter_mut().zip(rdxs).zip(ds).zip(rs) {
                        *dx = inv * g * d;
                        *rdx = inv * (vg * d + g * r);
                    }
                }
                continue;
            }
            let (g64, vg64) = (g as f64, vg as f64);
            // mean(ĝ), mean(ĝ·x̂), mean(R{ĝ}), mean(R{ĝ}·x̂ + ĝ·R{x̂}).
            let a = (g64 * s_d / m) as f32;
            let b = (g64 * s_dh / m) as f32;
            let ra = ((vg64 * s_d + g64 * s_r) / m) as f32;
            let rb = ((vg64 * s_dh + g64 * s_rh + g64 * s_drh) / m) as f32;
            let r_inv = self.r_inv_std[ch];
            for o in planes {
                let (ds, rs, hs) = (
                    &dy.data[o..o + s],
                    &rdy.data[o..o + s],
                    &self.xhat[o..o + s],
                );
                let dxs = &mut self.dx.data[o..o + s];
                let rdxs = &mut self.rdx.data[o..o + s];
                for (j, (dx, rdx)) in dxs.iter_mut().zip(rdxs).enumerate() {
                    let (d, r, h) = (ds[j], rs[j], hs[j]);
                    let rh = if self.has_rx { self.rxhat[o + j] } else { 0.0 };
                    let centred = g * d - a - h * b;
                    *dx = inv * centred;
                    *rdx = r_inv * centred + inv * (vg * d + g * r - ra - rh * b - h * rb);
                }
            }
        }
        Ok((&self.dx, &self.rdx))
    }

    fn parameters(&self) -> &[Param<f32>] {
        &self.params
    }

    fn parameters_mut(&mut self) -> &mut [Param<f32>] {
        &mut self.params
    }

    fn buffers(&self) -> &[Param<f32>] {
        &self.buffers
    }

    fn buffers_mut(&mut self) -> &mut [Param<f32>] {
        &mut self.buffers
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
pub(crate) mod tests {
    use super::*;
    use crate::layers::gradcheck::{check_layer, random_tensor};

    /// Central finite-difference check of `dx` and parameter gradients in *training* mode
    /// (`L = Σ r ⊙ layer(x, train)`); the shared helper probes in evaluation mode.
    pub(crate) fn check_layer_train(layer: &mut dyn Layer, x: &Tensor, seed: u64) {
        let eps = 1e-2f32;
        let out = layer.forward(x, true).shape.clone();
        let r = random_tensor(&out, seed);
        let probe = |l: &mut dyn Layer, x: &Tensor| -> f64 {
            let y = l.forward(x, true);
            y.data
                .iter()
                .zip(&r.data)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum()
        };
        let close = |a: f32, fd: f64, what: String| {
            assert!(
                (a as f64 - fd).abs() <= 2e-3 + 1e-2 * fd.abs(),
                "{what}: analytic {a} vs finite difference {fd}"
            );
        };
        layer.zero_grad();
        layer.forward(x, true);
        let dx = layer.backward(&r).clone();
        let grads: Vec<Vec<f32>> = layer.parameters().iter().map(|p| p.grad.clone()).collect();
        let mut xp = x.clone();
        for j in 0..x.numel() {
            xp.data[j] = x.data[j] + eps;
            let lp = probe(layer, &xp);
            xp.data[j] = x.data[j] - eps;
            let lm = probe(layer, &xp);
            xp.data[j] = x.data[j];
            close(
                dx.data[j],
                (lp - lm) / (2.0 * eps as f64),
                format!("dx[{j}]"),
            );
        }
        for (p, g) in grads.iter().enumerate() {
            for j in 0..g.len() {
                let v = layer.parameters()[p].value[j];
                layer.parameters_mut()[p].value[j] = v + eps;
                let lp = probe(layer, x);
                layer.parameters_mut()[p].value[j] = v - eps;
                let lm = probe(layer, x);
                layer.parameters_mut()[p].value[j] = v;
                let name = &layer.parameters()[p].name;
                close(g[j], (lp - lm) / (2.0 * eps as f64), format!("{name}[{j}]"));
            }
        }
    }

    fn stats(x: &[f32]) -> (f64, f64, f64) {
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let sq = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>();
        (mean, sq / n, sq / (n - 1.0))
    }

    /// Values of channel `ch` of `t` (`[N, C, …]`).
    fn channel(t: &Tensor, ch: usize) -> Vec<f32> {
        let (n, c) = (t.shape[0], t.shape[1]);
        let s: usize = t.shape[2..].iter().product();
        (0..n)
            .flat_map(|b| t.data[(b * c + ch) * s..(b * c + ch + 1) * s].to_vec())
            .collect()
    }

    #[test]
    fn train_normalises_and_running_stats_follow_pytorch() {
        let mut bn = BatchNorm::new(&BatchNormConfig::default(), 2, &[3, 2, 2]).unwrap();
        assert_eq!(bn.kind(), "batch_norm2d");
        let x1 = random_tensor(&[4, 3, 2, 2], 1);
        let x2 = random_tensor(&[4, 3, 2, 2], 2);
        let y = bn.forward(&x1, true).clone();
        for ch in 0..3 {
            let (m, v, _) = stats(&channel(&y, ch));
            assert!(m.abs() < 1e-6, "mean {m}");
            // Biased variance 1 up to eps.
            assert!((v - 1.0).abs() < 1e-3, "var {v}");
        }
        bn.forward(&x2, true);
        assert_eq!(bn.num_batches_tracked(), 2);
        let (rm, rv) = bn.running_stats().unwrap();
        for ch in 0..3 {
            let (m1, _, u1) = stats(&channel(&x1, ch));
            let (m2, _, u2) = stats(&channel(&x2, ch));
            let em = 0.9 * (0.9 * 0.0 + 0.1 * m1) + 0.1 * m2;
            let ev = 0.9 * (0.9 * 1.0 + 0.1 * u1) + 0.1 * u2;
            assert!((rm[ch] as f64 - em).abs() < 1e-6, "{} vs {em}", rm[ch]);
            assert!((rv[ch] as f64 - ev).abs() < 1e-6, "{} vs {ev}", rv[ch]);
        }
        // Evaluation uses the running statistics and leaves them unchanged.
        let (rm, rv) = (rm.to_vec(), rv.to_vec());
        bn.parameters_mut()[0].value = vec![2.0, 1.0, 0.5];
        bn.parameters_mut()[1].value = vec![0.0, -1.0, 3.0];
        let y = bn.forward(&x1, false).clone();
        for (j, &v) in x1.data.iter().enumerate() {
            let ch = (j / 4) % 3;
            let g = [2.0, 1.0, 0.5][ch];
            let b = [0.0, -1.0, 3.0][ch];
            let e = g * (v - rm[ch]) / (rv[ch] + 1e-5).sqrt() + b;
            assert!((y.data[j] - e).abs() < 1e-5, "{} vs {e}", y.data[j]);
        }
        assert_eq!(bn.num_batches_tracked(), 2);
        assert_eq!(bn.running_stats().unwrap().0, &rm[..]);
        let names: Vec<&str> = bn.buffers().iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            ["running_mean", "running_var", "num_batches_tracked"]
        );
    }

    #[test]
    fn cumulative_average_without_momentum() {
        let cfg = BatchNormConfig {
            momentum: None,
            ..Default::default()
        };
        let mut bn = BatchNorm::new(&cfg, 1, &[2]).unwrap();
        let xs: Vec<Tensor> = (0..3).map(|k| random_tensor(&[5, 2], 10 + k)).collect();
        for x in &xs {
            bn.forward(x, true);
        }
        let (rm, rv) = bn.running_stats().unwrap();
        for ch in 0..2 {
            let s: Vec<(f64, f64, f64)> = xs.iter().map(|x| stats(&channel(x, ch))).collect();
            let em = s.iter().map(|t| t.0).sum::<f64>() / 3.0;
            let ev = s.iter().map(|t| t.2).sum::<f64>() / 3.0;
            assert!((rm[ch] as f64 - em).abs() < 1e-6, "{} vs {em}", rm[ch]);
            assert!((rv[ch] as f64 - ev).abs() < 1e-6, "{} vs {ev}", rv[ch]);
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Training mode (batch statistics), 1d with and without a length, and 2d.
        for (dims, shape) in [(1, vec![5, 3]), (1, vec![3, 2, 4]), (2, vec![2, 2, 3, 2])] {
            let mut bn = BatchNorm::new(&BatchNormConfig::default(), dims, &shape[1..]).unwrap();
            let c = shape[1];
            bn.parameters_mut()[0].value = (0..c).map(|k| 0.5 + k as f32).collect();
            bn.parameters_mut()[1].value = (0..c).map(|k| k as f32 - 0.3).collect();
            check_layer_train(&mut bn, &random_tensor(&shape, 3), 4);
            // Evaluation mode: affine in x with the running statistics.
            check_layer(&mut bn, &random_tensor(&shape, 5), 6);
        }
        // No affine, no running statistics: evaluation also uses batch statistics.
        let cfg = BatchNormConfig {
            affine: false,
            track_running_stats: false,
            ..Default::default()
        };
        let mut bn = BatchNorm::new(&cfg, 1, &[3]).unwrap();
        assert!(bn.parameters().is_empty() && bn.buffers().is_empty());
        let x = random_tensor(&[6, 3], 7);
        let a = bn.forward(&x, true).clone();
        assert_eq!(bn.forward(&x, false).data, a.data);
        check_layer(&mut bn, &x, 8);
    }

    #[test]
    fn config_and_shape_errors() {
        let e = BatchNorm::new(&BatchNormConfig::default(), 2, &[3, 4]).unwrap_err();
        assert!(e.to_string().contains("[3, 4]"), "{e}");
        let cfg = BatchNormConfig {
            num_features: Some(4),
            ..Default::default()
        };
        let e = BatchNorm::new(&cfg, 1, &[3]).unwrap_err();
        assert!(e.to_string().contains("num_features = 4"), "{e}");
        let cfg = BatchNormConfig {
            momentum: Some(1.5),
            ..Default::default()
        };
        let e = BatchNorm::new(&cfg, 1, &[3]).unwrap_err();
        assert!(e.to_string().contains("momentum = 1.5"), "{e}");
        let bn = BatchNorm::new(&BatchNormConfig::default(), 1, &[3, 7]).unwrap();
        assert_eq!(bn.out_shape(&[3, 7]).unwrap(), vec![3, 7]);
        assert!(bn.out_shape(&[4]).is_err());
    }

    /// In evaluation mode (running statistics), per-example squared norms equal those of the
    /// explicit per-example gradients (each example alone, a batch of one in evaluation mode);
    /// the evaluation-statistics variant gives the same numbers under `train = true` and leaves
    /// the running statistics alone; batch statistics are an error.
    #[test]
    fn per_example_norms_in_eval_statistics_match_explicit_per_example_gradients() {
        for (dims, shape) in [(1, vec![5, 3]), (1, vec![5, 3, 4]), (2, vec![5, 3, 2, 3])] {
            let mut bn = BatchNorm::new(&BatchNormConfig::default(), dims, &shape[1..]).unwrap();
            // Non-trivial running statistics and affine parameters.
            for seed in 0..3 {
                let mut x = random_tensor(&shape, 20 + seed);
                x.data.iter_mut().for_each(|v| *v = 2.0 * *v + 0.5);
                bn.forward(&x, true);
            }
            let gamma = random_tensor(&[3], 30);
            let beta = random_tensor(&[3], 31);
            bn.parameters_mut()[0].value.copy_from_slice(&gamma.data);
            bn.parameters_mut()[1].value.copy_from_slice(&beta.data);
            let x = random_tensor(&shape, 40);
            let dy = random_tensor(&shape, 41);
            let (n, per) = (shape[0], shape[1..].iter().product::<usize>());
            let mut one = shape.clone();
            one[0] = 1;
            // Explicit: example k alone, evaluation mode.
            let mut explicit = vec![0f64; n];
            for (k, e) in explicit.iter_mut().enumerate() {
                bn.zero_grad();
                let xk = Tensor::from_vec(&one, x.data[k * per..(k + 1) * per].to_vec()).unwrap();
                let dyk = Tensor::from_vec(&one, dy.data[k * per..(k + 1) * per].to_vec()).unwrap();
                bn.forward(&xk, false);
                bn.backward(&dyk);
                *e = bn
                    .parameters()
                    .iter()
                    .flat_map(|p| p.grad.iter())
                    .map(|&g| g as f64 * g as f64)
                    .sum();
            }
            let before: Vec<Vec<f32>> = bn.buffers().iter().map(|b| b.value.clone()).collect();
            for variant in [false, true] {
                bn.zero_grad();
                assert!(bn.set_eval_statistics(variant));
                bn.forward(&x, variant);
                let mut norms = vec![0f32; n];
                bn.backward_with_stats(&dy, &mut norms).unwrap();
                bn.set_eval_statistics(false);
                for (k, (&got, &want)) in norms.iter().zip(&explicit).enumerate() {
                    assert!(
                        (got as f64 - want).abs() <= 1e-5 * (1.0 + want),
                        "dims {dims} {shape:?} variant {variant} example {k}: {got} vs {want}"
                    );
                }
            }
            let after: Vec<Vec<f32>> = bn.buffers().iter().map(|b| b.value.clone()).collect();
            assert_eq!(
                before, after,
                "the variant must not touch the running statistics"
            );
            bn.forward(&x, true);
            let e = bn.backward_with_stats(&dy, &mut vec![0f32; n]).unwrap_err();
            assert!(e.to_string().contains("couples the examples"), "{e}");
        }
    }
}
