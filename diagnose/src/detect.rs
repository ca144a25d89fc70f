//! Detectors: readings in, findings out.
//!
//! Each detector reads the series of the contract (see `DOCTOR.md` / the instrument modules)
//! and stays silent when its evidence is absent; where a richer reading is missing it falls back
//! on what every run has (the step loss, the global gradient norm, the epoch records).
//!
//! Thresholds, and why:
//! - [`MIN_POINTS`] = 20 loss points: fewer cannot separate a trend from mini-batch noise, so
//!   progress-based verdicts (plateau, lr too low, underfitting, converged) need at least that.
//! - Divergence: a non-finite loss, or the final loss (median of the last tenth) above
//!   [`DIVERGE_RATIO`] = 10× the initial one (median of the first 5 steps): a healthy run never
//!   ends an order of magnitude above where it started.
//! - Exploding gradients: the global gradient norm grows [`EXPLODE_GROWTH`] = 1000× over its
//!   start, or the first layer's gradient is 1000× the last layer's (geometric growth toward the
//!   input; healthy nets stay within ~10× either way), or the activations' std grows 1000× from
//!   the first layer to the last (the forward signal explodes, and the gradient with it).
//! - Vanishing gradients: the first layer's gradient norm below [`VANISH_RATIO`] = 1e-3 of the
//!   last layer's (median over the run), or more than half of a sigmoid/tanh layer's outputs
//!   saturated ([`SATURATION`] = 0.5).
//! - Learning rate too high: divergence; the smoothed loss rising to 1.5× its minimum
//!   ([`RISE_RATIO`]); or lr·λmax > 2 (gradient descent on a quadratic is unstable beyond 2) with
//!   no progress; or the step quality α > 1 (overshooting the valley floor) with no progress.
//! - Learning rate too low: the loss falls for the whole run at an unchanged rate (the slope of
//!   the last window at least half that of the first, [`STEADY_SLOPE`]) and by less than half
//!   overall: an unbent, slow descent is what a small step size looks like.
//! - Plateau / saddle: the smoothed loss moves less than [`FLAT`] = 1% per window for at least a
//!   fifth of the run at a high loss (≥ half the initial) and then either drops by ≥ 30%
//!   (escape from a saddle) or never leaves (stuck from the start); λmin < 0 strengthens it.
//! - Underfitting: the loss fell, then flattened (< 3% over the last quarter) at a high level
//!   (≥ [`HIGH_LOSS`] = 0.3 of the initial loss, or train accuracy < 90%) without a
//!   train–validation gap.
//! - Overfitting: the validation loss rises ≥ 10% above its minimum (and by ≥ 0.1, or with the
//!   validation accuracy ≥ 2 points below its value there) while the
//!   training loss keeps falling (not reported when early stopping ended the run: it already
//!   kept the best epoch).
//! - Dead units: more than half of a ReLU layer's units never fire over a batch
//!   ([`DEAD`] = 0.5; healthy ReLU nets keep most units alive).
//! - Symmetry not broken: at least half of a weight matrix's rows identical
//!   ([`IDENTICAL`] = 0.5): units that start equal get equal gradients and stay equal.
//! - Converged: no problem found and early stopping fired, or the training accuracy ≥ 99%, or
//!   the loss fell by half and then flattened (< 5% over the last quarter).
//!
//! Root causes suppress their symptoms: divergence keeps only the learning-rate and exploding
//! findings; symmetry, dead units and vanishing gradients explain a plateau, underfitting or a
//! slow descent, so those are not reported beside them; a layer ≥ 90% dead explains vanishing
//! gradients (symmetry explains both).

use train::{Stop, Summary};

use crate::finding::{Evidence, Finding, Kind, Remedy};
use crate::progress::Progress;
use crate::Timeline;

/// Fewest loss points for progress-based verdicts.
pub const MIN_POINTS: usize = 20;
/// Final / initial loss above which a finite run counts as diverged.
pub const DIVERGE_RATIO: f64 = 10.0;
/// Growth of the gradient norm (or first/last layer ratio) that counts as exploding.
pub const EXPLODE_GROWTH: f64 = 1e3;
/// First/last layer gradient-norm ratio below which gradients vanish.
pub const VANISH_RATIO: f64 = 1e-3;
/// Saturated fraction of a sigmoid/tanh layer that counts as saturated.
pub const SATURATION: f64 = 0.5;
/// Rise of the smoothed loss over its minimum that marks a too-large step.
pub const RISE_RATIO: f64 = 1.5;
/// Ratio of late to early slope above which a descent counts as unbent.
pub const STEADY_SLOPE: f64 = 0.5;
/// Relative change per window below which the loss counts as flat.
pub const FLAT: f64 = 0.01;
/// Final / initial loss above which a plateau is "high".
pub const HIGH_LOSS: f64 = 0.3;
/// Dead fraction of a ReLU layer that counts as dead.
pub const DEAD: f64 = 0.5;
/// Identical-row fraction of a weight matrix that counts as symmetric.
pub const IDENTICAL: f64 = 0.5;

fn ev(what: impl Into<String>, value: f64, note: impl Into<String>) -> Evidence {
    Evidence {
        what: what.into(),
        value,
        note: note.into(),
    }
}

fn rem(action: &str, why: &str, config: Option<String>) -> Remedy {
    Remedy {
        action: action.into(),
        why: why.into(),
        config,
    }
}

fn median(v: &[f64]) -> f64 {
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

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Values of a series from `frac` of the run on (by position).
fn tail(p: &[(u64, f64)], frac: f64) -> Vec<f64> {
    let k = ((p.len() as f64) * frac).floor() as usize;
    p[k.min(p.len())..].iter().map(|x| x.1).collect()
}

/// Sort key of a parameter name: its leading layer index, then the rest.
fn layer_order(name: &str) -> (usize, String) {
    let (head, rest) = name.split_once('.').unwrap_or((name, ""));
    (head.parse().unwrap_or(usize::MAX), rest.to_string())
}

/// What every detector looks at.
struct Ctx<'a> {
    t: &'a Timeline,
    s: &'a Summary,
    p: Progress,
    first: u64,
    last: u64,
    /// The base learning rate (first `lr` reading).
    lr: Option<f64>,
    /// Initial loss (median of the first 5 points) and final (median of the last tenth).
    l0: f64,
    l1: f64,
}

impl Ctx<'_> {
    fn n(&self) -> usize {
        self.p.loss.len()
    }

    fn lr_set(&self, factor: f64) -> Option<String> {
        self.lr
            .map(|lr| format!("optimizer.lr = {}", fmt_num(lr * factor)))
    }

    /// Relative fall of the mean loss from the third to the fourth quarter of the run.
    fn late_improvement(&self) -> f64 {
        let n = self.n();
        let q = n / 4;
        let a = mean(&self.p.loss[n - 2 * q..n - q]);
        let b = mean(&self.p.loss[n - q..]);
        (a - b) / a.abs().max(1e-12)
    }

    /// The weight matrices, first layer to last: those with `identical_units` when that series
    /// exists, else every parameter named `*weight` with a `grad_norm` series.
    fn weights(&self) -> Vec<String> {
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

    fn last_epoch_train_accuracy(&self) -> Option<f64> {
        self.t.epochs.last().and_then(|e| e.train_accuracy)
    }
}

fn fmt_num(x: f64) -> String {
    let s = format!("{x:.3e}");
    // Prefer plain notation for ordinary values.
    if (1e-4..1e4).contains(&x.abs()) {
        let p = format!("{}", (x * 1e6).round() / 1e6);
        if p.parse::<f64>().is_ok_and(|v| v != 0.0) {
            return p;
        }
    }
    s
}

/// Every finding the readings support, most important first.
pub fn detect(t: &Timeline, s: &Summary) -> Vec<Finding> {
    let p = Progress::of(t);
    let n = p.loss.len();
    let finite: Vec<f64> = p.loss.iter().copied().filter(|v| v.is_finite()).collect();
    // The first 5 points (fewer in a short run, which may blow up within them).
    let l0 = median(&finite[..(finite.len() / 5).clamp(1, 5).min(finite.len())]);
    let k = (finite.len() / 10).max(5).min(finite.len());
    let l1 = median(&finite[finite.len() - k..]);
    let c = Ctx {
        t,
        s,
        first: p.steps.first().copied().unwrap_or(1),
        last: p.steps.last().copied().unwrap_or(s.steps),
        lr: t.get("lr").first().map(|x| x.1),
        l0,
        l1,
        p,
    };
    let mut out: Vec<Finding> = Vec::new();
    let diverged = diverged(&c);
    let diverged_flag = diverged.is_some();
    out.extend(diverged);
    out.extend(lr_too_high(&c, diverged_flag));
    out.extend(exploding(&c));
    out.extend(symmetry(&c));
    out.extend(dead_units(&c));
    out.extend(vanishing(&c));
    if n >= MIN_POINTS && !diverged_flag {
        let low = lr_too_low(&c);
        let plateau = if low.is_none() { plateau(&c) } else { None };
        let under = if low.is_none() && plateau.is_none() {
            underfitting(&c)
        } else {
            None
        };
        out.extend(low);
        out.extend(plateau);
        out.extend(under);
    }
    out.extend(overfitting(&c));

    let has = |out: &[Finding], k: Kind| out.iter().any(|f| f.kind == k);
    if diverged_flag {
        out.retain(|f| {
            matches!(
                f.kind,
                Kind::Diverged | Kind::LrTooHigh | Kind::ExplodingGradients
            )
        });
    }
    if has(&out, Kind::SymmetryNotBroken) {
        out.retain(|f| {
            !matches!(
                f.kind,
                Kind::VanishingGradients
                    | Kind::DeadUnits
                    | Kind::SaddleOrPlateau
                    | Kind::Underfitting
                    | Kind::LrTooLow
            )
        });
    }
    if let Some(dead) = out
        .iter()
        .find(|f| f.kind == Kind::DeadUnits)
        .map(|f| f.evidence[0].value)
    {
        // A (nearly) fully dead layer passes no gradient: that is the vanishing. A partly dead
        // one does not explain vanishing gradients, so both are reported then.
        out.retain(|f| {
            !(matches!(
                f.kind,
                Kind::SaddleOrPlateau | Kind::Underfitting | Kind::LrTooLow
            ) || (f.kind == Kind::VanishingGradients && dead >= 0.9))
        });
    }
    if has(&out, Kind::VanishingGradients) {
        out.retain(|f| {
            !matches!(
                f.kind,
                Kind::SaddleOrPlateau | Kind::Underfitting | Kind::LrTooLow
            )
        });
    }
    if out.is_empty() && n >= MIN_POINTS {
        out.extend(converged(&c));
    }
    out.sort_by(|a, b| {
        (a.kind as u8)
            .cmp(&(b.kind as u8))
            .then(b.confidence.total_cmp(&a.confidence))
    });
    let mut order: Vec<Finding> = Vec::new();
    // Diverged first, then the rest in Kind order.
    for f in out.iter().filter(|f| f.kind == Kind::Diverged) {
        order.push(f.clone());
    }
    for f in out.into_iter().filter(|f| f.kind != Kind::Diverged) {
        order.push(f);
    }
    order
}

fn diverged(c: &Ctx) -> Option<Finding> {
    let mut remedies = vec![
        rem(
            "lower the learning rate tenfold",
            "a step too large for the curvature throws the weights out of the basin",
            c.lr_set(0.1),
        ),
        rem(
            "clip the gradient norm",
            "bounds every step, so one large gradient cannot blow the weights up",
            Some("clip.max_norm = 1.0".into()),
        ),
        rem(
            "warm the learning rate up",
            "the first steps, at the largest curvature, are taken with a small step",
            Some(
                "schedule.name = \"linear\"; schedule.start_factor = 0.1; schedule.total_iters = 200; schedule.interval = \"step\"".into(),
            ),
        ),
    ];
    if let Stop::NonFinite { step, loss, .. } = &c.s.stop {
        let mut evidence = vec![ev("loss", *loss as f64, "not a finite number")];
        if c.l0.is_finite() {
            evidence.push(ev("initial loss", c.l0, "median of the first steps"));
        }
        return Some(Finding {
            kind: Kind::Diverged,
            first_step: c.first,
            last_step: *step,
            confidence: 1.0,
            summary: format!("the loss became {loss} at step {step}: the run diverged"),
            evidence,
            remedies,
        });
    }
    if c.n() >= 10 && c.l1 > DIVERGE_RATIO * c.l0.abs().max(1e-12) {
        let ratio = c.l1 / c.l0;
        remedies.truncate(2);
        return Some(Finding {
            kind: Kind::Diverged,
            first_step: c.first,
            last_step: c.last,
            confidence: 0.9,
            summary: format!("the loss ended {ratio:.0}× above where it started: the run diverged"),
            evidence: vec![
                ev("initial loss", c.l0, "median of the first 5 steps"),
                ev("final loss", c.l1, "median of the last tenth of the run"),
                ev(
                    "final / initial",
                    ratio,
                    format!(
                        "above {DIVERGE_RATIO}: a healthy run never ends this far above its start"
                    ),
                ),
            ],
            remedies,
        });
    }
    None
}

fn lr_too_high(c: &Ctx, diverged: bool) -> Option<Finding> {
    let mut evidence = Vec::new();
    let mut conf: f64 = 0.0;
    let (mut from, mut to) = (c.first, c.last);
    if diverged {
        conf = 0.8;
        evidence.push(ev(
            "diverged",
            1.0,
            "the loss blew up: the most common cause is a step too large for the curvature",
        ));
    }
    let n = c.n();
    // Rising smoothed loss after its minimum.
    if !diverged && n >= MIN_POINTS {
        let sm = &c.p.smooth;
        let (imin, &min) = sm
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .min_by(|a, b| a.1.total_cmp(b.1))?;
        let end = *sm.last()?;
        if min > 0.0 && imin < n * 3 / 4 && end > RISE_RATIO * min {
            conf = conf.max(0.7);
            from = c.p.steps[imin];
            to = c.last;
            evidence.push(ev(
                "smoothed loss end / minimum",
                end / min,
                format!("above {RISE_RATIO}: the training loss climbs back after its minimum — steps overshoot"),
            ));
        }
    }
    // No progress: flat late and still above half the initial loss (a converged run is flat
    // too, and SGD often converges at the edge of stability, lr·λmax ≈ 2).
    let late_flat = n >= MIN_POINTS && c.late_improvement() < 0.05 && c.l1 > 0.5 * c.l0;
    let stab = c.t.get("stability");
    if !stab.is_empty() {
        let m = median(&tail(stab, 0.5));
        if m > 2.0 && (late_flat || conf > 0.0) {
            conf = (conf + 0.2).clamp(0.75, 1.0);
            evidence.push(ev(
                "lr·λmax (median, second half)",
                m,
                "above 2 gradient descent on the local quadratic is unstable: the step is too large for the sharpest direction",
            ));
        }
    }
    let alpha = c.t.get("alpha");
    if !alpha.is_empty() {
        let m = median(&tail(alpha, 0.5));
        if m > 1.0 && (late_flat || conf > 0.0) {
            conf = (conf + 0.15).clamp(0.6, 1.0);
            evidence.push(ev(
                "step quality α (median, second half)",
                m,
                "above 1: steps land past the mirror point of the valley floor (overshoot)",
            ));
        }
    }
    if conf == 0.0 {
        return None;
    }
    Some(Finding {
        kind: Kind::LrTooHigh,
        first_step: from,
        last_step: to,
        confidence: conf,
        summary: "the learning rate is too high: steps overshoot the valley instead of descending into it".into(),
        evidence,
        remedies: vec![
            rem(
                "lower the learning rate tenfold",
                "brings lr·λmax back below 2, where steps descend",
                c.lr_set(0.1),
            ),
            rem(
                "warm the learning rate up",
                "curvature is largest early; a warm-up lets the net reach flatter regions first",
                Some(
                "schedule.name = \"linear\"; schedule.start_factor = 0.1; schedule.total_iters = 200; schedule.interval = \"step\"".into(),
            ),
            ),
            rem(
                "clip the gradient norm",
                "caps the occasional huge step",
                Some("clip.max_norm = 1.0".into()),
            ),
            rem(
                "decay the learning rate",
                "large steps early, small steps to settle",
                Some("schedule.name = \"cosine\"".into()),
            ),
        ],
    })
}

fn exploding(c: &Ctx) -> Option<Finding> {
    let g = c.t.get("grad_norm");
    let mut evidence = Vec::new();
    let mut conf: f64 = 0.0;
    let (mut from, mut to) = (c.first, c.last);
    if g.len() >= 2 {
        let start: Vec<f64> = g.iter().take(5).map(|p| p.1).collect();
        let g0 = median(&start);
        let nonfinite = g.iter().find(|p| !p.1.is_finite());
        let (imax, gmax) = g
            .iter()
            .enumerate()
            .filter(|(_, p)| p.1.is_finite())
            .map(|(i, p)| (i, p.1))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, g0));
        if g0 > 0.0 && gmax / g0 > EXPLODE_GROWTH {
            conf = 0.8;
            from = g[0].0;
            to = g[imax].0;
            evidence.push(ev(
                "gradient norm max / start",
                gmax / g0,
                format!("above {EXPLODE_GROWTH:.0}: the gradient grew by orders of magnitude"),
            ));
        }
        if let Some(p) = nonfinite {
            conf = conf.max(0.8);
            to = p.0;
            evidence.push(ev(
                "gradient norm",
                p.1,
                "not finite: the backward pass overflowed",
            ));
        }
    }
    let w = c.weights();
    if w.len() >= 3 {
        let first = c.t.layer("grad_norm", &w[0]);
        let last = c.t.layer("grad_norm", &w[w.len() - 1]);
        let r: Vec<f64> = first
            .iter()
            .zip(last)
            .filter(|(a, b)| a.0 == b.0 && b.1 > 0.0 && a.1.is_finite() && b.1.is_finite())
            .map(|(a, b)| a.1 / b.1)
            .collect();
        let m = median(&r);
        if m > EXPLODE_GROWTH {
            conf = conf.max(0.7);
            evidence.push(ev(
                format!("grad_norm {} / {} (median)", w[0], w[w.len() - 1]),
                m,
                "above 1000: the gradient grows layer by layer toward the input",
            ));
        }
    }
    // The forward signal: activations that grow layer by layer come with gradients that do
    // (the backward pass multiplies by the same weights).
    let mut acts: Vec<&str> = c.t.layers_of("act_std");
    acts.sort_by_key(|l| layer_order(l));
    if acts.len() >= 3 {
        let (f, l) = (acts[0], acts[acts.len() - 1]);
        let first = c.t.layer("act_std", f);
        let last = c.t.layer("act_std", l);
        let r: Vec<f64> = first
            .iter()
            .zip(last)
            .filter(|(a, b)| a.0 == b.0 && a.1 > 0.0 && b.1.is_finite())
            .map(|(a, b)| b.1 / a.1)
            .collect();
        let m = median(&r);
        if m > EXPLODE_GROWTH {
            conf = conf.max(0.75);
            evidence.push(ev(
                format!("act_std of layer {l} / layer {f} (median)"),
                m,
                "above 1000: the signal grows layer by layer, and the gradient with it",
            ));
        }
    }
    if conf == 0.0 {
        return None;
    }
    Some(Finding {
        kind: Kind::ExplodingGradients,
        first_step: from,
        last_step: to,
        confidence: conf,
        summary: "the gradients explode: they grow by orders of magnitude over the steps or through the layers".into(),
        evidence,
        remedies: vec![
            rem(
                "clip the gradient norm",
                "bounds the update whatever the gradient's size",
                Some("clip.max_norm = 1.0".into()),
            ),
            rem(
                "lower the learning rate",
                "a smaller step keeps the weights where gradients are moderate",
                c.lr_set(0.1),
            ),
            rem(
                "use a variance-preserving initialisation",
                "keeps the gradient's scale from layer to layer",
                Some("model.weight_init = \"kaiming_normal\"".into()),
            ),
            rem(
                "add BatchNorm after each linear/conv layer",
                "re-normalises activations so their scale cannot compound with depth",
                None,
            ),
        ],
    })
}

fn vanishing(c: &Ctx) -> Option<Finding> {
    let mut evidence = Vec::new();
    let mut conf: f64 = 0.0;
    let w = c.weights();
    if w.len() >= 3 {
        let first = c.t.layer("grad_norm", &w[0]);
        let last = c.t.layer("grad_norm", &w[w.len() - 1]);
        let r: Vec<f64> = first
            .iter()
            .zip(last)
            .filter(|(a, b)| a.0 == b.0 && b.1 > 0.0 && a.1.is_finite())
            .map(|(a, b)| a.1 / b.1)
            .collect();
        let m = median(&r);
        if m < VANISH_RATIO {
            conf = 0.8;
            evidence.push(ev(
                format!("grad_norm {} / {} (median)", w[0], w[w.len() - 1]),
                m,
                "below 1e-3: the first layer gets almost no gradient, so it barely learns",
            ));
            if c.n() >= MIN_POINTS && c.late_improvement() < 0.05 {
                conf = 0.9;
            }
        }
    }
    let mut worst: Option<(String, f64)> = None;
    for l in c.t.layers_of("saturation") {
        let m = median(&tail(c.t.layer("saturation", l), 0.5));
        if m > SATURATION && worst.as_ref().map_or(true, |w| m > w.1) {
            worst = Some((l.to_string(), m));
        }
    }
    if let Some((l, m)) = worst {
        conf = (conf + 0.1).clamp(0.6, 1.0);
        evidence.push(ev(
            format!("saturation of layer {l} (median, second half)"),
            m,
            "above 0.5: most sigmoid/tanh outputs sit on the flat tails, where the derivative is ~0",
        ));
    }
    if conf == 0.0 {
        return None;
    }
    Some(Finding {
        kind: Kind::VanishingGradients,
        first_step: c.first,
        last_step: c.last,
        confidence: conf,
        summary: "the gradients vanish on their way back: the early layers barely learn".into(),
        evidence,
        remedies: vec![
            rem(
                "use ReLU with He (kaiming) initialisation",
                "ReLU's derivative is 1 where active and He init keeps the gradient's scale through depth",
                Some("model.weight_init = \"kaiming_normal\"".into()),
            ),
            rem(
                "add BatchNorm after each linear layer",
                "keeps pre-activations out of the saturated tails",
                None,
            ),
            rem(
                "add residual (skip) connections",
                "the identity path carries the gradient past every block",
                None,
            ),
            rem(
                "use Xavier initialisation for sigmoid/tanh nets",
                "scales weights to keep the activations' variance across layers",
                Some("model.weight_init = \"xavier_normal\"".into()),
            ),
        ],
    })
}

fn dead_units(c: &Ctx) -> Option<Finding> {
    let mut worst: Option<(String, f64, u64)> = None;
    for l in c.t.layers_of("dead_fraction") {
        let pts = c.t.layer("dead_fraction", l);
        let m = median(&tail(pts, 0.5));
        if m > DEAD && worst.as_ref().map_or(true, |w| m > w.1) {
            let first = pts.iter().find(|p| p.1 > DEAD).map_or(c.first, |p| p.0);
            worst = Some((l.to_string(), m, first));
        }
    }
    let (l, m, first) = worst?;
    Some(Finding {
        kind: Kind::DeadUnits,
        first_step: first,
        last_step: c.last,
        confidence: (0.5 + 0.5 * m).min(1.0),
        summary: format!(
            "{:.0}% of the units of layer {l} never fire: dead ReLUs pass no gradient and never recover",
            m * 100.0
        ),
        evidence: vec![ev(
            format!("dead_fraction of layer {l} (median, second half)"),
            m,
            format!("above {DEAD}: most units output 0 for every example of the batch"),
        )],
        remedies: vec![
            rem(
                "initialise biases at zero",
                "a large negative bias switches units off before training starts",
                Some("model.bias_init = \"zeros\"".into()),
            ),
            rem(
                "use Leaky ReLU (or ELU/GELU)",
                "a small negative slope keeps a gradient flowing through inactive units",
                None,
            ),
            rem(
                "lower the learning rate",
                "large steps knock units into the region where they never fire",
                c.lr_set(0.3),
            ),
            rem(
                "use He (kaiming) initialisation",
                "starts pre-activations centred with the right scale",
                Some("model.weight_init = \"kaiming_normal\"".into()),
            ),
        ],
    })
}

fn symmetry(c: &Ctx) -> Option<Finding> {
    let mut worst: Option<(String, f64)> = None;
    for l in c.t.layers_of("identical_units") {
        let Some(&(_, v)) = c.t.layer("identical_units", l).last() else {
            continue;
        };
        if v >= IDENTICAL && worst.as_ref().map_or(true, |w| v > w.1) {
            worst = Some((l.to_string(), v));
        }
    }
    let (l, v) = worst?;
    Some(Finding {
        kind: Kind::SymmetryNotBroken,
        first_step: c.first,
        last_step: c.last,
        confidence: (0.5 + 0.5 * v).min(1.0),
        summary: format!(
            "{:.0}% of the units of {l} are identical copies: the symmetry of the initialisation was never broken",
            v * 100.0
        ),
        evidence: vec![ev(
            format!("identical_units of {l} (last reading)"),
            v,
            "fraction of rows equal to another row: units that start equal get equal gradients and stay equal",
        )],
        remedies: vec![rem(
            "initialise weights randomly",
            "random weights give each unit a different gradient, so they learn different features",
            Some("model.weight_init = \"kaiming_normal\"".into()),
        ), rem(
            "use PyTorch's default initialisation",
            "remove the zero / constant weight_init override",
            Some("model.weight_init = \"default\"".into()),
        )],
    })
}

fn lr_too_low(c: &Ctx) -> Option<Finding> {
    let (early, late, total, what) = lr_too_low_epochs(c).or_else(|| lr_too_low_steps(c))?;
    let mut evidence = vec![
        ev(
            format!("improvement, first {what}"),
            early,
            format!("relative fall of the loss over the first {what}"),
        ),
        ev(
            format!("improvement, last {what}"),
            late,
            format!(
                "at least {STEADY_SLOPE}× the first: the descent has not slowed, it is just slow"
            ),
        ),
        ev(
            "total improvement",
            total,
            "below 0.5: the loss is far from where it could be",
        ),
    ];
    let mut conf: f64 = 0.7;
    let ur: Vec<f64> = c
        .weights()
        .iter()
        .flat_map(|l| tail(c.t.layer("update_ratio", l), 0.5))
        .collect();
    if !ur.is_empty() {
        let m = median(&ur);
        if m < 1e-4 {
            conf = 0.85;
        }
        evidence.push(ev(
            "update / weight ratio (median)",
            m,
            "healthy runs move weights ~1e-3 of their norm per step; far below, learning crawls",
        ));
    }
    let stab = c.t.get("stability");
    if !stab.is_empty() {
        let m = median(&tail(stab, 0.5));
        if m < 0.05 {
            conf = (conf + 0.1).min(0.95);
        }
        evidence.push(ev(
            "lr·λmax (median)",
            m,
            "far below 2: even the sharpest direction is descended in tiny steps",
        ));
    }
    Some(Finding {
        kind: Kind::LrTooLow,
        first_step: c.first,
        last_step: c.last,
        confidence: conf,
        summary: "the learning rate is too low: the loss falls steadily but slowly and would need far more steps".into(),
        evidence,
        remedies: vec![
            rem(
                "raise the learning rate tenfold",
                "the descent is unbent, so larger steps are safe",
                c.lr_set(10.0),
            ),
            rem(
                "find the learning rate with a range test",
                "sweep lr upward for a few hundred steps and take ~1/10 of where the loss blows up",
                None,
            ),
            rem(
                "use Adam",
                "adaptive steps are far less sensitive to the base learning rate",
                Some("optimizer.name = \"adam\"".into()),
            ),
        ],
    })
}

/// From the epochs' mean training loss (low noise): at least 4 epochs, every (but at most one)
/// epoch lower than the one before, the last drop at least [`STEADY_SLOPE`] of the second
/// epoch's (the first epoch's mean averages over the start), less than half of the loss gone.
fn lr_too_low_epochs(c: &Ctx) -> Option<(f64, f64, f64, &'static str)> {
    let l: Vec<f64> = c.t.epochs.iter().filter_map(|e| e.train_loss).collect();
    if l.len() < 4 || l.len() != c.t.epochs.len() {
        return None;
    }
    let d: Vec<f64> = l
        .windows(2)
        .map(|w| (w[0] - w[1]) / w[0].abs().max(1e-12))
        .collect();
    let rising = d.iter().filter(|v| **v <= 0.0).count();
    let (early, late) = (d[0], *d.last()?);
    let total = (l[0] - l[l.len() - 1]) / l[0].abs().max(1e-12);
    (rising <= 1 && early > 0.0 && late >= STEADY_SLOPE * early && total < 0.5)
        .then_some((early, late, total, "epoch"))
}

/// From the smoothed step loss, for runs without epoch records.
fn lr_too_low_steps(c: &Ctx) -> Option<(f64, f64, f64, &'static str)> {
    let p = &c.p;
    let n = c.n();
    let w = p.window;
    if n < 3 * w {
        return None;
    }
    // The first window's start is the noisiest point of the EMA: compare the second window.
    let early = p.improvement[2 * w];
    let late = p.improvement[n - 1];
    let total = (c.l0 - c.l1) / c.l0.abs().max(1e-12);
    if !(early > 0.0 && late > 0.0 && late >= STEADY_SLOPE * early && total < 0.5) {
        return None;
    }
    // Steady: the loss fell in most windows.
    let falling =
        p.improvement[2 * w..].iter().filter(|v| **v > 0.0).count() as f64 / (n - 2 * w) as f64;
    (falling >= 0.8).then_some((early, late, total, "window"))
}

fn plateau(c: &Ctx) -> Option<Finding> {
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
        summary: if escaped {
            format!(
                "the loss sat on a plateau for {} steps and then fell: a saddle point slowed the run",
                p.steps[best_end] - p.steps[start]
            )
        } else {
            "the loss has not moved since the start: the run is stuck on a plateau".into()
        },
        evidence,
        remedies: vec![
            rem(
                "use a variance-preserving random initialisation",
                "starting away from the symmetric, near-zero point avoids the saddle at the origin",
                Some("model.weight_init = \"orthogonal\"".into()),
            ),
            rem(
                "use momentum or Adam",
                "momentum builds speed along the shallow escape direction",
                Some("optimizer.name = \"adam\"".into()),
            ),
            rem(
                "raise the learning rate",
                "larger steps cross the flat region faster",
                c.lr_set(3.0),
            ),
        ],
    })
}

fn underfitting(c: &Ctx) -> Option<Finding> {
    let total = (c.l0 - c.l1) / c.l0.abs().max(1e-12);
    let late = c.late_improvement();
    let high = c.l1 >= HIGH_LOSS * c.l0;
    let acc = c.last_epoch_train_accuracy();
    let low_acc = acc.is_some_and(|a| a < 0.9);
    if !(total > 0.05 && late < 0.03 && (high || low_acc)) {
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
            "below 0.03: the training loss has flattened",
        ),
        ev(
            "final / initial loss",
            c.l1 / c.l0,
            format!("at least {HIGH_LOSS}: it flattened at a high level"),
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
    Some(Finding {
        kind: Kind::Underfitting,
        first_step: c.p.steps[n - n / 4],
        last_step: c.last,
        confidence: if high && (low_acc || acc.is_none()) {
            0.8
        } else {
            0.6
        },
        summary: "the model underfits: the training loss has stopped falling at a high level"
            .into(),
        evidence,
        remedies: vec![
            rem(
                "make the model larger (wider or deeper)",
                "the model lacks the capacity to represent the data",
                Some("model.layers.0.out_features = 64".into()),
            ),
            rem(
                "train longer with a decaying learning rate",
                "a smaller final step lets the loss settle lower",
                Some("schedule.name = \"cosine\"".into()),
            ),
            rem(
                "reduce regularisation",
                "weight decay and dropout pull against fitting",
                Some("optimizer.weight_decay = 0".into()),
            ),
        ],
    })
}

fn overfitting(c: &Ctx) -> Option<Finding> {
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
            "rising while the training loss falls: the model memorises the training set",
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
        summary: format!(
            "the model overfits: validation loss rose {:.0}% from its minimum at epoch {} while the training loss kept falling",
            rise * 100.0,
            e[imin].epoch
        ),
        evidence,
        remedies: vec![
            rem(
                "stop early",
                "keeps the weights of the best validation epoch",
                Some("train.early_stopping.monitor = \"val_loss\"".into()),
            ),
            rem(
                "add weight decay",
                "penalises the large weights memorisation needs",
                Some("optimizer.weight_decay = 0.0005".into()),
            ),
            rem(
                "add dropout",
                "noise in the hidden units prevents co-adapted memorisation",
                None,
            ),
            rem(
                "get more data or augment it",
                "more distinct examples make memorising harder than generalising",
                Some("data.augment.noise_std = 0.05".into()),
            ),
            rem(
                "use a smaller model",
                "fewer parameters, less capacity to memorise",
                None,
            ),
        ],
    })
}

fn converged(c: &Ctx) -> Option<Finding> {
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
                "relative change over the last quarter (below 0.05, or below 2% of the total fall) after the loss fell {:.0}%",
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

#[cfg(test)]
mod tests;
