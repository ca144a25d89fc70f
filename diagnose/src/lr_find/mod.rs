//! The learning-rate range test (Smith, "Cyclical learning rates for training neural networks",
//! WACV 2017; fastai's `lr_find`, Lightning's `LearningRateFinder`): train from the initial
//! weights while the learning rate grows exponentially, step by step, from `lr_min` to `lr_max`,
//! and read where the loss falls fastest.
//!
//! ```text
//! sweep   (sweep.rs)      lrᵢ = lr_min·(lr_max/lr_min)^(i/(steps−1)); stop once the
//!                         bias-corrected EMA of the loss exceeds 4 × its best
//! driver  (driver.rs)     one ordinary training run per seed, schedule replaced by the sweep
//! suggest (suggest.rs)    per seed: steepest fall of the zero-phase-smoothed ln(loss) before its
//!                         minimum; over seeds: the median and the min..max band, or no answer
//! check   (stability.rs)  2/λmax-type bound of the config's optimizer at the initial weights
//! ```
//!
//! Known failure of the classic test, which the rule addresses: one seed, a heavily lagged
//! causal EMA (fastai's β = 0.98 shifts the curve by ~50 steps) and a single number even when
//! the curve has no clear descent. Here the seeds give a spread, the suggestion reads a smoothing
//! without lag, and the verdict refuses to give a number when the curve is flat, too noisy, the
//! seeds disagree by more than a decade, or the fall starts before `lr_min`.

use serde::Serialize;

pub mod driver;
pub mod stability;
pub mod suggest;
pub mod sweep;

pub use driver::{run, Peak, Settings, MAX_SEEDS};
pub use stability::Stability;
pub use suggest::{SeedCall, Verdict};
pub use sweep::{End, Plan};

/// One seed's sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Curve {
    pub seed: u64,
    /// The loss at the initial weights (first batch).
    pub initial_loss: Option<f64>,
    /// The peak learning rate of each step.
    pub lrs: Vec<f64>,
    /// The loss after each step.
    pub losses: Vec<f64>,
    /// `losses` smoothed without lag (what the suggestion reads).
    pub smoothed: Vec<f64>,
    pub end: End,
    pub call: SeedCall,
    /// `λmax` at the initial weights, when measured.
    pub lambda_max: Option<f64>,
}

/// A whole range test: its curves, its verdict and the cross-check.
#[derive(Clone, Debug, Serialize)]
pub struct LrFind {
    pub config: String,
    pub optimizer: String,
    pub peak: Peak,
    pub plan: Plan,
    pub curves: Vec<Curve>,
    pub verdict: Verdict,
    pub stability: Option<Stability>,
    /// SGD's heavy-ball (or Nesterov) momentum, when the optimizer has one.
    pub momentum: Option<f64>,
    /// The `--set` flag that applies the suggestion, when there is one.
    pub flag: Option<String>,
}

/// `lr` rounded to 2 significant digits, as a TOML number.
pub fn round_lr(lr: f64) -> String {
    let r: f64 = format!("{lr:.1e}").parse().unwrap_or(lr);
    present::fmt_num(r)
}

/// `--set KEY=LR` with the suggestion rounded to 2 significant digits.
pub fn flag(key: &str, lr: f64) -> String {
    format!("--set {key}={}", round_lr(lr))
}

impl LrFind {
    /// The terminal report.
    pub fn text(&self) -> String {
        use present::fmt_num;
        let mut s = format!(
            "lr-find {}: {} ({} = {}{}), {} seeds, lr {} → {} in {} steps\n",
            self.config,
            self.optimizer,
            self.peak.key,
            self.peak
                .value
                .map(fmt_num)
                .unwrap_or_else(|| "the optimizer's default".into()),
            self.peak
                .schedule
                .as_ref()
                .map(|n| format!(", schedule `{n}` left out during the sweep"))
                .unwrap_or_default(),
            self.curves.len(),
            fmt_num(self.plan.lr_min),
            fmt_num(self.plan.lr_max),
            self.plan.steps
        );
        for c in &self.curves {
            let end = match &c.end {
                End::Completed => "completed".to_string(),
                End::Exploded { lr, .. } => format!("loss exploded at lr {}", fmt_num(*lr)),
                End::NonFinite { lr, detail } => {
                    format!("stopped after lr {}: {detail}", fmt_num(*lr))
                }
            };
            s += &format!(
                "  seed {}: {} points, {end}; steepest fall at {}, minimum at {}{}\n",
                c.seed,
                c.lrs.len(),
                c.call
                    .steepest_lr
                    .map(fmt_num)
                    .unwrap_or_else(|| "-".into()),
                c.call.min_lr.map(fmt_num).unwrap_or_else(|| "-".into()),
                c.lambda_max
                    .map(|l| format!("; λmax at init {}", fmt_num(l)))
                    .unwrap_or_default()
            );
            for n in &c.call.notes {
                s += &format!("    note: {n}\n");
            }
        }
        match &self.verdict {
            Verdict::Clear { lr, lo, hi } => {
                s += &format!(
                    "suggestion: {} = {} (seeds {} .. {}, {:.2} decades)\n",
                    self.peak.key,
                    round_lr(*lr),
                    fmt_num(*lo),
                    fmt_num(*hi),
                    (hi / lo).log10()
                );
            }
            Verdict::Unclear { reasons, .. } => {
                s += "no clear answer:\n";
                for r in reasons {
                    s += &format!("  - {r}\n");
                }
            }
        }
        if let Some(st) = &self.stability {
            match (st.threshold, self.verdict.lr()) {
                (Some(t), Some(lr)) => {
                    let r = lr / t;
                    s += &format!(
                        "stability at init: λmax {}, threshold {} ({}); the suggestion is {}× it{}\n",
                        fmt_num(st.lambda_max),
                        fmt_num(t),
                        st.rule,
                        present::number::sig(r, 2),
                        if r > 1.0 {
                            ": above it the first steps oscillate along the top eigenvector (or diverge)"
                        } else {
                            ""
                        }
                    );
                }
                (Some(t), None) => {
                    s += &format!(
                        "stability at init: λmax {}, threshold {} ({})\n",
                        fmt_num(st.lambda_max),
                        fmt_num(t),
                        st.rule
                    );
                }
                (None, _) => {
                    s += &format!(
                        "stability at init: λmax {}; {}\n",
                        fmt_num(st.lambda_max),
                        st.rule
                    );
                }
            }
        }
        if let (Some(mu), Some(_)) = (self.momentum, self.verdict.lr()) {
            s += &format!(
                "note: with momentum {mu} the curve runs late (the momentum buffer takes about {:.0} steps to build up, while the lr grows ×{:.2} a step); on two of the default study's three problems the suggestion lay 1.4–1.7× above the lrs the lab could not tell from its best (README, `gradlab lr-find`)\n",
                1.0 / (1.0 - mu).max(1e-9),
                self.plan.ratio()
            );
        }
        if let Some(f) = &self.flag {
            s += &format!("apply: gradlab train {} {f}\n", self.config);
        }
        s
    }
}
