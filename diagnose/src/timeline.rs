//! What the instruments recorded: named scalar series over optimizer steps, optionally per
//! layer, and histograms.
//!
//! Series names are the contract between instruments, detectors and reports; each instrument
//! module documents the names it writes (`grad_norm`, `lambda_max`, …). A per-layer series is
//! keyed by `(name, Some(layer))`, where `layer` is the parameter or layer name (`0.weight`,
//! `2` for the layer at index 2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A histogram of values (or of `log10 |value|`) of one layer at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub step: u64,
    /// `gradient` or `activation`.
    pub what: String,
    pub layer: String,
    /// Bin edges (`counts.len() + 1` of them).
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Points `(step, value)` of one series, in step order.
pub type Points = Vec<(u64, f64)>;

/// Sort key of a layer or parameter name (`0.weight`, `2`, `1.body.0.bias`): its leading layer
/// index, then the rest; names without an index sort last. Detectors (first vs last layer) and
/// plots (rows of the heat map) order layers by it.
pub fn layer_order(name: &str) -> (usize, String) {
    let (head, rest) = name.split_once('.').unwrap_or((name, ""));
    (head.parse().unwrap_or(usize::MAX), rest.to_string())
}

/// The key of a series: `name` for run-level series, `name@layer` for per-layer ones.
pub fn key(name: &str, layer: Option<&str>) -> String {
    match layer {
        Some(l) => format!("{name}@{l}"),
        None => name.to_string(),
    }
}

/// Every reading of a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timeline {
    /// [`key`] → points.
    pub series: BTreeMap<String, Points>,
    pub histograms: Vec<Histogram>,
    /// Per-epoch records of the run (train/val/test metrics).
    pub epochs: Vec<train::EpochRecord>,
}

impl Timeline {
    /// Records `value` of series `name` (per layer when `layer` is given) at `step`.
    pub fn push(&mut self, name: &str, layer: Option<&str>, step: u64, value: f64) {
        self.series
            .entry(key(name, layer))
            .or_default()
            .push((step, value));
    }

    /// The points of a run-level series (empty when never recorded).
    pub fn get(&self, name: &str) -> &[(u64, f64)] {
        self.series.get(name).map_or(&[], Vec::as_slice)
    }

    /// The points of a per-layer series.
    pub fn layer(&self, name: &str, layer: &str) -> &[(u64, f64)] {
        self.series
            .get(&key(name, Some(layer)))
            .map_or(&[], Vec::as_slice)
    }

    /// The layers that have a series `name` (sorted by name).
    pub fn layers_of(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}@");
        self.series
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .collect()
    }

    /// The last value of a run-level series.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.get(name).last().map(|p| p.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_read() {
        let mut t = Timeline::default();
        t.push("loss", None, 1, 2.0);
        t.push("loss", None, 2, 1.5);
        t.push("grad_norm", Some("0.weight"), 1, 0.3);
        t.push("grad_norm", Some("2.weight"), 1, 0.1);
        assert_eq!(t.get("loss"), &[(1, 2.0), (2, 1.5)]);
        assert_eq!(t.last("loss"), Some(1.5));
        assert_eq!(t.layer("grad_norm", "2.weight"), &[(1, 0.1)]);
        assert_eq!(t.layers_of("grad_norm"), vec!["0.weight", "2.weight"]);
        assert!(t.get("nothing").is_empty());
        // The timeline serialises to JSON and back.
        let json = serde_json::to_string(&t).unwrap();
        let back: Timeline = serde_json::from_str(&json).unwrap();
        assert_eq!(back.layer("grad_norm", "0.weight"), &[(1, 0.3)]);
    }
}
