//! Generalisation: overfitting, the validation loss rising while the training loss falls.

use train::Stop;

use super::context::{ev, Ctx};
use crate::finding::{Finding, Kind};
use crate::remedies;

pub(super) fn overfitting(c: &Ctx) -> Option<Finding> {
    // Early stopping already answered a rising validation loss (and kept the best weights).
    if matches!(c.s.stop, Stop::EarlyStopped { .. }) {
        return None;
    }
    let e = &c.t.epochs;
    let v: Vec<(usize, f64)> = e
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.val_loss?)))
        .collect();
    if v.len() < 3 {
        return None;
    }
    let &(imin, vmin) = v.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let &(ilast, vlast) = v.last()?;
    // A small rise of the validation cross-entropy is common in healthy runs (the model grows
    // confident on a few hard examples while accuracy holds: +0.06 on examples/train/digits_mlp,
    // +0.04 on mnist1d_cnn), so the rise must be large in absolute terms too, or come with a
    // fall of the validation accuracy.
    let acc_drop = match (e[imin].val_accuracy, e[ilast].val_accuracy) {
        (Some(a), Some(b)) => a - b,
        _ => 0.0,
    };
    if !(vlast > 1.1 * vmin && (vlast - vmin > 0.1 || acc_drop >= 0.02)) {
        return None;
    }
    let (tmin, tlast) = (e[imin].train_loss?, e[ilast].train_loss?);
    if tlast >= tmin {
        return None;
    }
    let rise = vlast / vmin - 1.0;
    let mut evidence = vec![
        ev(
            format!("val loss at its minimum (epoch {})", e[imin].epoch),
            vmin,
            "the best the model generalised",
        ),
        ev(
            "val loss at the end",
            vlast,
            format!(
                "rose {:.0}% from its minimum while the training loss fell {:.0}%: the model memorises the training set",
                rise * 100.0,
                100.0 * (tmin - tlast) / tmin.abs().max(1e-12)
            ),
        ),
        ev(
            "train–val gap at the end",
            vlast - tlast,
            "validation loss minus training loss",
        ),
    ];
    if let (Some(ta), Some(va)) = (e[ilast].train_accuracy, e[ilast].val_accuracy) {
        evidence.push(ev(
            "train − val accuracy",
            ta - va,
            "the generalisation gap",
        ));
    }
    Some(Finding {
        kind: Kind::Overfitting,
        first_step: e[imin].step,
        last_step: e[ilast].step,
        confidence: (0.6 + rise).min(0.95),
        basis: format!(
            "0.6 + the validation loss's relative rise ({}), at most 0.95; from the epoch records",
            present::fmt_num(rise)
        ),
        summary: format!(
            "the model overfits: validation loss rose {:.0}% from its minimum at epoch {} while the training loss kept falling",
            rise * 100.0,
            e[imin].epoch
        ),
        evidence,
        remedies: remedies::for_run(Kind::Overfitting, c.lr),
    })
}
