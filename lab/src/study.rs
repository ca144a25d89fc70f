//! Study files: problems, optimizers with search spaces, seeds and a tuning protocol.
//!
//! A study is a TOML file. Every key is checked strictly: an unknown key is an error that lists
//! the valid ones, and every error names the file, the field (`optimizers[3].lr`, indices count
//! from 0) and the bad value. Each problem × optimizer pair is turned into a complete run config
//! and checked (`train::RunConfig::from_table`, the optimizer and its schedule are built) when
//! the study is read, so a misspelt hyperparameter fails before any run starts.
//!
//! ```toml
//! name = "my-study"            # letters, digits, `-`, `_`, `.`
//! seeds = [0, 1, 2]            # default [0]; the first one is the tuning seed
//!
//! [tuning]                     # leave out for protocol = "defaults"
//! protocol = "budget"          # the default here; or "defaults": one setting at every seed
//! trials = 6                   # settings per optimizer (budget; default 6)
//! metric = "val_accuracy"      # last epoch's value picks the best trial (default val_accuracy)
//! mode = "max"                 # optional: inferred (accuracy: max, loss: min)
//! sample_seed = 0              # which random settings are drawn
//!
//! [[problems]]
//! name = "mnist1d_mlp"
//! config = "../examples/train/mnist1d_mlp.toml"   # a run config, relative to the study file
//! set = ["train.epochs=15"]                        # optional overrides (like --set)
//! target = { metric = "test_accuracy", value = 0.55 }  # optional: "reached" for speed tables
//!
//! [[problems]]                 # ... or the run config's sections inline
//! name = "digits_mlp"
//! target = { metric = "test_accuracy", value = 0.95 }
//! [problems.data]
//! dataset = "digits"
//! batch_size = 32
//! validation_split = 0.1
//! standardize = true
//! [[problems.model.layers]]
//! type = "flatten"
//! [[problems.model.layers]]
//! type = "linear"
//! out_features = 10
//! [problems.train]
//! epochs = 15
//!
//! [[optimizers]]
//! label = "momentum"           # unique; defaults to `name`
//! name = "sgd"                 # the [optimizer] name gradlab trains with
//! lr = { log_uniform = [1e-3, 1.0] }
//! momentum = 0.9               # a fixed value
//! [optimizers.schedule]        # optional: replaces the problem's [schedule] for this optimizer
//! name = "cosine"
//!
//! [[optimizers]]
//! name = "adamw"
//! lr = { log_uniform = [1e-5, 1e-2] }
//! betas = { grid = [[0.9, 0.999], [0.9, 0.99]] }
//! weight_decay = { uniform = [0.0, 0.1] }
//! ```
//!
//! A hyperparameter (or a `[optimizers.schedule]` key, named `schedule.KEY` in the run's
//! parameters) is a fixed value, `{ grid = [...] }`, `{ uniform = [lo, hi] }` or
//! `{ log_uniform = [lo, hi] }` (lo > 0).
//!
//! Problem sections: `config` (a run config file) or the inline sections `data`, `model`,
//! `train`, `clip`, `schedule`, `log`, not both; a file's `[optimizer]` and `seed` are replaced
//! per run. Relative dataset and `model.init` paths resolve against the study file's folder
//! (inline) or the config file's folder.
//!
//! Settings. *Defaults*: fixed values, the first grid value, the geometric middle of a
//! log-uniform range, the middle of a uniform range; run at every seed (phase `defaults`).
//! *Budget*: `trials` settings per optimizer at the first seed (phase `tune`): grids walk their
//! cartesian product in order (cycling when ranges are searched too; otherwise at most the
//! product's size), ranges are sampled from a ChaCha8 stream seeded by (`sample_seed`, label),
//! so every problem gets the same settings. Sampled floats are rounded to 4 significant digits.
//! When all trials of a problem × optimizer are finished, the best one (diverged and failed
//! trials rank last; ties go to the earlier trial) is re-run at every seed (phase `final`; at the
//! tuning seed it is the trial itself, same key).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{LabError, Phase, Result, RunRecord, RunSpec, RunState};

/// A problem: a base run config (data + model + epochs) that every optimizer trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub name: String,
    /// The base run config as a TOML table (its `[optimizer]` is replaced per run).
    pub config: toml::Table,
    /// The metric whose target marks "reached" (`test_accuracy`, `val_loss`, ...).
    pub target_metric: String,
    /// The target value (reached when ≥ for accuracies, ≤ for losses).
    pub target: Option<f64>,
}

/// How one hyperparameter is searched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Space {
    /// A fixed value.
    Fixed(toml::Value),
    /// A grid of values (a TOML array).
    Grid(Vec<toml::Value>),
    /// Uniform in [lo, hi].
    Uniform(f64, f64),
    /// Log-uniform in [lo, hi].
    LogUniform(f64, f64),
}

/// An optimizer of the study and its search space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpace {
    /// The study's label (unique): `sgd`, `momentum`, `nesterov`, ...
    pub label: String,
    /// The `[optimizer] name` gradlab trains with.
    pub name: String,
    /// Hyperparameter → space, in file order (`lr`, `momentum`, `betas`, `weight_decay`, ...).
    /// Searched keys of the schedule appear here as `schedule.KEY`.
    pub space: Vec<(String, Space)>,
    /// An optional `[schedule]` table, fixed or with searched keys (the searched ones are in
    /// `space` as `schedule.KEY`; this table holds the fixed ones).
    pub schedule: Option<toml::Table>,
}

/// How settings are chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Protocol {
    /// Each optimizer's defaults (fixed values in its space; the first grid value; the
    /// geometric middle of a range), once per seed.
    Defaults,
    /// `trials` settings per optimizer (the grid in order, or random samples) at the tuning
    /// seed; the best by `metric` is re-run at every seed.
    Budget { trials: u32 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    pub protocol: Protocol,
    /// The metric that picks the best trial (`val_accuracy` by default) and its direction.
    pub metric: String,
    pub higher_is_better: bool,
    /// Seed of the random search (which settings are sampled).
    pub sample_seed: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Study {
    pub name: String,
    /// The file it came from (for messages), or `<default study>`.
    pub source: String,
    /// The exact text it was read from (stored with the study, so a changed file is noticed).
    pub text: String,
    pub seeds: Vec<u64>,
    pub problems: Vec<Problem>,
    pub optimizers: Vec<OptimizerSpace>,
    pub tuning: Tuning,
}

/// The text of `lab/studies/default.toml`.
pub const DEFAULT_STUDY: &str = include_str!("../studies/default.toml");
/// [`Study::source`] of the default study.
pub const DEFAULT_SOURCE: &str = "<default study>";

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "seeds",
    "tuning",
    "problems",
    "optimizers",
];
const TUNING_KEYS: &[&str] = &["protocol", "trials", "metric", "mode", "sample_seed"];
const RUN_SECTIONS: &[&str] = &["data", "model", "train", "clip", "schedule", "log"];
const PROBLEM_KEYS: &[&str] = &[
    "name", "config", "set", "target", "data", "model", "train", "clip", "schedule", "log",
];
const TARGET_KEYS: &[&str] = &["metric", "value"];
const SPACE_KEYS: &[&str] = &["grid", "uniform", "log_uniform"];
const DEFAULT_TRIALS: u32 = 6;

/// One setting: hyperparameter → value, in the space's order.
type Setting = Vec<(String, toml::Value)>;

/// The stable key of a run: the first 16 hex digits of the SHA-256 of the canonical JSON (keys
/// sorted, no spaces) of `{"optimizer", "params", "problem", "seed"}`.
pub fn run_key(
    problem: &str,
    optimizer: &str,
    params: &BTreeMap<String, serde_json::Value>,
    seed: u64,
) -> String {
    let v = serde_json::json!({
        "problem": problem,
        "optimizer": optimizer,
        "params": params,
        "seed": seed,
    });
    let mut s = String::new();
    canonical_json(&v, &mut s);
    let digest = Sha256::digest(s.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push(':');
                canonical_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A TOML value as JSON (datetimes as strings; non-finite floats as null).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// `x` rounded to 4 significant digits.
pub fn round_sig4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.3e}").parse().unwrap_or(x)
}

/// A value for messages: TOML's inline form.
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{k} = {}", show(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        toml::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(show).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// Reads one study file, remembering which file for messages.
struct Reader {
    file: String,
}

impl Reader {
    fn err(&self, message: impl Into<String>) -> LabError {
        LabError::Study {
            file: self.file.clone(),
            message: message.into(),
        }
    }

    /// `{field} = {value}: {why}`.
    fn bad(&self, field: &str, value: impl Display, why: &str) -> LabError {
        self.err(format!("{field} = {value}: {why}"))
    }

    fn unknown(&self, section: &str, key: &str, valid: &[&str]) -> LabError {
        let at = if section.is_empty() {
            format!("`{key}`")
        } else {
            format!("{section}.{key}")
        };
        self.err(format!("unknown key {at} (valid: {})", valid.join(", ")))
    }

    fn check_keys(&self, section: &str, t: &toml::Table, valid: &[&str]) -> Result<()> {
        match t.keys().find(|k| !valid.contains(&k.as_str())) {
            Some(k) => Err(self.unknown(section, k, valid)),
            None => Ok(()),
        }
    }

    fn name(&self, field: &str, v: &toml::Value) -> Result<String> {
        match v {
            toml::Value::String(s)
                if !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    && !s.starts_with('.') =>
            {
                Ok(s.clone())
            }
            _ => Err(self.bad(
                field,
                show(v),
                "expected a name of letters, digits, `-`, `_` and `.` (used in folder names)",
            )),
        }
    }

    fn seed(&self, field: &str, v: &toml::Value) -> Result<u64> {
        match v {
            toml::Value::Integer(i) if *i >= 0 => Ok(*i as u64),
            _ => Err(self.bad(field, show(v), "expected an integer >= 0")),
        }
    }

    fn number(&self, field: &str, v: &toml::Value) -> Result<f64> {
        match v {
            toml::Value::Float(x) if x.is_finite() => Ok(*x),
            toml::Value::Integer(i) => Ok(*i as f64),
            _ => Err(self.bad(field, show(v), "expected a finite number")),
        }
    }

    fn read(&self, text: &str, base_dir: &Path) -> Result<Study> {
        let top: toml::Table = text
            .parse()
            .map_err(|e| self.err(format!("not valid TOML: {e}")))?;
        self.check_keys("", &top, TOP_KEYS)?;
        let name = match top.get("name") {
            Some(v) => self.name("name", v)?,
            None => return Err(self.err("missing `name` (e.g. name = \"my-study\")")),
        };
        if let Some(v) = top.get("description") {
            if !v.is_str() {
                return Err(self.bad("description", show(v), "expected a string"));
            }
        }
        let seeds = match top.get("seeds") {
            None => vec![0],
            Some(toml::Value::Array(a)) if a.is_empty() => {
                return Err(self.bad("seeds", "[]", "expected at least one seed"))
            }
            Some(toml::Value::Array(a)) => {
                let mut seeds = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    let s = self.seed(&format!("seeds[{i}]"), v)?;
                    if seeds.contains(&s) {
                        return Err(self.bad(&format!("seeds[{i}]"), s, "duplicate seed"));
                    }
                    seeds.push(s);
                }
                seeds
            }
            Some(v) => {
                return Err(self.bad("seeds", show(v), "expected a list of seeds like [0, 1, 2]"))
            }
        };
        let tuning = match top.get("tuning") {
            None => Tuning {
                protocol: Protocol::Defaults,
                metric: "val_accuracy".into(),
                higher_is_better: true,
                sample_seed: 0,
            },
            Some(toml::Value::Table(t)) => self.tuning(t)?,
            Some(v) => return Err(self.bad("tuning", show(v), "expected a [tuning] table")),
        };
        let problems = match top.get("problems") {
            Some(toml::Value::Array(a)) if !a.is_empty() => {
                let mut ps: Vec<Problem> = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    let field = format!("problems[{i}]");
                    let t = v.as_table().ok_or_else(|| {
                        self.bad(&field, show(v), "expected a [[problems]] table")
                    })?;
                    let p = self.problem(&field, t, base_dir)?;
                    if ps.iter().any(|q| q.name == p.name) {
                        return Err(self.bad(
                            &format!("{field}.name"),
                            format!("{:?}", p.name),
                            "duplicate problem name",
                        ));
                    }
                    ps.push(p);
                }
                ps
            }
            Some(v) => {
                return Err(self.bad(
                    "problems",
                    show(v),
                    "expected one or more [[problems]] tables",
                ))
            }
            None => return Err(self.err("missing [[problems]] (at least one problem)")),
        };
        let optimizers = match top.get("optimizers") {
            Some(toml::Value::Array(a)) if !a.is_empty() => {
                let mut os: Vec<OptimizerSpace> = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    let field = format!("optimizers[{i}]");
                    let t = v.as_table().ok_or_else(|| {
                        self.bad(&field, show(v), "expected an [[optimizers]] table")
                    })?;
                    let o = self.optimizer(&field, t)?;
                    if os.iter().any(|q| q.label == o.label) {
                        return Err(self.bad(
                            &format!("{field}.label"),
                            format!("{:?}", o.label),
                            "duplicate optimizer label (give each entry its own `label`)",
                        ));
                    }
                    os.push(o);
                }
                os
            }
            Some(v) => {
                return Err(self.bad(
                    "optimizers",
                    show(v),
                    "expected one or more [[optimizers]] tables",
                ))
            }
            None => return Err(self.err("missing [[optimizers]] (at least one optimizer)")),
        };
        let study = Study {
            name,
            source: self.file.clone(),
            text: text.to_string(),
            seeds,
            problems,
            optimizers,
            tuning,
        };
        self.validate(&study)?;
        Ok(study)
    }

    fn tuning(&self, t: &toml::Table) -> Result<Tuning> {
        self.check_keys("tuning", t, TUNING_KEYS)?;
        let protocol = match t.get("protocol") {
            None => "budget",
            Some(toml::Value::String(s)) if s == "budget" || s == "defaults" => s.as_str(),
            Some(v) => {
                return Err(self.bad(
                    "tuning.protocol",
                    show(v),
                    "expected \"budget\" or \"defaults\"",
                ))
            }
        };
        let protocol = match (protocol, t.get("trials")) {
            ("defaults", None) => Protocol::Defaults,
            ("defaults", Some(v)) => {
                return Err(self.bad(
                    "tuning.trials",
                    show(v),
                    "only protocol = \"budget\" has trials",
                ))
            }
            (_, None) => Protocol::Budget {
                trials: DEFAULT_TRIALS,
            },
            (_, Some(toml::Value::Integer(i))) if *i >= 1 && *i <= 100_000 => {
                Protocol::Budget { trials: *i as u32 }
            }
            (_, Some(v)) => {
                return Err(self.bad(
                    "tuning.trials",
                    show(v),
                    "expected an integer >= 1 (settings tried per optimizer)",
                ))
            }
        };
        let metric = match t.get("metric") {
            None => "val_accuracy".to_string(),
            Some(toml::Value::String(s)) if train::config::METRICS.contains(&s.as_str()) => {
                s.clone()
            }
            Some(v) => {
                return Err(self.bad(
                    "tuning.metric",
                    show(v),
                    &format!("expected one of {}", train::config::METRICS.join(", ")),
                ))
            }
        };
        let higher_is_better = match t.get("mode") {
            None => metric.ends_with("accuracy"),
            Some(toml::Value::String(s)) if s == "max" => true,
            Some(toml::Value::String(s)) if s == "min" => false,
            Some(v) => return Err(self.bad("tuning.mode", show(v), "expected \"max\" or \"min\"")),
        };
        let sample_seed = match t.get("sample_seed") {
            None => 0,
            Some(v) => self.seed("tuning.sample_seed", v)?,
        };
        Ok(Tuning {
            protocol,
            metric,
            higher_is_better,
            sample_seed,
        })
    }

    fn problem(&self, field: &str, t: &toml::Table, base_dir: &Path) -> Result<Problem> {
        self.check_keys(field, t, PROBLEM_KEYS)?;
        let name = match t.get("name") {
            Some(v) => self.name(&format!("{field}.name"), v)?,
            None => return Err(self.err(format!("{field}: missing `name`"))),
        };
        let inline: Vec<&str> = RUN_SECTIONS
            .iter()
            .copied()
            .filter(|s| t.contains_key(*s))
            .collect();
        let (mut config, dir) = match t.get("config") {
            Some(toml::Value::String(p)) => {
                if !inline.is_empty() {
                    return Err(self.err(format!(
                        "{field} ({name}): give `config` or inline sections ({}), not both; use `set` to change the file's values",
                        inline.join(", ")
                    )));
                }
                let path = base_dir.join(p);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    self.bad(
                        &format!("{field}.config"),
                        format!("{p:?}"),
                        &format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let table: toml::Table = text.parse().map_err(|e| {
                    self.bad(
                        &format!("{field}.config"),
                        format!("{p:?}"),
                        &format!("{} is not valid TOML: {e}", path.display()),
                    )
                })?;
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (table, dir)
            }
            Some(v) => {
                return Err(self.bad(
                    &format!("{field}.config"),
                    show(v),
                    "expected a run config path",
                ))
            }
            None => {
                if !t.contains_key("data") || !t.contains_key("model") || !t.contains_key("train") {
                    return Err(self.err(format!(
                        "{field} ({name}): give `config = \"run.toml\"` or inline [problems.data], [problems.model] and [problems.train]"
                    )));
                }
                let table: toml::Table = inline
                    .iter()
                    .map(|s| (s.to_string(), t[*s].clone()))
                    .collect();
                (table, base_dir.to_path_buf())
            }
        };
        if let Some(v) = t.get("set") {
            let set: Vec<String> = match v {
                toml::Value::Array(a) if a.iter().all(|x| x.is_str()) => a
                    .iter()
                    .map(|x| x.as_str().unwrap_or_default().to_string())
                    .collect(),
                _ => {
                    return Err(self.bad(
                        &format!("{field}.set"),
                        show(v),
                        "expected a list of \"key=value\" strings",
                    ))
                }
            };
            train::apply_overrides(&mut config, &set)
                .map_err(|e| self.err(format!("{field}.set ({name}): {e}")))?;
        }
        config.remove("optimizer");
        config.remove("seed");
        absolutize_paths(&mut config, &dir);
        let (target_metric, target) = match t.get("target") {
            None => ("test_accuracy".to_string(), None),
            Some(toml::Value::Table(tt)) => {
                let f = format!("{field}.target");
                self.check_keys(&f, tt, TARGET_KEYS)?;
                let metric = match tt.get("metric") {
                    None => "test_accuracy".to_string(),
                    Some(toml::Value::String(s))
                        if train::config::METRICS.contains(&s.as_str()) =>
                    {
                        s.clone()
                    }
                    Some(v) => {
                        return Err(self.bad(
                            &format!("{f}.metric"),
                            show(v),
                            &format!("expected one of {}", train::config::METRICS.join(", ")),
                        ))
                    }
                };
                let value = match tt.get("value") {
                    Some(v) => self.number(&format!("{f}.value"), v)?,
                    None => {
                        return Err(self.err(format!(
                            "{f}: missing `value` (e.g. target = {{ metric = \"test_accuracy\", value = 0.9 }})"
                        )))
                    }
                };
                (metric, Some(value))
            }
            Some(v) => {
                return Err(self.bad(
                    &format!("{field}.target"),
                    show(v),
                    "expected { metric = \"test_accuracy\", value = 0.9 }",
                ))
            }
        };
        Ok(Problem {
            name,
            config,
            target_metric,
            target,
        })
    }

    fn optimizer(&self, field: &str, t: &toml::Table) -> Result<OptimizerSpace> {
        let name = match t.get("name") {
            Some(toml::Value::String(s)) if optim::optimizers::NAMES.contains(&s.as_str()) => {
                s.clone()
            }
            Some(v) => {
                return Err(self.bad(
                    &format!("{field}.name"),
                    show(v),
                    &format!(
                        "unknown optimizer (valid: {})",
                        optim::optimizers::NAMES.join(", ")
                    ),
                ))
            }
            None => {
                return Err(self.err(format!(
                    "{field}: missing `name` (one of {})",
                    optim::optimizers::NAMES.join(", ")
                )))
            }
        };
        let label = match t.get("label") {
            Some(v) => self.name(&format!("{field}.label"), v)?,
            None => name.clone(),
        };
        let mut space = Vec::new();
        let mut schedule = None;
        for (k, v) in t {
            match k.as_str() {
                "name" | "label" => {}
                "schedule" => {
                    let st = v.as_table().ok_or_else(|| {
                        self.bad(
                            &format!("{field}.schedule"),
                            show(v),
                            "expected an [optimizers.schedule] table",
                        )
                    })?;
                    let mut fixed = toml::Table::new();
                    for (sk, sv) in st {
                        let f = format!("{field}.schedule.{sk}");
                        match self.space(&f, sv)? {
                            Space::Fixed(x) => {
                                fixed.insert(sk.clone(), x);
                            }
                            s => space.push((format!("schedule.{sk}"), s)),
                        }
                    }
                    schedule = Some(fixed);
                }
                _ => space.push((k.clone(), self.space(&format!("{field}.{k}"), v)?)),
            }
        }
        Ok(OptimizerSpace {
            label,
            name,
            space,
            schedule,
        })
    }

    /// A hyperparameter's value: fixed, or a `{ grid | uniform | log_uniform = ... }` table.
    fn space(&self, field: &str, v: &toml::Value) -> Result<Space> {
        let t = match v {
            toml::Value::Table(t) if t.keys().any(|k| SPACE_KEYS.contains(&k.as_str())) => t,
            other => return Ok(Space::Fixed(other.clone())),
        };
        if t.len() != 1 {
            return Err(self.bad(
                field,
                show(v),
                "a search space has exactly one of grid = [...], uniform = [lo, hi], log_uniform = [lo, hi]",
            ));
        }
        let (k, x) = t.iter().next().expect("one key");
        let f = format!("{field}.{k}");
        if k == "grid" {
            return match x {
                toml::Value::Array(a) if !a.is_empty() => Ok(Space::Grid(a.clone())),
                _ => Err(self.bad(&f, show(x), "expected a non-empty list of values")),
            };
        }
        let (lo, hi) = match x {
            toml::Value::Array(a) if a.len() == 2 => {
                (self.number(&f, &a[0])?, self.number(&f, &a[1])?)
            }
            _ => return Err(self.bad(&f, show(x), "expected [lo, hi]")),
        };
        if lo >= hi {
            return Err(self.bad(&f, show(x), "expected lo < hi"));
        }
        if k == "log_uniform" {
            if lo <= 0.0 {
                return Err(self.bad(&f, show(x), "a log range needs lo > 0"));
            }
            Ok(Space::LogUniform(lo, hi))
        } else {
            Ok(Space::Uniform(lo, hi))
        }
    }

    /// Builds every problem × optimizer run config at the default setting (and every optimizer
    /// at every tuning setting), so that mistakes surface before any run starts.
    fn validate(&self, s: &Study) -> Result<()> {
        if let Protocol::Budget { .. } = s.tuning.protocol {
            if s.tuning.metric.starts_with("val_") {
                for (i, p) in s.problems.iter().enumerate() {
                    let has_val = p
                        .config
                        .get("data")
                        .and_then(|d| d.get("validation_split"))
                        .is_some();
                    if !has_val {
                        return Err(self.err(format!(
                            "tuning.metric = \"{}\" needs a validation set, but problems[{i}] ({}) has no data.validation_split",
                            s.tuning.metric, p.name
                        )));
                    }
                }
            }
        }
        for (j, o) in s.optimizers.iter().enumerate() {
            let mut settings = vec![("the default setting".to_string(), s.default_setting(o))];
            if s.tuning.protocol != Protocol::Defaults {
                settings.extend(
                    s.trial_settings(o)
                        .into_iter()
                        .enumerate()
                        .map(|(t, x)| (format!("trial {t}"), x)),
                );
            }
            for (what, setting) in &settings {
                let table = optimizer_table(o, setting);
                let ctx = format!("optimizers[{j}] ({})", o.label);
                optim::optimizers::from_table::<f32>(&ctx, &table, &["groups"]).map_err(|e| {
                    let detail = match e {
                        optim::OptimError::InvalidValue {
                            field,
                            value,
                            reason,
                            ..
                        } => format!("optimizers[{j}].{field} = {value}: {reason}"),
                        optim::OptimError::Unknown { name, valid, .. } => {
                            let valid: Vec<&str> =
                                valid.split(", ").filter(|k| *k != "name").collect();
                            format!(
                                "unknown key optimizers[{j}].{name} for optimizer `{}` (valid: label, name, schedule, {})",
                                o.name,
                                valid.join(", ")
                            )
                        }
                        other => other.to_string(),
                    };
                    self.err(format!("{detail} (label {:?}, {what})", o.label))
                })?;
            }
            for (i, p) in s.problems.iter().enumerate() {
                let setting = s.default_setting(o);
                let table = s.config_table(p, o, &setting, s.seeds[0]);
                let source = format!(
                    "problems[{i}] ({}) with optimizers[{j}] ({})",
                    p.name, o.label
                );
                let cfg = train::RunConfig::from_table(&source, table, Path::new("."), &p.name)
                    .map_err(|e| self.err(e.to_string()))?;
                if let Some(sc) = &cfg.schedule {
                    // The trainer fills these spans in from the run's length.
                    let mut st = sc.table.clone();
                    let span = match st.get("name").and_then(|v| v.as_str()) {
                        Some("cosine") => Some("t_max"),
                        Some("one_cycle") => Some("total_steps"),
                        _ => None,
                    };
                    if let Some(key) = span {
                        st.entry(key).or_insert(toml::Value::Integer(100));
                    }
                    let lr = cfg
                        .optimizer
                        .get("lr")
                        .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
                        .unwrap_or(1e-3);
                    optim::schedule::from_table(
                        &format!("{source}: [schedule]"),
                        &st,
                        &[lr],
                        Some(0.9),
                    )
                    .map_err(|e| self.err(e.to_string()))?;
                }
            }
        }
        Ok(())
    }
}

/// Makes relative dataset files, `data.test` and `model.init` absolute (against `dir`), so that a
/// run config works from any working directory. Dataset names (bundled, synthetic) stay names.
fn absolutize_paths(config: &mut toml::Table, dir: &Path) {
    let fix = |v: &mut toml::Value| {
        if let toml::Value::String(s) = v {
            let p = Path::new(s.as_str());
            if p.is_relative() && !s.is_empty() {
                let joined = dir.join(p);
                *s = std::path::absolute(&joined)
                    .unwrap_or(joined)
                    .display()
                    .to_string();
            }
        }
    };
    if let Some(toml::Value::Table(d)) = config.get_mut("data") {
        if let Some(v) = d.get_mut("dataset") {
            // A path, not a (possibly misspelt) name: the message then shows what was written.
            let path_like = v.as_str().is_some_and(|s| {
                !is_dataset_name(s)
                    && (s.contains(['/', '\\']) || s.contains('.') || dir.join(s).exists())
            });
            if path_like {
                fix(v);
            }
        }
        if let Some(v) = d.get_mut("test") {
            fix(v);
        }
    }
    if let Some(toml::Value::Table(m)) = config.get_mut("model") {
        if let Some(v) = m.get_mut("init") {
            fix(v);
        }
    }
}

/// Whether `[data] dataset = name` names a bundled or synthetic dataset (rather than a path),
/// as the run config reader decides it.
fn is_dataset_name(name: &str) -> bool {
    let mut t = toml::Table::new();
    t.insert("dataset".into(), toml::Value::String(name.to_string()));
    matches!(
        train::data::DataConfig::from_table("", &t, Path::new("")).map(|d| d.source),
        Ok(train::data::Source::Bundled(_) | train::data::Source::Synthetic(..))
    )
}

/// The `[optimizer]` table of a setting (`schedule.*` keys excluded).
fn optimizer_table(o: &OptimizerSpace, setting: &Setting) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String(o.name.clone()));
    for (k, v) in setting {
        if !k.starts_with("schedule.") {
            t.insert(k.clone(), v.clone());
        }
    }
    t
}

fn params_of(setting: &Setting) -> BTreeMap<String, serde_json::Value> {
    setting
        .iter()
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect()
}

/// A uniform draw in [0, 1) from the top 53 bits of the next word.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl Study {
    /// Reads a study file; relative paths in it are relative to its folder.
    pub fn from_file(path: &Path) -> Result<Study> {
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Study::from_text(&text, &path.display().to_string(), &base)
    }

    /// Reads a study from its text; `source` names it in messages and relative paths resolve
    /// against `base_dir`.
    pub fn from_text(text: &str, source: &str, base_dir: &Path) -> Result<Study> {
        Reader {
            file: source.to_string(),
        }
        .read(text, base_dir)
    }

    /// The default study (bundled datasets), as `gradlab compare` with no argument runs it.
    pub fn default_study() -> Study {
        // The bundled file is checked by the tests; it names only bundled datasets.
        Study::from_text(DEFAULT_STUDY, DEFAULT_SOURCE, Path::new("."))
            .expect("lab/studies/default.toml is a valid study")
    }

    /// The resolved study as canonical JSON (problem configs as read, spaces, seeds, tuning):
    /// unlike `text`, it changes when a referenced run config file changes.
    pub fn definition(&self) -> String {
        let v = serde_json::json!({
            "name": self.name,
            "seeds": self.seeds,
            "problems": self.problems,
            "optimizers": self.optimizers,
            "tuning": self.tuning,
        });
        let mut s = String::new();
        canonical_json(&v, &mut s);
        s
    }

    /// The problem named `name`.
    pub fn problem(&self, name: &str) -> Option<&Problem> {
        self.problems.iter().find(|p| p.name == name)
    }

    /// The optimizer labelled `label`.
    pub fn optimizer(&self, label: &str) -> Option<&OptimizerSpace> {
        self.optimizers.iter().find(|o| o.label == label)
    }

    /// The optimizer's default setting: fixed values, the first grid value, the geometric middle
    /// of a log range, the middle of a uniform range.
    fn default_setting(&self, o: &OptimizerSpace) -> Setting {
        o.space
            .iter()
            .map(|(k, s)| {
                let v = match s {
                    Space::Fixed(v) => v.clone(),
                    Space::Grid(g) => g[0].clone(),
                    Space::Uniform(lo, hi) => toml::Value::Float(round_sig4((lo + hi) / 2.0)),
                    Space::LogUniform(lo, hi) => toml::Value::Float(round_sig4((lo * hi).sqrt())),
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// The optimizer's tuning settings (budget protocol), in trial order.
    fn trial_settings(&self, o: &OptimizerSpace) -> Vec<Setting> {
        let trials = match self.tuning.protocol {
            Protocol::Defaults => return vec![self.default_setting(o)],
            Protocol::Budget { trials } => trials as usize,
        };
        let grid_sizes: Vec<usize> = o
            .space
            .iter()
            .filter_map(|(_, s)| match s {
                Space::Grid(g) => Some(g.len()),
                _ => None,
            })
            .collect();
        let product: usize = grid_sizes
            .iter()
            .try_fold(1usize, |a, &n| a.checked_mul(n))
            .unwrap_or(usize::MAX);
        let sampled = o
            .space
            .iter()
            .any(|(_, s)| matches!(s, Space::Uniform(..) | Space::LogUniform(..)));
        let count = if sampled { trials } else { trials.min(product) };
        let mut h = Sha256::new();
        h.update(format!("gradlab-study/{}/{}", self.tuning.sample_seed, o.label).as_bytes());
        let mut rng = ChaCha8Rng::from_seed(h.finalize().into());
        (0..count)
            .map(|t| {
                // Mixed-radix digits of t mod product, the first grid varying slowest.
                let mut rest = t % product.max(1);
                let mut digits = vec![0usize; grid_sizes.len()];
                for (d, &n) in digits.iter_mut().zip(&grid_sizes).rev() {
                    *d = rest % n;
                    rest /= n;
                }
                let mut gi = 0;
                o.space
                    .iter()
                    .map(|(k, s)| {
                        let v = match s {
                            Space::Fixed(v) => v.clone(),
                            Space::Grid(g) => {
                                gi += 1;
                                g[digits[gi - 1]].clone()
                            }
                            Space::Uniform(lo, hi) => {
                                let x = lo + unit(&mut rng) * (hi - lo);
                                toml::Value::Float(round_sig4(x).clamp(*lo, *hi))
                            }
                            Space::LogUniform(lo, hi) => {
                                let x = (lo.ln() + unit(&mut rng) * (hi.ln() - lo.ln())).exp();
                                toml::Value::Float(round_sig4(x).clamp(*lo, *hi))
                            }
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .collect()
    }

    /// The complete run config of `problem` trained by `o` at `setting` and `seed`.
    fn config_table(
        &self,
        problem: &Problem,
        o: &OptimizerSpace,
        setting: &Setting,
        seed: u64,
    ) -> toml::Table {
        let mut t = problem.config.clone();
        t.insert("seed".into(), toml::Value::Integer(seed as i64));
        t.insert(
            "optimizer".into(),
            toml::Value::Table(optimizer_table(o, setting)),
        );
        let searched: Vec<(&str, &toml::Value)> = setting
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("schedule.").map(|k| (k, v)))
            .collect();
        if o.schedule.is_some() || !searched.is_empty() {
            let mut st = o.schedule.clone().unwrap_or_default();
            for (k, v) in searched {
                st.insert(k.to_string(), v.clone());
            }
            t.insert("schedule".into(), toml::Value::Table(st));
        }
        t
    }

    fn spec(
        &self,
        problem: &Problem,
        o: &OptimizerSpace,
        phase: Phase,
        trial: u32,
        seed: u64,
        setting: &Setting,
    ) -> Result<RunSpec> {
        let params = params_of(setting);
        let key = run_key(&problem.name, &o.label, &params, seed);
        let config =
            toml::to_string(&self.config_table(problem, o, setting, seed)).map_err(|e| {
                LabError::Run {
                    key: key.clone(),
                    problem: problem.name.clone(),
                    optimizer: o.label.clone(),
                    message: format!("cannot write the run config as TOML: {e}"),
                }
            })?;
        Ok(RunSpec {
            key,
            problem: problem.name.clone(),
            optimizer: o.label.clone(),
            phase,
            trial,
            seed,
            params,
            config,
        })
    }

    /// The tuning trials of one problem × optimizer (budget), or its defaults runs.
    fn group_runs(&self, p: &Problem, o: &OptimizerSpace) -> Result<Vec<RunSpec>> {
        let mut out = Vec::new();
        match self.tuning.protocol {
            Protocol::Defaults => {
                let setting = self.default_setting(o);
                for &seed in &self.seeds {
                    out.push(self.spec(p, o, Phase::Defaults, 0, seed, &setting)?);
                }
            }
            Protocol::Budget { .. } => {
                let mut seen = HashSet::new();
                for (t, setting) in self.trial_settings(o).iter().enumerate() {
                    let s = self.spec(p, o, Phase::Tune, t as u32, self.seeds[0], setting)?;
                    if seen.insert(s.key.clone()) {
                        out.push(s);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The runs known before any result: every defaults run, or every tuning trial.
    pub fn initial_runs(&self) -> Result<Vec<RunSpec>> {
        let mut out = Vec::new();
        for p in &self.problems {
            for o in &self.optimizers {
                out.extend(self.group_runs(p, o)?);
            }
        }
        Ok(out)
    }

    /// The tuning metric of a finished trial: the last epoch's value, `None` when the run
    /// failed, diverged or did not record the metric (such trials rank last).
    pub fn trial_score(&self, record: &RunRecord) -> Option<f64> {
        if record.state != RunState::Done {
            return None;
        }
        let r = record.result.as_ref()?;
        if r.diverged {
            return None;
        }
        r.last()?.get(&self.tuning.metric).filter(|x| x.is_finite())
    }

    /// The best tuning trial of `problem` × `optimizer` (its spec) once all its trials are
    /// finished (done or failed) in `records`: the best last-epoch value of the tuning metric;
    /// diverged, failed and metric-less trials rank last; ties go to the earlier trial. `None`
    /// while a trial is missing, pending or running, for the defaults protocol, and for unknown
    /// names.
    pub fn best_trial(
        &self,
        problem: &str,
        optimizer: &str,
        records: &[RunRecord],
    ) -> Result<Option<RunSpec>> {
        let (Some(p), Some(o)) = (self.problem(problem), self.optimizer(optimizer)) else {
            return Ok(None);
        };
        if self.tuning.protocol == Protocol::Defaults {
            return Ok(None);
        }
        let by_key: HashMap<&str, &RunRecord> =
            records.iter().map(|r| (r.spec.key.as_str(), r)).collect();
        self.best_in(p, o, &by_key)
    }

    fn best_in(
        &self,
        p: &Problem,
        o: &OptimizerSpace,
        by_key: &HashMap<&str, &RunRecord>,
    ) -> Result<Option<RunSpec>> {
        let mut best: Option<(RunSpec, Option<f64>)> = None;
        for t in self.group_runs(p, o)? {
            let Some(rec) = by_key.get(t.key.as_str()) else {
                return Ok(None);
            };
            if !matches!(rec.state, RunState::Done | RunState::Failed) {
                return Ok(None);
            }
            let score = self.trial_score(rec);
            let better = match (&best, score) {
                (None, _) => true,
                (Some((_, None)), Some(_)) => true,
                (Some((_, Some(b))), Some(s)) => {
                    if self.tuning.higher_is_better {
                        s > *b
                    } else {
                        s < *b
                    }
                }
                (Some(_), None) => false,
            };
            if better {
                best = Some((t, score));
            }
        }
        Ok(best.map(|(t, _)| t))
    }

    /// The runs that `done` makes known: for each (problem, optimizer) whose tuning trials are
    /// all finished (done or failed), the best setting at every seed (phase `final`; the one at
    /// the tuning seed has the trial's key, so the store keeps the trial as it is). Idempotent:
    /// returns runs already stored too (the store ignores known keys).
    pub fn next_runs(&self, done: &[RunRecord]) -> Result<Vec<RunSpec>> {
        if self.tuning.protocol == Protocol::Defaults {
            return Ok(Vec::new());
        }
        let by_key: HashMap<&str, &RunRecord> =
            done.iter().map(|r| (r.spec.key.as_str(), r)).collect();
        let mut out = Vec::new();
        for p in &self.problems {
            for o in &self.optimizers {
                let Some(best) = self.best_in(p, o, &by_key)? else {
                    continue;
                };
                let setting: Setting = self.trial_settings(o)[best.trial as usize].clone();
                for &seed in &self.seeds {
                    out.push(self.spec(p, o, Phase::Final, best.trial, seed, &setting)?);
                }
            }
        }
        Ok(out)
    }
}
