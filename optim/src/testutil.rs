//! Helpers shared by the crate's unit tests.

use crate::{Float, Hyper, Optimizer, Param, ParamStore, Recipe, Result};

/// Runs `steps` steps of `recipe` on `f(w) = ½ Σ aᵢ wᵢ²` (with `w` shaped `shape`, starting at
/// `w0`) and returns the initial and final loss.
pub fn quadratic(
    recipe: Recipe<f64>,
    shape: &[usize],
    a: &[f64],
    w0: &[f64],
    steps: usize,
) -> (f64, f64) {
    let mut params = ParamStore::new(vec![Param::new("w", shape, w0.to_vec())]);
    let mut opt = Optimizer::new(recipe, &params).unwrap();
    let loss = |w: &[f64]| 0.5 * w.iter().zip(a).map(|(w, a)| a * w * w).sum::<f64>();
    let f0 = loss(w0);
    for _ in 0..steps {
        let g: Vec<f64> = params.params[0]
            .value
            .iter()
            .zip(a)
            .map(|(w, a)| a * w)
            .collect();
        params.set_grad(0, &g);
        opt.step(&mut params).unwrap();
    }
    (f0, loss(&params.params[0].value))
}

/// `steps` steps of `recipe` in precision `F` on `f(p) = ½ Σ hᵢ pᵢ²` (gradient `h ⊙ p`, computed
/// in `F`) with `h = curvatures`, from `start`; returns the final parameter as `f64`.
pub fn run_quadratic<F: Float>(
    recipe: Recipe<F>,
    curvatures: &[f64],
    start: &[f64],
    steps: usize,
) -> Vec<f64> {
    let mut params = ParamStore::single("w", start.iter().map(|&x| F::of(x)).collect());
    let mut opt = Optimizer::new(recipe, &params).unwrap();
    for _ in 0..steps {
        let g: Vec<F> = params.params[0]
            .value
            .iter()
            .zip(curvatures)
            .map(|(&p, &h)| p * F::of(h))
            .collect();
        params.set_grad(0, &g);
        opt.step(&mut params).unwrap();
    }
    params.params[0].value.iter().map(|x| x.f64()).collect()
}

/// One-parameter optimizer over `w0` whose gradients are `grads`, returning the trajectory.
pub fn trajectory(
    recipe: Recipe<f64>,
    shape: &[usize],
    w0: &[f64],
    grads: &[&[f64]],
) -> Vec<Vec<f64>> {
    let mut params = ParamStore::new(vec![Param::new("w", shape, w0.to_vec())]);
    let mut opt = Optimizer::new(recipe, &params).unwrap();
    grads
        .iter()
        .map(|g| {
            params.set_grad(0, g);
            opt.step(&mut params).unwrap();
            params.params[0].value.clone()
        })
        .collect()
}

/// Fixed gradients for two-element runs from [`FIXED_START`] (see [`run_fixed`]).
pub const FIXED_GRADS: [[f64; 2]; 3] = [[0.5, -1.0], [-0.3, 0.8], [0.1, 0.2]];
/// Start of [`run_fixed`].
pub const FIXED_START: [f64; 2] = [1.0, -2.0];

/// Parameter values after each step of `recipe` with the gradients [`FIXED_GRADS`], from
/// [`FIXED_START`].
pub fn run_fixed(recipe: Recipe<f64>) -> Vec<Vec<f64>> {
    let grads: Vec<&[f64]> = FIXED_GRADS.iter().map(|g| g.as_slice()).collect();
    trajectory(recipe, &[2], &FIXED_START, &grads)
}

/// Curvatures of the three-element quadratic used with [`run_quadratic`].
pub const QUAD_H: [f64; 3] = [1.0, 4.0, 0.25];
/// Start of the three-element quadratic used with [`run_quadratic`].
pub const QUAD_P0: [f64; 3] = [1.5, -2.0, 3.0];

/// `|a − b| ≤ tol·(1 + |b|)` elementwise, with equal lengths.
pub fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

/// Asserts `|got − want| ≤ tol·max(|want|, 1)` elementwise (over the common prefix).
pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "got {got:?}, want {want:?}"
        );
    }
}

/// A gradient as a function of the parameter.
pub type GradBox = dyn Fn(&[f64]) -> Vec<f64>;
pub type GradFn<'a> = &'a GradBox;

/// Runs `recipe` for `grads.len()` steps on parameter `p0`, with the gradient at step `k`
/// given by `grads[k](p)`; returns the parameter after every step.
pub fn run<F: Float>(recipe: Recipe<F>, p0: &[f64], grads: &[GradFn]) -> Vec<Vec<f64>> {
    let mut params = ParamStore::single("w", p0.iter().map(|&x| F::of(x)).collect());
    let mut opt = Optimizer::new(recipe, &params).unwrap();
    let mut out = Vec::new();
    for g in grads {
        let p: Vec<f64> = params.params[0].value.iter().map(|x| x.f64()).collect();
        let g: Vec<F> = g(&p).into_iter().map(F::of).collect();
        params.set_grad(0, &g);
        opt.step(&mut params).unwrap();
        out.push(params.params[0].value.iter().map(|x| x.f64()).collect());
    }
    out
}

/// Runs `recipe` with the gradient `grad(p)` for `n` steps; returns the trajectory.
pub fn run_fn<F: Float>(recipe: Recipe<F>, p0: &[f64], n: usize, grad: GradFn) -> Vec<Vec<f64>> {
    let grads: Vec<GradFn> = (0..n).map(|_| grad).collect();
    run(recipe, p0, &grads)
}

/// `|a − b| ≤ rel·max(|a|, |b|)` (relative, for a scalar).
pub fn close_rel(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

/// Asserts two trajectories agree elementwise to relative tolerance `rel`.
pub fn assert_traj(a: &[Vec<f64>], b: &[Vec<f64>], rel: f64) {
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        for (i, (&x, &y)) in x.iter().zip(y).enumerate() {
            assert!(
                close_rel(x, y, rel),
                "step {} element {i}: {x} vs {y}",
                k + 1
            );
        }
    }
}

/// Reads a config with `read` from the TOML text `s` under the context ``optimizer `name` ``,
/// checking that every key was used.
pub fn from_toml<C>(name: &str, s: &str, read: impl FnOnce(&mut Hyper<'_>) -> Result<C>) -> C {
    let t: toml::Table = s.parse().unwrap();
    let mut h = Hyper::new(format!("optimizer `{name}`"), &t);
    let c = read(&mut h).unwrap();
    h.finish().unwrap();
    c
}

/// [`assert_close`] on each step of a trajectory against the wanted rows (over the common
/// prefix).
pub fn assert_rows_close<const N: usize>(got: &[Vec<f64>], want: &[[f64; N]], tol: f64) {
    for (got, want) in got.iter().zip(want) {
        assert_close(got, want, tol);
    }
}
