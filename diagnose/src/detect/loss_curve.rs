//! The shape of the training loss: a plateau (or saddle), underfitting, convergence.

use train::Stop;

use super::context::{ev, fall_words, median, Ctx};
use super::thresholds::*;
use crate::finding::{Finding, Kind};
use crate::remedies;

pub(super) fn plateau(c: &Ctx) -> Option<Finding> {
    let p = &c.p;
    let n = c.n();
    let w = p.window;
    if n < 3 * w {
        return None;
    }
    // Longest run of flat windows at a high loss.
    let (mut best, mut cur, mut best_end) = (0usize, 0usize, 0usize);
    for i in w..n {
        let flat = p.improvement[i].abs() < FLAT && p.smooth[i] >= 0.5 * c.l0;
        cur = if flat { cur + 1 } else { 0 };
        if cur > best {
            best = cur;
            best_end = i;
        }
    }
    // A flat stretch of `best` windows-ends covers best + w points.
    let len = best + w;
    if len < n / 5 || best == 0 {
        return None;
    }
    let start = best_end + 1 - best - w;
    let level = p.smooth[best_end];
    let after = p.smooth[best_end..]
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let escaped = after < 0.7 * level;
    let stuck = !escaped && best_end + 1 >= n - w && c.l1 >= 0.9 * c.l0;
    if !escaped && !stuck {
        return None;
    }
    let mut evidence = vec![
        ev(
            "plateau length (steps)",
            (p.steps[best_end] - p.steps[start]) as f64,
            format!("the smoothed loss moved less than {FLAT} per window over this stretch"),
        ),
        ev(
            "loss on the plateau",
            level,
            "at least half the initial loss",
        ),
    ];
    let mut conf: f64 = if escaped { 0.8 } else { 0.6 };
    let mut basis = vec![if escaped {
        "0.8 from the loss's shape: a long flat stretch, then a fall"
    } else {
        "0.6 from the loss's shape: flat from the start, no escape yet"
    }];
    if escaped {
        evidence.push(ev(
            "loss after the plateau / on it",
            after / level,
            "below 0.7: the run escaped — the signature of a saddle point",
        ));
    }
    let lmin = c.t.get("lambda_min");
    if !lmin.is_empty() {
        let on: Vec<f64> = lmin
            .iter()
            .filter(|x| x.0 >= p.steps[start] && x.0 <= p.steps[best_end])
            .map(|x| x.1)
            .collect();
        let m = median(&on);
        if m < 0.0 {
            conf = (conf + 0.15).min(1.0);
            basis.push("+0.15 from negative curvature (λmin < 0) on the plateau");
            evidence.push(ev(
                "λmin on the plateau (median)",
                m,
                "negative: a direction of descent exists — a saddle, not a minimum",
            ));
        }
    }
    let g = c.t.get("grad_norm");
    if !g.is_empty() {
        let on: Vec<f64> = g
            .iter()
            .filter(|x| x.0 >= p.steps[start] && x.0 <= p.steps[best_end])
            .map(|x| x.1)
            .collect();
        let gmax = g
            .iter()
            .map(|x| x.1)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        evidence.push(ev(
            "gradient norm on the plateau / run maximum",
            median(&on) / gmax.max(1e-300),
            "small: the loss surface is flat there",
        ));
    }
    Some(Finding {
        kind: Kind::SaddleOrPlateau,
        first_step: p.steps[start],
        last_step: p.steps[best_end],
        confidence: conf,
        basis: basis.join("; "),
        summary: if escaped {
            format!(
                "the loss sat on a plateau for {} steps and then fell: a saddle point slowed the run",
                p.steps[best_end] - p.steps[start]
            )
        } else {
            "the loss has not moved since the start: the run is stuck on a plateau".into()
        },
        evidence,
        remedies: remedies::for_run(Kind::SaddleOrPlateau, c.lr),
    })
}

/// A run whose loss did not move at all, measured robustly: the median step loss of its last
/// fifth within [`FLAT_LATE`] of its first fifth's, at a train accuracy below 90%. The
/// window-by-window plateau test misses this when the loss is noisy (a batch of one or a few
/// examples moves the smoothed loss more than 1% a window while it goes nowhere), and such a
/// run used to be reported as healthy. Only asked when no other loss-shape finding fired.
pub(super) fn no_progress(c: &Ctx) -> Option<Finding> {
    let loss: Vec<f64> = c.p.loss.iter().copied().filter(|v| v.is_finite()).collect();
    let fifth = loss.len() / 5;
    if fifth < 5 {
        return None;
    }
    let first = median(&loss[..fifth]);
    let last = median(&loss[loss.len() - fifth..]);
    let moved = (first - last) / first.abs().max(1e-12);
    let acc =
        c.s.last
            .as_ref()
            .and_then(|e| e.train_accuracy)
            .or_else(|| c.last_epoch_train_accuracy())?;
    if moved.abs() >= FLAT_LATE || acc >= 0.9 {
        return None;
    }
    let evidence = vec![
        ev(
            "median loss, last fifth / first fifth",
            last / first,
            format!(
                "within ±{FLAT_LATE} of 1: the loss {} over the whole run",
                fall_words(moved)
            ),
        ),
        ev(
            "train accuracy (final)",
            acc,
            "below 0.9: the model has not fitted the data it trains on",
        ),
    ];
    Some(Finding {
        kind: Kind::SaddleOrPlateau,
        first_step: c.first,
        last_step: c.last,
        confidence: 0.5,
        basis:
            "0.5: the median loss did not move from the run's first fifth to its last, at a low \
                train accuracy; the loss is too noisy for the window-by-window plateau test"
                .into(),
        summary: "the loss has not moved since the start: the run is stuck (a plateau, or steps \
                  too small to make progress)"
            .into(),
        evidence,
        remedies: remedies::for_run(Kind::SaddleOrPlateau, c.lr),
    })
}

pub(super) fn underfitting(c: &Ctx) -> Option<Finding> {
    let total = (c.l0 - c.l1) / c.l0.abs().max(1e-12);
    let late = c.late_improvement();
    let high = c.l1 >= HIGH_LOSS * c.l0;
    let acc = c.last_epoch_train_accuracy();
    let low_acc = acc.is_some_and(|a| a < 0.9);
    // Flat, not rising: a loss that climbs over the last quarter has not settled anywhere (a
    // step too large does that), so it is no sign of a model too small.
    if !(total > 0.05 && late.abs() < FLAT_LATE && (high || low_acc)) {
        return None;
    }
    if let Some(&(_, g)) = c.p.gap.last() {
        if g > 0.1 * c.l1.abs() {
            return None;
        }
    }
    let mut evidence = vec![
        ev(
            "improvement over the last quarter",
            late,
            format!(
                "the mean training loss {} from the third quarter to the last (within ±{FLAT_LATE}: flat)",
                fall_words(late)
            ),
        ),
        ev(
            "final / initial loss",
            c.l1 / c.l0,
            format!("at least {HIGH_LOSS}: it stays flat at a high level"),
        ),
    ];
    if let Some(a) = acc {
        evidence.push(ev(
            "train accuracy (last epoch)",
            a,
            "the model cannot even fit the data it trains on",
        ));
    }
    let n = c.n();
    let (confidence, basis) = if high && (low_acc || acc.is_none()) {
        (
            0.8,
            "0.8: flat late, at a high loss, and train accuracy below 90% (or not logged)",
        )
    } else {
        (
            0.6,
            "0.6: flat late, but only one of a high loss and a low train accuracy",
        )
    };
    Some(Finding {
        kind: Kind::Underfitting,
        first_step: c.p.steps[n - n / 4],
        last_step: c.last,
        confidence,
        basis: basis.into(),
        summary: "the model underfits: the training loss has stopped falling at a high level"
            .into(),
        evidence,
        remedies: remedies::for_run(Kind::Underfitting, c.lr),
    })
}

pub(super) fn converged(c: &Ctx) -> Option<Finding> {
    let total = (c.l0 - c.l1) / c.l0.abs().max(1e-12);
    let late = c.late_improvement();
    let late_share = late * c.l1.abs() / (c.l0 - c.l1).abs().max(1e-12);
    let (criterion, value, note, conf) = if let Stop::EarlyStopped {
        epoch, best_epoch, ..
    } = &c.s.stop
    {
        (
            "early stopping".to_string(),
            *best_epoch as f64,
            format!("the monitored metric stopped improving (stopped at epoch {epoch}; value = best epoch)"),
            0.85,
        )
    } else if let Some(a) = c.last_epoch_train_accuracy().filter(|a| *a >= 0.99) {
        (
            "train accuracy ≥ 99%".to_string(),
            a,
            "the model fits the training set".to_string(),
            0.8,
        )
    } else if total >= 0.5 && (late.abs() < 0.05 || late_share.abs() < 0.02) {
        (
            "loss flat after falling".to_string(),
            late,
            format!(
                "over the last quarter the loss {} (within ±0.05, or 2% of the total fall) after it fell {:.0}% in all",
                fall_words(late),
                total * 100.0
            ),
            0.7,
        )
    } else {
        return None;
    };
    Some(Finding {
        kind: Kind::Converged,
        first_step: c.first,
        last_step: c.last,
        confidence: conf,
        basis: format!("{conf:.2} for the criterion that fired: {criterion}"),
        summary: format!("the run converged ({criterion})"),
        evidence: vec![
            ev(criterion, value, note),
            ev(
                "final / initial loss",
                c.l1 / c.l0,
                "how far the loss came down",
            ),
        ],
        remedies: Vec::new(),
    })
}
