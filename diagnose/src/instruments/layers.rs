//! Per-parameter readings: gradient and weight norms, the size of the update relative to the
//! weights, the distance travelled from initialisation, symmetry between the units of a weight
//! matrix, and gradient histograms.
//!
//! Series (layer = parameter name, e.g. `0.weight`), on the due steps of the schedule:
//! - `grad_norm`: ‖g‖₂ of the parameter's gradient (the mean-loss gradient of the step, before
//!   clipping or weight decay, which the optimizer applies).
//! - `weight_norm`: ‖θ‖₂ before the step's update.
//! - `update_ratio`: ‖θ_after − θ_before‖₂ / ‖θ_before‖₂ of the step (0/0 → 0; x/0 → ∞ is
//!   written as the plain ‖Δθ‖ so the series stays finite).
//! - `dist_init`: ‖θ − θ₀‖₂ / ‖θ₀‖₂, θ₀ the weights first seen (0/0 → 0; x/0 → ‖θ − θ₀‖).
//! - `identical_units` (weights of 2 or more dimensions; rows = output units, i.e. the first
//!   dimension): the fraction of units whose row equals another unit's row up to 1e-6 relative
//!   (`max_k |a_k − b_k| ≤ 1e-6 · max(‖a‖∞, ‖b‖∞)`; two zero rows are equal).
//!   Computed in O(rows·log rows + rows·cols) by sorting the rows on a random projection and
//!   comparing only rows whose projections are close enough to be equal.
//! - `grad_zero_fraction`: the fraction of exactly-zero gradient entries.
//! - histograms (`what = "gradient"`): counts of log10|g| over [`log_edges`] (−12 … 4 in
//!   steps of 0.5); values beyond the range fall into the first / last bin, exact zeros are
//!   left out (see `grad_zero_fraction`).

use optim::Params;
use rayon::prelude::*;
use train::Probe;

use super::reduce::{sum2, BLOCK};
use super::{Every, Instrument};
use crate::{Histogram, Result, Timeline};

/// Histogram bin edges in log10 units: −12, −11.5, …, 4 ([`LOG_LO`], [`LOG_HI`], [`LOG_STEP`]).
pub fn log_edges() -> Vec<f64> {
    (0..=BINS).map(|i| LOG_LO + LOG_STEP * i as f64).collect()
}

pub const LOG_LO: f64 = -12.0;
pub const LOG_HI: f64 = 4.0;
pub const LOG_STEP: f64 = 0.5;
const BINS: usize = 32;

/// Bins by the bits of |x|: positive f32 bit patterns are ordered like the values, so a table on
/// the top 16 bits gives the bin of a bucket's smallest value, and one comparison with the next
/// threshold (the f32 nearest 10^edge) settles buckets that straddle an edge (a bucket spans a
/// factor of at most 1 + 2⁻⁷, an edge step a factor of √10).
struct LogBins {
    table: Vec<u8>,
    /// Bits of 10^edge for the inner edges 1..BINS.
    thresholds: [u32; BINS],
}

impl LogBins {
    fn new() -> LogBins {
        let mut thresholds = [u32::MAX; BINS];
        for (k, t) in thresholds.iter_mut().enumerate().skip(1) {
            *t = (10f64.powf(LOG_LO + LOG_STEP * k as f64) as f32).to_bits();
        }
        let bin_of = |bits: u32| thresholds[1..].partition_point(|&t| t <= bits);
        let table = (0..1u32 << 15).map(|hi| bin_of(hi << 16) as u8).collect();
        LogBins { table, thresholds }
    }

    #[inline]
    fn bin(&self, abs_bits: u32) -> usize {
        let b = self.table[(abs_bits >> 16) as usize] as usize;
        if b + 1 < BINS && abs_bits >= self.thresholds[b + 1] {
            b + 1
        } else {
            b
        }
    }
}

fn log_bins() -> &'static LogBins {
    static BINS_TABLE: std::sync::OnceLock<LogBins> = std::sync::OnceLock::new();
    BINS_TABLE.get_or_init(LogBins::new)
}

/// Counts of log10|x| of the non-zero entries of `xs` over [`log_edges`] (values beyond the range,
/// infinities and NaNs clamped into the first/last bin), and the number of exact zeros.
/// Blocks of [`BLOCK`] entries are counted in parallel (the counts are exact in any order).
pub fn log_histogram(xs: &[f32]) -> (Vec<u64>, u64) {
    if xs.len() <= BLOCK {
        return log_histogram_block(xs);
    }
    xs.par_chunks(BLOCK).map(log_histogram_block).reduce(
        || (vec![0; BINS], 0),
        |(mut c, z), (d, y)| {
            c.iter_mut().zip(d).for_each(|(c, d)| *c += d);
            (c, z + y)
        },
    )
}

fn log_histogram_block(xs: &[f32]) -> (Vec<u64>, u64) {
    let lb = log_bins();
    let mut counts = vec![0u64; BINS];
    let mut zeros = 0u64;
    for &x in xs {
        let a = x.to_bits() & 0x7FFF_FFFF;
        if a == 0 {
            zeros += 1;
        } else {
            counts[lb.bin(a)] += 1;
        }
    }
    (counts, zeros)
}

/// ‖x‖₂ in f64.
pub(crate) fn norm(x: &[f32]) -> f64 {
    sum2(x, x, |a, _| a * a).sqrt()
}

/// ‖a − b‖₂ in f64.
fn dist(a: &[f32], b: &[f32]) -> f64 {
    sum2(a, b, |x, y| (x - y) * (x - y)).sqrt()
}

fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 {
        num / den
    } else {
        num
    }
}

/// The fraction of the `rows` rows of the row-major `w` (each `w.len() / rows` long) that equal
/// another row up to `rel` relative (`max_k |a_k − b_k| ≤ rel · max(‖a‖∞, ‖b‖∞)`).
pub fn identical_units(w: &[f32], rows: usize, rel: f64) -> f64 {
    if rows < 2 || w.is_empty() || !w.len().is_multiple_of(rows) {
        return 0.0;
    }
    let cols = w.len() / rows;
    let row = |i: usize| &w[i * cols..(i + 1) * cols];
    // A fixed projection with coefficients in [1, 2): equal rows have (nearly) equal keys.
    let coef: Vec<f32> = (0..cols)
        .map(|k| {
            let mut h = (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 31;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 29;
            (1.0 + (h >> 11) as f64 / (1u64 << 53) as f64) as f32
        })
        .collect();
    let inf: Vec<f64> = (0..rows)
        .map(|i| row(i).iter().fold(0.0f32, |m, &x| m.max(x.abs())) as f64)
        .collect();
    let keys: Vec<f64> = (0..rows)
        .map(|i| sum2(row(i), &coef, |x, c| x * c))
        .collect();
    let mut order: Vec<usize> = (0..rows).collect();
    order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    let equal = |a: usize, b: usize| {
        let tol = rel * inf[a].max(inf[b]);
        row(a)
            .iter()
            .zip(row(b))
            .all(|(&x, &y)| ((x as f64) - (y as f64)).abs() <= tol)
    };
    // Rows that are equal have keys within 2·cols·tol (|Σ c_k d_k| ≤ 2 Σ |d_k|), plus rounding.
    let window = |a: usize, b: usize| {
        let tol = rel * inf[a].max(inf[b]);
        2.0 * cols as f64 * tol + 1e-12 * (keys[a].abs() + keys[b].abs()) + f64::MIN_POSITIVE
    };
    let mut marked = vec![false; rows];
    for p in 0..rows {
        let a = order[p];
        if marked[a] {
            continue;
        }
        let mut found = None;
        for &b in order[p + 1..].iter() {
            if keys[b] - keys[a] > window(a, b) {
                break;
            }
            if equal(a, b) {
                found = Some(b);
                break;
            }
        }
        if found.is_none() {
            for &b in order[..p].iter().rev() {
                if keys[a] - keys[b] > window(a, b) {
                    break;
                }
                if equal(a, b) {
                    found = Some(b);
                    break;
                }
            }
        }
        if let Some(b) = found {
            marked[a] = true;
            marked[b] = true;
        }
    }
    marked.iter().filter(|&&m| m).count() as f64 / rows as f64
}

/// Per-parameter gradient/weight statistics (see the module docs).
pub struct Layers {
    pub every: Every,
    /// Whether to record gradient histograms.
    pub histograms: bool,
    /// Skip `identical_units` for weights with more elements than this (0: never skip).
    pub identical_max_elems: usize,
    /// θ₀ and ‖θ₀‖ per parameter.
    init: Option<(Vec<Vec<f32>>, Vec<f64>)>,
    /// The due step whose pre-update weights `before` holds, and their norms.
    before_step: Option<u64>,
    before: Vec<Vec<f32>>,
    before_norms: Vec<f64>,
}

impl Layers {
    pub fn new(every: Every) -> Layers {
        Layers {
            every,
            histograms: true,
            identical_max_elems: 0,
            init: None,
            before_step: None,
            before: Vec::new(),
            before_norms: Vec::new(),
        }
    }

    /// Economy: every 50 steps.
    pub fn economy() -> Layers {
        Layers::new(Every(50))
    }

    /// Full: every 5 steps.
    pub fn full() -> Layers {
        Layers::new(Every(5))
    }
}

impl Instrument for Layers {
    fn name(&self) -> &'static str {
        "layers"
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        let m = &*p.model;
        let n = Params::<f32>::count(m);
        if self.init.is_none() {
            let w0 = m.snapshot();
            let norms = w0.iter().map(|w| norm(w)).collect();
            self.init = Some((w0, norms));
        }
        if !self.every.due(p.step) {
            return Ok(());
        }
        let (init, init_norms) = self.init.as_ref().expect("set above");
        self.before.resize_with(n, Vec::new);
        self.before_norms.resize(n, 0.0);
        let step = p.step;
        // `i` indexes the model's parameters, θ₀, its norms and the saved weights alike.
        #[allow(clippy::needless_range_loop)]
        for i in 0..n {
            let name = Params::<f32>::name(m, i);
            let w = Params::<f32>::value(m, i);
            let wn = norm(w);
            t.push("weight_norm", Some(name), step, wn);
            if let Some(w0) = init.get(i).filter(|w0| w0.len() == w.len()) {
                t.push(
                    "dist_init",
                    Some(name),
                    step,
                    ratio(dist(w, w0), init_norms[i]),
                );
            }
            self.before[i].clear();
            self.before[i].extend_from_slice(w);
            self.before_norms[i] = wn;
            let shape = Params::<f32>::shape(m, i);
            if shape.len() >= 2
                && (self.identical_max_elems == 0 || w.len() <= self.identical_max_elems)
            {
                t.push(
                    "identical_units",
                    Some(name),
                    step,
                    identical_units(w, shape[0], 1e-6),
                );
            }
            if let Some(g) = Params::<f32>::grad(m, i) {
                t.push("grad_norm", Some(name), step, norm(g));
                let (counts, zeros) = log_histogram(g);
                t.push(
                    "grad_zero_fraction",
                    Some(name),
                    step,
                    zeros as f64 / g.len().max(1) as f64,
                );
                if self.histograms {
                    t.histograms.push(Histogram {
                        step,
                        what: "gradient".into(),
                        layer: name.to_string(),
                        edges: log_edges(),
                        counts,
                    });
                }
            }
        }
        self.before_step = Some(step);
        Ok(())
    }

    fn after_update(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> Result<()> {
        if self.before_step.take() != Some(p.step) {
            return Ok(());
        }
        let step = p.step;
        let m = &*p.model;
        for (i, w0) in self.before.iter().enumerate().take(Params::<f32>::count(m)) {
            let w = Params::<f32>::value(m, i);
            if w.len() == w0.len() {
                t.push(
                    "update_ratio",
                    Some(Params::<f32>::name(m, i)),
                    step,
                    ratio(dist(w, w0), self.before_norms[i]),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_rows() {
        // Rows 0 and 2 equal, row 3 equal to row 1 up to 1e-8 relative, row 4 unique.
        let w = [
            1.0,
            2.0,
            3.0, //
            0.5,
            -1.0,
            4.0, //
            1.0,
            2.0,
            3.0, //
            0.5,
            -1.0,
            4.000_000_1, //
            7.0,
            0.0,
            0.0,
        ];
        assert_eq!(identical_units(&w, 5, 1e-6), 0.8);
        assert_eq!(identical_units(&[0.0; 12], 4, 1e-6), 1.0);
        assert_eq!(identical_units(&[1.0, 2.0, 3.0, 4.0], 4, 1e-6), 0.0);
        // Brute force on a random-ish matrix with planted duplicates.
        let rows = 60;
        let cols = 7;
        let mut w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5)
            .collect();
        for (dst, src) in [(5, 40), (17, 3), (59, 3), (20, 21)] {
            let r: Vec<f32> = w[src * cols..(src + 1) * cols].to_vec();
            w[dst * cols..(dst + 1) * cols].copy_from_slice(&r);
        }
        let brute = (0..rows)
            .filter(|&a| {
                (0..rows).any(|b| b != a && (0..cols).all(|k| w[a * cols + k] == w[b * cols + k]))
            })
            .count() as f64
            / rows as f64;
        assert_eq!(brute, 7.0 / 60.0);
        assert_eq!(identical_units(&w, rows, 1e-6), brute);
    }

    #[test]
    fn histogram_bins() {
        let (c, z) = log_histogram(&[0.0, 1.0, -1.0, 1e-3, 1e-20, 1e9, 0.0]);
        assert_eq!(z, 2);
        assert_eq!(c.len(), 32);
        assert_eq!(log_edges().len(), 33);
        assert_eq!(c[24], 2); // log10 1 = 0 → bin (0 − (−12)) / 0.5 = 24
        assert_eq!(c[18], 1); // −3 → 18
        assert_eq!(c[0], 1); // clamped
        assert_eq!(c[31], 1); // clamped
                              // Agrees with floor((log10|x| + 12) / 0.5) away from the edges.
        let mut x = 1.3e-13f64;
        while x < 1e5 {
            for v in [x as f32, -(x as f32)] {
                let (c, _) = log_histogram(&[v]);
                let want = (((x.log10() + 12.0) / 0.5).floor().max(0.0) as usize).min(31);
                assert_eq!(c[want], 1, "{x}");
            }
            x *= 1.0137;
        }
        // Exactly at an edge: 10^-3 (as f32) opens bin 18.
        assert_eq!(log_histogram(&[1e-3]).0[18], 1);
        assert_eq!(log_histogram(&[f32::INFINITY, f32::NAN]).0[31], 2);
    }
}
