//! A block of examples through the chain together: the same recursion as [`sweep`](super::sweep)
//! (which takes one example), step by step for the whole block.
//!
//! # Rule
//!
//! The examples do not interact, so the order of work does not matter, only its sums. One
//! example at a time, every linear layer's `f64` weights (3 MiB for a 784×512 layer) are read
//! from memory again for each example, and the weight diagonal is read and written again: the
//! recursion then waits on memory, not on arithmetic. A block takes each linear layer once for
//! all its examples: the forward products, the columns' and `δ`'s products with `W` (stacked into
//! one product; each element the same sum in the same order as alone, so these are bit for bit
//! the single-example results) and, at one position, the weight diagonal as one product over the
//! block (the examples' terms in the same order, each `m·(a²)` instead of `(m·a)·a`: rounding
//! apart, the same sum). Every other step (convolutions, activations, pooling, masks, residual
//! blocks) runs one example at a time, as in the sweep.

use super::affine::{affine_diag_block, affine_transpose_block, gemm};
use super::plan::{Affine, Node, Step};
use super::state::State;
use super::sweep::{backward_step, forward_step, Tape};

/// The outputs of `steps` for the block's inputs `xs` (examples `ns` of the batch) and each
/// example's tape.
pub(super) fn forward(
    steps: &[Step],
    mut xs: Vec<Vec<f64>>,
    ns: &[usize],
) -> (Vec<Vec<f64>>, Vec<Vec<Tape>>) {
    let mut tapes: Vec<Vec<Tape>> = xs.iter().map(|_| Vec::with_capacity(steps.len())).collect();
    for s in steps {
        xs = match &s.node {
            Node::Affine(a) if a.conv.is_none() => {
                let ys = linear_forward(a, s.out, &xs);
                for (t, x) in tapes.iter_mut().zip(xs) {
                    t.push(Tape::Patches(x));
                }
                ys
            }
            _ => xs
                .into_iter()
                .zip(ns)
                .zip(tapes.iter_mut())
                .map(|((x, &n), t)| {
                    let (y, tp) = forward_step(s, x, n);
                    t.push(tp);
                    y
                })
                .collect(),
        };
    }
    (xs, tapes)
}

/// A linear layer's outputs for the block: `Z = X Wᵀ` over rows of `Wᵀ`
/// (`C[r,·] += X[r,k]·Wᵀ[k,·]`, vectorised), each output the sum over `k`, in order, that the
/// sweep's dot product forms; `W` read once for the block.
fn linear_forward(a: &Affine, out: usize, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let (o, kr, p) = (a.o, a.kr, a.positions);
    let x: Vec<f64> = xs.concat();
    let rows = xs.len() * p;
    let mut z = vec![0.0; rows * o];
    gemm((rows, o, kr), &mut z, (&x, (kr, 1)), (&a.wt, (o, 1)));
    z.chunks_exact(out)
        .map(|ze| {
            // Features last: output `(oi, pi)` at `pi·o + oi`, as `Z`'s rows are.
            let mut y = ze.to_vec();
            if !a.b.is_empty() {
                for row in y.chunks_exact_mut(o) {
                    row.iter_mut().zip(&a.b).for_each(|(y, b)| *y += b);
                }
            }
            y
        })
        .collect()
}

/// The recursion backwards through `steps` from the block's output states `sts` (examples `ns`,
/// whose forward recorded `tapes`), adding each parameter's diagonal into `diag`; down to the
/// lowest step with parameters (the states are not carried below it).
pub(super) fn backward(
    steps: &[Step],
    tapes: &[Vec<Tape>],
    mut sts: Vec<State>,
    ns: &[usize],
    diag: &mut [Vec<f64>],
) {
    for (i, s) in steps.iter().enumerate().rev() {
        let need = steps[..i].iter().any(Step::has_params);
        match &s.node {
            Node::Affine(a) if a.conv.is_none() => {
                let pas: Vec<&[f64]> = tapes
                    .iter()
                    .map(|t| match &t[i] {
                        Tape::Patches(pa) => &pa[..],
                        _ => unreachable!("the tape follows the steps"),
                    })
                    .collect();
                affine_diag_block(a, &pas, &sts, diag);
                if !need {
                    return;
                }
                sts = affine_transpose_block(a, sts, s.inp);
            }
            _ => {
                let mut stop = false;
                sts = sts
                    .into_iter()
                    .zip(ns)
                    .zip(tapes)
                    .map(|((st, &n), t)| {
                        let (st, end) = backward_step(s, &t[i], st, need, n, diag);
                        stop |= end;
                        st
                    })
                    .collect();
                if stop {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::hessian_diag::sweep;
    use nn::Activation;

    fn fill(len: usize, seed: u64) -> Vec<f64> {
        (0..len)
            .map(|j| {
                let h = (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
                ((h >> 11) % 2003) as f64 / 1000.0 - 1.0
            })
            .collect()
    }

    fn linear(param: usize, o: usize, kr: usize, positions: usize, seed: u64) -> Step {
        let w = fill(o * kr, seed);
        let mut wt = vec![0.0; o * kr];
        for oi in 0..o {
            for k in 0..kr {
                wt[k * o + oi] = w[oi * kr + k];
            }
        }
        Step {
            node: Node::Affine(Affine {
                param,
                bias: true,
                w,
                wt,
                b: fill(o, seed + 1),
                o,
                kr,
                positions,
                conv: None,
            }),
            inp: kr * positions,
            out: o * positions,
        }
    }

    /// A block gives the single-example sweep's outputs bit for bit and its diagonal to
    /// rounding: a linear layer over 3 positions (the per-example diagonal path), a curved
    /// activation (columns from `c`), dropout factors, a linear layer at one position (the
    /// block's diagonal product) and a last one, over 5 examples.
    #[test]
    fn a_block_is_the_sweep_of_its_examples() {
        let (nb, p) = (5, 3);
        let steps = vec![
            linear(0, 6, 4, p, 10),
            Step {
                node: Node::Act(Activation::Tanh),
                inp: 18,
                out: 18,
            },
            Step {
                node: Node::Mask(
                    fill(nb * 18, 7)
                        .iter()
                        .map(|v| if *v > -0.3 { 1.4 } else { 0.0 })
                        .collect(),
                ),
                inp: 18,
                out: 18,
            },
            linear(2, 7, 18, 1, 20),
            Step {
                node: Node::Act(Activation::Tanh),
                inp: 7,
                out: 7,
            },
            linear(4, 3, 7, 1, 30),
        ];
        let sizes = [24, 6, 126, 7, 21, 3];
        let ns: Vec<usize> = (0..nb).collect();
        let xs: Vec<Vec<f64>> = ns.iter().map(|&n| fill(4 * p, 100 + n as u64)).collect();
        let state = |z: &[f64], n: usize| {
            let k = z.len();
            State {
                dim: k,
                cols: fill(2 * k, 200 + n as u64),
                sign: vec![1.0, -1.0],
                c: vec![0.0; k],
                delta: fill(k, 300 + n as u64),
            }
        };
        let mut want: Vec<Vec<f64>> = sizes.iter().map(|&s| vec![0.0; s]).collect();
        let mut outs = Vec::new();
        for (&n, x) in ns.iter().zip(&xs) {
            let mut tape = Vec::new();
            let z = sweep::forward(&steps, x.clone(), n, &mut tape);
            sweep::backward(&steps, &tape, state(&z, n), false, n, &mut want);
            outs.push(z);
        }
        let (zs, tapes) = forward(&steps, xs, &ns);
        assert_eq!(zs, outs);
        let sts = zs.iter().zip(&ns).map(|(z, &n)| state(z, n)).collect();
        let mut got: Vec<Vec<f64>> = sizes.iter().map(|&s| vec![0.0; s]).collect();
        backward(&steps, &tapes, sts, &ns, &mut got);
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{g} vs {w}");
        }
        assert!(want.iter().flatten().any(|&w| w != 0.0));
    }
}
