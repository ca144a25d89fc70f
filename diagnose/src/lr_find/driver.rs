//! Runs the sweep on a run config: one training run per seed through the ordinary trainer
//! (same data, model, optimizer, clipping, augmentation, accumulation), with its schedule
//! replaced by the sweep and an observer that records the losses and stops the run once the loss
//! explodes.
//!
//! The swept quantity is the config's **peak** learning rate: `schedule.max_lr` under a
//! `one_cycle` schedule, `optimizer.lr` otherwise (the value every other schedule scales
//! down from). During the sweep every parameter group keeps its ratio to the peak (a group with
//! `lr = 1e-4` under `optimizer.lr = 1e-3` sweeps at a tenth of the others), and the schedule's
//! own shape is left out: warm-up and decay act over a whole run, the sweep is about a hundred
//! steps. The config's loop is trimmed to the sweep: `train.steps` = the sweep's steps + 1, no
//! early stopping, no divergence stop (the sweep's own rule replaces it), no checkpoints
//! between epochs, no TensorBoard.

use std::path::Path;

use serde::Serialize;
use train::{Observer, Probe, RunConfig, Stop};

use super::stability::{self, Stability};
use super::suggest;
use super::sweep::{End, Plan, Recorder};
use super::{Curve, LrFind};
use crate::instruments::curvature::Curvature;
use crate::instruments::{Every, Instrument};
use crate::{DiagnoseError, Result, Timeline};

/// Where the config's peak learning rate lives and its value there.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Peak {
    /// The `--set` key: `optimizer.lr` or `schedule.max_lr`.
    pub key: String,
    /// The config's value (`None`: the optimizer's default).
    pub value: Option<f64>,
    /// The config's schedule, replaced during the sweep.
    pub schedule: Option<String>,
}

/// The most seeds one range test sweeps (each is a training run of the sweep's length).
pub const MAX_SEEDS: usize = 1000;

/// How to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub plan: Plan,
    pub seeds: Vec<u64>,
    /// Also read `λmax` at the initial weights for the stability cross-check.
    pub curvature: bool,
}

fn as_f64(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

fn invalid(source: &str, msg: String) -> DiagnoseError {
    DiagnoseError::Invalid(format!("{source}: {msg}"))
}

/// The peak learning rate of a read config (`cfg.raw`: canonical names).
pub fn peak(raw: &toml::Table, source: &str) -> Result<Peak> {
    let schedule = raw.get("schedule").and_then(|s| s.as_table());
    let name = schedule
        .and_then(|s| s.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string);
    let one_cycle = |t: &toml::Table| t.get("name").and_then(|n| n.as_str()) == Some("one_cycle");
    if let Some(s) = schedule {
        let nested = s
            .get("schedulers")
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().filter_map(|t| t.as_table()).any(one_cycle));
        if nested {
            return Err(invalid(
                source,
                "[schedule] `sequential` contains a `one_cycle`: its peak is that schedule's max_lr, which lr-find cannot sweep inside a sequence; sweep the one_cycle alone".into(),
            ));
        }
        if one_cycle(s) {
            let v = s.get("max_lr");
            let value = v.and_then(as_f64);
            if value.is_none() {
                return Err(invalid(
                    source,
                    format!(
                        "[schedule] one_cycle `max_lr` = {}: lr-find sweeps one peak for every group; give one number",
                        v.map(|v| v.to_string()).unwrap_or_else(|| "(missing)".into())
                    ),
                ));
            }
            return Ok(Peak {
                key: "schedule.max_lr".into(),
                value,
                schedule: name,
            });
        }
    }
    let value = raw
        .get("optimizer")
        .and_then(|o| o.get("lr"))
        .and_then(as_f64);
    Ok(Peak {
        key: "optimizer.lr".into(),
        value,
        schedule: name,
    })
}

/// The config table of the sweep for `seed`, writing its run folder into `dir`.
pub fn sweep_table(
    raw: &toml::Table,
    source: &str,
    plan: &Plan,
    seed: u64,
    dir: &Path,
) -> Result<toml::Table> {
    use toml::Value;
    let peak = peak(raw, source)?;
    let mut t = raw.clone();
    t.insert(
        "seed".into(),
        Value::Integer(seed.min(i64::MAX as u64) as i64),
    );
    let opt = t
        .get_mut("optimizer")
        .and_then(|o| o.as_table_mut())
        .ok_or_else(|| invalid(source, "missing [optimizer]".into()))?;
    // Groups keep their ratio to the peak (one_cycle gives every group the same max_lr).
    let ratio_base = if peak.key == "schedule.max_lr" {
        None
    } else {
        peak.value
    };
    if let Some(Value::Array(groups)) = opt.get_mut("groups") {
        for (i, g) in groups.iter_mut().enumerate() {
            let Some(g) = g.as_table_mut() else { continue };
            let Some(lr) = g.get("lr").and_then(as_f64) else {
                continue;
            };
            let lr = match ratio_base {
                None if peak.key == "schedule.max_lr" => plan.lr_min,
                Some(base) if base > 0.0 => lr / base * plan.lr_min,
                _ => {
                    return Err(invalid(
                        source,
                        format!("[optimizer] groups[{i}] sets lr = {lr} but [optimizer] has no lr > 0 to keep its ratio to: give [optimizer] lr"),
                    ))
                }
            };
            g.insert("lr".into(), Value::Float(lr));
        }
    }
    opt.insert("lr".into(), Value::Float(plan.lr_min));
    let mut sched = toml::Table::new();
    sched.insert("name".into(), Value::String("exponential".into()));
    sched.insert("gamma".into(), Value::Float(plan.ratio()));
    sched.insert("interval".into(), Value::String("step".into()));
    t.insert("schedule".into(), Value::Table(sched));
    let train = t
        .entry("train")
        .or_insert_with(|| Value::Table(toml::Table::new()));
    let train = train
        .as_table_mut()
        .ok_or_else(|| invalid(source, "[train] is not a section".into()))?;
    for k in ["epochs", "early_stopping", "checkpoint_every_steps"] {
        train.remove(k);
    }
    train.insert("steps".into(), Value::Integer(plan.steps as i64 + 1));
    train.insert("checkpoint_every_epochs".into(), Value::Integer(0));
    train.insert("divergence_factor".into(), Value::Float(f64::INFINITY));
    let log = t
        .entry("log")
        .or_insert_with(|| Value::Table(toml::Table::new()));
    let log = log
        .as_table_mut()
        .ok_or_else(|| invalid(source, "[log] is not a section".into()))?;
    log.insert(
        "dir".into(),
        Value::String(dir.to_string_lossy().into_owned()),
    );
    log.insert("tensorboard".into(), Value::Boolean(false));
    Ok(t)
}

/// Records the sweep from inside the training loop.
struct SweepObserver {
    plan: Plan,
    rec: Recorder,
    first_lr: Option<f64>,
    prev_lr: Option<f64>,
    initial_loss: Option<f64>,
    curvature: Option<Curvature>,
    timeline: Timeline,
}

impl SweepObserver {
    /// The peak lr that the optimizer's first-group `lr` stands for.
    fn peak_lr(&self, lr: f64) -> f64 {
        match self.first_lr {
            Some(f) if f > 0.0 => self.plan.lr_min * lr / f,
            _ => lr,
        }
    }
}

impl Observer for SweepObserver {
    fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        if p.step == 1 {
            self.first_lr = Some(p.lr);
            self.initial_loss = Some(p.loss as f64);
            if let Some(c) = &mut self.curvature {
                c.after_backward(p, &mut self.timeline).map_err(|e| {
                    train::TrainError::Config(format!("lr-find: λmax at the initial weights: {e}"))
                })?;
            }
        } else if let Some(prev) = self.prev_lr {
            // The loss after the previous step's update belongs to that step's lr.
            let lr = self.peak_lr(prev);
            self.rec.push(lr, p.loss as f64);
        }
        self.prev_lr = Some(p.lr);
        Ok(())
    }

    fn wants_stop(&self) -> bool {
        self.rec.done()
    }
}

/// Sweeps `cfg` (read from `config`, whose folder resolves relative paths) once per seed,
/// writing each seed's run folder under `out` (`seed-N/`), and reads the curves. `progress` is
/// told when each seed starts.
pub fn run(
    cfg: &RunConfig,
    config: &Path,
    settings: &Settings,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<LrFind> {
    let plan = &settings.plan;
    plan.validate()?;
    if settings.seeds.is_empty() || settings.seeds.len() > MAX_SEEDS {
        return Err(DiagnoseError::Invalid(format!(
            "lr-find: seeds = {}: expected 1 to {MAX_SEEDS} seeds",
            settings.seeds.len()
        )));
    }
    let source = cfg.source.clone();
    let peak = peak(&cfg.raw, &source)?;
    let base = config.parent().unwrap_or(Path::new("."));
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let mut curves = Vec::new();
    for (k, &seed) in settings.seeds.iter().enumerate() {
        progress(&format!(
            "seed {seed} ({}/{}): {} steps, lr {} → {}",
            k + 1,
            settings.seeds.len(),
            plan.steps,
            present::fmt_num(plan.lr_min),
            present::fmt_num(plan.lr_max)
        ));
        let dir = out.join(format!("seed-{seed}"));
        let table = sweep_table(&cfg.raw, &source, plan, seed, &dir)?;
        let run_cfg = RunConfig::from_table(&source, table, base, &stem)?;
        let mut obs = SweepObserver {
            plan: plan.clone(),
            rec: Recorder::new(plan),
            first_lr: None,
            prev_lr: None,
            initial_loss: None,
            curvature: settings
                .curvature
                .then(|| Curvature::new(Every(u64::MAX), 20, 0)),
            timeline: Timeline::default(),
        };
        let opts = train::Options {
            quiet: true,
            ..Default::default()
        };
        let summary = train::run_observed(&run_cfg, &opts, &mut obs)?;
        if obs.rec.end.is_none() {
            let lr = obs.prev_lr.map(|l| obs.peak_lr(l)).unwrap_or(plan.lr_min);
            obs.rec.end = Some(match &summary.stop {
                Stop::NonFinite { loss, .. } => End::NonFinite {
                    lr,
                    detail: format!("loss {loss}"),
                },
                Stop::Diverged { cause, .. } => End::NonFinite {
                    lr,
                    detail: cause.to_string(),
                },
                _ => End::Completed,
            });
        }
        let (call, smoothed) = suggest::call(&obs.rec.lrs, &obs.rec.losses, plan.smooth);
        curves.push(Curve {
            seed,
            initial_loss: obs.initial_loss,
            lrs: obs.rec.lrs,
            losses: obs.rec.losses,
            smoothed,
            end: obs.rec.end.unwrap_or(End::Completed),
            call,
            lambda_max: obs.timeline.last("lambda_max"),
        });
    }
    let verdict = suggest::combine(&curves.iter().map(|c| (c.seed, &c.call)).collect::<Vec<_>>());
    let mut lambdas: Vec<f64> = curves.iter().filter_map(|c| c.lambda_max).collect();
    lambdas.sort_by(f64::total_cmp);
    let stability: Option<Stability> = (!lambdas.is_empty())
        .then(|| stability::threshold(&cfg.optimizer, lambdas[lambdas.len() / 2]));
    let momentum = match cfg.optimizer.get("name").and_then(|v| v.as_str()) {
        Some("sgd") => cfg
            .optimizer
            .get("momentum")
            .and_then(as_f64)
            .filter(|&m| m > 0.0),
        _ => None,
    };
    Ok(LrFind {
        momentum,
        config: config.display().to_string(),
        optimizer: cfg
            .optimizer
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string(),
        flag: verdict.lr().map(|lr| super::flag(&peak.key, lr)),
        peak,
        plan: plan.clone(),
        curves,
        verdict,
        stability,
    })
}
