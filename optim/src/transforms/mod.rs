//! The building blocks optimizers are made of (optax-style). Each is a small struct implementing
//! [`Transform`](crate::Transform); the functions here are the public constructors.

mod adam;
mod basic;
mod clip;

pub use adam::{
    scale_by_adam, scale_by_adamax, scale_by_nadam, scale_by_radam, AdamVariant, ScaleByAdam,
    ScaleByAdamax,
};
pub use basic::{
    add_decayed_weights, scale, scale_by_learning_rate, scale_by_sign, trace, AddDecayedWeights,
    Scale, ScaleByLearningRate, ScaleBySign, Trace,
};
pub use clip::{
    adaptive_clip, clip_by_param_norm, clip_by_value, AdaptiveClip, ClipByParamNorm, ClipByValue,
};
