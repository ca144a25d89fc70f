//! Sums and updates over long vectors (a model's parameters, its gradients, a Lanczos basis
//! vector: up to millions of entries) for the instruments, on the training's thread pool.
//!
//! # Rule
//!
//! A vector is cut into fixed blocks of [`BLOCK`] entries — fixed, not one per thread —, each
//! block is summed on its own (in `f64`, eight independent accumulators the compiler keeps in
//! vector registers), and the blocks' sums are added in block order. The readings are therefore
//! the same for every thread count and machine (deterministic), while the instruments' time
//! shrinks with the training's threads instead of running on one core while the others wait.
//! A vector of one block is summed in one piece, without scheduling.

use rayon::prelude::*;

/// Entries per block: 128 KiB of `f32`, large enough that scheduling a block costs little
/// against summing it, small enough that a 100k-entry layer still splits.
pub const BLOCK: usize = 1 << 15;

/// `Σ f(a_k, b_k)` over one block, in `f64` with 8 independent accumulators.
#[inline]
fn sum2_block(a: &[f32], b: &[f32], f: &impl Fn(f64, f64) -> f64) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += f(x[l] as f64, y[l] as f64);
        }
    }
    let mut s: f64 = acc.iter().sum();
    for (&x, &y) in ra.iter().zip(rb) {
        s += f(x as f64, y as f64);
    }
    s
}

/// `Σ f(a_k, b_k)` over the common length of `a` and `b`, in `f64` (see the module docs).
pub fn sum2(a: &[f32], b: &[f32], f: impl Fn(f64, f64) -> f64 + Sync) -> f64 {
    let n = a.len().min(b.len());
    if n <= BLOCK {
        return sum2_block(a, b, &f);
    }
    let parts: Vec<f64> = a[..n]
        .par_chunks(BLOCK)
        .zip(b[..n].par_chunks(BLOCK))
        .map(|(a, b)| sum2_block(a, b, &f))
        .collect();
    parts.iter().sum()
}

/// `Σ f(a_k, b_k, c_k)` over the common length of three vectors, in `f64`, by the same blocks.
pub fn sum3(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f64, f64, f64) -> f64 + Sync) -> f64 {
    let n = a.len().min(b.len()).min(c.len());
    let block = |a: &[f32], b: &[f32], c: &[f32]| {
        let mut acc = [0.0f64; 8];
        let (ca, cb, cc) = (a.chunks_exact(8), b.chunks_exact(8), c.chunks_exact(8));
        let (ra, rb, rc) = (ca.remainder(), cb.remainder(), cc.remainder());
        for ((x, y), z) in ca.zip(cb).zip(cc) {
            for l in 0..8 {
                acc[l] += f(x[l] as f64, y[l] as f64, z[l] as f64);
            }
        }
        let mut s: f64 = acc.iter().sum();
        for ((&x, &y), &z) in ra.iter().zip(rb).zip(rc) {
            s += f(x as f64, y as f64, z as f64);
        }
        s
    };
    if n <= BLOCK {
        return block(&a[..n], &b[..n], &c[..n]);
    }
    let parts: Vec<f64> = a[..n]
        .par_chunks(BLOCK)
        .zip(b[..n].par_chunks(BLOCK))
        .zip(c[..n].par_chunks(BLOCK))
        .map(|((a, b), c)| block(a, b, c))
        .collect();
    parts.iter().sum()
}

/// Inner product with `f64` accumulation.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    sum2(a, b, |x, y| x * y)
}

/// `y ← y + c·x` (in `f32`, as the vectors are).
pub fn axpy(c: f64, x: &[f32], y: &mut [f32]) {
    let c = c as f32;
    let block = |y: &mut [f32], x: &[f32]| y.iter_mut().zip(x).for_each(|(y, x)| *y += c * x);
    if y.len() <= BLOCK {
        return block(y, x);
    }
    y.par_chunks_mut(BLOCK)
        .zip(x.par_chunks(BLOCK))
        .for_each(|(y, x)| block(y, x));
}

/// `y ← y + c·x`, then `z·y` of the updated `y` (`None`: `y·y`), in one pass over the vectors:
/// what each step of a Gram–Schmidt sweep needs (subtract one component, measure the next).
/// The same numbers as [`axpy`] followed by [`dot`]. `x` and `z` are as long as `y`.
pub fn axpy_dot(c: f64, x: &[f32], y: &mut [f32], z: Option<&[f32]>) -> f64 {
    assert!(x.len() == y.len() && z.is_none_or(|z| z.len() == y.len()));
    let c = c as f32;
    let block = |x: &[f32], y: &mut [f32], z: Option<&[f32]>| {
        y.iter_mut().zip(x).for_each(|(y, x)| *y += c * x);
        let y = &*y;
        sum2_block(y, z.unwrap_or(y), &|a, b| a * b)
    };
    let n = y.len();
    if n <= BLOCK {
        return block(x, y, z);
    }
    let parts: Vec<f64> = y
        .par_chunks_mut(BLOCK)
        .zip(x.par_chunks(BLOCK))
        .enumerate()
        .map(|(i, (y, x))| {
            let at = i * BLOCK;
            block(x, y, z.map(|z| &z[at..at + y.len()]))
        })
        .collect();
    parts.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32)
            .map(|v| v / (1u32 << 24) as f32 - 0.5)
            .collect()
    }

    /// The same numbers on 1 thread as on 4: the blocks, not the threads, decide the order.
    #[test]
    fn sums_do_not_depend_on_the_thread_count() {
        let n = 5 * BLOCK + 3;
        let (a, b, c) = (vector(n, 5), vector(n, 6), vector(n, 7));
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut y = b.clone();
                let fused = axpy_dot(0.25, &a, &mut y, Some(&c));
                (
                    dot(&a, &b).to_bits(),
                    sum3(&a, &b, &c, |x, y, z| x * y - z).to_bits(),
                    fused.to_bits(),
                    y,
                )
            })
        };
        assert_eq!(run(1), run(4));
    }

    /// The blocked sums against a plain `f64` loop, on lengths around the block size (one
    /// block, a remainder, several blocks with a short last one), and the fused update against
    /// its two steps, bit for bit.
    #[test]
    fn blocked_sums_match_a_plain_loop() {
        for n in [0, 1, 7, 9, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17] {
            let (a, b) = (vector(n, 1), vector(n, 2));
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let d = dot(&a, &b);
            assert!(
                (d - plain).abs() <= 1e-12 * (1.0 + plain.abs()),
                "{n}: {d} {plain}"
            );
            let sq = sum2(&a, &b, |x, y| (x - y) * (x - y));
            let c = vector(n, 4);
            let s3 = sum3(&a, &b, &c, |x, y, z| (x - y) * z);
            let want3: f64 = (0..n)
                .map(|i| (a[i] as f64 - b[i] as f64) * c[i] as f64)
                .sum();
            assert!((s3 - want3).abs() <= 1e-12 * (1.0 + want3.abs()), "{n}");
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
                .sum();
            assert!((sq - want).abs() <= 1e-12 * (1.0 + want), "{n}");
            let (mut y1, mut y2, z) = (b.clone(), b.clone(), vector(n, 3));
            axpy(-0.37, &a, &mut y1);
            let want = dot(&z, &y1);
            assert_eq!(
                axpy_dot(-0.37, &a, &mut y2, Some(&z)).to_bits(),
                want.to_bits()
            );
            assert_eq!(y1, y2);
            let mut y3 = b.clone();
            let self_dot = axpy_dot(-0.37, &a, &mut y3, None);
            assert_eq!(self_dot.to_bits(), dot(&y1, &y1).to_bits(), "{n}");
        }
    }
}
