//! The suggestion: where the smoothed loss falls fastest, per seed, and whether the seeds agree.
//!
//! Per seed, on `y = ln(loss)` smoothed without lag ([`smooth_zero_phase`]) against
//! `x = log10(lr)`:
//!
//! * the region before the minimum: points `0..=m`, `m` the smoothed curve's lowest point;
//! * the suggestion: the learning rate of the most negative slope `dy/dx` (backward
//!   differences: point `i` is the loss after the step with `lrᵢ`) within that region (Smith 2017's "loss falls fastest"; fastai's `steep`).
//!   On `ln(loss)` the slope is the relative improvement per decade of lr, so the rule does not
//!   depend on the loss's scale, and on a quadratic it lands on the optimal lr (tests).
//!
//! A seed gives no clear answer when
//!
//! * **no descent**: the smoothed loss never falls below [`MIN_DROP`] × its start;
//! * **too noisy**: the steps' scatter in `ln(loss)` before the minimum — a robust standard
//!   deviation from second differences (1.4826 × their median absolute deviation / √6, blind to
//!   the curve's trend) — exceeds [`NOISE_SHARE`] × the descent `y₀ − y_m`: the scatter is of
//!   the size of the whole fall, so where it is steepest is noise;
//! * **at the edge**: the raw curve's first points (as many as the smoothing reaches) already
//!   fall at [`EDGE_SHARE`] of the steepest rate or more: the fall began before `lr_min`
//!   (lower it);
//! * too few points (fewer than [`MIN_POINTS`]) were recorded before the stop.
//!
//! Over seeds: the suggestion is the median (in log) of the seeds' suggestions with the
//! min..max band; the answer is clear only when every seed's is and the band spans at most
//! [`MAX_SPREAD_DECADES`]. Otherwise the verdict says why, and gives no number.

use serde::Serialize;

use super::sweep::smooth_zero_phase;

/// A clear descent takes the smoothed loss below this fraction of its start.
pub const MIN_DROP: f64 = 0.9;
/// The steps' scatter (log units) may be at most this share of the descent (log units).
pub const NOISE_SHARE: f64 = 1.0 / 3.0;
/// Seeds whose suggestions span more than this many decades give no clear answer.
pub const MAX_SPREAD_DECADES: f64 = 1.0;
/// A curve whose first points already fall at this share of its steepest rate started its fall
/// before `lr_min`.
pub const EDGE_SHARE: f64 = 0.5;
/// Fewest recorded points a curve needs.
pub const MIN_POINTS: usize = 8;

/// One seed's reading of its curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeedCall {
    /// The steepest-descent learning rate, when the curve gives a clear answer.
    pub lr: Option<f64>,
    /// The steepest point's lr even when the curve is unclear (for the plot), if there is one.
    pub steepest_lr: Option<f64>,
    /// `d ln(loss) / d log10(lr)` at the steepest point.
    pub steepest_slope: Option<f64>,
    /// The lr of the smoothed curve's minimum.
    pub min_lr: Option<f64>,
    /// `ln(start / minimum)` of the smoothed curve.
    pub descent: f64,
    /// Robust standard deviation of the steps' `ln(loss)` noise before the minimum.
    pub noise: f64,
    /// Why this seed gives no clear answer.
    pub problem: Option<String>,
    /// Remarks that do not make the answer unclear.
    pub notes: Vec<String>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The least-squares slope of the raw `y` against `x` over the first points, as many as the
/// smoothing reaches each way (`2⌈s/(1−s)⌉ + 1`, at least 3): the zero-phase smoothing
/// flattens a curve's first points, so a fall already under way at `lr_min` shows here, not in
/// the smoothed slopes.
fn start_slope(x: &[f64], y: &[f64], smooth: f64) -> f64 {
    let reach = (smooth / (1.0 - smooth)).ceil() as usize;
    let k = (2 * reach + 1).max(3).min(x.len());
    if k < 2 {
        return 0.0;
    }
    let (mx, my) = (
        x[..k].iter().sum::<f64>() / k as f64,
        y[..k].iter().sum::<f64>() / k as f64,
    );
    let sxy: f64 = (0..k).map(|i| (x[i] - mx) * (y[i] - my)).sum();
    let sxx: f64 = (0..k).map(|i| (x[i] - mx).powi(2)).sum();
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

/// Reads one curve (`lrs` increasing, `losses` ≥ 0 and finite); returns the call and the
/// smoothed losses (same length, in loss units, for plotting).
pub fn call(lrs: &[f64], losses: &[f64], smooth: f64) -> (SeedCall, Vec<f64>) {
    let y: Vec<f64> = losses
        .iter()
        .map(|&l| l.max(f64::MIN_POSITIVE).ln())
        .collect();
    let ys = smooth_zero_phase(&y, smooth);
    let smoothed: Vec<f64> = ys.iter().map(|v| v.exp()).collect();
    let mut c = SeedCall {
        lr: None,
        steepest_lr: None,
        steepest_slope: None,
        min_lr: None,
        descent: 0.0,
        noise: 0.0,
        problem: None,
        notes: Vec::new(),
    };
    let n = lrs.len().min(losses.len());
    if n < MIN_POINTS {
        c.problem = Some(format!(
            "only {n} points before the sweep stopped (at least {MIN_POINTS} needed): lower --lr-min or raise --steps"
        ));
        return (c, smoothed);
    }
    let x: Vec<f64> = lrs.iter().map(|l| l.log10()).collect();
    let m = (0..n).min_by(|&a, &b| ys[a].total_cmp(&ys[b])).unwrap_or(0);
    c.min_lr = Some(lrs[m]);
    c.descent = ys[0] - ys[m];
    // Second differences cancel the curve's trend (and most of its bend, a few steps apart),
    // leaving `e_{i+1} − 2e_i + e_{i−1}` of independent step noise `e`: variance 6σ².
    let mut d2: Vec<f64> = (1..m.max(2).min(n - 1))
        .map(|i| y[i + 1] - 2.0 * y[i] + y[i - 1])
        .collect();
    let mid = median(&mut d2);
    let mut abs: Vec<f64> = d2.iter().map(|d| (d - mid).abs()).collect();
    c.noise = 1.4826 * median(&mut abs) / 6f64.sqrt();
    // Point i is the loss after the step with lrᵢ, so the fall from point i − 1 to point i is
    // lrᵢ's doing: a backward difference (a central one would credit it half to lrᵢ₋₁).
    let slope = |i: usize| (ys[i] - ys[i - 1]) / (x[i] - x[i - 1]);
    let steepest = (1..=m).min_by(|&a, &b| slope(a).total_cmp(&slope(b)));
    if let Some(k) = steepest {
        c.steepest_lr = Some(lrs[k]);
        c.steepest_slope = Some(slope(k));
    }
    if m + 1 == n {
        c.notes.push(format!(
            "the loss was still falling at the last lr tried ({}): a larger --lr-max shows where it turns",
            present::fmt_num(lrs[n - 1])
        ));
    }
    c.problem = if c.descent < -MIN_DROP.ln() {
        Some(format!(
            "no descent: the smoothed loss never fell below {:.0}% of its start (lowest {:.1}%)",
            MIN_DROP * 100.0,
            100.0 * (-c.descent).exp()
        ))
    } else if c.noise > NOISE_SHARE * c.descent {
        Some(format!(
            "too noisy: the steps scatter by {:.0}% around the smoothed curve, more than a third of its whole fall ({:.0}%)",
            100.0 * (c.noise.exp() - 1.0),
            100.0 * (1.0 - (-c.descent).exp())
        ))
    } else if c
        .steepest_slope
        .is_some_and(|st| start_slope(&x[..=m], &y[..=m], smooth) < EDGE_SHARE * st)
    {
        Some(format!(
            "the loss already fell fastest at --lr-min ({}): lower it",
            present::fmt_num(lrs[0])
        ))
    } else {
        None
    };
    if c.problem.is_none() {
        c.lr = c.steepest_lr;
    }
    (c, smoothed)
}

/// The answer over seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Every seed agrees within [`MAX_SPREAD_DECADES`]: the median and the band.
    Clear { lr: f64, lo: f64, hi: f64 },
    /// No number: why, and the band of the seeds that did give one (if any).
    Unclear {
        reasons: Vec<String>,
        lo: Option<f64>,
        hi: Option<f64>,
    },
}

impl Verdict {
    /// The suggested learning rate, when the answer is clear.
    pub fn lr(&self) -> Option<f64> {
        match self {
            Verdict::Clear { lr, .. } => Some(*lr),
            Verdict::Unclear { .. } => None,
        }
    }

    /// The seeds' band (min, max), when any seed gave a number.
    pub fn band(&self) -> Option<(f64, f64)> {
        match self {
            Verdict::Clear { lo, hi, .. } => Some((*lo, *hi)),
            Verdict::Unclear { lo, hi, .. } => lo.zip(*hi),
        }
    }
}

/// Combines the seeds' calls (`(seed, call)`).
pub fn combine(calls: &[(u64, &SeedCall)]) -> Verdict {
    let mut reasons: Vec<String> = calls
        .iter()
        .filter_map(|(s, c)| c.problem.as_ref().map(|p| format!("seed {s}: {p}")))
        .collect();
    let mut logs: Vec<f64> = calls
        .iter()
        .filter_map(|(_, c)| c.lr)
        .map(f64::log10)
        .collect();
    if calls.is_empty() {
        reasons.push("no seed was swept".into());
    }
    let (lo, hi) = logs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let band = (!logs.is_empty()).then(|| (10f64.powf(lo), 10f64.powf(hi)));
    if let Some((l, h)) = band {
        if hi - lo > MAX_SPREAD_DECADES {
            reasons.push(format!(
                "the seeds disagree: their suggestions span {:.1} decades ({} .. {}), more than {MAX_SPREAD_DECADES}",
                hi - lo,
                present::fmt_num(l),
                present::fmt_num(h)
            ));
        }
    }
    match (band, reasons.is_empty()) {
        (Some((lo, hi)), true) => Verdict::Clear {
            lr: 10f64.powf(median(&mut logs)),
            lo,
            hi,
        },
        _ => Verdict::Unclear {
            reasons,
            lo: band.map(|b| b.0),
            hi: band.map(|b| b.1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::sweep::{Plan, Recorder};
    use super::*;

    /// A reproducible standard normal (xorshift64* and Box–Muller).
    struct Gauss(u64);
    impl Gauss {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn next(&mut self) -> f64 {
            let (a, b) = (self.uniform(), self.uniform());
            (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
        }
    }

    /// A typical range-test curve in `x = log10 lr`: a plateau at 2.3, a fall of depth
    /// `depth` centred at `c` (width `w` decades), and an explosion from `c + 1.5` on.
    fn clean(x: f64, c: f64, w: f64, depth: f64) -> f64 {
        let fall = depth / (1.0 + (-(x - c) / w).exp());
        let blow = if x > c + 1.5 {
            (4.0 * (x - c - 1.5)).exp() - 1.0
        } else {
            0.0
        };
        (2.3 - fall) * (1.0 + blow)
    }

    /// The steepest point of `ln(clean)` before its minimum, by a dense grid search (the
    /// exact answer the rule should approach).
    fn exact_steepest(c: f64, w: f64, depth: f64) -> f64 {
        let xs: Vec<f64> = (0..=80_000).map(|i| -7.0 + i as f64 * 1e-4).collect();
        let y: Vec<f64> = xs.iter().map(|&x| clean(x, c, w, depth).ln()).collect();
        let m = (0..y.len()).min_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
        let k = (1..m)
            .min_by(|&a, &b| (y[a + 1] - y[a - 1]).total_cmp(&(y[b + 1] - y[b - 1])))
            .unwrap();
        xs[k]
    }

    /// A sweep of the noisy curve through the real recorder (stop rule included).
    fn sweep(seed: u64, c: f64, w: f64, depth: f64, noise: f64) -> (u64, SeedCall) {
        let plan = Plan::default();
        let mut g = Gauss(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut rec = Recorder::new(&plan);
        for i in 0..plan.steps {
            let lr = plan.lr(i);
            let l = clean(lr.log10(), c, w, depth) * (noise * g.next()).exp();
            if !rec.push(lr, l) {
                break;
            }
        }
        (seed, call(&rec.lrs, &rec.losses, plan.smooth).0)
    }

    fn verdict(runs: &[(u64, SeedCall)]) -> Verdict {
        combine(&runs.iter().map(|(s, c)| (*s, c)).collect::<Vec<_>>())
    }

    #[test]
    fn clear_curves_give_the_steepest_point_with_a_tight_band() {
        let (c, w, depth) = (-3.0, 0.4, 1.8);
        let exact = exact_steepest(c, w, depth);
        let runs: Vec<_> = (0..3).map(|s| sweep(s, c, w, depth, 0.05)).collect();
        match verdict(&runs) {
            Verdict::Clear { lr, lo, hi } => {
                // 100 steps over 8 decades: one step is 0.08 decades; smoothing and noise blur
                // the steepest point by a few steps.
                assert!((lr.log10() - exact).abs() < 0.3, "{lr} vs 10^{exact}");
                assert!(
                    lo <= lr && lr <= hi && (hi / lo).log10() < 0.5,
                    "{lo}..{hi}"
                );
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn flat_or_noisy_curves_give_no_number() {
        // No descent: a plateau that explodes.
        let runs: Vec<_> = (0..3).map(|s| sweep(s, -3.0, 0.4, 0.0, 0.05)).collect();
        match verdict(&runs) {
            Verdict::Unclear { reasons, .. } => {
                assert!(
                    reasons.iter().any(|r| r.contains("no descent")),
                    "{reasons:?}"
                )
            }
            v => panic!("{v:?}"),
        }
        // A shallow fall (10%) buried in 30% noise per step.
        let runs: Vec<_> = (0..3).map(|s| sweep(s, -3.0, 0.4, 0.25, 0.3)).collect();
        assert!(verdict(&runs).lr().is_none(), "{:?}", verdict(&runs));
        // Clear seeds that disagree by two decades.
        let runs = vec![
            sweep(0, -4.0, 0.3, 1.8, 0.02),
            sweep(1, -3.0, 0.3, 1.8, 0.02),
            sweep(2, -2.0, 0.3, 1.8, 0.02),
        ];
        match verdict(&runs) {
            Verdict::Unclear { reasons, lo, hi } => {
                assert!(
                    reasons.iter().any(|r| r.contains("disagree")),
                    "{reasons:?}"
                );
                assert!(hi.unwrap() / lo.unwrap() > 10.0);
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_fall_at_the_first_lr_is_an_edge_not_an_answer() {
        let runs: Vec<_> = (0..3).map(|s| sweep(s, -7.1, 0.5, 1.8, 0.01)).collect();
        match verdict(&runs) {
            Verdict::Unclear { reasons, .. } => {
                assert!(
                    reasons.iter().any(|r| r.contains("lower it")),
                    "{reasons:?}"
                )
            }
            v => panic!("{v:?}"),
        }
    }
}
