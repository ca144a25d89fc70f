//! An affine step (linear or convolution layer) of the exact diagonal, in `f64`: its patches
//! (`im2col`, transposed), its weight and bias diagonal from the factored `M`, and the state at
//! its input (every column through the layer's input-gradient map).

use kernels::Gemm;

use super::ops::Window;
use super::plan::Affine;
use super::state::State;

pub(super) fn gemm(
    dims: (usize, usize, usize),
    dst: &mut [f64],
    lhs: (&[f64], (usize, usize)),
    rhs: (&[f64], (usize, usize)),
) {
    <f64 as Gemm>::gemm(dims, dst, false, lhs.0, lhs.1, rhs.0, rhs.1);
}

/// The patches of an example's input, transposed: `Aᵀ` (`[P, kr]`; for a linear layer the
/// input itself).
pub(super) fn patches(a: &Affine, x: &[f64]) -> Vec<f64> {
    match &a.conv {
        None => x.to_vec(),
        Some((c, win)) => {
            let kr = a.kr;
            let mut out = vec![0.0; kr * win.positions];
            for ch in 0..*c {
                let xp = &x[ch * win.plane_in..];
                for &(pos, t, idx) in &win.reads {
                    out[pos * kr + ch * win.taps + t] = xp[idx];
                }
            }
            out
        }
    }
}

/// Adds transposed-patches-shaped `d` (`[P, kr]`) back into an input-shaped `x` (`col2im`).
fn unpatch(c: usize, win: &Window, kr: usize, d: &[f64], x: &mut [f64]) {
    for ch in 0..c {
        let xp = &mut x[ch * win.plane_in..];
        for &(pos, t, idx) in &win.reads {
            xp[idx] += d[pos * kr + ch * win.taps + t];
        }
    }
}

/// Adds the diagonal of an affine step's weight and bias: per column `j`, its weight gradient
/// `G_j = S_j Aᵀ` squared with the column's sign, plus `c`'s term `c (A ⊙ A)ᵀ`; the bias takes
/// `(Σ_p S_j[o, p])²` and `Σ_p c[o, p]`.
pub(super) fn affine_diag(a: &Affine, pa: &[f64], st: &State, diag: &mut [Vec<f64>]) {
    let (o, kr, p) = (a.o, a.kr, a.positions);
    let (rs, cs) = a.out_strides();
    let mut db = vec![0.0; o];
    if p == 1 {
        // One position: G_j[o, k] = S_j[o]·A[k], so Σ_j ±G_j² = (Σ_j ±S_j[o]² + c[o])·A[k]².
        db.copy_from_slice(&st.c);
        for (j, &sg) in st.sign.iter().enumerate() {
            db.iter_mut()
                .zip(st.col(j))
                .for_each(|(b, s)| *b += sg * s * s);
        }
        let dw = &mut diag[a.param];
        for (oi, &m) in db.iter().enumerate() {
            dw[oi * kr..(oi + 1) * kr]
                .iter_mut()
                .zip(pa)
                .for_each(|(d, x)| *d += m * x * x);
        }
    } else {
        let mut g = vec![0.0; o * kr];
        let dw = &mut diag[a.param];
        for (j, &sg) in st.sign.iter().enumerate() {
            let sj = st.col(j);
            gemm((o, kr, p), &mut g, (sj, (rs, cs)), (pa, (kr, 1)));
            dw.iter_mut().zip(&g).for_each(|(d, g)| *d += sg * g * g);
            for (oi, b) in db.iter_mut().enumerate() {
                *b += sg * (0..p).map(|pi| sj[oi * rs + pi * cs]).sum::<f64>().powi(2);
            }
        }
        if st.c.iter().any(|&c| c != 0.0) {
            let sq: Vec<f64> = pa.iter().map(|x| x * x).collect();
            gemm((o, kr, p), &mut g, (&st.c, (rs, cs)), (&sq, (kr, 1)));
            dw.iter_mut().zip(&g).for_each(|(d, g)| *d += g);
            for (oi, b) in db.iter_mut().enumerate() {
                *b += (0..p).map(|pi| st.c[oi * rs + pi * cs]).sum::<f64>();
            }
        }
    }
    if a.bias {
        diag[a.param + 1]
            .iter_mut()
            .zip(&db)
            .for_each(|(d, b)| *d += b);
    }
}

/// The state at an affine step's input: every column and `δ` through `Aᵀ`-then-`Wᵀ` (the
/// layer's input gradient), `c`'s columns `√|c_q|·Wᵀ e_q` added sparse.
pub(super) fn affine_transpose(a: &Affine, mut st: State, dim_in: usize) -> State {
    let (o, kr, p) = (a.o, a.kr, a.positions);
    let r = st.sign.len();
    let mut cols = vec![0.0; r * dim_in];
    let mut delta = vec![0.0; dim_in];
    match &a.conv {
        None => {
            // Every column (`[P, o]`) and δ at once: `[(r + 1)·P, o] · W[o, in]`.
            let mut s_all = std::mem::take(&mut st.cols);
            s_all.extend_from_slice(&st.delta);
            let mut out = vec![0.0; (r + 1) * dim_in];
            gemm(
                ((r + 1) * p, kr, o),
                &mut out,
                (&s_all, (o, 1)),
                (&a.w, (kr, 1)),
            );
            delta.copy_from_slice(&out[r * dim_in..]);
            out.truncate(r * dim_in);
            cols = out;
        }
        Some((c, win)) => {
            // Per column: its patch gradient `S_jᵀ W` (`[P, kr]`), folded back (col2im).
            let mut dt = vec![0.0; p * kr];
            let mut through = |v: &[f64], out: &mut [f64]| {
                gemm((p, kr, o), &mut dt, (v, (1, p)), (&a.w, (kr, 1)));
                unpatch(*c, win, kr, &dt, out);
            };
            for j in 0..r {
                through(st.col(j), &mut cols[j * dim_in..(j + 1) * dim_in]);
            }
            through(&st.delta, &mut delta);
        }
    }
    fold_through(a, st, cols, delta, dim_in)
}

/// The state at an affine step's input from `cols` and `delta`, the columns and `δ` already
/// through the layer: `c`'s columns `√|c_q|·Wᵀ e_q` join them sparse.
fn fold_through(
    a: &Affine,
    mut st: State,
    mut cols: Vec<f64>,
    delta: Vec<f64>,
    dim_in: usize,
) -> State {
    let (o, kr, p) = (a.o, a.kr, a.positions);
    st.fold_c(dim_in, &mut cols, |q, v, out| {
        let (oi, pi) = if a.conv.is_some() {
            (q / p, q % p)
        } else {
            (q % o, q / o)
        };
        let w = &a.w[oi * kr..(oi + 1) * kr];
        match &a.conv {
            None => out[pi * kr..(pi + 1) * kr]
                .iter_mut()
                .zip(w)
                .for_each(|(x, w)| *x += v * w),
            Some((c, win)) => {
                for &(_, t, idx) in win.at(pi) {
                    for ch in 0..*c {
                        out[ch * win.plane_in + idx] += v * w[ch * win.taps + t];
                    }
                }
            }
        }
    });
    State {
        dim: dim_in,
        cols,
        sign: st.sign,
        c: st.c,
        delta,
    }
}

/// [`affine_transpose`] of a block of examples' states: for a linear layer every example's
/// columns and `δ` stacked into one product with `W` (the weights read once for the block; each
/// element the same sum, in the same order, as alone), for a convolution one example at a time.
pub(super) fn affine_transpose_block(a: &Affine, sts: Vec<State>, dim_in: usize) -> Vec<State> {
    if a.conv.is_some() {
        return sts
            .into_iter()
            .map(|st| affine_transpose(a, st, dim_in))
            .collect();
    }
    let (o, kr) = (a.o, a.kr);
    let mut s_all = Vec::new();
    for st in &sts {
        s_all.extend_from_slice(&st.cols);
        s_all.extend_from_slice(&st.delta);
    }
    let rows = s_all.len() / o.max(1);
    let mut out = vec![0.0; rows * kr];
    gemm((rows, kr, o), &mut out, (&s_all, (o, 1)), (&a.w, (kr, 1)));
    let mut at = 0;
    sts.into_iter()
        .map(|st| {
            let r = st.sign.len();
            let cols = out[at..at + r * dim_in].to_vec();
            let delta = out[at + r * dim_in..at + (r + 1) * dim_in].to_vec();
            at += (r + 1) * dim_in;
            fold_through(a, st, cols, delta, dim_in)
        })
        .collect()
}

/// [`affine_diag`] of a block of examples (patches `pas`, states `sts`): for a linear layer at
/// one position, `Σ_e (Σ_j ±S_j[o]² + c[o])_e · A_e[k]²` as one product over the block (the
/// weight diagonal read and written once for the block, not once per example); otherwise one
/// example at a time.
pub(super) fn affine_diag_block(a: &Affine, pas: &[&[f64]], sts: &[State], diag: &mut [Vec<f64>]) {
    if a.conv.is_some() || a.positions != 1 {
        for (pa, st) in pas.iter().zip(sts) {
            affine_diag(a, pa, st, diag);
        }
        return;
    }
    let (o, kr, nb) = (a.o, a.kr, sts.len());
    // `m[e·o + oi]`: example e's weight of row oi; `sq[e·kr + k]`: its input squared.
    let mut m = Vec::with_capacity(nb * o);
    let mut sq = Vec::with_capacity(nb * kr);
    for (pa, st) in pas.iter().zip(sts) {
        let start = m.len();
        m.extend_from_slice(&st.c);
        for (j, &sg) in st.sign.iter().enumerate() {
            m[start..]
                .iter_mut()
                .zip(st.col(j))
                .for_each(|(b, s)| *b += sg * s * s);
        }
        sq.extend(pa.iter().map(|x| x * x));
    }
    <f64 as Gemm>::gemm(
        (o, kr, nb),
        &mut diag[a.param],
        true,
        &m,
        (1, o),
        &sq,
        (kr, 1),
    );
    if a.bias {
        for me in m.chunks_exact(o) {
            diag[a.param + 1]
                .iter_mut()
                .zip(me)
                .for_each(|(d, b)| *d += b);
        }
    }
}
