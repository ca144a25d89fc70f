//! The safe entry points: products on row-major or strided slices, checked against the slices'
//! lengths, with the choice of how many parts a product is split into.

use crate::blocking::Blocking;
use crate::sgemm::blocking;
use crate::{dgemm, sgemm};

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

/// Panics unless `dst` is `m×n` and `lhs` (`m×k`, strides `ls`) and `rhs` (`k×n`, strides `rs`)
/// hold every element their strides reach: the kernels rely on it.
fn check_spans<T>(
    (m, n, k): (usize, usize, usize),
    dst: &[T],
    lhs: &[T],
    (lrs, lcs): (usize, usize),
    rhs: &[T],
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
}

/// `dst[m×n] = (acc ? dst : 0) + lhs · rhs`, where `lhs` is `m×k` with strides (`lrs`, `lcs`)
/// and `rhs` is `k×n` with strides (`rrs`, `rcs`); `dst` is row-major. Parallel on the current
/// rayon pool from [`PAR_THRESHOLD`] multiply-adds.
#[allow(clippy::too_many_arguments)]
pub fn product(
    dims: (usize, usize, usize),
    dst: &mut [f32],
    acc: bool,
    lhs: &[f32],
    ls: (usize, usize),
    rhs: &[f32],
    rs: (usize, usize),
) {
    let t = threads(dims.0, dims.1, dims.2);
    product_on(t, blocking(), dims, dst, acc, lhs, ls, rhs, rs);
}

/// [`product`] on the calling thread only (for callers that parallelise outside, e.g. over a
/// batch).
#[allow(clippy::too_many_arguments)]
pub fn product_serial(
    dims: (usize, usize, usize),
    dst: &mut [f32],
    acc: bool,
    lhs: &[f32],
    ls: (usize, usize),
    rhs: &[f32],
    rs: (usize, usize),
) {
    product_on(1, blocking(), dims, dst, acc, lhs, ls, rhs, rs);
}

/// [`product_serial`] with an explicit blocking instead of the one chosen for this CPU
/// ([`crate::blocking()`]): for benchmarks and experiments. A blocking larger than any used
/// before on this thread grows the thread's packing scratch once.
#[allow(clippy::too_many_arguments)]
pub fn product_blocked(
    blocking: Blocking,
    dims: (usize, usize, usize),
    dst: &mut [f32],
    acc: bool,
    lhs: &[f32],
    ls: (usize, usize),
    rhs: &[f32],
    rs: (usize, usize),
) {
    let blocking = Blocking::new(blocking.kc, blocking.mc, blocking.nc, sgemm::TILE);
    product_on(1, blocking, dims, dst, acc, lhs, ls, rhs, rs);
}

#[allow(clippy::too_many_arguments)]
fn product_on(
    threads: usize,
    blocking: Blocking,
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    acc: bool,
    lhs: &[f32],
    (lrs, lcs): (usize, usize),
    rhs: &[f32],
    (rrs, rcs): (usize, usize),
) {
    check_spans((m, n, k), dst, lhs, (lrs, lcs), rhs, (rrs, rcs));
    // SAFETY: the checks keep every access inside the slices; `dst` is borrowed mutably so it
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
            blocking,
        );
    }
}

/// The element types with a matrix product, for code generic over `f32` and `f64`: `f32` runs
/// [`product`], `f64` a plain blocked loop nest. Both allocate nothing per call (the `f32`
/// kernel keeps per-thread packing scratch, sized on a thread's first product).
pub trait Gemm: Copy + Send + Sync + 'static {
    /// `dst[m×n] = (acc ? dst : 0) + lhs · rhs`, as [`product`].
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        dims: (usize, usize, usize),
        dst: &mut [Self],
        acc: bool,
        lhs: &[Self],
        ls: (usize, usize),
        rhs: &[Self],
        rs: (usize, usize),
    );
}

impl Gemm for f32 {
    fn gemm(
        dims: (usize, usize, usize),
        dst: &mut [f32],
        acc: bool,
        lhs: &[f32],
        ls: (usize, usize),
        rhs: &[f32],
        rs: (usize, usize),
    ) {
        product(dims, dst, acc, lhs, ls, rhs, rs);
    }
}

impl Gemm for f64 {
    fn gemm(
        dims: (usize, usize, usize),
        dst: &mut [f64],
        acc: bool,
        lhs: &[f64],
        ls: (usize, usize),
        rhs: &[f64],
        rs: (usize, usize),
    ) {
        check_spans(dims, dst, lhs, ls, rhs, rs);
        let t = threads(dims.0, dims.1, dims.2);
        dgemm::gemm(dims, dst, acc, (lhs, ls), (rhs, rs), t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(len: usize, seed: u64) -> Vec<f64> {
        (0..len)
            .map(|j| {
                let h = (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
                ((h >> 11) % 2000) as f64 / 1000.0 - 1.0
            })
            .collect()
    }

    /// `Gemm` in both precisions against a triple loop, for row- and column-major operands, with
    /// and without accumulation.
    fn check<T: Gemm + Into<f64>>(of: fn(f64) -> T, tol: f64, (m, n, k): (usize, usize, usize)) {
        for (a_rm, b_rm) in [(true, true), (true, false), (false, true), (false, false)] {
            let ls = if a_rm { (k, 1) } else { (1, m) };
            let rs = if b_rm { (n, 1) } else { (1, k) };
            let a: Vec<T> = fill(m * k, 1).into_iter().map(of).collect();
            let b: Vec<T> = fill(k * n, 2).into_iter().map(of).collect();
            let c0: Vec<T> = fill(m * n, 3).into_iter().map(of).collect();
            for acc in [false, true] {
                let mut c = c0.clone();
                T::gemm((m, n, k), &mut c, acc, &a, ls, &b, rs);
                for r in 0..m {
                    for q in 0..n {
                        let mut s: f64 = if acc { c0[r * n + q].into() } else { 0.0 };
                        for p in 0..k {
                            let x: f64 = a[r * ls.0 + p * ls.1].into();
                            let y: f64 = b[p * rs.0 + q * rs.1].into();
                            s += x * y;
                        }
                        let got: f64 = c[r * n + q].into();
                        assert!(
                            (got - s).abs() <= tol * (1.0 + s.abs()) * (1.0 + k as f64).sqrt(),
                            "{m}×{n}×{k} a_rm {a_rm} b_rm {b_rm} acc {acc} ({r},{q}): {got} vs {s}"
                        );
                    }
                }
            }
        }
    }

    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (3, 5, 7),
        (13, 33, 17),
        (11, 31, 300),
        (130, 17, 33),
        (0, 4, 4),
        (4, 4, 0),
    ];

    #[test]
    fn both_precisions_match_a_triple_loop() {
        for &s in SHAPES {
            check::<f32>(|x| x as f32, 1e-4, s);
            check::<f64>(|x| x, 1e-12, s);
        }
    }

    #[test]
    fn large_products_split_across_the_pool() {
        const { assert!(160 * 130 * 112 >= PAR_THRESHOLD) };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            check::<f32>(|x| x as f32, 1e-4, (160, 130, 112));
            check::<f64>(|x| x, 1e-12, (160, 130, 112));
        });
    }

    #[test]
    #[should_panic(expected = "lhs too short")]
    fn short_operands_are_refused() {
        let mut c = [0.0f64; 4];
        f64::gemm(
            (2, 2, 2),
            &mut c,
            false,
            &[1.0; 3],
            (2, 1),
            &[1.0; 4],
            (2, 1),
        );
    }
}
