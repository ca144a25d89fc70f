//! Muon: MomentUm Orthogonalized by Newton–Schulz, with an AdamW fallback.
//!
//! Update rule (Keller Jordan 2024, "Muon: An optimizer for hidden layers in neural networks";
//! reference `KellerJordan/Muon`, `muon.py`), for a parameter `p` with two or more dimensions,
//! viewed as a `rows × cols` matrix (`[shape[0], prod(shape[1..])]`, as the reference does for
//! conv filters), gradient `g`:
//! ```text
//! buf ← buf + (1 − μ)·(g − buf)                        (buf.lerp_(g, 1 − μ))
//! G   ← g + μ·(buf − g)   if nesterov   else  buf      (g.lerp_(buf, μ))
//! X   ← G / (‖G‖_F + 1e-7);  transpose if rows > cols
//! repeat ns_steps:  A = X·Xᵀ;  B = b·A + c·A·A;  X ← a·X + B·X      (a, b, c) = (3.4445, −4.7750, 2.0315)
//! O   ← X (transposed back) · √max(1, rows/cols)
//! p   ← p·(1 − lr·λ) − lr·O                               (decoupled weight decay, λ = weight_decay)
//! ```
//! The quintic iteration drives every singular value of `X` into roughly `[0.7, 1.2]` (it trades
//! exact convergence to 1 for speed), so `O ≈ U·Vᵀ` of the momentum's SVD `U·S·Vᵀ`.
//!
//! Tensors that are not matrices (biases, norm gains, scalars: fewer than 2 dimensions) and those
//! named by `adam_params` (glob patterns; the reference advises AdamW for embeddings and the
//! output head) take the reference's `MuonWithAuxAdam` AdamW path instead:
//! ```text
//! m ← m + (1 − β₁)(g − m);  v ← v + (1 − β₂)(g² − v)
//! p ← p·(1 − adam_lr·λ) − adam_lr·(m/bc₁) / (√(v/bc₂) + ε)
//! ```
//! Learning rates: the group's (scheduled) `lr` is Muon's; the Adam path uses `lr·(adam_lr/lr₀)`
//! with `lr₀` the configured `lr`, i.e. the ratio `adam_lr/lr` is fixed when the optimizer is
//! built, so a schedule (or a parameter group's lr) scales both paths together and `adam_lr` is
//! exact at the configured `lr`. Weight decay is the group's for both paths (give biases and norms
//! a group with `weight_decay = 0`).
//!
//! Conventions and differences from the reference: the Newton–Schulz iteration runs in the
//! parameter's precision (f32/f64), not bfloat16; matrix products use the `kernels` crate. Every
//! tensor of two or more dimensions is flattened to `[shape[0], rest]` and its shape factor uses
//! that view's `rows/cols`; the reference flattens only 4-D conv filters, takes the shape factor
//! from the *unflattened* gradient's last two dimensions (`kh/kw`, i.e. 1, for a conv filter), and
//! orthogonalises 3-D tensors as a batch of matrices over the leading dimension. Defaults:
//! `lr = 0.02`, `momentum = 0.95`, `nesterov = true`, `ns_steps = 5`, `weight_decay = 0`,
//! `adam_lr = 3e-4`, `adam_betas = (0.9, 0.95)`, `adam_eps = 1e-8` (the reference's
//! `MuonWithAuxAdam` uses `eps = 1e-10`), `adam_params = []`. A scheduled momentum replaces `μ`.
//!
//! Recipe: `muon > scale_by_learning_rate` (`muon` is a whole-tensor transform that dispatches on
//! the tensor's shape and includes the weight decay and the Adam-path lr ratio).

use crate::hyper::{Check, Hyper};
use crate::transforms::{muon, scale_by_learning_rate};
use crate::{Chain, Float, OptimError, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct MuonConfig {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub ns_steps: usize,
    pub weight_decay: f64,
    pub adam_lr: f64,
    pub adam_betas: (f64, f64),
    pub adam_eps: f64,
    /// Glob patterns of parameter names that take the Adam path whatever their shape.
    pub adam_params: Vec<String>,
}

impl Default for MuonConfig {
    fn default() -> Self {
        MuonConfig {
            lr: 0.02,
            momentum: 0.95,
            nesterov: true,
            ns_steps: 5,
            weight_decay: 0.0,
            adam_lr: 3e-4,
            adam_betas: (0.9, 0.95),
            adam_eps: 1e-8,
            adam_params: vec![],
        }
    }
}

impl MuonConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = MuonConfig::default();
        let adam_params = match h.raw("adam_params") {
            None => vec![],
            Some(v) => {
                let bad = || {
                    OptimError::invalid(
                        h.context(),
                        "adam_params",
                        v,
                        "expected a list of name patterns (strings)",
                    )
                };
                v.as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(|p| p.as_str().map(str::to_string).ok_or_else(bad))
                    .collect::<Result<Vec<_>>>()?
            }
        };
        Ok(MuonConfig {
            lr: h.f64("lr", d.lr, Check::Positive)?,
            momentum: h.f64("momentum", d.momentum, Check::Unit)?,
            nesterov: h.bool("nesterov", d.nesterov)?,
            ns_steps: h.usize("ns_steps", d.ns_steps)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            adam_lr: h.f64("adam_lr", d.adam_lr, Check::NonNeg)?,
            adam_betas: h.pair("adam_betas", d.adam_betas, Check::Unit)?,
            adam_eps: h.f64("adam_eps", d.adam_eps, Check::NonNeg)?,
            adam_params,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(OptimError::invalid(
                "optimizer `muon`",
                "lr",
                self.lr,
                "must be > 0 (the Adam path's rate is lr * adam_lr / lr)",
            ));
        }
        let patterns = self
            .adam_params
            .iter()
            .map(|p| {
                glob::Pattern::new(p).map_err(|e| {
                    OptimError::invalid(
                        "optimizer `muon`",
                        "adam_params",
                        format!("{p:?}"),
                        e.to_string(),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let t = muon::<F>(
            self.momentum,
            self.nesterov,
            self.ns_steps,
            self.adam_lr / self.lr,
            self.adam_betas,
            self.adam_eps,
        )
        .with_adam_params(patterns);
        let chain = Chain::new(vec![])?
            .then(t)?
            .then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "muon".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    MuonConfig::from_hyper(h)?.recipe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{close, quadratic, trajectory};
    use crate::transforms::{newton_schulz5, NS_COEFFS};
    use crate::{Optimizer, Param, ParamStore};

    /// Deterministic pseudo-random numbers in [-1, 1).
    fn rand(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn mm(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
        let mut c = vec![0.0; n * m];
        for i in 0..n {
            for j in 0..m {
                c[i * m + j] = (0..k).map(|l| a[i * k + l] * b[l * m + j]).sum();
            }
        }
        c
    }

    fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
        let mut t = vec![0.0; a.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        t
    }

    /// Naive Newton–Schulz, a transcription of the reference (rows ≤ cols only).
    fn naive_ns(g: &[f64], rows: usize, cols: usize, steps: usize) -> Vec<f64> {
        let (a, b, c) = NS_COEFFS;
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        let mut x: Vec<f64> = g.iter().map(|v| v / (norm + 1e-7)).collect();
        for _ in 0..steps {
            let am = mm(&x, &transpose(&x, rows, cols), rows, cols, rows);
            let aa = mm(&am, &am, rows, rows, rows);
            let bm: Vec<f64> = am.iter().zip(&aa).map(|(p, q)| b * p + c * q).collect();
            let bx = mm(&bm, &x, rows, rows, cols);
            x = x.iter().zip(&bx).map(|(x, y)| a * x + y).collect();
        }
        x
    }

    #[test]
    fn newton_schulz_matches_naive_and_orthogonalises() {
        let mut scratch = vec![];
        for (rows, cols) in [(4, 8), (8, 4)] {
            let g = rand(rows * cols, (rows * 10 + cols) as u64);
            let mut x = g.clone();
            newton_schulz5(&mut x, rows, cols, 5, &mut scratch);
            let want = if rows <= cols {
                naive_ns(&g, rows, cols, 5)
            } else {
                transpose(
                    &naive_ns(&transpose(&g, rows, cols), cols, rows, 5),
                    cols,
                    rows,
                )
            };
            assert!(close(&x, &want, 1e-12), "{rows}x{cols}");
            // The small Gram matrix (4×4) is close to the identity: singular values ≈ 1.
            let gram = if rows <= cols {
                mm(&x, &transpose(&x, rows, cols), rows, cols, rows)
            } else {
                mm(&transpose(&x, rows, cols), &x, cols, rows, cols)
            };
            let r = rows.min(cols);
            for i in 0..r {
                let d = gram[i * r + i];
                assert!((d - 1.0).abs() < 0.4, "{rows}x{cols}: diag {i} = {d}");
                for j in 0..r {
                    if i != j {
                        assert!(
                            gram[i * r + j].abs() < 0.4,
                            "{rows}x{cols}: ({i},{j}) = {}",
                            gram[i * r + j]
                        );
                    }
                }
            }
            // Singular values in [0.6, 1.2] ⇔ the Gram's eigenvalues in [0.36, 1.44] ⇔
            // Gram − 0.36·I and 1.44·I − Gram are positive definite (Cholesky succeeds).
            let shifted = |lo: f64, sign: f64| -> Vec<f64> {
                (0..r * r)
                    .map(|k| sign * gram[k] - if k % (r + 1) == 0 { lo } else { 0.0 })
                    .collect()
            };
            assert!(
                positive_definite(&shifted(0.36, 1.0), r),
                "{rows}x{cols}: a singular value < 0.6"
            );
            assert!(
                positive_definite(&shifted(-1.44, -1.0), r),
                "{rows}x{cols}: a singular value > 1.2"
            );
        }
    }

    /// Whether the symmetric `n×n` matrix `a` is positive definite (Cholesky).
    fn positive_definite(a: &[f64], n: usize) -> bool {
        let mut l = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let s: f64 =
                    a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
                if i == j {
                    if s <= 0.0 {
                        return false;
                    }
                    l[i * n + i] = s.sqrt();
                } else {
                    l[i * n + j] = s / l[j * n + j];
                }
            }
        }
        true
    }

    #[test]
    fn newton_schulz_large_matches_naive() {
        // Large enough for a parallel product (`X·Xᵀ` is 128·128·160 ≥ PAR_THRESHOLD).
        let (rows, cols) = (128, 160);
        let g = rand(rows * cols, 7);
        let mut x = g.clone();
        newton_schulz5(&mut x, rows, cols, 5, &mut vec![]);
        assert!(close(&x, &naive_ns(&g, rows, cols, 5), 1e-10));
    }

    #[test]
    fn rank_one_step_by_hand() {
        // G = u·vᵀ has one singular value σ; NS maps it to f⁵(σ/(σ+1e-7)), f(s) = as + bs³ + cs⁵,
        // along the same singular vectors: O = f⁵(·)·G/σ.
        let cfg = MuonConfig {
            lr: 0.1,
            weight_decay: 0.5,
            ..Default::default()
        };
        let g = [1.0, 2.0, -2.0, 0.5, 1.0, -1.0]; // [1, 0.5]ᵀ · [1, 2, −2], 2×3
        let p0 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let w = trajectory(cfg.recipe().unwrap(), &[2, 3], &p0, &[&g]);
        // Nesterov, first step: G = g·(1 − μ + μ(1 − μ)) = 0.0975·g.
        let sigma = 0.0975 * g.iter().map(|x| x * x).sum::<f64>().sqrt();
        let (a, b, c) = NS_COEFFS;
        let mut s = sigma / (sigma + 1e-7);
        for _ in 0..5 {
            s = a * s + b * s.powi(3) + c * s.powi(5);
        }
        assert!(s > 0.6 && s < 1.2, "{s}");
        let want: Vec<f64> = (0..6)
            .map(|i| p0[i] - 0.1 * (s * 0.0975 * g[i] / sigma + 0.5 * p0[i]))
            .collect();
        assert!(close(&w[0], &want, 1e-12), "{:?} vs {want:?}", w[0]);
    }

    #[test]
    fn tall_matrix_is_scaled() {
        // 3×1 (rows > cols): O = f⁵(1)·g/‖g‖·√3.
        let cfg = MuonConfig {
            lr: 0.1,
            nesterov: false,
            ..Default::default()
        };
        let g = [3.0, 0.0, -4.0];
        let w = trajectory(cfg.recipe().unwrap(), &[3, 1], &[0.0; 3], &[&g]);
        let (a, b, c) = NS_COEFFS;
        let mut s = 0.05 * 5.0 / (0.05 * 5.0 + 1e-7);
        for _ in 0..5 {
            s = a * s + b * s.powi(3) + c * s.powi(5);
        }
        let want: Vec<f64> = g.iter().map(|x| -0.1 * s * x / 5.0 * 3f64.sqrt()).collect();
        assert!(close(&w[0], &want, 1e-12), "{:?} vs {want:?}", w[0]);
    }

    #[test]
    fn bias_takes_the_adam_path() {
        let cfg = MuonConfig {
            weight_decay: 0.1,
            ..Default::default()
        };
        let p0 = [1.0, -1.0, 0.0];
        let (g1, g2) = ([0.5, 2.0, -1.0], [1.0, -1.0, 0.25]);
        let w = trajectory(cfg.recipe().unwrap(), &[3], &p0, &[&g1, &g2]);
        // Step 1: m̂ = g, v̂ = g² → u = g/(|g| + ε); p ← p − 3e-4·(u + 0.1p).
        let lr = 3e-4;
        let p1: Vec<f64> = (0..3)
            .map(|i| p0[i] - lr * (g1[i] / (g1[i].abs() + 1e-8) + 0.1 * p0[i]))
            .collect();
        assert!(close(&w[0], &p1, 1e-13), "{:?} vs {p1:?}", w[0]);
        let p2: Vec<f64> = (0..3)
            .map(|i| {
                let m = 0.9 * 0.1 * g1[i] + 0.1 * g2[i];
                let v = 0.95 * 0.05 * g1[i] * g1[i] + 0.05 * g2[i] * g2[i];
                let u = (m / (1.0 - 0.81)) / ((v / (1.0 - 0.95 * 0.95)).sqrt() + 1e-8);
                p1[i] - lr * (u + 0.1 * p1[i])
            })
            .collect();
        assert!(close(&w[1], &p2, 1e-13), "{:?} vs {p2:?}", w[1]);
    }

    #[test]
    fn state_is_sized_by_path() {
        let recipe = MuonConfig {
            adam_params: vec!["head.*".into()],
            ..Default::default()
        }
        .recipe::<f32>()
        .unwrap();
        let mut params = ParamStore::new(vec![
            Param::new("w", &[2, 3], vec![0.5f32; 6]),
            Param::new("b", &[3], vec![0.0f32; 3]),
            Param::new("head.w", &[2, 2], vec![1.0f32; 4]),
        ]);
        let mut opt = Optimizer::new(recipe, &params).unwrap();
        for i in 0..3 {
            let n = params.params[i].value.len();
            params.set_grad(i, &vec![1.0; n]);
        }
        opt.step(&mut params).unwrap();
        let lens = |n: &str| {
            opt.state(n).unwrap()[0]
                .bufs
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(lens("w"), vec![6, 0]);
        assert_eq!(lens("b"), vec![3, 3]);
        assert_eq!(lens("head.w"), vec![4, 4]);
        // The head takes a (tiny) Adam step: −3e-4 per element.
        assert!((params.params[2].value[0] - (1.0 - 3e-4)).abs() < 1e-6);
    }

    #[test]
    fn converges_on_quadratic() {
        let cfg = MuonConfig {
            lr: 0.02,
            ..Default::default()
        };
        let (f0, f) = quadratic(
            cfg.recipe().unwrap(),
            &[2, 2],
            &[1.0, 2.0, 5.0, 10.0],
            &[1.0, -1.0, 0.5, 0.8],
            300,
        );
        assert!(f < f0 / 10.0, "{f0} -> {f}");
        let cfg = MuonConfig {
            adam_lr: 0.02,
            ..Default::default()
        };
        let (f0, f) = quadratic(cfg.recipe().unwrap(), &[2], &[1.0, 10.0], &[1.0, -1.0], 300);
        assert!(f < f0 / 10.0, "adam path: {f0} -> {f}");
    }

    #[test]
    fn rejects_zero_lr_and_bad_patterns() {
        let t: toml::Table = "lr = 0.0".parse().unwrap();
        let e = build::<f64>("muon", &mut Hyper::new("optimizer `muon`", &t))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`lr` = 0"), "{e}");
        let t: toml::Table = "adam_params = [1]".parse().unwrap();
        let e = build::<f64>("muon", &mut Hyper::new("optimizer `muon`", &t))
            .unwrap_err()
            .to_string();
        assert!(e.contains("adam_params"), "{e}");
    }
}
