use std::fmt::{Debug, Display};

/// The element types the optimizer math is generic over: `f32` and `f64`.
///
/// Scalar coefficients (bias corrections, learning rates) are computed in `f64`, as PyTorch does
/// in Python floats, and converted once per step with [`Float::of`]. Matrix products come from
/// the `kernels` crate ([`kernels::Gemm`]).
pub trait Float:
    num_traits::Float
    + kernels::Gemm
    + num_traits::FromPrimitive
    + num_traits::ToPrimitive
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + 'static
{
    /// The safetensors dtype used when this type is saved.
    const DTYPE: safetensors::Dtype;
    /// Size of one element in bytes.
    const BYTES: usize;
    /// Converts an `f64` coefficient to this type (rounding to nearest for `f32`).
    fn of(x: f64) -> Self;
    fn f64(self) -> f64;
    fn write_le(self, out: &mut Vec<u8>);
    fn read_le(bytes: &[u8]) -> Self;
}

impl Float for f32 {
    const DTYPE: safetensors::Dtype = safetensors::Dtype::F32;
    const BYTES: usize = 4;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn read_le(bytes: &[u8]) -> Self {
        f32::from_le_bytes(bytes.try_into().expect("4 bytes"))
    }
}

impl Float for f64 {
    const DTYPE: safetensors::Dtype = safetensors::Dtype::F64;
    const BYTES: usize = 8;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn read_le(bytes: &[u8]) -> Self {
        f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }
}

/// The L2 norm of a tensor, accumulated in `f64` whatever the element type (the per-tensor norms
/// of clipping, trust ratios and Muon's normalisation).
pub(crate) fn l2<F: Float>(x: &[F]) -> f64 {
    x.iter().map(|&v| v.f64() * v.f64()).sum::<f64>().sqrt()
}
