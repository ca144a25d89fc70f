//! The plot of `gradlab landscape --run DIR --slice N`: the training loss on a 2-D slice around
//! a run's final weights in filter-normalised random directions, as a heat map of
//! `log10(loss)` (viridis: dark low, yellow high) with the final weights marked. The slice is
//! computed by [`diagnose::surface::slice`]; this module only draws it.

use diagnose::surface::Slice;

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
    let logs = || {
        s.train_loss
            .iter()
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
    if let (Some(&a0), Some(&a1), Some(&b0), Some(&b1)) =
        (s.a.first(), s.a.last(), s.b.first(), s.b.last())
    {
        let (sa, sb) = (half(&s.a, 0).0 - a0, half(&s.b, 0).0 - b0);
        p = p.x_range(a0 + sa, a1 - sa).y_range(b0 + sb, b1 - sb);
    }
    for (r, row) in s.train_loss.iter().enumerate() {
        for (c, &l) in row.iter().enumerate() {
            let t = if l.is_finite() && l > 0.0 && hi > lo {
                (l.log10() - lo) / (hi - lo)
            } else {
                1.0
            };
            let (x0, x1) = half(&s.a, c);
            let (y0, y1) = half(&s.b, r);
            p.cell(x0, x1, y0, y1, &hex(present::viridis(t)));
        }
    }
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
    p.legend(
        &format!(
            "loss at the centre {}\nmean rise at radius 0.5: {}\ncolour: log10(loss)",
            present::fmt_num(s.center),
            present::fmt_num(s.rise_at_half)
        ),
        "#999999",
        None,
    );
    p.render("loss-slice")
}
