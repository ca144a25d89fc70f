//! The double-precision matrix product: a plain loop nest, blocked over `k`, for the `f64` path
//! of code generic over the precision (the optimizers' Muon on `f64` parameters, tests and
//! tools). The training engine's products are `f32` and take the tuned kernel in `sgemm`; this
//! one only has to be correct, allocation-free and not quadratic in cache misses.
//!
//! Two loop orders, picked by `B`'s layout: with rows of `B` contiguous, each row of `C` is
//! updated by scaled rows of `B` (`C[r,·] += A[r,p]·B[p,·]`), over bands of [`KC`] rows of `B`
//! that stay in cache while every row of `C` passes; otherwise each element of `C` is one dot
//! product of a row of `A` and a column of `B`. Parallel products split `C` into row ranges
//! joined with `rayon::join` (which allocates nothing).

/// Rows of `B` in one band of the row-update order.
const KC: usize = 256;

/// A strided operand: element `(r, c)` is `data[r·rs + c·cs]`.
type Strided<'a> = (&'a [f64], (usize, usize));

/// `C[m×n] = (acc ? C : 0) + A[m×k] · B[k×n]`, `C` row-major, split into `parts` row ranges.
/// The caller has checked that the operands hold every element their strides reach.
pub(crate) fn gemm(
    (m, n, k): (usize, usize, usize),
    c: &mut [f64],
    acc: bool,
    a: Strided<'_>,
    b: Strided<'_>,
    parts: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if !acc {
        c[..m * n].fill(0.0);
    }
    if k == 0 {
        return;
    }
    split((m, n, k), c, a, b, parts.max(1));
}

fn split(
    (m, n, k): (usize, usize, usize),
    c: &mut [f64],
    a: Strided<'_>,
    b: Strided<'_>,
    parts: usize,
) {
    if parts <= 1 || m < 2 {
        serial((m, n, k), c, a, b);
        return;
    }
    let left = parts / 2;
    let m1 = (m * left / parts).max(1);
    let (c1, c2) = c.split_at_mut(m1 * n);
    let a2 = (&a.0[m1 * a.1 .0..], a.1);
    rayon::join(
        || split((m1, n, k), c1, a, b, left),
        || split((m - m1, n, k), c2, a2, b, parts - left),
    );
}

/// Adds `A · B` to `C` on the calling thread.
fn serial((m, n, k): (usize, usize, usize), c: &mut [f64], a: Strided<'_>, b: Strided<'_>) {
    let (a, (ars, acs)) = a;
    let (b, (brs, bcs)) = b;
    if bcs == 1 {
        let mut p0 = 0;
        while p0 < k {
            let p1 = (p0 + KC).min(k);
            for (r, cr) in c.chunks_exact_mut(n).take(m).enumerate() {
                for p in p0..p1 {
                    let av = a[r * ars + p * acs];
                    let br = &b[p * brs..p * brs + n];
                    cr.iter_mut().zip(br).for_each(|(x, &y)| *x += av * y);
                }
            }
            p0 = p1;
        }
    } else if acs == 1 && brs == 1 {
        // Rows of A and columns of B contiguous (e.g. `X·Xᵀ`): contiguous dot products.
        for (r, cr) in c.chunks_exact_mut(n).take(m).enumerate() {
            let ar = &a[r * ars..r * ars + k];
            for (q, x) in cr.iter_mut().enumerate() {
                let bq = &b[q * bcs..q * bcs + k];
                *x += ar.iter().zip(bq).map(|(u, v)| u * v).sum::<f64>();
            }
        }
    } else {
        for (r, cr) in c.chunks_exact_mut(n).take(m).enumerate() {
            for (q, x) in cr.iter_mut().enumerate() {
                let mut s = 0.0;
                for p in 0..k {
                    s += a[r * ars + p * acs] * b[p * brs + q * bcs];
                }
                *x += s;
            }
        }
    }
}
