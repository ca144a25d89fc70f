//! gradlab's dense linear-algebra kernels, below both the training engine (`nn`) and the
//! optimizers (`optim`): one home for matrix products, so every caller keeps the promise that a
//! steady-state training step allocates nothing.
//!
//! * [`product`] / [`product_serial`]: `f32` products on strided slices through the blocked
//!   single-precision kernel (AVX-512 micro-kernel where available, per-thread packing scratch
//!   kept between calls), split across the rayon pool from [`PAR_THRESHOLD`] multiply-adds;
//! * [`Gemm`]: the same product for code generic over `f32`/`f64` (the optimizers); `f64` runs a
//!   plain blocked loop nest, which allocates nothing either.

mod dgemm;
mod matmul;
mod sgemm;

pub use matmul::{product, product_serial, Gemm, PAR_THRESHOLD};
