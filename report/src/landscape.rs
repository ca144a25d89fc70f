//! Landscape trajectories: each study optimizer, built through `optim`'s public API, run on two
//! analytic 2-D functions (Rosenbrock's valley and a saddle with quartic walls). The learning
//! rate is chosen per function from a small grid (the one with the best final value); the other
//! hyperparameters come from the study's chosen setting where they make sense.

use std::collections::BTreeMap;

use optim::{Optimizer, ParamStore, Params};

/// A 2-D test function with its exact gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `(1 − x)² + 100 (y − x²)²`, minimum 0 at (1, 1).
    Rosenbrock,
    /// `x² − y² + y⁴/2`: a saddle at the origin, minima −½ at (0, ±1).
    Saddle,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Rosenbrock => "Rosenbrock",
            Function::Saddle => "saddle x² − y² + y⁴/2",
        }
    }

    pub fn start(self) -> [f64; 2] {
        match self {
            Function::Rosenbrock => [-1.5, 2.0],
            Function::Saddle => [1.0, 1e-3],
        }
    }

    pub fn steps(self) -> usize {
        match self {
            Function::Rosenbrock => 500,
            Function::Saddle => 100,
        }
    }

    /// The minimum value (the heat map shows f − min on a log scale).
    pub fn minimum(self) -> f64 {
        match self {
            Function::Rosenbrock => 0.0,
            Function::Saddle => -0.5,
        }
    }

    /// The minimisers (marked on the map).
    pub fn minimisers(self) -> Vec<[f64; 2]> {
        match self {
            Function::Rosenbrock => vec![[1.0, 1.0]],
            Function::Saddle => vec![[0.0, 1.0], [0.0, -1.0]],
        }
    }

    /// The region the map shows.
    pub fn plot_box(self) -> [(f64, f64); 2] {
        match self {
            Function::Rosenbrock => [(-2.0, 2.0), (-1.0, 3.0)],
            Function::Saddle => [(-1.5, 1.5), (-1.6, 1.6)],
        }
    }

    pub fn value(self, w: [f64; 2]) -> f64 {
        let [x, y] = w;
        match self {
            Function::Rosenbrock => (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2),
            Function::Saddle => x * x - y * y + 0.5 * y.powi(4),
        }
    }

    pub fn grad(self, w: [f64; 2]) -> [f64; 2] {
        let [x, y] = w;
        match self {
            Function::Rosenbrock => {
                let r = y - x * x;
                [-2.0 * (1.0 - x) - 400.0 * x * r, 200.0 * r]
            }
            Function::Saddle => [2.0 * x, -2.0 * y + 2.0 * y.powi(3)],
        }
    }
}

/// The learning rates tried per function.
pub const LR_GRID: [f64; 9] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0];

/// One optimizer's path on one function.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// The study's label.
    pub label: String,
    /// The `optim` name it was built with.
    pub name: String,
    pub lr: f64,
    /// Points from the start through every step taken.
    pub points: Vec<[f64; 2]>,
    pub steps: usize,
    pub final_value: f64,
    pub diverged: bool,
}

/// Runs `table` (an `[optimizer]` table with `name`; its `lr` is replaced) for the function's
/// step count. Errors when `optim` rejects the table.
pub fn simulate(f: Function, table: &toml::Table, lr: f64) -> Result<Trajectory, String> {
    let mut t = table.clone();
    t.insert("lr".into(), toml::Value::Float(lr));
    let name = t
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or("?")
        .to_string();
    let recipe =
        optim::optimizers::from_table::<f64>("landscape", &t, &[]).map_err(|e| e.to_string())?;
    let start = f.start();
    let mut params = ParamStore::single("w", start.to_vec());
    let mut opt = Optimizer::new(recipe, &params).map_err(|e| e.to_string())?;
    let mut points = vec![start];
    let mut diverged = false;
    for _ in 0..f.steps() {
        let w = params.value(0);
        let w = [w[0], w[1]];
        let g = f.grad(w);
        if !g.iter().all(|v| v.is_finite()) {
            diverged = true;
            break;
        }
        params.set_grad(0, &g);
        opt.step(&mut params).map_err(|e| e.to_string())?;
        let w = params.value(0);
        let w = [w[0], w[1]];
        if !w.iter().all(|v| v.is_finite() && v.abs() < 1e12) {
            diverged = true;
            break;
        }
        points.push(w);
    }
    let last = *points.last().unwrap_or(&start);
    let final_value = if diverged {
        f64::INFINITY
    } else {
        f.value(last)
    };
    Ok(Trajectory {
        label: String::new(),
        name,
        lr,
        steps: points.len() - 1,
        points,
        final_value,
        diverged,
    })
}

/// The trajectory with the best final value over [`LR_GRID`]; where several learning rates
/// end within `1e-4 · (f(start) − min)` of that best value, the smallest of them (a calmer path
/// to the same place).
pub fn best_over_grid(f: Function, table: &toml::Table) -> Result<Trajectory, String> {
    let mut all = Vec::new();
    let mut last_err = None;
    for &lr in &LR_GRID {
        match simulate(f, table, lr) {
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
    let tol = 1e-4 * (f.value(f.start()) - f.minimum()).abs();
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
            let (name, extra): (&str, &[(&str, toml::Value)]) = match label {
                "momentum" => ("sgd", &[]),
                "nesterov" => ("sgd", &[]),
                l if optim::optimizers::NAMES.contains(&l) => (l, &[]),
                _ => ("sgd", &[]),
            };
            t.insert("name".into(), toml::Value::String(name.into()));
            for (k, v) in extra {
                t.insert(k.to_string(), v.clone());
            }
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

/// Runs every `(label, table)` on `f`. A table `optim` rejects with the chosen setting falls
/// back to its `name` alone; one that still fails is reported in the second list.
pub fn run_all(
    f: Function,
    optimizers: &[(String, toml::Table)],
) -> (Vec<Trajectory>, Vec<(String, String)>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (label, table) in optimizers {
        let r = best_over_grid(f, table).or_else(|e| {
            let mut bare = toml::Table::new();
            match table.get("name") {
                Some(n) => {
                    bare.insert("name".into(), n.clone());
                    best_over_grid(f, &bare)
                }
                None => Err(e),
            }
        });
        match r {
            Ok(mut t) => {
                t.label = label.clone();
                ok.push(t);
            }
            Err(e) => errors.push((label.clone(), e)),
        }
    }
    (ok, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn gradients_match_finite_differences() {
        for f in [Function::Rosenbrock, Function::Saddle] {
            for w in [[-1.2, 0.7], [0.3, -0.4], [1.1, 1.3]] {
                let g = f.grad(w);
                for i in 0..2 {
                    let h = 1e-6;
                    let (mut a, mut b) = (w, w);
                    a[i] += h;
                    b[i] -= h;
                    let fd = (f.value(a) - f.value(b)) / (2.0 * h);
                    assert!(
                        (fd - g[i]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "{f:?} {w:?} {i}"
                    );
                }
            }
            for m in f.minimisers() {
                assert!((f.value(m) - f.minimum()).abs() < 1e-15);
                assert!(f.grad(m).iter().all(|g| g.abs() < 1e-12));
            }
        }
    }

    #[test]
    fn sgd_steps_match_hand_computation() {
        // saddle from (1, 1e-3), lr 0.1: x ← x − 0.2x = 0.8x.
        let t = simulate(Function::Saddle, &table("name = \"sgd\""), 0.1).unwrap();
        assert_eq!(t.steps, 100);
        assert!((t.points[1][0] - 0.8).abs() < 1e-15);
        let y1 = 1e-3 - 0.1 * (-2e-3 + 2e-9);
        assert!((t.points[1][1] - y1).abs() < 1e-15);
        // it escapes the saddle towards the minimum at y = +1
        assert!((t.final_value - (-0.5)).abs() < 1e-6, "{}", t.final_value);
    }

    #[test]
    fn grid_picks_the_best_and_flags_divergence() {
        let t = simulate(Function::Rosenbrock, &table("name = \"sgd\""), 1.0).unwrap();
        assert!(t.diverged && t.final_value.is_infinite());
        let b = best_over_grid(Function::Rosenbrock, &table("name = \"adam\"")).unwrap();
        assert!(!b.diverged);
        let tol = 1e-4 * Function::Rosenbrock.value(Function::Rosenbrock.start());
        for &lr in &LR_GRID {
            let o = simulate(Function::Rosenbrock, &table("name = \"adam\""), lr).unwrap();
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
