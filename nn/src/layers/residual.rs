//! `Residual`: `y = body(x) + shortcut(x)`, the block of residual networks; the shortcut is the
//! identity or a projection (a chain of layers, e.g. a `Linear` or a 1×1 convolution).
//!
//! Parameters and buffers of the sub-layers are exposed with nested names as a PyTorch module
//! with `body` and `shortcut` `nn.Sequential` children would have: `body.0.weight`,
//! `shortcut.0.bias`, … (a model prefixes its position: `0.body.0.weight`).

use optim::Param;

use crate::chain::{
    backward_chain, backward_r_chain, backward_with_stats_chain, chain_min_train_batch,
    chain_shape, forward_chain, forward_r_chain,
};
use crate::layer::{check_stats_len, Layer};
use crate::{rop, NnError, Result, Tensor};

/// Where a block parameter lives: (in the shortcut?, layer, index within the layer).
type Loc = (bool, usize, usize);

/// A residual block; see the module documentation. The sub-layers' parameter values and
/// gradients are kept in the block (so [`parameters`](Layer::parameters) is one slice) and
/// moved into the sub-layers for the duration of each pass (pointer swaps, no copies).
pub struct Residual {
    body: Vec<Box<dyn Layer>>,
    shortcut: Vec<Box<dyn Layer>>,
    params: Vec<Param<f32>>,
    param_locs: Vec<Loc>,
    buffers: Vec<Param<f32>>,
    buffer_locs: Vec<Loc>,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)): `R{y}`, `R{dx}`.
    ry: Tensor,
    rdx: Tensor,
}

impl std::fmt::Debug for Residual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds = |l: &[Box<dyn Layer>]| l.iter().map(|l| l.kind()).collect::<Vec<_>>();
        f.debug_struct("Residual")
            .field("body", &kinds(&self.body))
            .field("shortcut", &kinds(&self.shortcut))
            .finish()
    }
}

impl Residual {
    /// A block over the built branches `body` (at least one layer) and `shortcut` (empty for
    /// the identity) for per-example input `in_shape`; their parameters and buffers move into
    /// the block, named `body.{j}.{name}` / `shortcut.{j}.{name}`.
    pub fn new(
        body: Vec<Box<dyn Layer>>,
        shortcut: Vec<Box<dyn Layer>>,
        in_shape: &[usize],
    ) -> Result<Self> {
        if body.is_empty() {
            return Err(NnError::Invalid(
                "a residual block needs at least one body layer".into(),
            ));
        }
        let mut block = Residual {
            body,
            shortcut,
            params: Vec::new(),
            param_locs: Vec::new(),
            buffers: Vec::new(),
            buffer_locs: Vec::new(),
            y: Tensor::default(),
            dx: Tensor::default(),
            ry: Tensor::default(),
            rdx: Tensor::default(),
        };
        block.out_shape(in_shape)?;
        // Move the sub-layers' parameters and buffers into the block.
        for (sc, layers) in [(false, &mut block.body), (true, &mut block.shortcut)] {
            let branch = if sc { "shortcut" } else { "body" };
            for (j, l) in layers.iter_mut().enumerate() {
                for (k, p) in l.parameters_mut().iter_mut().enumerate() {
                    block.params.push(Param {
                        name: format!("{branch}.{j}.{}", p.name),
                        shape: p.shape.clone(),
                        value: std::mem::take(&mut p.value),
                        grad: std::mem::take(&mut p.grad),
                        has_grad: p.has_grad,
                    });
                    block.param_locs.push((sc, j, k));
                }
                for (k, b) in l.buffers_mut().iter_mut().enumerate() {
                    block.buffers.push(Param {
                        name: format!("{branch}.{j}.{}", b.name),
                        shape: b.shape.clone(),
                        value: std::mem::take(&mut b.value),
                        grad: std::mem::take(&mut b.grad),
                        has_grad: b.has_grad,
                    });
                    block.buffer_locs.push((sc, j, k));
                }
            }
        }
        Ok(block)
    }

    /// Swaps parameter and buffer storage between the block and its sub-layers (twice is the
    /// identity).
    fn swap(&mut self) {
        let Residual {
            body,
            shortcut,
            params,
            param_locs,
            buffers,
            buffer_locs,
            ..
        } = self;
        for (p, &(sc, j, k)) in params.iter_mut().zip(param_locs.iter()) {
            let l = if sc { &mut shortcut[j] } else { &mut body[j] };
            let q = &mut l.parameters_mut()[k];
            std::mem::swap(&mut p.value, &mut q.value);
            std::mem::swap(&mut p.grad, &mut q.grad);
            // Whether the gradient is present travels with it: an absent one is written.
            std::mem::swap(&mut p.has_grad, &mut q.has_grad);
        }
        for (b, &(sc, j, k)) in buffers.iter_mut().zip(buffer_locs.iter()) {
            let l = if sc { &mut shortcut[j] } else { &mut body[j] };
            let q = &mut l.buffers_mut()[k];
            std::mem::swap(&mut b.value, &mut q.value);
            std::mem::swap(&mut b.grad, &mut q.grad);
        }
    }

    /// [`Layer::backward_with_stats`] with the sub-layers' parameters in place: `dx` into
    /// `self.dx`.
    fn backward_with_stats_inner(&mut self, dy: &Tensor, sq_norms: &mut [f32]) -> Result<()> {
        let db = backward_with_stats_chain(&mut self.body, dy, sq_norms)?;
        self.dx.copy_from(db);
        let ds = if self.shortcut.is_empty() {
            dy
        } else {
            backward_with_stats_chain(&mut self.shortcut, dy, sq_norms)?
        };
        self.dx
            .data
            .iter_mut()
            .zip(&ds.data)
            .for_each(|(d, s)| *d += s);
        Ok(())
    }

    /// [`Layer::forward_r`] with the sub-layers' parameters in place: `R{y}` into `self.ry`;
    /// `false` when it is zero.
    fn forward_r_inner(&mut self, rx: Option<&Tensor>, v: &[Vec<f32>]) -> Result<bool> {
        let (vb, vs) = v.split_at(rop::param_count(&self.body));
        let have_body = match forward_r_chain(&mut self.body, rx, vb)? {
            Some(rb) => {
                self.ry.copy_from(rb);
                true
            }
            None => false,
        };
        let rs = if self.shortcut.is_empty() {
            rx
        } else {
            forward_r_chain(&mut self.shortcut, rx, vs)?
        };
        match (have_body, rs) {
            (true, Some(rs)) => self
                .ry
                .data
                .iter_mut()
                .zip(&rs.data)
                .for_each(|(y, s)| *y += s),
            (false, Some(rs)) => self.ry.copy_from(rs),
            (true, None) => {}
            (false, None) => return Ok(false),
        }
        Ok(true)
    }

    /// [`Layer::backward_r`] with the sub-layers' parameters in place; `(dx, R{dx})` into the
    /// block's buffers when `need_dx`.
    fn backward_r_inner(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        v: &[Vec<f32>],
        hv: &mut [Vec<f32>],
        need_dx: bool,
    ) -> Result<()> {
        let nb = rop::param_count(&self.body);
        let (vb, vs) = v.split_at(nb);
        let (hb, hs) = hv.split_at_mut(nb);
        if let Some((db, rdb)) = backward_r_chain(&mut self.body, dy, rdy, vb, hb, need_dx)? {
            self.dx.copy_from(db);
            self.rdx.copy_from(rdb);
        }
        let shortcut = if self.shortcut.is_empty() {
            need_dx.then_some((dy, rdy))
        } else {
            backward_r_chain(&mut self.shortcut, dy, rdy, vs, hs, need_dx)?
        };
        if let Some((ds, rds)) = shortcut {
            for (d, s) in [(&mut self.dx, ds), (&mut self.rdx, rds)] {
                d.data.iter_mut().zip(&s.data).for_each(|(d, s)| *d += s);
            }
        }
        Ok(())
    }

    pub fn body(&self) -> &[Box<dyn Layer>] {
        &self.body
    }

    /// The shortcut layers (empty for the identity).
    pub fn shortcut(&self) -> &[Box<dyn Layer>] {
        &self.shortcut
    }
}

impl Layer for Residual {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        "residual"
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        let b = chain_shape(&self.body, in_shape, "residual body layer")?;
        let s = chain_shape(&self.shortcut, in_shape, "residual shortcut layer")?;
        if b != s {
            return Err(NnError::Shape(format!(
                "residual body output {b:?} differs from {} output {s:?}",
                if self.shortcut.is_empty() {
                    "identity shortcut"
                } else {
                    "shortcut"
                }
            )));
        }
        Ok(b)
    }

    fn forward(&mut self, x: &Tensor, train: bool) -> &Tensor {
        self.swap();
        let yb = forward_chain(&mut self.body, x, train);
        self.y.copy_from(yb);
        let ys = if self.shortcut.is_empty() {
            x
        } else {
            forward_chain(&mut self.shortcut, x, train)
        };
        assert_eq!(
            ys.shape, self.y.shape,
            "residual: shortcut output shape differs from body output"
        );
        self.y
            .data
            .iter_mut()
            .zip(&ys.data)
            .for_each(|(y, s)| *y += s);
        self.swap();
        &self.y
    }

    fn min_train_batch(&self, in_shape: &[usize]) -> usize {
        chain_min_train_batch(&self.body, in_shape)
            .0
            .max(chain_min_train_batch(&self.shortcut, in_shape).0)
    }

    fn set_eval_statistics(&mut self, on: bool) -> bool {
        let mut any = false;
        for l in self.body.iter_mut().chain(&mut self.shortcut) {
            any |= l.set_eval_statistics(on);
        }
        any
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        self.swap();
        let db = backward_chain(&mut self.body, dy);
        self.dx.copy_from(db);
        let ds = if self.shortcut.is_empty() {
            dy
        } else {
            backward_chain(&mut self.shortcut, dy)
        };
        self.dx
            .data
            .iter_mut()
            .zip(&ds.data)
            .for_each(|(d, s)| *d += s);
        self.swap();
        &self.dx
    }

    /// The branches' parameters are disjoint, so an example's squared gradient norm is the sum
    /// of what each branch's layers add: both chains run their own `backward_with_stats`. A
    /// branch layer that cannot (batch norm on batch statistics) makes it an error, as it does
    /// in a plain chain.
    fn backward_with_stats(&mut self, dy: &Tensor, sq_norms: &mut [f32]) -> Result<&Tensor> {
        check_stats_len(dy, sq_norms)?;
        self.swap();
        let out = self.backward_with_stats_inner(dy, sq_norms);
        self.swap();
        out?;
        Ok(&self.dx)
    }

    /// `R{y} = R{body(x)} + R{shortcut(x)}` (`R{x}` for the identity shortcut).
    fn forward_r(&mut self, rx: Option<&Tensor>, v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        rop::assert_directions(self, v);
        self.swap();
        let out = self.forward_r_inner(rx, v);
        self.swap();
        Ok(out?.then_some(&self.ry))
    }

    /// The sum of the branches' R-backward passes.
    fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        v: &[Vec<f32>],
        hv: &mut [Vec<f32>],
        need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        rop::assert_directions(self, v);
        self.swap();
        let out = self.backward_r_inner(dy, rdy, v, hv, need_dx);
        self.swap();
        out?;
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

    fn rng_state(&self, out: &mut Vec<u64>) {
        self.body
            .iter()
            .chain(&self.shortcut)
            .for_each(|l| l.rng_state(out));
    }

    fn set_rng_state(&mut self, state: &[u64]) -> Result<usize> {
        let mut used = 0;
        for l in self.body.iter_mut().chain(self.shortcut.iter_mut()) {
            used += l.set_rng_state(&state[used..])?;
        }
        Ok(used)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::layers::batchnorm::tests::check_layer_train;
    use crate::layers::gradcheck::{check_layer, random_tensor};
    use crate::loss::{CrossEntropyConfig, CrossEntropyLoss};
    use crate::{
        Activation, BatchNormConfig, LayerConfig, LinearConfig, ResidualConfig, Rng, Sequential,
    };
    use optim::Params;

    fn lin(i: usize, o: usize) -> LayerConfig {
        LayerConfig::Linear(LinearConfig::new(i, o))
    }

    #[test]
    fn identity_shortcut_adds_the_input() {
        let cfg = ResidualConfig {
            body: vec![lin(3, 3), LayerConfig::Activation(Activation::Relu)],
            shortcut: None,
        };
        let mut r = cfg.build(&[3], &mut Rng::new(0)).unwrap();
        let names: Vec<&str> = r.parameters().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["body.0.weight", "body.0.bias"]);
        let (w, b) = (
            r.parameters()[0].value.clone(),
            r.parameters()[1].value.clone(),
        );
        let x = random_tensor(&[4, 3], 1);
        let y = r.forward(&x, true).clone();
        assert_eq!(y.shape, vec![4, 3]);
        for n in 0..4 {
            for o in 0..3 {
                let z: f32 = b[o]
                    + (0..3)
                        .map(|i| w[o * 3 + i] * x.data[n * 3 + i])
                        .sum::<f32>();
                let e = z.max(0.0) + x.data[n * 3 + o];
                assert!(
                    (y.data[n * 3 + o] - e).abs() < 1e-5,
                    "{} vs {e}",
                    y.data[n * 3 + o]
                );
            }
        }
        // Parameter storage is back in the block after the pass.
        assert_eq!(r.parameters()[0].value, w);
        assert_eq!(r.parameters()[0].grad.len(), 9);
    }

    #[test]
    fn projection_shortcut_shapes_and_gradients() {
        let cfg = ResidualConfig {
            body: vec![
                lin(3, 4),
                LayerConfig::Activation(Activation::Tanh),
                lin(4, 5),
            ],
            shortcut: Some(vec![lin(3, 5)]),
        };
        let mut r = cfg.build(&[3], &mut Rng::new(1)).unwrap();
        assert_eq!(r.out_shape(&[3]).unwrap(), vec![5]);
        assert_eq!(r.parameters().len(), 6);
        assert_eq!(r.parameters()[4].name, "shortcut.0.weight");
        assert_eq!(r.parameters()[4].shape, vec![5, 3]);
        let x = random_tensor(&[4, 3], 2);
        assert_eq!(r.forward(&x, false).shape, vec![4, 5]);
        check_layer(&mut r, &x, 3);
        // With batch norm in the body, in training mode.
        let cfg = ResidualConfig {
            body: vec![
                lin(3, 3),
                LayerConfig::BatchNorm1d(BatchNormConfig::default()),
                LayerConfig::Activation(Activation::Tanh),
            ],
            shortcut: None,
        };
        let mut r = cfg.build(&[3], &mut Rng::new(2)).unwrap();
        let names: Vec<&str> = r.buffers().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "body.1.running_mean",
                "body.1.running_var",
                "body.1.num_batches_tracked"
            ]
        );
        check_layer_train(&mut r, &random_tensor(&[5, 3], 4), 5);
        assert!(r.buffers()[2].value[0] > 0.0, "running stats not updated");
    }

    #[test]
    fn mismatched_shapes_are_named() {
        let cfg = ResidualConfig {
            body: vec![lin(3, 4)],
            shortcut: None,
        };
        let e = cfg.build(&[3], &mut Rng::new(0)).unwrap_err().to_string();
        assert!(e.contains("[4]") && e.contains("[3]"), "{e}");
        let cfg = ResidualConfig {
            body: vec![lin(3, 4)],
            shortcut: Some(vec![lin(3, 2)]),
        };
        let e = cfg.build(&[3], &mut Rng::new(0)).unwrap_err().to_string();
        assert!(e.contains("[4]") && e.contains("[2]"), "{e}");
        let cfg = ResidualConfig {
            body: vec![],
            shortcut: None,
        };
        assert!(cfg.build(&[3], &mut Rng::new(0)).is_err());
    }

    #[test]
    fn nested_names_through_sequential() {
        let m = Sequential::new(
            &[3],
            &[
                LayerConfig::Residual(ResidualConfig {
                    body: vec![lin(3, 4), LayerConfig::Activation(Activation::Relu)],
                    shortcut: Some(vec![LayerConfig::Linear(LinearConfig {
                        bias: false,
                        ..LinearConfig::new(3, 4)
                    })]),
                }),
                lin(4, 2),
            ],
            0,
        )
        .unwrap();
        let names: Vec<&str> = (0..m.count()).map(|i| m.name(i)).collect();
        assert_eq!(
            names,
            [
                "0.body.0.weight",
                "0.body.0.bias",
                "0.shortcut.0.weight",
                "1.weight",
                "1.bias"
            ]
        );
        assert_eq!(m.shape(2), &[4, 3]);
    }

    #[test]
    fn mlp_with_batch_norm_trains() {
        let mut rng = Rng::new(7);
        let (mut xs, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..32 {
            let (a, b) = (rng.uniform_in(-1.0, 1.0), rng.uniform_in(-1.0, 1.0));
            xs.extend([a as f32, b as f32]);
            labels.push(usize::from(a * b > 0.0));
        }
        let x = Tensor::from_vec(&[32, 2], xs).unwrap();
        let mut model = Sequential::new(
            &[2],
            &[
                lin(2, 16),
                LayerConfig::BatchNorm1d(BatchNormConfig::default()),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Residual(ResidualConfig {
                    body: vec![
                        lin(16, 16),
                        LayerConfig::BatchNorm1d(BatchNormConfig::default()),
                        LayerConfig::Activation(Activation::Relu),
                    ],
                    shortcut: None,
                }),
                lin(16, 2),
            ],
            3,
        )
        .unwrap();
        let recipe = optim::optimizers::sgd::SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            ..Default::default()
        }
        .recipe::<f32>()
        .unwrap();
        let mut opt = optim::Optimizer::new(recipe, &model).unwrap();
        let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
        let mut losses = Vec::new();
        for _ in 0..50 {
            model.zero_grad();
            let y = model.forward(&x, true);
            losses.push(ce.forward(y, &labels).unwrap());
            model.backward(ce.grad());
            opt.step(&mut model).unwrap();
        }
        let (first, last) = (losses[0], *losses.last().unwrap());
        assert!(last < 0.5 * first, "loss {first} → {last}");
        // Evaluation with the running statistics is finite and fits the data reasonably.
        let y = model.forward(&x, false);
        let correct = (0..32)
            .filter(|&n| usize::from(y.data[2 * n + 1] > y.data[2 * n]) == labels[n])
            .count();
        assert!(correct >= 24, "eval accuracy {correct}/32");
    }

    /// Per-example squared gradient norms through residual blocks (identity and projection
    /// shortcuts, batch norm inside the body in the evaluation-statistics variant) equal those
    /// of each example's own backward pass; on batch statistics they are an error.
    #[test]
    fn per_example_norms_through_residual_blocks() {
        let cfgs = [
            lin(3, 6),
            LayerConfig::Activation(Activation::Tanh),
            LayerConfig::Residual(ResidualConfig {
                body: vec![
                    lin(6, 6),
                    LayerConfig::BatchNorm1d(BatchNormConfig::default()),
                    LayerConfig::Activation(Activation::Relu),
                    lin(6, 6),
                ],
                shortcut: None,
            }),
            LayerConfig::Residual(ResidualConfig {
                body: vec![lin(6, 4), LayerConfig::Activation(Activation::Tanh)],
                shortcut: Some(vec![lin(6, 4)]),
            }),
            lin(4, 2),
        ];
        let mut m = Sequential::new(&[3], &cfgs, 11).unwrap();
        for seed in 0..3 {
            m.forward(&random_tensor(&[8, 3], 20 + seed), true);
        }
        let x = random_tensor(&[5, 3], 1);
        let dy = random_tensor(&[5, 2], 2);
        assert!(m.set_eval_statistics(true));
        m.zero_grad();
        m.forward(&x, true);
        let mut norms = vec![0.0; 5];
        m.backward_with_stats(&dy, &mut norms).unwrap();
        // The batch's gradient is the one `backward` gives.
        let batch: Vec<Vec<f32>> = (0..m.count())
            .map(|i| m.grad(i).unwrap().to_vec())
            .collect();
        m.zero_grad();
        m.forward(&x, true);
        m.backward(&dy);
        for (i, g) in batch.iter().enumerate() {
            assert_eq!(m.grad(i).unwrap(), &g[..], "parameter {i}");
        }
        assert!(m.set_eval_statistics(false));
        for k in 0..5 {
            m.zero_grad();
            let xk = Tensor::from_vec(&[1, 3], x.example(k).to_vec()).unwrap();
            m.forward(&xk, false);
            m.backward(&Tensor::from_vec(&[1, 2], dy.example(k).to_vec()).unwrap());
            let sq: f32 = (0..m.count())
                .flat_map(|i| m.grad(i).unwrap().to_vec())
                .map(|g| g * g)
                .sum();
            assert!(sq > 0.0);
            assert!(
                (sq - norms[k]).abs() <= 1e-4 * (1.0 + sq),
                "example {k}: {sq} vs {}",
                norms[k]
            );
        }
        m.forward(&x, true);
        let e = m.backward_with_stats(&dy, &mut [0.0; 5]).unwrap_err();
        assert!(e.to_string().contains("couples the examples"), "{e}");
    }

    #[test]
    fn buffers_save_and_load_with_the_weights() {
        let cfgs = [
            lin(3, 4),
            LayerConfig::Residual(ResidualConfig {
                body: vec![
                    lin(4, 4),
                    LayerConfig::BatchNorm1d(BatchNormConfig::default()),
                ],
                shortcut: None,
            }),
        ];
        let mut a = Sequential::new(&[3], &cfgs, 1).unwrap();
        let x = random_tensor(&[6, 3], 2);
        a.forward(&x, true);
        a.forward(&x, true);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bn.safetensors");
        a.save(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let f = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = f.names();
        names.sort();
        assert_eq!(
            names,
            [
                "0.bias",
                "0.weight",
                "1.body.0.bias",
                "1.body.0.weight",
                "1.body.1.bias",
                "1.body.1.num_batches_tracked",
                "1.body.1.running_mean",
                "1.body.1.running_var",
                "1.body.1.weight"
            ]
        );
        assert_eq!(
            f.tensor("1.body.1.num_batches_tracked").unwrap().shape(),
            &[] as &[usize]
        );
        let mut b = Sequential::new(&[3], &cfgs, 2).unwrap();
        b.load(&p).unwrap();
        let ya = a.forward(&x, false).clone();
        assert_eq!(b.forward(&x, false).data, ya.data);
        let res = |m: &Sequential| m.layers()[1].buffers().to_vec();
        assert_eq!(res(&a), res(&b));
        assert_eq!(res(&b)[2].value, vec![2.0]);

        // PyTorch stores num_batches_tracked as I64.
        let mut tensors: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = Vec::new();
        for name in f.names() {
            let t = f.tensor(name).unwrap();
            if name.ends_with("num_batches_tracked") {
                tensors.push((
                    name.clone(),
                    7i64.to_le_bytes().to_vec(),
                    vec![],
                    safetensors::Dtype::I64,
                ));
            } else {
                tensors.push((
                    name.clone(),
                    t.data().to_vec(),
                    t.shape().to_vec(),
                    t.dtype(),
                ));
            }
        }
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, d, s, t)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(*t, s.clone(), d).unwrap(),
                )
            })
            .collect();
        std::fs::write(&p, safetensors::serialize(views, &None).unwrap()).unwrap();
        b.load(&p).unwrap();
        assert_eq!(res(&b)[2].value, vec![7.0]);
        // A model without the batch norm rejects the buffers as extra tensors.
        let mut c = Sequential::new(
            &[3],
            &[
                lin(3, 4),
                LayerConfig::Residual(ResidualConfig {
                    body: vec![lin(4, 4)],
                    shortcut: None,
                }),
            ],
            0,
        )
        .unwrap();
        let e = c.load(&p).unwrap_err().to_string();
        assert!(e.contains("1.body.1.running_mean"), "{e}");
    }
}
