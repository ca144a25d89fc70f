//! The three matrix products a linear layer needs, on row-major `f32` slices, via the blocked
//! product of the `kernels` crate (no allocation per call).
//!
//! With `x: [n, i]`, `w: [o, i]` (PyTorch's `Linear.weight` layout), `dy: [n, o]`:
//! * [`x_wt`]: `y = x · wᵀ` (`[n, o]`), the forward pass;
//! * [`dy_w`]: `dx = dy · w` (`[n, i]`), the input gradient;
//! * [`dyt_x`]: `dw (+)= dyᵀ · x` (`[o, i]`), the weight gradient, optionally accumulated.
//!
//! Products with at least [`PAR_THRESHOLD`] multiply-adds are split across the current rayon
//! pool, smaller ones run single-threaded (the thread hand-off would cost more).

pub use kernels::PAR_THRESHOLD;
pub(crate) use kernels::{product, product_serial};

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
