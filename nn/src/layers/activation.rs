//! Elementwise activations with PyTorch's formulas and defaults.

use rayon::prelude::*;

use crate::layer::Layer;
use crate::{NnError, Result, Tensor};

/// An elementwise activation and its hyperparameters (PyTorch names and defaults via the
/// constructors: `leaky_relu()` slope 0.01, `elu()` alpha 1, `softplus()` beta 1 threshold 20).
/// The default is ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    #[default]
    Relu,
    LeakyRelu {
        negative_slope: f32,
    },
    Sigmoid,
    Tanh,
    Elu {
        alpha: f32,
    },
    /// Exact GELU, `x·Φ(x)` with `erf` (PyTorch's `approximate='none'`).
    Gelu,
    /// `x·σ(x)`.
    Silu,
    /// `log(1 + exp(βx))/β`, linear where `βx > threshold`.
    Softplus {
        beta: f32,
        threshold: f32,
    },
}

impl Activation {
    pub fn leaky_relu() -> Self {
        Activation::LeakyRelu {
            negative_slope: 0.01,
        }
    }

    pub fn elu() -> Self {
        Activation::Elu { alpha: 1.0 }
    }

    pub fn softplus() -> Self {
        Activation::Softplus {
            beta: 1.0,
            threshold: 20.0,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Elu { .. } => "elu",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
            Activation::Softplus { .. } => "softplus",
        }
    }

    pub fn validate(&self) -> Result<()> {
        match *self {
            Activation::LeakyRelu { negative_slope } if !negative_slope.is_finite() => {
                Err(NnError::config(
                    "leaky_relu",
                    "negative_slope",
                    negative_slope,
                    "must be finite",
                ))
            }
            Activation::Elu { alpha } if !alpha.is_finite() => {
                Err(NnError::config("elu", "alpha", alpha, "must be finite"))
            }
            Activation::Softplus { beta, .. } if !(beta.is_finite() && beta != 0.0) => Err(
                NnError::config("softplus", "beta", beta, "must be finite and non-zero"),
            ),
            Activation::Softplus { threshold, .. } if threshold.is_nan() => Err(NnError::config(
                "softplus",
                "threshold",
                threshold,
                "must not be NaN",
            )),
            _ => Ok(()),
        }
    }

    /// `f(x)`.
    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        match *self {
            Activation::Relu => relu(x),
            Activation::LeakyRelu { negative_slope } => {
                if x > 0.0 {
                    x
                } else {
                    x * negative_slope
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x.exp_m1()
                }
            }
            Activation::Gelu => 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)),
            Activation::Silu => x * sigmoid(x),
            Activation::Softplus { beta, threshold } => {
                if x * beta > threshold {
                    x
                } else {
                    (x * beta).exp().ln_1p() / beta
                }
            }
        }
    }

    /// Whether [`grad`](Self::grad) reads `x` (ReLU, sigmoid and tanh need only `y`).
    #[inline]
    pub fn grad_needs_x(&self) -> bool {
        !matches!(
            self,
            Activation::Relu | Activation::Sigmoid | Activation::Tanh
        )
    }

    /// `dy · f'(x)`, given `x` and `y = f(x)` (PyTorch's backward formulas).
    #[inline]
    pub fn grad(&self, x: f32, y: f32, dy: f32) -> f32 {
        match *self {
            Activation::Relu => {
                if y > 0.0 {
                    dy
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { negative_slope } => {
                if x > 0.0 {
                    dy
                } else {
                    dy * negative_slope
                }
            }
            Activation::Sigmoid => dy * (1.0 - y) * y,
            Activation::Tanh => dy * (1.0 - y * y),
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    dy
                } else {
                    dy * alpha * x.exp()
                }
            }
            Activation::Gelu => {
                const K: f32 =
                    std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2 * 0.5;
                let cdf = 0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2));
                let pdf = (-0.5 * x * x).exp() * K;
                dy * (cdf + x * pdf)
            }
            Activation::Silu => {
                let s = sigmoid(x);
                dy * s * (1.0 + x * (1.0 - s))
            }
            Activation::Softplus { beta, threshold } => {
                if x * beta > threshold {
                    dy
                } else {
                    let z = (x * beta).exp();
                    dy * z / (z + 1.0)
                }
            }
        }
    }

    /// `f''(x)`, given `x` and `y = f(x)` (what `grad` reads: ReLU, sigmoid and tanh need only
    /// `y`): the second derivative the R-backward pass needs ([`rop`](crate::rop)). Zero on
    /// the linear pieces of ReLU, leaky ReLU, ELU (`x > 0`) and softplus (`βx > threshold`),
    /// as autograd's double backward.
    #[inline]
    pub fn grad2(&self, x: f32, y: f32) -> f32 {
        match *self {
            Activation::Relu | Activation::LeakyRelu { .. } => 0.0,
            Activation::Sigmoid => y * (1.0 - y) * (1.0 - 2.0 * y),
            Activation::Tanh => -2.0 * y * (1.0 - y * y),
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    0.0
                } else {
                    alpha * x.exp()
                }
            }
            Activation::Gelu => {
                // (xΦ(x))'' = 2φ(x) + xφ'(x) = φ(x)(2 − x²).
                const K: f32 =
                    std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2 * 0.5;
                (-0.5 * x * x).exp() * K * (2.0 - x * x)
            }
            Activation::Silu => {
                let s = sigmoid(x);
                s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))
            }
            Activation::Softplus { beta, threshold } => {
                if x * beta > threshold {
                    0.0
                } else {
                    // β·σ(βx)(1 − σ(βx)) = β·z/(1 + z)² with z = e^{βx}.
                    let z = (x * beta).exp();
                    beta * z / ((1.0 + z) * (1.0 + z))
                }
            }
        }
    }
}

/// PyTorch's relu: a NaN stays NaN (so a broken value is not hidden as 0 downstream) and −0.0
/// stays −0.0 (`f32::max` made both 0).
#[inline]
fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Elements from which the elementwise passes split work across rayon threads.
const PAR_ELEMS: usize = 1 << 16;
const CHUNK: usize = 1 << 13;

/// `y[i] = f(x[i])`, split across rayon threads for large tensors.
#[inline]
fn map(y: &mut [f32], x: &[f32], f: impl Fn(f32) -> f32 + Sync + Send) {
    let run = |y: &mut [f32], x: &[f32]| y.iter_mut().zip(x).for_each(|(y, &x)| *y = f(x));
    if x.len() >= PAR_ELEMS {
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(y, x)| run(y, x));
    } else {
        run(y, x);
    }
}

/// `dx[i] = g(x[i], y[i], dy[i])`, split across rayon threads for large tensors.
#[inline]
fn map_grad(
    dx: &mut [f32],
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    g: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) {
    let run = |dx: &mut [f32], x: &[f32], y: &[f32], dy: &[f32]| {
        for (((d, &x), &y), &dy) in dx.iter_mut().zip(x).zip(y).zip(dy) {
            *d = g(x, y, dy);
        }
    };
    if dy.len() >= PAR_ELEMS {
        dx.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .zip(y.par_chunks(CHUNK))
            .zip(dy.par_chunks(CHUNK))
            .for_each(|(((dx, x), y), dy)| run(dx, x, y, dy));
    } else {
        run(dx, x, y, dy);
    }
}

/// `out[i] = f'(x[i])·r[i]`: [`map_grad`] with ReLU's loop of its own (as in the backward pass:
/// the per-element `match` would keep it from vectorising).
fn r_map(act: Activation, out: &mut [f32], x: &[f32], y: &[f32], r: &[f32]) {
    match act {
        Activation::Relu => map_grad(out, x, y, r, |_, y, r| if y > 0.0 { r } else { 0.0 }),
        _ => map_grad(out, x, y, r, move |x, y, r| act.grad(x, y, r)),
    }
}

/// The layer form of an [`Activation`]: caches its input and output for the backward pass.
#[derive(Debug)]
pub struct ActivationLayer {
    act: Activation,
    x: Tensor,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)): `R{x}` (meaningful when `has_rx`), `R{y}`,
    /// `R{dx}`.
    has_rx: bool,
    rx: Tensor,
    ry: Tensor,
    rdx: Tensor,
}

impl ActivationLayer {
    pub fn new(act: Activation) -> Result<Self> {
        act.validate()?;
        Ok(ActivationLayer {
            act,
            x: Tensor::default(),
            y: Tensor::default(),
            dx: Tensor::default(),
            has_rx: false,
            rx: Tensor::default(),
            ry: Tensor::default(),
            rdx: Tensor::default(),
        })
    }

    pub fn activation(&self) -> Activation {
        self.act
    }
}

impl Layer for ActivationLayer {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        self.act.name()
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        Ok(in_shape.to_vec())
    }

    fn forward(&mut self, x: &Tensor, _train: bool) -> &Tensor {
        let act = self.act;
        if act.grad_needs_x() {
            self.x.copy_from(x);
        }
        self.y.resize(&x.shape);
        // The common activations get loops of their own (the per-element `match` of
        // `apply` would keep the loop from vectorising); results are the same.
        match act {
            Activation::Relu => map(&mut self.y.data, &x.data, relu),
            Activation::Sigmoid => map(&mut self.y.data, &x.data, sigmoid),
            Activation::Tanh => map(&mut self.y.data, &x.data, f32::tanh),
            _ => map(&mut self.y.data, &x.data, move |v| act.apply(v)),
        }
        &self.y
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        assert_eq!(
            dy.shape,
            self.y.shape,
            "{}: gradient shape differs from output",
            self.act.name()
        );
        let act = self.act;
        self.dx.resize(&dy.shape);
        // Activations whose derivative needs only the output did not keep the input: pass the
        // output in its place (their `grad` ignores it).
        let x = if act.grad_needs_x() { &self.x } else { &self.y };
        let (dx, x, y) = (&mut self.dx.data, &x.data, &self.y.data);
        match act {
            Activation::Relu => {
                map_grad(dx, x, y, &dy.data, |_, y, d| if y > 0.0 { d } else { 0.0 })
            }
            _ => map_grad(dx, x, y, &dy.data, move |x, y, d| act.grad(x, y, d)),
        }
        &self.dx
    }

    /// `R{y} = f'(x)·R{x}`.
    fn forward_r(&mut self, rx: Option<&Tensor>, _v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        self.has_rx = rx.is_some();
        let Some(rx) = rx else {
            return Ok(None);
        };
        assert_eq!(rx.shape, self.y.shape, "{}: R{{x}} shape", self.act.name());
        let act = self.act;
        self.rx.copy_from(rx);
        self.ry.resize(&rx.shape);
        let x = if act.grad_needs_x() { &self.x } else { &self.y };
        r_map(act, &mut self.ry.data, &x.data, &self.y.data, &rx.data);
        Ok(Some(&self.ry))
    }

    /// `dx = f'(x)·dy`, `R{dx} = f'(x)·R{dy} + f''(x)·R{x}·dy`.
    fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        _v: &[Vec<f32>],
        _hv: &mut [Vec<f32>],
        _need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        assert_eq!(rdy.shape, dy.shape, "{}: R{{dy}} shape", self.act.name());
        self.backward(dy);
        let act = self.act;
        self.rdx.resize(&dy.shape);
        let x = if act.grad_needs_x() { &self.x } else { &self.y };
        let (x, y) = (&x.data, &self.y.data);
        r_map(act, &mut self.rdx.data, x, y, &rdy.data);
        // ReLU and leaky ReLU are piecewise linear: no second-order term.
        let curved = !matches!(act, Activation::Relu | Activation::LeakyRelu { .. });
        if self.has_rx && curved {
            for ((((o, &x), &y), &d), &r) in self
                .rdx
                .data
                .iter_mut()
                .zip(x)
                .zip(y)
                .zip(&dy.data)
                .zip(&self.rx.data)
            {
                *o += act.grad2(x, y) * r * d;
            }
        }
        Ok((&self.dx, &self.rdx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{check_layer, random_tensor};

    fn all() -> Vec<Activation> {
        vec![
            Activation::Relu,
            Activation::leaky_relu(),
            Activation::LeakyRelu {
                negative_slope: 0.3,
            },
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::elu(),
            Activation::Elu { alpha: 0.5 },
            Activation::Gelu,
            Activation::Silu,
            Activation::softplus(),
            Activation::Softplus {
                beta: 2.0,
                threshold: 1.0,
            },
        ]
    }

    #[test]
    fn values_match_pytorch() {
        let at = |a: Activation, x: f32| a.apply(x);
        assert_eq!(at(Activation::Relu, -1.0), 0.0);
        assert_eq!(at(Activation::leaky_relu(), -2.0), -0.02);
        assert!((at(Activation::Sigmoid, 1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((at(Activation::Sigmoid, -100.0)).abs() < 1e-30);
        assert!((at(Activation::elu(), -1.0) - (-0.632_120_56)).abs() < 1e-6);
        // torch.nn.functional.gelu(torch.tensor([1.0, -0.5])) = [0.8413447, -0.1542687]
        assert!((at(Activation::Gelu, 1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((at(Activation::Gelu, -0.5) - (-0.154_268_7)).abs() < 1e-6);
        assert!((at(Activation::Silu, 1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((at(Activation::softplus(), 0.0) - std::f32::consts::LN_2).abs() < 1e-6);
        assert_eq!(at(Activation::softplus(), 30.0), 30.0);
        let e = Activation::Softplus {
            beta: 0.0,
            threshold: 20.0,
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("beta = 0"), "{e}");
        assert!(ActivationLayer::new(Activation::LeakyRelu {
            negative_slope: f32::NAN
        })
        .is_err());
        // torch.relu(torch.tensor([nan, -0.0])) = [nan, -0.]: a NaN is not hidden as 0 (it was,
        // through f32::max), and the sign of zero is kept.
        assert!(at(Activation::Relu, f32::NAN).is_nan());
        let z = at(Activation::Relu, -0.0);
        assert!(z == 0.0 && z.is_sign_negative());
        assert!(at(Activation::leaky_relu(), f32::NAN).is_nan());
        // The layer's own loop too.
        let mut l = ActivationLayer::new(Activation::Relu).unwrap();
        let x = Tensor::from_vec(&[1, 3], vec![f32::NAN, -0.0, -2.0]).unwrap();
        let y = l.forward(&x, true);
        assert!(y.data[0].is_nan() && y.data[1].is_sign_negative() && y.data[2] == 0.0);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = random_tensor(&[3, 5], 11);
        for (k, a) in all().into_iter().enumerate() {
            let mut l = ActivationLayer::new(a).unwrap();
            check_layer(&mut l, &x, 20 + k as u64);
        }
    }

    #[test]
    fn parallel_path_equals_serial() {
        let x = random_tensor(&[2, PAR_ELEMS], 5);
        let dy = random_tensor(&[2, PAR_ELEMS], 6);
        let mut l = ActivationLayer::new(Activation::Gelu).unwrap();
        let y = l.forward(&x, true).clone();
        let dx = l.backward(&dy).clone();
        for j in (0..x.numel()).step_by(997) {
            assert_eq!(y.data[j], Activation::Gelu.apply(x.data[j]));
            assert_eq!(
                dx.data[j],
                Activation::Gelu.grad(x.data[j], y.data[j], dy.data[j])
            );
        }
    }
}
