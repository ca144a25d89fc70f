//! Seeded randomness: ChaCha8 streams, so that every shuffle, split and generated set is a pure
//! function of its seed (and, for per-epoch work, of the epoch), on every platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator used throughout the crate.
pub type DataRng = ChaCha8Rng;

/// A generator for `seed`, on stream `stream` (e.g. the epoch): streams of one seed are
/// independent sequences.
pub fn rng(seed: u64, stream: u64) -> DataRng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// A standard normal sample (Box–Muller, f64).
pub fn normal(r: &mut DataRng) -> f64 {
    let u1: f64 = 1.0 - r.gen::<f64>(); // (0, 1]
    let u2: f64 = r.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A uniform sample in `[lo, hi)`.
pub fn uniform(r: &mut DataRng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * r.gen::<f64>()
}

/// Sets `order` to a uniformly random permutation of `0..order.len()` (Fisher–Yates), starting
/// from the identity so the result depends on the generator only.
pub fn permutation(r: &mut DataRng, order: &mut [usize]) {
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    for i in (1..order.len()).rev() {
        let j = r.gen_range(0..=i);
        order.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_moments() {
        let mut a = rng(7, 0);
        let mut b = rng(7, 0);
        let mut c = rng(7, 1);
        let xa: Vec<f64> = (0..5).map(|_| normal(&mut a)).collect();
        let xb: Vec<f64> = (0..5).map(|_| normal(&mut b)).collect();
        let xc: Vec<f64> = (0..5).map(|_| normal(&mut c)).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        let n = 20_000;
        let s: Vec<f64> = (0..n).map(|_| normal(&mut a)).collect();
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        let mut p = vec![0; 50];
        permutation(&mut a, &mut p);
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(p, sorted);
    }
}
