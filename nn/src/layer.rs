//! The [`Layer`] trait: explicit forward and backward passes over layer-owned buffers.
//!
//! A layer's parameters are [`optim::Param`]s (PyTorch layout), the type the optimizer steps:
//! `backward` adds into `grad` when it is present (`has_grad`) and writes it when it is absent
//! (bit-identical to adding into zeros), and [`Layer::zero_grad`] clears it. A layer names them
//! locally (`weight`, `bias`); when the layer joins a [`Sequential`](crate::Sequential) model the
//! model qualifies the names with the layer's position (`0.weight`) and marks every gradient
//! present (`has_grad`), since its backward pass writes them all.

use optim::Param;

use crate::{NnError, Result, Tensor};

/// A layer with explicit forward and backward passes.
///
/// Shapes are batch first. The layer owns its output and input-gradient tensors and reuses them
/// across calls, so once shapes are stable neither pass allocates.
///
/// * [`forward`](Layer::forward) computes the output for `x` into the layer's buffer and caches
///   whatever the backward pass needs (input copy, mask, …). `train` selects training behaviour
///   (dropout active), as PyTorch's `module.train()`.
/// * [`backward`](Layer::backward) takes `dy = ∂L/∂y` for the most recent forward and returns
///   `dx = ∂L/∂x`, *adding* parameter gradients into [`Param::grad`] (PyTorch accumulates);
///   a gradient marked absent (`has_grad` false, e.g. after
///   [`Sequential::clear_grads`](crate::Sequential::clear_grads)) is written instead, as
///   PyTorch's first backward after `zero_grad(set_to_none=True)` does, and marked present.
/// * [`backward_with_stats`](Layer::backward_with_stats) does the same and also adds, for every
///   example `n`, the squared norm of that example's contribution to the parameter gradients to
///   `sq_norms[n]` (the building block of per-example gradient norms, e.g. for DP-SGD or
///   gradient-noise statistics). Parameter-free layers add nothing.
///
/// Shapes are checked once, when a model is built ([`out_shape`](Layer::out_shape) returns the
/// error); `forward` and `backward` panic on a tensor whose shape contradicts the layer (a
/// programming error, like an out-of-bounds index), and `backward` must follow a `forward`.
pub trait Layer: Send {
    /// Short kind name (`linear`, `relu`, …) for messages.
    fn kind(&self) -> &'static str;

    /// Output shape for a per-example input shape (no batch dimension); errors name the
    /// mismatch.
    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>>;

    fn forward(&mut self, x: &Tensor, train: bool) -> &Tensor;

    /// For layers that only reshape (Flatten): rewrites the batch shape `shape` to the output's
    /// and records what [`backward`](Layer::backward) needs, so that the data is not copied;
    /// returns `false` (the default) for every other layer. Used by
    /// [`Sequential::forward_mut`](crate::Sequential::forward_mut).
    fn reshape_in_place(&mut self, _shape: &mut Vec<usize>) -> bool {
        false
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor;

    /// [`backward`](Layer::backward) that also accumulates per-example squared gradient norms
    /// into `sq_norms` (length = batch). The default serves parameter-free layers and is an
    /// error for layers with parameters that do not implement it.
    fn backward_with_stats(&mut self, dy: &Tensor, sq_norms: &mut [f32]) -> Result<&Tensor> {
        if !self.parameters().is_empty() {
            return Err(NnError::Invalid(format!(
                "layer `{}` cannot compute per-example gradient norms",
                self.kind()
            )));
        }
        check_stats_len(dy, sq_norms)?;
        Ok(self.backward(dy))
    }

    /// The fewest examples a training-mode batch may hold for per-example inputs of
    /// `in_shape`: 1 for layers that treat examples apart; batch norm with batch statistics
    /// needs more than one value per channel (2 when an example has one value per channel, as
    /// PyTorch's `BatchNorm` requires). Callers check batch sizes against it before training.
    fn min_train_batch(&self, _in_shape: &[usize]) -> usize {
        1
    }

    /// Switches the evaluation-statistics variant on or off: while on, a layer whose training
    /// forward couples the examples of a batch (batch norm) normalises with its running
    /// statistics even when `train` is set, and leaves them unchanged, so that every example's
    /// gradient is defined (what BackPACK proposes for per-example quantities of batch-norm
    /// models). Other training behaviour (dropout) is kept. Returns whether the layer (or a
    /// sub-layer) is affected; the default, for layers that do not couple examples, is `false`.
    fn set_eval_statistics(&mut self, _on: bool) -> bool {
        false
    }

    /// [`backward`](Layer::backward) when `∂L/∂x` is not needed (the first layer with
    /// parameters in a model, whose input is data): adds the parameter gradients only, and may
    /// skip computing the input gradient. The default runs `backward`.
    fn backward_params(&mut self, dy: &Tensor) {
        self.backward(dy);
    }

    /// The layer's parameters, in PyTorch's registration order (`weight` before `bias`).
    fn parameters(&self) -> &[Param<f32>] {
        &[]
    }

    fn parameters_mut(&mut self) -> &mut [Param<f32>] {
        &mut []
    }

    /// Non-trainable state saved with the weights (PyTorch's buffers, e.g. batch norm's
    /// `running_mean`); only `name`, `shape` and `value` are used. Default: none.
    fn buffers(&self) -> &[Param<f32>] {
        &[]
    }

    fn buffers_mut(&mut self) -> &mut [Param<f32>] {
        &mut []
    }

    /// The state of the layer's random generators (dropout masks), appended to `out`, so a
    /// checkpoint can resume the exact mask sequence. Default: none.
    fn rng_state(&self, _out: &mut Vec<u64>) {}

    /// Restores what [`rng_state`](Layer::rng_state) appended, consuming it from the front of
    /// `state`; returns the number of words used.
    fn set_rng_state(&mut self, _state: &[u64]) -> Result<usize> {
        Ok(0)
    }

    /// R-forward (see [`rop`](crate::rop)): after a [`forward`](Layer::forward), the
    /// directional derivative `R{y}` of that forward's output along the input direction `rx`
    /// (`None`: zero, as for data) and the parameter directions `v` (`v[k]` for parameter `k`,
    /// one per parameter). Returns `None` when `R{y}` is zero (a parameter-free layer given
    /// `None`). Keeps what [`backward_r`](Layer::backward_r) needs. The default is an error: a
    /// layer without an R-operator.
    fn forward_r(&mut self, _rx: Option<&Tensor>, _v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        Err(NnError::no_r_operator(self.kind()))
    }

    /// R-backward: given `dy = ∂L/∂y` and `rdy = R{dy}` for the last
    /// [`forward`](Layer::forward) and [`forward_r`](Layer::forward_r), returns
    /// `(dx, R{dx})` and *adds* `R{∂L/∂w_k}` (this layer's part of the Hessian-vector product)
    /// to `hv[k]`. Parameter gradients ([`Param::grad`]) are left alone. With `need_dx` false
    /// (the first layer with parameters of a model) the input-side results may be skipped and
    /// the returned tensors are unspecified. The default is an error.
    fn backward_r(
        &mut self,
        _dy: &Tensor,
        _rdy: &Tensor,
        _v: &[Vec<f32>],
        _hv: &mut [Vec<f32>],
        _need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        Err(NnError::no_r_operator(self.kind()))
    }

    /// The concrete layer, for tools that read a built-in layer's structure (the doctor's exact
    /// Hessian diagonal reads a convolution's geometry, a pool's window, a residual block's
    /// branches, an activation's kind, a dropout's mask); `None`, the default, for layers that
    /// do not expose it.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// Clears every parameter gradient: zeros, marked present, so that they read as zero and
    /// the next backward adds to them.
    fn zero_grad(&mut self) {
        for p in self.parameters_mut() {
            p.grad.iter_mut().for_each(|g| *g = 0.0);
            p.has_grad = true;
        }
    }
}

/// How a backward pass contributes to `p`'s gradient: returns `true` when the gradient is
/// present and the contribution is added, `false` when it is absent (its buffer holds a stale
/// gradient that nobody may read) and the contribution must be written; either way the
/// gradient is marked present.
///
/// The first contribution after [`Sequential::clear_grads`](crate::Sequential::clear_grads)
/// thus costs no zeroing pass and no read of the buffer. Results are bit-identical to adding
/// into zeros: a written scalar sum is formed as `0.0 + s` ([`write_or_add`]), which is `s`
/// except that `−0` becomes `+0`, exactly as `+0 += s` did; a matrix product that overwrites
/// (`acc = false`) starts its accumulators at `+0`, so it never produces `−0` either.
pub(crate) fn contribution(p: &mut Param<f32>) -> bool {
    std::mem::replace(&mut p.has_grad, true)
}

/// `g = (add ? g : 0) + s` elementwise: a gradient contribution per [`contribution`].
#[inline]
pub(crate) fn write_or_add(g: &mut [f32], s: &[f32], add: bool) {
    if add {
        g.iter_mut().zip(s).for_each(|(g, &s)| *g += s);
    } else {
        g.iter_mut().zip(s).for_each(|(g, &s)| *g = 0.0 + s);
    }
}

pub(crate) fn check_stats_len(dy: &Tensor, sq_norms: &[f32]) -> Result<()> {
    if sq_norms.len() != dy.batch() {
        return Err(NnError::Shape(format!(
            "per-example statistics buffer has {} entries for a batch of {}",
            sq_norms.len(),
            dy.batch()
        )));
    }
    Ok(())
}
