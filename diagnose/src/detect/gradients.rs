//! The gradient's flow through the layers: exploding and vanishing gradients.

use super::context::{ev, fall_words, layer_order, median, paired_median, tail, Ctx};
use super::thresholds::*;
use crate::finding::{Finding, Kind};
use crate::remedies;

pub(super) fn exploding(c: &Ctx) -> Option<Finding> {
    let g = c.t.get("grad_norm");
    let mut evidence = Vec::new();
    let mut conf: f64 = 0.0;
    let (mut from, mut to) = (c.first, c.last);
    let mut basis: Vec<&str> = Vec::new();
    // Growth through the layers (not over the steps) points at the initialisation's scale.
    let mut through_depth = false;
    if g.len() >= 2 {
        let start: Vec<f64> = g.iter().take(5).map(|p| p.1).collect();
        let g0 = median(&start);
        let nonfinite = g.iter().find(|p| !p.1.is_finite());
        let (imax, gmax) = g
            .iter()
            .enumerate()
            .filter(|(_, p)| p.1.is_finite())
            .map(|(i, p)| (i, p.1))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, g0));
        if g0 > 0.0 && gmax / g0 > EXPLODE_GROWTH {
            conf = 0.8;
            basis.push("0.8 from the global gradient norm's growth over the steps");
            from = g[0].0;
            to = g[imax].0;
            evidence.push(ev(
                "gradient norm max / start",
                gmax / g0,
                format!("above {EXPLODE_GROWTH:.0}: the gradient grew by orders of magnitude"),
            ));
        }
        if let Some(p) = nonfinite {
            conf = conf.max(0.8);
            basis.push("0.8 from a non-finite gradient norm");
            to = p.0;
            evidence.push(ev(
                "gradient norm",
                p.1,
                "not finite: the backward pass overflowed",
            ));
        }
    }
    let w = c.weights();
    if w.len() >= 3 {
        let first = c.t.layer("grad_norm", &w[0]);
        let last = c.t.layer("grad_norm", &w[w.len() - 1]);
        let m = paired_median(
            first,
            last,
            |a, b| b > 0.0 && a.is_finite() && b.is_finite(),
            |a, b| a / b,
        );
        if m > EXPLODE_GROWTH {
            conf = conf.max(0.7);
            through_depth = true;
            basis.push("0.7 from the first/last layer gradient ratio");
            evidence.push(ev(
                format!("grad_norm {} / {} (median)", w[0], w[w.len() - 1]),
                m,
                "above 1000: the gradient grows layer by layer toward the input",
            ));
        }
    }
    // The forward signal: activations that grow layer by layer come with gradients that do
    // (the backward pass multiplies by the same weights).
    let mut acts: Vec<&str> = c.t.layers_of("act_std");
    acts.sort_by_key(|l| layer_order(l));
    if acts.len() >= 3 {
        let (f, l) = (acts[0], acts[acts.len() - 1]);
        let first = c.t.layer("act_std", f);
        let last = c.t.layer("act_std", l);
        let m = paired_median(first, last, |a, b| a > 0.0 && b.is_finite(), |a, b| b / a);
        if m > EXPLODE_GROWTH {
            conf = conf.max(0.75);
            through_depth = true;
            basis.push("0.75 from the activations' growth through the layers");
            evidence.push(ev(
                format!("act_std of layer {l} / layer {f} (median)"),
                m,
                "above 1000: the signal grows layer by layer, and the gradient with it",
            ));
        }
    }
    if conf == 0.0 {
        return None;
    }
    let mut remedies = remedies::for_run(Kind::ExplodingGradients, c.lr);
    if through_depth {
        // The initialisation and normalisation remedies first: clipping bounds the step but
        // leaves the signal growing layer by layer.
        remedies.rotate_left(
            remedies::EXPLODING_GRADIENTS.len() - remedies::EXPLODING_THROUGH_DEPTH.len(),
        );
    }
    Some(Finding {
        kind: Kind::ExplodingGradients,
        first_step: from,
        last_step: to,
        confidence: conf,
        basis: format!("{conf:.2}, the largest of: {}", basis.join("; ")),
        summary: "the gradients explode: they grow by orders of magnitude over the steps or through the layers".into(),
        evidence,
        remedies,
    })
}

pub(super) fn vanishing(c: &Ctx) -> Option<Finding> {
    let mut evidence = Vec::new();
    let mut basis: Vec<String> = Vec::new();
    let mut conf: f64 = 0.0;
    let w = c.weights();
    if w.len() >= 3 {
        let first = c.t.layer("grad_norm", &w[0]);
        let last = c.t.layer("grad_norm", &w[w.len() - 1]);
        let m = paired_median(first, last, |a, b| b > 0.0 && a.is_finite(), |a, b| a / b);
        if m < VANISH_RATIO {
            conf = 0.8;
            basis.push("0.8 from the first/last layer gradient ratio".to_string());
            evidence.push(ev(
                format!("grad_norm {} / {} (median)", w[0], w[w.len() - 1]),
                m,
                "below 1e-3: the first layer gets almost no gradient, so it barely learns",
            ));
            if c.n() >= MIN_POINTS && c.late_improvement() < 0.05 {
                conf = 0.9;
                basis.push(format!(
                    "0.9 as the loss also stalled (it {} over the last quarter)",
                    fall_words(c.late_improvement())
                ));
            }
        }
    }
    let mut worst: Option<(String, f64)> = None;
    for l in c.t.layers_of("saturation") {
        let m = median(&tail(c.t.layer("saturation", l), 0.5));
        if m > SATURATION && worst.as_ref().is_none_or(|w| m > w.1) {
            worst = Some((l.to_string(), m));
        }
    }
    if let Some((l, m)) = worst {
        conf = (conf + 0.1).clamp(0.6, 1.0);
        basis.push("+0.1 (at least 0.6) from saturated sigmoid/tanh outputs".into());
        evidence.push(ev(
            format!("saturation of layer {l} (median, second half)"),
            m,
            "above 0.5: most sigmoid/tanh outputs sit on the flat tails, where the derivative is ~0",
        ));
    }
    if conf == 0.0 {
        return None;
    }
    Some(Finding {
        kind: Kind::VanishingGradients,
        first_step: c.first,
        last_step: c.last,
        confidence: conf,
        basis: format!("{conf:.2}: {}", basis.join("; ")),
        summary: "the gradients vanish on their way back: the early layers barely learn".into(),
        evidence,
        remedies: remedies::for_run(Kind::VanishingGradients, c.lr),
    })
}
