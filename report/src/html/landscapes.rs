//! Every study optimizer's trajectory on the analytic landscapes (computed by the caller).

use std::fmt::Write;

use present::{fmt_num, hex, viridis};

use super::Ctx;
use crate::esc;
use crate::svg::{Marker, Plot};
use landscape::study::{Landscape, LR_GRID};

pub(super) fn landscapes(c: &mut Ctx, lands: &[Landscape]) {
    let _ = write!(
        c.out,
        r#"<section id="landscape"><h2>Landscape trajectories</h2><p class="muted">Each study optimizer (built by gradlab's <code>optim</code> with the study's chosen setting where it applies to a 2-D function; weight decay left out) runs from the same start on two analytic functions. The learning rate is picked per function and optimizer from the grid {} as the one with the lowest final value (the smallest such rate when several end within 0.01% of the start's distance to the minimum). The heat map shows log(f − min + 0.01), dark = low; ○ marks the start, ◎ the minima, ▲ each end point (× where a run diverged).</p><div class="plots">"#,
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
                    &hex(viridis(q as f64 / 39.0)),
                );
                i = e;
            }
        }
        for m in minimisers {
            pl.marker(m[0], m[1], "#ffffff", Marker::Ring, 6.0);
            pl.marker(m[0], m[1], "#ffffff", Marker::Circle, 2.0);
        }
        pl.marker(s[0], s[1], "#ffffff", Marker::Ring, 5.0);
        for t in trajs {
            let col = c.color(&t.label);
            let pts: Vec<(f64, f64)> = t.points.iter().map(|p| (p[0], p[1])).collect();
            // A white outline under the path keeps it visible on the heat map.
            pl.line(pts.clone(), "#ffffff", 3.6, false);
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
