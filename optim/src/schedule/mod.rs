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
