//! The three matrix products a linear layer needs, on row-major `f32` slices, via the engine's
//! own blocked product (`sgemm.rs`, no allocation per call).
//!
//! With `x: [n, i]`, `w: [o, i]` (PyTorch's `Linear.weight` layout), `dy: [n, o]`:
//! * [`x_wt`]: `y = x · wᵀ` (`[n, o]`), the forward pass;
//! * [`dy_w`]: `dx = dy · w` (`[n, i]`), the input gradient;
//! * [`dyt_x`]: `dw (+)= dyᵀ · x` (`[o, i]`), the weight gradient, optionally accumulated.
//!
//! Products with at least [`PAR_THRESHOLD`] multiply-adds are split across the current rayon
//! pool, smaller ones run single-threaded (the thread hand-off would cost more).

use crate::sgemm;

/// Multiply-add count (`m·n·k`) from which a product runs in parallel: about 10 µs of work on
/// one core, well above the cost of handing half of it to another rayon thread (waking a
/// sleeping worker can take several µs).
pub const PAR_THRESHOLD: usize = 1 << 21;

/// Parts a product is split into: 1 below [`PAR_THRESHOLD`], else up to 4 per thread (so that
/// work stealing evens out a thread that is slowed down, e.g. on a shared machine) while each
/// part keeps at least half the threshold of work.
fn threads(m: usize, n: usize, k: usize) -> usize {
    let work = m.saturating_mul(n).saturating_mul(k);
    if work < PAR_THRESHOLD {
        return 1;
    }
    let threads = rayon::current_num_threads();
    if threads <= 1 {
        return 1;
    }
    (4 * threads).min(work / (PAR_THRESHOLD / 2)).max(threads)
}

/// `dst[m×n] = (acc ? dst : 0) + lhs · rhs`, where `lhs` is `m×k` with strides (`lrs`, `lcs`)
/// and `rhs` is `k×n` with strides (`rrs`, `rcs`); `dst` is row-major. Parallel on the current
/// rayon pool from [`PAR_THRESHOLD`] multiply-adds.
#[allow(clippy::too_many_arguments)]
pub(crate) fn product(
    dims: (usize, usize, usize),
    dst: &mut [f32],
    acc: bool,
    lhs: &[f32],
    ls: (usize, usize),
    rhs: &[f32],
    rs: (usize, usize),
) {
    let t = threads(dims.0, dims.1, dims.2);
    product_on(t, dims, dst, acc, lhs, ls, rhs, rs);
}

/// [`product`] on the calling thread only (for callers that parallelise outside, e.g. over a
/// batch).
#[allow(clippy::too_many_arguments)]
pub(crate) fn product_serial(
    dims: (usize, usize, usize),
    dst: &mut [f32],
    acc: bool,
    lhs: &[f32],
    ls: (usize, usize),
    rhs: &[f32],
    rs: (usize, usize),
) {
    product_on(1, dims, dst, acc, lhs, ls, rhs, rs);
}

#[allow(clippy::too_many_arguments)]
fn product_on(
    threads: usize,
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    acc: bool,
    lhs: &[f32],
    (lrs, lcs): (usize, usize),
    rhs: &[f32],
    (rrs, rcs): (usize, usize),
) {
    assert_eq!(dst.len(), m * n, "matmul: destination is not {m}×{n}");
    let span = |r: usize, c: usize, rs: usize, cs: usize| {
        if r == 0 || c == 0 {
            0
        } else {
            (r - 1) * rs + (c - 1) * cs + 1
        }
    };
    assert!(lhs.len() >= span(m, k, lrs, lcs), "matmul: lhs too short");
    assert!(rhs.len() >= span(k, n, rrs, rcs), "matmul: rhs too short");
    // SAFETY: the asserts keep every access inside the slices; `dst` is borrowed mutably so it
    // aliases neither operand.
    unsafe {
        sgemm::gemm(
            (m, n, k),
            dst.as_mut_ptr(),
            acc,
            sgemm::View {
                ptr: lhs.as_ptr(),
                rs: lrs,
                cs: lcs,
            },
            sgemm::View {
                ptr: rhs.as_ptr(),
                rs: rrs,
                cs: rcs,
            },
            threads,
        );
    }
}

/// `y[n×o] = x[n×i] · w[o×i]ᵀ` (overwrites `y`).
pub fn x_wt(x: &[f32], w: &[f32], y: &mut [f32], n: usize, i: usize, o: usize) {
    product((n, o, i), y, false, x, (i, 1), w, (1, i));
}

/// `dx[n×i] = dy[n×o] · w[o×i]` (overwrites `dx`).
pub fn dy_w(dy: &[f32], w: &[f32], dx: &mut [f32], n: usize, i: usize, o: usize) {
    product((n, i, o), dx, false, dy, (o, 1), w, (i, 1));
}

/// `dw[o×i] (+)= dy[n×o]ᵀ · x[n×i]`; accumulates into `dw` when `accumulate`.
pub fn dyt_x(
    dy: &[f32],
    x: &[f32],
    dw: &mut [f32],
    n: usize,
    i: usize,
    o: usize,
    accumulate: bool,
) {
    product((o, i, n), dw, accumulate, dy, (1, o), x, (i, 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|j| {
                (((j as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32
                    / 500.0
                    - 1.0
            })
            .collect()
    }

    /// Naive `a[m×k] · b[k×n]` with `a(r,c)` / `b(r,c)` accessors, in f64.
    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                let mut s = 0f64;
                for t in 0..k {
                    s += a(r, t) as f64 * b(t, c) as f64;
                }
                out[r * n + c] = s as f32;
            }
        }
        out
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "element {j}: {x} vs {y}"
            );
        }
    }

    fn check(n: usize, i: usize, o: usize) {
        let x = fill(n * i, 1);
        let w = fill(o * i, 2);
        let dy = fill(n * o, 3);
        let mut y = vec![f32::NAN; n * o];
        x_wt(&x, &w, &mut y, n, i, o);
        close(
            &y,
            &naive(n, o, i, |r, c| x[r * i + c], |r, c| w[c * i + r]),
        );
        let mut dx = vec![f32::NAN; n * i];
        dy_w(&dy, &w, &mut dx, n, i, o);
        close(
            &dx,
            &naive(n, i, o, |r, c| dy[r * o + c], |r, c| w[r * i + c]),
        );
        let want = naive(o, i, n, |r, c| dy[c * o + r], |r, c| x[r * i + c]);
        let mut dw = vec![f32::NAN; o * i];
        dyt_x(&dy, &x, &mut dw, n, i, o, false);
        close(&dw, &want);
        dyt_x(&dy, &x, &mut dw, n, i, o, true);
        close(&dw, &want.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
    }

    #[test]
    fn products_match_naive_on_odd_sizes() {
        check(7, 13, 5);
        check(1, 1, 1);
        check(3, 17, 2);
    }

    #[test]
    fn large_product_takes_the_parallel_path() {
        const { assert!(128 * 160 * 112 >= PAR_THRESHOLD) };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| check(128, 160, 112));
    }
}
