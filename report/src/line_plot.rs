//! The plot of `gradlab landscape --run`: the training and test loss along the line from a
//! run's initial weights (`α = 0`) to its final weights (`α = 1`) and beyond, with both ends
//! marked. The line itself is computed by [`diagnose::surface`]; this module only draws it.

use diagnose::surface::Line;

use crate::svg::{Marker, Plot, Scale};

const TRAIN: &str = "#1f77b4";
const TEST: &str = "#ff7f0e";
const ENDS: &str = "#555555";

/// Renders the plot as a standalone SVG document.
pub fn render(l: &Line) -> String {
    let mut p = Plot::new(
        &format!(
            "Loss along the line from initial to final weights: {}",
            l.run
        ),
        "α  (θ = θ₀ + α·(θ₁ − θ₀);  0: initial, 1: final weights)",
        "loss (evaluation mode)",
    )
    .y_scale(Scale::Log)
    .size(960.0, 520.0)
    .legend_width(240.0);
    let train: Vec<(f64, f64)> = l.points.iter().map(|q| (q.alpha, q.train_loss)).collect();
    let test: Vec<(f64, f64)> = l
        .points
        .iter()
        .filter_map(|q| q.test_loss.map(|t| (q.alpha, t)))
        .collect();
    let finite = || {
        train
            .iter()
            .chain(&test)
            .map(|t| t.1)
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    let (lo, hi) = (
        finite().fold(f64::INFINITY, f64::min),
        finite().fold(f64::NEG_INFINITY, f64::max),
    );
    if lo.is_finite() && hi > lo {
        p = p.y_range(lo / 1.2, hi * 1.2);
    }
    for a in [0.0, 1.0] {
        p.line(vec![(a, lo / 1.2), (a, hi * 1.2)], ENDS, 1.0, true);
    }
    p.line(train.clone(), TRAIN, 2.0, false);
    for &(a, v) in &train {
        p.marker(a, v, TRAIN, Marker::Circle, 2.5);
    }
    p.legend("train loss", TRAIN, None);
    if !test.is_empty() {
        p.line(test.clone(), TEST, 2.0, false);
        for &(a, v) in &test {
            p.marker(a, v, TEST, Marker::Circle, 2.5);
        }
        p.legend("test loss", TEST, None);
    }
    p.legend(
        &format!(
            "‖θ₁ − θ₀‖ = {}\nbarrier on [0, 1]: {}\nlowest train loss at α = {}",
            present::fmt_num(l.distance),
            present::fmt_num(l.barrier),
            present::fmt_num(l.min_alpha)
        ),
        ENDS,
        None,
    );
    p.render("loss-line")
}
