//! Every study optimizer's trajectory on the analytic landscapes (computed by the caller).

use std::fmt::Write;

use present::{fmt_num, hex};

use super::Ctx;
use crate::esc;
use crate::svg::{Marker, Plot};
use landscape::study::{Landscape, LR_GRID};

pub(super) fn landscapes(c: &mut Ctx, lands: &[Landscape]) {
    let _ = write!(
        c.out,
        r#"<section id="landscape"><h2>Landscape trajectories</h2><p class="muted">Each study optimizer (built by gradlab's <code>optim</code> with the study's chosen setting where it applies to a 2-D function; weight decay left out) runs from the same start on two analytic functions. The learning rate is picked per function and optimizer from the grid {} as the one with the lowest final value (the smallest such rate when several end within 0.01% of the start's distance to the minimum). The heat map shows log(f − min + 0.01) in greys, dark = low (light greys, so that no optimizer's colour disappears into it; each path has a black outline); ○ marks the start, ◎ the minima, ▲ each end point (× where a run diverged).</p><div class="plots">"#,
        esc(&LR_GRID
            .iter()
            .map(|x| fmt_num(*x))
            .collect::<Vec<_>>()
            .join(", "))
    );
    let mut errors = Vec::new();
    for land in lands {
        let (f, trajs) = (&land.problem.function, &land.trajectories);
        let title = land.problem.title;
        errors.extend(
            land.errors
                .iter()
                .map(|(o, e)| (title, o.clone(), e.clone())),
        );
        let s = f.default_start();
        let mut pl = Plot::new(
            &format!("{title} from ({}, {})", fmt_num(s[0]), fmt_num(s[1])),
            "x",
            "y",
        )
        .size(640.0, 470.0)
        .legend_width(200.0);
        let [(x0, x1), (y0, y1)] = f.plot_box();
        pl = pl.x_range(x0, x1).y_range(y0, y1);
        let n = 64;
        let (fmin, minimisers) = f.minimum(2).unwrap_or_default();
        let vals: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = (k % n, k / n);
                let x = x0 + (i as f64 + 0.5) / n as f64 * (x1 - x0);
                let y = y0 + (j as f64 + 0.5) / n as f64 * (y1 - y0);
                (f.value(&[x, y]) - fmin + 1e-2).log10()
            })
            .collect();
        let (lo, hi) = vals
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        // Colours quantised to 40 levels; runs of equal colour along a row are one rectangle.
        let level = |v: f64| (((v - lo) / (hi - lo).max(1e-12)) * 39.0).round() as usize;
        let (dx, dy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
        for j in 0..n {
            let mut i = 0;
            while i < n {
                let q = level(vals[j * n + i]);
                let mut e = i + 1;
                while e < n && level(vals[j * n + e]) == q {
                    e += 1;
                }
                pl.cell(
                    x0 + i as f64 * dx,
                    x0 + e as f64 * dx,
                    y0 + j as f64 * dy,
                    y0 + (j + 1) as f64 * dy,
                    &hex(heat(q as f64 / 39.0)),
                );
                i = e;
            }
        }
        for m in minimisers {
            pl.marker(m[0], m[1], "#000000", Marker::Ring, 6.0);
            pl.marker(m[0], m[1], "#ffffff", Marker::Circle, 2.0);
        }
        pl.marker(s[0], s[1], "#000000", Marker::Ring, 5.0);
        for t in trajs {
            let col = c.color(&t.label);
            let pts: Vec<(f64, f64)> = t.points.iter().map(|p| (p[0], p[1])).collect();
            // A black outline keeps every path visible on every grey of the map.
            pl.line(pts.clone(), PATH_OUTLINE, 3.6, false);
            pl.line(pts, col, 1.8, false);
            let end = t.points.last().copied().unwrap_or([s[0], s[1]]);
            let shape = if t.diverged {
                Marker::Cross
            } else {
                Marker::Triangle
            };
            pl.marker(end[0], end[1], col, shape, 5.0);
            let fv = if t.diverged {
                "diverged".to_string()
            } else {
                format!("f={}", fmt_num(t.final_value))
            };
            pl.legend(
                &format!(
                    "{}\nlr {} · {} steps · {fv}",
                    t.label,
                    fmt_num(t.lr),
                    t.steps
                ),
                col,
                None,
            );
        }
        c.plot(&pl);
    }
    let _ = write!(c.out, "</div>");
    if !errors.is_empty() {
        let _ = write!(c.out, r#"<p class="muted">Not drawn:</p><ul>"#);
        for (f, o, e) in errors {
            let _ = write!(c.out, "<li>{} on {}: {}</li>", esc(&o), esc(f), esc(&e));
        }
        let _ = write!(c.out, "</ul>");
    }
    let _ = write!(c.out, "</section>");
}

/// The outline drawn under every path.
const PATH_OUTLINE: &str = "#000000";

/// The heat map's grey at `t` ∈ [0, 1] (0 = the lowest value): from #8c8c8c up to #fafafa, light
/// enough that every optimizer colour reads on it as on paper, dark enough to show the valleys.
pub(crate) fn heat(t: f64) -> (u8, u8, u8) {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let g = (140.0 + t * (250.0 - 140.0)).round() as u8;
    (g, g, g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OPTIMIZER_COLORS;

    /// WCAG 2 relative luminance of `#rrggbb` (0 black … 1 white).
    fn luminance(hex: &str) -> f64 {
        let h = hex.trim_start_matches('#');
        let ch = |i: usize| {
            let v =
                u8::from_str_radix(h.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0) as f64 / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(0) + 0.7152 * ch(2) + 0.0722 * ch(4)
    }

    /// WCAG 2 contrast ratio of two colours (1 = none, 21 = black on white).
    fn contrast(a: &str, b: &str) -> f64 {
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    /// Every optimizer's path stands out on every grey of the heat map: its outline has a
    /// contrast ratio of at least 3 (WCAG's minimum for graphics) against the background, and
    /// the colour itself at least 3 against the outline or against every grey. With the former
    /// viridis map and a white outline, lion's olive-yellow (#bcbd22) had a contrast of 1.6
    /// against the yellow end and 2.0 against its outline.
    #[test]
    fn every_optimizer_colour_stands_out_on_the_heat_map() {
        let viridis_top = hex(present::viridis(1.0));
        assert!(contrast("#bcbd22", &viridis_top) < 1.7);
        let greys: Vec<String> = (0..40).map(|q| hex(heat(q as f64 / 39.0))).collect();
        for bg in &greys {
            assert!(contrast(PATH_OUTLINE, bg) >= 3.0, "outline on {bg}");
        }
        for col in OPTIMIZER_COLORS {
            let on_outline = contrast(col, PATH_OUTLINE);
            let on_map = greys
                .iter()
                .map(|bg| contrast(col, bg))
                .fold(f64::INFINITY, f64::min);
            assert!(
                on_outline >= 3.0 || on_map >= 3.0,
                "{col}: {on_outline:.2} on its outline, {on_map:.2} on the map"
            );
        }
        assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 1e-9);
    }
}
