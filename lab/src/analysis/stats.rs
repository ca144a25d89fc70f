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
    (1..=big_k)
        .map(|k| {
            let denom = ln_choose(big_k, k);
            (k..=big_k)
                .map(|i| v[i - 1] * (ln_choose(i - 1, k - 1) - denom).exp())
                .sum()
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
