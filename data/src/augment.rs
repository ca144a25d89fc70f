//! Data augmentation of training batches of image-shaped examples `[C, H, W]`.
//!
//! Per example, in this order: horizontal flip with probability `flip_p`; rotation about the
//! image centre by an angle uniform in `±rotate_deg` (bilinear, outside pixels = `fill`); shift
//! by whole pixels uniform in `-shift..=shift` on each axis (vacated pixels = `fill`); additive
//! Gaussian noise of standard deviation `noise_std`. Every draw comes from ChaCha8 seeded by
//! `(seed, epoch)` on stream `step`, so a batch's augmentation is a pure function of
//! `(seed, epoch, step)` and a resumed run repeats it. Apply it to the training split only, and
//! before standardisation when `fill` is meant as the background (0 for MNIST-style images).

use crate::error::{DataError, Result};
use crate::loader::Batch;
use crate::rng::{normal, rng, uniform, DataRng};
use rand::Rng;

/// Which augmentations to apply, and how strongly. `Default` applies none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentConfig {
    /// Standard deviation of additive Gaussian noise (0 = off).
    pub noise_std: f32,
    /// Largest rotation in degrees, either way (0 = off).
    pub rotate_deg: f32,
    /// Largest shift in pixels along each axis (0 = off).
    pub shift: usize,
    /// Probability of a horizontal flip (0 = off).
    pub flip_p: f64,
    /// Value of pixels moved in from outside the image.
    pub fill: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            noise_std: 0.0,
            rotate_deg: 0.0,
            shift: 0,
            flip_p: 0.0,
            fill: 0.0,
        }
    }
}

impl AugmentConfig {
    fn geometric(&self) -> bool {
        self.rotate_deg > 0.0 || self.shift > 0 || self.flip_p > 0.0
    }
}

/// Applies an [`AugmentConfig`] to batches in place; holds one example of scratch space.
#[derive(Debug, Clone)]
pub struct Augmenter {
    config: AugmentConfig,
    seed: u64,
    scratch: Vec<f32>,
}

impl Augmenter {
    /// Checks the configuration (finite, non-negative, `flip_p` in [0, 1]).
    pub fn new(config: AugmentConfig, seed: u64) -> Result<Augmenter> {
        if !(config.noise_std >= 0.0 && config.noise_std.is_finite()) {
            return Err(DataError::arg(
                "noise_std",
                config.noise_std,
                "must be finite and >= 0",
            ));
        }
        if !(config.rotate_deg >= 0.0 && config.rotate_deg <= 180.0) {
            return Err(DataError::arg(
                "rotate_deg",
                config.rotate_deg,
                "must be in [0, 180]",
            ));
        }
        if !(0.0..=1.0).contains(&config.flip_p) {
            return Err(DataError::arg("flip_p", config.flip_p, "must be in [0, 1]"));
        }
        Ok(Augmenter {
            config,
            seed,
            scratch: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// Augments every example of `batch` in place, with randomness determined by
    /// `(seed, epoch, step)`. Geometric transforms need examples of shape `[C, H, W]`.
    pub fn apply(&mut self, batch: &mut Batch, epoch: u64, step: u64) -> Result<()> {
        let c = &self.config;
        let (ch, h, w) = match batch.shape.as_slice() {
            &[ch, h, w] => (ch, h, w),
            s if c.geometric() => {
                return Err(DataError::shape(
                    "augmentation",
                    format!("rotation, shift and flip need examples of shape [C, H, W], the batch has {s:?}"),
                ))
            }
            s => (1, 1, s.iter().product()),
        };
        let f = ch * h * w;
        if self.scratch.len() != f {
            self.scratch.resize(f, 0.0);
        }
        let mut r = rng(mix(self.seed, epoch), step);
        for ex in batch.x.chunks_exact_mut(f) {
            if c.flip_p > 0.0 && r.gen::<f64>() < c.flip_p {
                flip_h(ex, ch, h, w);
            }
            if c.rotate_deg > 0.0 {
                let deg = uniform(&mut r, -c.rotate_deg as f64, c.rotate_deg as f64);
                self.scratch.copy_from_slice(ex);
                rotate(&self.scratch, ex, ch, h, w, deg.to_radians(), c.fill);
            }
            if c.shift > 0 {
                let k = c.shift as i64;
                let dy = r.gen_range(-k..=k);
                let dx = r.gen_range(-k..=k);
                self.scratch.copy_from_slice(ex);
                shift(&self.scratch, ex, ch, h, w, dy, dx, c.fill);
            }
            if c.noise_std > 0.0 {
                add_noise(ex, c.noise_std, &mut r);
            }
        }
        Ok(())
    }
}

/// SplitMix64 finaliser of `seed` and `epoch`: the per-epoch seed.
fn mix(seed: u64, epoch: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mirrors every row of every channel.
pub fn flip_h(x: &mut [f32], ch: usize, h: usize, w: usize) {
    for row in x[..ch * h * w].chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Rotates `src` by `angle` radians about the centre into `dst` (bilinear; outside = `fill`).
pub fn rotate(src: &[f32], dst: &mut [f32], ch: usize, h: usize, w: usize, angle: f64, fill: f32) {
    let (s, c) = angle.sin_cos();
    let cy = (h as f64 - 1.0) / 2.0;
    let cx = (w as f64 - 1.0) / 2.0;
    for k in 0..ch {
        let plane = &src[k * h * w..(k + 1) * h * w];
        let at = |y: i64, x: i64| -> f32 {
            if y < 0 || x < 0 || y >= h as i64 || x >= w as i64 {
                fill
            } else {
                plane[y as usize * w + x as usize]
            }
        };
        for i in 0..h {
            for j in 0..w {
                let (yo, xo) = (i as f64 - cy, j as f64 - cx);
                // Inverse map: the source point that lands on (i, j).
                let sy = c * yo - s * xo + cy;
                let sx = s * yo + c * xo + cx;
                let (y0, x0) = (sy.floor(), sx.floor());
                let (fy, fx) = ((sy - y0) as f32, (sx - x0) as f32);
                let (y0, x0) = (y0 as i64, x0 as i64);
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
                let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
                let v = if fy == 0.0 {
                    top
                } else {
                    top * (1.0 - fy) + bottom * fy
                };
                dst[k * h * w + i * w + j] = v;
            }
        }
    }
}

/// Shifts `src` by `dy` rows and `dx` columns into `dst` (vacated pixels = `fill`).
#[allow(clippy::too_many_arguments)]
pub fn shift(
    src: &[f32],
    dst: &mut [f32],
    ch: usize,
    h: usize,
    w: usize,
    dy: i64,
    dx: i64,
    fill: f32,
) {
    for k in 0..ch {
        for i in 0..h {
            let si = i as i64 - dy;
            let out = &mut dst[k * h * w + i * w..k * h * w + (i + 1) * w];
            if si < 0 || si >= h as i64 {
                out.fill(fill);
                continue;
            }
            let row = &src[k * h * w + si as usize * w..k * h * w + (si as usize + 1) * w];
            for (j, o) in out.iter_mut().enumerate() {
                let sj = j as i64 - dx;
                *o = if sj < 0 || sj >= w as i64 {
                    fill
                } else {
                    row[sj as usize]
                };
            }
        }
    }
}

fn add_noise(x: &mut [f32], std: f32, r: &mut DataRng) {
    for v in x {
        *v += std * normal(r) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Dataset, Targets};

    fn images(n: usize, ch: usize, h: usize, w: usize) -> Dataset {
        // Smooth-ish content inside a zero border of 2 pixels.
        let mut x = vec![0.0f32; n * ch * h * w];
        for (e, ex) in x.chunks_exact_mut(ch * h * w).enumerate() {
            for k in 0..ch {
                for i in 2..h - 2 {
                    for j in 2..w - 2 {
                        ex[k * h * w + i * w + j] = ((e + 1) * (i * 3 + j + k)) as f32 / 50.0;
                    }
                }
            }
        }
        Dataset::new(
            "img",
            x,
            vec![ch, h, w],
            Targets::Classes {
                labels: vec![0; n],
                num_classes: 1,
            },
        )
        .unwrap()
    }

    fn batch_of(d: &Dataset) -> Batch {
        let mut b = Batch::for_dataset(d, d.len());
        b.fill(d, &(0..d.len()).collect::<Vec<_>>());
        b
    }

    fn aug(config: AugmentConfig) -> Augmenter {
        Augmenter::new(config, 42).unwrap()
    }

    #[test]
    fn flip_twice_is_identity() {
        let d = images(3, 2, 7, 9);
        let mut b = batch_of(&d);
        let mut a = aug(AugmentConfig {
            flip_p: 1.0,
            ..Default::default()
        });
        a.apply(&mut b, 0, 0).unwrap();
        assert_ne!(b.x, d.x);
        // The first row of example 0, channel 0, row 2 is mirrored.
        assert_eq!(b.x[2 * 9 + 6], d.x[2 * 9 + 2]);
        a.apply(&mut b, 5, 9).unwrap();
        assert_eq!(b.x, d.x);
    }

    #[test]
    fn rotation() {
        let d = images(1, 1, 9, 9);
        let mut out = vec![0.0; 81];
        rotate(&d.x, &mut out, 1, 9, 9, 0.0, 0.0);
        assert_eq!(out, d.x);
        // Four quarter turns come back; a half turn is both flips.
        let mut cur = d.x.clone();
        for _ in 0..4 {
            rotate(
                &cur.clone(),
                &mut cur,
                1,
                9,
                9,
                std::f64::consts::FRAC_PI_2,
                0.0,
            );
        }
        assert!(cur.iter().zip(&d.x).all(|(a, b)| (a - b).abs() < 1e-4));
        rotate(&d.x, &mut out, 1, 9, 9, std::f64::consts::PI, 0.0);
        let mut flipped = d.x.clone();
        flipped.reverse();
        assert!(out.iter().zip(&flipped).all(|(a, b)| (a - b).abs() < 1e-4));
        // Random small rotations keep the mass of a centred image roughly.
        let mut b = batch_of(&images(4, 1, 16, 16));
        let before: f32 = b.x.iter().sum();
        aug(AugmentConfig {
            rotate_deg: 15.0,
            ..Default::default()
        })
        .apply(&mut b, 0, 0)
        .unwrap();
        let after: f32 = b.x.iter().sum();
        assert!((after / before - 1.0).abs() < 0.05, "{before} {after}");
    }

    #[test]
    fn shift_moves_mass_within_bounds() {
        let d = images(1, 1, 8, 8);
        let mut out = vec![0.0; 64];
        shift(&d.x, &mut out, 1, 8, 8, 1, -2, 0.0);
        assert_eq!(out[24], d.x[2 * 8 + 2]); // out[3][0] = in[3 - 1][0 + 2]
                                             // A zero border of 2 pixels: shifts up to 2 keep the mass exactly.
        let mass: f32 = d.x.iter().sum();
        for (dy, dx) in [(2, 2), (-2, 1), (0, -2)] {
            shift(&d.x, &mut out, 1, 8, 8, dy, dx, 0.0);
            assert_eq!(out.iter().sum::<f32>(), mass);
        }
        // Larger shifts lose mass but never create it.
        shift(&d.x, &mut out, 1, 8, 8, 5, 0, 0.0);
        assert!(out.iter().sum::<f32>() < mass);
        let mut b = batch_of(&images(5, 3, 10, 10));
        let masses: Vec<f32> = b.x.chunks(300).map(|e| e.iter().sum()).collect();
        aug(AugmentConfig {
            shift: 2,
            ..Default::default()
        })
        .apply(&mut b, 1, 2)
        .unwrap();
        for (e, m) in b.x.chunks(300).zip(masses) {
            assert!((e.iter().sum::<f32>() - m).abs() < 1e-3 * m);
        }
    }

    #[test]
    fn noise_and_determinism() {
        let d = images(8, 1, 12, 12);
        let cfg = AugmentConfig {
            noise_std: 0.5,
            rotate_deg: 10.0,
            shift: 1,
            flip_p: 0.5,
            fill: 0.0,
        };
        let run = |epoch, step| {
            let mut b = batch_of(&d);
            aug(cfg).apply(&mut b, epoch, step).unwrap();
            b.x
        };
        assert_eq!(run(0, 0), run(0, 0));
        assert_ne!(run(0, 0), run(0, 1));
        assert_ne!(run(0, 0), run(1, 0));
        // Noise only: differences have the configured spread.
        let mut b = batch_of(&d);
        aug(AugmentConfig {
            noise_std: 0.5,
            ..Default::default()
        })
        .apply(&mut b, 0, 0)
        .unwrap();
        let diff: Vec<f32> = b.x.iter().zip(&d.x).map(|(a, b)| a - b).collect();
        let n = diff.len() as f32;
        let m = diff.iter().sum::<f32>() / n;
        let sd = (diff.iter().map(|v| (v - m).powi(2)).sum::<f32>() / n).sqrt();
        assert!(m.abs() < 0.06 && (sd - 0.5).abs() < 0.05, "{m} {sd}");
        // Noise works on flat examples; geometry needs [C, H, W].
        let flat = crate::moons(10, 0.0, 0).unwrap();
        let mut fb = batch_of(&flat);
        aug(AugmentConfig {
            noise_std: 0.1,
            ..Default::default()
        })
        .apply(&mut fb, 0, 0)
        .unwrap();
        assert_ne!(fb.x, flat.x);
        let e = aug(AugmentConfig {
            flip_p: 0.5,
            ..Default::default()
        })
        .apply(&mut fb, 0, 0)
        .unwrap_err();
        assert!(e.to_string().contains("[2]"), "{e}");
        assert!(Augmenter::new(
            AugmentConfig {
                flip_p: 2.0,
                ..Default::default()
            },
            0
        )
        .is_err());
    }
}
