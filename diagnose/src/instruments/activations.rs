//! Per-layer activation readings, from an extra training-mode forward pass on the step's batch
//! ([`Probe::for_each_activation`], which replays the step's dropout masks and leaves training
//! untouched) on due steps.
//!
//! Series (layer = index of the top-level layer as a string, e.g. `3`):
//! - `act_mean`, `act_std`: mean and (population) standard deviation of all the layer's outputs.
//! - `saturation` (sigmoid and tanh layers): the fraction of outputs in the flat tails —
//!   |y| > 0.99 for tanh, y < 0.01 or y > 0.99 for sigmoid.
//! - `dead_fraction` (relu, leaky_relu, elu, gelu, silu layers): the fraction of units that are
//!   never > 0 over the batch (units = features of an `[N, F]` output, channels of an
//!   `[N, C, …]` output, counted over the batch and all spatial positions).
//! - `act_zero_fraction`: the fraction of exactly-zero outputs.
//! - histograms (`what = "activation"`): log10|y| over the same edges as the gradient
//!   histograms ([`super::layers::log_edges`]); exact zeros are left out.

use train::Probe;

use super::layers::{log_edges, log_histogram};
use super::reduce::sum2;
use super::{Every, Instrument};
use crate::{Histogram, Result, Timeline};

/// Activation statistics per top-level layer (see the module docs).
pub struct Activations {
    pub every: Every,
    /// Whether to record activation histograms.
    pub histograms: bool,
}

impl Activations {
    pub fn new(every: Every) -> Activations {
        Activations {
            every,
            histograms: true,
        }
    }

    /// Economy: every 100 steps (a measurement costs about half a training step).
    pub fn economy() -> Activations {
        Activations::new(Every(100))
    }

    /// Full: every 10 steps.
    pub fn full() -> Activations {
        Activations::new(Every(10))
    }
}

/// The fraction of units of `y` (shape `[N, U, …]`, units along dimension 1; `[N]` counts as
/// one unit) that are never > 0.
pub fn dead_fraction(shape: &[usize], y: &[f32]) -> f64 {
    if y.is_empty() || shape.is_empty() {
        return 0.0;
    }
    let n = shape[0].max(1);
    let units = shape.get(1).copied().unwrap_or(1).max(1);
    let inner: usize = shape.iter().skip(2).product::<usize>().max(1);
    let mut alive = vec![false; units];
    for ex in y.chunks_exact(units * inner).take(n) {
        for (u, a) in alive.iter_mut().enumerate() {
            if !*a && ex[u * inner..(u + 1) * inner].iter().any(|&v| v > 0.0) {
                *a = true;
            }
        }
    }
    alive.iter().filter(|&&a| !a).count() as f64 / units as f64
}

/// The fraction of `y` in the flat tails of `kind` (`sigmoid` or `tanh`), None for others.
pub fn saturation(kind: &str, y: &[f32]) -> Option<f64> {
    let count = match kind {
        "tanh" => y.iter().filter(|v| v.abs() > 0.99).count(),
        "sigmoid" => y.iter().filter(|&&v| !(0.01..=0.99).contains(&v)).count(),
        _ => return None,
    };
    Some(count as f64 / y.len().max(1) as f64)
}

fn relu_family(kind: &str) -> bool {
    matches!(kind, "relu" | "leaky_relu" | "elu" | "gelu" | "silu")
}

impl Instrument for Activations {
    fn name(&self) -> &'static str {
        "activations"
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        if !self.every.due(p.step) {
            return Ok(());
        }
        let step = p.step;
        let histograms = self.histograms;
        p.for_each_activation(|i, kind, y| {
            let layer = i.to_string();
            let l = Some(layer.as_str());
            let d = &y.data;
            let len = d.len().max(1) as f64;
            let mean = sum2(d, d, |v, _| v) / len;
            let var = sum2(d, d, |v, _| (v - mean) * (v - mean)) / len;
            t.push("act_mean", l, step, mean);
            t.push("act_std", l, step, var.sqrt());
            if let Some(s) = saturation(kind, d) {
                t.push("saturation", l, step, s);
            }
            if relu_family(kind) {
                t.push("dead_fraction", l, step, dead_fraction(&y.shape, d));
            }
            let (counts, zeros) = log_histogram(d);
            t.push("act_zero_fraction", l, step, zeros as f64 / len);
            if histograms {
                t.histograms.push(Histogram {
                    step,
                    what: "activation".into(),
                    layer,
                    edges: log_edges(),
                    counts,
                });
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_units_and_saturation() {
        // [N=2, C=3, 2 positions]: channel 1 never positive, channel 2 positive once.
        let y = [
            0.0, 1.0, -1.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 0.0, -2.0, 0.0, 3.0,
        ];
        assert_eq!(dead_fraction(&[2, 3, 2], &y), 1.0 / 3.0);
        // [N=3, F=2]: feature 0 dead.
        assert_eq!(
            dead_fraction(&[3, 2], &[0.0, 1.0, -0.1, 0.0, 0.0, 0.0]),
            0.5
        );
        assert_eq!(saturation("tanh", &[0.995, -0.999, 0.5, 0.0]), Some(0.5));
        assert_eq!(saturation("sigmoid", &[0.005, 0.999, 0.5, 0.3]), Some(0.5));
        assert_eq!(saturation("relu", &[1.0]), None);
    }
}
