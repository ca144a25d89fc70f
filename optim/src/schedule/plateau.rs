//! `ReduceLROnPlateau(mode="min", factor=0.1, patience=10, threshold=1e-4,
//! threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8)`, fed by `step(Some(metric))`.
//!
//! A metric is better than the best so far when (min/rel) `m < best·(1 − threshold)`,
//! (min/abs) `m < best − threshold`, (max/rel) `m > best·(1 + threshold)`, (max/abs)
//! `m > best + threshold`. Otherwise it is a bad epoch; during cooldown the cooldown counter
//! counts down and bad epochs are forgotten. When the number of bad epochs exceeds `patience`,
//! every group's lr becomes `max(lr·factor, min_lr)` unless that changes it by no more than
//! `eps`, the cooldown starts and the bad-epoch count is reset. There is no initial step.

use super::{per_group, Core, Groups, Reader};
use crate::hyper::{Check, Hyper};
use crate::{OptimError, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct Plateau {
    pub max_mode: bool,
    pub factor: f64,
    pub patience: i64,
    pub threshold: f64,
    pub abs_threshold: bool,
    pub cooldown: i64,
    pub min_lrs: Vec<f64>,
    pub eps: f64,
    pub last_epoch: i64,
    pub best: f64,
    pub num_bad_epochs: i64,
    pub cooldown_counter: i64,
}

impl Plateau {
    fn is_better(&self, a: f64, best: f64) -> bool {
        match (self.max_mode, self.abs_threshold) {
            (false, false) => a < best * (1.0 - self.threshold),
            (false, true) => a < best - self.threshold,
            (true, false) => a > best * (self.threshold + 1.0),
            (true, true) => a > best + self.threshold,
        }
    }
}

impl Core for Plateau {
    fn name(&self) -> &'static str {
        "reduce_on_plateau"
    }
    fn step(&mut self, g: &mut Groups, metric: Option<f64>) -> Result<()> {
        let current = metric.ok_or_else(|| {
            OptimError::Invalid(
                "schedule `reduce_on_plateau`: step needs the monitored metric, got none".into(),
            )
        })?;
        self.last_epoch += 1;
        if self.is_better(current, self.best) {
            self.best = current;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.patience {
            for (lr, &min_lr) in g.lr.iter_mut().zip(&self.min_lrs) {
                let new_lr = (*lr * self.factor).max(min_lr);
                if *lr - new_lr > self.eps {
                    *lr = new_lr;
                }
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad_epochs = 0;
        }
        Ok(())
    }
    fn initial_step(&mut self, _g: &mut Groups) -> Result<()> {
        Ok(())
    }
    fn restart(&mut self, _g: &mut Groups) -> Result<()> {
        Ok(())
    }
    fn undo(&mut self) {}
    fn save(&self, out: &mut Vec<f64>) {
        // ±inf (the initial best) is saved as a flag so the state stays finite (JSON-safe).
        let (flag, best) = if self.best.is_finite() {
            (0.0, self.best)
        } else {
            (self.best.signum(), 0.0)
        };
        out.extend([
            self.last_epoch as f64,
            flag,
            best,
            self.num_bad_epochs as f64,
            self.cooldown_counter as f64,
        ]);
    }
    fn load(&mut self, r: &mut Reader<'_>) -> Result<()> {
        self.last_epoch = r.int()?;
        let flag = r.int()?;
        let best = r.num()?;
        self.best = if flag == 0 {
            best
        } else {
            flag as f64 * f64::INFINITY
        };
        self.num_bad_epochs = r.int()?;
        self.cooldown_counter = r.int()?;
        Ok(())
    }
}

pub fn build(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let mode = h.choice("mode", "min", &["min", "max"])?;
    let factor = h.f64("factor", 0.1, Check::Unit)?;
    let patience = h.usize("patience", 10)? as i64;
    let threshold = h.f64("threshold", 1e-4, Check::NonNeg)?;
    let threshold_mode = h.choice("threshold_mode", "rel", &["rel", "abs"])?;
    let cooldown = h.usize("cooldown", 0)? as i64;
    let min_lrs = per_group(
        h,
        "min_lr",
        Some(0.0),
        g.len(),
        |x| x >= 0.0,
        "must be >= 0",
    )?;
    let eps = h.f64("eps", 1e-8, Check::NonNeg)?;
    let max_mode = mode == "max";
    Ok(Box::new(Plateau {
        max_mode,
        factor,
        patience,
        threshold,
        abs_threshold: threshold_mode == "abs",
        cooldown,
        min_lrs,
        eps,
        last_epoch: 0,
        best: if max_mode {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        },
        num_bad_epochs: 0,
        cooldown_counter: 0,
    }))
}
