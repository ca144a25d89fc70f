//! The building blocks optimizers are made of (optax-style). Each is a small struct implementing
//! [`Transform`](crate::Transform); the functions here are the public constructors.

mod adaptive;
mod basic;
mod clip;

pub use adaptive::{
    scale_by_adadelta, scale_by_decayed_learning_rate, scale_by_rms, scale_by_rss, ScaleByAdadelta,
    ScaleByDecayedLearningRate, ScaleByRms, ScaleByRss,
};
pub use basic::{
    add_decayed_weights, scale, scale_by_learning_rate, scale_by_sign, trace, AddDecayedWeights,
    Scale, ScaleByLearningRate, ScaleBySign, Trace,
};
pub use clip::{
    adaptive_clip, clip_by_param_norm, clip_by_value, AdaptiveClip, ClipByParamNorm, ClipByValue,
};
