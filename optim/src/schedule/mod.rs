//! Learning-rate schedules with PyTorch's step-by-step semantics (being written).
//!
//! Contract: a schedule is created from the optimizer's initial group learning rates; `lrs()` is
//! the learning rate of every group for the coming optimizer step; `step(metric)` is called once
//! after each optimizer step (PyTorch's `scheduler.step()`; `metric` feeds reduce-on-plateau).

use crate::Result;

/// A learning-rate (and optionally momentum) schedule over parameter groups.
pub trait LrSchedule: Send {
    /// Schedule name as in config files (`cosine`, `one_cycle`, ...).
    fn name(&self) -> &'static str;
    /// The learning rate of each group for the coming step.
    fn lrs(&self) -> &[f64];
    /// The scheduled momentum (or Adam's beta1) of each group, for schedules that drive it.
    fn momentums(&self) -> Option<&[f64]> {
        None
    }
    /// Advances one step; `metric` is required by reduce-on-plateau and ignored by the others.
    fn step(&mut self, metric: Option<f64>) -> Result<()>;
    /// The schedule's whole state as numbers, for checkpoints.
    fn state(&self) -> Vec<f64>;
    /// Restores [`LrSchedule::state`]; the next `lrs()` is then identical to the saved run's.
    fn load_state(&mut self, state: &[f64]) -> Result<()>;
}

// TEMP (landscape branch): replaced by the schedule branch. A minimal `cosine`-only version of
// `from_table`/`apply` so `gradlab landscape` can be written against the final API.
struct TempCosine {
    base: Vec<f64>,
    lrs: Vec<f64>,
    t_max: f64,
    eta_min: f64,
    t: u64,
}

// TEMP (landscape branch): replaced by the schedule branch.
impl LrSchedule for TempCosine {
    fn name(&self) -> &'static str {
        "cosine"
    }
    fn lrs(&self) -> &[f64] {
        &self.lrs
    }
    fn step(&mut self, _metric: Option<f64>) -> Result<()> {
        self.t += 1;
        let c = (1.0 + (std::f64::consts::PI * self.t as f64 / self.t_max).cos()) / 2.0;
        for (lr, &b) in self.lrs.iter_mut().zip(&self.base) {
            *lr = self.eta_min + (b - self.eta_min) * c;
        }
        Ok(())
    }
    fn state(&self) -> Vec<f64> {
        vec![self.t as f64]
    }
    fn load_state(&mut self, state: &[f64]) -> Result<()> {
        self.t = state.first().copied().unwrap_or(0.0) as u64;
        Ok(())
    }
}

/// TEMP (landscape branch): replaced by the schedule branch. Builds a schedule from a
/// `[schedule]` table; only `cosine` (`t_max`, `eta_min`) here.
pub fn from_table(
    context: &str,
    table: &toml::Table,
    initial_lrs: &[f64],
    _initial_momentum: Option<f64>,
) -> Result<Box<dyn LrSchedule>> {
    use crate::hyper::{Check, Hyper};
    let name = table.get("name").and_then(|v| v.as_str()).unwrap_or("");
    if name != "cosine" {
        return Err(crate::OptimError::Unknown {
            context: context.to_string(),
            what: "schedule",
            name: name.to_string(),
            valid: "cosine".into(),
        });
    }
    let mut h = Hyper::new(format!("{context} (schedule `cosine`)"), table).ignoring(&["name"]);
    let t_max = h.required_f64("t_max", Check::Positive)?;
    let eta_min = h.f64("eta_min", 0.0, Check::NonNeg)?;
    h.finish()?;
    Ok(Box::new(TempCosine {
        base: initial_lrs.to_vec(),
        lrs: initial_lrs.to_vec(),
        t_max,
        eta_min,
        t: 0,
    }))
}

/// TEMP (landscape branch): replaced by the schedule branch. Copies the schedule's learning
/// rates (and momentums, if it drives them) into the optimizer's groups.
pub fn apply<F: crate::Float>(sched: &dyn LrSchedule, opt: &mut crate::Optimizer<F>) {
    opt.set_lrs(sched.lrs());
    if let Some(ms) = sched.momentums() {
        for (g, &m) in ms.iter().enumerate() {
            opt.set_momentum(g, Some(m));
        }
    }
}
