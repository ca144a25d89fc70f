//! Detectors: readings in, findings out.
//!
//! Each detector reads the series of the contract (see [`crate::timeline`]; each module of
//! [`crate::instruments`] documents the series it writes)
//! and stays silent when its evidence is absent; where a richer reading is missing it falls back
//! on what every run has (the step loss, the global gradient norm, the epoch records).
//!
//! Thresholds, and why:
//! - [`MIN_POINTS`] = 20 loss points: fewer cannot separate a trend from mini-batch noise, so
//!   progress-based verdicts (plateau, lr too low, underfitting, converged) need at least that.
//! - Divergence: a non-finite loss, or the final loss (median of the last tenth) above
//!   [`DIVERGE_RATIO`] = 10× the initial one (median of the first 5 steps): a healthy run never
//!   ends an order of magnitude above where it started.
//! - Exploding gradients: the global gradient norm grows [`EXPLODE_GROWTH`] = 1000× over its
//!   start, or the first layer's gradient is 1000× the last layer's (geometric growth toward the
//!   input; healthy nets stay within ~10× either way), or the activations' std grows 1000× from
//!   the first layer to the last (the forward signal explodes, and the gradient with it).
//! - Vanishing gradients: the first layer's gradient norm below [`VANISH_RATIO`] = 1e-3 of the
//!   last layer's (median over the run), or more than half of a sigmoid/tanh layer's outputs
//!   saturated ([`SATURATION`] = 0.5).
//! - Learning rate too high: divergence; the smoothed loss rising to 1.5× its minimum
//!   ([`RISE_RATIO`]), or the mean loss of the last quarter [`LATE_RISE`] = 20% above the third
//!   quarter's (and by at least 5% of the initial loss); or `stability` > 1 (the sharpness
//!   beyond the optimizer's threshold — 2/η for SGD —, where its update rule is unstable on a
//!   quadratic) with no progress; or the step quality α > 1 (overshooting the valley floor) with
//!   no progress.
//! - Learning rate too low: the loss falls for the whole run at an unchanged rate (the slope of
//!   the last window at least half that of the first, [`STEADY_SLOPE`]) and by less than half
//!   overall: an unbent, slow descent is what a small step size looks like.
//! - Plateau / saddle: the smoothed loss moves less than [`FLAT`] = 1% per window for at least a
//!   fifth of the run at a high loss (≥ half the initial) and then either drops by ≥ 30%
//!   (escape from a saddle) or never leaves (stuck from the start); λmin < 0 strengthens it.
//!   A loss too noisy for that window test (a batch of a few examples) that ends where it
//!   started — the median of the last fifth of the steps within [`FLAT_LATE`] of the first
//!   fifth's — at a train accuracy below 90% is reported as stuck too (confidence 0.5).
//! - Underfitting: the loss fell, then stayed flat (changed by less than [`FLAT_LATE`] = 3%
//!   either way from the third quarter to the last; a rise is not flat) at a high level
//!   (≥ [`HIGH_LOSS`] = 0.3 of the initial loss, or train accuracy < 90%) without a
//!   train–validation gap.
//! - Overfitting: the validation loss rises ≥ 10% above its minimum (and by ≥ 0.1, or with the
//!   validation accuracy ≥ 2 points below its value there) while the
//!   training loss keeps falling (not reported when early stopping ended the run: it already
//!   kept the best epoch).
//! - Dead units: more than half of a ReLU layer's units never fire over a batch
//!   ([`DEAD`] = 0.5; healthy ReLU nets keep most units alive).
//! - Symmetry not broken: at least half of a weight matrix's rows identical
//!   ([`IDENTICAL`] = 0.5): units that start equal get equal gradients and stay equal.
//! - Converged: no problem found and early stopping fired, or the training accuracy ≥ 99%, or
//!   the loss fell by half and then flattened (< 5% over the last quarter).
//!
//! Every finding says what its confidence rests on (`basis`), and every piece of evidence about
//! the loss's course states its direction ("rose 68%", never "flattened" for a rise).
//!
//! Root causes suppress their symptoms: divergence keeps only the learning-rate and exploding
//! findings; symmetry, dead units and vanishing gradients explain a plateau, underfitting or a
//! slow descent, so those are not reported beside them; a layer ≥ 90% dead explains vanishing
//! gradients (symmetry explains both).
//!
//! The detectors, by family: `step_size` (diverged, learning rate too high or too low),
//! `gradients` (exploding, vanishing), `units` (dead units, broken symmetry), `loss_curve`
//! (plateau, underfitting, converged) and `generalisation` (overfitting); their remedies are
//! in [`crate::remedies`].

use train::Summary;

use crate::finding::{Finding, Kind};
use crate::progress::Progress;
use crate::Timeline;
use batch::noise_scale;
use context::{median, Ctx};
use generalisation::overfitting;
use gradients::{exploding, vanishing};
use loss_curve::{converged, no_progress, plateau, underfitting};
use step_size::{diverged, lr_too_high, lr_too_low};
use units::{dead_units, symmetry};

mod batch;
mod context;
mod generalisation;
mod gradients;
mod loss_curve;
mod step_size;
mod thresholds;
mod units;

pub use thresholds::*;

/// Every finding the readings support, most important first.
pub fn detect(t: &Timeline, s: &Summary) -> Vec<Finding> {
    let p = Progress::of(t);
    let n = p.loss.len();
    let finite: Vec<f64> = p.loss.iter().copied().filter(|v| v.is_finite()).collect();
    // The first 5 points (fewer in a short run, which may blow up within them).
    let l0 = median(&finite[..(finite.len() / 5).clamp(1, 5).min(finite.len())]);
    let k = (finite.len() / 10).max(5).min(finite.len());
    let l1 = median(&finite[finite.len() - k..]);
    let c = Ctx {
        t,
        s,
        first: p.steps.first().copied().unwrap_or(1),
        last: p.steps.last().copied().unwrap_or(s.steps),
        lr: t.get("lr").first().map(|x| x.1),
        l0,
        l1,
        p,
    };
    let mut out: Vec<Finding> = Vec::new();
    let diverged = diverged(&c);
    let diverged_flag = diverged.is_some();
    out.extend(diverged);
    out.extend(lr_too_high(&c, diverged_flag));
    out.extend(exploding(&c));
    out.extend(symmetry(&c));
    out.extend(dead_units(&c));
    out.extend(vanishing(&c));
    if n >= MIN_POINTS && !diverged_flag {
        let low = lr_too_low(&c);
        let plateau = if low.is_none() { plateau(&c) } else { None };
        let under = if low.is_none() && plateau.is_none() {
            underfitting(&c)
        } else {
            None
        };
        let stuck = if low.is_none() && plateau.is_none() && under.is_none() {
            no_progress(&c)
        } else {
            None
        };
        out.extend(low);
        out.extend(plateau);
        out.extend(under);
        out.extend(stuck);
    }
    out.extend(overfitting(&c));

    let has = |out: &[Finding], k: Kind| out.iter().any(|f| f.kind == k);
    if diverged_flag {
        out.retain(|f| {
            matches!(
                f.kind,
                Kind::Diverged | Kind::LrTooHigh | Kind::ExplodingGradients
            )
        });
    }
    if has(&out, Kind::SymmetryNotBroken) {
        out.retain(|f| {
            !matches!(
                f.kind,
                Kind::VanishingGradients
                    | Kind::DeadUnits
                    | Kind::SaddleOrPlateau
                    | Kind::Underfitting
                    | Kind::LrTooLow
            )
        });
    }
    if let Some(dead) = out
        .iter()
        .find(|f| f.kind == Kind::DeadUnits)
        .map(|f| f.evidence[0].value)
    {
        // A (nearly) fully dead layer passes no gradient: that is the vanishing. A partly dead
        // one does not explain vanishing gradients, so both are reported then.
        out.retain(|f| {
            !(matches!(
                f.kind,
                Kind::SaddleOrPlateau | Kind::Underfitting | Kind::LrTooLow
            ) || (f.kind == Kind::VanishingGradients && dead >= 0.9))
        });
    }
    if has(&out, Kind::VanishingGradients) {
        out.retain(|f| {
            !matches!(
                f.kind,
                Kind::SaddleOrPlateau | Kind::Underfitting | Kind::LrTooLow
            )
        });
    }
    if out.is_empty() && n >= MIN_POINTS {
        out.extend(converged(&c));
    }
    // Beside the other verdicts: a batch size is a cost question, not a failure.
    if !diverged_flag {
        let done = has(&out, Kind::Converged);
        out.extend(noise_scale(&c, done));
    }
    out.sort_by(|a, b| {
        (a.kind as u8)
            .cmp(&(b.kind as u8))
            .then(b.confidence.total_cmp(&a.confidence))
    });
    let mut order: Vec<Finding> = Vec::new();
    // Diverged first, then the rest in Kind order.
    for f in out.iter().filter(|f| f.kind == Kind::Diverged) {
        order.push(f.clone());
    }
    for f in out.into_iter().filter(|f| f.kind != Kind::Diverged) {
        order.push(f);
    }
    order
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_wording;
