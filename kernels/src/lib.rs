//! gradlab's dense linear-algebra kernels, below both the training engine (`nn`) and the
//! optimizers (`optim`): one home for matrix products, so every caller keeps the promise that a
//! steady-state training step allocates nothing.
//!
//! * [`product`] / [`product_serial`]: `f32` products on strided slices through the blocked
//!   single-precision kernel (AVX-512 micro-kernel where available, per-thread packing scratch
//!   kept between calls), split across the rayon pool from [`PAR_THRESHOLD`] multiply-adds;
//! * [`blocking()`]: the cache blocking those products use, chosen once per process from the
//!   cache sizes CPUID reports (the analytical model of BLIS); [`product_blocked`] runs a
//!   product under another blocking, for benchmarks; the micro-kernel (AVX-512, AVX2 + FMA or
//!   portable) is the CPU's best unless [`KERNEL_VAR`] names another ([`kernel_name`]);
//! * [`Gemm`]: the same product for code generic over `f32`/`f64` (the optimizers); `f64` runs a
//!   plain blocked loop nest, which allocates nothing either.

mod blocking;
mod dgemm;
mod matmul;
mod sgemm;

pub use blocking::{caches, Blocking, CacheLevel, Caches};
pub use matmul::{product, product_blocked, product_serial, Gemm, PAR_THRESHOLD};
pub use sgemm::{blocking, check_kernel_var, kernel_name, KERNEL_VAR};
