//! One example's pass: the forward in `f64` (recording what the backward needs) and the
//! backward recursion of the factored `M = S diag(±1) Sᵀ + diag(c)` with `δ`, accumulating each
//! parameter's diagonal (module docs).

use super::affine::{affine_diag, affine_transpose, gemm, patches};
use super::ops::activation;
use super::plan::{Node, Step};
use super::state::State;

/// What the backward pass of a step needs from the forward.
pub(super) enum Tape {
    None,
    /// An affine step's patches `A` (`[kr, P]`).
    Patches(Vec<f64>),
    /// An activation's input.
    Input(Vec<f64>),
    /// A max pool's selected input element per output element.
    Argmax(Vec<usize>),
    Residual(Vec<Tape>, Vec<Tape>),
}

/// The output of `steps` for one example `x` (example `n` of the batch), recording `tape`.
pub(super) fn forward(steps: &[Step], mut x: Vec<f64>, n: usize, tape: &mut Vec<Tape>) -> Vec<f64> {
    for s in steps {
        let (y, t) = forward_step(s, x, n);
        tape.push(t);
        x = y;
    }
    x
}

/// One step's output for one example's input `x` (example `n`), and what its backward needs.
pub(super) fn forward_step(s: &Step, x: Vec<f64>, n: usize) -> (Vec<f64>, Tape) {
    match &s.node {
        Node::Affine(a) => {
            let pa = patches(a, &x);
            let (o, p) = (a.o, a.positions);
            let mut z = vec![0.0; o * p];
            gemm((o, p, a.kr), &mut z, (&a.w, (a.kr, 1)), (&pa, (1, a.kr)));
            let (rs, cs) = a.out_strides();
            let mut y = vec![0.0; s.out];
            for oi in 0..o {
                let b = a.b.get(oi).copied().unwrap_or(0.0);
                for pi in 0..p {
                    y[oi * rs + pi * cs] = z[oi * p + pi] + b;
                }
            }
            (y, Tape::Patches(pa))
        }
        Node::Act(act) => (
            x.iter().map(|&u| activation(*act, u).0).collect(),
            Tape::Input(x),
        ),
        Node::Mask(m) => {
            let m = &m[n * s.inp..(n + 1) * s.inp];
            (x.iter().zip(m).map(|(v, m)| v * m).collect(), Tape::None)
        }
        Node::MaxPool { c, win } => {
            let p = win.positions;
            let (mut y, mut arg) = (vec![f64::NEG_INFINITY; c * p], vec![usize::MAX; c * p]);
            for ch in 0..*c {
                let base = ch * win.plane_in;
                for &(pos, _, idx) in &win.reads {
                    let q = ch * p + pos;
                    // The first maximum wins, as the engine's.
                    if arg[q] == usize::MAX || x[base + idx] > y[q] {
                        y[q] = x[base + idx];
                        arg[q] = base + idx;
                    }
                }
            }
            (y, Tape::Argmax(arg))
        }
        Node::AvgPool { c, win } => {
            let (p, scale) = (win.positions, 1.0 / win.taps as f64);
            let mut y = vec![0.0; c * p];
            for ch in 0..*c {
                for &(pos, _, idx) in &win.reads {
                    y[ch * p + pos] += scale * x[ch * win.plane_in + idx];
                }
            }
            (y, Tape::None)
        }
        Node::GlobalAvg { c, s: len } => {
            let y = (0..*c)
                .map(|ch| x[ch * len..(ch + 1) * len].iter().sum::<f64>() / *len as f64)
                .collect();
            (y, Tape::None)
        }
        Node::Same => (x, Tape::None),
        Node::Residual { body, shortcut } => {
            let (mut tb, mut ts) = (Vec::new(), Vec::new());
            let mut y = forward(body, x.clone(), n, &mut tb);
            let ys = forward(shortcut, x, n, &mut ts);
            y.iter_mut().zip(&ys).for_each(|(y, s)| *y += s);
            (y, Tape::Residual(tb, ts))
        }
    }
}

/// Runs the recursion backwards through `steps` (whose forward recorded `tape`) from `st` at
/// their output, adding each parameter's diagonal into `diag` (by model index). With `need_in`
/// false nothing below `steps` has parameters, so the state is not carried past the lowest
/// step with parameters (and the returned state is not meaningful).
pub(super) fn backward(
    steps: &[Step],
    tape: &[Tape],
    mut st: State,
    need_in: bool,
    n: usize,
    diag: &mut [Vec<f64>],
) -> State {
    for (i, s) in steps.iter().enumerate().rev() {
        let need = need_in || steps[..i].iter().any(Step::has_params);
        let stop;
        (st, stop) = backward_step(s, &tape[i], st, need, n, diag);
        if stop {
            break;
        }
    }
    st
}

/// One step of [`backward`] for example `n`: the state at the step's input, and whether the
/// recursion stops there (`need` false: nothing below has parameters; the state is then not
/// meaningful).
pub(super) fn backward_step(
    s: &Step,
    tape: &Tape,
    mut st: State,
    need: bool,
    n: usize,
    diag: &mut [Vec<f64>],
) -> (State, bool) {
    match (&s.node, tape) {
        (Node::Affine(a), Tape::Patches(pa)) => {
            affine_diag(a, pa, &st, diag);
            if !need {
                return (st, true);
            }
            st = affine_transpose(a, st, s.inp);
        }
        (Node::Act(act), Tape::Input(u)) => {
            let (f1, f2): (Vec<f64>, Vec<f64>) = u
                .iter()
                .map(|&u| {
                    let (_, f1, f2) = activation(*act, u);
                    (f1, f2)
                })
                .unzip();
            for k in 0..st.dim {
                st.c[k] = f1[k] * f1[k] * st.c[k] + f2[k] * st.delta[k];
            }
            scale_rows(&mut st, &f1);
        }
        (Node::Mask(m), _) => {
            let m = &m[n * s.inp..(n + 1) * s.inp];
            st.c.iter_mut().zip(m).for_each(|(c, f)| *c *= f * f);
            scale_rows(&mut st, m);
        }
        (Node::MaxPool { .. }, Tape::Argmax(arg)) => {
            // A selection: each output element's column entries, `c` and `δ` go to the
            // input element it selected (`Pᵀ diag(c) P` stays diagonal).
            let route = |v: &[f64], out: &mut [f64]| {
                arg.iter().zip(v).for_each(|(&a, &v)| out[a] += v);
            };
            let r = st.sign.len();
            let mut cols = vec![0.0; r * s.inp];
            for j in 0..r {
                route(st.col(j), &mut cols[j * s.inp..(j + 1) * s.inp]);
            }
            let (mut c, mut d) = (vec![0.0; s.inp], vec![0.0; s.inp]);
            route(&st.c, &mut c);
            route(&st.delta, &mut d);
            st = State {
                dim: s.inp,
                cols,
                sign: st.sign,
                c,
                delta: d,
            };
        }
        (Node::AvgPool { c: ch, win }, _) => {
            let (p, scale) = (win.positions, 1.0 / win.taps as f64);
            let spread = |q: usize, v: f64, out: &mut [f64]| {
                let (c0, pos) = (q / p, q % p);
                for &(_, _, idx) in win.at(pos) {
                    out[c0 * win.plane_in + idx] += scale * v;
                }
            };
            let dense = |v: &[f64], out: &mut [f64]| {
                for c0 in 0..*ch {
                    for &(pos, _, idx) in &win.reads {
                        out[c0 * win.plane_in + idx] += scale * v[c0 * p + pos];
                    }
                }
            };
            st = linear_map(st, s.inp, dense, spread);
        }
        (Node::GlobalAvg { s: len, .. }, _) => {
            let scale = 1.0 / *len as f64;
            let spread = |q: usize, v: f64, out: &mut [f64]| {
                out[q * len..(q + 1) * len]
                    .iter_mut()
                    .for_each(|o| *o += scale * v);
            };
            let dense = |v: &[f64], out: &mut [f64]| {
                for (q, &vq) in v.iter().enumerate() {
                    out[q * len..(q + 1) * len]
                        .iter_mut()
                        .for_each(|o| *o += scale * vq);
                }
            };
            st = linear_map(st, s.inp, dense, spread);
        }
        (Node::Same, _) => {}
        (Node::Residual { body, shortcut }, Tape::Residual(tb, ts)) => {
            // z = body(x) + shortcut(x): diag(c) cannot be split between the branches (their
            // cross terms), so it joins the columns first; the columns go through both and
            // add up, the terms each branch creates stay its own.
            let mut extra = Vec::new();
            let dim = st.dim;
            st.fold_c(dim, &mut extra, |q, v, out| out[q] = v);
            st.cols.extend_from_slice(&extra);
            let r0 = st.sign.len();
            let sb = backward(body, tb, st.clone(), need, n, diag);
            let ss = if shortcut.is_empty() {
                st
            } else {
                backward(shortcut, ts, st, need, n, diag)
            };
            if !need {
                return (sb, true);
            }
            let d = s.inp;
            let mut cols = sb.cols[..r0 * d].to_vec();
            cols.iter_mut()
                .zip(&ss.cols[..r0 * d])
                .for_each(|(a, b)| *a += b);
            cols.extend_from_slice(&sb.cols[r0 * d..]);
            cols.extend_from_slice(&ss.cols[r0 * d..]);
            let mut sign = sb.sign.clone();
            sign.extend_from_slice(&ss.sign[r0..]);
            let add = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a + b).collect();
            st = State {
                dim: d,
                cols,
                sign,
                c: add(&sb.c, &ss.c),
                delta: add(&sb.delta, &ss.delta),
            };
        }
        _ => unreachable!("the tape follows the steps"),
    }
    (st, false)
}

/// An elementwise linear map `diag(f)`: the columns' rows and `δ` scaled by `f` (`c` is the
/// caller's).
fn scale_rows(st: &mut State, f: &[f64]) {
    for col in st.cols.chunks_exact_mut(st.dim) {
        col.iter_mut().zip(f).for_each(|(x, f)| *x *= f);
    }
    st.delta.iter_mut().zip(f).for_each(|(x, f)| *x *= f);
}

/// A linear, parameter-free map of the state to a `dim_in`-long input: `dense` adds the
/// transpose of a column into a zeroed one, `spread(q, v, out)` that of `v·e_q` (for `c`'s
/// columns).
fn linear_map(
    mut st: State,
    dim_in: usize,
    dense: impl Fn(&[f64], &mut [f64]),
    spread: impl FnMut(usize, f64, &mut [f64]),
) -> State {
    let r = st.sign.len();
    let mut cols = vec![0.0; r * dim_in];
    for j in 0..r {
        dense(st.col(j), &mut cols[j * dim_in..(j + 1) * dim_in]);
    }
    let mut delta = vec![0.0; dim_in];
    dense(&st.delta, &mut delta);
    st.fold_c(dim_in, &mut cols, spread);
    State {
        dim: dim_in,
        cols,
        sign: st.sign,
        c: st.c,
        delta,
    }
}
