//! `Sequential`: layers applied in order, built from configs with input-shape inference;
//! exposes its parameters to `optim` with PyTorch's `nn.Sequential` names and saves/loads them
//! as safetensors.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::layer::Layer;
use crate::layers::{backward_chain, forward_chain};
use crate::layers::{
    Activation, ActivationLayer, Dropout, DropoutConfig, Flatten, FlattenConfig, Linear,
    LinearConfig,
};
use crate::layers::{BatchNorm, BatchNormConfig, Residual, ResidualConfig};
use crate::layers::{
    Conv, Conv1dConfig, Conv2dConfig, GlobalAvgPool, Pool, Pool1dConfig, Pool2dConfig,
};
use crate::{NnError, Result, Rng, Tensor};

/// One layer of a [`Sequential`] model.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerConfig {
    Linear(LinearConfig),
    Activation(Activation),
    Flatten(FlattenConfig),
    Dropout(DropoutConfig),
    /// PyTorch's `BatchNorm1d`: per-example `[C]` or `[C, L]`.
    BatchNorm1d(BatchNormConfig),
    /// PyTorch's `BatchNorm2d`: per-example `[C, H, W]`.
    BatchNorm2d(BatchNormConfig),
    /// A residual block `body(x) + shortcut(x)`.
    Residual(ResidualConfig),
    Conv2d(Conv2dConfig),
    Conv1d(Conv1dConfig),
    MaxPool2d(Pool2dConfig),
    MaxPool1d(Pool1dConfig),
    AvgPool2d(Pool2dConfig),
    AvgPool1d(Pool1dConfig),
    GlobalAvgPool,
}

impl LayerConfig {
    /// Builds the layer for per-example input shape `in_shape`, drawing its initial values (or
    /// its dropout generator) from `rng`.
    pub fn build(&self, in_shape: &[usize], rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(match self {
            LayerConfig::Linear(c) => {
                let i = *in_shape.last().ok_or_else(|| {
                    NnError::Shape("linear needs an input with at least one dimension".into())
                })?;
                Box::new(Linear::new(c, i, rng)?)
            }
            LayerConfig::Activation(a) => Box::new(ActivationLayer::new(*a)?),
            LayerConfig::Flatten(c) => Box::new(Flatten::new(*c)?),
            LayerConfig::Dropout(c) => Box::new(Dropout::new(*c, rng.fork())?),
            LayerConfig::BatchNorm1d(c) => Box::new(BatchNorm::new(c, 1, in_shape)?),
            LayerConfig::BatchNorm2d(c) => Box::new(BatchNorm::new(c, 2, in_shape)?),
            LayerConfig::Residual(c) => Box::new(Residual::new(c, in_shape, rng)?),
            LayerConfig::Conv2d(c) => Box::new(Conv::new_2d(c, channels(in_shape)?, rng)?),
            LayerConfig::Conv1d(c) => Box::new(Conv::new_1d(c, channels(in_shape)?, rng)?),
            LayerConfig::MaxPool2d(c) => Box::new(Pool::max_2d(c)?),
            LayerConfig::MaxPool1d(c) => Box::new(Pool::max_1d(c)?),
            LayerConfig::AvgPool2d(c) => Box::new(Pool::avg_2d(c)?),
            LayerConfig::AvgPool1d(c) => Box::new(Pool::avg_1d(c)?),
            LayerConfig::GlobalAvgPool => Box::new(GlobalAvgPool::new()),
        })
    }
}

/// Channels of a per-example `[C, …]` input shape.
fn channels(in_shape: &[usize]) -> Result<usize> {
    in_shape
        .first()
        .copied()
        .ok_or_else(|| NnError::Shape("a convolution needs a [C, …] input".into()))
}

/// A chain of layers. Parameter `k` of layer `i` is named `{i}.{name}` (`0.weight`, `0.bias`,
/// `2.weight`, …), as in PyTorch's `nn.Sequential`, with PyTorch's layouts.
pub struct Sequential {
    layers: Vec<Box<dyn Layer>>,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    names: Vec<String>,
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
        let mut shape = in_shape.to_vec();
        let mut layers = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let layer = c
                .build(&shape, &mut rng)
                .map_err(|e| NnError::Invalid(format!("layer {i}: {e}")))?;
            shape = layer.out_shape(&shape)?;
            layers.push(layer);
        }
        Self::from_layers(in_shape, layers)
    }

    /// A model from already-built layers (custom [`Layer`] implementations included).
    pub fn from_layers(in_shape: &[usize], layers: Vec<Box<dyn Layer>>) -> Result<Self> {
        if layers.is_empty() {
            return Err(NnError::Invalid(
                "a sequential model needs at least one layer".into(),
            ));
        }
        let mut shape = in_shape.to_vec();
        let (mut names, mut index) = (Vec::new(), Vec::new());
        for (i, l) in layers.iter().enumerate() {
            shape = l
                .out_shape(&shape)
                .map_err(|e| NnError::Shape(format!("layer {i} ({}): {e}", l.kind())))?;
            for (k, p) in l.parameters().iter().enumerate() {
                names.push(format!("{i}.{}", p.name));
                index.push((i, k));
            }
        }
        let mut buffer_index = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            for (k, b) in l.buffers().iter().enumerate() {
                names.push(format!("{i}.{}", b.name));
                buffer_index.push((i, k));
            }
        }
        Ok(Sequential {
            layers,
            in_shape: in_shape.to_vec(),
            out_shape: shape,
            names,
            index,
            buffer_index,
            shape_scratch: Vec::new(),
        })
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
        fn run(layers: &mut [Box<dyn Layer>], dy: &Tensor) {
            let (last, rest) = layers.split_last_mut().expect("non-empty");
            if rest.is_empty() {
                last.backward_params(dy);
            } else {
                run(rest, last.backward(dy));
            }
        }
        if let Some(first) = self.layers.iter().position(|l| !l.parameters().is_empty()) {
            run(&mut self.layers[first..], dy);
        }
    }

    /// [`backward`](Self::backward) that also adds each example's squared gradient norm over
    /// all parameters to `sq_norms[n]` (see [`Layer::backward_with_stats`]).
    pub fn backward_with_stats(&mut self, dy: &Tensor, sq_norms: &mut [f32]) -> Result<&Tensor> {
        fn run<'a>(
            layers: &'a mut [Box<dyn Layer>],
            dy: &Tensor,
            s: &mut [f32],
        ) -> Result<&'a Tensor> {
            let (last, rest) = layers.split_last_mut().expect("non-empty");
            let dx = last.backward_with_stats(dy, s)?;
            if rest.is_empty() {
                Ok(dx)
            } else {
                run(rest, dx, s)
            }
        }
        run(&mut self.layers, dy, sq_norms)
    }

    /// Every parameter and buffer value, in [`save`](Self::save)'s order: an in-memory copy of
    /// the weights (best-so-far weights, averaged weights for evaluation).
    pub fn snapshot(&self) -> Vec<Vec<f32>> {
        (0..self.names.len())
            .map(|i| self.stored(i).value.clone())
            .collect()
    }

    /// [`snapshot`](Self::snapshot) into `out`, reusing its buffers.
    pub fn snapshot_into(&self, out: &mut Vec<Vec<f32>>) {
        out.resize_with(self.names.len(), Vec::new);
        for (i, o) in out.iter_mut().enumerate() {
            o.clear();
            o.extend_from_slice(&self.stored(i).value);
        }
    }

    /// Restores a [`snapshot`](Self::snapshot) of this model, reusing the buffers.
    pub fn restore(&mut self, snapshot: &[Vec<f32>]) -> Result<()> {
        if snapshot.len() != self.names.len() {
            return Err(NnError::Invalid(format!(
                "snapshot has {} tensors, the model {}",
                snapshot.len(),
                self.names.len()
            )));
        }
        for (i, v) in snapshot.iter().enumerate() {
            if v.len() != self.stored(i).value.len() {
                return Err(NnError::Shape(format!(
                    "snapshot tensor `{}` has {} values, the model {}",
                    self.names[i],
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

    /// Clears every parameter gradient.
    pub fn zero_grad(&mut self) {
        self.layers.iter_mut().for_each(|l| l.zero_grad());
    }

    fn param(&self, i: usize) -> &crate::Parameter {
        let (l, k) = self.index[i];
        &self.layers[l].parameters()[k]
    }

    /// Parameter `i`, or buffer `i − count` past the parameters (all saved tensors).
    fn stored(&self, i: usize) -> &crate::Parameter {
        if i < self.index.len() {
            self.param(i)
        } else {
            let (l, k) = self.buffer_index[i - self.index.len()];
            &self.layers[l].buffers()[k]
        }
    }

    fn stored_mut(&mut self, i: usize) -> &mut crate::Parameter {
        if i < self.index.len() {
            let (l, k) = self.index[i];
            &mut self.layers[l].parameters_mut()[k]
        } else {
            let (l, k) = self.buffer_index[i - self.index.len()];
            &mut self.layers[l].buffers_mut()[k]
        }
    }

    /// Saves the weights and buffers (batch norm's running statistics) as safetensors (`F32`,
    /// PyTorch names and shapes, metadata `format = pt`), written to a temporary file and
    /// renamed into place.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes: Vec<Vec<u8>> = (0..self.names.len())
            .map(|i| {
                self.stored(i)
                    .value
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect()
            })
            .collect();
        let views = (0..self.names.len())
            .map(|i| {
                let view = TensorView::new(Dtype::F32, self.stored(i).shape.clone(), &bytes[i])
                    .map_err(|e| weights_err(path, format!("tensor `{}`: {e}", self.names[i])))?;
                Ok((self.names[i].clone(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        let data = safetensors::serialize(views, &Some(meta))
            .map_err(|e| weights_err(path, format!("cannot serialise: {e}")))?;
        write_atomic(path, &data)
    }

    /// Loads weights saved by [`save`](Self::save) (or by PyTorch's `save_file` of an
    /// `nn.Sequential` state dict in f32). Every parameter must be present with its shape and
    /// no extra tensors may be; on any error the model is left unchanged. Buffers may also be
    /// `I64` (PyTorch's `num_batches_tracked`).
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| NnError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|e| weights_err(path, format!("not a valid safetensors file: {e}")))?;
        let mut extra: Vec<String> = file
            .names()
            .into_iter()
            .filter(|n| !self.names.contains(n))
            .cloned()
            .collect();
        if !extra.is_empty() {
            extra.sort();
            return Err(weights_err(
                path,
                format!("tensors not in the model: {extra:?}"),
            ));
        }
        let mut values = Vec::with_capacity(self.names.len());
        for (i, name) in self.names.iter().enumerate() {
            let t = file
                .tensor(name)
                .map_err(|_| weights_err(path, format!("lacks tensor `{name}`")))?;
            let want = &self.stored(i).shape;
            if t.shape() != want.as_slice() {
                return Err(weights_err(
                    path,
                    format!(
                        "tensor `{name}` has shape {:?}, the model needs {want:?}",
                        t.shape()
                    ),
                ));
            }
            let int_buffer = i >= self.index.len() && t.dtype() == Dtype::I64;
            if t.dtype() != Dtype::F32 && !int_buffer {
                return Err(weights_err(
                    path,
                    format!("tensor `{name}` has dtype {:?}, expected F32", t.dtype()),
                ));
            }
            values.push((t.data(), int_buffer));
        }
        for (i, (data, int)) in values.into_iter().enumerate() {
            let p = self.stored_mut(i);
            if int {
                for (v, b) in p.value.iter_mut().zip(data.chunks_exact(8)) {
                    *v = i64::from_le_bytes(b.try_into().unwrap()) as f32;
                }
            } else {
                for (v, b) in p.value.iter_mut().zip(data.chunks_exact(4)) {
                    *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
        Ok(())
    }
}

fn weights_err(path: &Path, msg: String) -> NnError {
    NnError::Weights {
        path: path.display().to_string(),
        msg,
    }
}

/// Writes `data` to `path` durably ([`durable::write`]).
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    durable::write(path, data).map_err(|source| NnError::Io {
        path: path.display().to_string(),
        source,
    })
}

impl optim::Params<f32> for Sequential {
    fn count(&self) -> usize {
        self.index.len()
    }

    fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    fn shape(&self, i: usize) -> &[usize] {
        &self.param(i).shape
    }

    fn value(&self, i: usize) -> &[f32] {
        &self.param(i).value
    }

    fn grad(&self, i: usize) -> Option<&[f32]> {
        Some(&self.param(i).grad)
    }

    fn value_grad_mut(&mut self, i: usize) -> (&mut [f32], Option<&mut [f32]>) {
        let (l, k) = self.index[i];
        let p = &mut self.layers[l].parameters_mut()[k];
        (&mut p.value, Some(&mut p.grad))
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::random_tensor;
    use crate::loss::{CrossEntropyConfig, CrossEntropyLoss};
    use optim::Params;

    fn mlp(seed: u64) -> Sequential {
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

    #[test]
    fn save_load_round_trip_and_mismatches() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let a = mlp(1);
        a.save(&p).unwrap();
        a.save(&p).unwrap(); // replaces
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
        let mut b = mlp(2);
        assert_ne!(a.value(0), b.value(0));
        b.load(&p).unwrap();
        for i in 0..a.count() {
            assert_eq!(a.value(i), b.value(i));
        }
        let bytes = std::fs::read(&p).unwrap();
        let f = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(f.tensor("0.weight").unwrap().shape(), &[16, 2]);
        assert_eq!(f.tensor("2.bias").unwrap().shape(), &[2]);

        // Wrong shape: hidden width 8.
        let mut c = Sequential::new(
            &[2],
            &[
                LayerConfig::Linear(LinearConfig::new(2, 8)),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Linear(LinearConfig::new(8, 2)),
            ],
            0,
        )
        .unwrap();
        let before = c.value(0).to_vec();
        let e = c.load(&p).unwrap_err().to_string();
        assert!(
            e.contains("`0.weight` has shape [16, 2]") && e.contains("[8, 2]"),
            "{e}"
        );
        assert_eq!(c.value(0), &before[..], "model changed by a failed load");
        // Missing and extra names.
        let mut d =
            Sequential::new(&[2], &[LayerConfig::Linear(LinearConfig::new(2, 16))], 0).unwrap();
        let e = d.load(&p).unwrap_err().to_string();
        assert!(e.contains("2.weight"), "{e}");
        let mut big = Sequential::new(
            &[2],
            &[
                LayerConfig::Linear(LinearConfig::new(2, 16)),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Linear(LinearConfig::new(16, 2)),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Linear(LinearConfig::new(2, 2)),
            ],
            0,
        )
        .unwrap();
        let e = big.load(&p).unwrap_err().to_string();
        assert!(e.contains("lacks tensor `4.weight`"), "{e}");
        assert!(matches!(
            d.load(dir.path().join("nope")),
            Err(NnError::Io { .. })
        ));
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
}
