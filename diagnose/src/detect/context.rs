//! What every detector reads: the timeline, the run's summary, its progress readings and the
//! loss at its start and end; and the statistics they share.

use train::Summary;

use crate::finding::Evidence;
use crate::progress::Progress;
pub(super) use crate::timeline::layer_order;
use crate::Timeline;

pub(super) fn ev(what: impl Into<String>, value: f64, note: impl Into<String>) -> Evidence {
    Evidence {
        what: what.into(),
        value,
        note: note.into(),
    }
}

/// A relative fall of the loss (`(before − after) / before`) in words that carry its direction:
/// "fell 12%", "rose 68%", "changed by less than 1%" — never "flattened" for a rise.
pub(super) fn fall_words(fall: f64) -> String {
    let pct = 100.0 * fall.abs();
    let pct = if pct >= 10.0 {
        format!("{pct:.0}%")
    } else {
        format!("{pct:.1}%")
    };
    if fall.abs() < 0.01 {
        "changed by less than 1%".into()
    } else if fall > 0.0 {
        format!("fell {pct}")
    } else {
        format!("rose {pct}")
    }
}

/// What a confidence rests on, from the evidence that set it: `"0.75, from: a; b"`.
pub(super) fn rests_on(conf: f64, evidence: &[crate::finding::Evidence]) -> String {
    let what: Vec<&str> = evidence.iter().map(|e| e.what.as_str()).collect();
    format!("{conf:.2}, from: {}", what.join("; "))
}

pub(super) fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

pub(super) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The median, over the steps two series share, of `f(first, last)` for the pairs `keep`
/// accepts: how one layer's reading compares with another's through the run.
pub(super) fn paired_median(
    first: &[(u64, f64)],
    last: &[(u64, f64)],
    keep: impl Fn(f64, f64) -> bool,
    f: impl Fn(f64, f64) -> f64,
) -> f64 {
    let r: Vec<f64> = first
        .iter()
        .zip(last)
        .filter(|(a, b)| a.0 == b.0 && keep(a.1, b.1))
        .map(|(a, b)| f(a.1, b.1))
        .collect();
    median(&r)
}

/// Values of a series from `frac` of the run on (by position).
pub(super) fn tail(p: &[(u64, f64)], frac: f64) -> Vec<f64> {
    let k = ((p.len() as f64) * frac).floor() as usize;
    p[k.min(p.len())..].iter().map(|x| x.1).collect()
}

/// What every detector looks at.
pub(super) struct Ctx<'a> {
    pub(super) t: &'a Timeline,
    pub(super) s: &'a Summary,
    pub(super) p: Progress,
    pub(super) first: u64,
    pub(super) last: u64,
    /// The base learning rate (first `lr` reading).
    pub(super) lr: Option<f64>,
    /// Initial loss (median of the first 5 points) and final (median of the last tenth).
    pub(super) l0: f64,
    pub(super) l1: f64,
}

impl Ctx<'_> {
    pub(super) fn n(&self) -> usize {
        self.p.loss.len()
    }

    /// Relative fall of the mean loss from the third to the fourth quarter of the run.
    pub(super) fn late_improvement(&self) -> f64 {
        let n = self.n();
        let q = n / 4;
        let a = mean(&self.p.loss[n - 2 * q..n - q]);
        let b = mean(&self.p.loss[n - q..]);
        (a - b) / a.abs().max(1e-12)
    }

    /// The weight matrices, first layer to last: those with `identical_units` when that series
    /// exists, else every parameter named `*weight` with a `grad_norm` series.
    pub(super) fn weights(&self) -> Vec<String> {
        let mut w: Vec<String> = self
            .t
            .layers_of("identical_units")
            .into_iter()
            .map(String::from)
            .collect();
        if w.is_empty() {
            w = self
                .t
                .layers_of("grad_norm")
                .into_iter()
                .filter(|n| n.ends_with("weight"))
                .map(String::from)
                .collect();
        }
        w.sort_by_key(|n| layer_order(n));
        w
    }

    pub(super) fn last_epoch_train_accuracy(&self) -> Option<f64> {
        self.t.epochs.last().and_then(|e| e.train_accuracy)
    }
}
