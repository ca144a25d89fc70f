//! A small SVG plotting module: linear and log axes with nice ticks, lines, step lines, shaded
//! bands, markers, heat-map cells and a legend. Every plot has a title and axis labels; the
//! output is a self-contained `<svg>` element (no scripts, no external references).

use std::fmt::Write;

use crate::esc;

/// Axis scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// Marker shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    /// A hollow ring (e.g. the chosen setting).
    Ring,
    Cross,
    Triangle,
}

#[derive(Clone, Debug)]
enum Item {
    Line {
        pts: Vec<(f64, f64)>,
        color: String,
        width: f64,
        dash: bool,
    },
    Band {
        x: Vec<f64>,
        lo: Vec<f64>,
        hi: Vec<f64>,
        color: String,
    },
    Marker {
        x: f64,
        y: f64,
        color: String,
        shape: Marker,
        size: f64,
    },
    Cell {
        x0: f64,
        x1: f64,
        y0: f64,
        y1: f64,
        color: String,
    },
}

/// A legend entry: text, colour, and how the sample is drawn.
#[derive(Clone, Debug)]
struct Entry {
    text: String,
    color: String,
    shape: Option<Marker>,
}

/// One chart. Build it, add series, then [`Plot::render`].
#[derive(Clone, Debug)]
pub struct Plot {
    title: String,
    x_label: String,
    y_label: String,
    x_scale: Scale,
    y_scale: Scale,
    x_range: Option<(f64, f64)>,
    y_range: Option<(f64, f64)>,
    width: f64,
    height: f64,
    legend_width: f64,
    x_integer: bool,
    items: Vec<Item>,
    legend: Vec<Entry>,
    note: Option<String>,
}

const MARGIN_L: f64 = 64.0;
const MARGIN_R: f64 = 14.0;
const MARGIN_T: f64 = 34.0;
const MARGIN_B: f64 = 46.0;
const LEGEND_ROW: f64 = 17.0;
const LEGEND_SUBROW: f64 = 13.0;

impl Plot {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Plot {
        Plot {
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            x_range: None,
            y_range: None,
            width: 620.0,
            height: 340.0,
            legend_width: 150.0,
            x_integer: false,
            items: Vec::new(),
            legend: Vec::new(),
            note: None,
        }
    }

    pub fn size(mut self, width: f64, height: f64) -> Plot {
        self.width = width;
        self.height = height;
        self
    }

    pub fn legend_width(mut self, w: f64) -> Plot {
        self.legend_width = w;
        self
    }

    /// Ticks of the (linear) x axis only at whole numbers (epochs, trial counts).
    pub fn x_integer(mut self) -> Plot {
        self.x_integer = true;
        self
    }

    pub fn x_scale(mut self, s: Scale) -> Plot {
        self.x_scale = s;
        self
    }

    pub fn y_scale(mut self, s: Scale) -> Plot {
        self.y_scale = s;
        self
    }

    /// Fixes the x range (otherwise it is fitted to the data).
    pub fn x_range(mut self, lo: f64, hi: f64) -> Plot {
        self.x_range = Some((lo, hi));
        self
    }

    pub fn y_range(mut self, lo: f64, hi: f64) -> Plot {
        self.y_range = Some((lo, hi));
        self
    }

    /// A line of small grey text under the title (e.g. "no data").
    pub fn note(&mut self, text: &str) {
        self.note = Some(text.to_string());
    }

    /// A polyline; non-finite points (and non-positive ones on log axes) break it.
    pub fn line(&mut self, pts: Vec<(f64, f64)>, color: &str, width: f64, dash: bool) {
        self.items.push(Item::Line {
            pts,
            color: color.to_string(),
            width,
            dash,
        });
    }

    /// A step function through `pts` (horizontal then vertical), as in a performance profile.
    pub fn step_line(&mut self, pts: &[(f64, f64)], color: &str, width: f64) {
        let mut out = Vec::with_capacity(pts.len() * 2);
        for (i, &(x, y)) in pts.iter().enumerate() {
            if i > 0 {
                out.push((x, pts[i - 1].1));
            }
            out.push((x, y));
        }
        self.line(out, color, width, false);
    }

    /// A shaded band between `lo` and `hi` over `x`.
    pub fn band(&mut self, x: &[f64], lo: &[f64], hi: &[f64], color: &str) {
        self.items.push(Item::Band {
            x: x.to_vec(),
            lo: lo.to_vec(),
            hi: hi.to_vec(),
            color: color.to_string(),
        });
    }

    pub fn marker(&mut self, x: f64, y: f64, color: &str, shape: Marker, size: f64) {
        self.items.push(Item::Marker {
            x,
            y,
            color: color.to_string(),
            shape,
            size,
        });
    }

    /// A filled rectangle in data coordinates (heat maps).
    pub fn cell(&mut self, x0: f64, x1: f64, y0: f64, y1: f64, color: &str) {
        self.items.push(Item::Cell {
            x0,
            x1,
            y0,
            y1,
            color: color.to_string(),
        });
    }

    /// A legend entry drawn as a line sample (or a marker when `shape` is given).
    pub fn legend(&mut self, text: &str, color: &str, shape: Option<Marker>) {
        self.legend.push(Entry {
            text: text.to_string(),
            color: color.to_string(),
            shape,
        });
    }

    fn data_range(&self, axis_x: bool) -> Option<(f64, f64)> {
        let scale = if axis_x { self.x_scale } else { self.y_scale };
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut take = |v: f64| {
            if v.is_finite() && (scale == Scale::Linear || v > 0.0) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        };
        for it in &self.items {
            match it {
                Item::Line { pts, .. } => {
                    for &(x, y) in pts {
                        take(if axis_x { x } else { y });
                    }
                }
                Item::Band {
                    x, lo: l, hi: h, ..
                } => {
                    if axis_x {
                        x.iter().for_each(|&v| take(v));
                    } else {
                        l.iter().chain(h).for_each(|&v| take(v));
                    }
                }
                Item::Marker { x, y, .. } => take(if axis_x { *x } else { *y }),
                Item::Cell { x0, x1, y0, y1, .. } => {
                    if axis_x {
                        take(*x0);
                        take(*x1);
                    } else {
                        take(*y0);
                        take(*y1);
                    }
                }
            }
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// Renders the plot as an `<svg>` element whose clip path ids start with `id`.
    pub fn render(&self, id: &str) -> String {
        let legend_w = if self.legend.is_empty() {
            0.0
        } else {
            self.legend_width
        };
        // Tall enough for the whole legend.
        let legend_h: f64 = self
            .legend
            .iter()
            .map(|e| LEGEND_ROW + LEGEND_SUBROW * e.text.lines().count().saturating_sub(1) as f64)
            .sum();
        let (w, h) = (
            self.width,
            self.height.max(MARGIN_T + legend_h + 8.0 + MARGIN_B),
        );
        let px0 = MARGIN_L;
        let px1 = w - MARGIN_R - legend_w;
        let py0 = MARGIN_T;
        let py1 = h - MARGIN_B;
        let xa = Axis::fit(
            self.x_range.or_else(|| self.data_range(true)),
            self.x_scale,
            self.x_range.is_some(),
            self.x_integer,
        );
        let ya = Axis::fit(
            self.y_range.or_else(|| self.data_range(false)),
            self.y_scale,
            self.y_range.is_some(),
            false,
        );
        let sx = |x: f64| xa.map(x).map(|t| px0 + t * (px1 - px0));
        let sy = |y: f64| ya.map(y).map(|t| py1 - t * (py1 - py0));

        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
            esc(&self.title)
        );
        let _ = write!(s, "<title>{}</title>", esc(&self.title));
        let _ = write!(
            s,
            r##"<defs><clipPath id="{id}-clip"><rect x="{px0}" y="{py0}" width="{:.1}" height="{:.1}"/></clipPath></defs>"##,
            px1 - px0,
            py1 - py0
        );
        let _ = write!(
            s,
            r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##
        );
        // Title.
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="20" class="ptitle" text-anchor="middle">{}</text>"#,
            (px0 + px1) / 2.0,
            esc(&self.title)
        );
        // Grid and ticks.
        let _ = write!(s, r#"<g class="grid">"#);
        for t in &xa.ticks {
            if let Some(x) = sx(t.0) {
                let _ = write!(
                    s,
                    r#"<line x1="{x:.1}" y1="{py0}" x2="{x:.1}" y2="{py1}"/>"#
                );
            }
        }
        for t in &ya.ticks {
            if let Some(y) = sy(t.0) {
                let _ = write!(
                    s,
                    r#"<line x1="{px0}" y1="{y:.1}" x2="{px1:.1}" y2="{y:.1}"/>"#
                );
            }
        }
        let _ = write!(s, "</g>");
        let _ = write!(s, r#"<g class="ticks">"#);
        for t in &xa.ticks {
            if let Some(x) = sx(t.0) {
                let _ = write!(
                    s,
                    r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    py1 + 15.0,
                    esc(&t.1)
                );
            }
        }
        for t in &ya.ticks {
            if let Some(y) = sy(t.0) {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    px0 - 5.0,
                    y + 4.0,
                    esc(&t.1)
                );
            }
        }
        let _ = write!(s, "</g>");
        // Axis labels.
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="alabel" text-anchor="middle">{}</text>"#,
            (px0 + px1) / 2.0,
            h - 10.0,
            esc(&self.x_label)
        );
        let cy = (py0 + py1) / 2.0;
        let _ = write!(
            s,
            r#"<text x="14" y="{cy:.1}" class="alabel" text-anchor="middle" transform="rotate(-90 14 {cy:.1})">{}</text>"#,
            esc(&self.y_label)
        );

        // Data.
        let _ = write!(s, r#"<g clip-path="url(#{id}-clip)">"#);
        for it in &self.items {
            match it {
                Item::Cell {
                    x0,
                    x1,
                    y0,
                    y1,
                    color,
                } => {
                    if let (Some(a), Some(b), Some(c), Some(d)) =
                        (sx(*x0), sx(*x1), sy(*y0), sy(*y1))
                    {
                        let _ = write!(
                            s,
                            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                            a.min(b),
                            c.min(d),
                            (b - a).abs() + 0.6,
                            (d - c).abs() + 0.6,
                            esc(color)
                        );
                    }
                }
                Item::Band { x, lo, hi, color } => {
                    // One polygon per run of valid points.
                    let mut seg: Vec<(f64, f64, f64)> = Vec::new();
                    let flush = |seg: &mut Vec<(f64, f64, f64)>, s: &mut String| {
                        if seg.len() >= 2 {
                            let mut p = String::new();
                            for &(x, a, _) in seg.iter() {
                                let _ = write!(p, "{x:.1},{a:.1} ");
                            }
                            for &(x, _, b) in seg.iter().rev() {
                                let _ = write!(p, "{x:.1},{b:.1} ");
                            }
                            let _ = write!(
                                s,
                                r#"<polygon points="{}" fill="{}" fill-opacity="0.18" stroke="none"/>"#,
                                p.trim_end(),
                                esc(color)
                            );
                        }
                        seg.clear();
                    };
                    for i in 0..x.len().min(lo.len()).min(hi.len()) {
                        match (sx(x[i]), sy(lo[i]), sy(hi[i])) {
                            (Some(a), Some(b), Some(c)) => seg.push((a, b, c)),
                            _ => flush(&mut seg, &mut s),
                        }
                    }
                    flush(&mut seg, &mut s);
                }
                _ => {}
            }
        }
        for it in &self.items {
            if let Item::Line {
                pts,
                color,
                width,
                dash,
            } = it
            {
                let dash = if *dash {
                    r#" stroke-dasharray="5 4""#
                } else {
                    ""
                };
                let mut seg = String::new();
                let mut n = 0;
                let flush = |seg: &mut String, n: &mut usize, s: &mut String| {
                    if *n >= 2 {
                        let _ = write!(
                            s,
                            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width}" stroke-linejoin="round"{dash}/>"#,
                            seg.trim_end(),
                            esc(color)
                        );
                    }
                    seg.clear();
                    *n = 0;
                };
                // Points closer than half a pixel to the last one drawn are skipped (the last
                // point of a run is always drawn).
                let mut last: Option<(f64, f64)> = None;
                let mut pending: Option<(f64, f64)> = None;
                for &(x, y) in pts {
                    match (sx(x), sy(y)) {
                        (Some(a), Some(b)) => {
                            if let Some((la, lb)) = last {
                                if (a - la).abs() < 0.5 && (b - lb).abs() < 0.5 {
                                    pending = Some((a, b));
                                    continue;
                                }
                            }
                            let _ = write!(seg, "{a:.1},{b:.1} ");
                            n += 1;
                            last = Some((a, b));
                            pending = None;
                        }
                        _ => {
                            if let Some((a, b)) = pending.take() {
                                let _ = write!(seg, "{a:.1},{b:.1} ");
                                n += 1;
                            }
                            last = None;
                            flush(&mut seg, &mut n, &mut s);
                        }
                    }
                }
                if let Some((a, b)) = pending {
                    let _ = write!(seg, "{a:.1},{b:.1} ");
                    n += 1;
                }
                flush(&mut seg, &mut n, &mut s);
            }
        }
        for it in &self.items {
            if let Item::Marker {
                x,
                y,
                color,
                shape,
                size,
            } = it
            {
                if let (Some(a), Some(b)) = (sx(*x), sy(*y)) {
                    s.push_str(&marker_svg(a, b, color, *shape, *size));
                }
            }
        }
        let _ = write!(s, "</g>");
        // Frame.
        let _ = write!(
            s,
            r##"<rect x="{px0}" y="{py0}" width="{:.1}" height="{:.1}" fill="none" stroke="#555"/>"##,
            px1 - px0,
            py1 - py0
        );
        if let Some(n) = &self.note {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" class="pnote" text-anchor="middle">{}</text>"#,
                (px0 + px1) / 2.0,
                cy,
                esc(n)
            );
        }
        // Legend.
        if !self.legend.is_empty() {
            let lx = px1 + 12.0;
            let _ = write!(s, r#"<g class="legend">"#);
            let mut y = py0 + 8.0;
            for e in &self.legend {
                match e.shape {
                    None => {
                        let _ = write!(
                            s,
                            r#"<line x1="{lx:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="3"/>"#,
                            lx + 18.0,
                            esc(&e.color)
                        );
                    }
                    Some(m) => s.push_str(&marker_svg(lx + 9.0, y, &e.color, m, 4.5)),
                }
                let lines: Vec<&str> = e.text.lines().collect();
                if lines.len() <= 1 {
                    let _ = write!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                        lx + 23.0,
                        y + 4.0,
                        esc(&e.text)
                    );
                } else {
                    // Further lines are smaller and grey, under the first.
                    let _ = write!(s, r#"<text x="{:.1}" y="{:.1}">"#, lx + 23.0, y + 4.0);
                    for (k, l) in lines.iter().enumerate() {
                        if k == 0 {
                            let _ = write!(s, "<tspan>{}</tspan>", esc(l));
                        } else {
                            let _ = write!(
                                s,
                                r#"<tspan x="{:.1}" dy="13" class="lsub">{}</tspan>"#,
                                lx + 23.0,
                                esc(l)
                            );
                        }
                    }
                    s.push_str("</text>");
                }
                y += LEGEND_ROW + LEGEND_SUBROW * lines.len().saturating_sub(1) as f64;
            }
            let _ = write!(s, "</g>");
        }
        s.push_str("</svg>");
        s
    }
}

fn marker_svg(x: f64, y: f64, color: &str, shape: Marker, r: f64) -> String {
    let c = esc(color);
    match shape {
        Marker::Circle => format!(
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="{r:.1}" fill="{c}" stroke="#ffffff" stroke-width="0.8"/>"##
        ),
        Marker::Ring => format!(
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r:.1}" fill="none" stroke="{c}" stroke-width="2"/>"#
        ),
        Marker::Cross => format!(
            r#"<path d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}" stroke="{c}" stroke-width="2.2" fill="none"/>"#,
            x - r,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r,
            x + r,
            y - r
        ),
        Marker::Triangle => format!(
            r##"<path d="M{:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}Z" fill="{c}" stroke="#000000" stroke-width="0.8"/>"##,
            x,
            y - r * 1.2,
            x - r,
            y + r * 0.8,
            x + r,
            y + r * 0.8
        ),
    }
}

/// A fitted axis: its range (in scale space: log10 for log axes) and ticks.
struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    fn fit(range: Option<(f64, f64)>, scale: Scale, fixed: bool, integer: bool) -> Axis {
        let (mut lo, mut hi) = range.unwrap_or(match scale {
            Scale::Linear => (0.0, 1.0),
            Scale::Log => (1.0, 10.0),
        });
        match scale {
            Scale::Linear => {
                if hi - lo <= 1e-12 * (lo.abs() + hi.abs()).max(1e-300) {
                    let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
                    lo -= d;
                    hi += d;
                } else if !fixed {
                    let pad = 0.04 * (hi - lo);
                    lo -= pad;
                    hi += pad;
                }
                let ticks = if integer {
                    integer_ticks(lo, hi)
                } else {
                    linear_ticks(lo, hi)
                };
                Axis {
                    scale,
                    lo,
                    hi,
                    ticks,
                }
            }
            Scale::Log => {
                let (mut l, mut h) = (lo.max(1e-300).log10(), hi.max(1e-300).log10());
                if h - l < 1e-9 {
                    l -= 0.5;
                    h += 0.5;
                } else if !fixed {
                    let pad = 0.04 * (h - l);
                    l -= pad;
                    h += pad;
                }
                let ticks = log_ticks(l, h);
                Axis {
                    scale,
                    lo: l,
                    hi: h,
                    ticks,
                }
            }
        }
    }

    /// Fraction 0..1 along the axis (may lie outside for clipped data), or None.
    fn map(&self, v: f64) -> Option<f64> {
        let t = match self.scale {
            Scale::Linear => v,
            Scale::Log => {
                if v > 0.0 {
                    v.log10()
                } else {
                    return None;
                }
            }
        };
        if !t.is_finite() {
            return None;
        }
        let f = (t - self.lo) / (self.hi - self.lo);
        // Keep far-away points drawable but bounded (the clip path hides them).
        Some(f.clamp(-10.0, 11.0))
    }
}

/// A "nice" step (1, 2, 2.5 or 5 × 10ᵏ) giving about `n` intervals over `span`.
pub fn nice_step(span: f64, n: f64) -> f64 {
    let raw = span / n;
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let nice = if m < 1.5 {
        1.0
    } else if m < 2.25 {
        2.0
    } else if m < 3.5 {
        2.5
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * p
}

/// Ticks at multiples of a nice step inside [lo, hi].
pub fn linear_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let step = nice_step(hi - lo, 5.0);
    if !(step.is_finite() && step > 0.0) {
        return Vec::new();
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, fmt_tick(v, step))
        })
        .collect()
}

/// Ticks at whole numbers only: steps of 1, 2 or 5 × 10ᵏ (never 2.5 or below 1).
pub fn integer_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let mut step = nice_step(hi - lo, 6.0).max(1.0);
    let p = 10f64.powf(step.log10().floor());
    if ((step / p) - 2.5).abs() < 1e-9 {
        step = 2.0 * p;
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            (v, format!("{v:.0}"))
        })
        .collect()
}

/// Ticks of a log axis given in log10 units: decades (thinned when many), plus 2 and 5 when
/// the axis spans less than about two decades.
pub fn log_ticks(l: f64, h: f64) -> Vec<(f64, String)> {
    let d0 = l.ceil() as i64;
    let d1 = h.floor() as i64;
    let decades = (d1 - d0 + 1).max(0);
    let every = ((decades as f64 / 7.0).ceil() as i64).max(1);
    let mut out = Vec::new();
    let dense = h - l < 2.2;
    let lo_d = l.floor() as i64;
    for d in lo_d..=d1 {
        let mults: &[f64] = if dense { &[1.0, 2.0, 5.0] } else { &[1.0] };
        for &m in mults {
            let v = m * 10f64.powi(d as i32);
            let lv = v.log10();
            if lv < l - 1e-9 || lv > h + 1e-9 {
                continue;
            }
            if m == 1.0 && (d - d0).rem_euclid(every) != 0 {
                continue;
            }
            out.push((v, fmt_num(v)));
        }
    }
    if out.len() < 2 {
        // Less than a decade with no round value inside: label the ends.
        out = vec![
            (10f64.powf(l), fmt_num(10f64.powf(l))),
            (10f64.powf(h), fmt_num(10f64.powf(h))),
        ];
    }
    out
}

fn fmt_tick(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return fmt_num(v);
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize + usize::from(is_half(step));
    format!("{v:.decimals$}")
}

fn is_half(step: f64) -> bool {
    let p = 10f64.powf(step.log10().floor());
    ((step / p) - 2.5).abs() < 1e-9
}

/// A compact number: `0.031`, `1200`, `1e-05` → `1e-5`, `2.5e6`.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{:.4}", v);
        let s = format!("{}", s.parse::<f64>().unwrap_or(v));
        // Keep at most 4 significant digits.
        let sig = format!("{:.3e}", v);
        let back: f64 = sig.parse().unwrap_or(v);
        let t = format!("{back}");
        if t.len() < s.len() {
            t
        } else {
            s
        }
    } else {
        let s = format!("{:.2e}", v);
        // 1.00e-5 → 1e-5, 2.50e6 → 2.5e6
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        format!("{m}e{e}")
    }
}

/// The colour of `t` ∈ [0, 1] on the viridis map (dark blue → yellow).
pub fn viridis(t: f64) -> String {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let f = t * (STOPS.len() - 1) as f64;
    let i = (f.floor() as usize).min(STOPS.len() - 2);
    let u = f - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + u * (q as f64 - p as f64)).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_and_ticks() {
        assert_eq!(nice_step(1.0, 5.0), 0.2);
        assert_eq!(nice_step(15.0, 5.0), 2.5);
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        let t: Vec<f64> = linear_ticks(0.0, 1.0).iter().map(|t| t.0).collect();
        assert_eq!(t.len(), 6);
        assert!((t[3] - 0.6).abs() < 1e-12);
        let labels: Vec<String> = linear_ticks(0.0, 1.0).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        // log ticks over 1e-4..1e0: every decade.
        let lt: Vec<String> = log_ticks(-4.0, 0.0).into_iter().map(|t| t.1).collect();
        assert_eq!(lt, ["1e-4", "0.001", "0.01", "0.1", "1"]);
        let it: Vec<String> = integer_ticks(0.4, 15.6).into_iter().map(|t| t.1).collect();
        assert_eq!(it, ["2", "4", "6", "8", "10", "12", "14"]);
        let it: Vec<String> = integer_ticks(0.8, 6.2).into_iter().map(|t| t.1).collect();
        assert_eq!(it, ["1", "2", "3", "4", "5", "6"]);
        // a narrow log axis gets 2 and 5 as well
        let lt: Vec<String> = log_ticks(0.0, 1.0).into_iter().map(|t| t.1).collect();
        assert_eq!(lt, ["1", "2", "5", "10"]);
    }

    #[test]
    fn tall_legends_grow_the_plot() {
        let mut p = Plot::new("t", "x", "y").size(400.0, 200.0);
        for i in 0..30 {
            p.legend(&format!("entry {i}\nsecond line"), "#000000", None);
        }
        let s = p.render("q");
        // 30 × (17 + 13) px of legend plus the margins
        let h = MARGIN_T + 30.0 * (LEGEND_ROW + LEGEND_SUBROW) + 8.0 + MARGIN_B;
        assert!(
            s.contains(&format!("viewBox=\"0 0 400 {h}\"")),
            "{}",
            &s[..120]
        );
        assert_eq!(s.matches("<tspan").count(), 60);
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(fmt_num(0.031), "0.031");
        assert_eq!(fmt_num(1e-5), "1e-5");
        assert_eq!(fmt_num(2.5e6), "2.5e6");
        assert_eq!(fmt_num(1200.0), "1200");
        assert_eq!(fmt_num(0.123456), "0.1235");
    }

    #[test]
    fn render_is_balanced_and_clipped() {
        let mut p = Plot::new("t <&>", "x", "y").y_scale(Scale::Log);
        p.line(
            vec![(0.0, 1.0), (1.0, 0.0), (2.0, 0.1)],
            "#123456",
            2.0,
            false,
        );
        p.band(&[0.0, 1.0], &[0.5, 0.5], &[2.0, 2.0], "#123456");
        p.marker(1.0, 1.0, "red", Marker::Cross, 4.0);
        p.legend("a", "#123456", None);
        let s = p.render("p1");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("t &lt;&amp;&gt;"));
        assert!(s.contains(r#"clip-path="url(#p1-clip)""#));
        // the non-positive point on the log axis breaks the line: no polyline has 3 points
        assert_eq!(s.matches("<polyline").count(), 0);
    }
}
