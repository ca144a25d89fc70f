//! Reading a study file strictly: every key checked (an unknown one is an error that lists the
//! valid ones), every error naming the file, the field and the bad value, and every problem ×
//! optimizer pair built into a complete, checked run config before any run starts.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use train::Metric;

use super::factors;
use super::model::{OptimizerSpace, Problem, Protocol, Search, Space, Study, Tuning};
use super::protocol::{optimizer_table, Setting};
use super::prune::Prune;
use crate::{LabError, Result};

mod factor_tables;

/// The text of `lab/studies/default.toml`.
pub const DEFAULT_STUDY: &str = include_str!("../../studies/default.toml");
/// [`Study::source`] of the default study.
pub const DEFAULT_SOURCE: &str = "<default study>";

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "seeds",
    "tuning",
    "problems",
    "optimizers",
    "factors",
    "design",
];
const TUNING_KEYS: &[&str] = &[
    "protocol",
    "trials",
    "metric",
    "mode",
    "sample_seed",
    "search",
    "prune",
    "prune_warmup",
    "prune_min_trials",
];
const RUN_SECTIONS: &[&str] = &["data", "model", "train", "clip", "schedule", "log"];
const PROBLEM_KEYS: &[&str] = &[
    "name", "config", "set", "target", "data", "model", "train", "clip", "schedule", "log",
];
const TARGET_KEYS: &[&str] = &["metric", "value"];
const SPACE_KEYS: &[&str] = &["grid", "uniform", "log_uniform", "lr_find"];
const DEFAULT_TRIALS: u32 = 6;

/// A value for messages: TOML's inline form.
pub(super) fn show(v: &toml::Value) -> String {
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
pub(super) struct Reader {
    file: String,
}

impl Reader {
    pub(super) fn err(&self, message: impl Into<String>) -> LabError {
        LabError::Study {
            file: self.file.clone(),
            message: message.into(),
        }
    }

    /// `{field} = {value}: {why}`.
    pub(super) fn bad(&self, field: &str, value: impl Display, why: &str) -> LabError {
        self.err(format!("{field} = {value}: {why}"))
    }

    fn unknown(&self, section: &str, key: &str, valid: &[&str]) -> LabError {
        let at = if section.is_empty() {
            format!("`{key}`")
        } else {
            format!("{section}.{key}")
        };
        self.err(format!(
            "unknown key {at} ({})",
            present::choices::hint(key, valid)
        ))
    }

    pub(super) fn check_keys(&self, section: &str, t: &toml::Table, valid: &[&str]) -> Result<()> {
        match t.keys().find(|k| !valid.contains(&k.as_str())) {
            Some(k) => Err(self.unknown(section, k, valid)),
            None => Ok(()),
        }
    }

    pub(super) fn name(&self, field: &str, v: &toml::Value) -> Result<String> {
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

    fn metric(&self, field: &str, v: &toml::Value) -> Result<Metric> {
        v.as_str().and_then(Metric::from_name).ok_or_else(|| {
            self.bad(
                field,
                show(v),
                &format!("expected one of {}", train::config::METRICS.join(", ")),
            )
        })
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
                metric: Metric::ValAccuracy,
                higher_is_better: true,
                sample_seed: 0,
                search: Search::Random,
                prune: Prune::None,
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
        let (factors, design) = self.factors(&top)?;
        let mut study = Study {
            name,
            source: self.file.clone(),
            text: text.to_string(),
            seeds,
            problems,
            optimizers,
            tuning,
            factors,
            design,
            lr_found: Default::default(),
        };
        self.validate_levels(&study)?;
        let combos = factors::combination_count(&study.factors, study.design);
        let arms = combos.and_then(|c| c.checked_mul(study.optimizers.len()));
        if arms.is_none_or(|n| n > factors::MAX_ARMS) {
            return Err(self.err(format!(
                "[[factors]]: {} optimizers x {} level combinations is more than {} arms; use design = \"ablation\" or fewer levels",
                study.optimizers.len(),
                combos.map_or("too many".to_string(), |c| c.to_string()),
                factors::MAX_ARMS
            )));
        }
        study.optimizers = factors::expand(&study.optimizers, &study.factors, study.design);
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
                    "expected an integer from 1 to 100000 (settings tried per optimizer)",
                ))
            }
        };
        let metric = match t.get("metric") {
            None => Metric::ValAccuracy,
            Some(v) => self.metric("tuning.metric", v)?,
        };
        let higher_is_better = match t.get("mode") {
            None => metric.higher_is_better(),
            Some(toml::Value::String(s)) if s == "max" => true,
            Some(toml::Value::String(s)) if s == "min" => false,
            Some(v) => return Err(self.bad("tuning.mode", show(v), "expected \"max\" or \"min\"")),
        };
        let sample_seed = match t.get("sample_seed") {
            None => 0,
            Some(v) => self.seed("tuning.sample_seed", v)?,
        };
        let search = match t.get("search") {
            None => Search::Random,
            Some(toml::Value::String(s)) if s == "random" => Search::Random,
            Some(toml::Value::String(s)) if s == "halton" => Search::Halton,
            Some(v) => {
                return Err(self.bad(
                    "tuning.search",
                    show(v),
                    &present::choices::hint(v.as_str().unwrap_or(""), &["random", "halton"]),
                ))
            }
        };
        if search == Search::Halton && protocol == Protocol::Defaults {
            return Err(self.bad(
                "tuning.search",
                "\"halton\"",
                "only protocol = \"budget\" samples settings",
            ));
        }
        let prune = self.prune(t, &protocol)?;
        Ok(Tuning {
            protocol,
            metric,
            higher_is_better,
            sample_seed,
            search,
            prune,
        })
    }

    /// `prune`, `prune_warmup`, `prune_min_trials` of `[tuning]`.
    fn prune(&self, t: &toml::Table, protocol: &Protocol) -> Result<Prune> {
        let count = |key: &str, default: u32, min: i64| match t.get(key) {
            None => Ok(default),
            Some(toml::Value::Integer(i)) if *i >= min && *i <= 10_000 => Ok(*i as u32),
            Some(v) => Err(self.bad(
                &format!("tuning.{key}"),
                show(v),
                &format!("expected an integer from {min} to 10000"),
            )),
        };
        let median = match t.get("prune") {
            None => false,
            Some(toml::Value::String(s)) if s == "none" => false,
            Some(toml::Value::String(s)) if s == "median" => true,
            Some(v) => {
                return Err(self.bad(
                    "tuning.prune",
                    show(v),
                    &present::choices::hint(v.as_str().unwrap_or(""), &["none", "median"]),
                ))
            }
        };
        if !median {
            for key in ["prune_warmup", "prune_min_trials"] {
                if let Some(v) = t.get(key) {
                    return Err(self.bad(
                        &format!("tuning.{key}"),
                        show(v),
                        "only prune = \"median\" uses it",
                    ));
                }
            }
            return Ok(Prune::None);
        }
        if *protocol == Protocol::Defaults {
            return Err(self.bad(
                "tuning.prune",
                "\"median\"",
                "only protocol = \"budget\" has trials to prune",
            ));
        }
        Ok(Prune::Median {
            warmup: count("prune_warmup", super::prune::DEFAULT_WARMUP, 0)?,
            min_trials: count("prune_min_trials", super::prune::DEFAULT_MIN_TRIALS, 1)?,
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
            None => (Metric::TestAccuracy, None),
            Some(toml::Value::Table(tt)) => {
                let f = format!("{field}.target");
                self.check_keys(&f, tt, TARGET_KEYS)?;
                let metric = match tt.get("metric") {
                    None => Metric::TestAccuracy,
                    Some(v) => self.metric(&format!("{f}.metric"), v)?,
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
            Some(toml::Value::String(s)) if optim::optimizers::canonical_name(s).is_some() => {
                optim::optimizers::canonical_name(s)
                    .unwrap_or_default()
                    .to_string()
            }
            Some(v) => {
                let typed = v.as_str().unwrap_or_default();
                return Err(self.bad(
                    &format!("{field}.name"),
                    show(v),
                    &format!(
                        "unknown optimizer ({})",
                        present::choices::hint(typed, optim::optimizers::NAMES)
                    ),
                ));
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
            arm: None,
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
                "a search space has exactly one of grid = [...], uniform = [lo, hi], log_uniform = [lo, hi], lr_find = { decades = D }",
            ));
        }
        let (k, x) = t.iter().next().expect("one key");
        let f = format!("{field}.{k}");
        if k == "lr_find" {
            return self.lr_find_space(field, x);
        }
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

    /// `lr = { lr_find = { decades = D, fallback = [lo, hi] } }` (only on an optimizer's `lr`).
    fn lr_find_space(&self, field: &str, x: &toml::Value) -> Result<Space> {
        let f = format!("{field}.lr_find");
        if !field.starts_with("optimizers[") || !field.ends_with("].lr") {
            return Err(self.bad(
                &f,
                show(x),
                "lr_find sets an optimizer's learning-rate range: only `lr` can use it",
            ));
        }
        let t = x.as_table().ok_or_else(|| {
            self.bad(
                &f,
                show(x),
                "expected a table { decades = 1, fallback = [lo, hi] }",
            )
        })?;
        if let Some(k) = t
            .keys()
            .find(|k| !["decades", "fallback"].contains(&k.as_str()))
        {
            return Err(self.unknown(&f, k, &["decades", "fallback"]));
        }
        let decades = match t.get("decades") {
            Some(v) => self.number(&format!("{f}.decades"), v)?,
            None => 1.0,
        };
        if !(decades > 0.0 && decades <= 4.0) {
            return Err(self.bad(
                &format!("{f}.decades"),
                decades,
                "expected a number of decades each side of the suggestion in (0, 4]",
            ));
        }
        let fallback = match t.get("fallback") {
            None => None,
            Some(v) => {
                let ff = format!("{f}.fallback");
                let (lo, hi) = match v {
                    toml::Value::Array(a) if a.len() == 2 => {
                        (self.number(&ff, &a[0])?, self.number(&ff, &a[1])?)
                    }
                    _ => return Err(self.bad(&ff, show(v), "expected [lo, hi]")),
                };
                if !(lo > 0.0 && lo < hi) {
                    return Err(self.bad(&ff, show(v), "expected 0 < lo < hi"));
                }
                Some((lo, hi))
            }
        };
        Ok(Space::LrFind { decades, fallback })
    }

    /// Builds every problem × optimizer run config at the default setting (and every optimizer
    /// at every tuning setting), so that mistakes surface before any run starts.
    fn validate(&self, s: &Study) -> Result<()> {
        if let Protocol::Budget { .. } = s.tuning.protocol {
            if s.tuning.metric.is_validation() {
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
        // `lr_find` ranges are known only once lr-find has run: check them at a typical range.
        let probe = |o: &OptimizerSpace, x: &Setting| {
            s.settle_with(&s.problems[0], o, x, Some((1e-4, 1e-2)))
        };
        for (j, o) in s.optimizers.iter().enumerate() {
            let mut settings = vec![(
                "the default setting".to_string(),
                probe(o, &s.default_setting(o))?,
            )];
            if s.tuning.protocol != Protocol::Defaults {
                for (t, x) in s.trial_settings(o).into_iter().enumerate() {
                    settings.push((format!("trial {t}"), probe(o, &x)?));
                }
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
                            let mut keys =
                                vec!["label".to_string(), "name".into(), "schedule".into()];
                            keys.extend(valid.into_iter().filter(|k| k != "name"));
                            format!(
                                "unknown key optimizers[{j}].{name} for optimizer `{}` ({})",
                                o.name,
                                present::choices::hint(&name, &keys)
                            )
                        }
                        other => other.to_string(),
                    };
                    self.err(format!("{detail} (label {:?}, {what})", o.label))
                })?;
            }
            for (i, p) in s.problems.iter().enumerate() {
                let setting = probe(o, &s.default_setting(o))?;
                let table = s
                    .config_table(p, o, &setting, s.seeds[0])
                    .map_err(|e| self.err(format!("optimizers[{j}] ({}): {e}", o.label)))?;
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

impl Study {
    /// Reads a study file; relative paths in it are relative to its folder.
    pub fn from_file(path: &Path) -> Result<Study> {
        let text = std::fs::read_to_string(path).map_err(|error| LabError::Io {
            path: path.display().to_string(),
            error,
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
}
