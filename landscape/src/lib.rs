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
pub mod error;
pub mod functions;
pub mod json;
pub mod simulate;
pub mod study;

pub use config::Config;
pub use error::{LandscapeError, Result};
pub use functions::Function;
pub use json::to_json;
pub use simulate::{simulate, Run, RunSpec, BLOWUP};
