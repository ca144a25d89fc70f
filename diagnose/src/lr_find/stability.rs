//! The cross-check: the largest stable learning rate of the config's optimizer on the local
//! quadratic model at the initial weights, from the doctor's `λmax` reading
//! ([`crate::instruments::curvature`], power iteration on Hessian-vector products of the first
//! batch).
//!
//! On `f(θ) = ½ λ θ²` (the top eigen-direction), with PyTorch's SGD conventions and `a = lr·λ`:
//!
//! * plain gradient descent, `θ ← (1 − a) θ`: stable iff `a < 2`;
//! * heavy ball (`b ← μ b + (1 − τ) g`, `θ ← θ − lr·b`): the iteration matrix has trace
//!   `1 + μ − a(1 − τ)` and determinant `μ`, and Jury's test gives `a (1 − τ) < 2 (1 + μ)`;
//! * Nesterov (`θ ← θ − lr (g + μ b)`): trace `1 + μ − a(1 + μ)`, determinant `μ (1 − a)`, so
//!   `a < 2 (1 + μ) / (1 + 2μ)`.
//!
//! Coupled weight decay `wd` adds `wd·I` to the Hessian (`λ → λ + wd`). For the other optimizers
//! the bound does not apply directly: Adam-type methods divide each coordinate's step by a
//! running gradient scale, so the relevant curvature is the preconditioned Hessian's (Cohen et
//! al., "Adaptive gradient methods at the edge of stability", 2022), which the doctor does not
//! measure; the reading is then reported without a threshold.

use serde::Serialize;

/// The cross-check's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stability {
    /// Median over seeds of `λmax` at the initial weights (first batch).
    pub lambda_max: f64,
    /// The largest stable lr on the quadratic model, when the rule applies.
    pub threshold: Option<f64>,
    /// The rule, in words (`2(1+μ)/λmax, heavy-ball momentum μ = 0.9`), or why none applies.
    pub rule: String,
}

fn num(t: &toml::Table, key: &str, default: f64) -> f64 {
    match t.get(key) {
        Some(toml::Value::Float(f)) => *f,
        Some(toml::Value::Integer(i)) => *i as f64,
        _ => default,
    }
}

/// The threshold for the optimizer `[optimizer]` table `opt` (canonical names, as in a run
/// config after reading) at curvature `lambda_max`.
pub fn threshold(opt: &toml::Table, lambda_max: f64) -> Stability {
    let name = opt.get("name").and_then(|v| v.as_str()).unwrap_or("sgd");
    let mut s = Stability {
        lambda_max,
        threshold: None,
        rule: String::new(),
    };
    if name != "sgd" {
        s.rule = format!(
            "no threshold for `{name}`: its steps are preconditioned per coordinate, so 2/λmax bounds the preconditioned Hessian, not this one (Cohen et al. 2022)"
        );
        return s;
    }
    let mu = num(opt, "momentum", 0.0);
    let tau = num(opt, "dampening", 0.0);
    let wd = num(opt, "weight_decay", 0.0);
    let nesterov = opt.get("nesterov").and_then(|v| v.as_bool()) == Some(true);
    let lambda = lambda_max + wd;
    let (bound, rule) = if mu == 0.0 {
        (2.0, "2/λmax (gradient descent)".to_string())
    } else if nesterov {
        (
            2.0 * (1.0 + mu) / (1.0 + 2.0 * mu),
            format!("2(1+μ)/((1+2μ)·λmax), Nesterov momentum μ = {mu}"),
        )
    } else {
        (
            2.0 * (1.0 + mu) / (1.0 - tau).max(f64::MIN_POSITIVE),
            format!(
                "2(1+μ)/{}λmax, heavy-ball momentum μ = {mu}",
                if tau > 0.0 {
                    format!("((1−τ)·) with dampening τ = {tau}, ")
                } else {
                    String::new()
                }
            ),
        )
    };
    s.rule = if wd > 0.0 {
        format!("{rule}, λmax + weight_decay {wd}")
    } else {
        rule
    };
    if lambda.is_finite() && lambda > 0.0 {
        s.threshold = Some(bound / lambda);
    } else {
        s.rule += ": λmax ≤ 0 at the initial weights, no bound";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    /// The bound against a direct simulation of PyTorch's SGD on `½ λ θ²`: just below it the
    /// iterate shrinks, just above it grows.
    fn simulate(opt: &toml::Table, lambda: f64, lr: f64) -> f64 {
        let mu = num(opt, "momentum", 0.0);
        let tau = num(opt, "dampening", 0.0);
        let wd = num(opt, "weight_decay", 0.0);
        let nesterov = opt.get("nesterov").and_then(|v| v.as_bool()) == Some(true);
        let (mut th, mut b) = (1.0f64, None::<f64>);
        for _ in 0..4000 {
            let mut g = lambda * th + wd * th;
            if mu != 0.0 {
                let nb = match b {
                    None => g,
                    Some(b) => mu * b + (1.0 - tau) * g,
                };
                b = Some(nb);
                g = if nesterov { g + mu * nb } else { nb };
            }
            th -= lr * g;
        }
        th.abs()
    }

    #[test]
    fn thresholds_separate_shrinking_from_growing() {
        for opt in [
            "name = \"sgd\"",
            "name = \"sgd\"\nmomentum = 0.9",
            "name = \"sgd\"\nmomentum = 0.5\ndampening = 0.3",
            "name = \"sgd\"\nmomentum = 0.9\nnesterov = true",
            "name = \"sgd\"\nmomentum = 0.9\nweight_decay = 0.5",
        ] {
            let t = table(opt);
            let s = threshold(&t, 3.0);
            let lr = s.threshold.unwrap();
            assert!(simulate(&t, 3.0, lr * 0.99) < 1e-3, "{opt}: {s:?}");
            assert!(simulate(&t, 3.0, lr * 1.01) > 1e3, "{opt}: {s:?}");
        }
        let adam = threshold(&table("name = \"adam\""), 3.0);
        assert!(adam.threshold.is_none() && adam.rule.contains("adam"));
        assert!(threshold(&table("name = \"sgd\""), -1.0)
            .threshold
            .is_none());
    }
}
