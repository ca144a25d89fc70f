//! The `f64` pieces of the exact diagonal's layers: activations with their first and second
//! derivatives (the engine's formulas, PyTorch's conventions at the kinks), and the sliding
//! windows of convolutions and pools (which input element each tap of each output position
//! reads; padding taps read nothing).

use nn::Activation;

/// `(f(x), f′(x), f″(x))` of `act` at `x`, as the engine's `Activation::{apply, grad, grad2}`
/// (ReLU's derivative 0 at 0, the linear pieces' second derivative 0) in `f64`.
pub(super) fn activation(act: Activation, x: f64) -> (f64, f64, f64) {
    match act {
        Activation::Relu => {
            if x > 0.0 {
                (x, 1.0, 0.0)
            } else {
                (0.0, 0.0, 0.0)
            }
        }
        Activation::LeakyRelu { negative_slope } => {
            let a = negative_slope as f64;
            if x > 0.0 {
                (x, 1.0, 0.0)
            } else {
                (a * x, a, 0.0)
            }
        }
        Activation::Sigmoid => {
            let y = sigmoid(x);
            (y, y * (1.0 - y), y * (1.0 - y) * (1.0 - 2.0 * y))
        }
        Activation::Tanh => {
            let y = x.tanh();
            (y, 1.0 - y * y, -2.0 * y * (1.0 - y * y))
        }
        Activation::Elu { alpha } => {
            if x > 0.0 {
                (x, 1.0, 0.0)
            } else {
                let a = alpha as f64;
                (a * x.exp_m1(), a * x.exp(), a * x.exp())
            }
        }
        Activation::Gelu => {
            let cdf = 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            (x * cdf, cdf + x * pdf, pdf * (2.0 - x * x))
        }
        Activation::Silu => {
            let s = sigmoid(x);
            (
                x * s,
                s * (1.0 + x * (1.0 - s)),
                s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s)),
            )
        }
        Activation::Softplus { beta, threshold } => {
            let (b, t) = (beta as f64, threshold as f64);
            if x * b > t {
                (x, 1.0, 0.0)
            } else {
                let z = (x * b).exp();
                (
                    z.ln_1p() / b,
                    z / (1.0 + z),
                    b * z / ((1.0 + z) * (1.0 + z)),
                )
            }
        }
    }
}

/// Whether `act` has a second derivative anywhere (ReLU and leaky ReLU are piecewise linear:
/// they add no term of their own, so the factored Hessian keeps its rank through them).
pub(super) fn curved(act: Activation) -> bool {
    !matches!(act, Activation::Relu | Activation::LeakyRelu { .. })
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// A sliding window over one `[H, W]` plane (1-d layers: `H = 1`), as the engine's convolution
/// and pooling place it (`out = (in + 2p − d(k−1) − 1)/s + 1`).
#[derive(Clone, Debug)]
pub(super) struct Window {
    /// Input plane size `H·W`.
    pub plane_in: usize,
    /// Output positions `Ho·Wo`.
    pub positions: usize,
    /// Taps per window `kh·kw`.
    pub taps: usize,
    /// `(position, tap, input index in the plane)` of every in-bounds tap, by position, taps
    /// in row-major kernel order (the engine's order: the first maximum of a pool wins).
    pub reads: Vec<(usize, usize, usize)>,
    /// `reads[starts[q]..starts[q + 1]]` are position `q`'s.
    pub starts: Vec<usize>,
}

impl Window {
    /// The reads of output position `q`.
    pub fn at(&self, q: usize) -> &[(usize, usize, usize)] {
        &self.reads[self.starts[q]..self.starts[q + 1]]
    }

    /// The window of kernel `k`, stride `s`, padding `p`, dilation `d` over an `[h, w]` plane
    /// whose output is `[ho, wo]`.
    pub fn new(
        [h, w]: [usize; 2],
        [ho, wo]: [usize; 2],
        k: [usize; 2],
        s: [usize; 2],
        p: [usize; 2],
        d: [usize; 2],
    ) -> Window {
        let mut reads = Vec::new();
        for oh in 0..ho {
            for ow in 0..wo {
                for ki in 0..k[0] {
                    let ih = (oh * s[0] + ki * d[0]) as isize - p[0] as isize;
                    if ih < 0 || ih >= h as isize {
                        continue;
                    }
                    for kj in 0..k[1] {
                        let iw = (ow * s[1] + kj * d[1]) as isize - p[1] as isize;
                        if iw >= 0 && iw < w as isize {
                            reads.push((
                                oh * wo + ow,
                                ki * k[1] + kj,
                                ih as usize * w + iw as usize,
                            ));
                        }
                    }
                }
            }
        }
        let mut starts = vec![reads.len(); ho * wo + 1];
        for (k, r) in reads.iter().enumerate().rev() {
            starts[r.0] = k;
        }
        for q in (0..ho * wo).rev() {
            starts[q] = starts[q].min(starts[q + 1]);
        }
        Window {
            starts,
            plane_in: h * w,
            positions: ho * wo,
            taps: k[0] * k[1],
            reads,
        }
    }
}
