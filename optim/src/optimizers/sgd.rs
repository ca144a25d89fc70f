//! Stochastic gradient descent with momentum, dampening and Nesterov momentum.
//!
//! Update rule (PyTorch's `torch.optim.SGD`), with gradient `g`, parameter `p`:
//! ```text
//! g ← −g                         if maximize
//! g ← g + λ·p                    (coupled L2, λ = weight_decay)
//! b ← g                          at the first step, else  b ← μ·b + (1 − τ)·g
//! g ← g + μ·b  if nesterov  else  g ← b
//! p ← p − lr·g
//! ```
//! Paper: Robbins & Monro (1951); momentum Polyak (1964); the Nesterov form is Sutskever et al.
//! (2013). Conventions: PyTorch's, which differ from the papers' in two ways — the first momentum
//! buffer is the raw gradient (no dampening) and the learning rate multiplies the buffer rather
//! than being folded into it (so changing lr does not rescale the velocity). Defaults are
//! PyTorch's: `lr = 1e-3`, everything else off.
//!
//! Recipe: `[scale(-1)] > add_decayed_weights > [trace] > scale_by_learning_rate`.

use crate::hyper::{Check, Hyper};
use crate::optimizers::torch_chain;
use crate::transforms::{scale_by_learning_rate, trace};
use crate::{Float, OptimError, Recipe, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdConfig {
    pub fn from_hyper(h: &mut Hyper<'_>) -> Result<Self> {
        let d = SgdConfig::default();
        Ok(SgdConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            momentum: h.f64("momentum", d.momentum, Check::NonNeg)?,
            dampening: h.f64("dampening", d.dampening, Check::Any)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            nesterov: h.bool("nesterov", d.nesterov)?,
            maximize: h.bool("maximize", d.maximize)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OptimError::invalid(
                "optimizer `sgd`",
                "nesterov",
                true,
                format!(
                    "Nesterov momentum requires momentum > 0 and dampening = 0 (got momentum {}, dampening {})",
                    self.momentum, self.dampening
                ),
            ));
        }
        let momentum =
            (self.momentum != 0.0).then(|| trace(self.momentum, self.dampening, self.nesterov));
        let chain = torch_chain(self.maximize, false, momentum)?.then(scale_by_learning_rate())?;
        Ok(Recipe {
            name: "sgd".into(),
            chain,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

pub fn build<F: Float>(_name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    SgdConfig::from_hyper(h)?.recipe()
}
