//! Exact Hessian-vector products: Pearlmutter's R-operator through the engine's layers.
//!
//! # Definition
//!
//! For a direction `v` over the parameters `θ`, `R{·}` is the directional derivative along `v`:
//! `R{q} = d/dt q(θ + t·v) |_{t=0}` for any quantity `q` computed from the weights (an
//! activation, a gradient). Applied to the gradient it gives the Hessian-vector product,
//! `R{∇θ L} = H v`, exactly (no step size, no truncation error): Pearlmutter, "Fast exact
//! multiplication by the Hessian", Neural Computation 6(1), 1994 (forward-over-backward
//! differentiation, as `torch.func.jvp(grad(f))` computes it).
//!
//! # Computation
//!
//! After an ordinary [`forward`](crate::Layer::forward) pass (whose caches the R-passes read):
//!
//! 1. **R-forward** ([`Layer::forward_r`]), first layer to last: each
//!    layer `y = f(x, w)` computes `R{y} = ∂f/∂x · R{x} + ∂f/∂w · v_w`. The model's input is data:
//!    `R{x} = 0`, carried as `None` so that layers in front of the first one with parameters do
//!    nothing and the first one skips its `∂f/∂x` term.
//! 2. **Loss**: `R{∂L/∂z}` from the output `z` and `R{z}`
//!    ([`CrossEntropyLoss::grad_r`](crate::CrossEntropyLoss::grad_r),
//!    [`MseLoss::grad_r`](crate::MseLoss::grad_r)).
//! 3. **R-backward** ([`Layer::backward_r`]), last layer to first:
//!    with `dy = ∂L/∂y` and `R{dy}`, each layer computes the ordinary `dx = ∂L/∂x` and its
//!    R-image `R{dx}`, and adds `R{∂L/∂w}` (the layer's part of `H v`). Differentiating the
//!    backward formulas brings in second derivatives of the layer (`f''` of an activation, the
//!    batch-norm statistics' dependence on the batch); bilinear layers (linear, convolution)
//!    have none, only the cross terms `R{dy}·x + dy·R{x}`.
//!
//! [`Sequential::forward_r`](crate::Sequential::forward_r) and
//! [`Sequential::backward_r`](crate::Sequential::backward_r) run the passes over a model; the
//! chain code is `chain.rs`. One product costs a forward pass, an R-forward pass (about one
//! more forward) and an R-backward pass (about two backward passes): about twice a training
//! step's forward+backward (measured 2.0–2.4× on the mnist MLP and a small CNN; a
//! finite-difference product, two gradients at `θ ± h·v`, measured 2.1–2.9×:
//! `cargo test --release -p train --test hvp -- --ignored --nocapture`).
//!
//! # Conventions
//!
//! * `L` is the **mean** loss over the batch (the loss the training step differentiates), so
//!   `H v` is the Hessian of the mean loss.
//! * **Training mode is a fixed function of the weights within a step**: dropout uses the masks
//!   of the last forward (the R-passes never draw), max pooling routes through the argmax
//!   recorded by the last forward (`R{y} = R{x}[argmax]`), and ReLU-type kinks take the branch
//!   the forward took (`f'' = 0` almost everywhere), as autograd does.
//! * **Batch normalisation in training mode** differentiates through the batch statistics:
//!   `μ` and `σ² ` (biased) are functions of the whole batch, so
//!   `R{x̂} = (R{x} − mean(R{x}) − x̂·mean(x̂·R{x}))/σ` per channel and the backward gains the
//!   corresponding second-order terms. In evaluation mode (running statistics) the statistics
//!   are constants and batch norm is affine. Running statistics are never touched by R-passes.
//! * **Activations** use their exact second derivatives: sigmoid `s(1−s)(1−2s)`, tanh
//!   `−2t(1−t²)`, ELU `α·eˣ` (x ≤ 0), GELU (erf form, PyTorch's default) `φ(x)(2 − x²)`, SiLU
//!   `σ(1−σ)(2 + x(1−2σ))`, softplus `β·σ(βx)(1−σ(βx))` (zero where `βx > threshold`, the
//!   linear branch), ReLU and leaky ReLU 0.
//! * **Losses**: cross-entropy (with label smoothing, whose target is constant)
//!   `R{∂L/∂z} = p ⊙ (R{z} − ⟨p, R{z}⟩)/N` per row (`p` the softmax, `N` the batch); MSE
//!   `R{∂L/∂z} = 2·R{z}/numel`.
//! * Everything is computed in `f32` (per-channel and per-row sums in `f64`): `H v` is exact up
//!   to `f32` rounding, about `1e-6` relative of `‖H‖·‖v‖` on small models (tested against
//!   PyTorch in `f64`, `tests/hvp/`).
//!
//! # Cost and memory
//!
//! The R-buffers (`R{x}` copies, `R{y}`, `R{dx}`, the convolution's `im2col` of `R{x}`) are
//! owned by the layers like their other buffers, empty until the first R-pass and reused after
//! it: an ordinary training step neither allocates nor touches them, and a steady-state
//! Hessian-vector product allocates nothing (`tests/no_alloc.rs`).

use crate::layer::Layer;

/// The error of a layer without an R-operator (a custom [`Layer`] that does not implement one).
/// Number of parameters (tensors) of a chain of layers: how many directions it takes.
pub(crate) fn param_count(layers: &[Box<dyn Layer>]) -> usize {
    layers.iter().map(|l| l.parameters().len()).sum()
}

/// Checks that a layer was given one direction (and one product slot) per parameter, each of
/// the parameter's size: a programming error otherwise, like a shape mismatch in `backward`.
pub(crate) fn assert_directions(layer: &dyn Layer, v: &[Vec<f32>]) {
    let p = layer.parameters();
    assert!(
        v.len() == p.len() && v.iter().zip(p).all(|(v, p)| v.len() == p.value.len()),
        "{}: {} directions do not fit its {} parameters",
        layer.kind(),
        v.len(),
        p.len()
    );
}

/// `acc[j] += Σ_rows rows[r·k + j]` for rows of length `k = acc.len()` (bias terms).
pub(crate) fn add_row_sums(acc: &mut [f32], rows: &[f32]) {
    for row in rows.chunks_exact(acc.len()) {
        acc.iter_mut().zip(row).for_each(|(a, r)| *a += r);
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests;
