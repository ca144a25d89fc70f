//! gradlab's landscapes: optimizers run on analytic test functions, and the trajectories they
//! take. Everything here computes; drawing is the report's (`report::landscape_plot` and the
//! report's landscape section).
//!
//! - [`functions`]: the test functions with exact gradients, one name each;
//! - [`config`]: the `gradlab landscape` config file (a problem and the optimizers to run);
//! - [`simulate`](mod@simulate): the one loop that runs an optimizer (built by
//!   [`optim::build`], clipping and schedule included) on a function;
//! - [`json`]: the trajectories as the landscape command writes them;
//! - [`study`]: the study report's landscapes (each study optimizer at its best learning rate
//!   from a grid, on Rosenbrock's function and the quartic saddle).

pub mod config;
pub mod functions;
pub mod json;
pub mod simulate;
pub mod study;

pub use config::{Config, RunSpec};
pub use functions::Function;
pub use json::to_json;
pub use simulate::{simulate, Run, BLOWUP};

#[derive(Debug, thiserror::Error)]
pub enum LandscapeError {
    /// A config that does not say what to run; the message names the table and field.
    #[error("{0}")]
    Config(String),
    /// `optim` rejected a table, or a step failed.
    #[error(transparent)]
    Optim(#[from] optim::OptimError),
}

pub type Result<T, E = LandscapeError> = std::result::Result<T, E>;
