//! The layers: [`Linear`], elementwise [`Activation`]s, [`Flatten`], [`Dropout`].

mod activation;
mod conv;
mod dropout;
mod flatten;
mod linear;
mod pool;

pub use activation::{Activation, ActivationLayer};
pub use conv::{Conv, Conv1dConfig, Conv2dConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use flatten::{Flatten, FlattenConfig};
pub use linear::{Linear, LinearConfig};
pub use pool::{GlobalAvgPool, Pool, Pool1dConfig, Pool2dConfig};

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
pub(crate) mod gradcheck;
