//! The double-precision matrix product: a plain loop nest, blocked over `k`, for the `f64` path
//! of code generic over the precision (the optimizers' Muon on `f64` parameters, tests and
//! tools). The training engine's products are `f32` and take the tuned kernel in `sgemm`; this
//! one only has to be correct, allocation-free and not quadratic in cache misses.
//!
//! Two loop orders, picked by `B`'s layout: with rows of `B` contiguous, each row of `C` is
//! updated by scaled rows of `B` (`C[r,·] += A[r,p]·B[p,·]`), over bands of [`KC`] rows of `B`;
//! otherwise each element of `C` is one dot product of a row of `A` and a column of `B`.
//! Parallel products split `C` into row ranges joined with `rayon::join` (which allocates
//! nothing).
//!
//! The row-update order runs in register tiles of [`MR`]×[`NR`] elements of `C`: a tile is
//! loaded into registers once per band, takes every product of the band, and is stored once,
//! instead of loading and storing each element of `C` once per product (which bound the plain
//! loop by its loads and stores, not its arithmetic). Each element still receives the same
//! products in the same order (`c ← c + a·b`, `p` ascending, no fused multiply-add), so the
//! results are bit for bit those of the plain loop; the tile's inner loop over `NR` columns is
//! what the compiler vectorises. Within a band, the tiles sweep `C` by column panels of `NR`
//! (each panel's `KC × NR` slice of `B`, 32 KiB, stays in the L1 cache for every row tile).

/// Rows of `B` in one band of the row-update order.
const KC: usize = 256;

/// Rows and columns of `C` in one register tile of the row-update order (`MR·NR/8` vector
/// registers of eight `f64` hold it, with AVX-512).
const MR: usize = 4;
const NR: usize = 16;

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
            rows_band((m, n), c, (a, (ars, acs)), (b, brs), (p0, p1));
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

/// The products `p0..p1` of the row-update order (`C[r,·] += A[r,p]·B[p,·]`, rows of `B`
/// contiguous with stride `brs`) in register tiles; the edge rows and columns that do not fill
/// a tile take the plain loop. Every element gets its products in ascending `p` either way.
fn rows_band(
    (m, n): (usize, usize),
    c: &mut [f64],
    a: Strided<'_>,
    (b, brs): (&[f64], usize),
    (p0, p1): (usize, usize),
) {
    let (a, (ars, acs)) = a;
    let (mt, nt) = (m - m % MR, n - n % NR);
    for j0 in (0..nt).step_by(NR) {
        for i0 in (0..mt).step_by(MR) {
            // Four named rows (not an array indexed in a loop), so that they live in registers.
            let row = |r: usize| (i0 + r) * n + j0;
            let load = |c: &[f64], r: usize| -> [f64; NR] {
                c[row(r)..row(r) + NR].try_into().expect("a tile's columns")
            };
            let (mut c0, mut c1, mut c2, mut c3) = (load(c, 0), load(c, 1), load(c, 2), load(c, 3));
            let arow = |r: usize| (i0 + r) * ars;
            let (a0, a1, a2, a3) = (arow(0), arow(1), arow(2), arow(3));
            for p in p0..p1 {
                let br: &[f64; NR] = b[p * brs + j0..p * brs + j0 + NR]
                    .try_into()
                    .expect("a tile's columns");
                let pa = p * acs;
                let (x0, x1, x2, x3) = (a[a0 + pa], a[a1 + pa], a[a2 + pa], a[a3 + pa]);
                for q in 0..NR {
                    c0[q] += x0 * br[q];
                    c1[q] += x1 * br[q];
                    c2[q] += x2 * br[q];
                    c3[q] += x3 * br[q];
                }
            }
            for (r, t) in [c0, c1, c2, c3].iter().enumerate() {
                c[row(r)..row(r) + NR].copy_from_slice(t);
            }
        }
    }
    // The edges: rows below the last full row tile (all columns), then the columns right of
    // the last full column panel (the tiled rows).
    let edge = |r: usize, cols: std::ops::Range<usize>, cr: &mut [f64]| {
        for p in p0..p1 {
            let av = a[r * ars + p * acs];
            let br = &b[p * brs + cols.start..p * brs + cols.end];
            cr.iter_mut().zip(br).for_each(|(x, &y)| *x += av * y);
        }
    };
    for r in mt..m {
        edge(r, 0..n, &mut c[r * n..(r + 1) * n]);
    }
    if nt < n {
        for r in 0..mt {
            edge(r, nt..n, &mut c[r * n + nt..(r + 1) * n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(len: usize, seed: u64) -> Vec<f64> {
        (0..len)
            .map(|j| {
                let h = (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
                ((h >> 11) % 20011) as f64 / 7919.0 - 1.3
            })
            .collect()
    }

    /// The plain row-update loop the tiles replace: `C[r,·] += A[r,p]·B[p,·]`, bands of `KC`.
    fn plain(
        (m, n, k): (usize, usize, usize),
        c: &mut [f64],
        (a, (ars, acs)): Strided<'_>,
        (b, brs): (&[f64], usize),
    ) {
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
    }

    /// The tiled row-update order gives bit for bit the plain loop's results: full tiles only,
    /// edge rows, edge columns, both, one row or column, several bands (`k > KC`), `A` with rows
    /// or columns contiguous, accumulating into a non-zero `C`; and it agrees with the `f64`
    /// naive triple loop to rounding.
    #[test]
    fn tiles_match_the_plain_loop_bit_for_bit() {
        for (m, n, k) in [
            (4, 16, 3),
            (8, 32, 300),
            (5, 16, 7),
            (4, 17, 9),
            (7, 37, 513),
            (1, 1, 1),
            (3, 15, 2),
            (13, 50, 257),
        ] {
            for a_rows in [true, false] {
                let a = fill(m * k, 1);
                let strides = if a_rows { (k, 1) } else { (1, m) };
                let b = fill(k * n, 2);
                let c0 = fill(m * n, 3);
                let (mut c1, mut c2) = (c0.clone(), c0.clone());
                gemm((m, n, k), &mut c1, true, (&a, strides), (&b, (n, 1)), 1);
                plain((m, n, k), &mut c2, (&a, strides), (&b, n));
                assert!(
                    c1.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{m}x{n}x{k} a_rows {a_rows}"
                );
                for r in 0..m {
                    for q in 0..n {
                        let want: f64 = c0[r * n + q]
                            + (0..k)
                                .map(|p| a[r * strides.0 + p * strides.1] * b[p * n + q])
                                .sum::<f64>();
                        let got = c1[r * n + q];
                        assert!(
                            (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
                            "{m}x{n}x{k}"
                        );
                    }
                }
                // Parallel row ranges change nothing.
                let mut c3 = c0.clone();
                gemm((m, n, k), &mut c3, true, (&a, strides), (&b, (n, 1)), 3);
                assert_eq!(c3, c1);
            }
        }
    }
}
