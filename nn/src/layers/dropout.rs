//! `Dropout`: inverted dropout, active only in training, with a seeded generator in the layer.

use crate::layer::Layer;
use crate::{NnError, Result, Rng, Tensor};

/// Configuration of [`Dropout`]: the drop probability `p` (PyTorch default 0.5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutConfig {
    pub p: f32,
}

impl Default for DropoutConfig {
    fn default() -> Self {
        DropoutConfig { p: 0.5 }
    }
}

impl DropoutConfig {
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(NnError::config("dropout", "p", self.p, "is not in [0, 1]"));
        }
        Ok(())
    }
}

/// In training each element is zeroed with probability `p` and the survivors are scaled by
/// `1/(1-p)` (all zero when `p = 1`); in evaluation it is the identity. The mask comes from the
/// layer's own [`Rng`], so a seeded model draws the same masks run after run.
#[derive(Debug)]
pub struct Dropout {
    p: f32,
    rng: Rng,
    /// Per-element factor of the last training forward (0 or `1/(1-p)`); empty after an
    /// evaluation forward (identity).
    mask: Vec<f32>,
    train: bool,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)).
    ry: Tensor,
    rdx: Tensor,
}

impl Dropout {
    pub fn new(cfg: DropoutConfig, rng: Rng) -> Result<Self> {
        cfg.validate()?;
        Ok(Dropout {
            p: cfg.p,
            rng,
            mask: Vec::new(),
            train: false,
            y: Tensor::default(),
            dx: Tensor::default(),
            ry: Tensor::default(),
            rdx: Tensor::default(),
        })
    }
}

impl Dropout {
    /// The per-element factors (0 or `1/(1-p)`) of the last forward, `None` when it was not a
    /// training forward (the identity).
    pub fn mask(&self) -> Option<&[f32]> {
        self.train.then_some(&self.mask[..])
    }
}

impl Layer for Dropout {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn kind(&self) -> &'static str {
        "dropout"
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        Ok(in_shape.to_vec())
    }

    fn forward(&mut self, x: &Tensor, train: bool) -> &Tensor {
        self.y.copy_from(x);
        self.train = train && self.p > 0.0;
        if self.train {
            let p = self.p as f64;
            let scale = if self.p >= 1.0 {
                0.0
            } else {
                1.0 / (1.0 - self.p)
            };
            self.mask.resize(x.numel(), 0.0);
            for m in self.mask.iter_mut() {
                *m = if self.rng.uniform() < p { 0.0 } else { scale };
            }
            self.y
                .data
                .iter_mut()
                .zip(&self.mask)
                .for_each(|(y, m)| *y *= m);
        }
        &self.y
    }

    fn rng_state(&self, out: &mut Vec<u64>) {
        out.extend_from_slice(&self.rng.state());
    }

    fn set_rng_state(&mut self, state: &[u64]) -> Result<usize> {
        let s: [u64; 4] = state
            .get(..4)
            .and_then(|w| w.try_into().ok())
            .ok_or_else(|| {
                crate::NnError::Invalid(format!(
                    "dropout generator state needs 4 words, {} left",
                    state.len()
                ))
            })?;
        self.rng = Rng::from_state(s);
        Ok(4)
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        assert_eq!(
            dy.shape, self.y.shape,
            "dropout: gradient shape differs from output"
        );
        self.dx.copy_from(dy);
        if self.train {
            self.dx
                .data
                .iter_mut()
                .zip(&self.mask)
                .for_each(|(d, m)| *d *= m);
        }
        &self.dx
    }

    /// `R{y} = mask ⊙ R{x}` with the last forward's mask (no new draw; the identity in
    /// evaluation).
    fn forward_r(&mut self, rx: Option<&Tensor>, _v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        let Some(rx) = rx else {
            return Ok(None);
        };
        assert_eq!(rx.shape, self.y.shape, "dropout: R{{x}} shape");
        self.ry.copy_from(rx);
        if self.train {
            self.ry
                .data
                .iter_mut()
                .zip(&self.mask)
                .for_each(|(r, m)| *r *= m);
        }
        Ok(Some(&self.ry))
    }

    /// `(dx, R{dx})`: the (linear) backward of `dy` and of `R{dy}`, same mask.
    fn backward_r(
        &mut self,
        dy: &Tensor,
        rdy: &Tensor,
        _v: &[Vec<f32>],
        _hv: &mut [Vec<f32>],
        _need_dx: bool,
    ) -> Result<(&Tensor, &Tensor)> {
        self.backward(rdy);
        std::mem::swap(&mut self.dx, &mut self.rdx);
        self.backward(dy);
        Ok((&self.dx, &self.rdx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::{check_layer, random_tensor};

    #[test]
    fn inverted_train_only_and_seeded() {
        let x = Tensor::from_vec(&[100, 100], vec![1.0; 10_000]).unwrap();
        let mut d = Dropout::new(DropoutConfig { p: 0.3 }, Rng::new(9)).unwrap();
        let y = d.forward(&x, true).clone();
        let kept = y.data.iter().filter(|&&v| v != 0.0).count();
        assert!((kept as f64 / 10_000.0 - 0.7).abs() < 0.02, "kept {kept}");
        assert!(y
            .data
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
        let mean = y.data.iter().sum::<f32>() / 10_000.0;
        assert!((mean - 1.0).abs() < 0.03);
        // Backward multiplies by the same mask.
        let dy = random_tensor(&[100, 100], 1);
        let dx = d.backward(&dy);
        for j in 0..10_000 {
            assert_eq!(dx.data[j], dy.data[j] * y.data[j]);
        }
        // Same seed, same mask; evaluation is the identity.
        let mut d2 = Dropout::new(DropoutConfig { p: 0.3 }, Rng::new(9)).unwrap();
        assert_eq!(d2.forward(&x, true).data, y.data);
        assert_eq!(d2.forward(&x, false).data, x.data);
        let mut all = Dropout::new(DropoutConfig { p: 1.0 }, Rng::new(1)).unwrap();
        assert!(all.forward(&x, true).data.iter().all(|&v| v == 0.0));
        let e = Dropout::new(DropoutConfig { p: 1.5 }, Rng::new(0)).unwrap_err();
        assert!(e.to_string().contains("p = 1.5"), "{e}");
        // Evaluation mode: gradient passes through unchanged (finite differences).
        let mut d3 = Dropout::new(DropoutConfig::default(), Rng::new(2)).unwrap();
        check_layer(&mut d3, &random_tensor(&[2, 3], 4), 5);
    }
}
