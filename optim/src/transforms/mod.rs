//! The building blocks optimizers are made of (optax-style). Each is a small struct implementing
//! [`Transform`](crate::Transform); the functions here are the public constructors.

mod adabelief;
mod adam;
mod adaptive;
mod basic;
mod clip;
mod momentum;
mod orthogonal;
mod schedule_free;
mod trust_ratio;

pub use adabelief::{scale_by_belief, ScaleByBelief};
pub(crate) use adam::{lerp_coef, moments};
pub use adam::{
    scale_by_adam, scale_by_adamax, scale_by_nadam, scale_by_radam, AdamVariant, ScaleByAdam,
    ScaleByAdamax,
};
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
pub use momentum::{ema, lion_momentum, Ema, LionMomentum};
pub use orthogonal::{muon, muon_matrix_shape, newton_schulz5, Muon, NS_COEFFS};
pub use schedule_free::{scale_by_second_moment, ScaleBySecondMoment, ScheduleFree};
pub use trust_ratio::{
    scale_by_lars_ratio, scale_by_trust_ratio, trust_ratio, ScaleByLarsRatio, ScaleByTrustRatio,
};
