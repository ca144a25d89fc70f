//! Numbers of a metric in sentences: accuracies in % (margins in points), everything else with
//! three significant digits ([`present::sig`]).

use present::sig;
use train::Metric;

use super::model::Stat;

/// A value of `metric`: `85.0%`, `0.313`.
pub(super) fn fmt_value(metric: Metric, v: f64) -> String {
    if metric.is_accuracy() {
        format!("{:.1}%", 100.0 * v)
    } else {
        sig(v, 3)
    }
}

/// A target of `metric`: `test accuracy ≥ 95.0%`, `validation loss ≤ 0.300`.
pub(super) fn fmt_target(metric: Metric, target: f64) -> String {
    format!(
        "{} {} {}",
        metric.label(),
        if metric.higher_is_better() {
            "≥"
        } else {
            "≤"
        },
        fmt_value(metric, target)
    )
}

/// Mean ± std of `metric`: `85.0 ± 1.2%`, `0.313 ± 0.0153`.
pub(super) fn fmt_pm(metric: Metric, s: &Stat) -> String {
    if metric.is_accuracy() {
        format!("{:.1} ± {:.1}%", 100.0 * s.mean, 100.0 * s.std)
    } else {
        format!("{} ± {}", sig(s.mean, 3), sig(s.std, 3))
    }
}

/// [`fmt_pm`] with the metric's label: `85.0 ± 1.2% test accuracy`, `test loss 0.313 ± 0.0153`.
pub(super) fn fmt_with_label(metric: Metric, s: &Stat) -> String {
    if metric.is_accuracy() {
        format!("{} {}", fmt_pm(metric, s), metric.label())
    } else {
        format!("{} {}", metric.label(), fmt_pm(metric, s))
    }
}

/// A difference of `metric`: `1.3 points` for accuracies.
pub(super) fn fmt_margin(metric: Metric, m: f64) -> String {
    if metric.is_accuracy() {
        format!("{:.1} points", 100.0 * m)
    } else {
        sig(m, 3)
    }
}

pub(super) fn fmt_list(items: &[String]) -> String {
    items.join(", ")
}
