//! The study report's landscapes: each study optimizer, built through `optim`'s public API, run
//! on two analytic 2-D functions (Rosenbrock's valley and the quartic saddle). The learning
//! rate is chosen per function from a small grid (the one with the best final value); the other
//! hyperparameters come from the study's chosen setting where they make sense.

use std::collections::BTreeMap;

use crate::functions::Function;
use crate::simulate::{simulate, RunSpec};

/// The learning rates tried per function.
pub const LR_GRID: [f64; 9] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0];

/// A function the report shows, with its title and step count; the start is the function's
/// default.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub function: Function,
    pub title: &'static str,
    pub steps: usize,
}

/// The report's two problems.
pub fn problems() -> [Problem; 2] {
    [
        Problem {
            function: Function::Rosenbrock,
            title: "Rosenbrock",
            steps: 500,
        },
        Problem {
            function: Function::QuarticSaddle,
            title: "saddle x² − y² + y⁴/2",
            steps: 100,
        },
    ]
}

/// One optimizer's path on one function.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// The study's label.
    pub label: String,
    /// The `optim` name it was built with.
    pub name: String,
    pub lr: f64,
    /// Points from the start through every step taken before any divergence.
    pub points: Vec<[f64; 2]>,
    pub steps: usize,
    /// The value at the last point (infinite when the run diverged).
    pub final_value: f64,
    pub diverged: bool,
}

/// Every study optimizer's path on one problem, and the optimizers that could not be built.
#[derive(Clone, Debug, PartialEq)]
pub struct Landscape {
    pub problem: Problem,
    pub trajectories: Vec<Trajectory>,
    /// `(label, error)` of each optimizer `optim` rejected.
    pub errors: Vec<(String, String)>,
}

/// Runs `table` (an `[optimizer]` table with `name`; its `lr` is replaced) for the problem's
/// step count. Errors when `optim` rejects the table.
pub fn simulate_at(p: &Problem, table: &toml::Table, lr: f64) -> Result<Trajectory, String> {
    let mut t = table.clone();
    t.insert("lr".into(), toml::Value::Float(lr));
    let name = t
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or("?")
        .to_string();
    let spec = RunSpec {
        label: String::new(),
        name: name.clone(),
        context: "landscape".into(),
        table: t,
        extra: &[],
        clip: None,
        schedule: None,
    };
    let start = p.function.default_start();
    let run = simulate(&p.function, &start, p.steps, &spec).map_err(|e| e.to_string())?;
    // The path stops before the step that diverged.
    let kept = run.params.len() - usize::from(run.diverged);
    let mut points = vec![[start[0], start[1]]];
    points.extend(run.params[..kept].iter().map(|w| [w[0], w[1]]));
    let final_value = if run.diverged {
        f64::INFINITY
    } else {
        run.final_loss
    };
    Ok(Trajectory {
        label: String::new(),
        name,
        lr,
        steps: points.len() - 1,
        points,
        final_value,
        diverged: run.diverged,
    })
}

/// The trajectory with the best final value over [`LR_GRID`]; where several learning rates
/// end within `1e-4 · (f(start) − min)` of that best value, the smallest of them (a calmer path
/// to the same place).
pub fn best_over_grid(p: &Problem, table: &toml::Table) -> Result<Trajectory, String> {
    let mut all = Vec::new();
    let mut last_err = None;
    for &lr in &LR_GRID {
        match simulate_at(p, table, lr) {
            Ok(t) => all.push(t),
            Err(e) => last_err = Some(e),
        }
    }
    let best = all
        .iter()
        .filter(|t| !t.diverged)
        .map(|t| t.final_value)
        .fold(f64::INFINITY, f64::min);
    if !best.is_finite() {
        // Every rate diverged: show the smallest.
        return all
            .into_iter()
            .next()
            .ok_or_else(|| last_err.unwrap_or_else(|| "no learning rate tried".into()));
    }
    let f = &p.function;
    let minimum = f.minimum(2).map_or(0.0, |(m, _)| m);
    let tol = 1e-4 * (f.value(&f.default_start()) - minimum).abs();
    Ok(all
        .into_iter()
        .find(|t| !t.diverged && t.final_value <= best + tol)
        .expect("the best is in the list"))
}

/// Hyperparameters that do not carry over to a 2-D function (the lr is chosen per function;
/// weight decay would pull towards the origin and change the function being minimised).
const SKIP: &[&str] = &["lr", "weight_decay", "schedule", "clip", "groups"];

/// The `[optimizer]` table to run for a study optimizer: the run config's table (which knows
/// the `optim` name and fixed settings such as `momentum = 0.9`), overlaid with the chosen
/// setting's hyperparameters where they make sense.
pub fn optimizer_table(
    label: &str,
    config_table: Option<&toml::Table>,
    best_params: &BTreeMap<String, serde_json::Value>,
) -> toml::Table {
    let mut t = toml::Table::new();
    match config_table {
        Some(c) => {
            for (k, v) in c {
                if !SKIP.contains(&k.as_str()) {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        None => {
            // No stored config: guess the optim name from the label.
            let name = match label {
                "momentum" | "nesterov" => "sgd",
                l if optim::optimizers::NAMES.contains(&l) => l,
                _ => "sgd",
            };
            t.insert("name".into(), toml::Value::String(name.into()));
            if label == "momentum" || label == "nesterov" {
                t.insert("momentum".into(), toml::Value::Float(0.9));
            }
            if label == "nesterov" {
                t.insert("nesterov".into(), toml::Value::Boolean(true));
            }
        }
    }
    for (k, v) in best_params {
        if SKIP.contains(&k.as_str()) || k == "name" {
            continue;
        }
        if let Some(v) = json_to_toml(v) {
            t.insert(k.clone(), v);
        }
    }
    t
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    Some(match v {
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Array(a) => {
            toml::Value::Array(a.iter().map(json_to_toml).collect::<Option<Vec<_>>>()?)
        }
        _ => return None,
    })
}

/// The `[optimizer]` table of a run config (TOML text), if it has one.
pub fn config_optimizer(config: &str) -> Option<toml::Table> {
    let t: toml::Table = config.parse().ok()?;
    t.get("optimizer")?.as_table().cloned()
}

/// Runs every `(label, table)` on the problem. A table `optim` rejects with the chosen setting
/// falls back to its `name` alone; one that still fails is reported in `errors`.
pub fn run_all(p: &Problem, optimizers: &[(String, toml::Table)]) -> Landscape {
    let mut trajectories = Vec::new();
    let mut errors = Vec::new();
    for (label, table) in optimizers {
        let r = best_over_grid(p, table).or_else(|e| {
            let mut bare = toml::Table::new();
            match table.get("name") {
                Some(n) => {
                    bare.insert("name".into(), n.clone());
                    best_over_grid(p, &bare)
                }
                None => Err(e),
            }
        });
        match r {
            Ok(mut t) => {
                t.label = label.clone();
                trajectories.push(t);
            }
            Err(e) => errors.push((label.clone(), e)),
        }
    }
    Landscape {
        problem: p.clone(),
        trajectories,
        errors,
    }
}

/// The report's landscapes: every `(label, table)` on each of [`problems`].
pub fn landscapes(optimizers: &[(String, toml::Table)]) -> Vec<Landscape> {
    problems().iter().map(|p| run_all(p, optimizers)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn sgd_steps_match_hand_computation() {
        // saddle from (1, 1e-3), lr 0.1: x ← x − 0.2x = 0.8x.
        let saddle = &problems()[1];
        let t = simulate_at(saddle, &table("name = \"sgd\""), 0.1).unwrap();
        assert_eq!(t.steps, 100);
        assert!((t.points[1][0] - 0.8).abs() < 1e-15);
        let y1 = 1e-3 - 0.1 * (-2e-3 + 2e-9);
        assert!((t.points[1][1] - y1).abs() < 1e-15);
        // it escapes the saddle towards the minimum at y = +1
        assert!((t.final_value - (-0.5)).abs() < 1e-6, "{}", t.final_value);
    }

    #[test]
    fn grid_picks_the_best_and_flags_divergence() {
        let rosenbrock = &problems()[0];
        let t = simulate_at(rosenbrock, &table("name = \"sgd\""), 1.0).unwrap();
        assert!(t.diverged && t.final_value.is_infinite());
        let b = best_over_grid(rosenbrock, &table("name = \"adam\"")).unwrap();
        assert!(!b.diverged);
        let f = Function::Rosenbrock;
        let tol = 1e-4 * f.value(&f.default_start());
        for &lr in &LR_GRID {
            let o = simulate_at(rosenbrock, &table("name = \"adam\""), lr).unwrap();
            assert!(o.diverged || o.final_value + tol >= b.final_value);
            // no smaller rate reaches the tolerance band
            if lr < b.lr {
                assert!(o.diverged || o.final_value > b.final_value, "{lr}");
            }
        }
    }

    #[test]
    fn tables_take_config_and_sensible_best_params() {
        let cfg = table("name = \"sgd\"\nlr = 0.5\nmomentum = 0.9\nweight_decay = 0.01");
        let mut best = BTreeMap::new();
        best.insert("lr".to_string(), serde_json::json!(0.03));
        best.insert("nesterov".to_string(), serde_json::json!(true));
        let t = optimizer_table("nesterov", Some(&cfg), &best);
        assert_eq!(t.get("name").unwrap().as_str(), Some("sgd"));
        assert_eq!(t.get("momentum").unwrap().as_float(), Some(0.9));
        assert_eq!(t.get("nesterov").unwrap().as_bool(), Some(true));
        assert!(t.get("lr").is_none() && t.get("weight_decay").is_none());
        let g = optimizer_table("momentum", None, &BTreeMap::new());
        assert_eq!(g.get("momentum").unwrap().as_float(), Some(0.9));
        assert!(
            config_optimizer("[optimizer]\nname = \"adam\"\n").unwrap()["name"].as_str()
                == Some("adam")
        );
    }
}
