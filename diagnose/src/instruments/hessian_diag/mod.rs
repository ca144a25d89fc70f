//! The exact diagonal of the Hessian for models whose structure allows it: chains of linear and
//! convolution layers (1-d and 2-d: stride, padding, dilation), elementwise activations (every
//! built-in one), max, average and global average pooling, flatten, dropout (the step's masks)
//! and residual blocks built of these, under cross-entropy or MSE — the case of BackPACK's
//! `DiagHessian` (Dangel, Kunstner & Hennig, "BackPACK: packing more into backprop", ICLR 2020,
//! App. C; the recursion is Mizutani & Dreyfus's second-order backpropagation, 2008).
//!
//! # Rule
//!
//! The examples of such a model do not interact, so the Hessian of the mean loss is a sum over
//! examples. For one example, with `Mₗ = ∂²L/∂zₗ²` the Hessian with respect to layer `l`'s output
//! and `δₗ = ∂L/∂zₗ`, starting from the loss (`M = (diag(p) − p pᵀ)/N` for cross-entropy with
//! softmax `p`, label smoothing included since its target is constant; `M = 2/(N·K)·I` for MSE
//! over `K` outputs), backwards:
//!
//! * affine `z[o, p] = Σ_k W[o, k]·A[k, p] + b[o]` (`A` the input's patches: the input itself for
//!   a linear layer, its `im2col` for a convolution, `p` the output positions):
//!   `∂²L/∂W[o,k]² = Σ_{p,p'} M[(o,p),(o,p')]·A[k,p]·A[k,p']`, `∂²L/∂b[o]² = Σ_{p,p'}
//!   M[(o,p),(o,p')]`, and `M_in = Jᵀ M J`, `δ_in = Jᵀ δ` with `J` the layer's input Jacobian
//!   (its input-gradient map); an affine layer has no second derivative of its own;
//! * elementwise `z = f(u)`: `M_in = diag(f′) M diag(f′) + diag(f″ ⊙ δ)`, `δ_in = f′ ⊙ δ` (the
//!   second term is the residual the Gauss–Newton matrix leaves out); dropout is `f(u) = m ⊙ u`
//!   with the step's mask `m` (what [`Probe::hvp`](train::Probe::hvp) differentiates);
//! * pooling is linear: average pooling as an affine map without parameters, max pooling the
//!   selection of each window's argmax (recomputed in `f64`, the first maximum winning as in
//!   the engine); flatten changes nothing;
//! * residual `z = g(x) + h(x)` (`h` the identity or the shortcut chain): `M_x = (J_g + J_h)ᵀ M
//!   (J_g + J_h)` plus the terms each branch creates, carried through that branch only.
//!
//! The diagonal is summed over the examples; its sum is the trace, exactly (no sampling).
//! `M` is kept factored, `M = S diag(±1) Sᵀ + diag(c)` (BackPACK's symmetric factorisation):
//! the loss contributes `K` columns (`√(p_c/N)(e_c − p)` for cross-entropy), so the weight
//! diagonal is `Σ_j ±(S_j Aᵀ)² + c (A ⊙ A)ᵀ` (per column its weight gradient, squared);
//! an activation scales the columns' rows and adds its residual to `c`, a max pool routes rows
//! and `c`; a map that mixes elements (affine, average pool, a residual block's fork) first
//! folds `diag(c)` into `S` as signed columns `√|c_q| e_q`, then maps every column. ReLU (and
//! leaky ReLU) nets stay at rank `K`; each curved activation adds its width (channels ×
//! positions after a convolution) at the next such map.
//!
//! Everything runs in `f64` from the step's `f32` weights and batch (the forward included; `δ`
//! at the output is the engine's), a block of examples at a time (`block.rs`: each linear layer
//! once per block). The cost, counted before anything is computed
//! (per example about `2r` weight-gradient-sized products per layer for `r` columns, each
//! `f64` multiply-add counted as 6 of the engine's in linear layers, 2 in convolutions), is
//! compared with the caller's budget in Hessian-vector products, one product counted as `6·N·F`
//! multiply-adds (`F` the forward's per-example multiply-adds). Measured on a shared 2-core AMD
//! EPYC: 5–11 products' time on `mnist1d_cnn` (batch 100), 5–16 on `deep_residual` (100),
//! 10–17 on `mnist1d_mlp` (100), 12–17 on `mnist-10k_mlp` (128, with dropout), i.e. 14–25
//! training forward+backward passes;
//! the instrument falls back to Hutch++ (`curvature`) when it is over, or the model has any
//! other layer (batch norm in training mode, whose statistics couple the examples; custom
//! layers).

mod affine;
mod block;
mod ops;
mod plan;
mod state;
mod sweep;

use nn::Tensor;
use optim::Param;
use rayon::prelude::*;
use train::{Probe, Targets};

use crate::Result;
use plan::Step;
use state::State;

/// One parameter's exact Hessian diagonal.
#[derive(Clone, Debug)]
pub struct ParamDiagonal {
    pub name: String,
    pub diag: Vec<f64>,
}

/// What one multiply-add of this recursion (`f64`, the register-tiled loops of the kernels'
/// `dgemm`, examples in blocks: `block.rs`) costs against one of a Hessian-vector product's
/// (`f32`, the tuned kernels: ~30 G/s in the large matrix products of linear layers, ~8 G/s in
/// per-example convolutions), for the budget: `(linear, linear with more than [`plan::LARGE_WEIGHTS`] weights,
/// convolution)`, weighted by the model's forward multiply-adds. Measured
/// (`cost_of_the_exact_diagonal_on_bundled_configs`, `tests/hessian_diag.rs`): with 6 for every
/// linear layer, the diagonal's time in products was 0.4–3× the count on the bundled
/// `mnist1d_mlp`, `mnist-10k_mlp`, `deep_residual`, `mnist1d_cnn` and the `diag_*` references,
/// highest on `mnist-10k_mlp`'s 784×512 and 512×512 products, whose `f64` weights (3.2 and
/// 2.1 MB) leave L2 between examples, one at a time: there the diagonal took 13 products' time
/// per measurement (batch 128) where 6 per multiply-add counted about 6. Such layers count 18,
/// their measured cost; the full preset's 24 products still admit that MLP. Since the examples
/// run in blocks (each layer's weights read once per block) on register-tiled products, that
/// diagonal took 68–92 ms against 100–155 ms before, 6–8 products' time against 9–11 (same
/// test, same session, shared and loaded 2-core AMD EPYC); the weights here were left as they
/// were, so the budget now over-counts it: no model the budget admitted before is refused.
const F64_COST: (f64, f64, f64) = (6.0, 18.0, 2.0);

/// Examples per unit of parallel work are fixed (not per thread), so the sums, and the
/// readings, do not depend on the machine.
const PARTS: usize = 8;

/// The exact Hessian diagonal of the step's mean loss, per parameter (in the model's order), or
/// why it is not computed: the structure, or a cost above `budget` Hessian-vector products
/// (each counted as `6·N·F` multiply-adds, `N` the batch, `F` the forward's multiply-adds per
/// example; the recursion's own `f64` multiply-adds count 6 each in linear layers, 2 in
/// convolutions). Training state is untouched.
pub fn exact_diagonal(
    p: &mut Probe<'_>,
    budget: f64,
) -> Result<std::result::Result<Vec<ParamDiagonal>, String>> {
    let batch = p.x.shape.first().copied().unwrap_or(0);
    if batch == 0 {
        return Ok(Err("empty batch".into()));
    }
    let in_shape = p.x.shape[1..].to_vec();
    let kinds = kinds(p.model.layers());
    if let Some(bn) = kinds.iter().find(|k| k.starts_with("batchnorm")) {
        // Before any forward pass: the common reason, at no cost.
        return Ok(Err(format!(
            "`{bn}`: batch norm in training mode couples the examples"
        )));
    }
    // The step's dropout masks: a training forward with the step's generators (a probe).
    let (plan, names, sizes) = p.isolated(|p| {
        if kinds.contains(&"dropout") {
            p.model.forward(p.x, true);
        }
        let params: Vec<&Param<f32>> = p
            .model
            .layers()
            .iter()
            .flat_map(|l| l.parameters())
            .collect();
        let names: Vec<String> = params.iter().map(|q| q.name.clone()).collect();
        let sizes: Vec<usize> = params.iter().map(|q| q.value.len()).collect();
        let plan = plan::chain(p.model.layers(), &params, 0, &in_shape, batch, "layer ");
        Ok((plan, names, sizes))
    })?;
    let (steps, out_shape) = match plan {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    if !steps.iter().any(Step::has_params) {
        return Ok(Err("no layer with parameters".into()));
    }
    let k: usize = out_shape.iter().product();
    let (per_example, _, _) = plan::backward_cost(&steps, k as f64, false, false);
    let (f_lin, f_big, f_conv) = plan::forward_cost(&steps);
    let forward = f_lin + f_big + f_conv;
    let factor = (F64_COST.0 * f_lin + F64_COST.1 * f_big + F64_COST.2 * f_conv) / forward.max(1.0);
    let (cost, allowed) = (
        factor * batch as f64 * (per_example + forward),
        budget * 6.0 * batch as f64 * forward,
    );
    if cost > allowed {
        return Ok(Err(format!(
            "{cost:.2e} multiply-adds over the budget {allowed:.2e}"
        )));
    }
    let mut dy = Tensor::default();
    p.output_gradient(&mut dy)?;
    if dy.per_example() != k {
        return Ok(Err("the output does not match the loss".into()));
    }
    let mse = matches!(p.targets, Targets::Values(_));
    let x = p.x;
    let per = x.per_example();
    let part = batch.div_ceil(PARTS);
    let parts: Vec<Vec<Vec<f64>>> = (0..batch.div_ceil(part))
        .into_par_iter()
        .map(|q| {
            let mut diag: Vec<Vec<f64>> = sizes.iter().map(|&s| vec![0.0; s]).collect();
            // The part's examples as one block (`block`: each linear layer once per block).
            let ns: Vec<usize> = (q * part..((q + 1) * part).min(batch)).collect();
            let xs = ns
                .iter()
                .map(|&n| {
                    x.data[n * per..(n + 1) * per]
                        .iter()
                        .map(|&v| v as f64)
                        .collect()
                })
                .collect();
            let (logits, tapes) = block::forward(&steps, xs, &ns);
            let sts = logits
                .iter()
                .zip(&ns)
                .map(|(z, &n)| {
                    let delta = dy.data[n * k..(n + 1) * k]
                        .iter()
                        .map(|&v| v as f64)
                        .collect();
                    loss_state(z, delta, batch, mse)
                })
                .collect();
            block::backward(&steps, &tapes, sts, &ns, &mut diag);
            diag
        })
        .collect();
    let mut total: Vec<Vec<f64>> = sizes.iter().map(|&s| vec![0.0; s]).collect();
    for d in parts {
        for (t, d) in total.iter_mut().zip(d) {
            t.iter_mut().zip(d).for_each(|(t, d)| *t += d);
        }
    }
    Ok(Ok(names
        .into_iter()
        .zip(total)
        .map(|(name, diag)| ParamDiagonal { name, diag })
        .collect()))
}

/// Every layer kind, residual blocks' sub-layers included.
fn kinds(layers: &[Box<dyn nn::Layer>]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for l in layers {
        out.push(l.kind());
        if let Some(r) = l.as_any().and_then(|a| a.downcast_ref::<nn::Residual>()) {
            out.extend(kinds(r.body()));
            out.extend(kinds(r.shortcut()));
        }
    }
    out
}

/// `M` and `δ` at the output of one example: `K` columns and no diagonal term.
fn loss_state(z: &[f64], delta: Vec<f64>, batch: usize, mse: bool) -> State {
    let (k, n) = (z.len(), batch as f64);
    let mut cols = vec![0.0; k * k];
    if mse {
        let a = (2.0 / (n * k as f64)).sqrt();
        for i in 0..k {
            cols[i * k + i] = a;
        }
    } else {
        // diag(p) − p pᵀ = Σ_c p_c (e_c − p)(e_c − p)ᵀ.
        let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - zmax).exp()).collect();
        let s: f64 = e.iter().sum();
        let pr: Vec<f64> = e.iter().map(|v| v / s).collect();
        for c in 0..k {
            let a = (pr[c] / n).sqrt();
            let col = &mut cols[c * k..(c + 1) * k];
            col.iter_mut().zip(&pr).for_each(|(x, q)| *x = -a * q);
            col[c] += a;
        }
    }
    State {
        dim: k,
        cols,
        sign: vec![1.0; k],
        c: vec![0.0; k],
        delta,
    }
}
