//! Lanczos iteration with full reorthogonalisation: the extreme eigenvalues of a symmetric
//! operator from its products alone, with an error bound for each.
//!
//! # Rule
//!
//! From a unit start vector `q₁`, `k` products build an orthonormal basis `Q = [q₁ … q_k]` of the
//! Krylov space `span{q₁, A q₁, …, A^{k−1} q₁}` and the tridiagonal `T = Qᵀ A Q` (diagonal `α`,
//! off-diagonal `β`): `A qⱼ = βⱼ₋₁ qⱼ₋₁ + αⱼ qⱼ + βⱼ qⱼ₊₁`. The eigenvalues `θ` of `T` (Ritz
//! values) approximate `A`'s, the extreme ones first and fastest (Kaniel–Paige–Saad theory:
//! Saad, *Numerical Methods for Large Eigenvalue Problems*, 2011, ch. 6; Golub & Van Loan,
//! *Matrix Computations*, 4th ed., §10.1).
//!
//! * **Interlacing**: `λmin ≤ θmin ≤ θmax ≤ λmax` — Ritz values never overshoot the spectrum.
//! * **Error bound**: for a Ritz pair `(θ, y = Q s)` the residual is
//!   `‖A y − θ y‖ = βₖ·|s_k|` (`s_k` the last entry of `T`'s unit eigenvector), and some
//!   eigenvalue of `A` lies within that residual of `θ` (Saad 2011, Thm. 3.9; Parlett, *The
//!   Symmetric Eigenvalue Problem*, Thm. 4.5.1). The residual costs no product.
//! * **Convergence test**: stop when both extreme residuals are at most `tol · ρ`,
//!   `ρ = max(|θmax|, |θmin|)` (the spectral radius estimate), or when `βₖ` vanishes (the Krylov
//!   space is invariant: the Ritz values are eigenvalues), or after `max_iters` products.
//!
//! Every new vector is orthogonalised against the whole basis once more after the three-term
//! recurrence (full reorthogonalisation), so no spurious copies of converged eigenvalues appear;
//! memory is `k` vectors (the basis is stored in `f32`, inner products accumulate in `f64`).
//! Each product is one call of the operator.

use rayon::prelude::*;

use super::reduce::{axpy, axpy_dot, dot};
use crate::Result;

/// What a Lanczos run found.
#[derive(Clone, Debug, Default)]
pub struct Extremes {
    /// Largest and smallest Ritz values (`θmax ≤ λmax`, `θmin ≥ λmin`).
    pub max: f64,
    pub min: f64,
    /// Their residuals `‖A y − θ y‖`: an eigenvalue lies within each of its Ritz value.
    pub max_residual: f64,
    pub min_residual: f64,
    /// Operator products spent.
    pub products: usize,
    /// Whether the convergence test (or an invariant Krylov space) ended the run.
    pub converged: bool,
    /// The orthonormal basis `Q` (kept for a deflated trace estimate).
    pub basis: Vec<Vec<f32>>,
    /// `tr(T) = Σ αⱼ = tr(Qᵀ A Q)`.
    pub trace_t: f64,
}

/// Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations: eigenvalues
/// (ascending) and unit eigenvectors (`vecs[i]` belongs to `vals[i]`).
#[allow(clippy::needless_range_loop)]
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    let scale: f64 = a
        .iter()
        .flatten()
        .map(|x| x * x)
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..60 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = if theta == 0.0 {
                    1.0
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k][p], v[k][q]);
                    v[k][p] = c * vkp - s * vkq;
                    v[k][q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i][i].total_cmp(&a[j][j]));
    let vals = order.iter().map(|&i| a[i][i]).collect();
    let vecs = order
        .iter()
        .map(|&i| (0..n).map(|k| v[k][i]).collect())
        .collect();
    (vals, vecs)
}

/// The extreme Ritz pairs of the tridiagonal `(alpha, beta)` (`beta[j]` couples `j` and
/// `j + 1`; its last entry is the residual coupling `βₖ`): `(θmin, rmin, θmax, rmax)`.
fn ritz(alpha: &[f64], beta: &[f64]) -> (f64, f64, f64, f64) {
    let k = alpha.len();
    let mut t = vec![vec![0.0; k]; k];
    for j in 0..k {
        t[j][j] = alpha[j];
        if j + 1 < k {
            t[j][j + 1] = beta[j];
            t[j + 1][j] = beta[j];
        }
    }
    let (vals, vecs) = symmetric_eigen(t);
    let bk = beta[k - 1];
    let r = |i: usize| (bk * vecs[i][k - 1]).abs();
    (vals[0], r(0), vals[k - 1], r(k - 1))
}

/// Lanczos on the operator `apply(x, out)` (`out = A x`, both of length `start.len()`) from
/// `start` (any non-zero vector), at most `max_iters` products, stopping when both extreme
/// residuals fall to `tol · ρ` (see the module docs).
pub fn lanczos(
    start: &[f32],
    max_iters: usize,
    tol: f64,
    mut apply: impl FnMut(&[f32], &mut [f32]) -> Result<()>,
) -> Result<Extremes> {
    let n = start.len();
    let mut out = Extremes {
        max: f64::NAN,
        min: f64::NAN,
        max_residual: f64::NAN,
        min_residual: f64::NAN,
        ..Extremes::default()
    };
    let s0 = dot(start, start).sqrt();
    if n == 0 || s0 == 0.0 || !s0.is_finite() || max_iters == 0 {
        return Ok(out);
    }
    let mut q: Vec<f32> = start.iter().map(|&x| (x as f64 / s0) as f32).collect();
    let (mut alpha, mut beta) = (Vec::new(), Vec::<f64>::new());
    let mut w = vec![0.0f32; n];
    for j in 0..max_iters.min(n) {
        apply(&q, &mut w)?;
        out.products += 1;
        let a = dot(&q, &w);
        if !a.is_finite() {
            return Ok(out);
        }
        // The three-term recurrence, then full reorthogonalisation (once more against every
        // basis vector, this one included), then ‖w‖: each subtraction fused with the next
        // inner product in one pass over the vectors ([`axpy_dot`]).
        let b_prev = beta.last().copied();
        out.basis.push(std::mem::take(&mut q));
        let basis = &out.basis;
        let first = Some(&basis[0][..]);
        let mut c = match b_prev {
            Some(b) => {
                axpy(-a, &basis[j], &mut w);
                axpy_dot(-b, &basis[j - 1], &mut w, first)
            }
            None => axpy_dot(-a, &basis[j], &mut w, first),
        };
        for (i, qi) in basis.iter().enumerate() {
            c = axpy_dot(-c, qi, &mut w, basis.get(i + 1).map(|q| &q[..]));
        }
        alpha.push(a);
        let b = c.sqrt();
        beta.push(b);
        let (tmin, rmin, tmax, rmax) = ritz(&alpha, &beta);
        out.min = tmin;
        out.max = tmax;
        out.min_residual = rmin;
        out.max_residual = rmax;
        let rho = tmax.abs().max(tmin.abs());
        let invariant = b <= 1e-7 * rho.max(f64::MIN_POSITIVE) || !b.is_finite();
        let done = j >= 1 && rmax <= tol * rho && rmin <= tol * rho;
        if invariant || done {
            out.converged = true;
            break;
        }
        q = w.par_iter().map(|&x| (x as f64 / b) as f32).collect();
    }
    out.trace_t = alpha.iter().sum();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diagonal operator with a known spectrum.
    fn diag(d: &[f32]) -> impl FnMut(&[f32], &mut [f32]) -> Result<()> + '_ {
        move |x, y| {
            y.iter_mut()
                .zip(x.iter().zip(d))
                .for_each(|(y, (x, d))| *y = x * d);
            Ok(())
        }
    }

    #[test]
    fn finds_both_ends_of_a_known_spectrum_within_its_bound() {
        // 200 eigenvalues spread over [-1.3, 4.0], the ends separated by a gap.
        let mut d: Vec<f32> = (0..198).map(|i| -1.0 + 4.0 * i as f32 / 197.0).collect();
        d.push(4.0 + 0.5);
        d.push(-1.3 - 0.4);
        let start: Vec<f32> = (0..d.len()).map(|i| 1.0 + (i % 7) as f32 * 0.1).collect();
        let e = lanczos(&start, 60, 1e-4, diag(&d)).unwrap();
        assert!(e.converged);
        assert!(e.max <= 4.5 + 1e-5 && e.min >= -1.7 - 1e-5, "{e:?}");
        assert!((e.max - 4.5).abs() <= e.max_residual + 1e-5, "{e:?}");
        assert!((e.min + 1.7).abs() <= e.min_residual + 1e-5, "{e:?}");
        assert!((e.max - 4.5).abs() < 1e-3 && (e.min + 1.7).abs() < 1e-3);
        // The basis is orthonormal and tr(T) is the trace of A on it.
        for (i, a) in e.basis.iter().enumerate() {
            for (j, b) in e.basis.iter().enumerate() {
                let expect = if i == j { 1.0 } else { 0.0 };
                assert!((dot(a, b) - expect).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn invariant_space_ends_the_run_with_exact_values() {
        // The start vector lies in a 2-dimensional eigenspace: two products suffice.
        let d = [3.0f32, -2.0, 5.0, 7.0];
        let e = lanczos(&[1.0, 1.0, 0.0, 0.0], 10, 0.0, diag(&d)).unwrap();
        assert!(e.converged);
        assert_eq!(e.products, 2);
        assert!((e.max - 3.0).abs() < 1e-6 && (e.min + 2.0).abs() < 1e-6);
    }

    #[test]
    fn eigen_of_a_small_symmetric_matrix() {
        let (vals, vecs) = symmetric_eigen(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        assert!((vals[0] - 1.0).abs() < 1e-12 && (vals[1] - 3.0).abs() < 1e-12);
        assert!((vecs[1][0] - vecs[1][1]).abs() < 1e-12);
    }
}
