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
//! The diagonal is summed over the examples; its sum is the trace, exactly (no sampling). The
//! per-example `M` is dense (`d × d` for a layer of width `d`), so the cost is
//! `N · Σ (out²·in + out·in²)` over the linear layers it passes: cheap for small models, and the
//! instrument falls back to Hutch++ (`curvature`) when it exceeds its budget or the model has any
//! other layer (convolution, batch norm — whose statistics couple the examples —, dropout,
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

/// Multiply-adds of the recursion over `batch` examples (see the module docs).
fn cost(steps: &[Step], batch: usize) -> f64 {
    let first = steps
        .iter()
        .position(|s| matches!(s, Step::Linear { .. }))
        .unwrap_or(steps.len());
    let per: f64 = steps
        .iter()
        .enumerate()
        .map(|(l, s)| match *s {
            Step::Linear { out, inp, .. } if l > first => {
                let (o, i) = (out as f64, inp as f64);
                o * o * i + o * i * i
            }
            Step::Linear { out, inp, .. } => (out * inp) as f64,
            _ => 0.0,
        })
        .sum();
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
    let c = cost(&steps, batch);
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
        let mut m = vec![0.0; k * k];
        if mse {
            for i in 0..k {
                m[i * k + i] = 2.0 / (n_f * k as f64);
            }
        } else {
            let z = row(logits);
            let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - zmax).exp()).collect();
            let s: f64 = e.iter().sum();
            let pr: Vec<f64> = e.iter().map(|v| v / s).collect();
            for i in 0..k {
                for j in 0..k {
                    let d = if i == j { pr[i] } else { 0.0 };
                    m[i * k + j] = (d - pr[i] * pr[j]) / n_f;
                }
            }
        }
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
                        let moo = m[o * out + o];
                        let dw = &mut d[0][o * inp..(o + 1) * inp];
                        dw.iter_mut()
                            .zip(&input)
                            .for_each(|(g, a)| *g += moo * a * a);
                        if let Some(db) = d.get_mut(1) {
                            db[o] += moo;
                        }
                    }
                    if l > first {
                        // T = M W ([out, in]), M_in = Wᵀ T.
                        let mut t = vec![0.0; out * inp];
                        for o in 0..out {
                            for o2 in 0..out {
                                let c = m[o * out + o2];
                                if c != 0.0 {
                                    let wr = &w[o2 * inp..(o2 + 1) * inp];
                                    t[o * inp..(o + 1) * inp]
                                        .iter_mut()
                                        .zip(wr)
                                        .for_each(|(t, w)| *t += c * w);
                                }
                            }
                        }
                        let mut mi = vec![0.0; inp * inp];
                        for o in 0..out {
                            let wr = &w[o * inp..(o + 1) * inp];
                            let tr = &t[o * inp..(o + 1) * inp];
                            for i in 0..inp {
                                let c = wr[i];
                                if c != 0.0 {
                                    mi[i * inp..(i + 1) * inp]
                                        .iter_mut()
                                        .zip(tr)
                                        .for_each(|(m, t)| *m += c * t);
                                }
                            }
                        }
                        let mut di = vec![0.0; inp];
                        for o in 0..out {
                            let wr = &w[o * inp..(o + 1) * inp];
                            di.iter_mut().zip(wr).for_each(|(d, w)| *d += delta[o] * w);
                        }
                        m = mi;
                        delta = di;
                        dim = inp;
                    }
                }
                Step::Act(kind) => {
                    let y = row(&outs[l]);
                    if y.len() != dim || input.len() != dim {
                        return Ok(Err(format!("layer {l}: shapes do not chain")));
                    }
                    let (f1, f2): (Vec<f64>, Vec<f64>) = input
                        .iter()
                        .zip(&y)
                        .map(|(&u, &y)| derivatives(kind, u, y))
                        .unzip();
                    for i in 0..dim {
                        for j in 0..dim {
                            m[i * dim + j] *= f1[i] * f1[j];
                        }
                        m[i * dim + i] += f2[i] * delta[i];
                    }
                    delta.iter_mut().zip(&f1).for_each(|(d, f)| *d *= f);
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
