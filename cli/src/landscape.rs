//! `gradlab landscape FILE.toml --json OUT.json [--plot OUT.svg]`: runs optimizers on analytic
//! test functions and records their trajectories.
//!
//! # Config file
//! ```toml
//! steps = 50                      # optional, default 100
//! [problem]
//! function = "rosenbrock"         # rosenbrock, beale, himmelblau, rastrigin, saddle,
//!                                 # monkey_saddle, quadratic (with matrix = [[..]], vector = [..])
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
//!
//! # JSON output
//! The top-level object has `function`, `dim`, `steps`, `start` and `runs`: one object per
//! optimizer with `label`, `optimizer`, `params` (the parameter vector after each step),
//! `losses` (the value where each step's gradient was taken), `lr` (the learning rate each step
//! used), `final_loss` (the value at the last parameters), `diverged`, `first_nonfinite_step`
//! (1-based or null) and `stop_reason` (null, or why a diverged run stopped). With a single
//! `[optimizer]` the run's fields are also copied to the top level. Non-finite numbers are
//! written as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
//!
//! A run diverges when a loss or parameter is not finite or some |parameter| exceeds 1e12; it
//! then stops after that step (so `params`, `losses` and `lr` always have equal lengths), a
//! note goes to stderr, and the command still succeeds. Nothing is written on error: outputs go
//! to temporary files next to their targets and are renamed at the end.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use optim::hyper::Hyper;
use optim::{ClipConfig, LrSchedule, Optimizer, ParamStore, Params};
use serde_json::{json, Map, Value};

pub mod functions;
mod plot;

use functions::Function;

#[derive(clap::Args)]
pub struct Args {
    /// The problem and optimizers (TOML; see `gradlab landscape --help` and examples/landscape).
    pub config: PathBuf,
    /// Where to write the trajectories (JSON).
    #[arg(long)]
    pub json: PathBuf,
    /// Where to write a plot (SVG): paths over a heat map for 2-D problems, loss curves otherwise.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Parameters beyond this magnitude count as divergence.
pub const BLOWUP: f64 = 1e12;
const DEFAULT_STEPS: usize = 100;
const MAX_STEPS: usize = 1_000_000;

/// One optimizer of the comparison, as configured.
struct RunSpec {
    label: String,
    name: String,
    context: String,
    table: toml::Table,
    clip: Option<(String, toml::Table)>,
    schedule: Option<(String, toml::Table)>,
}

/// A parsed config file.
struct Config {
    steps: usize,
    function: Function,
    start: Vec<f64>,
    runs: Vec<RunSpec>,
    /// True when the file has a single `[optimizer]` (its fields are copied to the top level).
    single: bool,
}

/// One optimizer's trajectory.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub label: String,
    pub optimizer: String,
    pub params: Vec<Vec<f64>>,
    pub losses: Vec<f64>,
    pub lr: Vec<f64>,
    pub final_loss: f64,
    pub diverged: bool,
    pub first_nonfinite_step: Option<usize>,
    pub stop_reason: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let path = &args.config;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg = parse_config(&text).with_context(|| format!("{}", path.display()))?;
    let mut runs = Vec::with_capacity(cfg.runs.len());
    for spec in &cfg.runs {
        let r = simulate(&cfg, spec).with_context(|| format!("{}", path.display()))?;
        if r.diverged {
            eprintln!(
                "warning: run `{}` diverged at step {} ({}); it stopped there",
                r.label,
                r.params.len(),
                r.stop_reason.as_deref().unwrap_or("diverged")
            );
        }
        runs.push(r);
    }
    let json = to_json(&cfg, &runs);
    let json = serde_json::to_string_pretty(&json)? + "\n";
    let mut outputs = vec![(args.json.clone(), json)];
    if let Some(p) = &args.plot {
        let svg = plot::render(&cfg.function, &cfg.start, &runs)
            .with_context(|| format!("cannot draw the plot for {}", path.display()))?;
        outputs.push((p.clone(), svg));
    }
    write_all_or_nothing(&outputs)
}

/// Writes every output durably, all or nothing ([`durable::write_all`]): on any failure before
/// the renames no target is touched and no temporary file is left.
fn write_all_or_nothing(outputs: &[(PathBuf, String)]) -> Result<()> {
    // Only reached once the whole run succeeded, so a created folder is never left empty by a
    // failed run.
    for (target, _) in outputs {
        durable::create_parent(target)
            .with_context(|| format!("cannot create the folder of {}", target.display()))?;
    }
    let files: Vec<(&Path, &[u8])> = outputs
        .iter()
        .map(|(p, t)| (p.as_path(), t.as_bytes()))
        .collect();
    let names: Vec<String> = outputs
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    durable::write_all(&files).with_context(|| format!("cannot write {}", names.join(", ")))
}

fn table_of<'a>(ctx: &str, key: &str, v: &'a toml::Value) -> Result<&'a toml::Table> {
    v.as_table()
        .ok_or_else(|| anyhow!("{ctx}: `{key}` must be a table ([{key}]), got {v}"))
}

fn parse_config(text: &str) -> Result<Config> {
    let root: toml::Table = text.parse().map_err(|e: toml::de::Error| anyhow!("{e}"))?;
    let mut h = Hyper::new("top level", &root);
    let steps = h.usize("steps", DEFAULT_STEPS)?;
    if steps == 0 || steps > MAX_STEPS {
        bail!("top level: `steps` = {steps} is invalid: must be in 1..={MAX_STEPS}");
    }
    let problem = h.raw("problem");
    let optimizer = h.raw("optimizer");
    let optimizers = h.raw("optimizers");
    let clip = h.raw("clip");
    let schedule = h.raw("schedule");
    h.finish()?;

    // [problem]
    let problem = problem.ok_or_else(|| anyhow!("missing required table [problem]"))?;
    let problem = table_of("top level", "problem", problem)?;
    let mut ph = Hyper::new("[problem]", problem);
    let fname = match ph.raw("function") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(v) => bail!(
            "[problem]: `function` = {v} is invalid: expected a string, one of {}",
            functions::NAMES.join(", ")
        ),
        None => bail!(
            "[problem]: missing required field `function` (one of {})",
            functions::NAMES.join(", ")
        ),
    };
    let matrix = ph.raw("matrix");
    let vector = ph.raw("vector");
    let start = ph.raw("start");
    ph.finish()?;
    let function = functions::parse("[problem]", &fname, matrix, vector)?;
    let start = match start {
        Some(v) => functions::numbers(v).ok_or_else(|| {
            anyhow!("[problem]: `start` = {v} is invalid: expected a list of finite numbers")
        })?,
        None => function.default_start(),
    };
    function
        .check_dim(start.len())
        .map_err(|e| anyhow!("[problem]: {e}"))?;

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
            bail!("give either one [optimizer] or several [[optimizers]], not both")
        }
        (None, None) => bail!("missing [optimizer] (or several [[optimizers]] tables to compare)"),
        (Some(v), None) => (
            vec![("[optimizer]".into(), table_of("top level", "optimizer", v)?)],
            true,
        ),
        (None, Some(v)) => {
            let arr = v.as_array().ok_or_else(|| {
                anyhow!("top level: `optimizers` must be a list of tables ([[optimizers]])")
            })?;
            if arr.is_empty() {
                bail!("top level: `optimizers` is empty");
            }
            let mut out = Vec::new();
            for (i, t) in arr.iter().enumerate() {
                let ctx = format!("[[optimizers]] #{}", i + 1);
                let t = t
                    .as_table()
                    .ok_or_else(|| anyhow!("{ctx}: expected a table, got {t}"))?;
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
            Some(v) => bail!("{ctx}: `label` = {v} is invalid: expected a string"),
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

fn is_bad(w: &[f64]) -> Option<&'static str> {
    if w.iter().any(|x| !x.is_finite()) {
        Some("non-finite parameters")
    } else if w.iter().any(|x| x.abs() > BLOWUP) {
        Some("|params| > 1e12")
    } else {
        None
    }
}

/// Runs one optimizer for `cfg.steps` steps (or until it diverges).
fn simulate(cfg: &Config, spec: &RunSpec) -> Result<Run> {
    let mut recipe = optim::optimizers::from_table::<f64>(
        &spec.context,
        &spec.table,
        &["clip", "schedule", "label"],
    )?;
    let mut clipping = None;
    if let Some((ctx, t)) = &spec.clip {
        let cc = ClipConfig::from_toml(ctx, t)?;
        recipe.chain = cc.wrap(recipe.chain)?;
        clipping = Some(cc.global);
    }
    let mut params = ParamStore::single("w", cfg.start.clone());
    let mut opt = Optimizer::new(recipe, &params)?;
    if let Some(c) = clipping {
        opt.set_clipping(c)?;
    }
    let mut sched: Option<Box<dyn LrSchedule>> = match &spec.schedule {
        Some((ctx, t)) => {
            // The momentum a schedule may drive: SGD's `momentum` or Adam-style `betas[0]`.
            let initial_momentum = spec
                .table
                .get("momentum")
                .and_then(toml::Value::as_float)
                .or_else(|| spec.table.get("betas")?.as_array()?.first()?.as_float());
            Some(optim::schedule::from_table(
                ctx,
                t,
                &opt.lrs(),
                initial_momentum,
            )?)
        }
        None => None,
    };
    if let Some(s) = &sched {
        optim::schedule::apply(&**s, &mut opt);
    }

    let f = &cfg.function;
    let n = cfg.start.len();
    let mut run = Run {
        label: spec.label.clone(),
        optimizer: spec.name.clone(),
        ..Default::default()
    };
    let mut g = vec![0.0; n];
    for step in 1..=cfg.steps {
        let w = params.value(0).to_vec();
        let loss = f.value(&w);
        f.grad(&w, &mut g);
        params.set_grad(0, &g);
        run.losses.push(loss);
        run.lr.push(opt.lrs()[0]);
        opt.step(&mut params)?;
        let w = params.value(0).to_vec();
        let reason = if !loss.is_finite() || g.iter().any(|x| !x.is_finite()) {
            Some("non-finite loss or gradient")
        } else {
            is_bad(&w)
        };
        if run.first_nonfinite_step.is_none()
            && (!loss.is_finite() || w.iter().any(|x| !x.is_finite()))
        {
            run.first_nonfinite_step = Some(step);
        }
        run.params.push(w);
        if let Some(r) = reason {
            run.diverged = true;
            run.stop_reason = Some(r.to_string());
            break;
        }
        if let Some(s) = &mut sched {
            s.step(Some(loss))?;
            optim::schedule::apply(&**s, &mut opt);
        }
    }
    run.final_loss = f.value(params.value(0));
    Ok(run)
}

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

fn to_json(cfg: &Config, runs: &[Run]) -> Value {
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

    fn cfg(text: &str) -> Config {
        parse_config(text).unwrap()
    }

    #[test]
    fn sgd_run_matches_hand_computed_steps() {
        // f = x² − y² from (1, 0.5), lr 0.1: g = (2x, −2y), so each step x ← 0.8x, y ← 1.2y.
        let c = cfg("steps = 3\n[problem]\nfunction = \"saddle\"\nstart = [1.0, 0.5]\n[optimizer]\nname = \"sgd\"\nlr = 0.1\n");
        let r = simulate(&c, &c.runs[0]).unwrap();
        assert_eq!(r.params.len(), 3);
        let expect = [[0.8, 0.6], [0.64, 0.72], [0.512, 0.864]];
        for (p, e) in r.params.iter().zip(expect) {
            assert!(
                (p[0] - e[0]).abs() < 1e-15 && (p[1] - e[1]).abs() < 1e-15,
                "{p:?} vs {e:?}"
            );
        }
        // losses at the points where the gradients were taken: 1 − 0.25, 0.64 − 0.36, ...
        assert!((r.losses[0] - 0.75).abs() < 1e-15 && (r.losses[1] - 0.28).abs() < 1e-15);
        assert_eq!(r.lr, vec![0.1; 3]);
        assert!(!r.diverged && r.first_nonfinite_step.is_none());
    }

    #[test]
    fn momentum_matches_pytorch_rule() {
        // 1-D rastrigin is awkward; use a quadratic ½·2w² − 0·w: g = 2w. momentum 0.9, lr 0.1:
        // b1 = g0 = 2, w1 = 1 − 0.2 = 0.8; g1 = 1.6, b2 = 1.8 + 1.6 = 3.4, w2 = 0.8 − 0.34 = 0.46
        let c = cfg("steps = 2\n[problem]\nfunction = \"quadratic\"\nmatrix = [[2.0]]\nvector = [0.0]\nstart = [1.0]\n[optimizer]\nname = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n");
        let r = simulate(&c, &c.runs[0]).unwrap();
        assert!((r.params[0][0] - 0.8).abs() < 1e-15);
        assert!((r.params[1][0] - 0.46).abs() < 1e-15, "{:?}", r.params);
    }

    #[test]
    fn cosine_schedule_and_clipping_are_applied() {
        let c = cfg("steps = 4\n[problem]\nfunction = \"saddle\"\nstart = [10.0, 0.0]\n[optimizer]\nname = \"sgd\"\nlr = 0.1\n[clip]\nmax_norm = 1.0\n[schedule]\nname = \"cosine\"\nt_max = 4\neta_min = 0.0\n");
        let r = simulate(&c, &c.runs[0]).unwrap();
        // lr_t = 0.05 (1 + cos(π t / 4))
        for (t, lr) in r.lr.iter().enumerate() {
            let e = 0.05 * (1.0 + (std::f64::consts::PI * t as f64 / 4.0).cos());
            assert!((lr - e).abs() < 1e-15, "step {t}: {lr} vs {e}");
        }
        // gradient (20, 0) is clipped to norm 1/(20 + 1e-6)·20 ≈ 1, so x moves by ≈ lr.
        assert!((r.params[0][0] - (10.0 - 0.1 * 20.0 / (20.0 + 1e-6))).abs() < 1e-12);
    }

    #[test]
    fn divergence_stops_the_run() {
        let c = cfg("steps = 10\n[problem]\nfunction = \"rosenbrock\"\n[optimizer]\nname = \"sgd\"\nlr = 1.0\n");
        let r = simulate(&c, &c.runs[0]).unwrap();
        assert!(r.diverged && r.params.len() < 10, "{r:?}");
        assert_eq!(r.params.len(), r.losses.len());
        assert_eq!(r.params.len(), r.lr.len());
    }

    #[test]
    fn labels_default_and_deduplicate() {
        let c = cfg("[problem]\nfunction = \"beale\"\n[[optimizers]]\nname = \"sgd\"\nlr = 0.01\n[[optimizers]]\nname = \"sgd\"\nlr = 0.01\n[[optimizers]]\nname = \"sgd\"\nlabel = \"mine\"\n[optimizers.clip]\nvalue = 1.0\n");
        let labels: Vec<&str> = c.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["sgd (lr=0.01)", "sgd (lr=0.01) (2)", "mine"]);
        assert!(c.runs[2].clip.is_some() && c.runs[0].clip.is_none());
        assert_eq!(c.start, vec![1.0, 1.5]);
        assert_eq!(c.steps, DEFAULT_STEPS);
    }

    #[test]
    fn config_errors_name_the_problem() {
        let e = |s: &str| format!("{:#}", parse_config(s).err().expect("should fail"));
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

    #[test]
    fn nonfinite_numbers_become_strings() {
        assert_eq!(num(f64::NAN), Value::from("NaN"));
        assert_eq!(num(f64::INFINITY), Value::from("Infinity"));
        assert_eq!(num(f64::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(num(1.5), json!(1.5));
    }
}
