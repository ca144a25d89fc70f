//! gradlab's own CPU training engine.
//!
//! Tensors are contiguous row-major `f32` buffers with the batch dimension first. Every layer
//! owns its output, its input-gradient and its parameter-gradient buffers and reuses them from
//! step to step, so a steady-state training step allocates nothing. Matrix products
//! ([`matmul`]) use the blocked single-precision product of the `kernels` crate (AVX-512
//! micro-kernel where available, per-thread packing scratch), split across the rayon pool above
//! a size threshold.
//!
//! Semantics and parameter layouts follow PyTorch (`Linear.weight` is `[out, in]`, names as in
//! `nn.Sequential`: `0.weight`, `0.bias`), so weights round-trip through safetensors files.

pub mod catalogue;
mod chain;
pub mod error;
pub mod init;
pub mod layer;
pub mod layers;
pub mod loss;
pub mod matmul;
pub mod rng;
pub mod rop;
pub mod sequential;
pub mod tensor;
mod weights;

pub use catalogue::{LayerConfig, ResidualConfig};
pub use error::{NnError, Result};
pub use init::{FanMode, Nonlinearity};
pub use layer::Layer;
pub use layers::{
    Activation, ActivationLayer, Dropout, DropoutConfig, Flatten, FlattenConfig, Linear,
    LinearConfig,
};
pub use layers::{BatchNorm, BatchNormConfig, Residual};
pub use layers::{Conv, Conv1dConfig, Conv2dConfig};
pub use layers::{GlobalAvgPool, Pool, Pool1dConfig, Pool2dConfig};
pub use loss::{CrossEntropyConfig, CrossEntropyLoss, MseLoss};
pub use rng::Rng;
pub use sequential::Sequential;
pub use tensor::{sum_sq, Tensor};
