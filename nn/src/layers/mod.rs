//! The layers: [`Linear`], [`Conv`] (1-D and 2-D), pooling ([`Pool`], [`GlobalAvgPool`]), [`BatchNorm`], [`Residual`] blocks, elementwise [`Activation`]s, [`Flatten`], [`Dropout`].

mod activation;
mod batchnorm;
mod conv;
mod dropout;
mod flatten;
mod linear;
mod pool;
mod residual;

pub use activation::{Activation, ActivationLayer};
pub use batchnorm::{BatchNorm, BatchNormConfig};
pub use conv::{Conv, Conv1dConfig, Conv2dConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use flatten::{Flatten, FlattenConfig};
pub use linear::{Linear, LinearConfig};
pub use pool::{GlobalAvgPool, Pool, Pool1dConfig, Pool2dConfig};
pub use residual::Residual;

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
pub(crate) mod gradcheck;
