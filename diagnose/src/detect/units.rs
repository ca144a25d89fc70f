//! The units of a layer: dead ReLUs, and units that stay identical copies of each other.

use super::context::{ev, median, tail, Ctx};
use super::thresholds::*;
use crate::finding::{Finding, Kind};
use crate::remedies;

pub(super) fn dead_units(c: &Ctx) -> Option<Finding> {
    let mut worst: Option<(String, f64, u64)> = None;
    for l in c.t.layers_of("dead_fraction") {
        let pts = c.t.layer("dead_fraction", l);
        let m = median(&tail(pts, 0.5));
        if m > DEAD && worst.as_ref().is_none_or(|w| m > w.1) {
            let first = pts.iter().find(|p| p.1 > DEAD).map_or(c.first, |p| p.0);
            worst = Some((l.to_string(), m, first));
        }
    }
    let (l, m, first) = worst?;
    Some(Finding {
        kind: Kind::DeadUnits,
        first_step: first,
        last_step: c.last,
        confidence: (0.5 + 0.5 * m).min(1.0),
        basis: format!("0.5 + half the dead fraction ({}) of the worst ReLU layer, read on the batches of the second half", present::fmt_num(m)),
        summary: format!(
            "{:.0}% of the units of layer {l} never fire: dead ReLUs pass no gradient and never recover",
            m * 100.0
        ),
        evidence: vec![ev(
            format!("dead_fraction of layer {l} (median, second half)"),
            m,
            format!("above {DEAD}: most units output 0 for every example of the batch"),
        )],
        remedies: remedies::for_run(Kind::DeadUnits, c.lr),
    })
}

pub(super) fn symmetry(c: &Ctx) -> Option<Finding> {
    let mut worst: Option<(String, f64)> = None;
    for l in c.t.layers_of("identical_units") {
        let Some(&(_, v)) = c.t.layer("identical_units", l).last() else {
            continue;
        };
        if v >= IDENTICAL && worst.as_ref().is_none_or(|w| v > w.1) {
            worst = Some((l.to_string(), v));
        }
    }
    let (l, v) = worst?;
    Some(Finding {
        kind: Kind::SymmetryNotBroken,
        first_step: c.first,
        last_step: c.last,
        confidence: (0.5 + 0.5 * v).min(1.0),
        basis: format!(
            "0.5 + half the fraction of identical rows ({}) of {l}, exact at its last reading",
            present::fmt_num(v)
        ),
        summary: format!(
            "{:.0}% of the units of {l} are identical copies: the symmetry of the initialisation was never broken",
            v * 100.0
        ),
        evidence: vec![ev(
            format!("identical_units of {l} (last reading)"),
            v,
            "fraction of rows equal to another row: units that start equal get equal gradients and stay equal",
        )],
        remedies: remedies::for_run(Kind::SymmetryNotBroken, c.lr),
    })
}
