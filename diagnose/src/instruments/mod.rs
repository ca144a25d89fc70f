//! Instruments: each measures one kind of trace on its own schedule and writes named series into
//! the [`Timeline`]. Each module documents the series it writes.

use train::{EpochRecord, Probe};

use crate::{Result, Timeline};

pub mod activations;
pub mod basic;
pub mod curvature;
pub mod hessian_diag;
pub mod lanczos;
pub mod layers;
pub mod per_example;
pub mod reduce;
pub mod stability;
pub mod step;

/// A measurement taken while training.
pub trait Instrument: Send {
    /// Short name (`layers`, `curvature`, …) for messages and the overhead benchmark.
    fn name(&self) -> &'static str;

    /// Whether step `step`'s backward pass should compute per-example gradient norms.
    fn wants_per_example(&self, _step: u64) -> bool {
        false
    }

    /// Whether step `step`'s probes should carry the global gradient norm.
    fn wants_grad_norm(&self, _step: u64) -> bool {
        false
    }

    /// After the backward pass of a step (gradients present, weights not yet updated).
    fn after_backward(&mut self, _p: &mut Probe<'_>, _t: &mut Timeline) -> Result<()> {
        Ok(())
    }

    /// After the update of a step.
    fn after_update(&mut self, _p: &mut Probe<'_>, _t: &mut Timeline) -> Result<()> {
        Ok(())
    }

    /// After an epoch's evaluation.
    fn after_epoch(&mut self, _r: &EpochRecord, _t: &mut Timeline) -> Result<()> {
        Ok(())
    }
}

/// A schedule: due at step 1 and then every `n` steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Every(pub u64);

impl Every {
    pub fn due(self, step: u64) -> bool {
        self.0 > 0 && (step == 1 || step.is_multiple_of(self.0))
    }
}

/// The instruments of a preset (besides the always-on [`basic::Basic`]).
pub fn preset(preset: crate::Preset) -> Vec<Box<dyn Instrument>> {
    let full = preset == crate::Preset::Full;
    let mut v: Vec<Box<dyn Instrument>> = Vec::new();
    if full {
        v.push(Box::new(layers::Layers::full()));
        v.push(Box::new(activations::Activations::full()));
        v.push(Box::new(per_example::PerExample::full()));
        v.push(Box::new(curvature::Curvature::full()));
    } else {
        v.push(Box::new(layers::Layers::economy()));
        v.push(Box::new(activations::Activations::economy()));
        v.push(Box::new(per_example::PerExample::economy()));
        v.push(Box::new(curvature::Curvature::economy()));
    }
    // α costs a forward pass and two weight copies: every 10 steps in full, every 100 in economy.
    v.push(Box::new(step::StepQuality::new(Every(if full {
        10
    } else {
        100
    }))));
    v
}
