//! The report's SVG plots: per-layer gradient norms over time as a heat map, the loss with the
//! findings' step ranges marked, and curvature over time. Each plot is skipped when the series
//! it needs were not recorded.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::report::write_atomic;
use crate::{DiagnoseError, Finding, Kind, Report, Result, Timeline};

const SIZE: (u32, u32) = (1000, 640);
/// At most this many heat-map columns (readings are averaged into them).
const MAX_COLUMNS: usize = 240;

fn err<E: std::fmt::Display>(e: E) -> DiagnoseError {
    DiagnoseError::Invalid(format!("plot: {e}"))
}

/// [`present::viridis`] as a plotters colour.
fn viridis(t: f64) -> RGBColor {
    let (r, g, b) = present::viridis(t);
    RGBColor(r, g, b)
}

/// A colour per finding kind (problems warm, `converged` green).
fn kind_color(k: Kind) -> RGBColor {
    match k {
        Kind::VanishingGradients => RGBColor(31, 119, 180),
        Kind::ExplodingGradients => RGBColor(214, 39, 40),
        Kind::SaddleOrPlateau => RGBColor(148, 103, 189),
        Kind::LrTooHigh => RGBColor(255, 127, 14),
        Kind::LrTooLow => RGBColor(23, 190, 207),
        Kind::DeadUnits => RGBColor(127, 127, 127),
        Kind::SymmetryNotBroken => RGBColor(140, 86, 75),
        Kind::Underfitting => RGBColor(188, 189, 34),
        Kind::Overfitting => RGBColor(227, 119, 194),
        Kind::Diverged => RGBColor(120, 0, 0),
        Kind::Converged => RGBColor(44, 160, 44),
        Kind::BatchNoiseScale => RGBColor(99, 121, 57),
    }
}

/// Signed log: `sign(v)·log10(1 + |v|)` and back, for axes over values of both signs and many
/// orders of magnitude.
fn symlog(v: f64) -> f64 {
    v.signum() * v.abs().ln_1p() / std::f64::consts::LN_10
}
fn symexp(y: f64) -> f64 {
    y.signum() * (10f64.powf(y.abs()) - 1.0)
}

/// A tick label: 3 significant digits.
fn tick(v: f64) -> String {
    if v.abs() < 1e-9 {
        "0".into()
    } else {
        present::number::trimmed(v, 3, 0.01..1e4, 1)
    }
}

/// A step-axis label: whole steps only.
fn step_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// Room above the data for the legend: the top `share` of the y range stays empty.
fn headroom((lo, hi): (f64, f64), share: f64) -> (f64, f64) {
    (lo, hi + (hi - lo) * share / (1.0 - share))
}

/// Finite range of `values` with some room; `(0, 1)` when there is none.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9 * hi.abs().max(1.0)).max(1e-12);
    (lo - pad, hi + pad)
}

/// The step range of the run's readings.
fn step_range(t: &Timeline) -> (f64, f64) {
    let (lo, hi) = span(t.series.values().flat_map(|p| p.iter().map(|q| q.0 as f64)));
    if hi - lo < 1.0 {
        (lo, lo + 1.0)
    } else {
        (lo, hi)
    }
}

/// Per-parameter gradient norms over time: layers × steps, colour = log10 of the norm.
pub fn gradient_heatmap(t: &Timeline) -> Result<Option<String>> {
    let mut layers = t.layers_of("grad_norm");
    if layers.is_empty() {
        return Ok(None);
    }
    layers.sort_by_key(|n| crate::timeline::layer_order(n));
    // The steps of the first and the last reading.
    let (s0, s1) = layers
        .iter()
        .flat_map(|l| t.layer("grad_norm", l).iter().map(|p| p.0 as f64))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| {
            (a.min(s), b.max(s))
        });
    let s1 = s1.max(s0 + 1.0);
    // Columns over the step range; each cell is the mean log10 norm of its readings.
    let n_cols = {
        let steps: std::collections::BTreeSet<u64> = layers
            .iter()
            .flat_map(|l| t.layer("grad_norm", l).iter().map(|p| p.0))
            .collect();
        steps.len().clamp(1, MAX_COLUMNS)
    };
    let width = (s1 - s0) / n_cols as f64;
    let col = |s: u64| (((s as f64 - s0) / width) as usize).min(n_cols - 1);
    let mut cells: Vec<Vec<Option<f64>>> = Vec::with_capacity(layers.len());
    let mut zero = false;
    for l in &layers {
        let mut sum = vec![0.0; n_cols];
        let mut n = vec![0usize; n_cols];
        for &(s, v) in t.layer("grad_norm", l) {
            if v.is_finite() {
                let c = col(s);
                if v > 0.0 {
                    sum[c] += v.log10();
                } else {
                    zero = true;
                    sum[c] += f64::NEG_INFINITY;
                }
                n[c] += 1;
            }
        }
        // Columns without a reading (sparse schedules) repeat the previous reading.
        let mut last = None;
        cells.push(
            (0..n_cols)
                .map(|c| {
                    if n[c] > 0 {
                        last = Some(sum[c] / n[c] as f64);
                    }
                    last
                })
                .collect(),
        );
    }
    let finite = cells
        .iter()
        .flatten()
        .flatten()
        .copied()
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        (lo, hi) = (-1.0, 0.0);
    }
    if hi - lo < 0.5 {
        lo -= 0.25;
        hi += 0.25;
    }

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (main, bar) = root.split_horizontally(SIZE.0 - 130);
        let n = layers.len();
        let mut chart = ChartBuilder::on(&main)
            .caption(
                "Gradient norm per parameter (log10 ‖g‖)",
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(110)
            .build_cartesian_2d(s0..s1, -0.5..(n as f64 - 0.5))
            .map_err(err)?;
        let names: Vec<String> = layers.iter().map(|s| s.to_string()).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("step")
            .x_label_formatter(&step_label)
            .y_desc("parameter")
            .y_labels(n.min(40) + 1)
            .y_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        let mut rects = Vec::new();
        for (i, row) in cells.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if let Some(v) = v {
                    let color = if v.is_finite() {
                        viridis((v - lo) / (hi - lo))
                    } else {
                        RGBColor(0, 0, 0)
                    };
                    let x = s0 + c as f64 * width;
                    rects.push(Rectangle::new(
                        [
                            (x, i as f64 - 0.5),
                            ((x + 1.02 * width).min(s1), i as f64 + 0.5),
                        ],
                        color.filled(),
                    ));
                }
            }
        }
        chart.draw_series(rects).map_err(err)?;

        // The colour bar.
        let mut legend = ChartBuilder::on(&bar)
            .margin_top(50)
            .margin_bottom(57)
            .margin_right(30)
            .y_label_area_size(70)
            .caption(
                if zero {
                    "log10 ‖g‖ (black: 0)"
                } else {
                    "log10 ‖g‖"
                },
                ("sans-serif", 13),
            )
            .build_cartesian_2d(0.0..1.0, lo..hi)
            .map_err(err)?;
        legend
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_labels(8)
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        let k = 100;
        legend
            .draw_series((0..k).map(|j| {
                let a = lo + (hi - lo) * j as f64 / k as f64;
                let b = lo + (hi - lo) * (j + 1) as f64 / k as f64;
                Rectangle::new(
                    [(0.0, a), (1.0, b + (hi - lo) * 0.002)],
                    viridis((j as f64 + 0.5) / k as f64).filled(),
                )
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// The mini-batch loss over steps (log scale when positive), the smoothed loss and the
/// per-epoch validation loss when recorded, with each finding's step range shaded and labelled.
pub fn loss(t: &Timeline, findings: &[Finding]) -> Result<Option<String>> {
    let loss = t.get("loss");
    let finite: Vec<(f64, f64)> = loss
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|&(s, v)| (s as f64, v))
        .collect();
    if finite.is_empty() {
        return Ok(None);
    }
    let smooth: Vec<(f64, f64)> = t
        .get("loss_smooth")
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|&(s, v)| (s as f64, v))
        .collect();
    let val: Vec<(f64, f64)> = t
        .epochs
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (r.step as f64, v)))
        .filter(|p| p.1.is_finite())
        .collect();
    let all = || finite.iter().chain(&smooth).chain(&val).map(|p| p.1);
    let log = all().all(|v| v > 0.0);
    let tr = |v: f64| if log { v.log10() } else { v };
    let (mut y0, mut y1) = span(all().map(tr));
    if log && y1 - y0 < 0.3 {
        y0 -= 0.15;
        y1 += 0.15;
    }
    let legend_rows =
        1 + findings.len() + usize::from(!smooth.is_empty()) + usize::from(!val.is_empty());
    let (y0, y1) = headroom((y0, y1), (0.06 * legend_rows as f64).clamp(0.15, 0.5));
    let (s0, s1) = {
        let (a, b) = span(
            finite.iter().map(|p| p.0).chain(
                findings
                    .iter()
                    .flat_map(|f| [f.first_step as f64, f.last_step as f64]),
            ),
        );
        (a.max(0.0), b.max(a + 1.0))
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Loss, with the doctor's findings", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(s0..s1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&step_label)
            .y_desc(if log { "loss (log scale)" } else { "loss" })
            .y_label_formatter(&|v| tick(if log { 10f64.powf(*v) } else { *v }))
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        // Findings: shaded ranges (at least a sliver wide) with their kind as a label, staggered.
        let min_w = (s1 - s0) * 0.004;
        for (i, f) in findings.iter().enumerate() {
            let c = kind_color(f.kind);
            let (a, mut b) = (f.first_step as f64, f.last_step as f64);
            if b - a < min_w {
                b = a + min_w;
            }
            chart
                .draw_series([Rectangle::new([(a, y0), (b, y1)], c.mix(0.18).filled())])
                .map_err(err)?
                .label(format!(
                    "{} (steps {}-{}, conf. {:.2})",
                    f.kind, f.first_step, f.last_step, f.confidence
                ))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 20, y + 6)], c.mix(0.5).filled())
                });
            let ty = y0 + (y1 - y0) * (0.06 + 0.05 * (i % 5) as f64);
            chart
                .draw_series([Text::new(
                    f.kind.to_string(),
                    (a, ty),
                    ("sans-serif", 14).into_font().color(&c),
                )])
                .map_err(err)?;
        }
        let blue = RGBColor(31, 119, 180);
        chart
            .draw_series(LineSeries::new(
                finite.iter().map(|&(s, v)| (s, tr(v))),
                blue.mix(if smooth.is_empty() { 1.0 } else { 0.35 })
                    .stroke_width(1),
            ))
            .map_err(err)?
            .label("mini-batch loss")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2))
            });
        if !smooth.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    smooth.iter().map(|&(s, v)| (s, tr(v))),
                    blue.stroke_width(2),
                ))
                .map_err(err)?
                .label("smoothed loss")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(3))
                });
        }
        if !val.is_empty() {
            let orange = RGBColor(255, 127, 14);
            chart
                .draw_series(LineSeries::new(
                    val.iter().map(|&(s, v)| (s, tr(v))),
                    orange.stroke_width(2),
                ))
                .map_err(err)?
                .label("validation loss (per epoch)")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], orange.stroke_width(3))
                });
            chart
                .draw_series(
                    val.iter()
                        .map(|&(s, v)| Circle::new((s, tr(v)), 3, orange.filled())),
                )
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// Curvature over time: λmax and λmin (top, signed log scale), and the stability ratio
/// (sharpness over the optimizer's threshold) against 1, the edge of stability (bottom).
pub fn curvature(t: &Timeline) -> Result<Option<String>> {
    let (lmax, lmin, stab) = (
        finite(t, "lambda_max"),
        finite(t, "lambda_min"),
        finite(t, "stability"),
    );
    if lmax.is_empty() && lmin.is_empty() && stab.is_empty() {
        return Ok(None);
    }
    let (s0, s1) = {
        let (a, b) = step_range(t);
        (a.max(0.0), b)
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 800)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root
            .titled("Curvature over time", ("sans-serif", 22))
            .map_err(err)?;
        let (top, bottom) = root.split_vertically(420);
        let colors = [
            (
                "λmax (largest Hessian eigenvalue)",
                RGBColor(214, 39, 40),
                &lmax,
            ),
            (
                "λmin (smallest; < 0: a saddle)",
                RGBColor(31, 119, 180),
                &lmin,
            ),
        ];
        if !(lmax.is_empty() && lmin.is_empty()) {
            let (y0, y1) = span(
                colors
                    .iter()
                    .flat_map(|c| c.2.iter().map(|p| symlog(p.1)))
                    .chain([0.0]),
            );
            let (y0, y1) = headroom((y0, y1), 0.25);
            let mut chart = ChartBuilder::on(&top)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(80)
                .build_cartesian_2d(s0..s1, y0..y1)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("step")
                .x_label_formatter(&step_label)
                .y_desc("eigenvalue (signed log scale)")
                .y_label_formatter(&|v| tick(symexp(*v)))
                .axis_desc_style(("sans-serif", 16))
                .label_style(("sans-serif", 13))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(err)?;
            chart
                .draw_series(LineSeries::new([(s0, 0.0), (s1, 0.0)], BLACK.mix(0.4)))
                .map_err(err)?;
            for (label, c, p) in colors {
                if p.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(
                        p.iter().map(|&(s, v)| (s, symlog(v))),
                        c.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                    });
                chart
                    .draw_series(
                        p.iter()
                            .map(|&(s, v)| Circle::new((s, symlog(v)), 2, c.filled())),
                    )
                    .map_err(err)?;
            }
            legend(&mut chart)?;
        }
        if !stab.is_empty() {
            let red = RGBColor(214, 39, 40);
            let purple = RGBColor(148, 103, 189);
            ratio_panel(
                &bottom,
                (s0, s1),
                &[(
                    "stability = sharpness / the optimizer's threshold",
                    purple,
                    &stab,
                )],
                (
                    1.0,
                    "1: the edge of stability (above it the update rule diverges)",
                    red,
                ),
                "sharpness / threshold",
            )?;
        }
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// The edge of stability (Cohen et al. 2021, 2022): the sharpness the optimizer's threshold
/// applies to (λmax, or Adam's preconditioned λmax(P⁻¹H)) and that threshold (2/η for SGD,
/// 2(1+β)/η heavy-ball, (2+2β₁)/((1−β₁)η) Adam: `instruments::stability`) over training, on a
/// log scale. Sharpness rising to the threshold and hovering there is the edge of stability.
pub fn edge_of_stability(t: &Timeline) -> Result<Option<String>> {
    let (sharp, thr) = (finite(t, "sharpness"), finite(t, "sharpness_threshold"));
    if sharp.is_empty() || thr.is_empty() {
        return Ok(None);
    }
    let preconditioned = !t.get("preconditioned_lambda_max").is_empty();
    let (s0, s1) = {
        let (a, b) = step_range(t);
        (a.max(0.0), b)
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root
            .titled(
                "Edge of stability: sharpness against the optimizer's threshold",
                ("sans-serif", 22),
            )
            .map_err(err)?;
        let label = if preconditioned {
            "preconditioned sharpness λmax(P⁻¹H)"
        } else {
            "sharpness λmax"
        };
        ratio_panel(
            &root,
            (s0, s1),
            &[(label, RGBColor(148, 103, 189), &sharp)],
            (
                f64::NAN,
                "the optimizer's stability threshold at the step's lr",
                RGBColor(214, 39, 40),
            ),
            if preconditioned {
                "λmax(P⁻¹H) (log scale)"
            } else {
                "λmax (log scale)"
            },
        )
        .and_then(|mut chart| {
            let red = RGBColor(214, 39, 40);
            chart
                .draw_series(LineSeries::new(
                    thr.iter().map(|&(s, v)| (s, v.log10())),
                    red.stroke_width(2),
                ))
                .map_err(err)?
                .label("the optimizer's stability threshold at the step's lr")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(3))
                });
            legend(&mut chart)
        })?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// The finite points of a run-level series, as `(step, value)` in `f64`.
fn finite(t: &Timeline, name: &str) -> Vec<(f64, f64)> {
    t.get(name)
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|&(s, v)| (s as f64, v))
        .collect()
}

type Chart<'a> = ChartContext<
    'a,
    SVGBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A series to draw: its legend label, colour and points.
type Labelled<'s> = (&'s str, RGBColor, &'s Vec<(f64, f64)>);

fn legend(chart: &mut Chart<'_>) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)
}

/// Positive series over steps on a log scale (linear when a value is ≤ 0) with a horizontal
/// reference line (skipped when its level is NaN, for callers that draw their own); returns the
/// chart so that callers can add to it. The legend is drawn when the reference line is.
fn ratio_panel<'a>(
    area: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    (s0, s1): (f64, f64),
    series: &[Labelled<'_>],
    (level, level_label, level_color): (f64, &str, RGBColor),
    y_desc: &str,
) -> Result<Chart<'a>> {
    let log = series.iter().all(|s| s.2.iter().all(|p| p.1 > 0.0));
    let tr = move |v: f64| if log { v.log10() } else { v };
    let extra: Vec<f64> = if level.is_nan() {
        Vec::new()
    } else {
        vec![tr(level)]
    };
    let (mut y0, mut y1) = span(
        series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| tr(p.1)))
            .chain(extra),
    );
    if log && y1 - y0 < 0.6 {
        y0 -= 0.3;
        y1 += 0.3;
    }
    let (y0, y1) = headroom((y0, y1), 0.2);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(s0..s1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_label_formatter(&step_label)
        .y_desc(y_desc)
        .y_label_formatter(&move |v| tick(if log { 10f64.powf(*v) } else { *v }))
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    if !level.is_nan() {
        chart
            .draw_series(LineSeries::new(
                [(s0, tr(level)), (s1, tr(level))],
                level_color.stroke_width(2),
            ))
            .map_err(err)?
            .label(level_label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], level_color.stroke_width(3))
            });
    }
    for &(label, c, p) in series {
        chart
            .draw_series(LineSeries::new(
                p.iter().map(|&(s, v)| (s, tr(v))),
                c.stroke_width(2),
            ))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        chart
            .draw_series(
                p.iter()
                    .map(|&(s, v)| Circle::new((s, tr(v)), 2, c.filled())),
            )
            .map_err(err)?;
    }
    if !level.is_nan() {
        legend(&mut chart)?;
    }
    Ok(chart)
}

/// Writes every plot the report's readings allow into `dir` (`grad_norms.svg`, `loss.svg`,
/// `curvature.svg`, `edge_of_stability.svg`), creating it; returns the files written.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    let t = &report.timeline;
    let mut out = Vec::new();
    for (name, svg) in [
        ("grad_norms.svg", gradient_heatmap(t)?),
        ("loss.svg", loss(t, &report.findings)?),
        ("curvature.svg", curvature(t)?),
        ("edge_of_stability.svg", edge_of_stability(t)?),
    ] {
        if let Some(svg) = svg {
            let p = dir.join(name);
            write_atomic(&p, svg.as_bytes())?;
            out.push(p);
        }
    }
    Ok(out)
}
