//! The always-on readings: the step's loss, learning rate and global gradient norm, and the
//! epoch records.
//!
//! Series: `loss`, `lr`, `grad_norm` (global L2 norm before clipping) at every step.

use optim::Params;
use train::{EpochRecord, Probe};

use super::{Every, Instrument};
use crate::{Result, Timeline};

/// Loss and learning rate of every step; the global gradient norm on a schedule (every step
/// by default: a pass over every gradient costs a few percent of a small model's step, so the
/// economy preset reads it every 10 steps, and on every step the log records anyway).
#[derive(Debug)]
pub struct Basic {
    pub grad_norm_every: Every,
}

impl Basic {
    /// The readings of `preset`: the gradient norm every step in full, every 10 in economy.
    pub fn for_preset(preset: crate::Preset) -> Basic {
        Basic {
            grad_norm_every: Every(if preset == crate::Preset::Full { 1 } else { 10 }),
        }
    }
}

impl Default for Basic {
    fn default() -> Basic {
        Basic {
            grad_norm_every: Every(1),
        }
    }
}

impl Instrument for Basic {
    fn name(&self) -> &'static str {
        "basic"
    }

    fn wants_grad_norm(&self, step: u64) -> bool {
        self.grad_norm_every.due(step)
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        t.push("loss", None, p.step, p.loss as f64);
        t.push("lr", None, p.step, p.lr);
        // The trainer computes the norm once for its log and for us (the Doctor asks for it
        // when an instrument wants it); a step it computed anyway is recorded too.
        let norm = match p.grad_norm {
            Some(n) => Some(n),
            None if self.grad_norm_every.due(p.step) => {
                let m = &*p.model;
                let sq: f64 = (0..Params::<f32>::count(m))
                    .filter_map(|i| Params::<f32>::grad(m, i))
                    .map(nn::sum_sq)
                    .sum();
                Some(sq.sqrt())
            }
            None => None,
        };
        if let Some(n) = norm {
            t.push("grad_norm", None, p.step, n);
        }
        Ok(())
    }

    fn after_epoch(&mut self, r: &EpochRecord, t: &mut Timeline) -> Result<()> {
        t.epochs.push(r.clone());
        Ok(())
    }
}
