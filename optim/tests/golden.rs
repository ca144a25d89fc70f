//! Golden trajectories from PyTorch: every torch.optim optimizer with non-default
//! hyperparameters, clipping, parameter groups and each schedule, in f64 (tight tolerance) and
//! f32. The vectors come from `tests/golden/gen_golden.py` (see its README); nothing here needs
//! Python.

use optim::{optimizers, schedule, ClipConfig, GroupSpec, Optimizer, Param, ParamStore, Params};
use serde_json::Value;

fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/golden.json");
    let text = std::fs::read_to_string(path).expect("golden.json (run tests/golden/gen_golden.py)");
    serde_json::from_str(&text).expect("golden.json parses")
}

/// JSON → TOML, dropping nulls (absent keys mean defaults).
fn to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => toml::Value::Integer(i),
            _ => toml::Value::Float(n.as_f64().unwrap()),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(to_toml).collect()),
        Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| to_toml(v).map(|v| (k.clone(), v)))
                .collect(),
        ),
    })
}

fn table(v: &Value) -> toml::Table {
    match to_toml(v) {
        Some(toml::Value::Table(t)) => t,
        _ => panic!("expected an object, got {v}"),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

struct Problem {
    names: Vec<String>,
    a: Vec<Vec<f64>>,
    c: Vec<Vec<f64>>,
}

/// Runs one case in precision `F` and returns the largest relative error seen, with where.
fn run_case<F: optim::Float>(case: &Value, tol: f64) -> Result<(), String> {
    let name = case["name"].as_str().unwrap();
    let mut store = ParamStore::<F>::default();
    let mut prob = Problem {
        names: vec![],
        a: vec![],
        c: vec![],
    };
    for p in case["params"].as_array().unwrap() {
        let shape: Vec<usize> = p["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let init: Vec<F> = floats(&p["init"]).into_iter().map(F::of).collect();
        let pname = p["name"].as_str().unwrap().to_string();
        store.params.push(Param::new(&pname, &shape, init));
        prob.names.push(pname);
        prob.a.push(floats(&p["a"]));
        prob.c.push(floats(&p["c"]));
    }
    let opt_table = table(&case["optimizer"]);
    let recipe = optimizers::from_table::<F>(name, &opt_table, &[]).map_err(|e| e.to_string())?;
    let groups = match &case["groups"] {
        Value::Null => vec![],
        g => GroupSpec::from_toml(name, &to_toml(g).unwrap()).map_err(|e| e.to_string())?,
    };
    let mut recipe = recipe;
    let clip = match &case["clip"] {
        Value::Null => ClipConfig::default(),
        c => ClipConfig::from_toml(name, &table(c)).map_err(|e| e.to_string())?,
    };
    recipe.chain = clip.wrap(recipe.chain).map_err(|e| e.to_string())?;
    let mut opt = Optimizer::with_groups(recipe, &store, &groups).map_err(|e| e.to_string())?;
    opt.set_clipping(clip.global.clone())
        .map_err(|e| e.to_string())?;
    let momentum0 = opt_table
        .get("momentum")
        .and_then(|v| v.as_float())
        .or_else(|| {
            opt_table
                .get("betas")
                .and_then(|b| b.as_array()?[0].as_float())
        });
    let mut sched = match &case["schedule"] {
        Value::Null => None,
        s => {
            let s = schedule::from_table(name, &table(s), &opt.initial_lrs(), momentum0)
                .map_err(|e| e.to_string())?;
            schedule::apply(&*s, &mut opt);
            Some(s)
        }
    };
    let steps = case["steps"].as_u64().unwrap() as usize;
    let metrics = match &case["metrics"] {
        Value::Null => None,
        m => Some(floats(m)),
    };
    let mut worst = (0.0f64, String::new());
    let mut check = |what: String, got: f64, want: f64| {
        let err = (got - want).abs() / want.abs().max(1.0);
        let err = if err.is_nan() { f64::INFINITY } else { err };
        if err > worst.0 {
            worst = (err, format!("{what}: got {got}, want {want}"));
        }
    };
    for t in 0..steps {
        for (i, pname) in prob.names.iter().enumerate() {
            let skip = case["no_grad_steps"]
                .get(pname)
                .and_then(|s| s.as_array())
                .is_some_and(|s| s.iter().any(|x| x.as_u64() == Some(t as u64)));
            let noise = floats(&case["noise"][pname][t]);
            let p = &mut store.params[i];
            if skip {
                p.has_grad = false;
                continue;
            }
            let (a, c) = (&prob.a[i], &prob.c[i]);
            for (j, (g, v)) in p.grad.iter_mut().zip(&p.value).enumerate() {
                let x = v.f64();
                *g = F::of(a[j] * (x - c[j]) + 0.3 * (3.0 * x).cos() + noise[j]);
            }
            p.has_grad = true;
        }
        let want_lrs = floats(&case["lrs"][t]);
        for (g, (&got, &want)) in opt.lrs().iter().zip(&want_lrs).enumerate() {
            check(format!("step {t} lr of group {g}"), got, want);
        }
        if let Some(ms) = case.get("momentums").filter(|m| !m.is_null()) {
            let want = ms[t]
                .as_array()
                .map(|a| a[0].as_f64().unwrap())
                .or_else(|| ms[t].as_f64())
                .unwrap();
            let got = opt.groups()[0].momentum.or(momentum0).unwrap_or(f64::NAN);
            check(format!("step {t} momentum"), got, want);
        }
        opt.step(&mut store).map_err(|e| e.to_string())?;
        if let Some(s) = sched.as_mut() {
            s.step(metrics.as_ref().map(|m| m[t]))
                .map_err(|e| e.to_string())?;
            schedule::apply(&**s, &mut opt);
        }
        for (i, pname) in prob.names.iter().enumerate() {
            let want = floats(&case["trajectory"][pname][t]);
            for (j, &w) in want.iter().enumerate() {
                check(
                    format!("step {} {pname}[{j}]", t + 1),
                    store.value(i)[j].f64(),
                    w,
                );
            }
        }
    }
    if worst.0 > tol {
        return Err(format!(
            "relative error {:.3e} > {tol:.0e} at {}",
            worst.0, worst.1
        ));
    }
    Ok(())
}

fn run_all<F: optim::Float>(tol: f64) {
    let golden = load();
    let cases = golden["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 40,
        "expected the full golden suite, found {} cases",
        cases.len()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            run_case::<F>(c, tol)
                .err()
                .map(|e| format!("{}: {e}", c["name"].as_str().unwrap()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} golden cases differ from PyTorch ({}):\n{}",
        failures.len(),
        cases.len(),
        std::any::type_name::<F>(),
        failures.join("\n")
    );
}

#[test]
fn f64_trajectories_match_pytorch() {
    run_all::<f64>(1e-10);
}

#[test]
fn f32_trajectories_match_pytorch_to_single_precision() {
    run_all::<f32>(2e-4);
}
