//! The training trajectory's principal directions (Li et al., NeurIPS 2018, §7): with the
//! weights `θ₀ … θ_n` saved along a run, the rows `θᵢ − θ_n` are centred and their top two
//! principal directions `v₁, v₂` (unit vectors in weight space) found; each `θᵢ − θ_n` is then
//! projected, `(⟨θᵢ − θ_n, v₁⟩, ⟨θᵢ − θ_n, v₂⟩)`, and the share of the centred rows' variance
//! each direction explains is reported.
//!
//! The rows have millions of columns and a few dozen rows, so the eigenproblem is solved on the
//! small Gram matrix `G = C Cᵀ` (`C` the centred rows): if `G u = λ u` then `v = Cᵀ u / √λ` is a
//! unit principal direction with variance `λ`. `G` is diagonalised with cyclic Jacobi rotations
//! (exact to rounding for a symmetric matrix).

use serde::Serialize;

/// Eigenvalues (descending) and eigenvectors (`vectors[k]` for `values[k]`) of a symmetric
/// matrix `a` (`n × n`, row-major), by cyclic Jacobi rotations.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum().max(0.0) * 2.0 - 1.0;
                let t = t / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let vectors = order
        .iter()
        .map(|&i| (0..n).map(|k| v[k * n + i]).collect())
        .collect();
    (values, vectors)
}

/// The trajectory's top two principal directions and its projection on them.
#[derive(Clone, Debug, Serialize)]
pub struct Pca {
    /// `(⟨θᵢ − θ_n, v₁⟩, ⟨θᵢ − θ_n, v₂⟩)` for every saved point, the last being `(0, 0)`.
    pub coords: Vec<(f64, f64)>,
    /// Share of the centred rows' variance along `v₁` and `v₂`.
    pub explained: (f64, f64),
    /// `v₁` and `v₂`, flattened over every tensor (not serialised: millions of numbers).
    #[serde(skip)]
    pub directions: [Vec<f64>; 2],
}

/// PCA of the points `traj` (each a flat weight vector, the last one the final weights).
/// `None` with fewer than 3 points or when they do not span two directions.
pub fn trajectory(traj: &[Vec<f64>]) -> Option<Pca> {
    let n = traj.len();
    let last = traj.last()?;
    if n < 3 {
        return None;
    }
    let p = last.len();
    let rows: Vec<Vec<f64>> = traj
        .iter()
        .map(|t| t.iter().zip(last).map(|(a, b)| a - b).collect())
        .collect();
    let mean: Vec<f64> = (0..p)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let centred: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| r.iter().zip(&mean).map(|(a, m)| a - m).collect())
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut g = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            let d = dot(&centred[i], &centred[j]);
            g[i * n + j] = d;
            g[j * n + i] = d;
        }
    }
    let (values, vectors) = symmetric_eigen(&g, n);
    let total: f64 = values.iter().filter(|v| **v > 0.0).sum();
    if total.is_nan() || total <= 0.0 || values.len() < 2 || values[1] <= 1e-12 * total {
        return None;
    }
    let direction = |k: usize| -> Vec<f64> {
        let s = values[k].sqrt();
        (0..p)
            .map(|j| (0..n).map(|i| vectors[k][i] * centred[i][j]).sum::<f64>() / s)
            .collect()
    };
    let (v1, v2) = (direction(0), direction(1));
    let coords = rows.iter().map(|r| (dot(r, &v1), dot(r, &v2))).collect();
    Some(Pca {
        coords,
        explained: (values[0] / total, values[1] / total),
        directions: [v1, v2],
    })
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises_a_known_matrix() {
        // Eigenvalues of [[2, 1, 0], [1, 2, 0], [0, 0, 5]]: 5, 3, 1.
        let (vals, vecs) = symmetric_eigen(&[2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0], 3);
        for (v, want) in vals.iter().zip([5.0, 3.0, 1.0]) {
            assert!((v - want).abs() < 1e-12, "{vals:?}");
        }
        // The eigenvector of 3 is (1, 1, 0)/√2 up to sign.
        assert!((vecs[1][0].abs() - 0.5f64.sqrt()).abs() < 1e-12);
        assert!((vecs[1][0] - vecs[1][1]).abs() < 1e-12 && vecs[1][2].abs() < 1e-12);
    }

    /// Against a direct computation: the covariance matrix of the centred rows (P × P, small
    /// here) diagonalised on its own gives the same variances and directions as the Gram route,
    /// and a trajectory in a plane is explained by two directions spanning that plane.
    #[test]
    fn gram_route_matches_the_covariance_and_recovers_a_plane() {
        let p = 5;
        let (u, w) = ([0.6, 0.0, 0.8, 0.0, 0.0], [0.0, 0.6, 0.0, 0.0, -0.8]);
        let traj: Vec<Vec<f64>> = (0..12)
            .map(|i| {
                let t = i as f64;
                let (a, b) = (3.0 * (-t / 4.0).exp(), (t / 2.0).sin());
                (0..p).map(|j| 1.0 + a * u[j] + b * w[j]).collect()
            })
            .collect();
        let pca = trajectory(&traj).unwrap();
        assert!((pca.explained.0 + pca.explained.1 - 1.0).abs() < 1e-9);
        // Directly: the covariance of the centred rows θᵢ − θ_n.
        let last = traj.last().unwrap();
        let rows: Vec<Vec<f64>> = traj
            .iter()
            .map(|t| t.iter().zip(last).map(|(a, b)| a - b).collect())
            .collect();
        let mean: Vec<f64> = (0..p)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / rows.len() as f64)
            .collect();
        let mut cov = vec![0.0; p * p];
        for r in &rows {
            for i in 0..p {
                for j in 0..p {
                    cov[i * p + j] += (r[i] - mean[i]) * (r[j] - mean[j]);
                }
            }
        }
        let (vals, vecs) = symmetric_eigen(&cov, p);
        let total: f64 = vals.iter().filter(|v| **v > 0.0).sum();
        assert!((vals[0] / total - pca.explained.0).abs() < 1e-9);
        for k in 0..2 {
            let d: f64 = vecs[k]
                .iter()
                .zip(&pca.directions[k])
                .map(|(a, b)| a * b)
                .sum();
            assert!((d.abs() - 1.0).abs() < 1e-9, "direction {k}: {d}");
        }
        // The plane: u and w lie in span(v₁, v₂).
        for x in [u, w] {
            let c: f64 = (0..2)
                .map(|k| {
                    x.iter()
                        .zip(&pca.directions[k])
                        .map(|(a, b)| a * b)
                        .sum::<f64>()
                        .powi(2)
                })
                .sum();
            assert!((c - 1.0).abs() < 1e-9, "{c}");
        }
        // Projections: the coordinates reproduce θᵢ − θ_n (it lies in the plane).
        for (r, &(c1, c2)) in rows.iter().zip(&pca.coords) {
            for j in 0..p {
                let back = c1 * pca.directions[0][j] + c2 * pca.directions[1][j];
                assert!((back - r[j]).abs() < 1e-9);
            }
        }
        assert_eq!(*pca.coords.last().unwrap(), (0.0, 0.0));
        assert!(trajectory(&traj[..2]).is_none());
    }
}
