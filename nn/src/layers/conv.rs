//! Convolutions with PyTorch's semantics and layouts: `nn.Conv2d` on `[N, C, H, W]` and
//! `nn.Conv1d` on `[N, C, L]` (the 1-d case runs the 2-d code with `H = 1`).
//!
//! The forward pass unfolds each example into a column buffer (`im2col`, `[C·kh·kw, Ho·Wo]`,
//! reused between calls) and multiplies it by the weight `[out, C·kh·kw]` with `gemm`. The
//! backward pass reuses the cached columns for `dW = dy · colsᵀ` and folds `Wᵀ · dy` back into
//! the input gradient (`col2im`).

use optim::Param;

use crate::layer::{check_stats_len, contribution, write_or_add, Layer};
use crate::{init, matmul, rop, NnError, Result, Rng, Tensor};

/// Configuration of a 2-d convolution (PyTorch's `nn.Conv2d` arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dConfig {
    /// Input channels; `None` infers them from the input shape.
    pub in_channels: Option<usize>,
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel_size: [usize; 2],
    pub stride: [usize; 2],
    /// Zero padding on each side.
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            in_channels: None,
            out_channels: 1,
            kernel_size: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            bias: true,
        }
    }
}

impl Conv2dConfig {
    /// `in_channels → out_channels` with a square `kernel_size` kernel, PyTorch defaults
    /// otherwise (stride 1, padding 0, dilation 1, bias).
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        Conv2dConfig {
            in_channels: Some(in_channels),
            out_channels,
            kernel_size: [kernel_size; 2],
            ..Default::default()
        }
    }

    /// The same stride along both dimensions.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = [s; 2];
        self
    }

    /// The same padding along both dimensions.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = [p; 2];
        self
    }

    /// The same dilation along both dimensions.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = [d; 2];
        self
    }

    pub fn validate(&self) -> Result<()> {
        validate("conv2d", self)
    }
}

/// Configuration of a 1-d convolution (PyTorch's `nn.Conv1d` arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1dConfig {
    pub in_channels: Option<usize>,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub bias: bool,
}

impl Default for Conv1dConfig {
    fn default() -> Self {
        Conv1dConfig {
            in_channels: None,
            out_channels: 1,
            kernel_size: 1,
            stride: 1,
            padding: 0,
            dilation: 1,
            bias: true,
        }
    }
}

impl Conv1dConfig {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        Conv1dConfig {
            in_channels: Some(in_channels),
            out_channels,
            kernel_size,
            ..Default::default()
        }
    }

    fn as_2d(&self) -> Conv2dConfig {
        Conv2dConfig {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            kernel_size: [1, self.kernel_size],
            stride: [1, self.stride],
            padding: [0, self.padding],
            dilation: [1, self.dilation],
            bias: self.bias,
        }
    }

    pub fn validate(&self) -> Result<()> {
        validate("conv1d", &self.as_2d())
    }
}

fn validate(what: &'static str, c: &Conv2dConfig) -> Result<()> {
    let positive = |field: &'static str, v: usize| {
        if v == 0 {
            Err(NnError::config(what, field, 0, "must be positive"))
        } else {
            Ok(())
        }
    };
    positive("out_channels", c.out_channels)?;
    if let Some(i) = c.in_channels {
        positive("in_channels", i)?;
    }
    for d in 0..2 {
        positive("kernel_size", c.kernel_size[d])?;
        positive("stride", c.stride[d])?;
        positive("dilation", c.dilation[d])?;
    }
    Ok(())
}

/// `Σ v` with 16 independent partial sums (vectorises; a serial sum is latency-bound).
pub(crate) fn sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        acc.iter_mut().zip(c).for_each(|(a, x)| *a += x);
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// Output length of a sliding window: `(len + 2p − d(k−1) − 1)/s + 1`, `None` when the
/// (dilated) window does not fit the padded input.
pub(crate) fn out_len(len: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d * (k - 1) + 1;
    (len + 2 * p >= span).then(|| (len + 2 * p - span) / s + 1)
}

/// Sizes of one convolution call.
#[derive(Clone, Copy, Debug, Default)]
struct Geom {
    c: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
}

/// A 2-d or 1-d convolution layer. Weight `[out, in, kh, kw]` (1-d: `[out, in, k]`), bias
/// `[out]`, initialised as PyTorch does: `U(±1/√fan_in)` with `fan_in = in·kh·kw` (for the
/// weight that is `kaiming_uniform_(a=√5)`).
#[derive(Debug)]
pub struct Conv {
    one_d: bool,
    in_channels: usize,
    out_channels: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    params: Vec<Param<f32>>,
    geom: Geom,
    batch: usize,
    /// `im2col` of every example of the last forward, `[N, C·kh·kw, Ho·Wo]`.
    cols: Vec<f32>,
    /// Column gradient of one example.
    dcol: Vec<f32>,
    /// One example's weight gradient (per-example norms only).
    dw_one: Vec<f32>,
    x_shape: Vec<usize>,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)): `im2col` of `R{x}` for every example
    /// (meaningful when `has_rx`), `R{y}`, `R{dx}`, and per batch part its share of the
    /// product and two column scratches.
    has_rx: bool,
    rcols: Vec<f32>,
    ry: Tensor,
    rdx: Tensor,
    rscratch: Vec<f32>,
}

impl Conv {
    /// A 2-d convolution for inputs with `in_channels` channels (must agree with
    /// `cfg.in_channels` when given), initialised from `rng`.
    pub fn new_2d(cfg: &Conv2dConfig, in_channels: usize, rng: &mut Rng) -> Result<Self> {
        cfg.validate()?;
        Self::build(cfg, in_channels, false, rng)
    }

    /// A 1-d convolution on `[N, C, L]`.
    pub fn new_1d(cfg: &Conv1dConfig, in_channels: usize, rng: &mut Rng) -> Result<Self> {
        cfg.validate()?;
        Self::build(&cfg.as_2d(), in_channels, true, rng)
    }

    fn build(cfg: &Conv2dConfig, in_channels: usize, one_d: bool, rng: &mut Rng) -> Result<Self> {
        let what = if one_d { "conv1d" } else { "conv2d" };
        if let Some(i) = cfg.in_channels {
            if i != in_channels {
                return Err(NnError::Shape(format!(
                    "{what}: in_channels = {i} but the input has {in_channels} channels"
                )));
            }
        }
        if in_channels == 0 {
            return Err(NnError::config(what, "in_channels", 0, "must be positive"));
        }
        let (i, o, [kh, kw]) = (in_channels, cfg.out_channels, cfg.kernel_size);
        let shape = if one_d {
            vec![o, i, kw]
        } else {
            vec![o, i, kh, kw]
        };
        let mut w = Param::zeros("weight", &shape);
        let a = 5f64.sqrt();
        init::kaiming_uniform(
            &mut w.value,
            &shape,
            a,
            init::FanMode::FanIn,
            init::Nonlinearity::LeakyRelu(a),
            rng,
        )?;
        let mut params = vec![w];
        if cfg.bias {
            let mut b = Param::zeros("bias", &[o]);
            let bound = 1.0 / ((i * kh * kw) as f64).sqrt();
            init::uniform(&mut b.value, -bound, bound, rng);
            params.push(b);
        }
        Ok(Conv {
            one_d,
            in_channels: i,
            out_channels: o,
            k: cfg.kernel_size,
            s: cfg.stride,
            p: cfg.padding,
            d: cfg.dilation,
            params,
            geom: Geom::default(),
            batch: 0,
            cols: Vec::new(),
            dcol: Vec::new(),
            dw_one: Vec::new(),
            x_shape: Vec::new(),
            y: Tensor::default(),
            dx: Tensor::default(),
            has_rx: false,
            rcols: Vec::new(),
            ry: Tensor::default(),
            rdx: Tensor::default(),
            rscratch: Vec::new(),
        })
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// The layer's configuration as a 2-d convolution (`[h, w]` pairs; a 1-d convolution has
    /// kernel 1, stride 1, padding 0 and dilation 1 along `h`, its input read as `H = 1`).
    pub fn config(&self) -> Conv2dConfig {
        Conv2dConfig {
            in_channels: Some(self.in_channels),
            out_channels: self.out_channels,
            kernel_size: self.k,
            stride: self.s,
            padding: self.p,
            dilation: self.d,
            bias: self.params.len() > 1,
        }
    }

    /// `(C, H, W)` and output `(Ho, Wo)` for a per-example shape.
    fn geometry(&self, per_example: &[usize]) -> Result<Geom> {
        let (c, h, w) = match (self.one_d, per_example) {
            (true, &[c, l]) => (c, 1, l),
            (false, &[c, h, w]) => (c, h, w),
            _ => {
                return Err(NnError::Shape(format!(
                    "{} expects per-example inputs [C, {}], got {per_example:?}",
                    self.kind(),
                    if self.one_d { "L" } else { "H, W" }
                )))
            }
        };
        if c != self.in_channels {
            return Err(NnError::Shape(format!(
                "{} expects {} input channels, got per-example shape {per_example:?}",
                self.kind(),
                self.in_channels
            )));
        }
        let ho = out_len(h, self.k[0], self.s[0], self.p[0], self.d[0]);
        let wo = out_len(w, self.k[1], self.s[1], self.p[1], self.d[1]);
        match (ho, wo) {
            (Some(ho), Some(wo)) => Ok(Geom { c, h, w, ho, wo }),
            _ => Err(NnError::Shape(format!(
                "{}: kernel {:?} with dilation {:?} does not fit input {per_example:?} \
                 padded by {:?}",
                self.kind(),
                self.k,
                self.d,
                self.p
            ))),
        }
    }

    fn rows(&self) -> usize {
        self.in_channels * self.k[0] * self.k[1]
    }

    /// Walks one example's column matrix `[C·kh·kw, Ho·Wo]` by output rows: calls
    /// `seg(col_offset, in_offset, lo, hi)` for each (column-row, output-row) pair, where
    /// output positions `lo..hi` of that row read the input at `in_offset + (ow − lo)·sw` and
    /// the others are padding (`in_offset` is meaningful only when `lo < hi`). Rows entirely
    /// in the padding get `lo = hi = 0`.
    #[inline]
    fn segments(&self, g: &Geom, mut seg: impl FnMut(usize, usize, usize, usize)) {
        let [kh, kw] = self.k;
        let [sh, sw] = self.s;
        let [ph, pw] = self.p;
        let [dh, dw] = self.d;
        let p = g.ho * g.wo;
        for c in 0..g.c {
            for ki in 0..kh {
                for kj in 0..kw {
                    let row = (c * kh + ki) * kw + kj;
                    // Output columns whose input column is inside [0, w).
                    let off = (kj * dw) as isize - pw as isize;
                    let lo = if off >= 0 {
                        0
                    } else {
                        ((-off) as usize).div_ceil(sw).min(g.wo)
                    };
                    let hi = if g.w as isize - off <= 0 {
                        0
                    } else {
                        ((g.w as isize - off) as usize).div_ceil(sw).min(g.wo)
                    };
                    let hi = hi.max(lo);
                    for oh in 0..g.ho {
                        let ih = (oh * sh + ki * dh) as isize - ph as isize;
                        let col = row * p + oh * g.wo;
                        if ih < 0 || ih >= g.h as isize || lo == hi {
                            seg(col, 0, 0, 0);
                        } else {
                            let start = (c * g.h + ih as usize) * g.w;
                            let first = (lo * sw) as isize + off;
                            seg(col, start + first as usize, lo, hi);
                        }
                    }
                }
            }
        }
    }

    /// `im2col` of one example `[C, H, W]` into `cols` (`[C·kh·kw, Ho·Wo]`), padding taps zero.
    fn im2col(&self, g: &Geom, x: &[f32], cols: &mut [f32]) {
        let (wo, sw) = (g.wo, self.s[1]);
        self.segments(g, |col, src, lo, hi| {
            let dst = &mut cols[col..col + wo];
            dst[..lo].fill(0.0);
            dst[hi..].fill(0.0);
            if sw == 1 {
                dst[lo..hi].copy_from_slice(&x[src..src + hi - lo]);
            } else {
                for (k, d) in dst[lo..hi].iter_mut().enumerate() {
                    *d = x[src + k * sw];
                }
            }
        });
    }

    /// `col2im`: adds one example's column gradient back into its input gradient.
    fn col2im(&self, g: &Geom, dcol: &[f32], dx: &mut [f32]) {
        let sw = self.s[1];
        self.segments(g, |col, src, lo, hi| {
            let d = &dcol[col + lo..col + hi];
            if sw == 1 {
                dx[src..src + hi - lo]
                    .iter_mut()
                    .zip(d)
                    .for_each(|(x, v)| *x += v);
            } else {
                for (k, v) in d.iter().enumerate() {
                    dx[src + k * sw] += v;
                }
            }
        });
    }

    /// Batch parts the passes split into: one below the matmul threshold, else up to 4 per
    /// thread (work stealing evens out a slowed thread), at most one per example.
    fn parts(&self, n: usize) -> usize {
        let (kr, p) = (self.rows(), self.geom.ho * self.geom.wo);
        let work = n * self.out_channels * kr * p;
        let threads = rayon::current_num_threads();
        if work < matmul::PAR_THRESHOLD || threads <= 1 {
            1
        } else {
            (4 * threads).clamp(1, n.max(1))
        }
    }

    /// The backward pass; `need_dx` false skips the input gradient.
    fn backward_impl(&mut self, dy: &Tensor, need_dx: bool) {
        let (g, n, o) = (self.geom, self.batch, self.out_channels);
        let (kr, p) = (self.rows(), g.ho * g.wo);
        assert_eq!(
            dy.numel(),
            n * o * p,
            "{}: gradient shape {:?} does not match the last forward",
            self.kind(),
            dy.shape
        );
        let chw = g.c * g.h * g.w;
        let per_part = n.div_ceil(self.parts(n));
        // Every part non-empty (its first product overwrites its scratch).
        let parts = n.div_ceil(per_part.max(1));
        let has_bias = self.params.len() > 1;
        // Per part: its weight gradient [o·kr], bias gradient [o], and column scratch [kr·p].
        let part_len = o * kr + o + if need_dx { kr * p } else { 0 };
        self.dcol.resize(parts * part_len, 0.0);
        if need_dx {
            self.dx.resize(&self.x_shape);
        }
        let mut dcol = std::mem::take(&mut self.dcol);
        let mut dx = std::mem::take(&mut self.dx);
        {
            let this = &*self;
            let w = &this.params[0].value;
            let cols = &this.cols;
            let run = |part: usize, scratch: &mut [f32], dxp: &mut [f32]| {
                let (dw, rest) = scratch.split_at_mut(o * kr);
                let (db, dc) = rest.split_at_mut(o);
                db.fill(0.0);
                let (b0, b1) = (part * per_part, ((part + 1) * per_part).min(n));
                for b in b0..b1 {
                    let dyb = &dy.data[b * o * p..(b + 1) * o * p];
                    let cb = &cols[b * kr * p..(b + 1) * kr * p];
                    // dWᵀ[K×o] (+)= col_b[K×P] · dy_bᵀ[P×o] (the transposed operand is the
                    // smaller dy_b; the part's sum is transposed once in the reduction).
                    matmul::product_serial((kr, o, p), dw, b > b0, cb, (p, 1), dyb, (1, p));
                    if has_bias {
                        for (gb, row) in db.iter_mut().zip(dyb.chunks_exact(p)) {
                            *gb += sum(row);
                        }
                    }
                    if need_dx {
                        // dcol[K×P] = Wᵀ[K×o] · dy_b[o×P], folded back into dx (col2im).
                        matmul::product_serial((kr, p, o), dc, false, w, (1, kr), dyb, (p, 1));
                        let dxb = &mut dxp[(b - b0) * chw..(b - b0 + 1) * chw];
                        dxb.fill(0.0);
                        this.col2im(&g, dc, dxb);
                    }
                }
            };
            if parts == 1 {
                run(0, &mut dcol[..part_len], &mut dx.data);
            } else {
                use rayon::prelude::*;
                let scratch = dcol.par_chunks_mut(part_len).enumerate();
                if need_dx {
                    scratch
                        .zip(dx.data.par_chunks_mut(per_part * chw))
                        .for_each(|((part, s), dxp)| run(part, s, dxp));
                } else {
                    scratch.for_each(|(part, s)| run(part, s, &mut []));
                }
            }
        }
        // Reduce the parts in order into the accumulated gradients (the first part writes
        // gradients that are absent; see `contribution`).
        {
            let (wp, rest) = self.params.split_first_mut().unwrap();
            let mut add_w = contribution(wp);
            let mut add_b = rest.first_mut().map(contribution).unwrap_or(true);
            if parts == 0 {
                if !add_w {
                    wp.grad.fill(0.0);
                }
                if let (Some(bias), false) = (rest.first_mut(), add_b) {
                    bias.grad.fill(0.0);
                }
            }
            for part in dcol.chunks_exact(part_len).take(parts) {
                let (dwt, rest2) = part.split_at(o * kr);
                for (oc, grow) in wp.grad.chunks_exact_mut(kr).enumerate() {
                    for (r, g) in grow.iter_mut().enumerate() {
                        *g = if add_w { *g } else { 0.0 } + dwt[r * o + oc];
                    }
                }
                if let Some(bias) = rest.first_mut() {
                    write_or_add(&mut bias.grad, &rest2[..o], add_b);
                }
                (add_w, add_b) = (true, true);
            }
        }
        self.dcol = dcol;
        self.dx = dx;
    }
}

impl Layer for Conv {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        if self.one_d {
            "conv1d"
        } else {
            "conv2d"
        }
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        let g = self.geometry(in_shape)?;
        Ok(if self.one_d {
            vec![self.out_channels, g.wo]
        } else {
            vec![self.out_channels, g.ho, g.wo]
        })
    }

    fn forward(&mut self, x: &Tensor, _train: bool) -> &Tensor {
        assert!(!x.shape.is_empty(), "{}: scalar input", self.kind());
        let g = self
            .geometry(&x.shape[1..])
            .unwrap_or_else(|e| panic!("{e}"));
        let (n, o) = (x.shape[0], self.out_channels);
        let (kr, p) = (self.rows(), g.ho * g.wo);
        self.geom = g;
        self.batch = n;
        self.x_shape.clone_from(&x.shape);
        self.cols.resize(n * kr * p, 0.0);
        if self.one_d {
            self.y.resize(&[n, o, g.wo]);
        } else {
            self.y.resize(&[n, o, g.ho, g.wo]);
        }
        let chw = g.c * g.h * g.w;
        let mut cols = std::mem::take(&mut self.cols);
        let mut y = std::mem::take(&mut self.y);
        {
            let this = &*self;
            let w = &this.params[0].value;
            let bias = this.params.get(1);
            // Per example: im2col, then y_b = bias + W · col_b.
            let one = |cb: &mut [f32], yb: &mut [f32], xb: &[f32]| {
                this.im2col(&g, xb, cb);
                if let Some(bias) = bias {
                    for (row, &bv) in yb.chunks_exact_mut(p).zip(&bias.value) {
                        row.fill(bv);
                    }
                }
                matmul::product_serial((o, p, kr), yb, bias.is_some(), w, (kr, 1), cb, (p, 1));
            };
            if n > 1 && self.parts(n) > 1 {
                use rayon::prelude::*;
                cols.par_chunks_mut(kr * p)
                    .zip(y.data.par_chunks_mut(o * p))
                    .zip(x.data.par_chunks(chw))
                    .for_each(|((cb, yb), xb)| one(cb, yb, xb));
            } else {
                for ((cb, yb), xb) in cols
                    .chunks_exact_mut(kr * p)
                    .zip(y.data.chunks_exact_mut(o * p))
                    .zip(x.data.chunks_exact(chw))
                {
                    one(cb, yb, xb);
                }
            }
        }
        self.cols = cols;
        self.y = y;
        &self.y
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        self.backward_impl(dy, true);
        &self.dx
    }

    fn backward_params(&mut self, dy: &Tensor) {
        self.backward_impl(dy, false);
    }

    /// Per-example squared norms `‖dy_b · col_bᵀ‖² + ‖Σ_positions dy_b‖²` (weight + bias),
    /// one extra `[out, C·kh·kw]` product per example.
    fn backward_with_stats(&mut self, dy: &Tensor, sq_norms: &mut [f32]) -> Result<&Tensor> {
        check_stats_len(dy, sq_norms)?;
        let (n, o, kr) = (self.batch, self.out_channels, self.rows());
        let p = self.geom.ho * self.geom.wo;
        assert_eq!(dy.numel(), n * o * p, "{}: gradient shape", self.kind());
        self.dw_one.resize(o * kr, 0.0);
        let has_bias = self.params.len() > 1;
        for (b, s) in sq_norms.iter_mut().enumerate() {
            let dyb = &dy.data[b * o * p..(b + 1) * o * p];
            let cb = &self.cols[b * kr * p..(b + 1) * kr * p];
            matmul::product((o, kr, p), &mut self.dw_one, false, dyb, (p, 1), cb, (1, p));
            let mut sq: f32 = self.dw_one.iter().map(|v| v * v).sum();
            if has_bias {
                sq += dyb
                    .chunks_exact(p)
                    .map(|row| row.iter().sum::<f32>().powi(2))
                    .sum::<f32>();
            }
            *s += sq;
        }
        Ok(self.backward(dy))
    }

    /// Per example `b`: `R{y_b} = W·R{col_b} + V·col_b + v_b` (bilinear like a linear layer,
    /// `col_b` the cached `im2col` of the input, `R{col_b}` that of `R{x}`).
    fn forward_r(&mut self, rx: Option<&Tensor>, v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        rop::assert_directions(self, v);
        let (g, n, o) = (self.geom, self.batch, self.out_channels);
        let (kr, p) = (self.rows(), g.ho * g.wo);
        let chw = g.c * g.h * g.w;
        self.ry.resize(&self.y.shape);
        self.has_rx = rx.is_some();
        if let Some(rx) = rx {
            assert_eq!(rx.shape, self.x_shape, "{}: R{{x}} shape", self.kind());
            self.rcols.resize(n * kr * p, 0.0);
        }
        let mut ry = std::mem::take(&mut self.ry);
        let mut rcols = std::mem::take(&mut self.rcols);
        {
            let this = &*self;
            let (w, vw, vb) = (&this.params[0].value, &v[0], v.get(1));
            let one = |b: usize, ryb: &mut [f32], rcb: &mut [f32]| {
                let cb = &this.cols[b * kr * p..(b + 1) * kr * p];
                if let Some(vb) = vb {
                    for (row, &bv) in ryb.chunks_exact_mut(p).zip(vb) {
                        row.fill(bv);
                    }
                }
                matmul::product_serial((o, p, kr), ryb, vb.is_some(), vw, (kr, 1), cb, (p, 1));
                if let Some(rx) = rx {
                    this.im2col(&g, &rx.data[b * chw..(b + 1) * chw], rcb);
                    matmul::product_serial((o, p, kr), ryb, true, w, (kr, 1), rcb, (p, 1));
                }
            };
            let rcb_len = if rx.is_some() { kr * p } else { 0 };
            if n > 1 && self.parts(n) > 1 {
                use rayon::prelude::*;
                if rcb_len > 0 {
                    ry.data
                        .par_chunks_mut(o * p)
                        .zip(rcols.par_chunks_mut(rcb_len))
                        .enumerate()
                        .for_each(|(b, (ryb, rcb))| one(b, ryb, rcb));
                } else {
                    ry.data
                        .par_chunks_mut(o * p)
                        .enumerate()
                        .for_each(|(b, ryb)| one(b, ryb, &mut []));
                }
            } else {
                for (b, ryb) in ry.data.chunks_exact_mut(o * p).enumerate() {
                    let rcb = if rcb_len > 0 {
                        &mut rcols[b * rcb_len..(b + 1) * rcb_len]
                    } else {
                        &mut []
                    };
                    one(b, ryb, rcb);
                }
            }
        }
        self.ry = ry;
        self.rcols = rcols;
        Ok(Some(&self.ry))
    }

    /// Per example: `R{dW} += R{dy_b}·col_bᵀ + dy_b·R{col_b}ᵀ`, `R{db} += Σ R{dy_b}`,
    /// `dx_b = col2im(Wᵀ·dy_b)`, `R{dx_b} = col2im(Wᵀ·R{dy_b} + Vᵀ·dy_b)`.
    fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        v: &[Vec<f32>],
        hv: &mut [Vec<f32>],
        need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        rop::assert_directions(self, v);
        let (g, n, o) = (self.geom, self.batch, self.out_channels);
        let (kr, p) = (self.rows(), g.ho * g.wo);
        let chw = g.c * g.h * g.w;
        assert!(
            dy.numel() == n * o * p && rdy.shape == dy.shape,
            "{}: R-backward shapes {:?}, {:?} do not match the last forward",
            self.kind(),
            dy.shape,
            rdy.shape
        );
        // The batch splits into parts as in the ordinary backward pass; each part sums its
        // examples' parameter terms in its own scratch, reduced in order afterwards.
        let per_part = n.div_ceil(self.parts(n)).max(1);
        let parts = n.div_ceil(per_part);
        let has_bias = hv.len() > 1;
        let hb_len = if has_bias { o } else { 0 };
        let col_len = if need_dx { kr * p } else { 0 };
        let part_len = o * kr + hb_len + 2 * col_len;
        self.rscratch.resize(parts * part_len, 0.0);
        if need_dx {
            self.dx.resize(&self.x_shape);
            self.rdx.resize(&self.x_shape);
        }
        let mut scratch = std::mem::take(&mut self.rscratch);
        let mut dx = std::mem::take(&mut self.dx);
        let mut rdx = std::mem::take(&mut self.rdx);
        {
            let this = &*self;
            let (w, vw) = (&this.params[0].value, &v[0]);
            let run = |part: usize, s: &mut [f32], dxp: &mut [f32], rdxp: &mut [f32]| {
                let (hw, rest) = s.split_at_mut(o * kr);
                let (hb, rest) = rest.split_at_mut(hb_len);
                let (dcol, rdcol) = rest.split_at_mut(col_len);
                hb.fill(0.0);
                let (b0, b1) = (part * per_part, ((part + 1) * per_part).min(n));
                for b in b0..b1 {
                    let dyb = &dy.data[b * o * p..(b + 1) * o * p];
                    let rdyb = &rdy.data[b * o * p..(b + 1) * o * p];
                    let cb = &this.cols[b * kr * p..(b + 1) * kr * p];
                    let first = b == b0;
                    matmul::product_serial((o, kr, p), hw, !first, rdyb, (p, 1), cb, (1, p));
                    if this.has_rx {
                        let rcb = &this.rcols[b * kr * p..(b + 1) * kr * p];
                        matmul::product_serial((o, kr, p), hw, true, dyb, (p, 1), rcb, (1, p));
                    }
                    for (h, row) in hb.iter_mut().zip(rdyb.chunks_exact(p)) {
                        *h += sum(row);
                    }
                    if need_dx {
                        let at = (b - b0) * chw..(b - b0 + 1) * chw;
                        matmul::product_serial((kr, p, o), dcol, false, w, (1, kr), dyb, (p, 1));
                        let dxb = &mut dxp[at.clone()];
                        dxb.fill(0.0);
                        this.col2im(&g, dcol, dxb);
                        matmul::product_serial((kr, p, o), rdcol, false, w, (1, kr), rdyb, (p, 1));
                        matmul::product_serial((kr, p, o), rdcol, true, vw, (1, kr), dyb, (p, 1));
                        let rdxb = &mut rdxp[at];
                        rdxb.fill(0.0);
                        this.col2im(&g, rdcol, rdxb);
                    }
                }
            };
            if parts == 1 {
                let (dxp, rdxp): (&mut [f32], &mut [f32]) = if need_dx {
                    (&mut dx.data, &mut rdx.data)
                } else {
                    (&mut [], &mut [])
                };
                run(0, &mut scratch[..part_len], dxp, rdxp);
            } else {
                use rayon::prelude::*;
                let chunks = scratch.par_chunks_mut(part_len).enumerate();
                if need_dx {
                    chunks
                        .zip(dx.data.par_chunks_mut(per_part * chw))
                        .zip(rdx.data.par_chunks_mut(per_part * chw))
                        .for_each(|(((part, s), dxp), rdxp)| run(part, s, dxp, rdxp));
                } else {
                    chunks.for_each(|(part, s)| run(part, s, &mut [], &mut []));
                }
            }
        }
        // Reduce the parts in order into the product.
        for part in scratch.chunks_exact(part_len).take(parts) {
            let (hwp, rest) = part.split_at(o * kr);
            hv[0].iter_mut().zip(hwp).for_each(|(h, v)| *h += v);
            if has_bias {
                hv[1].iter_mut().zip(&rest[..o]).for_each(|(h, v)| *h += v);
            }
        }
        self.rscratch = scratch;
        self.dx = dx;
        self.rdx = rdx;
        Ok((&self.dx, &self.rdx))
    }

    fn parameters(&self) -> &[Param<f32>] {
        &self.params
    }

    fn parameters_mut(&mut self) -> &mut [Param<f32>] {
        &mut self.params
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{check_layer, random_tensor};

    /// Direct convolution loop in f64 on `[N, C, H, W]`.
    fn naive(x: &Tensor, l: &Conv, h: usize, w: usize) -> Vec<f32> {
        let (n, c, o) = (x.shape[0], l.in_channels, l.out_channels);
        let [kh, kw] = l.k;
        let ho = out_len(h, kh, l.s[0], l.p[0], l.d[0]).unwrap();
        let wo = out_len(w, kw, l.s[1], l.p[1], l.d[1]).unwrap();
        let wt = &l.params[0].value;
        let mut out = vec![0f32; n * o * ho * wo];
        for b in 0..n {
            for oc in 0..o {
                for i in 0..ho {
                    for j in 0..wo {
                        let mut s = l.params.get(1).map_or(0.0, |p| p.value[oc] as f64);
                        for ic in 0..c {
                            for a in 0..kh {
                                for e in 0..kw {
                                    let ih = (i * l.s[0] + a * l.d[0]) as isize - l.p[0] as isize;
                                    let iw = (j * l.s[1] + e * l.d[1]) as isize - l.p[1] as isize;
                                    if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                                        continue;
                                    }
                                    let xv =
                                        x.data[((b * c + ic) * h + ih as usize) * w + iw as usize];
                                    let wv = wt[((oc * c + ic) * kh + a) * kw + e];
                                    s += xv as f64 * wv as f64;
                                }
                            }
                        }
                        out[((b * o + oc) * ho + i) * wo + j] = s as f32;
                    }
                }
            }
        }
        out
    }

    fn assert_all_close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (k, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "[{k}] {x} vs {y}");
        }
    }

    #[test]
    fn output_shapes_follow_the_formula() {
        let mut rng = Rng::new(0);
        // H_out = (H + 2p − d(k−1) − 1)/s + 1
        let cases = [
            (Conv2dConfig::new(3, 4, 3), [3, 7, 9], [4, 5, 7]),
            (
                Conv2dConfig::new(3, 4, 3).stride(2).padding(1),
                [3, 7, 9],
                [4, 4, 5],
            ),
            (
                Conv2dConfig::new(3, 4, 3).dilation(2).padding(1),
                [3, 7, 9],
                [4, 5, 7],
            ),
            (
                Conv2dConfig {
                    kernel_size: [2, 3],
                    stride: [1, 2],
                    padding: [0, 1],
                    ..Conv2dConfig::new(3, 2, 1)
                },
                [3, 5, 6],
                [2, 4, 3],
            ),
        ];
        for (cfg, i, o) in cases {
            let l = Conv::new_2d(&cfg, 3, &mut rng).unwrap();
            assert_eq!(l.out_shape(&i).unwrap(), o.to_vec(), "{cfg:?}");
        }
        let l = Conv::new_1d(
            &Conv1dConfig {
                stride: 2,
                padding: 1,
                ..Conv1dConfig::new(2, 5, 3)
            },
            2,
            &mut rng,
        )
        .unwrap();
        assert_eq!(l.out_shape(&[2, 10]).unwrap(), vec![5, 5]);
        assert_eq!(l.parameters()[0].shape, vec![5, 2, 3]);
        assert!(l.out_shape(&[3, 10]).is_err());
        let l = Conv::new_2d(&Conv2dConfig::new(1, 1, 5), 1, &mut rng).unwrap();
        let e = l.out_shape(&[1, 4, 9]).unwrap_err().to_string();
        assert!(e.contains("[1, 4, 9]"), "{e}");
        assert!(
            Conv::new_2d(&Conv2dConfig::new(1, 1, 3).stride(0), 1, &mut rng)
                .unwrap_err()
                .to_string()
                .contains("stride = 0")
        );
        assert!(Conv::new_2d(&Conv2dConfig::new(2, 1, 3), 3, &mut rng).is_err());
    }

    #[test]
    fn init_bounds_follow_pytorch() {
        let mut rng = Rng::new(3);
        let l = Conv::new_2d(&Conv2dConfig::new(4, 8, 3), 4, &mut rng).unwrap();
        let bound = 1.0 / 36f32.sqrt();
        assert_eq!(l.parameters()[0].shape, vec![8, 4, 3, 3]);
        assert_eq!(l.parameters()[1].shape, vec![8]);
        for p in l.parameters() {
            assert!(p.value.iter().all(|v| v.abs() <= bound));
            // Spread over the range, not collapsed.
            let max = p.value.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(max > 0.5 * bound, "{} {max}", p.name);
        }
    }

    #[test]
    fn forward_matches_direct_convolution() {
        let mut rng = Rng::new(1);
        let cfgs = [
            Conv2dConfig::new(3, 4, 3),
            Conv2dConfig::new(3, 4, 3).stride(2).padding(1),
            Conv2dConfig::new(3, 4, 3).dilation(2).padding(1),
            Conv2dConfig {
                kernel_size: [2, 3],
                stride: [2, 1],
                padding: [1, 2],
                dilation: [1, 2],
                bias: false,
                ..Conv2dConfig::new(3, 2, 1)
            },
        ];
        for (k, cfg) in cfgs.iter().enumerate() {
            let mut l = Conv::new_2d(cfg, 3, &mut rng).unwrap();
            let x = random_tensor(&[2, 3, 7, 9], 10 + k as u64);
            let want = naive(&x, &l, 7, 9);
            let shape = [&[2][..], &l.out_shape(&[3, 7, 9]).unwrap()].concat();
            let y = l.forward(&x, false);
            assert_eq!(y.shape, shape);
            assert_all_close(&y.data, &want);
            // Buffers are reused: a second call gives the same result in place.
            let ptr = l.y.data.as_ptr();
            let y = l.forward(&x, false);
            assert_eq!(y.data.as_ptr(), ptr);
            assert_all_close(&y.data, &want);
        }
        // 1-d equals 2-d with H = 1.
        let c1 = Conv1dConfig {
            stride: 2,
            padding: 1,
            dilation: 2,
            ..Conv1dConfig::new(2, 3, 3)
        };
        let mut l = Conv::new_1d(&c1, 2, &mut rng).unwrap();
        let x = random_tensor(&[2, 2, 11], 20);
        let x4 = Tensor::from_vec(&[2, 2, 1, 11], x.data.clone()).unwrap();
        let want = naive(&x4, &l, 1, 11);
        let y = l.forward(&x, false);
        assert_eq!(y.shape, vec![2, 3, 5]);
        assert_all_close(&y.data, &want);
    }

    #[test]
    fn batch_split_across_threads_matches_one_thread_and_direct_convolution() {
        let cfg = Conv2dConfig::new(4, 16, 3).padding(1).dilation(2);
        let x = random_tensor(&[30, 4, 12, 15], 12);
        let y_shape = [
            &[30][..],
            &Conv::new_2d(&cfg, 4, &mut Rng::new(0))
                .unwrap()
                .out_shape(&[4, 12, 15])
                .unwrap(),
        ]
        .concat();
        let dy = random_tensor(&y_shape, 13);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut l = Conv::new_2d(&cfg, 4, &mut Rng::new(6)).unwrap();
                let y = l.forward(&x, true).clone();
                let parts = l.parts(30);
                let dx = l.backward(&dy).clone();
                let grads: Vec<Vec<f32>> = l.parameters().iter().map(|p| p.grad.clone()).collect();
                // Parameter gradients only: the same sums.
                l.zero_grad();
                l.forward(&x, true);
                l.backward_params(&dy);
                for (p, g) in l.parameters().iter().zip(&grads) {
                    assert_eq!(&p.grad, g);
                }
                (y, dx, grads, parts, naive(&x, &l, 12, 15))
            })
        };
        let (y1, dx1, g1, parts1, want) = run(1);
        let (y3, dx3, g3, parts3, _) = run(3);
        assert_eq!((parts1, parts3), (1, 12));
        assert_all_close(&y1.data, &want);
        assert_all_close(&y3.data, &want);
        assert_all_close(&dx3.data, &dx1.data);
        for (a, b) in g3.iter().zip(&g1) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::new(2);
        let mut l = Conv::new_2d(
            &Conv2dConfig::new(2, 3, 3).stride(2).padding(1),
            2,
            &mut rng,
        )
        .unwrap();
        check_layer(&mut l, &random_tensor(&[2, 2, 5, 6], 3), 4);
        let cfg = Conv2dConfig {
            kernel_size: [2, 3],
            dilation: [2, 1],
            padding: [1, 0],
            bias: false,
            ..Conv2dConfig::new(2, 2, 1)
        };
        let mut l = Conv::new_2d(&cfg, 2, &mut rng).unwrap();
        check_layer(&mut l, &random_tensor(&[2, 2, 5, 5], 5), 6);
        let c1 = Conv1dConfig {
            stride: 2,
            padding: 1,
            dilation: 2,
            ..Conv1dConfig::new(2, 3, 3)
        };
        let mut l = Conv::new_1d(&c1, 2, &mut rng).unwrap();
        check_layer(&mut l, &random_tensor(&[3, 2, 9], 7), 8);
    }

    #[test]
    fn tiny_cnn_in_sequential_infers_shapes_and_learns() {
        use crate::layers::{Activation, FlattenConfig, LinearConfig, Pool2dConfig};
        use crate::{CrossEntropyConfig, CrossEntropyLoss, LayerConfig, Sequential};
        use optim::Params;
        let configs = [
            LayerConfig::Conv2d(Conv2dConfig {
                in_channels: None,
                out_channels: 4,
                kernel_size: [3, 3],
                padding: [1, 1],
                ..Default::default()
            }),
            LayerConfig::Activation(Activation::Relu),
            LayerConfig::MaxPool2d(Pool2dConfig::new(2)),
            LayerConfig::Flatten(FlattenConfig::default()),
            LayerConfig::Linear(LinearConfig {
                out_features: 3,
                ..Default::default()
            }),
        ];
        let mut model = Sequential::new(&[1, 8, 8], &configs, 0).unwrap();
        assert_eq!(model.out_shape(), &[3]);
        let names: Vec<(&str, &[usize])> = (0..model.count())
            .map(|i| (model.name(i), model.shape(i)))
            .collect();
        assert_eq!(
            names,
            vec![
                ("0.weight", &[4, 1, 3, 3][..]),
                ("0.bias", &[4][..]),
                ("4.weight", &[3, 64][..]),
                ("4.bias", &[3][..]),
            ]
        );
        // Wrong channel count is caught at build time.
        assert!(Sequential::new(&[2, 8, 8], &configs[..1], 0).is_ok());
        let bad = [LayerConfig::Conv2d(Conv2dConfig::new(3, 4, 3))];
        assert!(Sequential::new(&[1, 8, 8], &bad, 0).is_err());

        let x = random_tensor(&[6, 1, 8, 8], 11);
        let labels = [0, 1, 2, 0, 1, 2];
        let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
        let recipe = optim::optimizers::sgd::SgdConfig {
            lr: 0.1,
            ..Default::default()
        }
        .recipe::<f32>()
        .unwrap();
        let mut opt = optim::Optimizer::new(recipe, &model).unwrap();
        model.zero_grad();
        let y = model.forward(&x, true);
        assert_eq!(y.shape, vec![6, 3]);
        let before = ce.forward(y, &labels).unwrap();
        let dx = model.backward(ce.grad());
        assert_eq!(dx.shape, vec![6, 1, 8, 8]);
        opt.step(&mut model).unwrap();
        let after = ce.forward(model.forward(&x, true), &labels).unwrap();
        assert!(after < before, "loss {before} → {after}");
    }

    #[test]
    fn per_example_norms_match_explicit_per_example_gradients() {
        let mut rng = Rng::new(4);
        let mut l = Conv::new_2d(&Conv2dConfig::new(2, 3, 3).padding(1), 2, &mut rng).unwrap();
        let x = random_tensor(&[3, 2, 4, 5], 9);
        let y_shape = [&[3][..], &l.out_shape(&[2, 4, 5]).unwrap()].concat();
        let dy = random_tensor(&y_shape, 10);
        l.forward(&x, true);
        let mut norms = vec![0.5; 3];
        let dx = l.backward_with_stats(&dy, &mut norms).unwrap().clone();
        for k in 0..3 {
            l.zero_grad();
            let mut sx = y_shape.clone();
            sx[0] = 1;
            let xk = Tensor::from_vec(&[1, 2, 4, 5], x.example(k).to_vec()).unwrap();
            let dyk = Tensor::from_vec(&sx, dy.example(k).to_vec()).unwrap();
            l.forward(&xk, true);
            let dxk = l.backward(&dyk);
            assert_all_close(&dxk.data, dx.example(k));
            let sq: f32 = l
                .parameters()
                .iter()
                .flat_map(|p| p.grad.iter())
                .map(|g| g * g)
                .sum();
            assert!(
                (sq + 0.5 - norms[k]).abs() <= 1e-4 * (1.0 + sq),
                "{sq} vs {}",
                norms[k]
            );
        }
        assert!(l.backward_with_stats(&dy, &mut [0.0; 2]).is_err());
    }
}
