//! The JSON a landscape run writes.
//!
//! The top-level object has `function`, `dim`, `steps`, `start` and `runs`: one object per
//! optimizer with `label`, `optimizer`, `params` (the parameter vector after each step),
//! `losses` (the value where each step's gradient was taken), `lr` (the learning rate each step
//! used), `final_loss` (the value at the last parameters), `diverged`, `first_nonfinite_step`
//! (1-based or null) and `stop_reason` (null, or why a diverged run stopped). With a single
//! `[optimizer]` the run's fields are also copied to the top level. Non-finite numbers are
//! written as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::simulate::Run;

/// A number, or `"NaN"`/`"Infinity"`/`"-Infinity"` when it is not finite.
pub fn num(x: f64) -> Value {
    if x.is_nan() {
        Value::from("NaN")
    } else if x == f64::INFINITY {
        Value::from("Infinity")
    } else if x == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(x)
    }
}

fn nums(xs: &[f64]) -> Value {
    Value::Array(xs.iter().map(|&x| num(x)).collect())
}

fn run_json(r: &Run) -> Map<String, Value> {
    let v = json!({
        "label": r.label,
        "optimizer": r.optimizer,
        "params": r.params.iter().map(|p| nums(p)).collect::<Vec<_>>(),
        "losses": nums(&r.losses),
        "lr": nums(&r.lr),
        "final_loss": num(r.final_loss),
        "diverged": r.diverged,
        "first_nonfinite_step": r.first_nonfinite_step,
        "stop_reason": r.stop_reason,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// The whole output of `cfg`'s runs.
pub fn to_json(cfg: &Config, runs: &[Run]) -> Value {
    let mut top = Map::new();
    top.insert("function".into(), Value::from(cfg.function.name()));
    top.insert("dim".into(), Value::from(cfg.start.len()));
    top.insert("steps".into(), Value::from(cfg.steps));
    top.insert("start".into(), nums(&cfg.start));
    if cfg.single {
        top.extend(run_json(&runs[0]));
    }
    top.insert(
        "runs".into(),
        Value::Array(runs.iter().map(|r| Value::Object(run_json(r))).collect()),
    );
    Value::Object(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonfinite_numbers_become_strings() {
        assert_eq!(num(f64::NAN), Value::from("NaN"));
        assert_eq!(num(f64::INFINITY), Value::from("Infinity"));
        assert_eq!(num(f64::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(num(1.5), json!(1.5));
    }
}
