//! Run configs: one TOML file describes a training run (`seed`, `[data]`, `[model]`,
//! `[optimizer]`, `[clip]`, `[schedule]`, `[train]`, `[log]`), optionally changed from the command
//! line with `--set key=value` (a dotted path into the file, a TOML value).
//!
//! Every section is read strictly: unknown keys are errors that list the valid ones, and each
//! error names the file, the field and the value.

use std::path::{Path, PathBuf};

use optim::{Check, Hyper};

use crate::data::DataConfig;
use crate::divergence;
use crate::metric::Metric;
use crate::model::ModelConfig;
use crate::{Result, TrainError};

/// What the loss function is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LossKind {
    /// Softmax cross-entropy (class targets), with optional label smoothing.
    CrossEntropy { label_smoothing: f32 },
    /// Mean squared error (value targets).
    Mse,
}

/// `[train.early_stopping]`.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStoppingConfig {
    pub monitor: String,
    /// `true` when larger is better (`mode = "max"`).
    pub maximize: bool,
    pub patience: usize,
    pub min_delta: f64,
    pub restore_best: bool,
}

/// `[train]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub epochs: Option<usize>,
    pub steps: Option<u64>,
    /// `None`: cross-entropy for class targets, MSE for value targets.
    pub loss: Option<LossKind>,
    /// Micro-batches per optimizer step (gradient accumulation).
    pub accumulate: usize,
    /// EMA of the weights used for evaluation (AveragedModel's decay).
    pub ema_decay: Option<f64>,
    pub ema_warmup: bool,
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Checkpoint at the end of every `n`-th epoch (0 = only at the end of the run).
    pub checkpoint_every_epochs: usize,
    /// Also checkpoint every `n` optimizer steps.
    pub checkpoint_every_steps: Option<u64>,
    /// Rayon threads (default: all cores; at most [`max_threads`]).
    pub threads: Option<usize>,
    /// Stop as diverged when the mean loss of the last steps exceeds this many times the first
    /// step's loss ([`crate::divergence`]); `inf` turns the check off.
    pub divergence_factor: f64,
}

/// When a schedule advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Step,
    Epoch,
}

/// `[schedule]`: the table for `optim::schedule::from_table` plus when to step it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleConfig {
    pub table: toml::Table,
    pub interval: Interval,
    /// The metric fed to `reduce_on_plateau`.
    pub monitor: String,
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    pub dir: PathBuf,
    pub every_steps: u64,
    pub tensorboard: bool,
}

/// A whole run config.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// Where it was read from (for messages).
    pub source: String,
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub optimizer: toml::Table,
    pub clip: Option<toml::Table>,
    pub schedule: Option<ScheduleConfig>,
    pub train: TrainConfig,
    pub log: LogConfig,
    /// The config as read (after `--set`), saved into the run directory.
    pub raw: toml::Table,
}

/// Names of the metrics a monitor may watch.
pub use crate::metric::METRICS;

const SECTIONS: &[&str] = &[
    "seed",
    "data",
    "model",
    "optimizer",
    "clip",
    "schedule",
    "train",
    "log",
];

impl RunConfig {
    /// Reads a run config file and applies `overrides` (`key=value`, dotted keys).
    pub fn from_file(path: impl AsRef<Path>, overrides: &[String]) -> Result<RunConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| TrainError::file(path, format!("cannot read: {e}")))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| TrainError::file(path, format!("not valid TOML: {e}")))?;
        // Section aliases first, so `--set schedule.…` reaches a file's `[scheduler]`.
        let mut table = canonical_sections(&path.display().to_string(), table)?;
        apply_overrides(&mut table, overrides)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        Self::from_table(&path.display().to_string(), table, base, &stem)
    }

    /// Reads a run config from a parsed table; `source` names it in errors, relative paths
    /// (`model.init`, dataset files) resolve against `base_dir`, and the default log directory
    /// is `runs/{stem}`.
    pub fn from_table(
        source: &str,
        table: toml::Table,
        base_dir: &Path,
        stem: &str,
    ) -> Result<RunConfig> {
        let table = canonical_sections(source, table)?;
        if let Some(k) = table.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
            return Err(TrainError::Config(format!(
                "{source}: unknown section or key `{k}` ({})",
                present::choices::hint(k, SECTIONS)
            )));
        }
        let seed = match table.get("seed") {
            None => 0,
            Some(toml::Value::Integer(i)) if *i >= 0 => *i as u64,
            Some(v) => {
                return Err(TrainError::config(
                    source,
                    "seed",
                    v,
                    "expected an integer >= 0",
                ))
            }
        };
        let section = |name: &str| -> Result<Option<&toml::Table>> {
            match table.get(name) {
                None => Ok(None),
                Some(toml::Value::Table(t)) => Ok(Some(t)),
                Some(v) => Err(TrainError::config(source, name, v, "expected a [section]")),
            }
        };
        let empty = toml::Table::new();
        let data = DataConfig::from_table(
            source,
            section("data")?.ok_or_else(|| {
                TrainError::Config(format!(
                    "{source}: missing [data] (e.g. dataset = \"mnist1d\")"
                ))
            })?,
            base_dir,
        )?;
        let model = ModelConfig::from_table(
            source,
            section("model")?.ok_or_else(|| {
                TrainError::Config(format!("{source}: missing [model] with [[model.layers]]"))
            })?,
            base_dir,
        )?;
        let optimizer = section("optimizer")?
            .ok_or_else(|| {
                TrainError::Config(format!(
                    "{source}: missing [optimizer] (e.g. name = \"sgd\", lr = 0.1)"
                ))
            })?
            .clone();
        let clip = section("clip")?.cloned();
        let train = read_train(source, section("train")?.unwrap_or(&empty))?;
        let has_val = data.validation_split.is_some();
        let schedule = match section("schedule")? {
            None => None,
            Some(t) => read_schedule(source, t, &train, has_val)?,
        };
        let log = read_log(source, section("log")?.unwrap_or(&empty), stem)?;
        if let Some(es) = &train.early_stopping {
            check_monitor(source, "train.early_stopping", &es.monitor, has_val)?;
        }
        Ok(RunConfig {
            source: source.to_string(),
            seed,
            data,
            model,
            optimizer,
            clip,
            schedule,
            train,
            log,
            raw: table,
        })
    }
}

/// PyTorch habits in section names: `[scheduler]` (and `[lr_scheduler]`) is `[schedule]`. The
/// optimizer's and schedule's `name` become their canonical names (`SGD` → `sgd`, `StepLR` →
/// `step`), so everything downstream (logs, the saved config, the lab's run keys) sees one
/// spelling.
fn canonical_sections(source: &str, mut table: toml::Table) -> Result<toml::Table> {
    for alias in ["scheduler", "lr_scheduler"] {
        if let Some(v) = table.remove(alias) {
            if table.contains_key("schedule") {
                return Err(TrainError::Config(format!(
                    "{source}: both [schedule] and [{alias}] (the same section): keep one"
                )));
            }
            table.insert("schedule".into(), v);
        }
    }
    type Canonical = fn(&str) -> Option<&'static str>;
    let canon: [(&str, Canonical); 2] = [
        ("optimizer", optim::optimizers::canonical_name),
        ("schedule", optim::schedule::canonical_name),
    ];
    for (section, canonical) in canon {
        if let Some(toml::Value::Table(t)) = table.get_mut(section) {
            if let Some(toml::Value::String(name)) = t.get_mut("name") {
                if let Some(c) = canonical(name) {
                    *name = c.to_string();
                }
            }
        }
    }
    Ok(table)
}

fn check_monitor(source: &str, section: &str, monitor: &str, has_val: bool) -> Result<()> {
    let Some(metric) = Metric::from_name(monitor) else {
        return Err(TrainError::Config(format!(
            "{source}: [{section}] `monitor` = \"{monitor}\": unknown metric ({})",
            present::choices::hint(monitor, METRICS)
        )));
    };
    if metric.is_validation() && !has_val {
        return Err(TrainError::Config(format!(
            "{source}: [{section}] `monitor` = \"{monitor}\" needs a validation set: set [data] validation_split"
        )));
    }
    Ok(())
}

fn read_train(source: &str, t: &toml::Table) -> Result<TrainConfig> {
    let ctx = format!("{source}: [train]");
    let mut h = Hyper::new(&ctx, t).ignoring(&["early_stopping"]);
    let epochs = opt_int(&mut h, "epochs")?;
    let steps = opt_int(&mut h, "steps")?;
    match (epochs, steps) {
        (Some(_), Some(_)) => {
            return Err(TrainError::Config(format!(
                "{ctx}: give `epochs` or `steps`, not both"
            )))
        }
        (None, None) => {
            return Err(TrainError::Config(format!(
                "{ctx}: missing `epochs` (or `steps`)"
            )))
        }
        _ => {}
    }
    let loss = match h
        .choice("loss", "auto", &["auto", "cross_entropy", "mse"])?
        .as_str()
    {
        "cross_entropy" => Some(LossKind::CrossEntropy {
            label_smoothing: h.f64("label_smoothing", 0.0, Check::UnitClosed)? as f32,
        }),
        "mse" => Some(LossKind::Mse),
        _ => {
            let ls = h.f64("label_smoothing", 0.0, Check::UnitClosed)?;
            (ls > 0.0).then_some(LossKind::CrossEntropy {
                label_smoothing: ls as f32,
            })
        }
    };
    let accumulate = h.usize("accumulate", 1)?;
    if accumulate == 0 {
        return Err(TrainError::config(&ctx, "accumulate", 0, "must be >= 1"));
    }
    let ema_decay = h.opt_f64("ema_decay", Check::Unit)?;
    let ema_warmup = h.bool("ema_warmup", false)?;
    let checkpoint_every_epochs = h.usize("checkpoint_every_epochs", 1)?;
    let checkpoint_every_steps = opt_int(&mut h, "checkpoint_every_steps")?;
    let threads = opt_int(&mut h, "threads")?.map(|x| x as usize);
    let max = max_threads();
    if let Some(n) = threads.filter(|&n| n > max) {
        return Err(TrainError::config(
            &ctx,
            "threads",
            n,
            &format!("at most {max} (4 per core of this machine)"),
        ));
    }
    let divergence_factor = match h.raw("divergence_factor") {
        None => divergence::DEFAULT_FACTOR,
        Some(v) => match v {
            toml::Value::Float(x) if *x > 1.0 => *x,
            toml::Value::Integer(i) if *i > 1 => *i as f64,
            _ => {
                return Err(TrainError::config(
                    &ctx,
                    "divergence_factor",
                    v,
                    "expected a number > 1 (inf turns the check off)",
                ))
            }
        },
    };
    h.finish()?;
    let early_stopping = match t.get("early_stopping") {
        None => None,
        Some(toml::Value::Table(e)) => {
            let ctx = format!("{source}: [train.early_stopping]");
            let mut h = Hyper::new(&ctx, e);
            let monitor = match h.raw("monitor") {
                None => "val_loss".to_string(),
                Some(toml::Value::String(s)) => s.clone(),
                Some(v) => {
                    return Err(TrainError::config(
                        &ctx,
                        "monitor",
                        v,
                        "expected a metric name",
                    ))
                }
            };
            // An unknown monitor is refused once the whole config is read (`check_monitor`).
            let default_mode = match Metric::from_name(&monitor) {
                Some(m) if m.higher_is_better() => "max",
                _ => "min",
            };
            let maximize = h.choice("mode", default_mode, &["min", "max"])? == "max";
            let patience = h.usize("patience", 5)?;
            let min_delta = h.f64("min_delta", 0.0, Check::NonNeg)?;
            let restore_best = h.bool("restore_best", true)?;
            h.finish()?;
            Some(EarlyStoppingConfig {
                monitor,
                maximize,
                patience,
                min_delta,
                restore_best,
            })
        }
        Some(v) => {
            return Err(TrainError::config(
                &ctx,
                "early_stopping",
                v,
                "expected a table",
            ))
        }
    };
    Ok(TrainConfig {
        epochs: epochs.map(|x| x as usize),
        steps,
        loss,
        accumulate,
        ema_decay,
        ema_warmup,
        early_stopping,
        checkpoint_every_epochs,
        checkpoint_every_steps,
        threads,
        divergence_factor,
    })
}

fn opt_int(h: &mut Hyper<'_>, key: &'static str) -> Result<Option<u64>> {
    match h.raw(key) {
        None => Ok(None),
        Some(toml::Value::Integer(i)) if *i >= 1 => Ok(Some(*i as u64)),
        Some(v) => Err(TrainError::config(
            h.context(),
            key,
            v,
            "expected an integer >= 1",
        )),
    }
}

fn read_schedule(
    source: &str,
    t: &toml::Table,
    train: &TrainConfig,
    has_val: bool,
) -> Result<Option<ScheduleConfig>> {
    let step_mode = train.steps.is_some();
    let ctx = format!("{source}: [schedule]");
    let name = t.get("name").and_then(|v| v.as_str()).unwrap_or("");
    if name == "none" {
        return Ok(None);
    }
    let mut table = t.clone();
    let interval = match table.remove("interval") {
        None if name == "one_cycle" || step_mode => Interval::Step,
        None => Interval::Epoch,
        Some(toml::Value::String(s)) if s == "step" => Interval::Step,
        Some(toml::Value::String(s)) if s == "epoch" => Interval::Epoch,
        Some(v) => {
            return Err(TrainError::config(
                &ctx,
                "interval",
                v,
                "expected \"step\" or \"epoch\"",
            ))
        }
    };
    let default_monitor = if has_val { "val_loss" } else { "train_loss" };
    let monitor = match table.remove("monitor") {
        None => default_monitor.to_string(),
        Some(toml::Value::String(s)) if name == "reduce_on_plateau" => s,
        Some(v) => {
            return Err(TrainError::config(
                &ctx,
                "monitor",
                v,
                "only reduce_on_plateau reads a metric (a metric name)",
            ))
        }
    };
    // A cosine without `t_max` anneals over the whole run, when the run's length is counted in
    // the schedule's own unit (epochs, or steps for a run of `train.steps`).
    if name == "cosine" && !table.contains_key("t_max") {
        let run = match interval {
            Interval::Epoch => train.epochs.map(|e| e as i64),
            Interval::Step => train.steps.map(|s| s as i64),
        };
        if let Some(n) = run {
            table.insert("t_max".into(), toml::Value::Integer(n));
        }
    }
    if name == "reduce_on_plateau" {
        check_monitor(source, "schedule", &monitor, has_val)?;
        if interval == Interval::Step {
            return Err(TrainError::Config(format!(
                "{ctx}: reduce_on_plateau steps once per epoch on `{monitor}`; remove `interval`"
            )));
        }
    }
    Ok(Some(ScheduleConfig {
        table,
        interval,
        monitor,
    }))
}

fn read_log(source: &str, t: &toml::Table, stem: &str) -> Result<LogConfig> {
    let ctx = format!("{source}: [log]");
    let mut h = Hyper::new(&ctx, t);
    let dir = match h.raw("dir") {
        None => PathBuf::from("runs").join(stem),
        Some(toml::Value::String(s)) => PathBuf::from(s),
        Some(v) => {
            return Err(TrainError::config(
                &ctx,
                "dir",
                v,
                "expected a directory path",
            ))
        }
    };
    let every_steps = opt_int(&mut h, "every_steps")?.unwrap_or(10);
    let tensorboard = h.bool("tensorboard", true)?;
    h.finish()?;
    Ok(LogConfig {
        dir,
        every_steps,
        tensorboard,
    })
}

/// Applies `key=value` overrides: `key` is a dotted path (`optimizer.lr`, `train.epochs`), the
/// value is read as TOML (`0.01`, `true`, `[1, 28, 28]`, `"adam"`) or else taken as a string.
pub fn apply_overrides(table: &mut toml::Table, overrides: &[String]) -> Result<()> {
    for o in overrides {
        let (key, value) = o.split_once('=').ok_or_else(|| {
            TrainError::Config(format!(
                "--set {o:?}: expected key=value (e.g. --set optimizer.lr=0.01)"
            ))
        })?;
        let key = brackets_as_dots(key.trim());
        let key = key.as_str();
        let value = value.trim();
        let parsed: toml::Value = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let mut parts: Vec<&str> = key.split('.').collect();
        // The section's PyTorch-flavoured names, as in the file (see `canonical_sections`).
        if matches!(parts[0], "scheduler" | "lr_scheduler") {
            parts[0] = "schedule";
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err(TrainError::Config(format!(
                "--set {o:?}: empty key part in `{key}`"
            )));
        }
        let mut root = toml::Value::Table(std::mem::take(table));
        let res = set_path(&mut root, &parts, 0, parsed, o);
        if let toml::Value::Table(t) = root {
            *table = t;
        }
        res?;
    }
    Ok(())
}

/// `model.layers[1].bias` → `model.layers.1.bias`: list indices in brackets, as Python and
/// TOML readers write them, are the same as dotted ones.
fn brackets_as_dots(key: &str) -> String {
    key.replace("].", ".").replace('[', ".").replace(']', "")
}

/// Sets `parts[i..]` below `cur`: sections by name, list elements by index
/// (`model.layers.3.p` is key `p` of element 3 of the layer list).
fn set_path(
    cur: &mut toml::Value,
    parts: &[&str],
    i: usize,
    value: toml::Value,
    o: &str,
) -> Result<()> {
    let p = parts[i];
    let last = i + 1 == parts.len();
    let here = || parts[..i].join(".");
    match cur {
        toml::Value::Table(t) => {
            if last {
                t.insert(p.to_string(), value);
                return Ok(());
            }
            let next = t
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            set_path(next, parts, i + 1, value, o)
        }
        toml::Value::Array(a) => {
            let k: usize = p.parse().map_err(|_| {
                TrainError::Config(format!(
                    "--set {o:?}: `{}` is a list; index it with a number (e.g. {}.0)",
                    here(),
                    here()
                ))
            })?;
            let n = a.len();
            let slot = a.get_mut(k).ok_or_else(|| {
                TrainError::Config(format!(
                    "--set {o:?}: `{}` has {n} elements, no index {k}",
                    here()
                ))
            })?;
            if last {
                *slot = value;
                return Ok(());
            }
            set_path(slot, parts, i + 1, value, o)
        }
        _ => Err(TrainError::Config(format!(
            "--set {o:?}: `{}` is not a section",
            here()
        ))),
    }
}

/// The most rayon threads a run may ask for: 4 per core this process may use (more only adds
/// contention; 100,000 threads would take minutes to start).
pub fn max_threads() -> usize {
    4 * std::thread::available_parallelism().map_or(64, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        seed = 3
        [data]
        dataset = "digits"
        batch_size = 32
        [[model.layers]]
        type = "flatten"
        [[model.layers]]
        type = "linear"
        out_features = 10
        [optimizer]
        name = "sgd"
        lr = 0.1
        [train]
        epochs = 2
    "#;

    fn read(src: &str, sets: &[&str]) -> Result<RunConfig> {
        let mut t: toml::Table = src.parse().unwrap();
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        apply_overrides(&mut t, &sets)?;
        RunConfig::from_table("run.toml", t, Path::new("."), "run")
    }

    #[test]
    fn cosine_without_t_max_anneals_over_the_run() {
        let t_max = |src: &str, sets: &[&str]| {
            read(src, sets)
                .unwrap()
                .schedule
                .and_then(|s| s.table.get("t_max").and_then(|v| v.as_integer()))
        };
        let cosine = "schedule = { name = \"cosine\" }";
        assert_eq!(t_max(BASE, &[cosine]), Some(2));
        let steps = BASE.replace("epochs = 2", "steps = 50");
        assert_eq!(t_max(&steps, &[cosine]), Some(50));
        // A given t_max stays; an epoch run's number of steps is not known here, so a
        // step-wise cosine gets none (and optim names the missing t_max).
        assert_eq!(
            t_max(BASE, &["schedule = { name = \"cosine\", t_max = 9 }"]),
            Some(9)
        );
        assert_eq!(
            t_max(
                BASE,
                &["schedule = { name = \"cosine\", interval = \"step\" }"]
            ),
            None
        );
    }

    #[test]
    fn defaults_and_overrides() {
        let c = read(BASE, &[]).unwrap();
        assert_eq!(c.seed, 3);
        assert_eq!(c.train.epochs, Some(2));
        assert_eq!(c.log.dir, PathBuf::from("runs/run"));
        assert_eq!(c.log.every_steps, 10);
        let c = read(
            BASE,
            &[
                "optimizer.lr=0.5",
                "train.epochs = 7",
                "log.dir=out/x",
                "schedule.name=cosine",
                "schedule.t_max=7",
            ],
        )
        .unwrap();
        assert_eq!(c.optimizer["lr"].as_float(), Some(0.5));
        assert_eq!(c.train.epochs, Some(7));
        assert_eq!(c.log.dir, PathBuf::from("out/x"));
        let s = c.schedule.unwrap();
        assert_eq!(s.interval, Interval::Epoch);
        assert!(!s.table.contains_key("interval"));
    }

    #[test]
    fn errors_name_file_field_and_value() {
        let cases: &[(&[&str], &str)] = &[
            (&["train.epoch=3"], "unknown hyperparameter `epoch`"),
            (&["train.steps=10"], "not both"),
            (&["train.epochs=0"], "`epochs` = 0"),
            (&["seed=-1"], "`seed` = -1"),
            (&["bogus=1"], "unknown section or key `bogus`"),
            (
                &["train.early_stopping.monitor=\"val_loss\""],
                "validation_split",
            ),
            (&["train.early_stopping.monitor=\"loss\""], "unknown metric"),
            (
                &[
                    "schedule.name=\"reduce_on_plateau\"",
                    "schedule.interval=\"step\"",
                ],
                "once per epoch",
            ),
            (
                &["schedule.name=\"cosine\"", "schedule.monitor=\"val_loss\""],
                "monitor",
            ),
            (&["log.every_steps=0"], "every_steps"),
            (&["optimizer=3"], "expected a [section]"),
            (&["noequals"], "expected key=value"),
            (&["train.divergence_factor=1"], "`divergence_factor` = 1"),
            (
                &["train.divergence_factor=nan"],
                "`divergence_factor` = nan",
            ),
        ];
        for (sets, want) in cases {
            let e = read(BASE, sets).unwrap_err().to_string();
            assert!(e.contains(want), "{sets:?}: {e}");
            assert!(e.contains("run.toml") || e.contains("--set"), "{e}");
        }
    }

    /// `--set` reaches into lists: `model.layers.1.out_features` is key `out_features` of the
    /// second layer; bad indices and non-numeric ones name the list.
    #[test]
    fn overrides_index_into_layer_lists() {
        let c = read(
            BASE,
            &[
                "model.layers.1.out_features=10",
                "model.layers.1.bias=false",
            ],
        )
        .unwrap();
        match &c.model.layers[1] {
            nn::LayerConfig::Linear(l) => assert!(!l.bias),
            l => panic!("{l:?}"),
        }
        let e = read(BASE, &["model.layers.7.bias=false"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`model.layers` has 2 elements, no index 7"),
            "{e}"
        );
        let e = read(BASE, &["model.layers.x.bias=false"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a list"), "{e}");
        let e = read(BASE, &["seed.x=1"]).unwrap_err().to_string();
        assert!(e.contains("`seed` is not a section"), "{e}");
    }

    #[test]
    fn early_stopping_mode_follows_metric() {
        let c = read(
            BASE,
            &[
                "data.validation_split=0.1",
                "train.early_stopping.monitor=\"val_accuracy\"",
                "train.early_stopping.patience=2",
            ],
        )
        .unwrap();
        let es = c.train.early_stopping.unwrap();
        assert!(es.maximize && es.restore_best && es.patience == 2);
    }
}
