//! Progress readings computed from the [`Timeline`] after the run: the smoothed loss, its slope,
//! the relative improvement over a window and the train–validation gap.
//!
//! Series (run-level): `loss_smooth` (bias-corrected exponential moving average of the step
//! loss), `loss_slope` (per step, relative: `(s[i] − s[i−w]) / (w·|s[i−w]|)`, negative while
//! the loss falls), `improvement` (relative over the window: `(s[i−w] − s[i]) / |s[i−w]|`,
//! positive while the loss falls), `train_val_gap` (per epoch, `val_loss − train_loss`, at the
//! epoch's last step).
//!
//! The window `w` and the smoothing half-life scale with the run (a tenth and a twentieth of
//! its steps, clamped to 5..=200 and 2..=50 steps): short runs are not smoothed into a single
//! point, long ones are not left noisy.

use crate::Timeline;

/// The progress readings of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Steps of the `loss` series.
    pub steps: Vec<u64>,
    pub loss: Vec<f64>,
    pub smooth: Vec<f64>,
    /// The window of `slope` / `improvement`, in points.
    pub window: usize,
    /// Per point from `window` on (earlier points: NaN).
    pub slope: Vec<f64>,
    pub improvement: Vec<f64>,
    /// `(step, val_loss − train_loss)` per epoch that has both.
    pub gap: Vec<(u64, f64)>,
}

/// The smoothing half-life for a run of `n` points.
pub fn half_life(n: usize) -> f64 {
    (n as f64 / 20.0).clamp(2.0, 50.0)
}

/// The window of `slope` / `improvement` for a run of `n` points.
pub fn window(n: usize) -> usize {
    (n / 10).clamp(5, 200)
}

/// Bias-corrected EMA with the given half-life (in points); non-finite inputs propagate.
pub fn ema(x: &[f64], half_life: f64) -> Vec<f64> {
    let beta = 0.5f64.powf(1.0 / half_life);
    let mut m = 0.0;
    let mut w = 0.0;
    x.iter()
        .map(|&v| {
            m = beta * m + (1.0 - beta) * v;
            w = beta * w + (1.0 - beta);
            m / w
        })
        .collect()
}

impl Progress {
    /// Computes the readings from the timeline's `loss` series and epoch records.
    pub fn of(t: &Timeline) -> Progress {
        let pts = t.get("loss");
        let steps: Vec<u64> = pts.iter().map(|p| p.0).collect();
        let loss: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let n = loss.len();
        let smooth = ema(&loss, half_life(n));
        let w = window(n);
        let mut slope = vec![f64::NAN; n];
        let mut improvement = vec![f64::NAN; n];
        for i in w..n {
            let a = smooth[i - w];
            let b = smooth[i];
            let d = a.abs().max(1e-12);
            improvement[i] = (a - b) / d;
            slope[i] = (b - a) / (w as f64 * d);
        }
        let gap = t
            .epochs
            .iter()
            .filter_map(|e| Some((e.step, e.val_loss? - e.train_loss?)))
            .collect();
        Progress {
            steps,
            loss,
            smooth,
            window: w,
            slope,
            improvement,
            gap,
        }
    }

    /// Writes the series `loss_smooth`, `loss_slope`, `improvement`, `train_val_gap` into `t`
    /// (replacing earlier ones).
    pub fn record(&self, t: &mut Timeline) {
        for name in ["loss_smooth", "loss_slope", "improvement", "train_val_gap"] {
            t.series.remove(name);
        }
        for (i, &s) in self.steps.iter().enumerate() {
            t.push("loss_smooth", None, s, self.smooth[i]);
            if i >= self.window {
                t.push("loss_slope", None, s, self.slope[i]);
                t.push("improvement", None, s, self.improvement[i]);
            }
        }
        for &(s, g) in &self.gap {
            t.push("train_val_gap", None, s, g);
        }
    }
}

/// Computes the progress readings of `t` and records them into it.
pub fn record(t: &mut Timeline) -> Progress {
    let p = Progress::of(t);
    p.record(t);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_of_a_constant_is_the_constant_and_tracks_a_step() {
        let e = ema(&[3.0; 10], 2.0);
        assert!(e.iter().all(|v| (v - 3.0).abs() < 1e-12));
        // Half-life 1: each new point carries half the weight (bias-corrected).
        let e = ema(&[0.0, 1.0], 1.0);
        // m = 0.5*(0.5*0) + 0.5*1 = 0.5 ; w = 0.5*0.5 + 0.5 = 0.75
        assert!((e[1] - 0.5 / 0.75).abs() < 1e-12);
    }

    #[test]
    fn slope_and_improvement_of_an_exponential_decay() {
        // loss = exp(-k i): smoothed by an EMA it decays at the same rate after warm-up, so
        // improvement over w points → 1 − exp(−k w).
        let mut t = Timeline::default();
        let k = 0.01;
        for i in 0..400u64 {
            t.push("loss", None, i + 1, (-k * i as f64).exp());
        }
        let p = Progress::of(&t);
        assert_eq!(p.window, 40);
        let expect = 1.0 - (-k * 40.0).exp();
        assert!(
            (p.improvement[399] - expect).abs() < 1e-3,
            "{}",
            p.improvement[399]
        );
        assert!((p.slope[399] + expect / 40.0).abs() < 1e-4 / 40.0);
        let mut t2 = t.clone();
        record(&mut t2);
        assert_eq!(t2.get("loss_smooth").len(), 400);
        assert_eq!(t2.get("improvement").len(), 360);
    }

    #[test]
    fn gap_per_epoch() {
        let mut t = Timeline::default();
        let rec = |epoch, step, tr, va| train::EpochRecord {
            epoch,
            step,
            train_loss: Some(tr),
            train_accuracy: None,
            val_loss: va,
            val_accuracy: None,
            test_loss: None,
            test_accuracy: None,
            lr: 0.1,
            time_s: 0.0,
            examples_per_s: 0.0,
        };
        t.epochs.push(rec(1, 10, 1.0, Some(1.25)));
        t.epochs.push(rec(2, 20, 0.5, None));
        let p = Progress::of(&t);
        assert_eq!(p.gap, vec![(10, 0.25)]);
    }
}
