//! The landscape config file (`gradlab landscape FILE.toml`): one problem and the optimizers to
//! run on it.
//!
//! ```toml
//! steps = 50                      # optional, default 100
//! [problem]
//! function = "rosenbrock"         # rosenbrock, beale, himmelblau, rastrigin, saddle,
//!                                 # quartic_saddle, monkey_saddle, quadratic (with
//!                                 # matrix = [[..]], vector = [..])
//! start = [-1.5, 2.0]             # optional; each function has a default start
//! [optimizer]                     # torch.optim names and hyperparameters
//! name = "sgd"
//! lr = 0.01
//! [clip]                          # optional: max_norm (global L2), value, ... (optim's [clip])
//! max_norm = 1.0
//! [schedule]                      # optional, stepped once per optimizer step
//! name = "cosine"
//! t_max = 50
//! ```
//! Instead of one `[optimizer]`, several `[[optimizers]]` tables compare optimizers on one
//! problem; each may have a `label` and its own `clip`/`schedule` subtables. Top-level `[clip]`
//! and `[schedule]` apply to every optimizer that has no subtable of its own.

use optim::hyper::Hyper;

use crate::error::{LandscapeError, Result};
use crate::functions::{self, Function};
use crate::simulate::{simulate, Run, RunSpec};

pub const DEFAULT_STEPS: usize = 100;
const MAX_STEPS: usize = 1_000_000;

fn invalid(msg: String) -> LandscapeError {
    LandscapeError::Config(msg)
}

/// A parsed config file.
#[derive(Clone, Debug)]
pub struct Config {
    pub steps: usize,
    pub function: Function,
    pub start: Vec<f64>,
    pub runs: Vec<RunSpec>,
    /// True when the file has a single `[optimizer]` (its fields are copied to the top level of
    /// the JSON output).
    pub single: bool,
}

fn table_of<'a>(ctx: &str, key: &str, v: &'a toml::Value) -> Result<&'a toml::Table> {
    v.as_table()
        .ok_or_else(|| invalid(format!("{ctx}: `{key}` must be a table ([{key}]), got {v}")))
}

impl Config {
    /// Parses a config file's text; errors name the table and field.
    pub fn parse(text: &str) -> Result<Config> {
        let root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        let mut h = Hyper::new("top level", &root);
        let steps = h.usize("steps", DEFAULT_STEPS)?;
        if steps == 0 || steps > MAX_STEPS {
            return Err(invalid(format!(
                "top level: `steps` = {steps} is invalid: must be in 1..={MAX_STEPS}"
            )));
        }
        let problem = h.raw("problem");
        let optimizer = h.raw("optimizer");
        let optimizers = h.raw("optimizers");
        let clip = h.raw("clip");
        let schedule = h.raw("schedule");
        h.finish()?;

        // [problem]
        let problem = problem.ok_or_else(|| invalid("missing required table [problem]".into()))?;
        let problem = table_of("top level", "problem", problem)?;
        let mut ph = Hyper::new("[problem]", problem);
        let fname = match ph.raw("function") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(v) => {
                return Err(invalid(format!(
                    "[problem]: `function` = {v} is invalid: expected a string, one of {}",
                    functions::NAMES.join(", ")
                )))
            }
            None => {
                return Err(invalid(format!(
                    "[problem]: missing required field `function` (one of {})",
                    functions::NAMES.join(", ")
                )))
            }
        };
        let matrix = ph.raw("matrix");
        let vector = ph.raw("vector");
        let start = ph.raw("start");
        ph.finish()?;
        let function = functions::parse("[problem]", &fname, matrix, vector)?;
        let start = match start {
            Some(v) => functions::numbers(v).ok_or_else(|| {
                invalid(format!(
                    "[problem]: `start` = {v} is invalid: expected a list of finite numbers"
                ))
            })?,
            None => function.default_start(),
        };
        function
            .check_dim(start.len())
            .map_err(|e| invalid(format!("[problem]: {e}")))?;

        // Optimizers.
        let top_clip = clip
            .map(|v| table_of("top level", "clip", v).map(|t| ("[clip]".to_string(), t.clone())))
            .transpose()?;
        let top_sched = schedule
            .map(|v| {
                table_of("top level", "schedule", v).map(|t| ("[schedule]".to_string(), t.clone()))
            })
            .transpose()?;
        let (tables, single): (Vec<(String, &toml::Table)>, bool) = match (optimizer, optimizers) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "give either one [optimizer] or several [[optimizers]], not both".into(),
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "missing [optimizer] (or several [[optimizers]] tables to compare)".into(),
                ))
            }
            (Some(v), None) => (
                vec![("[optimizer]".into(), table_of("top level", "optimizer", v)?)],
                true,
            ),
            (None, Some(v)) => {
                let arr = v.as_array().ok_or_else(|| {
                    invalid(
                        "top level: `optimizers` must be a list of tables ([[optimizers]])".into(),
                    )
                })?;
                if arr.is_empty() {
                    return Err(invalid("top level: `optimizers` is empty".into()));
                }
                let mut out = Vec::new();
                for (i, t) in arr.iter().enumerate() {
                    let ctx = format!("[[optimizers]] #{}", i + 1);
                    let t = t
                        .as_table()
                        .ok_or_else(|| invalid(format!("{ctx}: expected a table, got {t}")))?;
                    out.push((ctx, t));
                }
                (out, false)
            }
        };
        let mut runs = Vec::new();
        for (ctx, t) in tables {
            let name = t
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string();
            let sub = |key: &str| -> Result<Option<(String, toml::Table)>> {
                t.get(key)
                    .map(|v| table_of(&ctx, key, v).map(|s| (format!("{ctx}.{key}"), s.clone())))
                    .transpose()
            };
            let clip = sub("clip")?.or_else(|| top_clip.clone());
            let schedule = sub("schedule")?.or_else(|| top_sched.clone());
            let label = match t.get("label") {
                Some(toml::Value::String(s)) => s.clone(),
                Some(v) => {
                    return Err(invalid(format!(
                        "{ctx}: `label` = {v} is invalid: expected a string"
                    )))
                }
                None => default_label(&name, t),
            };
            let mut table = t.clone();
            // The optimizer reads its own table; our keys are declared as `extra`.
            table.remove("label");
            runs.push(RunSpec {
                label,
                name,
                context: ctx,
                table,
                extra: &["clip", "schedule", "label"],
                clip,
                schedule,
            });
        }
        // Duplicate labels would make the legend ambiguous.
        for i in 1..runs.len() {
            let dups = runs[..i]
                .iter()
                .filter(|r| r.label == runs[i].label)
                .count();
            if dups > 0 {
                runs[i].label = format!("{} ({})", runs[i].label, dups + 1);
            }
        }
        Ok(Config {
            steps,
            function,
            start,
            runs,
            single,
        })
    }

    /// Runs `spec` on this config's problem ([`simulate()`]).
    pub fn simulate(&self, spec: &RunSpec) -> Result<Run> {
        simulate(&self.function, &self.start, self.steps, spec)
    }
}

/// `sgd (lr=0.01, momentum=0.9)`: the name plus the hyperparameters the table sets.
fn default_label(name: &str, t: &toml::Table) -> String {
    let hp: Vec<String> = t
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "clip" | "schedule" | "label"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if hp.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({})", hp.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_default_and_deduplicate() {
        let c = Config::parse("[problem]\nfunction = \"beale\"\n[[optimizers]]\nname = \"sgd\"\nlr = 0.01\n[[optimizers]]\nname = \"sgd\"\nlr = 0.01\n[[optimizers]]\nname = \"sgd\"\nlabel = \"mine\"\n[optimizers.clip]\nvalue = 1.0\n").unwrap();
        let labels: Vec<&str> = c.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["sgd (lr=0.01)", "sgd (lr=0.01) (2)", "mine"]);
        assert!(c.runs[2].clip.is_some() && c.runs[0].clip.is_none());
        assert_eq!(c.start, vec![1.0, 1.5]);
        assert_eq!(c.steps, DEFAULT_STEPS);
    }

    #[test]
    fn config_errors_name_the_problem() {
        // The error and its sources, as `{:#}` of anyhow shows them.
        let e = |s: &str| {
            let e = Config::parse(s).expect_err("should fail");
            let mut m = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                m = format!("{m}: {s}");
                source = s.source();
            }
            m
        };
        let err = e("steps = 5\n[problem]\nfunction = \"beale\"\nstart = [1.0]\n[optimizer]\nname = \"sgd\"\n");
        assert!(err.contains("dimension 2, got 1"), "{err}");
        let err = e("stepz = 5\n[problem]\nfunction = \"beale\"\n[optimizer]\nname = \"sgd\"\n");
        assert!(err.contains("stepz") && err.contains("steps"), "{err}");
        let err = e("[problem]\nfunction = \"beale\"\n");
        assert!(err.contains("missing [optimizer]"), "{err}");
        let err = e(
            "[problem]\nfunction = \"beale\"\nstart = [1, \"a\"]\n[optimizer]\nname = \"sgd\"\n",
        );
        assert!(err.contains("`start`"), "{err}");
    }
}
