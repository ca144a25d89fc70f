//! Gradient accumulation over `k` micro-batches.
//!
//! Training loop:
//!
//! ```text
//! for each micro-batch:
//!     clear the gradients; forward; backward         (the model's grads hold this micro-batch's)
//!     if acc.add(&mut params)? { opt.step(&mut params)?; }
//! ```
//!
//! [`GradAccumulator::add`] adds the current gradients into running sums. On the `k`-th call it
//! writes the **mean** `(g₁ + … + g_k) / k` into the parameters' gradients and returns `true`, so
//! the optimizer steps on the average gradient — the same step PyTorch takes when each
//! micro-batch's loss is divided by `k` and `backward()` accumulates into `.grad`. A parameter
//! that received a gradient in only some micro-batches gets the sum of those divided by `k` (a
//! missing gradient counts as zero, as in PyTorch); one that received none in any micro-batch
//! keeps no gradient, so the optimizer skips it and its state does not advance. Sums are kept in
//! the parameter dtype and allocated once, at a parameter's first gradient.

use crate::{Float, OptimError, Params, Result};

/// Accumulates gradients over `k` micro-batches (see the module docs).
#[derive(Clone, Debug)]
pub struct GradAccumulator<F> {
    k: usize,
    count: usize,
    sums: Vec<Vec<F>>,
    seen: Vec<bool>,
}

impl<F: Float> GradAccumulator<F> {
    /// An accumulator over `k ≥ 1` micro-batches (`k = 1` passes gradients through unchanged).
    pub fn new(k: usize) -> Result<Self> {
        if k == 0 {
            return Err(OptimError::invalid(
                "gradient accumulation",
                "k",
                k,
                "must be >= 1",
            ));
        }
        Ok(GradAccumulator {
            k,
            count: 0,
            sums: Vec::new(),
            seen: Vec::new(),
        })
    }

    pub fn k(&self) -> usize {
        self.k
    }

    /// Micro-batches added since the last completed window (`0..k`).
    pub fn pending(&self) -> usize {
        self.count
    }

    /// Discards a partly accumulated window.
    pub fn reset(&mut self) {
        self.count = 0;
        self.seen.iter_mut().for_each(|s| *s = false);
    }

    /// Adds the current gradients. Returns `true` when this completes a window of `k`
    /// micro-batches; the parameters' gradients then hold the mean and the counter restarts.
    pub fn add(&mut self, params: &mut impl Params<F>) -> Result<bool> {
        let n = params.count();
        if self.count == 0 {
            self.sums.resize_with(n, Vec::new);
            self.seen.clear();
            self.seen.resize(n, false);
        } else if n != self.seen.len() {
            return Err(OptimError::StateMismatch(format!(
                "gradient accumulation: micro-batch {} has {n} parameters, the first had {}",
                self.count + 1,
                self.seen.len()
            )));
        }
        if self.k == 1 {
            return Ok(true);
        }
        for i in 0..n {
            let Some(g) = params.grad(i) else { continue };
            let sum = &mut self.sums[i];
            if !self.seen[i] {
                sum.clear();
                sum.extend_from_slice(g);
                self.seen[i] = true;
            } else {
                if sum.len() != g.len() {
                    return Err(OptimError::StateMismatch(format!(
                        "gradient accumulation: parameter `{}` has {} elements, earlier micro-batches had {}",
                        params.name(i),
                        g.len(),
                        sum.len()
                    )));
                }
                sum.iter_mut().zip(g).for_each(|(s, &g)| *s += g);
            }
        }
        self.count += 1;
        if self.count < self.k {
            return Ok(false);
        }
        let k = F::of(self.k as f64);
        for i in 0..n {
            if !self.seen[i] {
                continue;
            }
            let name = params.name(i).to_string();
            let g = params.ensure_grad(i).ok_or_else(|| {
                OptimError::Invalid(format!(
                    "gradient accumulation: parameter `{name}` had gradients in earlier micro-batches but none in the \
                     last, and the model cannot create a gradient buffer for it"
                ))
            })?;
            g.iter_mut()
                .zip(&self.sums[i])
                .for_each(|(g, &s)| *g = s / k);
        }
        self.reset();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizers::sgd::SgdConfig;
    use crate::{Optimizer, Param, ParamStore};

    #[test]
    fn mean_of_micro_batches_and_reset() {
        let mut acc = GradAccumulator::<f64>::new(3).unwrap();
        let mut p = ParamStore::new(vec![
            Param::new("a", &[2], vec![0.0; 2]),
            Param::new("b", &[1], vec![0.0]),
            Param::new("c", &[1], vec![0.0]),
        ]);
        // a gets grads every time; b only in the first micro-batch; c never.
        p.set_grad(0, &[1.0, 2.0]);
        p.set_grad(1, &[6.0]);
        assert!(!acc.add(&mut p).unwrap());
        p.clear_grads();
        p.set_grad(0, &[3.0, 4.0]);
        assert!(!acc.add(&mut p).unwrap());
        assert_eq!(acc.pending(), 2);
        p.clear_grads();
        p.set_grad(0, &[5.0, 9.0]);
        assert!(acc.add(&mut p).unwrap());
        assert_eq!(acc.pending(), 0);
        assert_eq!(p.params[0].grad, vec![3.0, 5.0]);
        assert!(p.params[1].has_grad, "b had a gradient in one micro-batch");
        assert_eq!(p.params[1].grad, vec![2.0]);
        assert!(!p.params[2].has_grad, "c never had a gradient");
        // The next window starts from zero.
        for g in [[1.0, 1.0], [2.0, 2.0], [3.0, 6.0]] {
            p.clear_grads();
            p.set_grad(0, &g);
            let done = acc.add(&mut p).unwrap();
            assert_eq!(done, g[0] == 3.0);
        }
        assert_eq!(p.params[0].grad, vec![2.0, 3.0]);
        assert!(!p.params[1].has_grad && !p.params[2].has_grad);
    }

    #[test]
    fn k_one_is_identity_and_k_zero_rejected() {
        let mut acc = GradAccumulator::<f32>::new(1).unwrap();
        let mut p = ParamStore::single("x", vec![0.0f32; 3]);
        p.set_grad(0, &[0.1, -0.3, 7.0]);
        let before = p.clone();
        for _ in 0..3 {
            assert!(acc.add(&mut p).unwrap());
            assert_eq!(p, before);
        }
        let e = GradAccumulator::<f64>::new(0).unwrap_err().to_string();
        assert!(e.contains("`k` = 0"), "{e}");
    }

    #[test]
    fn parameter_count_change_is_an_error() {
        let mut acc = GradAccumulator::<f64>::new(2).unwrap();
        let mut p = ParamStore::single("x", vec![0.0]);
        p.set_grad(0, &[1.0]);
        acc.add(&mut p).unwrap();
        let mut q = ParamStore::new(vec![]);
        let e = acc.add(&mut q).unwrap_err().to_string();
        assert!(
            e.contains("micro-batch 2 has 0 parameters, the first had 1"),
            "{e}"
        );
    }

    /// Least squares `½·mean_r (a_r·x − b_r)²` over 8 rows: the mean of four 2-row micro-batch
    /// gradients is the full-batch gradient, so SGD with momentum takes the same steps.
    #[test]
    fn accumulated_micro_batches_equal_full_batch() {
        let rows: Vec<([f64; 3], f64)> = (0..8)
            .map(|r| {
                let r = r as f64;
                (
                    [1.0, (0.7 * r).sin(), (0.3 * r).cos() - 0.5 * r],
                    0.25 * r - 1.0,
                )
            })
            .collect();
        let grad = |x: &[f64], rows: &[([f64; 3], f64)]| {
            let mut g = [0.0; 3];
            for (a, b) in rows {
                let res = a.iter().zip(x).map(|(a, x)| a * x).sum::<f64>() - b;
                g.iter_mut().zip(a).for_each(|(g, a)| *g += res * a);
            }
            g.map(|g| g / rows.len() as f64)
        };
        let recipe = || {
            SgdConfig {
                lr: 0.05,
                momentum: 0.9,
                ..Default::default()
            }
            .recipe::<f64>()
            .unwrap()
        };
        let mut full = ParamStore::single("x", vec![0.5, -0.2, 0.1]);
        let mut micro = full.clone();
        let mut opt_full = Optimizer::new(recipe(), &full).unwrap();
        let mut opt_micro = Optimizer::new(recipe(), &micro).unwrap();
        let mut acc = GradAccumulator::new(4).unwrap();
        for _ in 0..5 {
            let g = grad(&full.params[0].value, &rows);
            full.set_grad(0, &g);
            opt_full.step(&mut full).unwrap();
            for (j, mb) in rows.chunks(2).enumerate() {
                let g = grad(&micro.params[0].value, mb);
                micro.set_grad(0, &g);
                let done = acc.add(&mut micro).unwrap();
                assert_eq!(done, j == 3);
                if done {
                    opt_micro.step(&mut micro).unwrap();
                }
            }
        }
        assert_eq!(opt_micro.steps(), 5);
        for (a, b) in full.params[0].value.iter().zip(&micro.params[0].value) {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
        }
        assert_ne!(full.params[0].value, vec![0.5, -0.2, 0.1]);
    }
}
