//! Synthetic datasets, each a pure function of its arguments and seed. Examples are shuffled
//! (so any prefix is a fair sample) and classes are balanced: class `c` gets `n / k` examples,
//! plus one for the first `n % k` classes.

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};
use crate::memory;
use crate::rng::{normal, permutation, rng, uniform, DataRng};

/// Labels `0..k` balanced over `n` examples, in class order.
fn balanced_labels(n: usize, k: usize) -> Vec<u32> {
    (0..k)
        .flat_map(|c| std::iter::repeat_n(c as u32, n / k + usize::from(c < n % k)))
        .collect()
}

/// Shuffles rows of `x` (width `f`) and `labels` together.
fn shuffled(
    name: String,
    x: Vec<f32>,
    f: usize,
    labels: Vec<u32>,
    k: usize,
    r: &mut DataRng,
) -> Result<Dataset> {
    let d = Dataset::new(
        name,
        x,
        vec![f],
        Targets::Classes {
            labels,
            num_classes: k,
        },
    )?;
    let mut order = vec![0; d.len()];
    permutation(r, &mut order);
    Ok(d.subset(&order))
}

fn check_n(n: usize, min: usize) -> Result<()> {
    if n < min {
        return Err(DataError::arg(
            "n",
            n,
            format!("need at least {min} examples"),
        ));
    }
    Ok(())
}

/// The largest noise or spread a generator takes: far beyond any use, and small enough that
/// every generated value stays finite as an f32 (a normal draw is below 40 in magnitude).
pub const MAX_SCALE: f64 = 1e30;

fn check_scale(name: &'static str, v: f64) -> Result<()> {
    if !(0.0..=MAX_SCALE).contains(&v) {
        return Err(DataError::arg(
            name,
            v,
            format!("must be finite, >= 0 and at most {MAX_SCALE:e}"),
        ));
    }
    Ok(())
}

fn check_noise(noise: f64) -> Result<()> {
    check_scale("noise", noise)
}

/// Checks that `n` examples of `per_example` f32 values (and `weights` f64 parameters of the
/// generator) can be allocated: the counts do not overflow and, with the shuffled copy, fit in
/// memory ([`crate::memory`]).
fn check_size(generator: &str, n: usize, per_example: usize, weights: usize) -> Result<()> {
    let bytes = n
        .checked_mul(per_example)
        .and_then(|v| v.checked_mul(2 * 4))
        .and_then(|b| b.checked_add(weights.checked_mul(8)?))
        .ok_or_else(|| {
            DataError::arg(
                "n",
                n,
                format!("{n} examples of {per_example} values overflow the address space"),
            )
        })?;
    memory::check(
        generator,
        &format!("{n} examples of {per_example} values"),
        bytes as u64,
    )
}

/// Two interleaved spirals in 2-D (classes 0 and 1), each 1.5 turns from the origin out to
/// radius 1, plus Gaussian noise of standard deviation `noise`.
pub fn two_spirals(n: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check_n(n, 2)?;
    check_noise(noise)?;
    check_size("two_spirals", n, 2, 0)?;
    let mut r = rng(seed, 0);
    let labels = balanced_labels(n, 2);
    let mut x = Vec::with_capacity(2 * n);
    for &c in &labels {
        let t = uniform(&mut r, 0.0, 1.0).sqrt(); // uniform density along the arc
        let angle = 3.0 * std::f64::consts::PI * t + std::f64::consts::PI * c as f64;
        x.push((t * angle.cos() + noise * normal(&mut r)) as f32);
        x.push((t * angle.sin() + noise * normal(&mut r)) as f32);
    }
    shuffled(
        format!("two_spirals(n={n}, noise={noise}, seed={seed})"),
        x,
        2,
        labels,
        2,
        &mut r,
    )
}

/// Two interleaving half circles (scikit-learn's `make_moons`): class 0 on the upper unit
/// half circle, class 1 on the lower one shifted to `(1, 0.5)`; Gaussian noise `noise`.
pub fn moons(n: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check_n(n, 2)?;
    check_noise(noise)?;
    check_size("moons", n, 2, 0)?;
    let mut r = rng(seed, 0);
    let labels = balanced_labels(n, 2);
    let mut x = Vec::with_capacity(2 * n);
    for &c in &labels {
        let th = uniform(&mut r, 0.0, std::f64::consts::PI);
        let (px, py) = if c == 0 {
            (th.cos(), th.sin())
        } else {
            (1.0 - th.cos(), 0.5 - th.sin())
        };
        x.push((px + noise * normal(&mut r)) as f32);
        x.push((py + noise * normal(&mut r)) as f32);
    }
    shuffled(
        format!("moons(n={n}, noise={noise}, seed={seed})"),
        x,
        2,
        labels,
        2,
        &mut r,
    )
}

/// Isotropic Gaussian blobs: `centers` centres drawn uniformly in `[-10, 10]^dim` (as
/// scikit-learn's `make_blobs`), each example its class centre plus noise of standard deviation
/// `std`.
pub fn blobs(n: usize, centers: usize, dim: usize, std: f64, seed: u64) -> Result<Dataset> {
    if centers == 0 {
        return Err(DataError::arg("centers", centers, "need at least one"));
    }
    if dim == 0 {
        return Err(DataError::arg("dim", dim, "need at least one"));
    }
    check_n(n, centers)?;
    check_scale("std", std)?;
    let centres = centers
        .checked_mul(dim)
        .ok_or_else(|| DataError::arg("centers", centers, format!("× dim {dim} overflows")))?;
    check_size("blobs", n, dim, centres)?;
    let mut r = rng(seed, 0);
    let mu: Vec<f64> = (0..centers * dim)
        .map(|_| uniform(&mut r, -10.0, 10.0))
        .collect();
    let labels = balanced_labels(n, centers);
    let mut x = Vec::with_capacity(n * dim);
    for &c in &labels {
        let m = &mu[c as usize * dim..(c as usize + 1) * dim];
        x.extend(m.iter().map(|&m| (m + std * normal(&mut r)) as f32));
    }
    shuffled(
        format!("blobs(n={n}, centers={centers}, dim={dim}, std={std}, seed={seed})"),
        x,
        dim,
        labels,
        centers,
        &mut r,
    )
}

/// Teacher–student regression: inputs `x ~ N(0, I_dim_in)`, targets
/// `y = W2 tanh(W1 x + b1) + b2 + noise·ε` from a random teacher MLP with `hidden` tanh units:
/// `W1 ~ N(0, 1/dim_in)`, `W2 ~ N(0, 1/hidden)`, `b1, b2 ~ N(0, 0.1²)`, `ε ~ N(0, 1)`.
pub fn teacher_student(
    n: usize,
    dim_in: usize,
    hidden: usize,
    dim_out: usize,
    noise: f64,
    seed: u64,
) -> Result<Dataset> {
    check_n(n, 1)?;
    check_noise(noise)?;
    for (name, v) in [("dim_in", dim_in), ("hidden", hidden), ("dim_out", dim_out)] {
        if v == 0 {
            return Err(DataError::arg(name, v, "must be at least 1"));
        }
    }
    let weights = hidden
        .checked_mul(dim_in)
        .and_then(|w1| w1.checked_add(hidden.checked_mul(dim_out)?))
        .and_then(|w| w.checked_add(hidden)?.checked_add(dim_out))
        .ok_or_else(|| {
            DataError::arg(
                "hidden",
                hidden,
                format!("a teacher of {dim_in} → {hidden} → {dim_out} overflows"),
            )
        })?;
    let per_example = dim_in.checked_add(dim_out).ok_or_else(|| {
        DataError::arg("dim_in", dim_in, format!("+ dim_out {dim_out} overflows"))
    })?;
    check_size("teacher_student", n, per_example, weights)?;
    let mut r = rng(seed, 0);
    let s1 = (1.0 / dim_in as f64).sqrt();
    let s2 = (1.0 / hidden as f64).sqrt();
    let w1: Vec<f64> = (0..hidden * dim_in).map(|_| s1 * normal(&mut r)).collect();
    let b1: Vec<f64> = (0..hidden).map(|_| 0.1 * normal(&mut r)).collect();
    let w2: Vec<f64> = (0..dim_out * hidden).map(|_| s2 * normal(&mut r)).collect();
    let b2: Vec<f64> = (0..dim_out).map(|_| 0.1 * normal(&mut r)).collect();
    let mut x = Vec::with_capacity(n * dim_in);
    let mut y = Vec::with_capacity(n * dim_out);
    let mut xi = vec![0.0f64; dim_in];
    let mut h = vec![0.0f64; hidden];
    for _ in 0..n {
        xi.iter_mut().for_each(|v| *v = normal(&mut r));
        for (j, hj) in h.iter_mut().enumerate() {
            let row = &w1[j * dim_in..(j + 1) * dim_in];
            *hj = (row.iter().zip(&xi).map(|(w, v)| w * v).sum::<f64>() + b1[j]).tanh();
        }
        for k in 0..dim_out {
            let row = &w2[k * hidden..(k + 1) * hidden];
            let o = row.iter().zip(&h).map(|(w, v)| w * v).sum::<f64>() + b2[k];
            y.push((o + noise * normal(&mut r)) as f32);
        }
        x.extend(xi.iter().map(|&v| v as f32));
    }
    Dataset::new(
        format!(
            "teacher_student(n={n}, dim_in={dim_in}, hidden={hidden}, dim_out={dim_out}, noise={noise}, seed={seed})"
        ),
        x,
        vec![dim_in],
        Targets::Values {
            values: y,
            dim: dim_out,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed() {
        type Gen = fn(u64) -> Dataset;
        let gens: [Gen; 4] = [
            |s| two_spirals(101, 0.05, s).unwrap(),
            |s| moons(101, 0.1, s).unwrap(),
            |s| blobs(101, 3, 4, 1.0, s).unwrap(),
            |s| teacher_student(50, 5, 8, 2, 0.01, s).unwrap(),
        ];
        for g in gens {
            let a = g(1);
            assert_eq!(a, g(1), "{}", a.name);
            let b = g(2);
            assert_ne!(a.x, b.x, "{}", a.name);
        }
    }

    #[test]
    fn shapes_and_balance() {
        let s = two_spirals(101, 0.0, 3).unwrap();
        assert_eq!((s.len(), s.shape.clone()), (101, vec![2]));
        assert_eq!(s.class_counts().unwrap(), vec![51, 50]);
        // Noise-free spirals lie in the unit disc, class 1 is class 0 rotated by π.
        assert!(s.x.chunks(2).all(|p| p[0].hypot(p[1]) <= 1.0 + 1e-6));
        let m = moons(200, 0.0, 3).unwrap();
        assert_eq!(m.class_counts().unwrap(), vec![100, 100]);
        for (p, &c) in m.x.chunks(2).zip(m.labels().unwrap()) {
            let (cx, cy) = if c == 0 { (0.0, 0.0) } else { (1.0, 0.5) };
            assert!(((p[0] - cx).hypot(p[1] - cy) - 1.0).abs() < 1e-5);
        }
        let b = blobs(100, 3, 5, 0.5, 3).unwrap();
        assert_eq!((b.len(), b.features()), (100, 5));
        assert_eq!(b.class_counts().unwrap(), vec![34, 33, 33]);
        // Labels are shuffled: not in class order.
        assert!(b.labels().unwrap().windows(2).any(|w| w[0] > w[1]));
        let t = teacher_student(64, 6, 10, 3, 0.0, 3).unwrap();
        assert_eq!((t.len(), t.features()), (64, 6));
        assert!(matches!(t.targets, Targets::Values { dim: 3, ref values } if values.len() == 192));
    }

    #[test]
    fn blobs_cluster_and_teacher_is_a_function() {
        // With small std every example is nearest its own class centre (class means).
        let b = blobs(300, 4, 3, 0.1, 9).unwrap();
        let mut means = [[0.0f64; 3]; 4];
        for (p, &c) in b.x.chunks(3).zip(b.labels().unwrap()) {
            for k in 0..3 {
                means[c as usize][k] += p[k] as f64 / 75.0;
            }
        }
        for (p, &c) in b.x.chunks(3).zip(b.labels().unwrap()) {
            let d = |m: &[f64; 3]| (0..3).map(|k| (p[k] as f64 - m[k]).powi(2)).sum::<f64>();
            let nearest = (0..4)
                .min_by(|&i, &j| d(&means[i]).total_cmp(&d(&means[j])))
                .unwrap();
            assert_eq!(nearest, c as usize);
        }
        // Noise-free teacher targets are bounded by |b2| + sum|W2| and vary with x.
        let t = teacher_student(100, 4, 16, 1, 0.0, 5).unwrap();
        let Targets::Values { values, .. } = &t.targets else {
            unreachable!()
        };
        let mean = values.iter().sum::<f32>() / 100.0;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 100.0;
        assert!(var > 1e-3 && values.iter().all(|v| v.abs() < 20.0), "{var}");
    }

    /// Generators never produce a non-finite value: extreme arguments are errors, everything
    /// accepted is finite (Dataset::new checks it too).
    #[test]
    fn synthetic_generators_never_produce_non_finite_values() {
        for noise in [0.0, 1e-30, 1.0, 1e6, 1e20, MAX_SCALE] {
            for d in [
                two_spirals(64, noise, 1),
                moons(64, noise, 1),
                blobs(64, 3, 4, noise, 1),
                teacher_student(64, 5, 7, 2, noise, 1),
            ] {
                let d = d.unwrap();
                assert!(d.x.iter().all(|v| v.is_finite()), "{}", d.name);
                if let Targets::Values { values, .. } = &d.targets {
                    assert!(values.iter().all(|v| v.is_finite()), "{}", d.name);
                }
            }
        }
        for noise in [1e31, 1e300, f64::INFINITY, f64::NAN, -0.5] {
            assert!(two_spirals(8, noise, 0).is_err(), "{noise}");
            assert!(moons(8, noise, 0).is_err(), "{noise}");
            assert!(blobs(8, 2, 2, noise, 0).is_err(), "{noise}");
            assert!(teacher_student(8, 2, 2, 2, noise, 0).is_err(), "{noise}");
        }
        let e = moons(8, 1e300, 0).unwrap_err();
        assert!(e.to_string().contains("at most 1e30"), "{e}");
        // Sizes that overflow are argument errors, not capacity-overflow panics.
        let e = blobs(usize::MAX / 2, 2, usize::MAX / 4, 1.0, 0).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
        let e = teacher_student(4, usize::MAX / 2, usize::MAX / 2, 1, 0.0, 0).unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
        let e = two_spirals(usize::MAX / 4, 0.1, 0).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
    }

    #[test]
    fn bad_arguments() {
        assert!(two_spirals(1, 0.1, 0)
            .unwrap_err()
            .to_string()
            .contains("n = 1"));
        assert!(moons(10, -1.0, 0)
            .unwrap_err()
            .to_string()
            .contains("noise = -1"));
        assert!(blobs(10, 0, 2, 1.0, 0)
            .unwrap_err()
            .to_string()
            .contains("centers = 0"));
        assert!(teacher_student(10, 2, 0, 1, 0.0, 0)
            .unwrap_err()
            .to_string()
            .contains("hidden = 0"));
    }
}
