//! Detectors: readings in, findings out.
//!
//! (Being written: until the detectors land, `detect` reports only what the run's stop reason
//! says for certain — a non-finite loss is `diverged`.)

use train::{Stop, Summary};

use crate::finding::{Evidence, Finding, Kind, Remedy};
use crate::Timeline;

/// Every finding the readings support, most important first.
pub fn detect(t: &Timeline, s: &Summary) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Stop::NonFinite { step, loss, .. } = &s.stop {
        let first = t.get("loss").first().map_or(1, |p| p.0);
        out.push(Finding {
            kind: Kind::Diverged,
            first_step: first,
            last_step: *step,
            confidence: 1.0,
            summary: format!("the loss became {loss} at step {step}"),
            evidence: vec![Evidence {
                what: "loss".into(),
                value: *loss as f64,
                note: "not a finite number".into(),
            }],
            remedies: vec![Remedy {
                action: "lower the learning rate".into(),
                why: "a step too large for the curvature throws the weights out of the basin"
                    .into(),
                config: None,
            }],
        });
    }
    out
}
