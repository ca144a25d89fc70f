//! `Linear`: `y = x · Wᵀ + b`, PyTorch's `nn.Linear`.

use optim::Param;

use crate::layer::{check_stats_len, contribution, write_or_add, Layer};
use crate::{init, matmul, rop, NnError, Result, Rng, Tensor};

/// Configuration of a [`Linear`] layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearConfig {
    /// Input features; `None` infers them from the input shape (as `nn.LazyLinear`).
    pub in_features: Option<usize>,
    pub out_features: usize,
    /// Whether the layer has a bias (PyTorch default `true`).
    pub bias: bool,
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig {
            in_features: None,
            out_features: 1,
            bias: true,
        }
    }
}

impl LinearConfig {
    /// `in_features → out_features` with a bias.
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig {
            in_features: Some(in_features),
            out_features,
            bias: true,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.out_features == 0 {
            return Err(NnError::config(
                "linear",
                "out_features",
                0,
                "must be positive",
            ));
        }
        if self.in_features == Some(0) {
            return Err(NnError::config(
                "linear",
                "in_features",
                0,
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// A fully connected layer over the last dimension: input `[*, in]`, output `[*, out]`.
/// Weight `[out, in]`, bias `[out]`, both initialised as PyTorch does: `U(±1/√in)` (for the
/// weight that is `kaiming_uniform_(a=√5)`).
#[derive(Debug)]
pub struct Linear {
    in_features: usize,
    out_features: usize,
    params: Vec<Param<f32>>,
    x: Tensor,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)): `R{x}` (meaningful when `has_rx`; `R{x} = 0`
    /// otherwise), `R{y}`, `R{dx}`.
    has_rx: bool,
    rx: Tensor,
    ry: Tensor,
    rdx: Tensor,
}

impl Linear {
    /// A layer for `in_features` inputs (must agree with `cfg.in_features` when given),
    /// initialised from `rng`.
    pub fn new(cfg: &LinearConfig, in_features: usize, rng: &mut Rng) -> Result<Self> {
        cfg.validate()?;
        if let Some(i) = cfg.in_features {
            if i != in_features {
                return Err(NnError::Shape(format!(
                    "linear: in_features = {i} but the input has {in_features} features"
                )));
            }
        }
        if in_features == 0 {
            return Err(NnError::config(
                "linear",
                "in_features",
                0,
                "must be positive",
            ));
        }
        let (i, o) = (in_features, cfg.out_features);
        let mut w = Param::zeros("weight", &[o, i]);
        let a = 5f64.sqrt();
        init::kaiming_uniform(
            &mut w.value,
            &[o, i],
            a,
            init::FanMode::FanIn,
            init::Nonlinearity::LeakyRelu(a),
            rng,
        )?;
        let mut params = vec![w];
        if cfg.bias {
            let mut b = Param::zeros("bias", &[o]);
            let bound = 1.0 / (i as f64).sqrt();
            init::uniform(&mut b.value, -bound, bound, rng);
            params.push(b);
        }
        Ok(Linear {
            in_features: i,
            out_features: o,
            params,
            x: Tensor::default(),
            y: Tensor::default(),
            dx: Tensor::default(),
            has_rx: false,
            rx: Tensor::default(),
            ry: Tensor::default(),
            rdx: Tensor::default(),
        })
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    fn rows(&self, t: &Tensor, what: &str, feat: usize) -> usize {
        assert!(
            t.shape.last() == Some(&feat),
            "linear: {what} shape {:?} does not end in {feat}",
            t.shape
        );
        t.numel() / feat
    }

    /// Adds `dW += dyᵀ·x` and `db += Σ dy` for the last forward (writes absent gradients).
    fn param_grads(&mut self, dy: &Tensor) {
        let (i, o) = (self.in_features, self.out_features);
        let n = self.rows(dy, "gradient", o);
        assert_eq!(
            n * i,
            self.x.numel(),
            "linear: backward batch differs from forward"
        );
        let (w, rest) = self.params.split_first_mut().unwrap();
        let add = contribution(w);
        matmul::dyt_x(&dy.data, &self.x.data, &mut w.grad, n, i, o, add);
        if let Some(b) = rest.first_mut() {
            let mut add = contribution(b);
            if !add && n == 0 {
                b.grad.fill(0.0);
            }
            for row in dy.data.chunks_exact(o) {
                write_or_add(&mut b.grad, row, add);
                add = true;
            }
        }
    }
}

impl Layer for Linear {
    fn kind(&self) -> &'static str {
        "linear"
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        match in_shape.last() {
            Some(&f) if f == self.in_features => {
                let mut s = in_shape.to_vec();
                *s.last_mut().unwrap() = self.out_features;
                Ok(s)
            }
            _ => Err(NnError::Shape(format!(
                "linear expects inputs ending in {} features, got per-example shape {in_shape:?}",
                self.in_features
            ))),
        }
    }

    fn forward(&mut self, x: &Tensor, _train: bool) -> &Tensor {
        let (i, o) = (self.in_features, self.out_features);
        let n = self.rows(x, "input", i);
        self.x.copy_from(x);
        // Output shape: the input's with the last dimension replaced (buffers reused).
        self.y.resize(&x.shape);
        *self.y.shape.last_mut().unwrap() = o;
        self.y.data.resize(n * o, 0.0);
        // y = b + x·Wᵀ: the bias is written first and the product accumulates onto it.
        let w = &self.params[0].value;
        if let Some(b) = self.params.get(1) {
            for row in self.y.data.chunks_exact_mut(o) {
                row.copy_from_slice(&b.value);
            }
            matmul::product(
                (n, o, i),
                &mut self.y.data,
                true,
                &x.data,
                (i, 1),
                w,
                (1, i),
            );
        } else {
            matmul::x_wt(&x.data, w, &mut self.y.data, n, i, o);
        }
        &self.y
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        self.param_grads(dy);
        let (i, o) = (self.in_features, self.out_features);
        let n = dy.numel() / o;
        self.dx.resize(&self.x.shape);
        matmul::dy_w(&dy.data, &self.params[0].value, &mut self.dx.data, n, i, o);
        &self.dx
    }

    fn backward_params(&mut self, dy: &Tensor) {
        self.param_grads(dy);
    }

    /// Per-example squared norms `‖dyₙ‖²·‖xₙ‖² + ‖dyₙ‖²` (weight + bias), exact for inputs of
    /// shape `[batch, in]`; for inputs with extra middle dimensions it is an error.
    fn backward_with_stats(&mut self, dy: &Tensor, sq_norms: &mut [f32]) -> Result<&Tensor> {
        check_stats_len(dy, sq_norms)?;
        if dy.shape.len() != 2 {
            return Err(NnError::Shape(format!(
                "linear: per-example norms need 2-d inputs, gradient shape is {:?}",
                dy.shape
            )));
        }
        let has_bias = self.params.len() > 1;
        for (k, s) in sq_norms.iter_mut().enumerate() {
            let d: f32 = dy.example(k).iter().map(|v| v * v).sum();
            let x: f32 = self.x.example(k).iter().map(|v| v * v).sum();
            *s += d * x + if has_bias { d } else { 0.0 };
        }
        Ok(self.backward(dy))
    }

    /// `R{y} = R{x}·Wᵀ + x·Vᵀ + v_b` (`V`, `v_b` the weight and bias directions).
    fn forward_r(&mut self, rx: Option<&Tensor>, v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        rop::assert_directions(self, v);
        let (i, o) = (self.in_features, self.out_features);
        let n = self.x.numel() / i;
        self.ry.resize(&self.y.shape);
        if let Some(vb) = v.get(1) {
            for row in self.ry.data.chunks_exact_mut(o) {
                row.copy_from_slice(vb);
            }
        }
        let acc = v.len() > 1;
        matmul::product(
            (n, o, i),
            &mut self.ry.data,
            acc,
            &self.x.data,
            (i, 1),
            &v[0],
            (1, i),
        );
        self.has_rx = rx.is_some();
        if let Some(rx) = rx {
            assert_eq!(
                rx.shape, self.x.shape,
                "linear: R{{x}} shape differs from x"
            );
            self.rx.copy_from(rx);
            let w = &self.params[0].value;
            matmul::product(
                (n, o, i),
                &mut self.ry.data,
                true,
                &rx.data,
                (i, 1),
                w,
                (1, i),
            );
        }
        Ok(Some(&self.ry))
    }

    /// `R{dW} = R{dy}ᵀ·x + dyᵀ·R{x}`, `R{db} = Σ R{dy}`, `R{dx} = R{dy}·W + dy·V`.
    fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        v: &[Vec<f32>],
        hv: &mut [Vec<f32>],
        need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        rop::assert_directions(self, v);
        let (i, o) = (self.in_features, self.out_features);
        let n = self.rows(dy, "gradient", o);
        assert!(
            rdy.shape == dy.shape && n * i == self.x.numel(),
            "linear: R-backward shapes {:?}, {:?} do not match the last forward",
            dy.shape,
            rdy.shape
        );
        matmul::dyt_x(&rdy.data, &self.x.data, &mut hv[0], n, i, o, true);
        if self.has_rx {
            matmul::dyt_x(&dy.data, &self.rx.data, &mut hv[0], n, i, o, true);
        }
        if let Some(hb) = hv.get_mut(1) {
            rop::add_row_sums(hb, &rdy.data);
        }
        if need_dx {
            let w = &self.params[0].value;
            self.dx.resize(&self.x.shape);
            matmul::dy_w(&dy.data, w, &mut self.dx.data, n, i, o);
            self.rdx.resize(&self.x.shape);
            matmul::dy_w(&rdy.data, w, &mut self.rdx.data, n, i, o);
            matmul::product(
                (n, i, o),
                &mut self.rdx.data,
                true,
                &dy.data,
                (o, 1),
                &v[0],
                (i, 1),
            );
        }
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

    #[test]
    fn forward_matches_definition_and_init_bounds() {
        let mut rng = Rng::new(0);
        let mut l = Linear::new(&LinearConfig::new(3, 2), 3, &mut rng).unwrap();
        let bound = 1.0 / 3f32.sqrt();
        for p in l.parameters() {
            assert!(p.value.iter().all(|v| v.abs() <= bound));
        }
        assert_eq!(l.parameters()[0].shape, vec![2, 3]);
        assert_eq!(l.parameters()[1].shape, vec![2]);
        l.parameters_mut()[0].value = vec![1., 2., 3., 4., 5., 6.];
        l.parameters_mut()[1].value = vec![0.5, -1.0];
        let x = Tensor::from_vec(&[2, 3], vec![1., 0., -1., 2., 1., 0.]).unwrap();
        let y = l.forward(&x, false);
        assert_eq!(y.shape, vec![2, 2]);
        assert_eq!(
            y.data,
            vec![1. - 3. + 0.5, 4. - 6. - 1., 2. + 2. + 0.5, 8. + 5. - 1.]
        );
        assert_eq!(l.out_shape(&[4, 3]).unwrap(), vec![4, 2]);
        let e = l.out_shape(&[4]).unwrap_err().to_string();
        assert!(e.contains("[4]"), "{e}");
        assert!(Linear::new(&LinearConfig::new(3, 0), 3, &mut rng)
            .unwrap_err()
            .to_string()
            .contains("out_features = 0"));
        assert!(Linear::new(&LinearConfig::new(4, 2), 3, &mut rng).is_err());
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::new(1);
        let mut l = Linear::new(&LinearConfig::new(5, 3), 5, &mut rng).unwrap();
        check_layer(&mut l, &random_tensor(&[4, 5], 2), 3);
        // Leading dims beyond the batch, and no bias.
        let cfg = LinearConfig {
            bias: false,
            ..LinearConfig::new(4, 2)
        };
        let mut l = Linear::new(&cfg, 4, &mut rng).unwrap();
        assert_eq!(l.parameters().len(), 1);
        check_layer(&mut l, &random_tensor(&[2, 3, 4], 4), 5);
    }

    #[test]
    fn per_example_norms_match_explicit_per_example_gradients() {
        let mut rng = Rng::new(2);
        let mut l = Linear::new(&LinearConfig::new(3, 2), 3, &mut rng).unwrap();
        let x = random_tensor(&[4, 3], 7);
        let dy = random_tensor(&[4, 2], 8);
        l.forward(&x, true);
        let mut norms = vec![0.0; 4];
        let dx = l.backward_with_stats(&dy, &mut norms).unwrap().clone();
        let total: Vec<Vec<f32>> = l.parameters().iter().map(|p| p.grad.clone()).collect();
        let mut summed = [vec![0f32; 6], vec![0f32; 2]];
        for k in 0..4 {
            // Example k alone.
            l.zero_grad();
            let xk = Tensor::from_vec(&[1, 3], x.example(k).to_vec()).unwrap();
            let dyk = Tensor::from_vec(&[1, 2], dy.example(k).to_vec()).unwrap();
            l.forward(&xk, true);
            let dxk = l.backward(&dyk).clone();
            assert_eq!(dxk.data, dx.example(k));
            let sq: f32 = l
                .parameters()
                .iter()
                .flat_map(|p| p.grad.iter())
                .map(|g| g * g)
                .sum();
            assert!(
                (sq - norms[k]).abs() <= 1e-5 * (1.0 + sq),
                "{sq} vs {}",
                norms[k]
            );
            for (s, p) in summed.iter_mut().zip(l.parameters()) {
                s.iter_mut().zip(&p.grad).for_each(|(a, b)| *a += b);
            }
        }
        for (s, t) in summed.iter().zip(&total) {
            for (a, b) in s.iter().zip(t) {
                assert!((a - b).abs() < 1e-5);
            }
        }
        assert!(l.backward_with_stats(&dy, &mut [0.0; 3]).is_err());
    }
}
