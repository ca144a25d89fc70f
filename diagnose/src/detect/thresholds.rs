//! The detectors' thresholds; why each has its value is in [`super`]'s documentation.

/// Fewest loss points for progress-based verdicts.
pub const MIN_POINTS: usize = 20;
/// Final / initial loss above which a finite run counts as diverged.
pub const DIVERGE_RATIO: f64 = 10.0;
/// Growth of the gradient norm (or first/last layer ratio) that counts as exploding.
pub const EXPLODE_GROWTH: f64 = 1e3;
/// First/last layer gradient-norm ratio below which gradients vanish.
pub const VANISH_RATIO: f64 = 1e-3;
/// Saturated fraction of a sigmoid/tanh layer that counts as saturated.
pub const SATURATION: f64 = 0.5;
/// Rise of the smoothed loss over its minimum that marks a too-large step.
pub const RISE_RATIO: f64 = 1.5;
/// Ratio of late to early slope above which a descent counts as unbent.
pub const STEADY_SLOPE: f64 = 0.5;
/// Relative change per window below which the loss counts as flat.
pub const FLAT: f64 = 0.01;
/// Relative change of the mean loss from the third quarter of a run to the last within which
/// the loss counts as flat late (either way: a rise is not flat).
pub const FLAT_LATE: f64 = 0.03;
/// Relative rise of the mean loss from the third quarter of a run to the last that marks a loss
/// climbing back, when the rise is also at least [`LATE_RISE_OF_START`] of the initial loss.
pub const LATE_RISE: f64 = 0.2;
/// Least rise, as a fraction of the initial loss, for [`LATE_RISE`] (a loss near zero may
/// double without anything being wrong).
pub const LATE_RISE_OF_START: f64 = 0.05;
/// Final / initial loss above which a plateau is "high".
pub const HIGH_LOSS: f64 = 0.3;
/// Dead fraction of a ReLU layer that counts as dead.
pub const DEAD: f64 = 0.5;
/// Identical-row fraction of a weight matrix that counts as symmetric.
pub const IDENTICAL: f64 = 0.5;
