//! The plots of `gradlab landscape --run DIR --slice N` and `--trajectory N`: the training loss
//! on a 2-D plane through a run's final weights — in filter-normalised random directions, or in
//! the top two PCA directions of the training trajectory with the trajectory drawn over it — as
//! a heat map of `log10(loss)` (viridis: dark low, yellow high) with the final weights marked.
//! The planes are computed by [`diagnose::surface`]; this module only draws them.

use diagnose::surface::{Slice, Trajectory};

use crate::svg::{Marker, Plot};

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Renders the plot as a standalone SVG document.
pub fn render(s: &Slice) -> String {
    let mut p = Plot::new(
        &format!("Training loss around the final weights: {}", s.run),
        "a  (filter-normalised direction δ)",
        "b  (filter-normalised direction η)",
    )
    .size(760.0, 620.0)
    .legend_width(220.0);
    let (lo, hi) = heat(&mut p, &s.a, &s.b, &s.train_loss);
    p.marker(0.0, 0.0, "#ff0000", Marker::Cross, 6.0);
    p.legend("final weights", "#ff0000", Some(Marker::Cross));
    p.legend(
        &format!("lowest loss {}", present::fmt_num(10f64.powf(lo))),
        &hex(present::viridis(0.0)),
        Some(Marker::Circle),
    );
    p.legend(
        &format!("highest loss {}", present::fmt_num(10f64.powf(hi))),
        &hex(present::viridis(1.0)),
        Some(Marker::Circle),
    );
    let mut sharp = String::new();
    if let Some(h) = &s.sharpness {
        sharp = format!(
            "\nλmax at the centre: {} (median of {} batches)",
            present::fmt_num(h.lambda_max),
            h.batches.len()
        );
        if let Some(d) = &h.doctor {
            sharp += &format!(
                "\ndoctor's λmax at step {}: {}",
                d.step,
                present::fmt_num(d.lambda_max)
            );
        }
    }
    p.legend(
        &format!(
            "loss at the centre {}\nmean rise at radius 0.5: {}{sharp}\ncolour: log10(loss)",
            present::fmt_num(s.center),
            present::fmt_num(s.rise_at_half)
        ),
        "#999999",
        None,
    );
    p.render("loss-slice")
}

/// Draws `loss[row][col]` at `(a[col], b[row])` as cells and fixes the axes to the grid;
/// returns the range of `log10(loss)`.
fn heat(p: &mut Plot, a: &[f64], b: &[f64], loss: &[Vec<f64>]) -> (f64, f64) {
    let logs = || {
        loss.iter()
            .flatten()
            .filter(|v| v.is_finite() && **v > 0.0)
            .map(|v| v.log10())
    };
    let (lo, hi) = (
        logs().fold(f64::INFINITY, f64::min),
        logs().fold(f64::NEG_INFINITY, f64::max),
    );
    let half = |v: &[f64], i: usize| {
        let step = if v.len() > 1 { v[1] - v[0] } else { 1.0 };
        (v[i] - step / 2.0, v[i] + step / 2.0)
    };
    if let (Some(&a0), Some(&a1), Some(&b0), Some(&b1)) = (a.first(), a.last(), b.first(), b.last())
    {
        let (sa, sb) = (half(a, 0).0 - a0, half(b, 0).0 - b0);
        *p = p
            .clone()
            .x_range(a0 + sa, a1 - sa)
            .y_range(b0 + sb, b1 - sb);
    }
    for (r, row) in loss.iter().enumerate() {
        for (c, &l) in row.iter().enumerate() {
            let t = if l.is_finite() && l > 0.0 && hi > lo {
                (l.log10() - lo) / (hi - lo)
            } else {
                1.0
            };
            let (x0, x1) = half(a, c);
            let (y0, y1) = half(b, r);
            p.cell(x0, x1, y0, y1, &hex(present::viridis(t)));
        }
    }
    (lo, hi)
}

/// The trajectory's PCA plane with the path drawn over it.
pub fn render_trajectory(t: &Trajectory) -> String {
    let (e1, e2) = t.pca.explained;
    let mut p = Plot::new(
        &format!("Training trajectory on its top PCA directions: {}", t.run),
        &format!("PC 1 ({:.1}% of the path's variance)", 100.0 * e1),
        &format!("PC 2 ({:.1}%)", 100.0 * e2),
    )
    .size(760.0, 620.0)
    .legend_width(220.0);
    let (lo, hi) = heat(&mut p, &t.a, &t.b, &t.train_loss);
    p.line(t.pca.coords.clone(), "#ff3030", 2.0, false);
    for &(x, y) in &t.pca.coords {
        p.marker(x, y, "#ff3030", Marker::Circle, 2.0);
    }
    if let Some(&(x, y)) = t.pca.coords.first() {
        p.marker(x, y, "#ffffff", Marker::Triangle, 6.0);
    }
    p.marker(0.0, 0.0, "#ff0000", Marker::Cross, 6.0);
    p.legend("initial weights", "#ffffff", Some(Marker::Triangle));
    p.legend(&format!("path ({} saves)", t.steps.len()), "#ff3030", None);
    p.legend("final weights", "#ff0000", Some(Marker::Cross));
    p.legend(
        &format!(
            "loss {} .. {}\ncolour: log10(loss)",
            present::fmt_num(10f64.powf(lo)),
            present::fmt_num(10f64.powf(hi))
        ),
        "#999999",
        None,
    );
    p.render("loss-trajectory")
}
