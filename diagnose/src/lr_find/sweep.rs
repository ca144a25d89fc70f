//! The sweep itself, independent of what is trained: the exponential learning-rate plan, the
//! online smoothing and stop rule, and the zero-phase smoothing the suggestion reads.
//!
//! Convention: point `i` of a curve is `(lrᵢ, loss after the step taken with lrᵢ)`, i.e. the
//! loss measured at the next step's forward pass (fastai and Lightning record the loss of the
//! step's own forward pass, before its update, which shifts their curves by one step: a factor
//! `(lr_max/lr_min)^(1/steps)`, ×1.2 at the defaults, towards larger lrs).

use serde::Serialize;

use crate::{DiagnoseError, Result};

/// What to sweep: `steps` learning rates from `lr_min` to `lr_max`, evenly spaced in log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub lr_min: f64,
    pub lr_max: f64,
    pub steps: usize,
    /// EMA factor of the online smoothing that the stop rule reads.
    pub beta: f64,
    /// EMA factor of the zero-phase smoothing (forward and backward) that the suggestion reads.
    pub smooth: f64,
    /// Stop once the online-smoothed loss exceeds this × its best so far (fastai: 4).
    pub stop_factor: f64,
}

impl Default for Plan {
    /// fastai's and Lightning's range (1e-7 → 10 in 100 steps) and stop rule (4 × best), with
    /// `beta = 0.9` rather than fastai's 0.98: a causal EMA lags by about `β/(1 − β)` points,
    /// 49 at 0.98 — four decades of a 100-step sweep over eight — and 9 at 0.9. The suggestion
    /// reads a zero-phase (forward and backward) smoothing, which has no lag at all, with
    /// `smooth = 0.75`: about 3 points (a quarter decade at the defaults) each way, narrower
    /// than a typical fall (one to two decades), which 0.9 visibly flattened on the bundled
    /// digits MLP.
    fn default() -> Plan {
        Plan {
            lr_min: 1e-7,
            lr_max: 10.0,
            steps: 100,
            beta: 0.9,
            smooth: 0.75,
            stop_factor: 4.0,
        }
    }
}

impl Plan {
    /// Checks the numbers; errors name the setting and the value.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, v: &dyn std::fmt::Display, why: &str| {
            Err(DiagnoseError::Invalid(format!(
                "lr-find: {field} = {v}: {why}"
            )))
        };
        if !(self.lr_min.is_finite() && self.lr_min > 0.0) {
            return bad("lr_min", &self.lr_min, "expected a finite number > 0");
        }
        if !(self.lr_max.is_finite() && self.lr_max > self.lr_min) {
            return bad("lr_max", &self.lr_max, "expected a finite number > lr_min");
        }
        if !(5..=100_000).contains(&self.steps) {
            return bad("steps", &self.steps, "expected 5 to 100000 steps");
        }
        // The sweep runs as an exponential schedule whose factor is `ratio()`; a span of more
        // than f64's range (1e-300 → 1e300) would make it infinite.
        if !(self.lr_max / self.lr_min).is_finite() {
            return bad(
                "lr_max",
                &format!("{:e}", self.lr_max),
                &format!(
                    "lr_max / lr_min = {:e} / {:e} is beyond f64's range; sweep at most 300 decades",
                    self.lr_max, self.lr_min
                ),
            );
        }
        if !(0.0..1.0).contains(&self.beta) {
            return bad("beta", &self.beta, "expected 0 <= beta < 1");
        }
        if !(0.0..1.0).contains(&self.smooth) {
            return bad("smooth", &self.smooth, "expected 0 <= smooth < 1");
        }
        if !(self.stop_factor.is_finite() && self.stop_factor > 1.0) {
            return bad(
                "stop_factor",
                &self.stop_factor,
                "expected a finite number > 1",
            );
        }
        Ok(())
    }

    /// The factor between consecutive learning rates.
    pub fn ratio(&self) -> f64 {
        (self.lr_max / self.lr_min).powf(1.0 / (self.steps - 1) as f64)
    }

    /// The `i`-th learning rate (`0 ≤ i < steps`), computed in closed form.
    pub fn lr(&self, i: usize) -> f64 {
        self.lr_min * (self.lr_max / self.lr_min).powf(i as f64 / (self.steps - 1) as f64)
    }
}

/// fastai's smoothed loss: an exponential moving average with bias correction,
/// `avg ← β·avg + (1 − β)·x`, reported as `avg / (1 − βⁿ)` after `n` values.
#[derive(Clone, Debug)]
pub struct Ema {
    beta: f64,
    avg: f64,
    n: i32,
}

impl Ema {
    pub fn new(beta: f64) -> Ema {
        Ema {
            beta,
            avg: 0.0,
            n: 0,
        }
    }

    /// Adds `x` and returns the bias-corrected average.
    pub fn push(&mut self, x: f64) -> f64 {
        self.avg = self.beta * self.avg + (1.0 - self.beta) * x;
        self.n = self.n.saturating_add(1);
        let correction = 1.0 - self.beta.powi(self.n);
        if correction > 0.0 {
            self.avg / correction
        } else {
            x
        }
    }
}

/// The bias-corrected EMA of `xs` run forward, then run backward over the result: a smoothing
/// without lag (as `filtfilt`), so a feature of the curve stays at its learning rate.
pub fn smooth_zero_phase(xs: &[f64], beta: f64) -> Vec<f64> {
    let mut e = Ema::new(beta);
    let forward: Vec<f64> = xs.iter().map(|&x| e.push(x)).collect();
    let mut e = Ema::new(beta);
    let mut back: Vec<f64> = forward.iter().rev().map(|&x| e.push(x)).collect();
    back.reverse();
    back
}

/// Why a sweep ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum End {
    /// Every planned learning rate was tried.
    Completed,
    /// The online-smoothed loss exceeded `stop_factor` × its best.
    Exploded { lr: f64, smoothed: f64, best: f64 },
    /// The loss (or the weights) stopped being finite; `lr` is the last one that was tried.
    NonFinite { lr: f64, detail: String },
}

/// Collects a sweep's points and applies the stop rule as they come.
#[derive(Clone, Debug)]
pub struct Recorder {
    plan: Plan,
    ema: Ema,
    best: f64,
    pub lrs: Vec<f64>,
    pub losses: Vec<f64>,
    pub end: Option<End>,
}

impl Recorder {
    pub fn new(plan: &Plan) -> Recorder {
        Recorder {
            plan: plan.clone(),
            ema: Ema::new(plan.beta),
            best: f64::INFINITY,
            lrs: Vec::new(),
            losses: Vec::new(),
            end: None,
        }
    }

    /// Records the loss after the step taken with `lr`; false once the sweep should stop.
    pub fn push(&mut self, lr: f64, loss: f64) -> bool {
        if self.end.is_some() {
            return false;
        }
        if !loss.is_finite() {
            self.end = Some(End::NonFinite {
                lr,
                detail: format!("loss {loss}"),
            });
            return false;
        }
        self.lrs.push(lr);
        self.losses.push(loss);
        let s = self.ema.push(loss);
        self.best = self.best.min(s);
        if s > self.plan.stop_factor * self.best {
            self.end = Some(End::Exploded {
                lr,
                smoothed: s,
                best: self.best,
            });
            return false;
        }
        if self.lrs.len() >= self.plan.steps {
            self.end = Some(End::Completed);
            return false;
        }
        true
    }

    /// Whether the sweep is over.
    pub fn done(&self) -> bool {
        self.end.is_some()
    }
}

/// Runs a sweep where the caller owns the loop: `step(lr)` takes one optimizer step with
/// learning rate `lr` and returns the loss after it.
pub fn run(plan: &Plan, mut step: impl FnMut(f64) -> Result<f64>) -> Result<Recorder> {
    plan.validate()?;
    let mut rec = Recorder::new(plan);
    for i in 0..plan.steps {
        let lr = plan.lr(i);
        if !rec.push(lr, step(lr)?) {
            break;
        }
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_spans_the_range_geometrically() {
        let p = Plan::default();
        assert!((p.lr(0) - 1e-7).abs() < 1e-20);
        assert!((p.lr(99) / 10.0 - 1.0).abs() < 1e-12);
        assert!((p.lr(50) / p.lr(49) / p.ratio() - 1.0).abs() < 1e-12);
        assert!(Plan {
            steps: 2,
            ..p.clone()
        }
        .validate()
        .is_err());
        let e = Plan { lr_max: 1e-8, ..p }
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lr_max = 0.00000001") || e.contains("lr_max = 1e-8"),
            "{e}"
        );
        // A span beyond f64's range made the sweep's schedule factor infinite, and the error
        // named a `[schedule] gamma` the user never wrote.
        let e = Plan {
            lr_min: 1e-300,
            lr_max: 1e300,
            ..Plan::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("lr_max / lr_min") && e.contains("300 decades"),
            "{e}"
        );
        let wide = Plan {
            lr_min: 1e-150,
            lr_max: 1e150,
            ..Plan::default()
        };
        wide.validate().unwrap();
        assert!(wide.ratio().is_finite() && wide.lr(99).is_finite());
    }

    #[test]
    fn ema_is_bias_corrected_and_zero_phase_has_no_lag() {
        let mut e = Ema::new(0.98);
        // The first value comes back unchanged, a constant stays constant.
        assert!((e.push(3.0) - 3.0).abs() < 1e-12);
        assert!((e.push(3.0) - 3.0).abs() < 1e-12);
        // A symmetric bump keeps its peak position under zero-phase smoothing but not causal.
        let xs: Vec<f64> = (0..81)
            .map(|i| (-((i as f64 - 40.0) / 6.0).powi(2)).exp())
            .collect();
        let z = smooth_zero_phase(&xs, 0.8);
        let argmax = |v: &[f64]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
        assert_eq!(argmax(&z), 40);
        let mut e = Ema::new(0.8);
        let causal: Vec<f64> = xs.iter().map(|&x| e.push(x)).collect();
        assert!(argmax(&causal) > 42);
    }

    #[test]
    fn recorder_stops_at_four_times_the_best_and_at_non_finite() {
        let plan = Plan {
            beta: 0.0,
            ..Plan::default()
        };
        let mut r = Recorder::new(&plan);
        assert!(r.push(1e-7, 2.0));
        assert!(r.push(2e-7, 1.0));
        assert!(r.push(3e-7, 3.9));
        assert!(!r.push(4e-7, 4.1));
        assert!(matches!(r.end, Some(End::Exploded { best, .. }) if best == 1.0));
        let mut r = Recorder::new(&plan);
        assert!(!r.push(1e-7, f64::NAN));
        assert!(r.losses.is_empty() && matches!(r.end, Some(End::NonFinite { .. })));
    }
}
