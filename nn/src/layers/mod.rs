//! The layers: [`Linear`], elementwise [`Activation`]s, [`Flatten`], [`Dropout`].

mod activation;
mod batchnorm;
mod dropout;
mod flatten;
mod linear;
mod residual;

pub use activation::{Activation, ActivationLayer};
pub use batchnorm::{BatchNorm, BatchNormConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use flatten::{Flatten, FlattenConfig};
pub use linear::{Linear, LinearConfig};
pub use residual::{Residual, ResidualConfig};

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
pub(crate) mod gradcheck;
