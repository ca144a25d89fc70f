//! Statistics over seeds and trials: mean and spread, Welch's t, average ranks and the
//! expected best score after k random trials (tuneability).

use super::model::Stat;

/// Mean, sample standard deviation (n − 1; 0 when n < 2), n, min and max of the finite values;
/// None when there is none.
pub fn stat(values: &[f64]) -> Option<Stat> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    // Summed in sorted order, so the statistics are a function of the values alone: two
    // optimizers whose seeds reached the same accuracies in another order get the same mean,
    // bit for bit, and rank as equals rather than by rounding noise.
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let std = if n < 2 {
        0.0
    } else {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    };
    // Rounding noise of equal values (0.85 three times has std ~1e-16) is no spread.
    let std = if std <= 1e-12 * mean.abs() { 0.0 } else { std };
    Some(Stat {
        mean,
        std,
        n,
        min: v.iter().copied().fold(f64::INFINITY, f64::min),
        max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// ln C(n, k).
pub(super) fn ln_choose(n: usize, k: usize) -> f64 {
    (1..=k).map(|j| ((n - k + j) as f64 / j as f64).ln()).sum()
}

/// Expected best score after k = 1..=K trials drawn at random without replacement from the K
/// `scores` (None = diverged/failed, counted as the worst finite score), in the metric's
/// direction: E = Σᵢ v₍ᵢ₎ · C(i−1, k−1) / C(K, k), v sorted from worst to best. Empty when no
/// score is finite.
pub fn tuneability(scores: &[Option<f64>], higher_is_better: bool) -> Vec<f64> {
    tuneability_with_worst(scores, higher_is_better, None)
}

/// [`tuneability`] with diverged/failed trials counted as `worst` (when given and worse than
/// every finite score; else the worst finite score of `scores`).
pub fn tuneability_with_worst(
    scores: &[Option<f64>],
    higher_is_better: bool,
    worst: Option<f64>,
) -> Vec<f64> {
    let finite: Vec<f64> = scores
        .iter()
        .flatten()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if finite.is_empty() {
        return Vec::new();
    }
    let own_worst = if higher_is_better {
        finite.iter().copied().fold(f64::INFINITY, f64::min)
    } else {
        finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    };
    let worst = match worst.filter(|w| w.is_finite()) {
        Some(w) if higher_is_better => w.min(own_worst),
        Some(w) => w.max(own_worst),
        None => own_worst,
    };
    let mut v: Vec<f64> = scores
        .iter()
        .map(|s| s.filter(|x| x.is_finite()).unwrap_or(worst))
        .collect();
    if higher_is_better {
        v.sort_by(|a, b| a.total_cmp(b));
    } else {
        v.sort_by(|a, b| b.total_cmp(a));
    }
    let big_k = v.len();
    // ln C(K, k) and, along i, ln C(i−1, k−1) by their recurrences: O(K²) terms in all, where
    // summing each logarithm afresh took O(K³) (minutes for a few thousand trials).
    let mut ln_denom = 0.0; // ln C(K, 0)
    (1..=big_k)
        .map(|k| {
            ln_denom += ((big_k - k + 1) as f64 / k as f64).ln();
            // ln C(k−1, k−1) = 0; C(i, k−1) = C(i−1, k−1) · i / (i − k + 1).
            let mut ln_num = 0.0;
            let mut e = 0.0;
            for i in k..=big_k {
                e += v[i - 1] * (ln_num - ln_denom).exp();
                ln_num += (i as f64 / (i - k + 1) as f64).ln();
            }
            e
        })
        .collect()
}

/// Welch's t statistic (mean(a) − mean(b)) / √(s_a²/n_a + s_b²/n_b); None when either side has
/// fewer than 2 finite values or both have no spread.
pub fn welch_t(a: &[f64], b: &[f64]) -> Option<f64> {
    let (sa, sb) = (stat(a)?, stat(b)?);
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let se = (sa.std * sa.std / sa.n as f64 + sb.std * sb.std / sb.n as f64).sqrt();
    (se > 0.0).then(|| (sa.mean - sb.mean) / se)
}

/// Ranks (1 = best) of `values` in the metric's direction; equal values share the average of
/// their places, missing ones share the last places. Values within `RANK_TIE` (1e-12) of each other
/// (relative) are equal: a mean computed from other values can differ from an equal one in the
/// last bit, and that is no ranking.
pub fn average_ranks(values: &[Option<f64>], higher_is_better: bool) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_some_and(|v| !v.is_nan()))
        .collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (values[a].unwrap(), values[b].unwrap());
        if higher_is_better {
            y.total_cmp(&x)
        } else {
            x.total_cmp(&y)
        }
    });
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && same(values[order[j + 1]], values[order[i]]) {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = r;
        }
        i = j + 1;
    }
    let m = order.len();
    let missing = values.len() - m;
    if missing > 0 {
        let r = (m + 1 + values.len()) as f64 / 2.0;
        for (k, v) in values.iter().enumerate() {
            if !v.is_some_and(|v| !v.is_nan()) {
                ranks[k] = r;
            }
        }
    }
    ranks
}

/// Relative difference under which two scores rank as equal.
pub const RANK_TIE: f64 = 1e-12;

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= RANK_TIE * a.abs().max(b.abs()),
        _ => false,
    }
}

pub(super) fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error below 1e-13).
pub(super) fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b), by its continued fraction (modified
/// Lentz; Numerical Recipes §6.4), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the
/// fraction converges slowly.
pub(super) fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - inc_beta(b, a, 1.0 - x);
    }
    const TINY: f64 = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..=300 {
        let m = m as f64;
        // Even step.
        let num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        f *= d * c;
        // Odd step.
        let num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = d * c;
        f *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f / a
}

/// P(F > f) for Fisher's F with (d1, d2) degrees of freedom: I_{d2/(d2 + d1 f)}(d2/2, d1/2).
pub fn f_survival(f: f64, d1: f64, d2: f64) -> f64 {
    if !f.is_finite() {
        return if f > 0.0 { 0.0 } else { 1.0 };
    }
    if f <= 0.0 {
        return 1.0;
    }
    inc_beta(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f))
}

/// The interaction test of a two-way layout with replication: `cells[i][j]` holds the
/// observations (seed values) at level i of the first factor and level j of the second.
/// Returns (F, df₁, df₂, p) with F = [(SSE_additive − SSE_full) / df₁] / [SSE_full / df₂],
/// SSE_full the within-cell sum of squares (df₂ = N − ab), SSE_additive the residual of the
/// least-squares fit y = μ + αᵢ + βⱼ (found by backfitting, so unbalanced cells work too;
/// with equal cell sizes it is the textbook SS_AB), df₁ = (a − 1)(b − 1). None when a cell is
/// empty, a factor has one level, or there is no replication (df₂ = 0) or no within-cell
/// spread at all.
pub fn interaction_f(cells: &[Vec<Vec<f64>>]) -> Option<(f64, usize, usize, f64)> {
    let a = cells.len();
    let b = cells.first()?.len();
    if a < 2
        || b < 2
        || cells
            .iter()
            .any(|r| r.len() != b || r.iter().any(|c| c.is_empty()))
    {
        return None;
    }
    let n: usize = cells.iter().flatten().map(Vec::len).sum();
    let df2 = n.checked_sub(a * b).filter(|&d| d > 0)?;
    let df1 = (a - 1) * (b - 1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sse_full: f64 = cells
        .iter()
        .flatten()
        .map(|c| {
            let m = mean(c);
            c.iter().map(|x| (x - m).powi(2)).sum::<f64>()
        })
        .sum();
    let total: f64 = cells.iter().flatten().flatten().sum();
    let mu = total / n as f64;
    let (mut alpha, mut beta) = (vec![0.0; a], vec![0.0; b]);
    for _ in 0..1000 {
        let mut change: f64 = 0.0;
        for i in 0..a {
            let (s, k) = (0..b).fold((0.0, 0usize), |(s, k), j| {
                (
                    s + cells[i][j].iter().map(|y| y - mu - beta[j]).sum::<f64>(),
                    k + cells[i][j].len(),
                )
            });
            let new = s / k as f64;
            change = change.max((new - alpha[i]).abs());
            alpha[i] = new;
        }
        for j in 0..b {
            let (s, k) = (0..a).fold((0.0, 0usize), |(s, k), i| {
                (
                    s + cells[i][j].iter().map(|y| y - mu - alpha[i]).sum::<f64>(),
                    k + cells[i][j].len(),
                )
            });
            let new = s / k as f64;
            change = change.max((new - beta[j]).abs());
            beta[j] = new;
        }
        if change < 1e-14 {
            break;
        }
    }
    let sse_add: f64 = (0..a)
        .flat_map(|i| (0..b).map(move |j| (i, j)))
        .map(|(i, j)| {
            let fit = mu + alpha[i] + beta[j];
            cells[i][j].iter().map(|y| (y - fit).powi(2)).sum::<f64>()
        })
        .sum();
    if sse_full <= 1e-24 * (1.0 + total.abs()) {
        return None;
    }
    let f = ((sse_add - sse_full).max(0.0) / df1 as f64) / (sse_full / df2 as f64);
    Some((f, df1, df2, f_survival(f, df1 as f64, df2 as f64)))
}
