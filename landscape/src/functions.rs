//! Analytic test functions with exact gradients, evaluated in `f64`. Each has one name, in
//! config files and in code: `saddle` is `x² − y²`; the saddle with quartic walls that the
//! study report uses is `quartic_saddle`.

use crate::error::{LandscapeError, Result};

macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(LandscapeError::Config(format!($($arg)*)))
    };
}

/// Every function name a `[problem]` table accepts.
pub const NAMES: &[&str] = &[
    "rosenbrock",
    "beale",
    "himmelblau",
    "rastrigin",
    "saddle",
    "quartic_saddle",
    "monkey_saddle",
    "quadratic",
];

/// A test function `f: ℝⁿ → ℝ`.
#[derive(Clone, Debug, PartialEq)]
pub enum Function {
    /// `Σᵢ (a − xᵢ)² + b (xᵢ₊₁ − xᵢ²)²`, `a = 1`, `b = 100` (any dimension ≥ 2); minimum 0 at 1.
    Rosenbrock,
    /// `(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²`; minimum 0 at (3, 0.5).
    Beale,
    /// `(x² + y − 11)² + (x + y² − 7)²`; four minima with value 0.
    Himmelblau,
    /// `A n + Σᵢ (xᵢ² − A cos 2πxᵢ)`, `A = 10` (any dimension); minimum 0 at 0.
    Rastrigin,
    /// `x² − y²`: unbounded below, a saddle at the origin.
    Saddle,
    /// `x² − y² + y⁴/2`: a saddle at the origin walled in by the quartic term; minima −½ at
    /// (0, ±1).
    QuarticSaddle,
    /// `x³ − 3xy²`: unbounded below, a degenerate (three-valley) saddle at the origin.
    MonkeySaddle,
    /// `½ wᵀAw − bᵀw` with a user-given square `A` and `b`.
    Quadratic { a: Vec<Vec<f64>>, b: Vec<f64> },
}

const RASTRIGIN_A: f64 = 10.0;

impl Function {
    pub fn name(&self) -> &'static str {
        match self {
            Function::Rosenbrock => "rosenbrock",
            Function::Beale => "beale",
            Function::Himmelblau => "himmelblau",
            Function::Rastrigin => "rastrigin",
            Function::Saddle => "saddle",
            Function::QuarticSaddle => "quartic_saddle",
            Function::MonkeySaddle => "monkey_saddle",
            Function::Quadratic { .. } => "quadratic",
        }
    }

    /// The start used when the problem gives none.
    pub fn default_start(&self) -> Vec<f64> {
        match self {
            Function::Rosenbrock => vec![-1.5, 2.0],
            Function::Beale => vec![1.0, 1.5],
            Function::Himmelblau => vec![0.0, 0.0],
            Function::Rastrigin => vec![2.2, -3.1],
            Function::Saddle | Function::QuarticSaddle => vec![1.0, 1e-3],
            Function::MonkeySaddle => vec![0.3, 0.2],
            Function::Quadratic { b, .. } => vec![0.0; b.len()],
        }
    }

    /// Checks that `w` has a dimension this function is defined for.
    pub fn check_dim(&self, n: usize) -> Result<()> {
        let ok = match self {
            Function::Rosenbrock => n >= 2,
            Function::Rastrigin => n >= 1,
            Function::Quadratic { b, .. } => n == b.len(),
            _ => n == 2,
        };
        if !ok {
            let want = match self {
                Function::Rosenbrock => "at least 2".to_string(),
                Function::Rastrigin => "at least 1".to_string(),
                Function::Quadratic { b, .. } => format!("{} (the length of `vector`)", b.len()),
                _ => "2".to_string(),
            };
            bail!(
                "function `{}` needs a start of dimension {want}, got {n}",
                self.name()
            );
        }
        Ok(())
    }

    /// The value at `w`.
    pub fn value(&self, w: &[f64]) -> f64 {
        match self {
            Function::Rosenbrock => w
                .windows(2)
                .map(|p| (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2))
                .sum(),
            Function::Beale => {
                let (x, y) = (w[0], w[1]);
                (1.5 - x + x * y).powi(2)
                    + (2.25 - x + x * y * y).powi(2)
                    + (2.625 - x + x * y * y * y).powi(2)
            }
            Function::Himmelblau => {
                let (x, y) = (w[0], w[1]);
                (x * x + y - 11.0).powi(2) + (x + y * y - 7.0).powi(2)
            }
            Function::Rastrigin => w
                .iter()
                .map(|&x| {
                    RASTRIGIN_A + x * x - RASTRIGIN_A * (2.0 * std::f64::consts::PI * x).cos()
                })
                .sum(),
            Function::Saddle => w[0] * w[0] - w[1] * w[1],
            Function::QuarticSaddle => {
                let (x, y) = (w[0], w[1]);
                x * x - y * y + 0.5 * y.powi(4)
            }
            Function::MonkeySaddle => w[0].powi(3) - 3.0 * w[0] * w[1] * w[1],
            Function::Quadratic { a, b } => {
                let quad: f64 = a
                    .iter()
                    .zip(w)
                    .map(|(row, &wi)| {
                        wi * row.iter().zip(w).map(|(&aij, &wj)| aij * wj).sum::<f64>()
                    })
                    .sum();
                0.5 * quad - b.iter().zip(w).map(|(bi, wi)| bi * wi).sum::<f64>()
            }
        }
    }

    /// The gradient at `w`, written into `g`.
    pub fn grad(&self, w: &[f64], g: &mut [f64]) {
        match self {
            Function::Rosenbrock => {
                g.iter_mut().for_each(|x| *x = 0.0);
                for i in 0..w.len() - 1 {
                    let (x, y) = (w[i], w[i + 1]);
                    let r = y - x * x;
                    g[i] += -2.0 * (1.0 - x) - 400.0 * x * r;
                    g[i + 1] += 200.0 * r;
                }
            }
            Function::Beale => {
                let (x, y) = (w[0], w[1]);
                let t1 = 1.5 - x + x * y;
                let t2 = 2.25 - x + x * y * y;
                let t3 = 2.625 - x + x * y * y * y;
                g[0] = 2.0 * (t1 * (y - 1.0) + t2 * (y * y - 1.0) + t3 * (y * y * y - 1.0));
                g[1] = 2.0 * (t1 * x + t2 * 2.0 * x * y + t3 * 3.0 * x * y * y);
            }
            Function::Himmelblau => {
                let (x, y) = (w[0], w[1]);
                let p = x * x + y - 11.0;
                let q = x + y * y - 7.0;
                g[0] = 4.0 * x * p + 2.0 * q;
                g[1] = 2.0 * p + 4.0 * y * q;
            }
            Function::Rastrigin => {
                let two_pi = 2.0 * std::f64::consts::PI;
                for (gi, &x) in g.iter_mut().zip(w) {
                    *gi = 2.0 * x + RASTRIGIN_A * two_pi * (two_pi * x).sin();
                }
            }
            Function::Saddle => {
                g[0] = 2.0 * w[0];
                g[1] = -2.0 * w[1];
            }
            Function::QuarticSaddle => {
                let (x, y) = (w[0], w[1]);
                g[0] = 2.0 * x;
                g[1] = -2.0 * y + 2.0 * y.powi(3);
            }
            Function::MonkeySaddle => {
                let (x, y) = (w[0], w[1]);
                g[0] = 3.0 * x * x - 3.0 * y * y;
                g[1] = -6.0 * x * y;
            }
            Function::Quadratic { a, b } => {
                // ∇(½ wᵀAw) = ½ (A + Aᵀ) w, exact also for a non-symmetric A.
                let n = w.len();
                for i in 0..n {
                    let mut s = 0.0;
                    for j in 0..n {
                        s += 0.5 * (a[i][j] + a[j][i]) * w[j];
                    }
                    g[i] = s - b[i];
                }
            }
        }
    }

    /// Known global minimisers (for marking on plots) and the minimum value, if bounded below.
    /// For `quadratic` this is `A_s⁻¹ b` (with `A_s` the symmetric part) when `A_s` is positive
    /// definite.
    pub fn minimum(&self, n: usize) -> Option<(f64, Vec<Vec<f64>>)> {
        match self {
            Function::Rosenbrock => Some((0.0, vec![vec![1.0; n]])),
            Function::Beale => Some((0.0, vec![vec![3.0, 0.5]])),
            Function::Himmelblau => Some((
                0.0,
                vec![
                    vec![3.0, 2.0],
                    vec![-2.805118, 3.131312],
                    vec![-3.779310, -3.283186],
                    vec![3.584428, -1.848127],
                ],
            )),
            Function::Rastrigin => Some((0.0, vec![vec![0.0; n]])),
            Function::QuarticSaddle => Some((-0.5, vec![vec![0.0, 1.0], vec![0.0, -1.0]])),
            Function::Saddle | Function::MonkeySaddle => None,
            Function::Quadratic { a, b } => {
                let w = solve_spd(a, b)?;
                Some((self.value(&w), vec![w]))
            }
        }
    }

    /// The region a 2-D plot shows before it is widened to hold the paths.
    pub fn plot_box(&self) -> [(f64, f64); 2] {
        match self {
            Function::Rosenbrock => [(-2.0, 2.0), (-1.0, 3.0)],
            Function::Beale => [(-4.5, 4.5), (-4.5, 4.5)],
            Function::Himmelblau => [(-5.0, 5.0), (-5.0, 5.0)],
            Function::Rastrigin => [(-5.12, 5.12), (-5.12, 5.12)],
            Function::Saddle => [(-1.5, 1.5), (-1.5, 1.5)],
            Function::QuarticSaddle => [(-1.5, 1.5), (-1.6, 1.6)],
            Function::MonkeySaddle => [(-1.0, 1.0), (-1.0, 1.0)],
            Function::Quadratic { .. } => match self.minimum(2) {
                Some((_, m)) => [
                    (m[0][0] - 2.0, m[0][0] + 2.0),
                    (m[0][1] - 2.0, m[0][1] + 2.0),
                ],
                None => [(-2.0, 2.0), (-2.0, 2.0)],
            },
        }
    }
}

/// Solves `A_s x = b` by Cholesky, with `A_s = ½(A + Aᵀ)`; `None` unless `A_s` is positive
/// definite.
pub fn solve_spd(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let aij = 0.5 * (a[i][j] + a[j][i]);
            let s: f64 = aij - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// Parses a `[problem]` function name with its `matrix`/`vector` (quadratic only).
pub fn parse(
    ctx: &str,
    name: &str,
    matrix: Option<&toml::Value>,
    vector: Option<&toml::Value>,
) -> Result<Function> {
    if name != "quadratic" {
        if matrix.is_some() || vector.is_some() {
            bail!("{ctx}: `matrix` and `vector` are only for function = \"quadratic\" (got function = \"{name}\")");
        }
        return Ok(match name {
            "rosenbrock" => Function::Rosenbrock,
            "beale" => Function::Beale,
            "himmelblau" => Function::Himmelblau,
            "rastrigin" => Function::Rastrigin,
            "saddle" => Function::Saddle,
            "quartic_saddle" => Function::QuarticSaddle,
            "monkey_saddle" => Function::MonkeySaddle,
            _ => bail!(
                "{ctx}: unknown function `{name}`; {}",
                present::choices::hint(name, NAMES)
            ),
        });
    }
    let Some(matrix) = matrix else {
        bail!("{ctx}: function \"quadratic\" needs `matrix` = [[...], ...] (the n×n matrix A)");
    };
    let Some(vector) = vector else {
        bail!("{ctx}: function \"quadratic\" needs `vector` = [...] (the n-vector b)");
    };
    let rows = matrix.as_array().filter(|r| !r.is_empty()).ok_or_else(|| {
        LandscapeError::Config(format!(
            "{ctx}: `matrix` = {matrix} is invalid: expected a non-empty list of rows"
        ))
    })?;
    let n = rows.len();
    let mut a = Vec::with_capacity(n);
    for (i, row) in rows.iter().enumerate() {
        let r = numbers(row).ok_or_else(|| {
            LandscapeError::Config(format!(
                "{ctx}: `matrix` row {i} = {row} is invalid: expected a list of finite numbers"
            ))
        })?;
        if r.len() != n {
            bail!(
                "{ctx}: `matrix` = {matrix} is invalid: must be square, but it has {n} rows and row {i} has {} entries",
                r.len()
            );
        }
        a.push(r);
    }
    let b = numbers(vector).ok_or_else(|| {
        LandscapeError::Config(format!(
            "{ctx}: `vector` = {vector} is invalid: expected a list of finite numbers"
        ))
    })?;
    if b.len() != n {
        bail!(
            "{ctx}: `vector` = {vector} is invalid: has {} entries but `matrix` is {n}×{n}",
            b.len()
        );
    }
    Ok(Function::Quadratic { a, b })
}

/// A TOML list of finite numbers.
pub fn numbers(v: &toml::Value) -> Option<Vec<f64>> {
    v.as_array()?
        .iter()
        .map(|x| match x {
            toml::Value::Float(f) if f.is_finite() => Some(*f),
            toml::Value::Integer(i) => Some(*i as f64),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Function> {
        vec![
            Function::Rosenbrock,
            Function::Beale,
            Function::Himmelblau,
            Function::Rastrigin,
            Function::Saddle,
            Function::QuarticSaddle,
            Function::MonkeySaddle,
            Function::Quadratic {
                a: vec![
                    vec![3.0, 1.0, 0.0],
                    vec![0.5, 2.0, 0.2],
                    vec![0.0, 0.2, 1.0],
                ],
                b: vec![1.0, -2.0, 0.5],
            },
        ]
    }

    /// Central differences with step h have error O(h²·f'''); compare with a relative tolerance.
    #[test]
    fn gradients_match_finite_differences() {
        let points: Vec<Vec<f64>> = vec![
            vec![-1.3, 0.7, 0.4],
            vec![0.45, -1.1, 2.0],
            vec![1.7, 0.25, -0.6],
        ];
        for f in all() {
            for p in &points {
                let n = match &f {
                    Function::Rosenbrock | Function::Rastrigin | Function::Quadratic { .. } => 3,
                    _ => 2,
                };
                let w = &p[..n];
                let mut g = vec![0.0; n];
                f.grad(w, &mut g);
                for i in 0..n {
                    let h = 1e-5;
                    let (mut wp, mut wm) = (w.to_vec(), w.to_vec());
                    wp[i] += h;
                    wm[i] -= h;
                    let fd = (f.value(&wp) - f.value(&wm)) / (2.0 * h);
                    let tol = 1e-6 * (1.0 + fd.abs());
                    assert!(
                        (g[i] - fd).abs() < tol,
                        "{} at {w:?}: grad[{i}] = {} vs fd {fd}",
                        f.name(),
                        g[i]
                    );
                }
            }
        }
    }

    #[test]
    fn known_values_and_minima() {
        assert_eq!(Function::Rosenbrock.value(&[1.0, 1.0, 1.0]), 0.0);
        // (1 − 0)² + 100 (0 − 0)² = 1
        assert_eq!(Function::Rosenbrock.value(&[0.0, 0.0]), 1.0);
        assert_eq!(Function::Beale.value(&[3.0, 0.5]), 0.0);
        assert_eq!(Function::Himmelblau.value(&[3.0, 2.0]), 0.0);
        let (_, ms) = Function::Himmelblau.minimum(2).unwrap();
        for m in ms {
            assert!(Function::Himmelblau.value(&m) < 1e-9, "{m:?}");
        }
        assert!(Function::Rastrigin.value(&[0.0, 0.0, 0.0]).abs() < 1e-12);
        // A n + x² − A cos(2πx) at x = 0.5: 10 + 0.25 + 10 = 20.25
        assert!((Function::Rastrigin.value(&[0.5]) - 20.25).abs() < 1e-12);
        assert_eq!(Function::Saddle.value(&[2.0, 3.0]), -5.0);
        assert_eq!(Function::MonkeySaddle.value(&[2.0, 1.0]), 8.0 - 6.0);
        let mut g = [0.0; 2];
        for f in [Function::Rosenbrock, Function::Beale, Function::Himmelblau] {
            let (_, ms) = f.minimum(2).unwrap();
            f.grad(&ms[0], &mut g);
            assert!(g.iter().all(|x| x.abs() < 1e-12), "{}: {g:?}", f.name());
        }
    }

    /// The study report's functions, checked at its own points (tighter tolerances than above).
    #[test]
    fn report_functions_gradients_and_minimisers() {
        for f in [Function::Rosenbrock, Function::QuarticSaddle] {
            for w in [[-1.2, 0.7], [0.3, -0.4], [1.1, 1.3]] {
                let mut g = [0.0; 2];
                f.grad(&w, &mut g);
                for i in 0..2 {
                    let h = 1e-6;
                    let (mut a, mut b) = (w, w);
                    a[i] += h;
                    b[i] -= h;
                    let fd = (f.value(&a) - f.value(&b)) / (2.0 * h);
                    assert!(
                        (fd - g[i]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "{f:?} {w:?} {i}"
                    );
                }
            }
            let (min, ms) = f.minimum(2).unwrap();
            for m in ms {
                assert!((f.value(&m) - min).abs() < 1e-15);
                let mut g = [0.0; 2];
                f.grad(&m, &mut g);
                assert!(g.iter().all(|g| g.abs() < 1e-12));
            }
        }
    }

    #[test]
    fn quadratic_minimum_solves_the_system() {
        let f = Function::Quadratic {
            a: vec![vec![4.0, 1.0], vec![1.0, 3.0]],
            b: vec![1.0, 2.0],
        };
        let (v, ms) = f.minimum(2).unwrap();
        // [4 1; 1 3]⁻¹ [1, 2] = [1/11, 7/11]
        assert!((ms[0][0] - 1.0 / 11.0).abs() < 1e-14 && (ms[0][1] - 7.0 / 11.0).abs() < 1e-14);
        // f* = −½ bᵀA⁻¹b = −½ (1/11 + 14/11)
        assert!((v + 7.5 / 11.0).abs() < 1e-14);
        let indefinite = Function::Quadratic {
            a: vec![vec![1.0, 0.0], vec![0.0, -1.0]],
            b: vec![0.0, 0.0],
        };
        assert!(indefinite.minimum(2).is_none());
    }

    #[test]
    fn parse_validates_quadratic() {
        let t: toml::Table =
            "m = [[1.0, 2.0], [3.0]]\nv = [1.0, 2.0]\nv3 = [1, 2, 3]\nok = [[2, 0], [0, 1]]"
                .parse()
                .unwrap();
        let e = parse("p", "quadratic", t.get("m"), t.get("v"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be square") && e.contains("row 1"), "{e}");
        let e = parse("p", "quadratic", t.get("ok"), t.get("v3"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`vector`") && e.contains("3 entries"), "{e}");
        let e = parse("p", "quadratic", None, t.get("v"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs `matrix`"), "{e}");
        let e = parse("p", "rosenbrok", None, None).unwrap_err().to_string();
        assert!(
            e.contains("unknown function `rosenbrok`") && e.contains("himmelblau, rastrigin"),
            "{e}"
        );
        assert!(matches!(
            parse("p", "quadratic", t.get("ok"), t.get("v")).unwrap(),
            Function::Quadratic { .. }
        ));
    }
}
