//! The plot of `gradlab landscape --plot`: optimizer paths over a heat map of
//! `log(1 + f − f_min)` for 2-D problems, loss curves (log scale) otherwise. The trajectories
//! come from the `landscape` crate; this module only draws them.

use landscape::{Function, Run};
use plotters::prelude::*;

use crate::{ReportError, Result};

const SIZE: (u32, u32) = (960, 800);
/// Heat-map cells per axis (more for rastrigin's many small bowls); the SVG stays under 2 MB.
fn cells(f: &Function) -> usize {
    match f {
        Function::Rastrigin => 120,
        _ => 80,
    }
}
/// Paths are drawn at most this far outside the function's usual plotting box (in box widths).
const MAX_WIDEN: f64 = 1.5;

/// Path colours over the (dark-to-yellow) heat map; each path also gets a black outline.
const PATH_COLORS: &[(u8, u8, u8)] = &[
    (228, 26, 28),
    (255, 255, 255),
    (255, 127, 0),
    (255, 64, 210),
    (0, 229, 255),
    (120, 255, 80),
    (166, 86, 40),
    (160, 120, 255),
];
/// Loss-curve colours on white (matplotlib's tab10).
const LINE_COLORS: &[(u8, u8, u8)] = &[
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Plot(e.to_string())
}

/// Renders the plot as an SVG document.
pub fn render(f: &Function, start: &[f64], runs: &[Run]) -> Result<String> {
    let mut svg = String::new();
    if start.len() == 2 {
        surface(&mut svg, f, start, runs)?;
    } else {
        losses(&mut svg, f, start.len(), runs)?;
    }
    Ok(svg)
}

fn viridis(t: f64) -> RGBColor {
    rgb(present::viridis(t))
}

fn rgb(c: (u8, u8, u8)) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// The plotted region: the function's box, widened (within limits) to hold every path.
fn domain(f: &Function, start: &[f64], runs: &[Run]) -> [(f64, f64); 2] {
    let b = f.plot_box();
    let mut d = b;
    let pts = std::iter::once(start).chain(
        runs.iter()
            .flat_map(|r| r.params.iter().map(|p| p.as_slice())),
    );
    for p in pts {
        for k in 0..2 {
            let (lo, hi) = b[k];
            let w = hi - lo;
            let x = p[k];
            if x.is_finite() && x >= lo - MAX_WIDEN * w && x <= hi + MAX_WIDEN * w {
                d[k].0 = d[k].0.min(x);
                d[k].1 = d[k].1.max(x);
            }
        }
    }
    for r in &mut d {
        let pad = 0.04 * (r.1 - r.0);
        *r = (r.0 - pad, r.1 + pad);
    }
    d
}

fn surface(svg: &mut String, f: &Function, start: &[f64], runs: &[Run]) -> Result<()> {
    let [(x0, x1), (y0, y1)] = domain(f, start, runs);
    let n_cells = cells(f);
    let (dx, dy) = ((x1 - x0) / n_cells as f64, (y1 - y0) / n_cells as f64);
    let mut vals = Vec::with_capacity(n_cells * n_cells);
    for j in 0..n_cells {
        for i in 0..n_cells {
            let w = [x0 + (i as f64 + 0.5) * dx, y0 + (j as f64 + 0.5) * dy];
            vals.push(f.value(&w));
        }
    }
    // Bounded below: log(1 + f − f_min), with f_min the known minimum (or the grid's, if lower).
    // Unbounded (saddles, indefinite quadratics): a signed log, sign(f)·log(1 + |f|), since
    // f − min over the grid would be dominated by the frame's edge.
    let grid_min = vals
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let (z, what): (Vec<f64>, &str) = match f.minimum(2) {
        Some((m, _)) => {
            let f_min = m.min(grid_min);
            (
                vals.iter()
                    .map(|&v| (1.0 + (v - f_min).max(0.0)).ln())
                    .collect(),
                "log(1 + f − f_min)",
            )
        }
        None => (
            vals.iter().map(|&v| v.signum() * v.abs().ln_1p()).collect(),
            "sign(f)·log(1 + |f|)",
        ),
    };
    let z_lo = z
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let z: Vec<f64> = z.iter().map(|v| v - z_lo).collect();
    let z_max = z
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-300);

    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: {what} and optimizer paths", f.name()),
            ("sans-serif", 24),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("w[0]")
        .y_desc("w[1]")
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    // Cells overlap slightly so that no seams show between them.
    let cells = (0..n_cells * n_cells).map(|k| {
        let (i, j) = (k % n_cells, k / n_cells);
        let (cx, cy) = (x0 + i as f64 * dx, y0 + j as f64 * dy);
        Rectangle::new(
            [
                (cx, cy),
                ((cx + 1.02 * dx).min(x1), (cy + 1.02 * dy).min(y1)),
            ],
            viridis(z[k] / z_max).filled(),
        )
    });
    chart.draw_series(cells).map_err(err)?;

    if let Some((_, minima)) = f.minimum(2) {
        let inside = |p: &&Vec<f64>| p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1;
        chart
            .draw_series(
                minima
                    .iter()
                    .filter(inside)
                    .map(|p| Cross::new((p[0], p[1]), 7, WHITE.stroke_width(3))),
            )
            .map_err(err)?
            .label("minimum")
            .legend(|(x, y)| Cross::new((x + 10, y), 6, BLACK.stroke_width(2)));
    }

    let inside = |p: &[f64]| {
        p.iter().all(|x| x.is_finite()) && p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1
    };
    for (k, r) in runs.iter().enumerate() {
        let color = rgb(PATH_COLORS[k % PATH_COLORS.len()]);
        // The path up to where it leaves the plotted region.
        let pts: Vec<(f64, f64)> = std::iter::once(start)
            .chain(r.params.iter().map(|p| p.as_slice()))
            .take_while(|p| inside(p))
            .map(|p| (p[0], p[1]))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), BLACK.stroke_width(5)))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(&r.label)
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (20, 0)], BLACK.stroke_width(5))
                    + PathElement::new(vec![(0, 0), (20, 0)], color.stroke_width(3))
            });
        if let Some(&p) = pts.first() {
            chart
                .draw_series([
                    Circle::new(p, 6, BLACK.filled()),
                    Circle::new(p, 4, WHITE.filled()),
                ])
                .map_err(err)?;
        }
        // The end: a marker in the path's colour (a cross when the run diverged).
        if let Some(&p) = pts.last().filter(|_| pts.len() > 1) {
            if r.diverged {
                chart
                    .draw_series([Cross::new(p, 8, color.stroke_width(3))])
                    .map_err(err)?;
            } else {
                chart
                    .draw_series([
                        TriangleMarker::new(p, 9, BLACK.filled()),
                        TriangleMarker::new(p, 6, color.filled()),
                    ])
                    .map_err(err)?;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn losses(svg: &mut String, f: &Function, n: usize, runs: &[Run]) -> Result<()> {
    let known = f.minimum(n).map(|(m, _)| m);
    let all_min = runs
        .iter()
        .flat_map(|r| r.losses.iter().copied())
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let (f_ref, ylabel) = match known {
        Some(m) => (m.min(all_min), "f(w) − f*  (log scale)"),
        None => (all_min, "f(w) − min f  (log scale)"),
    };
    let floor = 1e-16 * f_ref.abs().max(1.0);
    let curves: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            r.losses
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, &v)| ((i + 1) as f64, (v - f_ref).max(floor).log10()))
                .collect()
        })
        .collect();
    let ys = curves.iter().flatten().map(|p| p.1);
    let (mut lo, mut hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1.0 {
        hi += 0.5;
        lo -= 0.5;
    }
    let steps = runs
        .iter()
        .map(|r| r.losses.len())
        .max()
        .unwrap_or(1)
        .max(2) as f64;

    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{} (dimension {n}): loss per step", f.name()),
            ("sans-serif", 24),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(1.0..steps, lo.floor()..hi.ceil())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(ylabel)
        .y_label_formatter(&|v| format!("1e{v:.0}"))
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (k, (r, c)) in runs.iter().zip(&curves).enumerate() {
        let color = rgb(LINE_COLORS[k % LINE_COLORS.len()]);
        chart
            .draw_series(LineSeries::new(c.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(&r.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
