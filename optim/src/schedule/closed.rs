//! The schedulers with a closed form: `ConstantLR`, `StepLR`, `MultiStepLR`, `ExponentialLR`,
//! `CosineAnnealingLR`, `LinearLR`, `PolynomialLR` (chainable: each `step()` multiplies the
//! current lr, as `torch.optim.lr_scheduler` does) and `CosineAnnealingWarmRestarts` (which
//! recomputes from `base_lr` every step).
//!
//! With `t = last_epoch` (number of `step()` calls so far), `η₀ = initial_lr`, PyTorch's
//! recursive updates are:
//! ```text
//! constant     t = 0: η·factor;  t = total_iters: η·(1/factor);  else η
//! step         t > 0 and t % step_size = 0: η·γ
//! multistep    t in milestones: η·γ^(count of t in milestones)
//! exponential  η·γ
//! cosine       η_min + (η − η_min)·(1 + cos(πt/T)) / (1 + cos(π(t−1)/T)),
//!              or η + (η₀ − η_min)(1 − cos(π/T))/2 when (t − 1 − T) % 2T = 0
//! linear       t = 0: η·start;  0 < t ≤ total_iters: η·(1 + (end−start)/(total·start + (t−1)(end−start)))
//! polynomial   0 < t ≤ total_iters: η·((1 − t/total)/(1 − (t−1)/total))^power
//! cosine_warm_restarts  η_min + (η₀ − η_min)(1 + cos(π·T_cur/T_i))/2, T_cur += 1 and wraps at
//!              T_i, which is then multiplied by T_mult
//! ```
//! The recursive forms drift from the closed forms by a few ulps; PyTorch's values are the
//! recursive ones, so these are too.

use super::{int_at_least, int_list, py_mod, Base, Chainable, Core, Groups, Reader, Rule};
use crate::hyper::{Check, Hyper};
use crate::{OptimError, Result};
use std::f64::consts::PI;

fn map(g: &Groups, f: impl Fn(f64) -> f64) -> Vec<f64> {
    g.lr.iter().map(|&lr| f(lr)).collect()
}

/// `ConstantLR(factor=1/3, total_iters=5)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    pub factor: f64,
    pub total_iters: i64,
}

impl Rule for Constant {
    fn name(&self) -> &'static str {
        "constant"
    }
    fn get_lr(&self, b: &Base, g: &mut Groups, _initial: bool) -> Result<Vec<f64>> {
        Ok(if b.last_epoch == 0 {
            map(g, |lr| lr * self.factor)
        } else if b.last_epoch != self.total_iters {
            g.lr.clone()
        } else {
            map(g, |lr| lr * (1.0 / self.factor))
        })
    }
    fn closed_form(&self, b: &Base) -> Option<Vec<f64>> {
        let reached = if b.last_epoch >= self.total_iters {
            1.0
        } else {
            0.0
        };
        Some(
            b.base_lrs
                .iter()
                .map(|&l| l * (self.factor + reached * (1.0 - self.factor)))
                .collect(),
        )
    }
}

pub fn constant(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let factor = h.f64("factor", 1.0 / 3.0, Check::UnitClosed)?;
    if factor == 0.0 {
        return Err(OptimError::invalid(
            h.context(),
            "factor",
            factor,
            "must be in (0, 1]",
        ));
    }
    let total_iters = int_at_least(h, "total_iters", Some(5), 1)?;
    Chainable::boxed(
        Constant {
            factor,
            total_iters,
        },
        g,
    )
}

/// `StepLR(step_size, gamma=0.1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub step_size: i64,
    pub gamma: f64,
}

impl Rule for Step {
    fn name(&self) -> &'static str {
        "step"
    }
    fn get_lr(&self, b: &Base, g: &mut Groups, _initial: bool) -> Result<Vec<f64>> {
        Ok(
            if b.last_epoch == 0 || py_mod(b.last_epoch, self.step_size) != 0 {
                g.lr.clone()
            } else {
                map(g, |lr| lr * self.gamma)
            },
        )
    }
    fn closed_form(&self, b: &Base) -> Option<Vec<f64>> {
        let k = b.last_epoch.div_euclid(self.step_size) as f64;
        Some(b.base_lrs.iter().map(|&l| l * self.gamma.powf(k)).collect())
    }
}

fn gamma(h: &mut Hyper<'_>, default: Option<f64>) -> Result<f64> {
    match default {
        Some(d) => h.f64("gamma", d, Check::Positive),
        None => h.required_f64("gamma", Check::Positive),
    }
}

pub fn step(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let step_size = int_at_least(h, "step_size", None, 1)?;
    let gamma = gamma(h, Some(0.1))?;
    Chainable::boxed(Step { step_size, gamma }, g)
}

/// `MultiStepLR(milestones, gamma=0.1)`; a milestone listed twice decays twice, as with
/// PyTorch's `Counter`.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStep {
    /// Sorted.
    pub milestones: Vec<i64>,
    pub gamma: f64,
}

impl Rule for MultiStep {
    fn name(&self) -> &'static str {
        "multistep"
    }
    fn get_lr(&self, b: &Base, g: &mut Groups, _initial: bool) -> Result<Vec<f64>> {
        let count = self
            .milestones
            .iter()
            .filter(|&&m| m == b.last_epoch)
            .count();
        Ok(if count == 0 {
            g.lr.clone()
        } else {
            let f = self.gamma.powf(count as f64);
            map(g, |lr| lr * f)
        })
    }
    fn closed_form(&self, b: &Base) -> Option<Vec<f64>> {
        let k = self
            .milestones
            .iter()
            .filter(|&&m| m <= b.last_epoch)
            .count() as f64;
        Some(b.base_lrs.iter().map(|&l| l * self.gamma.powf(k)).collect())
    }
}

pub fn multistep(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let mut milestones = int_list(h, "milestones")?;
    milestones.sort_unstable();
    let gamma = gamma(h, Some(0.1))?;
    Chainable::boxed(MultiStep { milestones, gamma }, g)
}

/// `ExponentialLR(gamma)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Exponential {
    pub gamma: f64,
}

impl Rule for Exponential {
    fn name(&self) -> &'static str {
        "exponential"
    }
    fn get_lr(&self, _b: &Base, g: &mut Groups, initial: bool) -> Result<Vec<f64>> {
        Ok(if initial {
            g.lr.clone()
        } else {
            map(g, |lr| lr * self.gamma)
        })
    }
    fn closed_form(&self, b: &Base) -> Option<Vec<f64>> {
        let t = b.last_epoch as f64;
        Some(b.base_lrs.iter().map(|&l| l * self.gamma.powf(t)).collect())
    }
}

pub fn exponential(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let gamma = gamma(h, None)?;
    Chainable::boxed(Exponential { gamma }, g)
}

/// `CosineAnnealingLR(T_max, eta_min=0)`, in PyTorch's recursive form (which keeps following
/// the cosine past `T_max`, back up to `η₀` at `2·T_max`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cosine {
    pub t_max: i64,
    pub eta_min: f64,
}

impl Rule for Cosine {
    fn name(&self) -> &'static str {
        "cosine"
    }
    fn get_lr(&self, b: &Base, g: &mut Groups, initial: bool) -> Result<Vec<f64>> {
        let (t, tm, e) = (b.last_epoch, self.t_max as f64, self.eta_min);
        Ok(if initial {
            g.lr.clone()
        } else if b.step_count == 1 && t > 0 {
            let c = 1.0 + ((t as f64) * PI / tm).cos();
            b.base_lrs
                .iter()
                .map(|&base| e + (base - e) * c / 2.0)
                .collect()
        } else if py_mod(t - 1 - self.t_max, 2 * self.t_max) == 0 {
            let c = 1.0 - (PI / tm).cos();
            g.lr.iter()
                .zip(&b.base_lrs)
                .map(|(&lr, &base)| lr + (base - e) * c / 2.0)
                .collect()
        } else {
            let ratio =
                (1.0 + (PI * t as f64 / tm).cos()) / (1.0 + (PI * (t - 1) as f64 / tm).cos());
            map(g, |lr| ratio * (lr - e) + e)
        })
    }
    fn closed_form(&self, b: &Base) -> Option<Vec<f64>> {
        let (e, c) = (
            self.eta_min,
            1.0 + (PI * b.last_epoch as f64 / self.t_max as f64).cos(),
        );
        Some(
            b.base_lrs
                .iter()
                .map(|&base| e + (base - e) * c / 2.0)
                .collect(),
        )
    }
}

pub fn cosine(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let t_max = int_at_least(h, "t_max", None, 1)?;
    let eta_min = h.f64("eta_min", 0.0, Check::NonNeg)?;
    Chainable::boxed(Cosine { t_max, eta_min }, g)
}

/// `LinearLR(start_factor=1/3, end_factor=1, total_iters=5)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub start_factor: f64,
    pub end_factor: f64,
    pub total_iters: i64,
}

impl Rule for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }
    fn get_lr(&self, b: &Base, g: &mut Groups, initial: bool) -> Result<Vec<f64>> {
        let (s, e, n, t) = (
            self.start_factor,
            self.end_factor,
            self.total_iters,
            b.last_epoch,
        );
        Ok(if t == 0 {
            map(g, |lr| lr * s)
        } else if initial || t > n {
            g.lr.clone()
        } else {
            let f = 1.0 + (e - s) / (n as f64 * s + (t - 1) as f64 * (e - s));
            map(g, |lr| lr * f)
        })
    }
    fn closed_form(&self, b: &Base) -> Option<Vec<f64>> {
        let (s, e, n) = (self.start_factor, self.end_factor, self.total_iters);
        let f = s + (e - s) * n.min(b.last_epoch) as f64 / n as f64;
        Some(b.base_lrs.iter().map(|&l| l * f).collect())
    }
}

pub fn linear(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let start_factor = h.f64("start_factor", 1.0 / 3.0, Check::UnitClosed)?;
    if start_factor == 0.0 {
        return Err(OptimError::invalid(
            h.context(),
            "start_factor",
            start_factor,
            "must be in (0, 1]",
        ));
    }
    let end_factor = h.f64("end_factor", 1.0, Check::UnitClosed)?;
    let total_iters = int_at_least(h, "total_iters", Some(5), 1)?;
    Chainable::boxed(
        Linear {
            start_factor,
            end_factor,
            total_iters,
        },
        g,
    )
}

/// `PolynomialLR(total_iters=5, power=1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Polynomial {
    pub total_iters: i64,
    pub power: f64,
}

impl Rule for Polynomial {
    fn name(&self) -> &'static str {
        "polynomial"
    }
    fn get_lr(&self, b: &Base, g: &mut Groups, initial: bool) -> Result<Vec<f64>> {
        let (n, t) = (self.total_iters as f64, b.last_epoch);
        Ok(if initial || b.last_epoch > self.total_iters {
            g.lr.clone()
        } else {
            let f = ((1.0 - t as f64 / n) / (1.0 - (t - 1) as f64 / n)).powf(self.power);
            map(g, |lr| lr * f)
        })
    }
    fn closed_form(&self, b: &Base) -> Option<Vec<f64>> {
        let n = self.total_iters;
        let f = (1.0 - n.min(b.last_epoch) as f64 / n as f64).powf(self.power);
        Some(b.base_lrs.iter().map(|&l| l * f).collect())
    }
}

pub fn polynomial(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let total_iters = int_at_least(h, "total_iters", Some(5), 1)?;
    let power = h.f64("power", 1.0, Check::NonNeg)?;
    Chainable::boxed(Polynomial { total_iters, power }, g)
}

/// `CosineAnnealingWarmRestarts(T_0, T_mult=1, eta_min=0)`, stepped with `step()` (integer
/// epochs). It overrides PyTorch's `step`, so it is a [`Core`] of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmRestarts {
    pub t_0: i64,
    pub t_mult: i64,
    pub eta_min: f64,
    pub t_i: i64,
    pub t_cur: i64,
    pub last_epoch: i64,
    pub base_lrs: Vec<f64>,
}

impl WarmRestarts {
    fn lrs(&self) -> Vec<f64> {
        let e = self.eta_min;
        let c = 1.0 + (PI * self.t_cur as f64 / self.t_i as f64).cos();
        self.base_lrs
            .iter()
            .map(|&base| e + (base - e) * c / 2.0)
            .collect()
    }
}

impl Core for WarmRestarts {
    fn name(&self) -> &'static str {
        "cosine_warm_restarts"
    }
    fn step(&mut self, g: &mut Groups, _metric: Option<f64>) -> Result<()> {
        if self.last_epoch < 0 {
            // `step(0)`: 0 < T_0.
            self.t_i = self.t_0;
            self.t_cur = 0;
            self.last_epoch = 0;
        } else {
            self.last_epoch += 1;
            self.t_cur += 1;
            if self.t_cur >= self.t_i {
                self.t_cur = py_mod(self.t_cur, self.t_i);
                self.t_i *= self.t_mult;
            }
        }
        g.lr = self.lrs();
        Ok(())
    }
    fn initial_step(&mut self, g: &mut Groups) -> Result<()> {
        self.step(g, None)
    }
    fn restart(&mut self, g: &mut Groups) -> Result<()> {
        // `_update_lr(0)`: no closed form, `get_lr()` with the current T_cur (0 for a scheduler
        // not yet stepped, the same as older releases' `step(0)`).
        self.last_epoch = 0;
        g.lr = self.lrs();
        Ok(())
    }
    fn undo(&mut self) {
        self.last_epoch -= 1;
    }
    fn save(&self, out: &mut Vec<f64>) {
        out.extend([self.t_i as f64, self.t_cur as f64, self.last_epoch as f64]);
        out.extend_from_slice(&self.base_lrs);
    }
    fn load(&mut self, r: &mut Reader<'_>) -> Result<()> {
        self.t_i = r.int()?;
        self.t_cur = r.int()?;
        self.last_epoch = r.int()?;
        self.base_lrs = r.vec()?;
        Ok(())
    }
}

pub fn cosine_warm_restarts(h: &mut Hyper<'_>, g: &mut Groups) -> Result<Box<dyn Core>> {
    let t_0 = int_at_least(h, "t_0", None, 1)?;
    let t_mult = int_at_least(h, "t_mult", Some(1), 1)?;
    let eta_min = h.f64("eta_min", 0.0, Check::NonNeg)?;
    let mut s = WarmRestarts {
        t_0,
        t_mult,
        eta_min,
        t_i: t_0,
        t_cur: -1,
        last_epoch: -1,
        base_lrs: g.initial_lr.clone(),
    };
    s.initial_step(g)?;
    Ok(Box::new(s))
}
