//! `SequentialLR(schedulers=[...], milestones=[...])`, with PyTorch's quirks.
//!
//! Config: `schedulers = [{ name = "linear", total_iters = 5 }, { name = "cosine", t_max = 20 }]`
//! and `milestones = [5]` (one fewer than the schedulers, strictly increasing, >= 1).
//!
//! As in PyTorch: the schedulers are constructed one after another on the same groups, each
//! running its own initial step (so a `one_cycle` rewrites `initial_lr` for everything after);
//! then every group's lr is reset to `initial_lr`, every scheduler's `last_epoch` is decremented
//! and only the first scheduler's initial step is redone. Step `t` goes to scheduler
//! `bisect_right(milestones, t)`; exactly at a milestone that scheduler is restarted with
//! `step(0)` (its closed form at epoch 0, e.g. `η₀` for cosine, `η₀·γ⁰` for exponential), from
//! which it then continues recursively from whatever lr it produced.

use super::{build_core, int_list, Core, Groups, Reader};
use crate::hyper::Hyper;
use crate::{OptimError, Result};

pub struct Sequential {
    pub schedulers: Vec<Box<dyn Core>>,
    pub milestones: Vec<i64>,
    pub last_epoch: i64,
}

impl Core for Sequential {
    fn name(&self) -> &'static str {
        "sequential"
    }
    fn step(&mut self, g: &mut Groups, _metric: Option<f64>) -> Result<()> {
        let t = self.last_epoch + 1;
        let idx = self.milestones.iter().filter(|&&m| m <= t).count();
        let s = &mut self.schedulers[idx];
        if idx > 0 && self.milestones[idx - 1] == t {
            s.restart(g)?;
        } else {
            s.step(g, None)?;
        }
        self.last_epoch = t;
        Ok(())
    }
    fn initial_step(&mut self, _g: &mut Groups) -> Result<()> {
        Err(OptimError::Invalid(
            "schedule `sequential` cannot be nested".into(),
        ))
    }
    fn restart(&mut self, _g: &mut Groups) -> Result<()> {
        Err(OptimError::Invalid(
            "schedule `sequential` cannot be nested".into(),
        ))
    }
    fn undo(&mut self) {}
    fn save(&self, out: &mut Vec<f64>) {
        out.push(self.last_epoch as f64);
        for s in &self.schedulers {
            s.save(out);
        }
    }
    fn load(&mut self, r: &mut Reader<'_>) -> Result<()> {
        self.last_epoch = r.int()?;
        for s in &mut self.schedulers {
            s.load(r)?;
        }
        Ok(())
    }
}

pub fn build(
    h: &mut Hyper<'_>,
    g: &mut Groups,
    initial_momentum: Option<f64>,
) -> Result<Box<dyn Core>> {
    let ctx = h.context().to_string();
    let list = match h.raw("schedulers") {
        None => {
            return Err(OptimError::Missing {
                context: ctx,
                field: "schedulers".into(),
            })
        }
        Some(toml::Value::Array(a)) if !a.is_empty() => a,
        Some(v) => {
            return Err(OptimError::invalid(
                &ctx,
                "schedulers",
                v,
                "expected a non-empty list of tables like { name = \"linear\", ... }",
            ))
        }
    };
    let milestones = int_list(h, "milestones")?;
    if milestones.len() + 1 != list.len() {
        return Err(OptimError::invalid(
            &ctx,
            "milestones",
            format!("{milestones:?}"),
            format!(
                "expected one fewer milestone than schedulers ({})",
                list.len()
            ),
        ));
    }
    if milestones.first().is_some_and(|&m| m < 1) || milestones.windows(2).any(|w| w[1] <= w[0]) {
        return Err(OptimError::invalid(
            &ctx,
            "milestones",
            format!("{milestones:?}"),
            "must be strictly increasing and >= 1",
        ));
    }
    let mut schedulers = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let field = format!("schedulers[{i}]");
        let t = v.as_table().ok_or_else(|| {
            OptimError::invalid(
                &ctx,
                &field,
                v,
                "expected a table like { name = \"linear\", ... }",
            )
        })?;
        let sub_ctx = format!("{ctx}: {field}");
        let name = super::table_name(&sub_ctx, t)?;
        let mut sh = Hyper::new(format!("{sub_ctx} (schedule `{name}`)"), t).ignoring(&["name"]);
        schedulers.push(build_core(&name, &mut sh, g, initial_momentum, true)?);
        sh.finish()?;
    }
    // SequentialLR.__init__: reset lrs, undo every initial step, redo the first one's.
    g.lr = g.initial_lr.clone();
    for s in &mut schedulers {
        s.undo();
    }
    schedulers[0].initial_step(g)?;
    Ok(Box::new(Sequential {
        schedulers,
        milestones,
        last_epoch: 0,
    }))
}
