//! The exact diagonal of the Hessian for models whose structure allows it: chains of linear
//! layers, elementwise activations (ReLU, tanh, sigmoid, SiLU) and flatten, under cross-entropy
//! or MSE — the case of BackPACK's `DiagHessian` (Dangel, Kunstner & Hennig, "BackPACK: packing
//! more into backprop", ICLR 2020, App. C; the recursion is Mizutani & Dreyfus's second-order
//! backpropagation, 2008).
//!
//! # Rule
//!
//! The examples of such a model do not interact, so the Hessian of the mean loss is a sum over
//! examples. For one example, with `Mₗ = ∂²L/∂zₗ²` the Hessian with respect to layer `l`'s output
//! and `δₗ = ∂L/∂zₗ`, starting from the loss (`M = (diag(p) − p pᵀ)/N` for cross-entropy with
//! softmax `p`, label smoothing included since its target is constant; `M = 2/(N·K)·I` for MSE
//! over `K` outputs), backwards:
//!
//! * linear `z = W a + b`: `∂²L/∂W[o,i]² = M[o,o]·a_i²`, `∂²L/∂b[o]² = M[o,o]`, and
//!   `M_in = Wᵀ M W`, `δ_in = Wᵀ δ` (a linear layer has no second derivative of its own);
//! * elementwise `z = f(u)`: `M_in = diag(f′) M diag(f′) + diag(f″ ⊙ δ)`, `δ_in = f′ ⊙ δ` (the
//!   second term is the residual the Gauss–Newton matrix leaves out);
//! * flatten: nothing changes.
//!
//! The diagonal is summed over the examples; its sum is the trace, exactly (no sampling).
//! `M` is kept factored, `M = S diag(±1) Sᵀ + diag(c)` (BackPACK's symmetric factorisation):
//! the loss contributes `K` columns (`√(p_c/N)(e_c − p)` for cross-entropy), a linear layer maps
//! them (`S ← Wᵀ S`) after folding `diag(c)` in as signed columns `√|c_o| e_o`, an activation
//! scales their rows and adds its residual to `c`. ReLU nets stay at rank `K`; each curved
//! activation adds its width. The cost, `N · Σ in·out·r` multiply-adds, is a few backward passes
//! for ReLU nets; the instrument falls back to Hutch++ (`curvature`) when it exceeds its budget
//! or the model has any other layer (convolution, batch norm — whose statistics couple the examples —, dropout,
//! residual blocks, activations with parameters).

use nn::Tensor;
use train::{Probe, Targets};

use crate::Result;

/// One parameter's exact Hessian diagonal.
#[derive(Clone, Debug)]
pub struct ParamDiagonal {
    pub name: String,
    pub diag: Vec<f64>,
}

enum Step {
    Linear {
        out: usize,
        inp: usize,
        /// `W` row-major `[out, in]`, in `f64`.
        w: Vec<f64>,
        names: Vec<String>,
        bias: bool,
    },
    Act(&'static str),
    Flatten,
}

/// `(f′, f″)` of a supported activation from its input `u` and output `y`.
fn derivatives(kind: &str, u: f64, y: f64) -> (f64, f64) {
    match kind {
        "relu" => (if y > 0.0 { 1.0 } else { 0.0 }, 0.0),
        "tanh" => (1.0 - y * y, -2.0 * y * (1.0 - y * y)),
        "sigmoid" => (y * (1.0 - y), y * (1.0 - y) * (1.0 - 2.0 * y)),
        "silu" => {
            let s = 1.0 / (1.0 + (-u).exp());
            (
                s * (1.0 + u * (1.0 - s)),
                s * (1.0 - s) * (2.0 + u * (1.0 - 2.0 * s)),
            )
        }
        _ => unreachable!("checked by plan()"),
    }
}

/// The model as steps, or why its structure does not allow the exact diagonal.
fn plan(p: &Probe<'_>) -> std::result::Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (i, layer) in p.model.layers().iter().enumerate() {
        let kind = layer.kind();
        steps.push(match kind {
            "linear" => {
                let ps = layer.parameters();
                let w = ps.first().ok_or("linear layer without weight")?;
                if w.shape.len() != 2 {
                    return Err(format!("layer {i}: weight of shape {:?}", w.shape));
                }
                Step::Linear {
                    out: w.shape[0],
                    inp: w.shape[1],
                    w: w.value.iter().map(|&x| x as f64).collect(),
                    names: ps.iter().map(|q| q.name.clone()).collect(),
                    bias: ps.len() > 1,
                }
            }
            "relu" | "tanh" | "sigmoid" | "silu" => Step::Act(kind),
            "flatten" => Step::Flatten,
            other => return Err(format!("layer {i} (`{other}`)")),
        });
    }
    Ok(steps)
}

/// Multiply-adds of the factored recursion over `batch` examples with `k` outputs (see the
/// module docs): each linear layer above the first maps `r` columns (`k`, plus `out` for every
/// linear layer whose output passes a curved activation on its way to the loss).
fn cost(steps: &[Step], batch: usize, k: usize) -> f64 {
    let first = steps
        .iter()
        .position(|s| matches!(s, Step::Linear { .. }))
        .unwrap_or(steps.len());
    let (mut r, mut curved, mut per) = (k as f64, false, 0.0);
    for (l, s) in steps.iter().enumerate().rev() {
        match *s {
            Step::Linear { out, inp, .. } => {
                if curved {
                    r += out as f64;
                    curved = false;
                }
                per += (out * inp) as f64 + out as f64 * r;
                if l > first {
                    per += (out * inp) as f64 * r;
                }
            }
            Step::Act(kind) => curved |= kind != "relu",
            Step::Flatten => {}
        }
    }
    per * batch as f64
}

/// The exact Hessian diagonal of the step's mean loss, per parameter (in the model's order), or
/// why it is not computed (structure, or more than `budget` multiply-adds).
pub fn exact_diagonal(
    p: &mut Probe<'_>,
    budget: f64,
) -> Result<std::result::Result<Vec<ParamDiagonal>, String>> {
    let steps = match plan(p) {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
    };
    let batch = p.x.shape.first().copied().unwrap_or(0);
    let Some(first) = steps.iter().position(|s| matches!(s, Step::Linear { .. })) else {
        return Ok(Err("no linear layer".into()));
    };
    if batch == 0 {
        return Ok(Err("empty batch".into()));
    }
    let k_out = p.model.out_shape().iter().product::<usize>();
    let c = cost(&steps, batch, k_out);
    if c > budget {
        return Ok(Err(format!(
            "{c:.2e} multiply-adds over the budget {budget:.2e}"
        )));
    }
    let mut outs: Vec<Tensor> = Vec::with_capacity(steps.len());
    p.for_each_activation(|_, _, y| outs.push(y.clone()))?;
    let mut dy = Tensor::default();
    p.output_gradient(&mut dy)?;
    let Some(logits) = outs.last() else {
        return Ok(Err("no output".into()));
    };
    let k = logits.per_example();
    let mse = matches!(p.targets, Targets::Values(_));
    let mut diags: Vec<Vec<Vec<f64>>> = steps
        .iter()
        .map(|s| match s {
            Step::Linear { out, inp, bias, .. } => {
                let mut v = vec![vec![0.0; out * inp]];
                if *bias {
                    v.push(vec![0.0; *out]);
                }
                v
            }
            _ => Vec::new(),
        })
        .collect();
    let n_f = batch as f64;
    for n in 0..batch {
        let row = |t: &Tensor| -> Vec<f64> {
            let d = t.per_example();
            t.data[n * d..(n + 1) * d]
                .iter()
                .map(|&x| x as f64)
                .collect()
        };
        let mut delta = row(&dy);
        // M = S diag(sign) Sᵀ + diag(c): `cols[j]` is column j of S (length `dim`).
        let (mut cols, mut sign): (Vec<Vec<f64>>, Vec<f64>) = (Vec::new(), Vec::new());
        if mse {
            let a = (2.0 / (n_f * k as f64)).sqrt();
            for i in 0..k {
                let mut e = vec![0.0; k];
                e[i] = a;
                cols.push(e);
                sign.push(1.0);
            }
        } else {
            // diag(p) − p pᵀ = Σ_c p_c (e_c − p)(e_c − p)ᵀ.
            let z = row(logits);
            let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - zmax).exp()).collect();
            let s: f64 = e.iter().sum();
            let pr: Vec<f64> = e.iter().map(|v| v / s).collect();
            for c in 0..k {
                let a = (pr[c] / n_f).sqrt();
                let mut col: Vec<f64> = pr.iter().map(|q| -a * q).collect();
                col[c] += a;
                cols.push(col);
                sign.push(1.0);
            }
        }
        let mut diag_c = vec![0.0; k];
        let mut dim = k;
        for l in (first..steps.len()).rev() {
            let input = if l == 0 { row(p.x) } else { row(&outs[l - 1]) };
            match &steps[l] {
                Step::Linear { out, inp, w, .. } => {
                    let (out, inp) = (*out, *inp);
                    if dim != out || input.len() != inp {
                        return Ok(Err(format!("layer {l}: shapes do not chain")));
                    }
                    let d = &mut diags[l];
                    for o in 0..out {
                        let moo = cols
                            .iter()
                            .zip(&sign)
                            .map(|(c, s)| s * c[o] * c[o])
                            .sum::<f64>()
                            + diag_c[o];
                        let dw = &mut d[0][o * inp..(o + 1) * inp];
                        dw.iter_mut()
                            .zip(&input)
                            .for_each(|(g, a)| *g += moo * a * a);
                        if let Some(db) = d.get_mut(1) {
                            db[o] += moo;
                        }
                    }
                    if l > first {
                        // diag(c) joins S as columns √|c_o| e_o, then S ← Wᵀ S.
                        for (o, &c) in diag_c.iter().enumerate() {
                            if c != 0.0 {
                                let mut e = vec![0.0; out];
                                e[o] = c.abs().sqrt();
                                cols.push(e);
                                sign.push(c.signum());
                            }
                        }
                        let wt = |v: &[f64]| -> Vec<f64> {
                            let mut r = vec![0.0; inp];
                            for (o, &c) in v.iter().enumerate() {
                                if c != 0.0 {
                                    r.iter_mut()
                                        .zip(&w[o * inp..(o + 1) * inp])
                                        .for_each(|(r, w)| *r += c * w);
                                }
                            }
                            r
                        };
                        cols = cols.iter().map(|c| wt(c)).collect();
                        delta = wt(&delta);
                        diag_c = vec![0.0; inp];
                        dim = inp;
                    }
                }
                Step::Act(kind) => {
                    let y = row(&outs[l]);
                    if y.len() != dim || input.len() != dim {
                        return Ok(Err(format!("layer {l}: shapes do not chain")));
                    }
                    for i in 0..dim {
                        let (f1, f2) = derivatives(kind, input[i], y[i]);
                        for c in cols.iter_mut() {
                            c[i] *= f1;
                        }
                        diag_c[i] = f1 * f1 * diag_c[i] + f2 * delta[i];
                        delta[i] *= f1;
                    }
                }
                Step::Flatten => {}
            }
        }
    }
    let mut out = Vec::new();
    for (s, d) in steps.iter().zip(diags) {
        if let Step::Linear { names, .. } = s {
            for (name, diag) in names.iter().zip(d) {
                out.push(ParamDiagonal {
                    name: name.clone(),
                    diag,
                });
            }
        }
    }
    Ok(Ok(out))
}
