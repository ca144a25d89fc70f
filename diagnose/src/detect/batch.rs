//! The batch size against the gradient noise scale (McCandlish, Kaplan, Amodei et al., "An
//! empirical model of large-batch training", 2018): `B_simple = tr(Σ)/‖G‖²`
//! (`instruments::per_example`) predicts the critical batch size. Far below it, steps are
//! dominated by noise and a larger batch would cut the steps needed almost in proportion; far
//! above it, each extra example buys almost nothing and compute is wasted. "Far" is a factor
//! [`NOISE_SCALE_FACTOR`] either way, on the median over the second half of the run (the noise
//! scale grows as the loss falls, so late readings describe the batch the run trains with).
//!
//! A converged run is not told its batch is too small: near a minimum ‖G‖² → 0 and the noise
//! scale grows without bound (McCandlish et al. §2.3), and the steps are already spent. Its
//! batch may still be reported as too large (compute wasted on every step).

use super::context::{ev, median, tail, Ctx};
use super::NOISE_SCALE_FACTOR;
use crate::finding::{Finding, Kind};
use crate::instruments::per_example::EVAL_STATISTICS;
use crate::remedies;

/// Fewest `b_simple` readings for a verdict.
const MIN_READINGS: usize = 3;

pub(super) fn noise_scale(c: &Ctx, converged: bool) -> Option<Finding> {
    let pts = c.t.get("b_simple");
    let batch = c.t.last("batch_size")?;
    if pts.len() < MIN_READINGS || batch.is_nan() || batch < 1.0 {
        return None;
    }
    let late = tail(pts, 0.5);
    let b_simple = median(&late);
    if !(b_simple > 0.0 && b_simple.is_finite()) {
        return None;
    }
    let ratio = batch / b_simple;
    let (summary, note) = if ratio > NOISE_SCALE_FACTOR {
        (
            "the batch is much larger than the gradient noise scale: most examples of each batch buy almost no progress",
            "above the factor: halving the batch would barely add steps",
        )
    } else if ratio < 1.0 / NOISE_SCALE_FACTOR && !converged {
        (
            "the batch is much smaller than the gradient noise scale: steps are dominated by gradient noise",
            "below 1/factor: a larger batch would cut the steps needed nearly in proportion",
        )
    } else {
        return None;
    };
    // Far below: confident (one batch's noise is measured directly); far above: the estimate
    // divides by a small ‖G‖², so less so.
    let confidence = if ratio < 1.0 { 0.7 } else { 0.6 };
    let mut remedies = remedies::for_run(Kind::BatchNoiseScale, c.lr);
    // A batch-norm model (its statistics were read in the evaluation-statistics variant)
    // cannot train on a batch of one: its training batches normalise with their own
    // statistics.
    let least = if c.t.get(EVAL_STATISTICS).is_empty() {
        1.0
    } else {
        2.0
    };
    let target = b_simple.round().max(least) as usize;
    if let Some(r) = remedies.first_mut() {
        r.config = Some(remedies::batch_size_setting(target));
    }
    let first = late_first_step(pts);
    Some(Finding {
        kind: Kind::BatchNoiseScale,
        first_step: first,
        last_step: c.last,
        confidence,
        basis: format!(
            "{confidence:.2}: the median B_simple over the second half of its {} readings ({} when the batch is too small, the noise being measured directly; {} when too large, the estimate dividing by a small ‖G‖²){}",
            pts.len(),
            0.7,
            0.6,
            if c.t.get(EVAL_STATISTICS).is_empty() {
                ""
            } else {
                "; per_example_variant = \"eval_statistics\": the per-example gradients treat batch norm as the fixed map of its running statistics, not the batch statistics training uses"
            }
        ),
        summary: summary.into(),
        evidence: vec![
            ev(
                "gradient noise scale B_simple = tr(Σ)/‖G‖² (median, second half)",
                b_simple,
                "the critical batch size it predicts",
            ),
            ev("batch size / B_simple", ratio, note),
        ],
        remedies,
    })
}

/// The first step of the second half of a series.
fn late_first_step(p: &[(u64, f64)]) -> u64 {
    p.get(p.len() / 2).map_or(1, |x| x.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timeline;
    use train::Stop;

    /// A healthy run: the loss decays, steps 1..=200.
    fn timeline() -> Timeline {
        let mut t = Timeline::default();
        for s in 1..=200u64 {
            t.push("loss", None, s, 3.0 - s as f64 / 100.0);
            t.push("lr", None, s, 0.1);
        }
        t
    }

    #[test]
    fn far_batches_get_a_batch_size_remedy() {
        for (batch, b_simple, expect) in [
            (32.0, 1000.0, true),
            (512.0, 20.0, true),
            (64.0, 100.0, false),
        ] {
            // A run still descending (the too-small verdict is not given to converged runs).
            let mut t = timeline();
            for s in (10..=200).step_by(10) {
                t.push("b_simple", None, s, b_simple);
                t.push("batch_size", None, s, batch);
            }
            let summary = crate::detect::tests::summary(Stop::Completed, 200);
            let f = crate::detect(&t, &summary);
            let found = f.iter().find(|f| f.kind == Kind::BatchNoiseScale);
            assert_eq!(
                found.is_some(),
                expect,
                "batch {batch}, B_simple {b_simple}: {f:?}"
            );
            if let Some(f) = found {
                assert_eq!(
                    f.remedies[0].config.as_deref(),
                    Some(format!("data.batch_size = {}", b_simple as usize).as_str())
                );
                assert!(!f.basis.contains("eval_statistics"), "{}", f.basis);
                // Readings of a batch-norm model say what they are of.
                for s in (10..=200).step_by(10) {
                    t.push(EVAL_STATISTICS, None, s, 1.0);
                }
                let f = crate::detect(&t, &summary);
                let f = f.iter().find(|f| f.kind == Kind::BatchNoiseScale).unwrap();
                assert!(f
                    .basis
                    .contains("per_example_variant = \"eval_statistics\""));
            }
        }
    }

    /// A noise scale below 1.5 rounds to a batch of one, which a batch-norm model cannot train
    /// on (the remedy's own flag would be refused): its remedy asks for two.
    #[test]
    fn a_batch_norm_model_is_never_told_to_train_on_batches_of_one() {
        for (bn, want) in [(false, 1), (true, 2)] {
            let mut t = timeline();
            for s in (10..=200).step_by(10) {
                t.push("b_simple", None, s, 0.8);
                t.push("batch_size", None, s, 64.0);
                if bn {
                    t.push(EVAL_STATISTICS, None, s, 1.0);
                }
            }
            let summary = crate::detect::tests::summary(Stop::Completed, 200);
            let f = crate::detect(&t, &summary);
            let f = f.iter().find(|f| f.kind == Kind::BatchNoiseScale).unwrap();
            assert_eq!(
                f.remedies[0].config.as_deref(),
                Some(format!("data.batch_size = {want}").as_str()),
                "batch norm: {bn}"
            );
        }
    }
}
