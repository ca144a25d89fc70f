//! The step size: a run thrown off by steps too large (diverged, learning rate too high) or
//! crawling with steps too small (learning rate too low).

use train::Stop;

use super::context::{ev, fall_words, median, rests_on, tail, Ctx};
use super::thresholds::*;
use crate::finding::{Finding, Kind};
use crate::remedies;

pub(super) fn diverged(c: &Ctx) -> Option<Finding> {
    let mut remedies = remedies::for_run(Kind::Diverged, c.lr);
    if let Stop::NonFinite { step, loss, .. } = &c.s.stop {
        let mut evidence = vec![ev("loss", *loss as f64, "not a finite number")];
        if c.l0.is_finite() {
            evidence.push(ev("initial loss", c.l0, "median of the first steps"));
        }
        return Some(Finding {
            kind: Kind::Diverged,
            first_step: c.first,
            last_step: *step,
            confidence: 1.0,
            basis: "1.0: the loss is not a number, which is certain".into(),
            summary: format!("the loss became {loss} at step {step}: the run diverged"),
            evidence,
            remedies,
        });
    }
    if let Stop::Diverged { step, cause, .. } = &c.s.stop {
        // The trainer stopped it with a finite loss: grown past its divergence factor, or
        // broken weights or gradients.
        let mut evidence = Vec::new();
        if let train::Divergence::LossGrew {
            loss,
            start,
            factor,
            ..
        } = cause
        {
            evidence.push(ev(
                "mean loss of the last steps",
                *loss,
                format!(
                    "above {} × the first step's loss",
                    present::fmt_num(*factor)
                ),
            ));
            evidence.push(ev(
                "first step's loss",
                *start,
                "the model at its initialisation",
            ));
        } else {
            evidence.push(ev("non-finite values", 1.0, cause.to_string()));
        }
        return Some(Finding {
            kind: Kind::Diverged,
            first_step: c.first,
            last_step: *step,
            confidence: 1.0,
            basis: "1.0: the trainer stopped the run on its divergence check".into(),
            summary: format!("{cause} at step {step}: the run diverged"),
            evidence,
            remedies,
        });
    }
    if c.n() >= 10 && c.l1 > DIVERGE_RATIO * c.l0.abs().max(1e-12) {
        let ratio = c.l1 / c.l0;
        remedies.truncate(3);
        return Some(Finding {
            kind: Kind::Diverged,
            first_step: c.first,
            last_step: c.last,
            confidence: 0.9,
            basis: "0.9 from the final / initial loss alone (every loss finite)".into(),
            summary: format!("the loss ended {ratio:.0}× above where it started: the run diverged"),
            evidence: vec![
                ev("initial loss", c.l0, "median of the first 5 steps"),
                ev("final loss", c.l1, "median of the last tenth of the run"),
                ev(
                    "final / initial",
                    ratio,
                    format!(
                        "above {DIVERGE_RATIO}: a healthy run never ends this far above its start"
                    ),
                ),
            ],
            remedies,
        });
    }
    None
}

pub(super) fn lr_too_high(c: &Ctx, diverged: bool) -> Option<Finding> {
    let mut evidence = Vec::new();
    let mut conf: f64 = 0.0;
    let (mut from, mut to) = (c.first, c.last);
    if diverged {
        conf = 0.8;
        evidence.push(ev(
            "diverged",
            1.0,
            "the loss blew up: the most common cause is a step too large for the curvature",
        ));
    }
    let n = c.n();
    // Rising smoothed loss after its minimum.
    if !diverged && n >= MIN_POINTS {
        let sm = &c.p.smooth;
        let (imin, &min) = sm
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .min_by(|a, b| a.1.total_cmp(b.1))?;
        let end = *sm.last()?;
        if min > 0.0 && imin < n * 3 / 4 && end > RISE_RATIO * min {
            conf = conf.max(0.7);
            from = c.p.steps[imin];
            to = c.last;
            evidence.push(ev(
                "smoothed loss end / minimum",
                end / min,
                format!("above {RISE_RATIO}: the training loss climbs back after its minimum — steps overshoot"),
            ));
        } else {
            // A climb in the last quarter (the minimum itself may fall in it).
            let late = c.late_improvement();
            let q = n / 4;
            let before = super::context::mean(&c.p.loss[n - 2 * q..n - q]);
            if late < -LATE_RISE && -late * before >= LATE_RISE_OF_START * c.l0.abs() {
                conf = conf.max(0.6);
                from = c.p.steps[n - 2 * q];
                to = c.last;
                evidence.push(ev(
                    "improvement over the last quarter",
                    late,
                    format!(
                        "the mean training loss {} from the third quarter to the last: it climbs back — steps overshoot",
                        fall_words(late)
                    ),
                ));
            }
        }
    }
    // No progress: flat late and still above half the initial loss (a converged run is flat
    // too, and SGD often converges at the edge of stability, lr·λmax ≈ 2).
    let late_flat = n >= MIN_POINTS && c.late_improvement() < 0.05 && c.l1 > 0.5 * c.l0;
    let stab = c.t.get("stability");
    if !stab.is_empty() {
        let m = median(&tail(stab, 0.5));
        if m > 2.0 && (late_flat || conf > 0.0) {
            conf = (conf + 0.2).clamp(0.75, 1.0);
            evidence.push(ev(
                "lr·λmax (median, second half)",
                m,
                "above 2 gradient descent on the local quadratic is unstable: the step is too large for the sharpest direction",
            ));
        }
    }
    let alpha = c.t.get("alpha");
    if !alpha.is_empty() {
        let m = median(&tail(alpha, 0.5));
        if m > 1.0 && (late_flat || conf > 0.0) {
            conf = (conf + 0.15).clamp(0.6, 1.0);
            evidence.push(ev(
                "step quality α (median, second half)",
                m,
                "above 1: steps land past the mirror point of the valley floor (overshoot)",
            ));
        }
    }
    if conf == 0.0 {
        return None;
    }
    Some(Finding {
        kind: Kind::LrTooHigh,
        first_step: from,
        last_step: to,
        confidence: conf,
        basis: rests_on(conf, &evidence),
        summary: "the learning rate is too high: steps overshoot the valley instead of descending into it".into(),
        evidence,
        remedies: remedies::for_run(Kind::LrTooHigh, c.lr),
    })
}

pub(super) fn lr_too_low(c: &Ctx) -> Option<Finding> {
    let (early, late, total, what) = lr_too_low_epochs(c).or_else(|| lr_too_low_steps(c))?;
    let mut evidence = vec![
        ev(
            format!("improvement, first {what}"),
            early,
            format!("relative fall of the loss over the first {what}"),
        ),
        ev(
            format!("improvement, last {what}"),
            late,
            format!(
                "at least {STEADY_SLOPE}× the first: the descent has not slowed, it is just slow"
            ),
        ),
        ev(
            "total improvement",
            total,
            "below 0.5: the loss is far from where it could be",
        ),
    ];
    let mut conf: f64 = 0.7;
    let ur: Vec<f64> = c
        .weights()
        .iter()
        .flat_map(|l| tail(c.t.layer("update_ratio", l), 0.5))
        .collect();
    if !ur.is_empty() {
        let m = median(&ur);
        if m < 1e-4 {
            conf = 0.85;
        }
        evidence.push(ev(
            "update / weight ratio (median)",
            m,
            "healthy runs move weights ~1e-3 of their norm per step; far below, learning crawls",
        ));
    }
    let stab = c.t.get("stability");
    if !stab.is_empty() {
        let m = median(&tail(stab, 0.5));
        if m < 0.05 {
            conf = (conf + 0.1).min(0.95);
        }
        evidence.push(ev(
            "lr·λmax (median)",
            m,
            "far below 2: even the sharpest direction is descended in tiny steps",
        ));
    }
    Some(Finding {
        kind: Kind::LrTooLow,
        first_step: c.first,
        last_step: c.last,
        confidence: conf,
        basis: rests_on(conf, &evidence),
        summary: "the learning rate is too low: the loss falls steadily but slowly and would need far more steps".into(),
        evidence,
        remedies: remedies::for_run(Kind::LrTooLow, c.lr),
    })
}

/// From the epochs' mean training loss (low noise): at least 4 epochs, every (but at most one)
/// epoch lower than the one before, the last drop at least [`STEADY_SLOPE`] of the second
/// epoch's (the first epoch's mean averages over the start), less than half of the loss gone.
pub(super) fn lr_too_low_epochs(c: &Ctx) -> Option<(f64, f64, f64, &'static str)> {
    let l: Vec<f64> = c.t.epochs.iter().filter_map(|e| e.train_loss).collect();
    if l.len() < 4 || l.len() != c.t.epochs.len() {
        return None;
    }
    let d: Vec<f64> = l
        .windows(2)
        .map(|w| (w[0] - w[1]) / w[0].abs().max(1e-12))
        .collect();
    let rising = d.iter().filter(|v| **v <= 0.0).count();
    let (early, late) = (d[0], *d.last()?);
    let total = (l[0] - l[l.len() - 1]) / l[0].abs().max(1e-12);
    (rising <= 1 && early > 0.0 && late >= STEADY_SLOPE * early && total < 0.5)
        .then_some((early, late, total, "epoch"))
}

/// From the smoothed step loss, for runs without epoch records.
pub(super) fn lr_too_low_steps(c: &Ctx) -> Option<(f64, f64, f64, &'static str)> {
    let p = &c.p;
    let n = c.n();
    let w = p.window;
    if n < 3 * w {
        return None;
    }
    // The first window's start is the noisiest point of the EMA: compare the second window.
    let early = p.improvement[2 * w];
    let late = p.improvement[n - 1];
    let total = (c.l0 - c.l1) / c.l0.abs().max(1e-12);
    if !(early > 0.0 && late > 0.0 && late >= STEADY_SLOPE * early && total < 0.5) {
        return None;
    }
    // Steady: the loss fell in most windows.
    let falling =
        p.improvement[2 * w..].iter().filter(|v| **v > 0.0).count() as f64 / (n - 2 * w) as f64;
    (falling >= 0.8).then_some((early, late, total, "window"))
}
