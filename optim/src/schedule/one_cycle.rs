//! `OneCycleLR` (Smith & Topin 2017, "Super-Convergence"; fastai's two-phase default).
//!
//! At construction every group gets `initial_lr = max_lr/div_factor`, `min_lr =
//! initial_lr/final_div_factor` and (with `cycle_momentum`) `momentum = max_momentum`; the lr of
//! step `s` (0-based, `s = 0..=total_steps`) is annealed inside the phase containing `s`:
//! ```text
//! two phases:   [0, pct·T − 1]: initial_lr → max_lr,   then → min_lr at T − 1
//! three phases: [0, pct·T − 1]: initial_lr → max_lr,   [.., 2·pct·T − 2]: → initial_lr,
//!               then → min_lr at T − 1
//! cos:    end + (start − end)/2 · (cos(π·pct) + 1)      linear: (end − start)·pct + start
//! ```
//! Momentum runs inversely (max → base → max), through the same phases. The last phase
//! extrapolates at step `T`; a step past `T` is an error, as in PyTorch. Phase boundaries are
//! read from the groups at every step (PyTorch reads `group["max_lr"]` etc.), which matters only
//! inside `sequential`.

use super::{int_at_least, per_group, Base, Chainable, Core, Groups, Rule};
use crate::hyper::{Check, Hyper};
use crate::{OptimError, Result};
use std::f64::consts::PI;

/// Which group field a phase starts or ends at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key {
    InitialLr,
    MaxLr,
    MinLr,
    MaxMomentum,
    BaseMomentum,
}

impl Key {
    fn get(self, g: &Groups, i: usize) -> Result<f64> {
        let v = match self {
            Key::InitialLr => Some(&g.initial_lr),
            Key::MaxLr => g.max_lr.as_ref(),
            Key::MinLr => g.min_lr.as_ref(),
            Key::MaxMomentum => g.max_momentum.as_ref(),
            Key::BaseMomentum => g.base_momentum.as_ref(),
        };
        v.and_then(|v| v.get(i).copied()).ok_or_else(|| {
            OptimError::Invalid(format!("schedule `one_cycle`: group {i} has no {self:?}"))
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub end_step: f64,
    pub start_lr: Key,
    pub end_lr: Key,
    pub start_momentum: Key,
    pub end_momentum: Key,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OneCycle {
    pub total_steps: i64,
    pub phases: Vec<Phase>,
    pub cos: bool,
    pub cycle_momentum: bool,
}

impl OneCycle {
    fn anneal(&self, start: f64, end: f64, pct: f64) -> f64 {
        if self.cos {
            let cos_out = (PI * pct).cos() + 1.0;
            end + (start - end) / 2.0 * cos_out
        } else {
            (end - start) * pct + start
        }
    }
}

impl Rule for OneCycle {
    fn name(&self) -> &'static str {
        "one_cycle"
    }
    fn get_lr(&self, b: &Base, g: &mut Groups, _initial: bool) -> Result<Vec<f64>> {
        let step_num = b.last_epoch;
        if step_num > self.total_steps {
            return Err(OptimError::Invalid(format!(
                "schedule `one_cycle`: tried to step {step_num} times; total_steps is {}",
                self.total_steps
            )));
        }
        let s = step_num as f64;
        let mut lrs = Vec::with_capacity(g.len());
        let mut moms = Vec::with_capacity(g.len());
        for i in 0..g.len() {
            let mut start_step = 0.0;
            for (k, phase) in self.phases.iter().enumerate() {
                let end_step = phase.end_step;
                if s <= end_step || k == self.phases.len() - 1 {
                    let span = end_step - start_step;
                    if span == 0.0 {
                        return Err(OptimError::Invalid(format!(
                            "schedule `one_cycle`: phase {k} has zero length at step {step_num} \
                             (division by zero in PyTorch); change pct_start or total_steps"
                        )));
                    }
                    let pct = (s - start_step) / span;
                    lrs.push(self.anneal(phase.start_lr.get(g, i)?, phase.end_lr.get(g, i)?, pct));
                    if self.cycle_momentum {
                        let (a, z) = (
                            phase.start_momentum.get(g, i)?,
                            phase.end_momentum.get(g, i)?,
                        );
                        moms.push(self.anneal(a, z, pct));
                    }
                    break;
                }
                start_step = phase.end_step;
            }
        }
        if self.cycle_momentum {
            g.momentum = Some(moms);
        }
        Ok(lrs)
    }
}

pub fn build(
    h: &mut Hyper<'_>,
    g: &mut Groups,
    initial_momentum: Option<f64>,
) -> Result<Box<dyn Core>> {
    let n = g.len();
    let max_lr = per_group(h, "max_lr", None, n, |x| x >= 0.0, "must be >= 0")?;
    let total_steps = int_at_least(h, "total_steps", None, 1)?;
    let pct_start = h.f64("pct_start", 0.3, Check::UnitClosed)?;
    let strategy = h.choice("anneal_strategy", "cos", &["cos", "linear"])?;
    let div_factor = h.f64("div_factor", 25.0, Check::Positive)?;
    let final_div_factor = h.f64("final_div_factor", 1e4, Check::Positive)?;
    let three_phase = h.bool("three_phase", false)?;
    let cycle_momentum = h.bool("cycle_momentum", true)?;
    let base_momentum = per_group(
        h,
        "base_momentum",
        Some(0.85),
        n,
        |_| true,
        "must be a finite number",
    )?;
    let max_momentum = per_group(
        h,
        "max_momentum",
        Some(0.95),
        n,
        |_| true,
        "must be a finite number",
    )?;
    if cycle_momentum && initial_momentum.is_none() {
        return Err(OptimError::invalid(
            h.context(),
            "cycle_momentum",
            true,
            "the optimizer has no momentum or beta1 to cycle; set cycle_momentum = false",
        ));
    }
    let t = total_steps as f64;
    use Key::*;
    let phases = if three_phase {
        vec![
            Phase {
                end_step: pct_start * t - 1.0,
                start_lr: InitialLr,
                end_lr: MaxLr,
                start_momentum: MaxMomentum,
                end_momentum: BaseMomentum,
            },
            Phase {
                end_step: 2.0 * pct_start * t - 2.0,
                start_lr: MaxLr,
                end_lr: InitialLr,
                start_momentum: BaseMomentum,
                end_momentum: MaxMomentum,
            },
            Phase {
                end_step: t - 1.0,
                start_lr: InitialLr,
                end_lr: MinLr,
                start_momentum: MaxMomentum,
                end_momentum: MaxMomentum,
            },
        ]
    } else {
        vec![
            Phase {
                end_step: pct_start * t - 1.0,
                start_lr: InitialLr,
                end_lr: MaxLr,
                start_momentum: MaxMomentum,
                end_momentum: BaseMomentum,
            },
            Phase {
                end_step: t - 1.0,
                start_lr: MaxLr,
                end_lr: MinLr,
                start_momentum: BaseMomentum,
                end_momentum: MaxMomentum,
            },
        ]
    };
    // The constructor writes these group fields before LRScheduler.__init__ runs.
    g.initial_lr = max_lr.iter().map(|&m| m / div_factor).collect();
    g.min_lr = Some(g.initial_lr.iter().map(|&l| l / final_div_factor).collect());
    g.max_lr = Some(max_lr);
    if cycle_momentum {
        g.momentum = Some(max_momentum.clone());
        g.max_momentum = Some(max_momentum);
        g.base_momentum = Some(base_momentum);
    }
    Chainable::boxed(
        OneCycle {
            total_steps,
            phases,
            cos: strategy == "cos",
            cycle_momentum,
        },
        g,
    )
}
