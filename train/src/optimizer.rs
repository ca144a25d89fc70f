//! The run config's optimizer: `[optimizer]`, `[clip]` and `[schedule]` built through the one
//! builder ([`optim::build`]), after filling in what only the run knows (a schedule's span).

use nn::Sequential;
use optim::{LrSchedule, Optimizer};

use crate::config::{Interval, RunConfig};
use crate::Result;

/// A boxed learning-rate schedule.
pub type Schedule = Box<dyn LrSchedule>;

/// Builds the optimizer (with `[clip]`) and the schedule for `model`.
///
/// A `one_cycle` schedule without `total_steps` and a `cosine` one without `t_max` span the whole
/// run: its optimizer steps (`interval = "step"`) or epochs (`interval = "epoch"`), computed from
/// `[train]` and `steps_per_epoch`.
pub fn build_optimizer(
    cfg: &RunConfig,
    model: &Sequential,
    steps_per_epoch: u64,
) -> Result<(Optimizer<f32>, Option<Schedule>)> {
    let ctx = format!("{}: [optimizer]", cfg.source);
    let groups_ctx = format!("{ctx} groups");
    let clip_ctx = format!("{}: [clip]", cfg.source);
    let schedule_ctx = format!("{}: [schedule]", cfg.source);
    let schedule = cfg.schedule.as_ref().map(|sc| {
        let mut table = sc.table.clone();
        let span = match (sc.interval, cfg.train.steps, cfg.train.epochs) {
            (Interval::Step, Some(s), _) => s,
            (Interval::Step, None, Some(e)) => (e as u64).saturating_mul(steps_per_epoch),
            (Interval::Epoch, Some(s), _) => s.div_ceil(steps_per_epoch),
            (Interval::Epoch, None, Some(e)) => e as u64,
            _ => 0,
        };
        let key = match table.get("name").and_then(|v| v.as_str()) {
            Some("one_cycle") => Some("total_steps"),
            Some("cosine") => Some("t_max"),
            _ => None,
        };
        if let Some(key) = key {
            if !table.contains_key(key) && span > 0 {
                // A span past TOML's integers is as good as endless.
                let span = i64::try_from(span).unwrap_or(i64::MAX);
                table.insert(key.into(), toml::Value::Integer(span));
            }
        }
        table
    });
    let tables = optim::build::Tables {
        optimizer: (&ctx, &cfg.optimizer),
        extra: &["groups"],
        groups: cfg
            .optimizer
            .get("groups")
            .map(|v| (groups_ctx.as_str(), v)),
        clip: cfg.clip.as_ref().map(|t| (clip_ctx.as_str(), t)),
        schedule: schedule.as_ref().map(|t| (schedule_ctx.as_str(), t)),
    };
    Ok(optim::build::build(&tables, model)?)
}
