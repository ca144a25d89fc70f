//! The plot of `gradlab lr-find`: each seed's loss against the swept peak learning rate (log
//! axis): the raw steps faint, the lag-free smoothed curve the suggestion reads in full, each
//! seed's steepest point as a ring; the suggestion as a dashed line with the seeds' min..max band
//! shaded, and the stability threshold at the initial weights (when the optimizer has one) as a
//! dotted red line. The range test itself is [`diagnose::lr_find`]; this module only draws it.

use diagnose::lr_find::{LrFind, Verdict};

use crate::svg::{Marker, Plot, Scale};

/// Seed colours (matplotlib's tab10).
const COLORS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];
const SUGGESTION: &str = "#2ca02c";
const STABILITY: &str = "#d62728";

/// Renders the plot as a standalone SVG document.
pub fn render(r: &LrFind) -> String {
    let xlabel = format!("peak learning rate ({})", r.peak.key);
    let mut p = Plot::new(
        &format!("LR range test: {} ({})", r.config, r.optimizer),
        &xlabel,
        "training loss after the step",
    )
    .x_scale(Scale::Log)
    .size(960.0, 540.0)
    .legend_width(250.0);
    // The y range: from the lowest smoothed loss to a little above the start, so the
    // explosion's last points do not flatten the part that matters.
    let smoothed = || r.curves.iter().flat_map(|c| c.smoothed.iter().copied());
    let lo = r
        .curves
        .iter()
        .flat_map(|c| c.losses.iter().copied())
        .chain(smoothed())
        .fold(f64::INFINITY, f64::min);
    let start = r
        .curves
        .iter()
        .filter_map(|c| c.initial_loss.or(c.smoothed.first().copied()))
        .fold(f64::NEG_INFINITY, f64::max);
    let hi = smoothed()
        .fold(f64::NEG_INFINITY, f64::max)
        .min(start * 1.3);
    let (ylo, yhi) = if lo.is_finite() && hi.is_finite() && hi > lo {
        let pad = (hi - lo) * 0.05;
        ((lo - pad).max(0.0), hi + pad)
    } else {
        (0.0, 1.0)
    };
    p = p.y_range(ylo, yhi).x_range(r.plan.lr_min, r.plan.lr_max);
    if let Some((blo, bhi)) = r.verdict.band() {
        p.band(&[blo, bhi], &[ylo, ylo], &[yhi, yhi], SUGGESTION);
    }
    for (k, c) in r.curves.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let raw: Vec<(f64, f64)> = c
            .lrs
            .iter()
            .copied()
            .zip(c.losses.iter().copied())
            .collect();
        p.line(raw, color, 0.6, false);
        let sm: Vec<(f64, f64)> = c
            .lrs
            .iter()
            .copied()
            .zip(c.smoothed.iter().copied())
            .collect();
        p.line(sm, color, 2.0, false);
        if let Some(s) = c.call.steepest_lr {
            if let Some(i) = c.lrs.iter().position(|&l| l == s) {
                p.marker(s, c.smoothed[i], color, Marker::Ring, 5.0);
            }
        }
        let mut text = format!("seed {}", c.seed);
        if let Some(prob) = &c.call.problem {
            text += &format!("\n{}", prob.split(':').next().unwrap_or(prob));
        }
        p.legend(&text, color, None);
    }
    match &r.verdict {
        Verdict::Clear { lr, lo, hi } => {
            p.line(vec![(*lr, ylo), (*lr, yhi)], SUGGESTION, 2.0, true);
            p.legend(
                &format!(
                    "suggestion {}\nseeds {} .. {}",
                    diagnose::lr_find::round_lr(*lr),
                    present::fmt_num(*lo),
                    present::fmt_num(*hi)
                ),
                SUGGESTION,
                None,
            );
        }
        Verdict::Unclear { .. } => {
            p.legend("no clear answer\n(see the report)", SUGGESTION, None);
        }
    }
    if let Some((t, st)) = r
        .stability
        .as_ref()
        .and_then(|s| s.threshold.map(|t| (t, s)))
    {
        p.line(vec![(t, ylo), (t, yhi)], STABILITY, 1.5, true);
        p.legend(
            &format!(
                "stability threshold at init\n{} (λmax {})",
                present::fmt_num(t),
                present::fmt_num(st.lambda_max)
            ),
            STABILITY,
            None,
        );
    }
    p.legend(
        &format!(
            "{} steps from {} to {}\nthin: each step\nthick: smoothed, no lag\nring: steepest fall",
            r.plan.steps,
            present::fmt_num(r.plan.lr_min),
            present::fmt_num(r.plan.lr_max)
        ),
        "#999999",
        None,
    );
    p.render("lr-find")
}
