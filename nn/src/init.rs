//! Parameter initialisers with `torch.nn.init` semantics, drawn from a seeded [`Rng`].
//!
//! Fans follow `_calculate_fan_in_and_fan_out`: for a shape `[out, in, *k]`,
//! `fan_in = in·∏k`, `fan_out = out·∏k` (at least two dimensions are required for the
//! fan-based initialisers). Gains follow `calculate_gain`.

use crate::{NnError, Result, Rng};

/// Which fan a Kaiming initialiser preserves the variance of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FanMode {
    #[default]
    FanIn,
    FanOut,
}

/// Nonlinearities known to [`calculate_gain`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// Linear, conv and sigmoid layers: gain 1.
    Linear,
    Sigmoid,
    /// Gain 5/3.
    Tanh,
    /// Gain √2.
    Relu,
    /// Gain √(2 / (1 + slope²)).
    LeakyRelu(f64),
    /// Gain 3/4.
    Selu,
}

/// PyTorch's `calculate_gain`.
pub fn calculate_gain(nl: Nonlinearity) -> f64 {
    match nl {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
        Nonlinearity::Selu => 0.75,
    }
}

/// `(fan_in, fan_out)` of a weight shape; errors for fewer than two dimensions.
pub fn fans(shape: &[usize]) -> Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(NnError::Shape(format!(
            "fan in and fan out need at least 2 dimensions, shape is {shape:?}"
        )));
    }
    let receptive: usize = shape[2..].iter().product();
    Ok((shape[1] * receptive, shape[0] * receptive))
}

fn check_len(t: &[f32], shape: &[usize]) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != t.len() {
        return Err(NnError::Shape(format!(
            "shape {shape:?} holds {n} values, the tensor has {}",
            t.len()
        )));
    }
    Ok(())
}

pub fn zeros(t: &mut [f32]) {
    t.iter_mut().for_each(|v| *v = 0.0);
}

pub fn constant(t: &mut [f32], value: f32) {
    t.iter_mut().for_each(|v| *v = value);
}

/// `U(a, b)`.
pub fn uniform(t: &mut [f32], a: f64, b: f64, rng: &mut Rng) {
    t.iter_mut().for_each(|v| *v = rng.uniform_in(a, b) as f32);
}

/// `N(mean, std²)`.
pub fn normal(t: &mut [f32], mean: f64, std: f64, rng: &mut Rng) {
    t.iter_mut()
        .for_each(|v| *v = (mean + std * rng.normal()) as f32);
}

/// `U(±gain·√(6 / (fan_in + fan_out)))`.
pub fn xavier_uniform(t: &mut [f32], shape: &[usize], gain: f64, rng: &mut Rng) -> Result<()> {
    check_len(t, shape)?;
    let (fi, fo) = fans(shape)?;
    let std = gain * (2.0 / (fi + fo) as f64).sqrt();
    let a = 3f64.sqrt() * std;
    uniform(t, -a, a, rng);
    Ok(())
}

/// `N(0, (gain·√(2 / (fan_in + fan_out)))²)`.
pub fn xavier_normal(t: &mut [f32], shape: &[usize], gain: f64, rng: &mut Rng) -> Result<()> {
    check_len(t, shape)?;
    let (fi, fo) = fans(shape)?;
    normal(t, 0.0, gain * (2.0 / (fi + fo) as f64).sqrt(), rng);
    Ok(())
}

fn kaiming_std(shape: &[usize], a: f64, mode: FanMode, nl: Nonlinearity) -> Result<f64> {
    let (fi, fo) = fans(shape)?;
    let fan = match mode {
        FanMode::FanIn => fi,
        FanMode::FanOut => fo,
    };
    if fan == 0 {
        return Err(NnError::Shape(format!(
            "kaiming initialisation of a zero-element shape {shape:?}"
        )));
    }
    // PyTorch passes `a` as the leaky_relu slope whatever the nonlinearity says.
    let nl = match nl {
        Nonlinearity::LeakyRelu(_) => Nonlinearity::LeakyRelu(a),
        other => other,
    };
    Ok(calculate_gain(nl) / (fan as f64).sqrt())
}

/// `U(±√3·gain/√fan)`; `a` is the negative slope used with [`Nonlinearity::LeakyRelu`].
/// PyTorch's `Linear` default is `a = √5`, leaky_relu, fan_in: bound `1/√fan_in`.
pub fn kaiming_uniform(
    t: &mut [f32],
    shape: &[usize],
    a: f64,
    mode: FanMode,
    nl: Nonlinearity,
    rng: &mut Rng,
) -> Result<()> {
    check_len(t, shape)?;
    let bound = 3f64.sqrt() * kaiming_std(shape, a, mode, nl)?;
    uniform(t, -bound, bound, rng);
    Ok(())
}

/// `N(0, (gain/√fan)²)`.
pub fn kaiming_normal(
    t: &mut [f32],
    shape: &[usize],
    a: f64,
    mode: FanMode,
    nl: Nonlinearity,
    rng: &mut Rng,
) -> Result<()> {
    check_len(t, shape)?;
    let std = kaiming_std(shape, a, mode, nl)?;
    normal(t, 0.0, std, rng);
    Ok(())
}

/// LeCun normal: `N(0, 1/fan_in)`.
pub fn lecun_normal(t: &mut [f32], shape: &[usize], rng: &mut Rng) -> Result<()> {
    check_len(t, shape)?;
    let (fi, _) = fans(shape)?;
    normal(t, 0.0, 1.0 / (fi.max(1) as f64).sqrt(), rng);
    Ok(())
}

/// `orthogonal_`: a (semi-)orthogonal `rows × (numel/rows)` matrix times `gain`, from the QR
/// decomposition of a standard normal matrix with `R`'s diagonal made positive (modified
/// Gram–Schmidt, in f64). Rows are orthonormal when `rows ≤ cols`, columns otherwise.
pub fn orthogonal(t: &mut [f32], shape: &[usize], gain: f64, rng: &mut Rng) -> Result<()> {
    check_len(t, shape)?;
    if shape.len() < 2 {
        return Err(NnError::Shape(format!(
            "orthogonal initialisation needs at least 2 dimensions, shape is {shape:?}"
        )));
    }
    let rows = shape[0];
    if rows == 0 || t.is_empty() {
        return Ok(());
    }
    let cols = t.len() / rows;
    // Work on the tall orientation: `big × small`, orthonormalising its `small` columns, which
    // are stored as rows of `q` (q[j] = column j).
    let (big, small) = (rows.max(cols), rows.min(cols));
    let mut q: Vec<Vec<f64>> = (0..small)
        .map(|_| (0..big).map(|_| rng.normal()).collect())
        .collect();
    for j in 0..small {
        let (done, rest) = q.split_at_mut(j);
        let v = &mut rest[0];
        for u in done.iter() {
            let d: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(x, y)| *x -= d * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
    }
    for r in 0..rows {
        for c in 0..cols {
            // Tall case (rows ≥ cols): element (r, c) is column c, entry r. Wide case: the
            // transpose, element (r, c) is column r, entry c.
            let v = if rows >= cols { q[c][r] } else { q[r][c] };
            t[r * cols + c] = (gain * v) as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(t: &[f32]) -> (f64, f64, f32) {
        let n = t.len() as f64;
        let mean = t.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = t.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let max = t.iter().fold(0f32, |m, v| m.max(v.abs()));
        (mean, var.sqrt(), max)
    }

    #[test]
    fn gains_match_pytorch() {
        assert_eq!(calculate_gain(Nonlinearity::Linear), 1.0);
        assert!((calculate_gain(Nonlinearity::Relu) - std::f64::consts::SQRT_2).abs() < 1e-9);
        assert!((calculate_gain(Nonlinearity::Tanh) - 5.0 / 3.0).abs() < 1e-12);
        // leaky_relu with a = √5: √(2/6) = 1/√3.
        assert!(
            (calculate_gain(Nonlinearity::LeakyRelu(5f64.sqrt())) - 1.0 / 3f64.sqrt()).abs()
                < 1e-12
        );
        assert_eq!(fans(&[8, 4, 3, 3]).unwrap(), (36, 72));
        assert!(fans(&[5]).is_err());
    }

    #[test]
    fn empirical_std_and_bounds() {
        let shape = [200, 300];
        let mut t = vec![0f32; 60_000];
        let mut rng = Rng::new(1);
        let within =
            |got: f64, want: f64| assert!((got / want - 1.0).abs() < 0.03, "{got} vs {want}");

        kaiming_uniform(
            &mut t,
            &shape,
            5f64.sqrt(),
            FanMode::FanIn,
            Nonlinearity::LeakyRelu(0.0),
            &mut rng,
        )
        .unwrap();
        let (m, s, mx) = stats(&t);
        let bound = 1.0 / 300f64.sqrt();
        assert!(mx as f64 <= bound && mx as f64 > 0.99 * bound);
        assert!(m.abs() < 1e-3);
        within(s, bound / 3f64.sqrt());

        kaiming_normal(
            &mut t,
            &shape,
            0.0,
            FanMode::FanOut,
            Nonlinearity::Relu,
            &mut rng,
        )
        .unwrap();
        within(stats(&t).1, 2f64.sqrt() / 200f64.sqrt());

        xavier_uniform(&mut t, &shape, 2.0, &mut rng).unwrap();
        let (_, s, mx) = stats(&t);
        let a = 2.0 * (6.0 / 500f64).sqrt();
        assert!(mx as f64 <= a && mx as f64 > 0.99 * a);
        within(s, a / 3f64.sqrt());

        xavier_normal(&mut t, &shape, 1.0, &mut rng).unwrap();
        within(stats(&t).1, (2.0 / 500f64).sqrt());

        lecun_normal(&mut t, &shape, &mut rng).unwrap();
        within(stats(&t).1, 1.0 / 300f64.sqrt());

        normal(&mut t, 3.0, 0.5, &mut rng);
        let (m, s, _) = stats(&t);
        assert!((m - 3.0).abs() < 0.01);
        within(s, 0.5);

        uniform(&mut t, -2.0, 1.0, &mut rng);
        assert!(t.iter().all(|&v| (-2.0..1.0).contains(&v)));
        within(stats(&t).0, -0.5);

        constant(&mut t, 0.25);
        assert!(t.iter().all(|&v| v == 0.25));
        zeros(&mut t);
        assert!(t.iter().all(|&v| v == 0.0));
        assert!(xavier_uniform(&mut t[..10], &shape, 1.0, &mut rng).is_err());
    }

    fn gram(t: &[f32], rows: usize, cols: usize, by_rows: bool) -> Vec<f64> {
        let k = if by_rows { rows } else { cols };
        let at = |v: usize, e: usize| {
            if by_rows {
                t[v * cols + e] as f64
            } else {
                t[e * cols + v] as f64
            }
        };
        let len = if by_rows { cols } else { rows };
        let mut g = vec![0.0; k * k];
        for a in 0..k {
            for b in 0..k {
                g[a * k + b] = (0..len).map(|e| at(a, e) * at(b, e)).sum();
            }
        }
        g
    }

    #[test]
    fn orthogonal_is_orthonormal() {
        let mut rng = Rng::new(3);
        // Tall: WᵀW = I (columns orthonormal).
        let mut t = vec![0f32; 12 * 5];
        orthogonal(&mut t, &[12, 5], 1.0, &mut rng).unwrap();
        let g = gram(&t, 12, 5, false);
        for a in 0..5 {
            for b in 0..5 {
                let want = if a == b { 1.0 } else { 0.0 };
                assert!(
                    (g[a * 5 + b] - want).abs() < 1e-5,
                    "({a},{b}) {}",
                    g[a * 5 + b]
                );
            }
        }
        // Wide with a gain: W Wᵀ = gain² I (rows orthonormal), shape [4, 3, 3] flattens to 4×9.
        let mut t = vec![0f32; 4 * 9];
        orthogonal(&mut t, &[4, 3, 3], 2.0, &mut rng).unwrap();
        let g = gram(&t, 4, 9, true);
        for a in 0..4 {
            for b in 0..4 {
                let want = if a == b { 4.0 } else { 0.0 };
                assert!((g[a * 4 + b] - want).abs() < 1e-4);
            }
        }
    }
}
