//! gradlab's optimizer library.
//!
//! Optimizers are chains of small transforms ([`transforms`]), optax-style; the named ones in
//! [`optimizers`] are short recipes that match `torch.optim`'s update rules and defaults. A
//! [`Chain`] runs all elementwise transforms of a step in one fused, in-place, multi-threaded pass
//! over memory; Adam, AdamW and SGD with momentum run as hand-fused loops ([`fused`]),
//! bit-identical to their chains. The [`Optimizer`] driver walks a model's named parameters ([`Params`]), applies
//! parameter groups, global-norm clipping and non-finite skipping.
//!
//! ```
//! use optim::{optimizers::sgd::SgdConfig, Optimizer, ParamStore};
//! let mut params = ParamStore::single("w", vec![1.0f64, -2.0]);
//! let recipe = SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() }.recipe().unwrap();
//! let mut opt = Optimizer::new(recipe, &params).unwrap();
//! params.set_grad(0, &[0.5, -0.5]);
//! opt.step(&mut params).unwrap();
//! assert_eq!(params.params[0].value, vec![0.95, -1.95]);
//! ```

pub mod accumulate;
pub mod build;
pub mod chain;
pub mod checkpoint;
pub mod driver;
pub mod ema;
pub mod error;
pub mod float;
pub mod fused;
pub mod hyper;
pub mod optimizers;
pub mod params;
pub mod recipe;
pub mod schedule;
pub mod state;
#[cfg(test)]
pub(crate) mod testutil;
pub mod transform;
pub mod transforms;

pub use accumulate::GradAccumulator;
pub use chain::Chain;
pub use checkpoint::{load as load_state, save as save_state};
pub use driver::{ClipConfig, Clipping, Group, GroupSpec, Optimizer, StepReport};
pub use ema::Ema;
pub use error::{OptimError, Result};
pub use float::Float;
pub use hyper::{Check, Hyper};
pub use params::{Param, ParamStore, Params};
pub use recipe::Recipe;
pub use schedule::LrSchedule;
pub use state::State;
pub use transform::{Coef, Ctx, TensorInfo, Transform};
