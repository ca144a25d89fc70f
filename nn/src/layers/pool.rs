//! Pooling with PyTorch's semantics: `nn.MaxPool2d`, `nn.MaxPool1d`, `nn.AvgPool2d`
//! (`count_include_pad = true`, `ceil_mode = false`) and global average pooling
//! (`[N, C, H, W] → [N, C]`, as `AdaptiveAvgPool2d(1)` followed by `Flatten`).

use rayon::prelude::*;

use super::conv::out_len;
use crate::layer::Layer;
use crate::{NnError, Result, Tensor};

/// Elements from which pooling splits its planes across rayon threads.
const PAR_ELEMS: usize = 1 << 16;

/// Configuration of a 2-d max or average pool. `stride = None` means `stride = kernel_size`
/// (PyTorch's default); padding is at most half the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dConfig {
    pub kernel_size: [usize; 2],
    pub stride: Option<[usize; 2]>,
    pub padding: [usize; 2],
}

impl Pool2dConfig {
    /// A square `k × k` window with stride `k` and no padding.
    pub fn new(kernel_size: usize) -> Self {
        Pool2dConfig {
            kernel_size: [kernel_size; 2],
            stride: None,
            padding: [0, 0],
        }
    }

    /// The same stride along both dimensions.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = Some([s; 2]);
        self
    }

    /// The same padding along both dimensions.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = [p; 2];
        self
    }

    pub fn validate(&self) -> Result<()> {
        let s = self.stride.unwrap_or(self.kernel_size);
        for ((&k, &s), &p) in self.kernel_size.iter().zip(&s).zip(&self.padding) {
            if k == 0 {
                return Err(NnError::config(
                    "pool",
                    "kernel_size",
                    0,
                    "must be positive",
                ));
            }
            if s == 0 {
                return Err(NnError::config("pool", "stride", 0, "must be positive"));
            }
            if 2 * p > k {
                return Err(NnError::config(
                    "pool",
                    "padding",
                    p,
                    "must be at most half the kernel size",
                ));
            }
        }
        Ok(())
    }
}

/// Configuration of a 1-d max pool on `[N, C, L]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool1dConfig {
    pub kernel_size: usize,
    pub stride: Option<usize>,
    pub padding: usize,
}

impl Pool1dConfig {
    pub fn new(kernel_size: usize) -> Self {
        Pool1dConfig {
            kernel_size,
            stride: None,
            padding: 0,
        }
    }

    fn as_2d(&self) -> Pool2dConfig {
        Pool2dConfig {
            kernel_size: [1, self.kernel_size],
            stride: Some([1, self.stride.unwrap_or(self.kernel_size)]),
            padding: [0, self.padding],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Max,
    Avg,
}

/// A max or average pool over `[N, C, H, W]` (or `[N, C, L]` for the 1-d max pool). Max pooling
/// caches the argmax of every window for the backward pass (the first maximum wins on ties).
#[derive(Debug)]
pub struct Pool {
    mode: Mode,
    one_d: bool,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    /// Input-plane geometry of the last forward: (H, W, Ho, Wo).
    geom: (usize, usize, usize, usize),
    argmax: Vec<usize>,
    x_shape: Vec<usize>,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)).
    ry: Tensor,
    rdx: Tensor,
}

impl Pool {
    fn make(cfg: &Pool2dConfig, mode: Mode, one_d: bool) -> Result<Self> {
        cfg.validate()?;
        Ok(Pool {
            mode,
            one_d,
            k: cfg.kernel_size,
            s: cfg.stride.unwrap_or(cfg.kernel_size),
            p: cfg.padding,
            geom: (0, 0, 0, 0),
            argmax: Vec::new(),
            x_shape: Vec::new(),
            y: Tensor::default(),
            dx: Tensor::default(),
            ry: Tensor::default(),
            rdx: Tensor::default(),
        })
    }

    /// `nn.MaxPool2d`.
    pub fn max_2d(cfg: &Pool2dConfig) -> Result<Self> {
        Self::make(cfg, Mode::Max, false)
    }

    /// `nn.MaxPool1d`.
    pub fn max_1d(cfg: &Pool1dConfig) -> Result<Self> {
        Self::make(&cfg.as_2d(), Mode::Max, true)
    }

    /// `nn.AvgPool2d` with `count_include_pad = true`: every window divides by `kh·kw`.
    pub fn avg_2d(cfg: &Pool2dConfig) -> Result<Self> {
        Self::make(cfg, Mode::Avg, false)
    }

    /// `nn.AvgPool1d` with `count_include_pad = true`.
    pub fn avg_1d(cfg: &Pool1dConfig) -> Result<Self> {
        Self::make(&cfg.as_2d(), Mode::Avg, true)
    }

    /// Whether it is a max pool (else an average pool).
    pub fn is_max(&self) -> bool {
        self.mode == Mode::Max
    }

    /// The window as a 2-d pool (`[h, w]` pairs, the stride explicit; a 1-d pool has kernel 1,
    /// stride 1 and padding 0 along `h`, its input read as `H = 1`).
    pub fn config(&self) -> Pool2dConfig {
        Pool2dConfig {
            kernel_size: self.k,
            stride: Some(self.s),
            padding: self.p,
        }
    }

    /// `(C, H, W, Ho, Wo)` for a per-example shape.
    fn geometry(&self, s: &[usize]) -> Result<(usize, usize, usize, usize, usize)> {
        let (c, h, w) = match (self.one_d, s) {
            (true, &[c, l]) => (c, 1, l),
            (false, &[c, h, w]) => (c, h, w),
            _ => {
                return Err(NnError::Shape(format!(
                    "{} expects per-example inputs [C, {}], got {s:?}",
                    self.kind(),
                    if self.one_d { "L" } else { "H, W" }
                )))
            }
        };
        match (
            out_len(h, self.k[0], self.s[0], self.p[0], 1),
            out_len(w, self.k[1], self.s[1], self.p[1], 1),
        ) {
            (Some(ho), Some(wo)) => Ok((c, h, w, ho, wo)),
            _ => Err(NnError::Shape(format!(
                "{}: kernel {:?} does not fit input {s:?} padded by {:?}",
                self.kind(),
                self.k,
                self.p
            ))),
        }
    }

    /// Calls `f(out_index_in_plane, in_index_in_plane)` for each in-bounds tap of each window.
    #[inline]
    fn windows(&self, mut f: impl FnMut(usize, usize)) {
        let (h, w, ho, wo) = self.geom;
        for oh in 0..ho {
            for ow in 0..wo {
                for ki in 0..self.k[0] {
                    let ih = (oh * self.s[0] + ki) as isize - self.p[0] as isize;
                    if ih < 0 || ih >= h as isize {
                        continue;
                    }
                    for kj in 0..self.k[1] {
                        let iw = (ow * self.s[1] + kj) as isize - self.p[1] as isize;
                        if iw >= 0 && iw < w as isize {
                            f(oh * wo + ow, ih as usize * w + iw as usize);
                        }
                    }
                }
            }
        }
    }
}

impl Layer for Pool {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        match (self.mode, self.one_d) {
            (Mode::Max, false) => "max_pool2d",
            (Mode::Max, true) => "max_pool1d",
            (Mode::Avg, false) => "avg_pool2d",
            (Mode::Avg, true) => "avg_pool1d",
        }
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        let (c, _, _, ho, wo) = self.geometry(in_shape)?;
        Ok(if self.one_d {
            vec![c, wo]
        } else {
            vec![c, ho, wo]
        })
    }

    fn forward(&mut self, x: &Tensor, _train: bool) -> &Tensor {
        assert!(!x.shape.is_empty(), "{}: scalar input", self.kind());
        let (c, h, w, ho, wo) = self
            .geometry(&x.shape[1..])
            .unwrap_or_else(|e| panic!("{e}"));
        let n = x.shape[0];
        self.geom = (h, w, ho, wo);
        self.x_shape.clone_from(&x.shape);
        if self.one_d {
            self.y.resize(&[n, c, wo]);
        } else {
            self.y.resize(&[n, c, ho, wo]);
        }
        let (plane_in, plane_out) = (h * w, ho * wo);
        let mut y = std::mem::take(&mut self.y);
        match self.mode {
            Mode::Max => {
                self.argmax.resize(y.numel(), 0);
                let mut argmax = std::mem::take(&mut self.argmax);
                let this = &*self;
                let plane = |pl: usize, yp: &mut [f32], ap: &mut [usize]| {
                    let xp = &x.data[pl * plane_in..(pl + 1) * plane_in];
                    let base = pl * plane_in;
                    if this.k == [2, 2] && this.s == [2, 2] && this.p == [0, 0] {
                        // The common 2 × 2 / stride 2 window, taps in the same order.
                        for oh in 0..ho {
                            let r0 = 2 * oh * w;
                            let r1 = r0 + w;
                            for ow in 0..wo {
                                let i0 = r0 + 2 * ow;
                                let i1 = r1 + 2 * ow;
                                let (mut m, mut a) = (xp[i0], i0);
                                for i in [i0 + 1, i1, i1 + 1] {
                                    // NaN wins and stays, as in PyTorch's max pooling.
                                    if xp[i] > m || xp[i].is_nan() {
                                        m = xp[i];
                                        a = i;
                                    }
                                }
                                yp[oh * wo + ow] = m;
                                ap[oh * wo + ow] = base + a;
                            }
                        }
                        return;
                    }
                    let mut first = usize::MAX;
                    this.windows(|o, i| {
                        // A new window starts when the output index changes.
                        if o != first {
                            first = o;
                            yp[o] = xp[i];
                            ap[o] = base + i;
                        } else if xp[i] > yp[o] || xp[i].is_nan() {
                            yp[o] = xp[i];
                            ap[o] = base + i;
                        }
                    });
                };
                if y.numel() >= PAR_ELEMS && plane_out > 0 {
                    y.data
                        .par_chunks_mut(plane_out)
                        .zip(argmax.par_chunks_mut(plane_out))
                        .enumerate()
                        .for_each(|(pl, (yp, ap))| plane(pl, yp, ap));
                } else {
                    for (pl, (yp, ap)) in y
                        .data
                        .chunks_exact_mut(plane_out)
                        .zip(argmax.chunks_exact_mut(plane_out))
                        .enumerate()
                    {
                        plane(pl, yp, ap);
                    }
                }
                self.argmax = argmax;
            }
            Mode::Avg => {
                y.fill(0.0);
                let scale = 1.0 / (self.k[0] * self.k[1]) as f32;
                for (pl, yp) in y.data.chunks_exact_mut(plane_out).enumerate() {
                    let xp = &x.data[pl * plane_in..(pl + 1) * plane_in];
                    self.windows(|o, i| yp[o] += xp[i]);
                    yp.iter_mut().for_each(|v| *v *= scale);
                }
            }
        }
        self.y = y;
        &self.y
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        let (h, w, ho, wo) = self.geom;
        let (plane_in, plane_out) = (h * w, ho * wo);
        assert_eq!(
            dy.numel(),
            self.y.numel(),
            "{}: gradient shape {:?} does not match the last forward",
            self.kind(),
            dy.shape
        );
        self.dx.resize(&self.x_shape);
        match self.mode {
            Mode::Max => {
                // Each plane's argmax points into that plane: planes are independent.
                type Plane<'a> = (usize, (&'a mut [f32], (&'a [usize], &'a [f32])));
                let scatter = |(pl, (dxp, (ap, dyp))): Plane<'_>| {
                    dxp.fill(0.0);
                    let base = pl * plane_in;
                    for (&a, &d) in ap.iter().zip(dyp) {
                        dxp[a - base] += d;
                    }
                };
                if plane_in == 0 || plane_out == 0 {
                    self.dx.fill(0.0);
                } else if dy.numel() >= PAR_ELEMS {
                    self.dx
                        .data
                        .par_chunks_mut(plane_in)
                        .zip(
                            self.argmax
                                .par_chunks(plane_out)
                                .zip(dy.data.par_chunks(plane_out)),
                        )
                        .enumerate()
                        .for_each(scatter);
                } else {
                    self.dx
                        .data
                        .chunks_exact_mut(plane_in)
                        .zip(
                            self.argmax
                                .chunks_exact(plane_out)
                                .zip(dy.data.chunks_exact(plane_out)),
                        )
                        .enumerate()
                        .for_each(scatter);
                }
            }
            Mode::Avg => {
                self.dx.fill(0.0);
                let scale = 1.0 / (self.k[0] * self.k[1]) as f32;
                let mut dx = std::mem::take(&mut self.dx);
                for (dxp, dyp) in dx
                    .data
                    .chunks_exact_mut(plane_in)
                    .zip(dy.data.chunks_exact(plane_out))
                {
                    self.windows(|o, i| dxp[i] += scale * dyp[o]);
                }
                self.dx = dx;
            }
        }
        &self.dx
    }

    /// Max: `R{y} = R{x}[argmax]` through the argmax the last forward recorded; average: the
    /// (linear) forward run on `R{x}` into the R-buffer (buffers swapped around the call).
    fn forward_r(&mut self, rx: Option<&Tensor>, _v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        let Some(rx) = rx else {
            return Ok(None);
        };
        assert_eq!(rx.shape, self.x_shape, "{}: R{{x}} shape", self.kind());
        match self.mode {
            Mode::Max => {
                self.ry.resize(&self.y.shape);
                for (r, &a) in self.ry.data.iter_mut().zip(&self.argmax) {
                    *r = rx.data[a];
                }
            }
            Mode::Avg => {
                std::mem::swap(&mut self.y, &mut self.ry);
                self.forward(rx, true);
                std::mem::swap(&mut self.y, &mut self.ry);
            }
        }
        Ok(Some(&self.ry))
    }

    /// `(dx, R{dx})`: the (linear, argmax-routed) backward of `dy` and of `R{dy}`.
    fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        _v: &[Vec<f32>],
        _hv: &mut [Vec<f32>],
        _need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        self.backward(rdy);
        std::mem::swap(&mut self.dx, &mut self.rdx);
        self.backward(dy);
        Ok((&self.dx, &self.rdx))
    }
}

/// Global average pooling: `[N, C, H, W] → [N, C]` (any number of trailing spatial
/// dimensions, e.g. `[N, C, L] → [N, C]`).
#[derive(Debug, Default)]
pub struct GlobalAvgPool {
    x_shape: Vec<usize>,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)).
    ry: Tensor,
    rdx: Tensor,
}

impl GlobalAvgPool {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Layer for GlobalAvgPool {
    fn kind(&self) -> &'static str {
        "global_avg_pool"
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        if in_shape.len() < 2 || in_shape[1..].iter().product::<usize>() == 0 {
            return Err(NnError::Shape(format!(
                "global_avg_pool expects non-empty per-example inputs [C, spatial…], got \
                 {in_shape:?}"
            )));
        }
        Ok(vec![in_shape[0]])
    }

    fn forward(&mut self, x: &Tensor, _train: bool) -> &Tensor {
        assert!(x.shape.len() >= 3, "global_avg_pool: input {:?}", x.shape);
        let (n, c) = (x.shape[0], x.shape[1]);
        let s: usize = x.shape[2..].iter().product();
        self.x_shape.clone_from(&x.shape);
        self.y.resize(&[n, c]);
        let inv = 1.0 / s as f32;
        for (y, plane) in self.y.data.iter_mut().zip(x.data.chunks_exact(s)) {
            *y = plane.iter().sum::<f32>() * inv;
        }
        &self.y
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        self.dx.resize(&self.x_shape);
        let s: usize = self.x_shape[2..].iter().product();
        assert_eq!(
            dy.numel() * s,
            self.dx.numel(),
            "global_avg_pool: gradient shape"
        );
        let inv = 1.0 / s as f32;
        for (plane, &d) in self.dx.data.chunks_exact_mut(s).zip(&dy.data) {
            plane.iter_mut().for_each(|v| *v = d * inv);
        }
        &self.dx
    }

    /// The (linear) forward run on `R{x}` into the R-buffer (buffers swapped around the call).
    fn forward_r(&mut self, rx: Option<&Tensor>, _v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        let Some(rx) = rx else {
            return Ok(None);
        };
        assert_eq!(rx.shape, self.x_shape, "global_avg_pool: R{{x}} shape");
        std::mem::swap(&mut self.y, &mut self.ry);
        self.forward(rx, true);
        std::mem::swap(&mut self.y, &mut self.ry);
        Ok(Some(&self.ry))
    }

    /// `(dx, R{dx})`: the (linear) backward of `dy` and of `R{dy}`.
    fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        _v: &[Vec<f32>],
        _hv: &mut [Vec<f32>],
        _need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        self.backward(rdy);
        std::mem::swap(&mut self.dx, &mut self.rdx);
        self.backward(dy);
        Ok((&self.dx, &self.rdx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{check_layer, random_tensor};
    use crate::Rng;

    /// 0..16 in a 4×4 plane, shuffled so that maxima are not always bottom-right.
    fn grid() -> Tensor {
        let v = [
            3., 7., 1., 0., //
            5., 2., 9., 4., //
            8., 6., 10., 15., //
            11., 12., 14., 13.,
        ];
        Tensor::from_vec(&[1, 1, 4, 4], v.to_vec()).unwrap()
    }

    #[test]
    fn max_pool_by_hand() {
        let mut p = Pool::max_2d(&Pool2dConfig::new(2)).unwrap();
        assert_eq!(p.out_shape(&[1, 4, 4]).unwrap(), vec![1, 2, 2]);
        let y = p.forward(&grid(), false);
        assert_eq!(y.shape, vec![1, 1, 2, 2]);
        assert_eq!(y.data, vec![7., 9., 12., 15.]);
        let dy = Tensor::from_vec(&[1, 1, 2, 2], vec![1., 2., 3., 4.]).unwrap();
        let dx = p.backward(&dy);
        let mut want = vec![0.; 16];
        (want[1], want[6], want[13], want[11]) = (1., 2., 3., 4.);
        assert_eq!(dx.data, want);
        // Overlapping windows, stride 1: 3×3 outputs.
        let mut p = Pool::max_2d(&Pool2dConfig::new(2).stride(1)).unwrap();
        let y = p.forward(&grid(), false);
        assert_eq!(y.data, vec![7., 9., 9., 8., 10., 15., 12., 14., 15.]);
        // Padding 1: windows over the border see only real values.
        let mut p = Pool::max_2d(&Pool2dConfig::new(2).padding(1)).unwrap();
        let y = p.forward(&grid(), false);
        assert_eq!(y.shape, vec![1, 1, 3, 3]);
        assert_eq!(y.data, vec![3., 7., 0., 8., 10., 15., 11., 14., 13.]);
        assert!(Pool::max_2d(&Pool2dConfig::new(2).padding(2)).is_err());
        assert!(Pool::max_2d(&Pool2dConfig::new(0)).is_err());
        assert!(p.out_shape(&[4, 4]).is_err());
        // A NaN anywhere in a window is its maximum, as in PyTorch's max pooling (it was kept
        // only as a window's first tap): on the 2 × 2 fast path and on the general one.
        for (cfg, at) in [
            (Pool2dConfig::new(2), [0usize, 1, 4, 5]),
            (Pool2dConfig::new(2).stride(1), [0, 1, 4, 5]),
        ] {
            for i in at {
                let mut x = grid();
                x.data[i] = f32::NAN;
                let mut p = Pool::max_2d(&cfg).unwrap();
                let y = p.forward(&x, false);
                assert!(y.data[0].is_nan(), "{cfg:?}, NaN at {i}: {:?}", y.data);
                assert!(y.data.iter().skip(1).any(|v| !v.is_nan()) || y.data.len() == 1);
            }
        }
    }

    #[test]
    fn avg_and_global_pool_by_hand() {
        let mut p = Pool::avg_2d(&Pool2dConfig::new(2)).unwrap();
        let y = p.forward(&grid(), false);
        assert_eq!(y.data, vec![17. / 4., 14. / 4., 37. / 4., 52. / 4.]);
        let dy = Tensor::from_vec(&[1, 1, 2, 2], vec![4., 8., 12., 16.]).unwrap();
        let dx = p.backward(&dy);
        assert_eq!(&dx.data[..4], &[1., 1., 2., 2.]);
        assert_eq!(&dx.data[12..], &[3., 3., 4., 4.]);
        // count_include_pad: the corner window with padding 1 divides by 4.
        let mut p = Pool::avg_2d(&Pool2dConfig::new(2).padding(1)).unwrap();
        assert_eq!(p.forward(&grid(), false).data[0], 3. / 4.);

        let mut g = GlobalAvgPool::new();
        assert_eq!(g.out_shape(&[3, 4, 4]).unwrap(), vec![3]);
        let mut x = grid();
        x.data.extend((0..16).map(|v| v as f32 * 2.0));
        x.shape = vec![1, 2, 4, 4];
        let y = g.forward(&x, false);
        assert_eq!(y.shape, vec![1, 2]);
        assert_eq!(y.data, vec![7.5, 15.0]);
        let dx = g.backward(&Tensor::from_vec(&[1, 2], vec![16., 32.]).unwrap());
        assert!(dx.data[..16].iter().all(|&v| v == 1.0));
        assert!(dx.data[16..].iter().all(|&v| v == 2.0));
    }

    /// Distinct values far enough apart that ±1e-3 never changes an argmax.
    fn distinct(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut rng = Rng::new(seed);
        let mut idx: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            idx.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let data = idx.iter().map(|&i| i as f32 * 0.05 - 1.0).collect();
        Tensor::from_vec(shape, data).unwrap()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut p = Pool::max_2d(&Pool2dConfig::new(3).stride(2).padding(1)).unwrap();
        check_layer(&mut p, &distinct(&[2, 2, 5, 6], 1), 2);
        let mut p = Pool::max_1d(&Pool1dConfig::new(2)).unwrap();
        assert_eq!(p.out_shape(&[3, 7]).unwrap(), vec![3, 3]);
        check_layer(&mut p, &distinct(&[2, 3, 7], 3), 4);
        let mut p = Pool::avg_2d(&Pool2dConfig::new(2).stride(1).padding(1)).unwrap();
        check_layer(&mut p, &random_tensor(&[2, 2, 4, 5], 5), 6);
        let mut p = Pool::avg_1d(&Pool1dConfig {
            kernel_size: 3,
            stride: Some(2),
            padding: 1,
        })
        .unwrap();
        assert_eq!(p.out_shape(&[2, 7]).unwrap(), vec![2, 4]);
        check_layer(&mut p, &random_tensor(&[2, 2, 7], 9), 10);
        // count_include_pad: [1, 2, 3] padded by one each side, windows of 3 with stride 2.
        let x = Tensor::from_vec(&[1, 1, 3], vec![1., 2., 3.]).unwrap();
        let y = p.forward(&x, false);
        assert_eq!(y.data[0], 1.0);
        assert!((y.data[1] - 5. / 3.).abs() < 1e-6, "{:?}", y.data);
        check_layer(
            &mut GlobalAvgPool::new(),
            &random_tensor(&[3, 2, 3, 3], 7),
            8,
        );
    }
}
