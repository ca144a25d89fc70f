//! The Halton sequence: a deterministic low-discrepancy sequence for quasi-random search.
//!
//! Point i (i ≥ 1) has coordinate d = the radical inverse of i in the d-th prime base
//! (2, 3, 5, 7, …): i's digits in that base mirrored about the radix point, so i = 6 = 110₂ gives
//! 0.011₂ = 0.375. The first n points of one coordinate in base b put exactly one point in each
//! interval [k/bᵐ, (k+1)/bᵐ) whenever n = bᵐ (Halton 1960, "On the efficiency of certain
//! quasi-random sequences of points in evaluating multi-dimensional integrals"), so a small
//! budget of trials covers a learning-rate range evenly, unlike independent random draws that
//! leave gaps and clumps. Index 0 (the corner 0, …, 0) is not used. For more than a handful of
//! coordinates the plain sequence correlates between neighbouring large bases; search spaces
//! here have one to four searched ranges.

/// The radical inverse of `i` in `base` (≥ 2): i's base-`base` digits mirrored about the point.
pub fn radical_inverse(mut i: u64, base: u64) -> f64 {
    let b = base as f64;
    let mut inv = 1.0 / b;
    let mut x = 0.0;
    while i > 0 {
        x += (i % base) as f64 * inv;
        i /= base;
        inv /= b;
    }
    x
}

/// The `n`-th prime (0-based: 2, 3, 5, 7, 11, …).
pub fn prime(n: usize) -> u64 {
    let mut found = 0;
    let mut k = 2u64;
    loop {
        if (2..)
            .take_while(|d| d * d <= k)
            .all(|d| !k.is_multiple_of(d))
        {
            if found == n {
                return k;
            }
            found += 1;
        }
        k += 1;
    }
}

/// Point `i` (≥ 1) of the `dims`-dimensional Halton sequence, in [0, 1)^dims.
pub fn halton_point(i: u64, dims: usize) -> Vec<f64> {
    (0..dims).map(|d| radical_inverse(i, prime(d))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radical_inverses_by_hand() {
        // 1 = 1₂ → 0.5; 2 = 10₂ → 0.25; 3 = 11₂ → 0.75; 6 = 110₂ → 0.011₂ = 0.375.
        for (i, want) in [(1, 0.5), (2, 0.25), (3, 0.75), (6, 0.375)] {
            assert_eq!(radical_inverse(i, 2), want);
        }
        // 5 = 12₃ → 0.21₃ = 2/3 + 1/9.
        assert!((radical_inverse(5, 3) - (2.0 / 3.0 + 1.0 / 9.0)).abs() < 1e-15);
        assert_eq!(
            (0..6).map(prime).collect::<Vec<_>>(),
            vec![2, 3, 5, 7, 11, 13]
        );
    }
}
