//! The always-on readings: the step's loss, learning rate and global gradient norm, and the
//! epoch records.
//!
//! Series: `loss`, `lr`, `grad_norm` (global L2 norm before clipping) at every step.

use optim::Params;
use train::{EpochRecord, Probe};

use super::Instrument;
use crate::{Result, Timeline};

/// Loss, learning rate and global gradient norm of every step.
#[derive(Debug, Default)]
pub struct Basic;

impl Instrument for Basic {
    fn name(&self) -> &'static str {
        "basic"
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        t.push("loss", None, p.step, p.loss as f64);
        t.push("lr", None, p.step, p.lr);
        // The trainer computes the norm once for the log and for us (the Doctor asks for it).
        let norm = p.grad_norm.unwrap_or_else(|| {
            let m = &*p.model;
            (0..Params::<f32>::count(m))
                .filter_map(|i| Params::<f32>::grad(m, i))
                .map(nn::sum_sq)
                .sum::<f64>()
                .sqrt()
        });
        t.push("grad_norm", None, p.step, norm);
        Ok(())
    }

    fn after_epoch(&mut self, r: &EpochRecord, t: &mut Timeline) -> Result<()> {
        t.epochs.push(r.clone());
        Ok(())
    }
}
