//! Central finite-difference checks of a layer's backward pass (tests only).

use crate::{Layer, Rng, Tensor};

/// A tensor with entries of magnitude in [0.1, 1] and random sign (kept off the kinks of
/// piecewise activations at 0).
pub(crate) fn random_tensor(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            let m = 0.1 + 0.9 * rng.uniform();
            (if rng.uniform() < 0.5 { -m } else { m }) as f32
        })
        .collect();
    Tensor::from_vec(shape, data).unwrap()
}

/// `L = Σ r ⊙ layer(x)`, accumulated in f64.
fn probe(layer: &mut dyn Layer, x: &Tensor, r: &Tensor) -> f64 {
    let y = layer.forward(x, false);
    y.data
        .iter()
        .zip(&r.data)
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum()
}

fn assert_close(analytic: f32, numeric: f64, what: &str) {
    let tol = 2e-3 + 1e-2 * numeric.abs();
    assert!(
        (analytic as f64 - numeric).abs() <= tol,
        "{what}: analytic {analytic} vs finite difference {numeric}"
    );
}

/// Checks `dx` and every parameter gradient of `layer` at `x` against central differences
/// (eps = 1e-3) of `L = Σ r ⊙ layer(x)` for a random `r`; also checks that gradients
/// accumulate (a second backward doubles them).
pub(crate) fn check_layer(layer: &mut dyn Layer, x: &Tensor, seed: u64) {
    let eps = 1e-3f32;
    let out = layer.forward(x, false).shape.clone();
    let r = random_tensor(&out, seed);
    layer.zero_grad();
    layer.forward(x, false);
    let dx = layer.backward(&r).clone();
    assert_eq!(dx.shape, x.shape);
    let grads: Vec<Vec<f32>> = layer.parameters().iter().map(|p| p.grad.clone()).collect();
    let mut xp = x.clone();
    for j in 0..x.numel() {
        xp.data[j] = x.data[j] + eps;
        let lp = probe(layer, &xp, &r);
        xp.data[j] = x.data[j] - eps;
        let lm = probe(layer, &xp, &r);
        xp.data[j] = x.data[j];
        assert_close(
            dx.data[j],
            (lp - lm) / (2.0 * eps as f64),
            &format!("{} dx[{j}]", layer.kind()),
        );
    }
    for (p, g) in grads.iter().enumerate() {
        for j in 0..g.len() {
            let v = layer.parameters()[p].value[j];
            layer.parameters_mut()[p].value[j] = v + eps;
            let lp = probe(layer, x, &r);
            layer.parameters_mut()[p].value[j] = v - eps;
            let lm = probe(layer, x, &r);
            layer.parameters_mut()[p].value[j] = v;
            let name = &layer.parameters()[p].name;
            assert_close(
                g[j],
                (lp - lm) / (2.0 * eps as f64),
                &format!("{} {name}[{j}]", layer.kind()),
            );
        }
    }
    // Accumulation: a second backward adds the same gradient again.
    layer.forward(x, false);
    layer.backward(&r);
    for (p, g) in layer.parameters().iter().zip(&grads) {
        for (a, b) in p.grad.iter().zip(g) {
            assert!((a - 2.0 * b).abs() <= 1e-5 * (1.0 + b.abs()));
        }
    }
}
