//! The stability threshold of the run's update rule: the largest sharpness its step size
//! tolerates on a quadratic, so that `stability = sharpness / threshold` is 1 at the edge of
//! stability whatever the optimizer.
//!
//! On a quadratic with curvature `λ` along an eigenvector, each rule is a linear recurrence in
//! that coordinate; it diverges once its characteristic polynomial has a root of modulus above 1,
//! which for these rules first happens at the root `z = −1` (oscillation). With `a = η·λ`:
//!
//! * **SGD** (`x ← x − η g`): `z = 1 − a`, stable for `λ < 2/η`.
//! * **Heavy-ball momentum**, PyTorch's form `b ← β b + (1 − τ) g`, `x ← x − η b` (Polyak 1964;
//!   dampening `τ`): `z² − (1 + β − a') z + β = 0` with `a' = (1 − τ) a`; `z = −1` at
//!   `a' = 2 + 2β`: `λ < 2(1 + β) / ((1 − τ) η)` (Goh, "Why momentum really works", Distill 2017;
//!   Cohen et al. 2021, Appendix).
//! * **Nesterov momentum**, PyTorch's form `b ← β b + g`, `x ← x − η (g + β b)` (Sutskever et
//!   al. 2013): `z² − (1 + β)(1 − a) z + β (1 − a) = 0`; `z = −1` at
//!   `(1 + 2β) a = 2 + 2β`: `λ < (2 + 2β) / ((1 + 2β) η)` (derived here; tested by running the
//!   optimizer on a quadratic just below and above it).
//! * **Adam family** (Adam, AdamW, AMSGrad; NAdam and RAdam treated as Adam): with the
//!   preconditioner frozen, Adam is heavy-ball momentum with EMA dampening (`τ = β₁`) on the
//!   preconditioned Hessian `P⁻¹ H`, `P = (1 − β₁ᵗ) · diag(√v̂ₜ + ε)` (the bias correction of `m`
//!   folded in): `λmax(P⁻¹ H) < (2 + 2β₁) / ((1 − β₁) η)` — 38/η for `β₁ = 0.9`. Cohen, Ghorbani,
//!   Krishnan et al., "Adaptive gradient methods at the edge of stability" (2022), §3.
//!   The sharpness compared is then the *preconditioned* one (see
//!   [`curvature`](super::curvature)).
//!
//! `β` (or `β₁`) is the one the step uses: a schedule's momentum when one drives it, else the
//! `[optimizer]` table's. Weight decay and gradient clipping are left out (decay adds at most
//! its coefficient to the curvature; clipping only shortens steps). Other optimizers (RMSprop,
//! Adagrad, Lion, LAMB, …) have no threshold here: no `stability` is recorded for them.

use train::Probe;

/// The update rule whose threshold applies.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Sgd,
    HeavyBall {
        beta: f64,
        dampening: f64,
    },
    Nesterov {
        beta: f64,
    },
    /// Adam family; `amsgrad` takes the running maximum of `v` as Adam does.
    Adam {
        b1: f64,
        b2: f64,
        eps: f64,
        amsgrad: bool,
    },
    /// No threshold known (the optimizer's name).
    Other(String),
}

fn float(t: &toml::Table, key: &str) -> Option<f64> {
    match t.get(key)? {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

impl Rule {
    /// The rule of an `[optimizer]` table, with `scheduled` momentum (a schedule's `β`/`β₁`)
    /// replacing the table's when given.
    pub fn from_config(t: &toml::Table, scheduled: Option<f64>) -> Rule {
        let name = t.get("name").and_then(|v| v.as_str()).unwrap_or("");
        match name {
            "sgd" => {
                let beta = scheduled.or_else(|| float(t, "momentum")).unwrap_or(0.0);
                let nesterov = t.get("nesterov").and_then(|v| v.as_bool()) == Some(true);
                if beta == 0.0 {
                    Rule::Sgd
                } else if nesterov {
                    Rule::Nesterov { beta }
                } else {
                    Rule::HeavyBall {
                        beta,
                        dampening: float(t, "dampening").unwrap_or(0.0),
                    }
                }
            }
            "adam" | "adamw" | "nadam" | "radam" => {
                let betas = t.get("betas").and_then(|v| v.as_array());
                let beta = |i: usize, d: f64| {
                    betas
                        .and_then(|b| b.get(i))
                        .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
                        .unwrap_or(d)
                };
                Rule::Adam {
                    b1: scheduled.unwrap_or(beta(0, 0.9)),
                    b2: beta(1, 0.999),
                    eps: float(t, "eps").unwrap_or(1e-8),
                    amsgrad: t.get("amsgrad").and_then(|v| v.as_bool()) == Some(true),
                }
            }
            other => Rule::Other(other.to_string()),
        }
    }

    /// The rule of the probe's run.
    pub fn of(p: &Probe<'_>) -> Rule {
        let scheduled = p.optimizer.groups().first().and_then(|g| g.momentum);
        Rule::from_config(p.optimizer_config, scheduled)
    }

    /// The largest sharpness stable at learning rate `lr` (`None` when unknown or `lr ≤ 0`).
    pub fn threshold(&self, lr: f64) -> Option<f64> {
        if !(lr > 0.0 && lr.is_finite()) {
            return None;
        }
        match *self {
            Rule::Sgd => Some(2.0 / lr),
            Rule::HeavyBall { beta, dampening } => {
                (dampening < 1.0).then(|| 2.0 * (1.0 + beta) / ((1.0 - dampening) * lr))
            }
            Rule::Nesterov { beta } => Some((2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * lr)),
            Rule::Adam { b1, .. } => (b1 < 1.0).then(|| (2.0 + 2.0 * b1) / ((1.0 - b1) * lr)),
            Rule::Other(_) => None,
        }
    }

    /// Whether the sharpness the threshold applies to is the preconditioned one.
    pub fn preconditioned(&self) -> bool {
        matches!(self, Rule::Adam { .. })
    }

    /// A short description for reports (`"heavy-ball momentum β = 0.9: 2(1+β)/η"`).
    pub fn describe(&self) -> String {
        match self {
            Rule::Sgd => "SGD: 2/η".into(),
            Rule::HeavyBall { beta, dampening } => {
                format!("heavy-ball momentum β = {beta}, dampening {dampening}: 2(1+β)/((1−τ)η)")
            }
            Rule::Nesterov { beta } => format!("Nesterov momentum β = {beta}: (2+2β)/((1+2β)η)"),
            Rule::Adam { b1, .. } => {
                format!("Adam β₁ = {b1}: λmax(P⁻¹H) against (2+2β₁)/((1−β₁)η)")
            }
            Rule::Other(n) => format!("optimizer `{n}`: no stability threshold known"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optim::{ParamStore, Params};

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    /// |x| after `steps` steps of the configured optimizer on `f(x) = λ x² / 2` from x = 1.
    fn run(cfg: &str, lambda: f64, steps: usize) -> f64 {
        let t = table(cfg);
        let mut p = ParamStore::single("x", vec![1.0f64]);
        let (mut opt, _) =
            optim::build::build::<f64>(&optim::build::Tables::optimizer("t", &t), &p).unwrap();
        for _ in 0..steps {
            let x = p.value(0)[0];
            p.set_grad(0, &[lambda * x]);
            opt.step(&mut p).unwrap();
        }
        p.value(0)[0].abs()
    }

    #[test]
    fn thresholds_separate_convergence_from_divergence() {
        for cfg in [
            "name = \"sgd\"\nlr = 0.1",
            "name = \"sgd\"\nlr = 0.1\nmomentum = 0.9",
            "name = \"sgd\"\nlr = 0.1\nmomentum = 0.5\ndampening = 0.3",
            "name = \"sgd\"\nlr = 0.1\nmomentum = 0.9\nnesterov = true",
            "name = \"sgd\"\nlr = 0.05\nmomentum = 0.6\nnesterov = true",
        ] {
            let rule = Rule::from_config(&table(cfg), None);
            let lr = float(&table(cfg), "lr").unwrap();
            let thr = rule.threshold(lr).unwrap();
            let below = run(cfg, 0.97 * thr, 3000);
            let above = run(cfg, 1.03 * thr, 3000);
            assert!(below < 1e-3, "{cfg}: below the threshold |x| = {below}");
            // (Overflow to NaN counts as divergence.)
            assert!(
                above.is_nan() || above > 1e3,
                "{cfg}: above the threshold |x| = {above}"
            );
        }
    }

    #[test]
    fn rules_read_the_table() {
        assert_eq!(
            Rule::from_config(&table("name = \"adamw\"\nbetas = [0.8, 0.99]"), None),
            Rule::Adam {
                b1: 0.8,
                b2: 0.99,
                eps: 1e-8,
                amsgrad: false
            }
        );
        let adam = Rule::from_config(&table("name = \"adam\""), None);
        assert!((adam.threshold(0.001).unwrap() - 38_000.0).abs() < 1e-6);
        assert!(adam.preconditioned());
        // A schedule's momentum replaces the table's.
        assert_eq!(
            Rule::from_config(&table("name = \"sgd\"\nmomentum = 0.9"), Some(0.5)),
            Rule::HeavyBall {
                beta: 0.5,
                dampening: 0.0
            }
        );
        assert_eq!(
            Rule::from_config(&table("name = \"lion\""), None).threshold(0.1),
            None
        );
    }
}
