//! The report's plots, drawn with [plotters](https://docs.rs/plotters) into inline SVG.
//!
//! plotters does the chart work (the SVG backend and its text escaping, the layout of the
//! label areas, the coordinate mapping of linear and log axes, nice linear ticks, grid, tick
//! marks and labels, axis descriptions, the shapes), as it already does for `gradlab diagnose`
//! and `gradlab landscape`; this module collects what a report plot shows and draws it. Log
//! axes take their ticks from [`log_ticks`] (plotters' own leave the part below the first power
//! of ten bare, or crowd in every 2…9 × 10ᵏ).
//!
//! A [`Plot`] is a builder: title, axis labels and scales, optional fixed ranges, then items
//! (lines, step lines, shaded seed bands, markers, heat-map cells), legend entries and a note.
//! [`Plot::render`] lays it out: the chart on the left, the legend in its own column on the
//! right (the plot grows taller when the legend needs it). Lines are cut at non-finite points
//! (and non-positive ones on log axes) and clipped to the axes' box in scale space, then drawn
//! in pixel coordinates, so a path leaving the box ends at its edge instead of running along it.
//! The output is one self-contained `<svg>` element (no scripts, no external references)
//! with the given id, an accessible title, and plotters' escaping of all text.

use plotters::coord::ranged1d::{BoldPoints, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Numbers on log axes (and in the report's text): compact, at most 4 significant digits.
pub use present::fmt_num;

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

/// Room above the plotting area (caption) and below it (tick labels, axis description).
const MARGIN_T: f64 = 30.0;
const MARGIN_B: f64 = 46.0;
const LEGEND_ROW: f64 = 17.0;
const LEGEND_SUBROW: f64 = 13.0;

/// plotters writes `font-size` as the style's size ÷ 1.24; this gives `px` on the page.
fn px(px: f64) -> f64 {
    px * 1.24
}

fn font(size: f64, color: RGBColor) -> TextStyle<'static> {
    ("sans-serif", px(size)).into_font().color(&color)
}

const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);

/// `#rrggbb`, `#rgb` or a few names; anything else is grey.
fn rgb(s: &str) -> RGBColor {
    let h = s.trim().trim_start_matches('#');
    let hex = |t: &str| u8::from_str_radix(t, 16).ok();
    let parsed = match h.len() {
        6 if s.trim().starts_with('#') => {
            (|| Some(RGBColor(hex(&h[0..2])?, hex(&h[2..4])?, hex(&h[4..6])?)))()
        }
        3 if s.trim().starts_with('#') => (|| {
            let d = |i: usize| hex(&h[i..i + 1]).map(|v| v * 17);
            Some(RGBColor(d(0)?, d(1)?, d(2)?))
        })(),
        _ => None,
    };
    parsed.unwrap_or(match s.trim() {
        "black" => BLACK,
        "white" => WHITE,
        "red" => RGBColor(0xd6, 0x27, 0x28),
        "blue" => RGBColor(0x1f, 0x77, 0xb4),
        "green" => RGBColor(0x2c, 0xa0, 0x2c),
        _ => RGBColor(0x88, 0x88, 0x88),
    })
}

impl Scale {
    /// The value in scale space (log10 on log axes), or None where it cannot be drawn.
    fn fwd(self, v: f64) -> Option<f64> {
        let t = match self {
            Scale::Linear => v,
            Scale::Log if v > 0.0 => v.log10(),
            Scale::Log => return None,
        };
        t.is_finite().then_some(t)
    }

    fn inv(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
        }
    }
}

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

    /// A line of grey text in the middle of the plot (e.g. "no data").
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

    /// A translucent band between `lo` and `hi` over `x` (e.g. min–max over seeds).
    pub fn band(&mut self, x: &[f64], lo: &[f64], hi: &[f64], color: &str) {
        self.items.push(Item::Band {
            x: x.to_vec(),
            lo: lo.to_vec(),
            hi: hi.to_vec(),
            color: color.to_string(),
        });
    }

    /// A marker of radius `size` pixels; markers outside the axes' box are not drawn.
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

    /// A legend entry drawn as a line sample (or a marker when `shape` is given); lines after
    /// the first are smaller and grey.
    pub fn legend(&mut self, text: &str, color: &str, shape: Option<Marker>) {
        self.legend.push(Entry {
            text: text.to_string(),
            color: color.to_string(),
            shape,
        });
    }

    /// The range of the data on one axis (drawable values only).
    fn data_range(&self, axis_x: bool) -> Option<(f64, f64)> {
        let scale = if axis_x { self.x_scale } else { self.y_scale };
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut take = |v: f64| {
            if scale.fwd(v).is_some() {
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

    /// The axis range in data units: the fixed one, or the data's with 4% room (in scale
    /// space); a log axis reaches at least one power of ten, so that it has a tick.
    fn axis(&self, axis_x: bool) -> (f64, f64) {
        let (scale, fixed) = if axis_x {
            (self.x_scale, self.x_range)
        } else {
            (self.y_scale, self.y_range)
        };
        let (lo, hi) = fixed
            .or_else(|| self.data_range(axis_x))
            .unwrap_or(match scale {
                Scale::Linear => (0.0, 1.0),
                Scale::Log => (1.0, 10.0),
            });
        let t = |v: f64| scale.fwd(v).unwrap_or(-300.0).clamp(-300.0, 300.0);
        let (mut l, mut h) = (t(lo.min(hi)), t(hi.max(lo)));
        if h - l <= 1e-9 * (l.abs() + h.abs()).max(1e-300) {
            let d = match scale {
                Scale::Linear if l == 0.0 => 1.0,
                Scale::Linear => l.abs() * 0.1,
                Scale::Log => 0.5,
            };
            l -= d;
            h += d;
        } else if fixed.is_none() {
            let pad = 0.04 * (h - l);
            l -= pad;
            h += pad;
        }
        if scale == Scale::Log && l.ceil() > h.floor() {
            // No power of ten inside: extend the nearer end to one.
            if l - l.floor() < h.ceil() - h {
                l = l.floor();
            } else {
                h = h.ceil();
            }
        }
        (scale.inv(l), scale.inv(h))
    }

    /// Renders the plot as an `<svg>` element with this `id`.
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
        let w = self.width.round().max(100.0) as u32;
        let h = self
            .height
            .max(MARGIN_T + legend_h + 8.0 + MARGIN_B)
            .round()
            .max(100.0) as u32;
        let main_w = (w as f64 - legend_w).round().max(80.0) as u32;

        let (x0, x1) = self.axis(true);
        let (y0, y1) = self.axis(false);
        let (xs, ys) = (self.x_scale, self.y_scale);
        let tbox = [
            xs.fwd(x0).unwrap_or(0.0),
            xs.fwd(x1).unwrap_or(1.0),
            ys.fwd(y0).unwrap_or(0.0),
            ys.fwd(y1).unwrap_or(1.0),
        ];
        let mut svg = String::new();
        let drawn = {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            let x_lin = || RangedCoordf64::from(x0..x1);
            let y_lin = || RangedCoordf64::from(y0..y1);
            let x_log = || (x0..x1).log_scale().with_key_points(log_ticks(x0, x1));
            let y_log = || (y0..y1).log_scale().with_key_points(log_ticks(y0, y1));
            let r = match (self.x_scale, self.y_scale) {
                (Scale::Linear, Scale::Linear) => {
                    self.draw(&root, main_w, (x_lin(), y_lin()), tbox)
                }
                (Scale::Linear, Scale::Log) => self.draw(&root, main_w, (x_lin(), y_log()), tbox),
                (Scale::Log, Scale::Linear) => self.draw(&root, main_w, (x_log(), y_lin()), tbox),
                (Scale::Log, Scale::Log) => self.draw(&root, main_w, (x_log(), y_log()), tbox),
            };
            r.and_then(|()| root.present().map_err(|e| e.to_string()))
        };
        if let Err(e) = drawn {
            // Not expected with a string backend; still a valid, labelled element.
            svg = format!(
                r#"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg"><text x="10" y="20">{}: {}</text></svg>"#,
                esc(&self.title),
                esc(&e)
            );
        }
        // plotters writes one tag per line; the page wants the element compact, with an id,
        // the report's class and an accessible name.
        let svg = svg.trim().replace(">\n", ">").replace("\n<", "<");
        let open = format!(
            r#"<svg id="{}" class="plot" role="img" aria-label="{}" "#,
            esc(id),
            esc(&self.title)
        );
        let svg = svg.replacen("<svg ", &open, 1);
        let head_end = svg.find('>').map_or(0, |i| i + 1);
        format!(
            "{}<title>{}</title>{}",
            &svg[..head_end],
            esc(&self.title),
            &svg[head_end..]
        )
    }

    /// Draws everything onto `root`: the chart in its left `main_w` pixels, the legend right.
    fn draw<X, Y>(
        &self,
        root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
        main_w: u32,
        (x, y): (X, Y),
        tbox: [f64; 4],
    ) -> Result<(), String>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let err = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let (main, _) = root.split_horizontally(main_w);
        let x_ticks = tick_format(self.x_scale, x.key_points(BoldPoints(self.x_labels())));
        let y_ticks = tick_format(self.y_scale, y.key_points(BoldPoints(7)));
        let mut chart = ChartBuilder::on(&main)
            .margin_top(MARGIN_T as u32)
            .margin_left(8)
            .margin_right(14)
            .margin_bottom(4)
            .x_label_area_size(MARGIN_B as u32 - 4)
            .y_label_area_size(58)
            .build_cartesian_2d(x, y)
            .map_err(err)?;
        let x_fmt = |v: &f64| x_ticks(*v);
        let y_fmt = |v: &f64| y_ticks(*v);
        let grid = RGBColor(0xe6, 0xe9, 0xed);
        chart
            .configure_mesh()
            .x_labels(self.x_labels())
            .y_labels(7)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(font(11.0, INK))
            .axis_desc_style(font(12.0, INK))
            .bold_line_style(grid.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .axis_style(RGBColor(0x55, 0x55, 0x55).stroke_width(1))
            .set_all_tick_mark_size(4)
            .draw()
            .map_err(err)?;

        let (xs, ys) = (self.x_scale, self.y_scale);
        // Data point → pixel, in scale space first (None when not drawable).
        let to_px = |tx: f64, ty: f64| chart.backend_coord(&(xs.inv(tx), ys.inv(ty)));
        let pt = |x: f64, y: f64| Some((xs.fwd(x)?, ys.fwd(y)?));
        let inside = |(tx, ty): (f64, f64)| {
            let e = 1e-9 * (tbox[1] - tbox[0]).abs().max((tbox[3] - tbox[2]).abs());
            tx >= tbox[0] - e && tx <= tbox[1] + e && ty >= tbox[2] - e && ty <= tbox[3] + e
        };

        // Heat-map cells and bands under the lines, markers on top.
        for it in &self.items {
            match it {
                Item::Cell {
                    x0,
                    x1,
                    y0,
                    y1,
                    color,
                } => {
                    if let (Some(a), Some(b)) = (pt(*x0, *y0), pt(*x1, *y1)) {
                        let (a, b) = (clamp_box(a, &tbox), clamp_box(b, &tbox));
                        let (a, b) = (to_px(a.0, a.1), to_px(b.0, b.1));
                        // One pixel over to the right and down: no seams between cells.
                        let corners = [
                            (a.0.min(b.0), a.1.min(b.1)),
                            (a.0.max(b.0) + 1, a.1.max(b.1) + 1),
                        ];
                        root.draw(&Rectangle::new(corners, rgb(color).filled()))
                            .map_err(err)?;
                    }
                }
                Item::Band { x, lo, hi, color } => {
                    let n = x.len().min(lo.len()).min(hi.len());
                    let mut run: Vec<((f64, f64), (f64, f64))> = Vec::new();
                    for i in 0..=n {
                        let p = (i < n)
                            .then(|| Some((pt(x[i], lo[i])?, pt(x[i], hi[i])?)))
                            .flatten();
                        match p {
                            Some((a, b)) => run.push((clamp_box(a, &tbox), clamp_box(b, &tbox))),
                            None => {
                                if run.len() >= 2 {
                                    let poly: Vec<(i32, i32)> = run
                                        .iter()
                                        .map(|p| to_px(p.0 .0, p.0 .1))
                                        .chain(run.iter().rev().map(|p| to_px(p.1 .0, p.1 .1)))
                                        .collect();
                                    root.draw(&Polygon::new(poly, rgb(color).mix(0.18).filled()))
                                        .map_err(err)?;
                                }
                                run.clear();
                            }
                        }
                    }
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
                let style = rgb(color).stroke_width(width.round().max(1.0) as u32);
                let t: Vec<Option<(f64, f64)>> = pts.iter().map(|&(x, y)| pt(x, y)).collect();
                for run in clip_runs(&t, &tbox) {
                    let mut p: Vec<(i32, i32)> = run.iter().map(|q| to_px(q.0, q.1)).collect();
                    p.dedup();
                    if p.len() < 2 {
                        continue;
                    }
                    if *dash {
                        root.draw(&DashedPathElement::new(p, 5, 4, style))
                    } else {
                        root.draw(&PathElement::new(p, style))
                    }
                    .map_err(err)?;
                }
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
                if let Some(t) = pt(*x, *y).filter(|t| inside(*t)) {
                    marker(root, to_px(t.0, t.1), rgb(color), *shape, *size).map_err(err)?;
                }
            }
        }

        // Frame (on plotters' axis lines), title, note, legend.
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let frame = [(xr.start - 1, yr.start - 1), (xr.end, yr.end)];
        root.draw(&Rectangle::new(
            frame,
            RGBColor(0x55, 0x55, 0x55).stroke_width(1),
        ))
        .map_err(err)?;
        let title = ("sans-serif", px(13.0))
            .into_font()
            .style(FontStyle::Bold)
            .color(&INK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let c = ((xr.start + xr.end) / 2, 15);
        root.draw(&Text::new(self.title.as_str(), c, title))
            .map_err(err)?;
        if let Some(n) = &self.note {
            let c = ((xr.start + xr.end) / 2, (yr.start + yr.end) / 2);
            let style =
                font(13.0, RGBColor(0x88, 0x88, 0x88)).pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(n.as_str(), c, style)).map_err(err)?;
        }
        let lx = xr.end + 12;
        let mut ly = yr.start + 8;
        for e in &self.legend {
            let c = rgb(&e.color);
            match e.shape {
                None => root
                    .draw(&PathElement::new(
                        vec![(lx, ly), (lx + 18, ly)],
                        c.stroke_width(3),
                    ))
                    .map_err(err)?,
                Some(m) => marker(root, (lx + 9, ly), c, m, 4.5).map_err(err)?,
            }
            let left = Pos::new(HPos::Left, VPos::Center);
            for (k, line) in e.text.lines().enumerate() {
                let style = if k == 0 {
                    font(11.0, INK).pos(left)
                } else {
                    font(10.0, RGBColor(0x55, 0x55, 0x55)).pos(left)
                };
                let y = ly + (LEGEND_SUBROW as i32) * k as i32;
                root.draw(&Text::new(line, (lx + 23, y), style))
                    .map_err(err)?;
            }
            ly += (LEGEND_ROW + LEGEND_SUBROW * e.text.lines().count().saturating_sub(1) as f64)
                as i32;
        }
        Ok(())
    }

    /// How many x ticks plotters may place; an integer axis gets no more than it has whole
    /// numbers, so the ticks land on them.
    fn x_labels(&self) -> usize {
        if self.x_integer && self.x_scale == Scale::Linear {
            let (lo, hi) = self.axis(true);
            ((hi.floor() - lo.ceil() + 1.0).max(1.0) as usize).min(7)
        } else {
            7
        }
    }
}

/// A point in scale space moved into the box `[x0, x1, y0, y1]`.
fn clamp_box((x, y): (f64, f64), b: &[f64; 4]) -> (f64, f64) {
    (x.clamp(b[0], b[1]), y.clamp(b[2], b[3]))
}

/// Runs of a polyline (in scale space; `None` breaks it) clipped to the box: each segment is
/// cut to the part inside (Liang–Barsky), and a run ends where the line leaves the box.
fn clip_runs(pts: &[Option<(f64, f64)>], b: &[f64; 4]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for w in pts.windows(2) {
        let (Some(p), Some(q)) = (w[0], w[1]) else {
            runs.push(std::mem::take(&mut cur));
            continue;
        };
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let mut visible = true;
        for (pk, qk) in [
            (-dx, p.0 - b[0]),
            (dx, b[1] - p.0),
            (-dy, p.1 - b[2]),
            (dy, b[3] - p.1),
        ] {
            if pk == 0.0 {
                if qk < 0.0 {
                    visible = false;
                }
            } else {
                let r = qk / pk;
                if pk < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if !visible || t0 > t1 {
            runs.push(std::mem::take(&mut cur));
            continue;
        }
        let a = (p.0 + t0 * dx, p.1 + t0 * dy);
        let e = (p.0 + t1 * dx, p.1 + t1 * dy);
        if t0 > 0.0 || cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
            cur.push(a);
        }
        cur.push(e);
        if t1 < 1.0 {
            runs.push(std::mem::take(&mut cur));
        }
    }
    runs.push(cur);
    runs.retain(|r| r.len() >= 2);
    runs
}

/// A marker of radius `r` pixels at a pixel position.
fn marker(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    (x, y): (i32, i32),
    c: RGBColor,
    shape: Marker,
    r: f64,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let ri = r.round().max(1.0) as i32;
    match shape {
        Marker::Circle => {
            root.draw(&Circle::new((x, y), ri + 1, WHITE.filled()))?;
            root.draw(&Circle::new((x, y), ri, c.filled()))
        }
        Marker::Ring => root.draw(&Circle::new((x, y), ri, c.stroke_width(2))),
        Marker::Cross => {
            let s = c.stroke_width(2);
            root.draw(&PathElement::new(
                vec![(x - ri, y - ri), (x + ri, y + ri)],
                s,
            ))?;
            root.draw(&PathElement::new(
                vec![(x - ri, y + ri), (x + ri, y - ri)],
                s,
            ))
        }
        Marker::Triangle => {
            let top = (x, y - (r * 1.2).round() as i32);
            let base = y + (r * 0.8).round() as i32;
            let pts = vec![top, (x - ri, base), (x + ri, base)];
            root.draw(&Polygon::new(pts.clone(), c.filled()))?;
            let mut outline = pts;
            outline.push(top);
            root.draw(&PathElement::new(outline, BLACK.stroke_width(1)))
        }
    }
}

/// The tick label function for an axis with these tick values: on linear axes every label
/// gets the decimals the finest tick needs (`0.5, 1.0, 1.5`); log axes use [`fmt_num`].
fn tick_format(scale: Scale, ticks: Vec<f64>) -> impl Fn(f64) -> String {
    let decimals = (0..=6)
        .find(|&d| {
            let k = 10f64.powi(d as i32);
            ticks.iter().all(|t| ((t * k).round() - t * k).abs() < 1e-6)
        })
        .unwrap_or(6);
    let plain = ticks
        .iter()
        .all(|t| *t == 0.0 || (1e-3..1e5).contains(&t.abs()));
    move |v: f64| {
        if scale == Scale::Log || !plain {
            fmt_num(v)
        } else if v.abs() < 1e-12 {
            "0".into()
        } else {
            format!("{v:.decimals$}")
        }
    }
}

/// Ticks of a log axis over `[lo, hi]`: powers of ten (every k-th when there are many), plus
/// 2 and 5 × 10ᵏ when the axis spans less than about two decades.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (l, h) = (lo.log10(), hi.log10());
    if !(l.is_finite() && h.is_finite() && l < h) {
        return Vec::new();
    }
    let (d0, d1) = (l.ceil() as i64, h.floor() as i64);
    let every = (((d1 - d0 + 1).max(0) as f64 / 7.0).ceil() as i64).max(1);
    let mults: &[f64] = if h - l < 2.2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut out = Vec::new();
    for d in l.floor() as i64..=d1 {
        for &m in mults {
            let v = m * 10f64.powi(d as i32);
            let lv = v.log10();
            let skip = m == 1.0 && (d - d0).rem_euclid(every) != 0;
            if lv >= l - 1e-9 && lv <= h + 1e-9 && !skip {
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `(name, value)` attributes of every `<tag ...>` in `svg`.
    fn tags<'a>(svg: &'a str, tag: &str) -> Vec<Vec<(&'a str, &'a str)>> {
        let open = format!("<{tag} ");
        svg.match_indices(&open)
            .map(|(i, _)| {
                let body = &svg[i + open.len()..];
                let body = &body[..body.find('>').unwrap()];
                body.split('"')
                    .collect::<Vec<_>>()
                    .chunks(2)
                    .filter(|c| c.len() == 2)
                    .map(|c| (c[0].trim().trim_end_matches('='), c[1]))
                    .collect()
            })
            .collect()
    }

    fn attr<'a>(t: &[(&'a str, &'a str)], name: &str) -> &'a str {
        t.iter().find(|a| a.0 == name).map_or("", |a| a.1)
    }

    fn points(t: &[(&str, &str)]) -> Vec<(i32, i32)> {
        attr(t, "points")
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    /// The texts of every `<text>` element.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text ")
            .skip(1)
            .map(|t| &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()])
            .collect()
    }

    /// The frame: left, top, right, bottom pixel.
    fn frame(svg: &str) -> (i32, i32, i32, i32) {
        let r = tags(svg, "rect")
            .into_iter()
            .find(|t| attr(t, "fill") == "none")
            .unwrap();
        let n = |k| attr(&r, k).parse::<i32>().unwrap();
        (n("x"), n("y"), n("x") + n("width"), n("y") + n("height"))
    }

    #[test]
    fn log_ticks_are_decades_or_1_2_5() {
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x / y - 1.0).abs() < 1e-12)
        };
        let t = log_ticks(1e-4, 1.0);
        assert!(close(&t, &[1e-4, 1e-3, 1e-2, 0.1, 1.0]), "{t:?}");
        let t = log_ticks(1.0, 10.0);
        assert!(close(&t, &[1.0, 2.0, 5.0, 10.0]), "{t:?}");
        // 0.08..0.6: the short axis gets 0.1, 0.2 and 0.5, nothing outside
        let t = log_ticks(0.08, 0.6);
        assert!(close(&t, &[0.1, 0.2, 0.5]), "{t:?}");
        // 21 decades: every third
        let t = log_ticks(1e-10, 1e10);
        assert_eq!(t.len(), 7, "{t:?}");
        assert!(log_ticks(0.0, 1.0).is_empty() && log_ticks(2.0, 1.0).is_empty());
    }

    #[test]
    fn tick_labels_share_their_decimals() {
        let f = tick_format(Scale::Linear, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        let got: Vec<String> = [-1.0, -0.5, 0.0, 0.5, 1.0].iter().map(|&v| f(v)).collect();
        assert_eq!(got, ["-1.0", "-0.5", "0", "0.5", "1.0"]);
        let f = tick_format(Scale::Linear, vec![0.0, 0.2, 0.4, 0.6000000000000001]);
        assert_eq!(f(0.6000000000000001), "0.6");
        let f = tick_format(Scale::Log, vec![1e-5, 1e-4]);
        assert_eq!(f(1e-5), "1e-5");
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
    fn one_element_with_id_title_and_escaped_text() {
        let mut p = Plot::new("t <&>", "x <&>", "y \"q\"");
        p.line(vec![(0.0, 0.0), (1.0, 1.0)], "#123456", 2.0, false);
        p.legend("a <&>\nsub <&>", "#123456", None);
        p.note("n <&>");
        let s = p.render("p7");
        assert!(
            s.starts_with(r#"<svg id="p7" class="plot" role="img" aria-label="t &lt;&amp;&gt;" "#)
        );
        assert!(s.contains(r#"xmlns="http://www.w3.org/2000/svg""#));
        assert!(s.contains("<title>t &lt;&amp;&gt;</title>"));
        assert!(s.ends_with("</svg>") && !s.contains('\n'));
        assert_eq!(s.matches("<svg").count(), 1);
        let t = texts(&s);
        for want in [
            "t &lt;&amp;&gt;",
            "x &lt;&amp;&gt;",
            "y &quot;q&quot;",
            "a &lt;&amp;&gt;",
            "sub &lt;&amp;&gt;",
            "n &lt;&amp;&gt;",
        ] {
            assert!(t.contains(&want), "{want} not in {t:?}");
        }
        assert!(!s.contains("<&>"));
        // nothing external
        assert_eq!(s.matches("http").count(), 1);
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
            &s[..200]
        );
        let t = texts(&s);
        assert_eq!(t.iter().filter(|t| **t == "second line").count(), 30);
        assert!(t.contains(&"entry 29"));
    }

    #[test]
    fn lines_break_at_undrawable_points_and_clip_to_the_box() {
        // a non-positive point on a log axis breaks the line into single points: nothing drawn
        let mut p = Plot::new("t", "x", "y").y_scale(Scale::Log);
        p.line(
            vec![
                (0.0, 1.0),
                (1.0, 0.0),
                (2.0, 0.1),
                (3.0, f64::NAN),
                (4.0, 1.0),
            ],
            "#123456",
            2.0,
            false,
        );
        p.legend("a", "#123456", None);
        let s = p.render("p1");
        let lines = tags(&s, "polyline");
        let ours: Vec<_> = lines
            .iter()
            .filter(|t| attr(t, "stroke") == "#123456")
            .collect();
        assert_eq!(ours.len(), 1, "only the legend sample");
        assert_eq!(points(ours[0]).len(), 2);

        // a line leaving a fixed box ends on its edge; one crossing it is cut at both edges
        let mut p = Plot::new("t", "x", "y").x_range(0.0, 1.0).y_range(0.0, 1.0);
        p.line(vec![(0.5, 0.5), (2.0, 0.5)], "#ff0000", 2.0, false);
        p.line(vec![(0.5, -1.0), (0.5, 3.0)], "#00ff00", 2.0, false);
        let s = p.render("p2");
        let (l, t, r, b) = frame(&s);
        let red = tags(&s, "polyline")
            .into_iter()
            .find(|t| attr(t, "stroke") == "#FF0000")
            .unwrap();
        let pr = points(&red);
        assert_eq!(pr.len(), 2);
        assert!((pr[0].0 - (l + r) / 2).abs() <= 1, "{pr:?} in {l}..{r}");
        assert!(
            (pr[1].0 - r).abs() <= 1,
            "{pr:?} ends at the right edge {r}"
        );
        let green = tags(&s, "polyline")
            .into_iter()
            .find(|t| attr(t, "stroke") == "#00FF00")
            .unwrap();
        let pg = points(&green);
        assert!(
            (pg[0].1 - b).abs() <= 1 && (pg[1].1 - t).abs() <= 1,
            "{pg:?} {t}..{b}"
        );
    }

    #[test]
    fn clip_runs_cut_segments_at_the_box() {
        let b = [0.0, 1.0, 0.0, 1.0];
        let r = clip_runs(&[Some((-1.0, 0.5)), Some((2.0, 0.5))], &b);
        assert_eq!(r, vec![vec![(0.0, 0.5), (1.0, 0.5)]]);
        // out, back in, a break, then inside
        let r = clip_runs(
            &[
                Some((0.5, 0.5)),
                Some((0.5, 2.0)),
                Some((0.0, 0.0)),
                None,
                Some((0.1, 0.1)),
                Some((0.2, 0.2)),
            ],
            &b,
        );
        assert_eq!(
            r,
            vec![
                vec![(0.5, 0.5), (0.5, 1.0)],
                vec![(0.25, 1.0), (0.0, 0.0)],
                vec![(0.1, 0.1), (0.2, 0.2)]
            ]
        );
        // entirely outside
        assert!(clip_runs(&[Some((2.0, 2.0)), Some((3.0, 2.0))], &b).is_empty());
    }

    #[test]
    fn markers_bands_and_cells() {
        let mut p = Plot::new("t", "x", "y").x_range(0.0, 4.0).y_range(0.0, 4.0);
        p.marker(1.0, 1.0, "#ff0000", Marker::Circle, 4.0);
        p.marker(2.0, 2.0, "#00ff00", Marker::Ring, 6.0);
        p.marker(3.0, 3.0, "#0000ff", Marker::Cross, 4.0);
        p.marker(3.0, 1.0, "#ff00ff", Marker::Triangle, 5.0);
        p.marker(9.0, 1.0, "#abcdef", Marker::Circle, 4.0); // outside: not drawn
        p.band(
            &[0.0, 1.0, 2.0],
            &[1.0, 1.0, 1.0],
            &[2.0, 3.0, 2.0],
            "#112233",
        );
        p.cell(0.0, 2.0, 0.0, 2.0, "#445566");
        p.cell(2.0, 4.0, 0.0, 2.0, "#778899");
        let s = p.render("m");
        let circles = tags(&s, "circle");
        let fill = |c: &str| circles.iter().filter(|t| attr(t, "fill") == c).count();
        // the filled circle has a white rim under it; the ring is a stroke only
        assert_eq!((fill("#FF0000"), fill("#FFFFFF")), (1, 1));
        let ring: Vec<_> = circles
            .iter()
            .filter(|t| attr(t, "stroke") == "#00FF00")
            .collect();
        assert_eq!(ring.len(), 1);
        assert_eq!((attr(ring[0], "fill"), attr(ring[0], "r")), ("none", "6"));
        let lines = tags(&s, "polyline");
        assert_eq!(
            lines
                .iter()
                .filter(|t| attr(t, "stroke") == "#0000FF")
                .count(),
            2
        );
        let polys = tags(&s, "polygon");
        let tri: Vec<_> = polys
            .iter()
            .filter(|t| attr(t, "fill") == "#FF00FF")
            .collect();
        assert_eq!(tri.len(), 1);
        assert_eq!(points(tri[0]).len(), 3);
        assert!(!s.contains("#ABCDEF"));
        // the band: one translucent polygon through 3 + 3 points
        let band: Vec<_> = polys
            .iter()
            .filter(|t| attr(t, "fill") == "#112233")
            .collect();
        assert_eq!(band.len(), 1);
        assert_eq!(attr(band[0], "opacity"), "0.18");
        assert_eq!(points(band[0]).len(), 6);
        // cells overlap by a pixel: no seam between them
        let rects = tags(&s, "rect");
        let cell = |c: &str| {
            let r = rects.iter().find(|t| attr(t, "fill") == c).unwrap();
            let n = |k| attr(r, k).parse::<i32>().unwrap();
            (n("x"), n("x") + n("width"))
        };
        let (a, b) = (cell("#445566"), cell("#778899"));
        assert!(a.1 > b.0 && a.0 < b.0, "{a:?} {b:?}");
    }

    #[test]
    fn axes_get_round_ticks() {
        let labels = |p: &Plot| -> Vec<String> {
            texts(&p.render("a"))
                .into_iter()
                .map(String::from)
                .collect()
        };
        let has = |l: &[String], want: &[&str]| want.iter().all(|w| l.iter().any(|x| x == w));
        // log x over four decades: one tick per decade
        let mut p = Plot::new("t", "x", "y")
            .x_scale(Scale::Log)
            .x_range(1e-4, 1.0);
        p.line(vec![(1e-3, 0.0), (0.1, 1.0)], "#000000", 1.0, false);
        let l = labels(&p);
        assert!(has(&l, &["1e-4", "0.001", "0.01", "0.1", "1"]), "{l:?}");
        // epochs 1..6 on an integer axis: whole numbers only
        let mut p = Plot::new("t", "x", "y").x_integer();
        p.line(
            (1..=6).map(|e| (e as f64, 0.1 * e as f64)).collect(),
            "#000000",
            1.0,
            false,
        );
        let l = labels(&p);
        assert!(has(&l, &["1", "2", "3", "4", "5", "6"]), "{l:?}");
        assert!(!l.iter().any(|x| x == "1.5" || x == "3.5"), "{l:?}");
        // a short log y axis without a power of ten inside reaches one
        let mut p = Plot::new("t", "x", "y").y_scale(Scale::Log);
        p.line(vec![(0.0, 0.13), (1.0, 0.4)], "#000000", 1.0, false);
        let l = labels(&p);
        assert!(has(&l, &["0.1", "0.2"]), "{l:?}");
    }

    #[test]
    fn colours_parse() {
        assert_eq!(rgb("#1f77b4"), RGBColor(0x1f, 0x77, 0xb4));
        assert_eq!(rgb("#fff"), WHITE);
        assert_eq!(rgb("red"), RGBColor(0xd6, 0x27, 0x28));
        assert_eq!(rgb("#zzzzzz"), RGBColor(0x88, 0x88, 0x88));
    }
}
