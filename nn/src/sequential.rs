//! `Sequential`: a chain of layers applied in order, with the model-level state around it:
//! parameters exposed to `optim` under PyTorch's `nn.Sequential` names, in-memory snapshots of
//! the weights, and the random generators' state. Building from configs is the catalogue's
//! ([`LayerConfig`]); saving and loading the weights is `weights.rs`'.

use optim::Param;

use crate::catalogue::{build_chain, LayerConfig};
use crate::chain::{
    backward_chain, backward_params_chain, backward_r_chain, backward_with_stats_chain,
    chain_min_train_batch, chain_shape, forward_chain, forward_r_chain,
};
use crate::layer::Layer;
use crate::{NnError, Result, Rng, Tensor};

/// A chain of layers. Parameter `k` of layer `i` is named `{i}.{name}` (`0.weight`, `0.bias`,
/// `2.weight`, …), as in PyTorch's `nn.Sequential`, with PyTorch's layouts: the model writes the
/// qualified name into the parameter when the layer joins it, so a parameter carries the name
/// the optimizer sees.
pub struct Sequential {
    layers: Vec<Box<dyn Layer>>,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    /// (layer, parameter within the layer) of each model parameter.
    index: Vec<(usize, usize)>,
    /// (layer, buffer within the layer) of each buffer; their names follow the parameters'.
    buffer_index: Vec<(usize, usize)>,
    /// The input's shape while [`forward_mut`](Sequential::forward_mut) has reshaped it.
    shape_scratch: Vec<usize>,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<&str> = self.layers.iter().map(|l| l.kind()).collect();
        f.debug_struct("Sequential")
            .field("layers", &kinds)
            .field("in_shape", &self.in_shape)
            .field("out_shape", &self.out_shape)
            .finish()
    }
}

impl Sequential {
    /// A model for per-example inputs of `in_shape` (no batch dimension), layers built in
    /// order from `configs` with shapes inferred, initialised from `seed`.
    pub fn new(in_shape: &[usize], configs: &[LayerConfig], seed: u64) -> Result<Self> {
        let mut rng = Rng::new(seed);
        let layers = build_chain(configs, in_shape, &mut rng, "layer")?;
        Self::from_layers(in_shape, layers)
    }

    /// A model from already-built layers (custom [`Layer`] implementations included). The
    /// layers' parameter and buffer names are qualified with their position (`weight` of layer
    /// 2 becomes `2.weight`) and every parameter's gradient is marked present: the backward
    /// pass writes them all.
    pub fn from_layers(in_shape: &[usize], mut layers: Vec<Box<dyn Layer>>) -> Result<Self> {
        if layers.is_empty() {
            return Err(NnError::Invalid(
                "a sequential model needs at least one layer".into(),
            ));
        }
        let out_shape = chain_shape(&layers, in_shape, "layer")?;
        let mut index = Vec::new();
        for (i, l) in layers.iter_mut().enumerate() {
            for (k, p) in l.parameters_mut().iter_mut().enumerate() {
                p.name = format!("{i}.{}", p.name);
                p.has_grad = true;
                index.push((i, k));
            }
        }
        let mut buffer_index = Vec::new();
        for (i, l) in layers.iter_mut().enumerate() {
            for (k, b) in l.buffers_mut().iter_mut().enumerate() {
                b.name = format!("{i}.{}", b.name);
                buffer_index.push((i, k));
            }
        }
        Ok(Sequential {
            layers,
            in_shape: in_shape.to_vec(),
            out_shape,
            index,
            buffer_index,
            shape_scratch: Vec::new(),
        })
    }

    /// The fewest examples a training batch may hold ([`Layer::min_train_batch`] over the
    /// layers), and the first top-level layer that needs more than one (its index), if any.
    pub fn min_train_batch(&self) -> (usize, Option<usize>) {
        chain_min_train_batch(&self.layers, &self.in_shape)
    }

    /// Per-example input shape.
    pub fn in_shape(&self) -> &[usize] {
        &self.in_shape
    }

    /// Per-example output shape.
    pub fn out_shape(&self) -> &[usize] {
        &self.out_shape
    }

    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer>] {
        &mut self.layers
    }

    /// Total number of parameter elements.
    pub fn num_parameters(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| l.parameters())
            .map(|p| p.value.len())
            .sum()
    }

    /// The forward pass over a batch `[N, in_shape…]`; the output buffer belongs to the last
    /// layer and is reused by the next call.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> &Tensor {
        assert!(
            x.shape.len() == self.in_shape.len() + 1 && x.shape[1..] == self.in_shape[..],
            "sequential: input shape {:?} is not [batch, {:?}]",
            x.shape,
            self.in_shape
        );
        forward_chain(&mut self.layers, x, train)
    }

    /// [`forward`](Self::forward) for a caller that owns its input: a leading reshape-only
    /// layer (Flatten) is applied by rewriting `x`'s shape for the duration of the call instead
    /// of copying the batch (on an MLP over images this copy was ~4% of a training step). `x`
    /// is left as it was given; the results are those of `forward`.
    pub fn forward_mut(&mut self, x: &mut Tensor, train: bool) -> &Tensor {
        if self.layers.len() < 2 {
            return self.forward(x, train);
        }
        assert!(
            x.shape.len() == self.in_shape.len() + 1 && x.shape[1..] == self.in_shape[..],
            "sequential: input shape {:?} is not [batch, {:?}]",
            x.shape,
            self.in_shape
        );
        self.shape_scratch.clear();
        self.shape_scratch.extend_from_slice(&x.shape);
        if !self.layers[0].reshape_in_place(&mut x.shape) {
            return self.forward(x, train);
        }
        let y = forward_chain(&mut self.layers[1..], x, train);
        x.shape.clear();
        x.shape.extend_from_slice(&self.shape_scratch);
        y
    }

    /// The backward pass from `dy = ∂L/∂output` of the last forward; accumulates parameter
    /// gradients and returns `∂L/∂input`.
    pub fn backward(&mut self, dy: &Tensor) -> &Tensor {
        backward_chain(&mut self.layers, dy)
    }

    /// The backward pass when `∂L/∂input` is not needed (training on data, as PyTorch does for
    /// inputs without `requires_grad`): accumulates the same parameter gradients as
    /// [`backward`](Self::backward), but layers before the first one with parameters are skipped
    /// and that layer runs [`Layer::backward_params`] (no input gradient).
    pub fn backward_params(&mut self, dy: &Tensor) {
        if let Some(first) = self.layers.iter().position(|l| !l.parameters().is_empty()) {
            backward_params_chain(&mut self.layers[first..], dy);
        }
    }

    /// [`backward`](Self::backward) that also adds each example's squared gradient norm over
    /// all parameters to `sq_norms[n]` (see [`Layer::backward_with_stats`]).
    pub fn backward_with_stats(&mut self, dy: &Tensor, sq_norms: &mut [f32]) -> Result<&Tensor> {
        backward_with_stats_chain(&mut self.layers, dy, sq_norms)
    }

    /// Switches every layer's evaluation-statistics variant on or off (see
    /// [`Layer::set_eval_statistics`]); returns whether any layer is affected (the model has
    /// batch norm with running statistics).
    pub fn set_eval_statistics(&mut self, on: bool) -> bool {
        let mut any = false;
        for l in &mut self.layers {
            any |= l.set_eval_statistics(on);
        }
        any
    }

    /// The R-forward pass (see [`rop`](crate::rop)) after a [`forward`](Self::forward): the
    /// directional derivative `R{output}` of the last forward's output along the parameter
    /// directions `v` (`v[i]` for parameter `i`, laid out as the parameters; the input is data,
    /// `R{input} = 0`). Errors when `v` does not fit the parameters, when the model has none, or
    /// when a layer has no R-operator.
    pub fn forward_r(&mut self, v: &[Vec<f32>]) -> Result<&Tensor> {
        self.check_directions(v)?;
        forward_r_chain(&mut self.layers, None, v)?
            .ok_or_else(|| NnError::Invalid("the model has no parameters: no Hessian".into()))
    }

    /// The R-backward pass after [`forward_r`](Self::forward_r): from `dy = ∂L/∂output` and
    /// `rdy = R{dy}` (the loss's [`grad_r`](crate::CrossEntropyLoss::grad_r)), writes
    /// `hv[i] = R{∂L/∂θᵢ}`, the Hessian-vector product `H v` for parameter `i` (resized, laid
    /// out as the parameters). Parameter gradients are left alone.
    pub fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        v: &[Vec<f32>],
        hv: &mut Vec<Vec<f32>>,
    ) -> Result<()> {
        self.check_directions(v)?;
        if rdy.shape != dy.shape {
            return Err(NnError::Shape(format!(
                "R{{dy}} has shape {:?}, the output gradient {:?}",
                rdy.shape, dy.shape
            )));
        }
        hv.resize_with(self.index.len(), Vec::new);
        for (h, v) in hv.iter_mut().zip(v) {
            h.clear();
            h.resize(v.len(), 0.0);
        }
        backward_r_chain(&mut self.layers, dy, rdy, v, hv, false)?;
        Ok(())
    }

    /// Errors unless `v` holds one direction per parameter, each of that parameter's size.
    fn check_directions(&self, v: &[Vec<f32>]) -> Result<()> {
        if v.len() != self.index.len() {
            return Err(NnError::Shape(format!(
                "{} directions for a model with {} parameters",
                v.len(),
                self.index.len()
            )));
        }
        for (i, d) in v.iter().enumerate() {
            let p = self.param(i);
            if d.len() != p.value.len() {
                return Err(NnError::Shape(format!(
                    "direction for `{}` has {} values, the parameter {}",
                    p.name,
                    d.len(),
                    p.value.len()
                )));
            }
        }
        Ok(())
    }

    /// Every parameter and buffer value, in [`save`](Self::save)'s order: an in-memory copy of
    /// the weights (best-so-far weights, averaged weights for evaluation).
    pub fn snapshot(&self) -> Vec<Vec<f32>> {
        (0..self.num_stored())
            .map(|i| self.stored(i).value.clone())
            .collect()
    }

    /// [`snapshot`](Self::snapshot) into `out`, reusing its buffers.
    pub fn snapshot_into(&self, out: &mut Vec<Vec<f32>>) {
        out.resize_with(self.num_stored(), Vec::new);
        for (i, o) in out.iter_mut().enumerate() {
            o.clear();
            o.extend_from_slice(&self.stored(i).value);
        }
    }

    /// The name of [`snapshot`](Self::snapshot) tensor `i` (PyTorch-style, `2.running_var`);
    /// parameters first, then buffers.
    pub fn stored_name(&self, i: usize) -> &str {
        &self.stored(i).name
    }

    /// The buffers alone (batch-norm running statistics: what a training-mode forward pass
    /// changes besides the generators), into `out`, reusing its vectors.
    pub fn buffers_snapshot_into(&self, out: &mut Vec<Vec<f32>>) {
        let first = self.index.len();
        out.resize_with(self.num_stored() - first, Vec::new);
        for (i, o) in out.iter_mut().enumerate() {
            o.clear();
            o.extend_from_slice(&self.stored(first + i).value);
        }
    }

    /// Restores what [`buffers_snapshot_into`](Self::buffers_snapshot_into) saved.
    pub fn restore_buffers(&mut self, saved: &[Vec<f32>]) -> Result<()> {
        let first = self.index.len();
        if saved.len() != self.num_stored() - first {
            return Err(NnError::Invalid(format!(
                "{} saved buffers, the model has {}",
                saved.len(),
                self.num_stored() - first
            )));
        }
        for (i, v) in saved.iter().enumerate() {
            let dst = &mut self.stored_mut(first + i).value;
            if dst.len() != v.len() {
                return Err(NnError::Shape(format!(
                    "saved buffer {i} has {} values, the model's {}",
                    v.len(),
                    dst.len()
                )));
            }
            dst.copy_from_slice(v);
        }
        Ok(())
    }

    /// Restores a [`snapshot`](Self::snapshot) of this model, reusing the buffers.
    pub fn restore(&mut self, snapshot: &[Vec<f32>]) -> Result<()> {
        if snapshot.len() != self.num_stored() {
            return Err(NnError::Invalid(format!(
                "snapshot has {} tensors, the model {}",
                snapshot.len(),
                self.num_stored()
            )));
        }
        for (i, v) in snapshot.iter().enumerate() {
            if v.len() != self.stored(i).value.len() {
                return Err(NnError::Shape(format!(
                    "snapshot tensor `{}` has {} values, the model {}",
                    self.stored(i).name,
                    v.len(),
                    self.stored(i).value.len()
                )));
            }
        }
        for (i, v) in snapshot.iter().enumerate() {
            self.stored_mut(i).value.copy_from_slice(v);
        }
        Ok(())
    }

    /// The state of every random generator in the model (dropout masks), in layer order.
    pub fn rng_state(&self) -> Vec<u64> {
        let mut out = Vec::new();
        self.layers.iter().for_each(|l| l.rng_state(&mut out));
        out
    }

    /// Restores [`rng_state`](Self::rng_state); the next masks are those the saved model would
    /// have drawn. Errors when the state does not fit this model's generators.
    pub fn set_rng_state(&mut self, state: &[u64]) -> Result<()> {
        let mut used = 0;
        for l in self.layers.iter_mut() {
            used += l.set_rng_state(&state[used..])?;
        }
        if used != state.len() {
            return Err(NnError::Invalid(format!(
                "generator state has {} words but this model's generators use {used}",
                state.len()
            )));
        }
        Ok(())
    }

    /// Clears every parameter gradient: afterwards they read as zero (present, all zeros) and
    /// the next backward adds to them (PyTorch's `zero_grad(set_to_none=False)`). A training
    /// step wants [`clear_grads`](Self::clear_grads), which costs no pass over the buffers.
    pub fn zero_grad(&mut self) {
        self.layers.iter_mut().for_each(|l| l.zero_grad());
    }

    /// Marks every parameter gradient absent (PyTorch's `zero_grad(set_to_none=True)`, what
    /// the trainer does after each step): the next backward *writes* each gradient instead of
    /// adding to zeros (no zeroing pass, no read of the old values; bit-identical results, see
    /// [`Layer::backward`]), and later backward passes before the next clear add to it
    /// (accumulation). Until the next backward, [`Params::grad`](optim::Params::grad) reports
    /// `None` for every parameter, so no optimizer, clipping or reader sees a stale buffer; an
    /// optimizer step in between skips every parameter. [`zero_grad`](Self::zero_grad) still
    /// gives present zeros.
    pub fn clear_grads(&mut self) {
        for l in &mut self.layers {
            l.parameters_mut()
                .iter_mut()
                .for_each(|p| p.has_grad = false);
        }
    }

    /// Marks parameter `i`'s gradient absent, as [`clear_grads`](Self::clear_grads) does for
    /// all (to restore a saved state in which it was absent).
    pub fn clear_grad(&mut self, i: usize) {
        self.param_mut(i).has_grad = false;
    }

    fn param(&self, i: usize) -> &Param<f32> {
        let (l, k) = self.index[i];
        &self.layers[l].parameters()[k]
    }

    fn param_mut(&mut self, i: usize) -> &mut Param<f32> {
        let (l, k) = self.index[i];
        &mut self.layers[l].parameters_mut()[k]
    }

    /// Number of saved tensors: the parameters, then the buffers.
    pub(crate) fn num_stored(&self) -> usize {
        self.index.len() + self.buffer_index.len()
    }

    /// Whether saved tensor `i` is a buffer (past the parameters).
    pub(crate) fn is_buffer(&self, i: usize) -> bool {
        i >= self.index.len()
    }

    /// Parameter `i`, or buffer `i − count` past the parameters (all saved tensors).
    pub(crate) fn stored(&self, i: usize) -> &Param<f32> {
        if i < self.index.len() {
            self.param(i)
        } else {
            let (l, k) = self.buffer_index[i - self.index.len()];
            &self.layers[l].buffers()[k]
        }
    }

    pub(crate) fn stored_mut(&mut self, i: usize) -> &mut Param<f32> {
        if i < self.index.len() {
            self.param_mut(i)
        } else {
            let (l, k) = self.buffer_index[i - self.index.len()];
            &mut self.layers[l].buffers_mut()[k]
        }
    }
}

impl optim::Params<f32> for Sequential {
    fn count(&self) -> usize {
        self.index.len()
    }

    fn name(&self, i: usize) -> &str {
        &self.param(i).name
    }

    fn shape(&self, i: usize) -> &[usize] {
        &self.param(i).shape
    }

    fn value(&self, i: usize) -> &[f32] {
        &self.param(i).value
    }

    fn grad(&self, i: usize) -> Option<&[f32]> {
        self.param(i).present_grad()
    }

    fn value_grad_mut(&mut self, i: usize) -> (&mut [f32], Option<&mut [f32]>) {
        self.param_mut(i).value_grad_mut()
    }

    fn ensure_grad(&mut self, i: usize) -> Option<&mut [f32]> {
        Some(self.param_mut(i).ensure_grad())
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
pub(crate) mod tests {
    use super::*;
    use crate::layers::gradcheck::random_tensor;
    use crate::layers::{Activation, DropoutConfig, FlattenConfig, LinearConfig};
    use crate::loss::{CrossEntropyConfig, CrossEntropyLoss};
    use optim::Params;

    /// A 2-16-2 MLP initialised from `seed`.
    pub(crate) fn mlp(seed: u64) -> Sequential {
        Sequential::new(
            &[2],
            &[
                LayerConfig::Linear(LinearConfig {
                    out_features: 16,
                    ..Default::default()
                }),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Linear(LinearConfig::new(16, 2)),
            ],
            seed,
        )
        .unwrap()
    }

    #[test]
    fn names_shapes_and_inference() {
        let m = Sequential::new(
            &[3, 2, 2],
            &[
                LayerConfig::Flatten(FlattenConfig::default()),
                LayerConfig::Linear(LinearConfig {
                    out_features: 5,
                    ..Default::default()
                }),
                LayerConfig::Activation(Activation::Gelu),
                LayerConfig::Dropout(DropoutConfig::default()),
                LayerConfig::Linear(LinearConfig {
                    out_features: 4,
                    bias: false,
                    ..Default::default()
                }),
            ],
            0,
        )
        .unwrap();
        assert_eq!(m.out_shape(), &[4]);
        assert_eq!(m.count(), 3);
        assert_eq!((m.name(0), m.shape(0)), ("1.weight", &[5usize, 12][..]));
        assert_eq!((m.name(1), m.shape(1)), ("1.bias", &[5usize][..]));
        assert_eq!((m.name(2), m.shape(2)), ("4.weight", &[4usize, 5][..]));
        assert_eq!(m.num_parameters(), 60 + 5 + 20);
        // Same seed, same weights.
        assert_eq!(mlp(3).value(0), mlp(3).value(0));
        assert_ne!(mlp(3).value(0), mlp(4).value(0));
        let e =
            Sequential::new(&[2], &[LayerConfig::Linear(LinearConfig::new(3, 1))], 0).unwrap_err();
        assert!(e.to_string().contains("layer 0"), "{e}");
        assert!(Sequential::new(&[2], &[], 0).is_err());
    }

    #[test]
    fn model_gradient_matches_finite_differences_of_the_loss() {
        let mut m = Sequential::new(
            &[3],
            &[
                LayerConfig::Linear(LinearConfig {
                    out_features: 4,
                    ..Default::default()
                }),
                LayerConfig::Activation(Activation::Tanh),
                LayerConfig::Linear(LinearConfig {
                    out_features: 3,
                    ..Default::default()
                }),
            ],
            1,
        )
        .unwrap();
        let x = random_tensor(&[5, 3], 2);
        let labels = [0, 2, 1, 1, 0];
        let mut ce = CrossEntropyLoss::new(CrossEntropyConfig {
            label_smoothing: 0.1,
        })
        .unwrap();
        let loss = |m: &mut Sequential, ce: &mut CrossEntropyLoss| {
            let y = m.forward(&x, true).clone();
            ce.forward(&y, &labels).unwrap() as f64
        };
        m.zero_grad();
        loss(&mut m, &mut ce);
        m.backward(&ce.grad().clone());
        let grads: Vec<Vec<f32>> = (0..m.count())
            .map(|i| m.grad(i).unwrap().to_vec())
            .collect();
        for (i, g) in grads.iter().enumerate() {
            for j in 0..g.len() {
                let v = m.value(i)[j];
                m.value_grad_mut(i).0[j] = v + 1e-3;
                let lp = loss(&mut m, &mut ce);
                m.value_grad_mut(i).0[j] = v - 1e-3;
                let lm = loss(&mut m, &mut ce);
                m.value_grad_mut(i).0[j] = v;
                let fd = (lp - lm) / 2e-3;
                assert!(
                    (g[j] as f64 - fd).abs() < 1e-3 + 1e-2 * fd.abs(),
                    "{} [{j}]: {} vs {fd}",
                    m.name(i),
                    g[j]
                );
            }
        }
        m.zero_grad();
        assert!((0..m.count()).all(|i| m.grad(i).unwrap().iter().all(|&g| g == 0.0)));
    }

    #[test]
    fn backward_params_gives_the_parameter_gradients_of_backward() {
        let mut m = Sequential::new(
            &[2, 3],
            &[
                LayerConfig::Flatten(FlattenConfig::default()),
                LayerConfig::Linear(LinearConfig {
                    out_features: 5,
                    ..Default::default()
                }),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Linear(LinearConfig {
                    out_features: 2,
                    ..Default::default()
                }),
            ],
            4,
        )
        .unwrap();
        let x = random_tensor(&[4, 2, 3], 1);
        let dy = random_tensor(&[4, 2], 2);
        m.forward(&x, true);
        m.backward(&dy);
        let want: Vec<Vec<f32>> = (0..m.count())
            .map(|i| m.grad(i).unwrap().to_vec())
            .collect();
        m.zero_grad();
        m.forward(&x, true);
        m.backward_params(&dy);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(m.grad(i).unwrap(), &w[..], "{}", m.name(i));
        }
        // Accumulates like backward.
        m.forward(&x, true);
        m.backward_params(&dy);
        let doubled: Vec<f32> = want[0].iter().map(|g| 2.0 * g).collect();
        assert_eq!(m.grad(0).unwrap(), &doubled[..]);
    }

    #[test]
    fn per_example_norms_through_the_model() {
        let mut m = mlp(5);
        let x = random_tensor(&[3, 2], 1);
        let dy = random_tensor(&[3, 2], 2);
        m.forward(&x, true);
        let mut norms = vec![0.0; 3];
        m.backward_with_stats(&dy, &mut norms).unwrap();
        for k in 0..3 {
            m.zero_grad();
            let xk = Tensor::from_vec(&[1, 2], x.example(k).to_vec()).unwrap();
            m.forward(&xk, true);
            m.backward(&Tensor::from_vec(&[1, 2], dy.example(k).to_vec()).unwrap());
            let sq: f32 = (0..m.count())
                .flat_map(|i| m.grad(i).unwrap().to_vec())
                .map(|g| g * g)
                .sum();
            assert!(
                (sq - norms[k]).abs() <= 1e-4 * (1.0 + sq),
                "{sq} vs {}",
                norms[k]
            );
        }
    }

    /// The evaluation-statistics variant through a model with both batch norms
    /// (conv → BatchNorm2d → ReLU → flatten → linear → BatchNorm1d → tanh → linear): training
    /// forward with the variant on, per-example norms equal those of each example alone in
    /// evaluation mode; the running statistics are left alone, and with the variant off the
    /// batch statistics make it an error.
    #[test]
    fn per_example_norms_through_batch_norm_in_eval_statistics() {
        use crate::layers::{BatchNormConfig, Conv2dConfig};
        let cfgs = [
            LayerConfig::Conv2d(Conv2dConfig::new(2, 3, 2)),
            LayerConfig::BatchNorm2d(BatchNormConfig::default()),
            LayerConfig::Activation(Activation::Relu),
            LayerConfig::Flatten(FlattenConfig::default()),
            LayerConfig::Linear(LinearConfig::new(27, 5)),
            LayerConfig::BatchNorm1d(BatchNormConfig::default()),
            LayerConfig::Activation(Activation::Tanh),
            LayerConfig::Linear(LinearConfig::new(5, 2)),
        ];
        let mut m = Sequential::new(&[2, 4, 4], &cfgs, 7).unwrap();
        for seed in 0..3 {
            m.forward(&random_tensor(&[6, 2, 4, 4], 10 + seed), true);
        }
        let x = random_tensor(&[4, 2, 4, 4], 1);
        let dy = random_tensor(&[4, 2], 2);
        let stats = m.snapshot();
        assert!(m.set_eval_statistics(true));
        m.zero_grad();
        m.forward(&x, true);
        let mut norms = vec![0.0; 4];
        m.backward_with_stats(&dy, &mut norms).unwrap();
        assert!(m.set_eval_statistics(false));
        assert_eq!(
            m.snapshot(),
            stats,
            "the variant must not touch the running statistics"
        );
        for k in 0..4 {
            m.zero_grad();
            let xk = Tensor::from_vec(&[1, 2, 4, 4], x.example(k).to_vec()).unwrap();
            m.forward(&xk, false);
            m.backward(&Tensor::from_vec(&[1, 2], dy.example(k).to_vec()).unwrap());
            let sq: f32 = (0..m.count())
                .flat_map(|i| m.grad(i).unwrap().to_vec())
                .map(|g| g * g)
                .sum();
            assert!(
                (sq - norms[k]).abs() <= 1e-4 * (1.0 + sq),
                "example {k}: {sq} vs {}",
                norms[k]
            );
        }
        m.forward(&x, true);
        assert!(m.backward_with_stats(&dy, &mut [0.0; 4]).is_err());
        // A model without batch norm is not affected.
        assert!(!mlp(5).set_eval_statistics(true));
    }

    /// `forward_mut` (a leading Flatten applied by reshaping the caller's input) gives the same
    /// outputs and gradients as `forward`, bit for bit, and leaves the input's shape as it was.
    #[test]
    fn forward_mut_equals_forward() {
        let flat = |start_dim, end_dim| LayerConfig::Flatten(FlattenConfig { start_dim, end_dim });
        for (in_shape, first, out) in [
            (vec![1, 4, 3], flat(1, -1), 12),
            (vec![2, 3, 4], flat(1, 2), 4),
        ] {
            let cfgs = [
                first,
                LayerConfig::Linear(LinearConfig::new(out, 5)),
                LayerConfig::Activation(Activation::Tanh),
                LayerConfig::Linear(LinearConfig::new(5, 3)),
            ];
            let mut a = Sequential::new(&in_shape, &cfgs, 3).unwrap();
            let mut b = Sequential::new(&in_shape, &cfgs, 3).unwrap();
            let mut shape = vec![6];
            shape.extend_from_slice(&in_shape);
            let mut x = random_tensor(&shape, 1);
            let ya = a.forward(&x, true).clone();
            let yb = b.forward_mut(&mut x, true).clone();
            assert_eq!(ya, yb);
            assert_eq!(x.shape, shape);
            let dy = random_tensor(&ya.shape, 2);
            let dxa = a.backward(&dy).clone();
            let dxb = b.backward(&dy).clone();
            assert_eq!(dxa, dxb);
            assert_eq!(dxb.shape, shape);
            for i in 0..a.count() {
                assert_eq!(a.grad(i), b.grad(i), "{}", a.name(i));
            }
            // An eval-mode call in between (another batch size) changes nothing for training.
            let mut z = random_tensor(&[2, in_shape[0], in_shape[1], in_shape[2]], 3);
            assert_eq!(b.forward_mut(&mut z, false), a.forward(&z, false));
            assert_eq!(b.forward_mut(&mut x, true), &ya);
            b.backward_params(&dy);
            a.forward(&x, true);
            a.backward_params(&dy);
            for i in 0..a.count() {
                assert_eq!(a.grad(i), b.grad(i), "{}", a.name(i));
            }
        }
        // A model whose first layer is not a reshape takes the plain path.
        let mut m = mlp(0);
        let mut x = random_tensor(&[4, 2], 5);
        let y = m.forward(&x, false).clone();
        assert_eq!(m.forward_mut(&mut x, false), &y);
    }

    /// The buffers alone round-trip: a training forward moves the running statistics, restoring
    /// the saved buffers puts them back without touching the weights; a wrong count or length
    /// is an error.
    #[test]
    fn buffers_snapshot_restores_running_statistics() {
        let cfgs = [
            LayerConfig::Linear(LinearConfig::new(3, 4)),
            LayerConfig::BatchNorm1d(crate::BatchNormConfig::default()),
            LayerConfig::Linear(LinearConfig::new(4, 2)),
        ];
        let mut m = Sequential::new(&[3], &cfgs, 1).unwrap();
        let before = m.snapshot();
        let mut saved = Vec::new();
        m.buffers_snapshot_into(&mut saved);
        assert!(!saved.is_empty());
        m.forward(&random_tensor(&[5, 3], 4), true);
        assert_ne!(m.snapshot(), before);
        m.restore_buffers(&saved).unwrap();
        assert_eq!(m.snapshot(), before);
        assert!(m.restore_buffers(&saved[1..]).is_err());
        let mut short = saved.clone();
        short[0].pop();
        assert!(m.restore_buffers(&short).is_err());
    }

    /// Restoring the generator state and a weight snapshot replays the same dropout masks and
    /// outputs; a state that does not fit is an error.
    #[test]
    fn rng_state_and_snapshot_replay_dropout() {
        let cfgs = [
            LayerConfig::Linear(LinearConfig::new(3, 8)),
            LayerConfig::Dropout(DropoutConfig { p: 0.5 }),
            LayerConfig::Linear(LinearConfig::new(8, 2)),
        ];
        let mut m = Sequential::new(&[3], &cfgs, 1).unwrap();
        let x = Tensor::from_vec(&[4, 3], (0..12).map(|i| i as f32 * 0.1).collect()).unwrap();
        m.forward(&x, true);
        let (state, weights) = (m.rng_state(), m.snapshot());
        assert_eq!(state.len(), 4);
        let first = m.forward(&x, true).clone();
        let second = m.forward(&x, true).clone();
        assert_ne!(first, second, "fresh masks each call");
        m.set_rng_state(&state).unwrap();
        m.restore(&weights).unwrap();
        assert_eq!(*m.forward(&x, true), first);
        assert!(m.set_rng_state(&state[..3]).is_err());
        assert!(m.set_rng_state(&[state.clone(), vec![1]].concat()).is_err());
        assert!(m.restore(&weights[..1]).is_err());
    }

    #[test]
    fn mlp_learns_separable_data_with_sgd_momentum() {
        // Two classes split by the line x0 + 0.5·x1 = 0.1, with a margin.
        let mut rng = Rng::new(42);
        let (mut xs, mut labels) = (Vec::new(), Vec::new());
        while labels.len() < 64 {
            let (a, b) = (rng.uniform_in(-1.0, 1.0), rng.uniform_in(-1.0, 1.0));
            let s = a + 0.5 * b - 0.1;
            if s.abs() < 0.1 {
                continue;
            }
            xs.extend([a as f32, b as f32]);
            labels.push(usize::from(s > 0.0));
        }
        let x = Tensor::from_vec(&[64, 2], xs).unwrap();
        let mut model = mlp(0);
        let recipe = optim::optimizers::sgd::SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            ..Default::default()
        }
        .recipe::<f32>()
        .unwrap();
        let mut opt = optim::Optimizer::new(recipe, &model).unwrap();
        let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
        let accuracy = |model: &mut Sequential| {
            let y = model.forward(&x, false);
            (0..64)
                .filter(|&n| usize::from(y.data[2 * n + 1] > y.data[2 * n]) == labels[n])
                .count()
        };
        let first = {
            let y = model.forward(&x, true).clone();
            ce.forward(&y, &labels).unwrap()
        };
        let mut out_ptr = None;
        let mut last = first;
        for _ in 0..300 {
            model.zero_grad();
            let y = model.forward(&x, true);
            // Steady state reuses the output buffer.
            assert_eq!(*out_ptr.get_or_insert(y.data.as_ptr()), y.data.as_ptr());
            last = ce.forward(y, &labels).unwrap();
            model.backward(ce.grad());
            opt.step(&mut model).unwrap();
        }
        assert!(last < 0.1 * first, "loss {first} → {last}");
        assert_eq!(accuracy(&mut model), 64);
    }

    /// Batch norm over one value per channel needs two examples per training batch; over a
    /// spatial extent (or a sequence) one example is enough; inside a residual block too.
    #[test]
    fn min_train_batch_follows_batch_norms_values_per_channel() {
        use crate::layers::{BatchNormConfig, Conv2dConfig};
        use crate::ResidualConfig;
        let bn1 = || LayerConfig::BatchNorm1d(BatchNormConfig::default());
        let bn2 = || LayerConfig::BatchNorm2d(BatchNormConfig::default());
        let lin = |i, o| LayerConfig::Linear(LinearConfig::new(i, o));
        let conv = |k| LayerConfig::Conv2d(Conv2dConfig::new(1, 2, k));
        let need = |shape: &[usize], cfgs: &[LayerConfig]| {
            Sequential::new(shape, cfgs, 1).unwrap().min_train_batch()
        };
        assert_eq!(need(&[4], &[lin(4, 3)]), (1, None));
        assert_eq!(need(&[4], &[lin(4, 3), bn1(), lin(3, 2)]), (2, Some(1)));
        // [C, L] with L > 1: the statistics run over the sequence as well.
        assert_eq!(need(&[3, 5], &[bn1()]), (1, None));
        assert_eq!(need(&[3, 1], &[bn1()]), (2, Some(0)));
        assert_eq!(need(&[1, 4, 4], &[conv(3), bn2()]), (1, None));
        // A 4 × 4 kernel leaves 1 × 1 per channel.
        assert_eq!(need(&[1, 4, 4], &[conv(4), bn2()]), (2, Some(1)));
        let block = LayerConfig::Residual(ResidualConfig {
            body: vec![lin(3, 3), bn1()],
            shortcut: None,
        });
        assert_eq!(need(&[4], &[lin(4, 3), block]), (2, Some(1)));
    }
}
