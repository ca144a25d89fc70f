//! Losses: softmax cross-entropy with integer labels, and mean squared error. Each computes the
//! mean loss and, in the same pass, its gradient with respect to the input into an owned buffer.

use crate::{NnError, Result, Tensor};

/// Configuration of [`CrossEntropyLoss`] (PyTorch's `nn.CrossEntropyLoss`, mean reduction).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct CrossEntropyConfig {
    /// ε in `[0, 1]`: the target becomes `(1-ε)·onehot + ε/C` (PyTorch default 0).
    pub label_smoothing: f32,
}

impl CrossEntropyConfig {
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.label_smoothing) {
            return Err(NnError::config(
                "cross_entropy",
                "label_smoothing",
                self.label_smoothing,
                "is not in [0, 1]",
            ));
        }
        Ok(())
    }
}

/// Softmax cross-entropy over logits `[N, C]` with labels in `0..C`:
/// `loss = mean_n[(1-ε)·(-log pₙ,yₙ) + ε/C·Σ_c(-log pₙ,c)]`, log-softmax computed stably
/// (max subtracted, sums in f64). Gradient: `(softmax − q)/N` with `q` the smoothed target.
#[derive(Debug)]
pub struct CrossEntropyLoss {
    cfg: CrossEntropyConfig,
    grad: Tensor,
    /// `R{∂loss/∂logits}` of the last [`grad_r`](Self::grad_r) (empty until used).
    rgrad: Tensor,
    /// `exp(z − max)` of one row (reused).
    exp: Vec<f64>,
}

impl CrossEntropyLoss {
    pub fn new(cfg: CrossEntropyConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(CrossEntropyLoss {
            cfg,
            grad: Tensor::default(),
            rgrad: Tensor::default(),
            exp: Vec::new(),
        })
    }

    /// The mean loss; also stores `∂loss/∂logits`, read with [`grad`](Self::grad).
    pub fn forward(&mut self, logits: &Tensor, labels: &[usize]) -> Result<f32> {
        if logits.shape.len() != 2 {
            return Err(NnError::Shape(format!(
                "cross_entropy expects logits [batch, classes], got {:?}",
                logits.shape
            )));
        }
        let (n, c) = (logits.shape[0], logits.shape[1]);
        if labels.len() != n {
            return Err(NnError::Shape(format!(
                "cross_entropy: {} labels for a batch of {n}",
                labels.len()
            )));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= c) {
            return Err(NnError::Invalid(format!(
                "cross_entropy: label {l} (example {i}) is not below the {c} classes"
            )));
        }
        let eps = self.cfg.label_smoothing as f64;
        let inv_n = 1.0 / n as f64;
        self.grad.resize(&logits.shape);
        let mut total = 0f64;
        self.exp.resize(c, 0.0);
        for ((z, g), &y) in logits
            .data
            .chunks_exact(c)
            .zip(self.grad.data.chunks_exact_mut(c))
            .zip(labels)
        {
            let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            // exp(z − m) once per logit: the sum, and the softmax as exp(z − m)/sum.
            let mut sum = 0f64;
            for (e, &v) in self.exp.iter_mut().zip(z) {
                *e = (v as f64 - m).exp();
                sum += *e;
            }
            let lse = m + sum.ln();
            let inv_sum = 1.0 / sum;
            let nll = lse - z[y] as f64;
            let mut loss = (1.0 - eps) * nll;
            if eps > 0.0 {
                let mean_neg_logp = z.iter().map(|&v| lse - v as f64).sum::<f64>() / c as f64;
                loss += eps * mean_neg_logp;
            }
            total += loss;
            for (k, (gk, &e)) in g.iter_mut().zip(&self.exp).enumerate() {
                let p = e * inv_sum;
                let q = eps / c as f64 + if k == y { 1.0 - eps } else { 0.0 };
                *gk = ((p - q) * inv_n) as f32;
            }
        }
        Ok((total * inv_n) as f32)
    }

    /// `∂loss/∂logits` of the last [`forward`](Self::forward).
    pub fn grad(&self) -> &Tensor {
        &self.grad
    }

    /// The R-operator of the gradient (see [`rop`](crate::rop)): `R{∂loss/∂z}` for logits `z`
    /// moving along `rz`, `p ⊙ (rz − ⟨p, rz⟩)/N` per row with `p = softmax(z)` (the Hessian
    /// of the mean loss in the logits times `rz`; the smoothed target is constant). The softmax
    /// is recomputed from `logits` as [`forward`](Self::forward) does, in `f64`.
    pub fn grad_r(&mut self, logits: &Tensor, rz: &Tensor) -> Result<&Tensor> {
        if logits.shape.len() != 2 || rz.shape != logits.shape {
            return Err(NnError::Shape(format!(
                "cross_entropy: R{{logits}} {:?} for logits {:?} (expected [batch, classes])",
                rz.shape, logits.shape
            )));
        }
        let (n, c) = (logits.shape[0], logits.shape[1]);
        let inv_n = 1.0 / n as f64;
        self.rgrad.resize(&logits.shape);
        self.exp.resize(c, 0.0);
        for ((z, r), g) in logits
            .data
            .chunks_exact(c)
            .zip(rz.data.chunks_exact(c))
            .zip(self.rgrad.data.chunks_exact_mut(c))
        {
            let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            let mut sum = 0f64;
            for (e, &v) in self.exp.iter_mut().zip(z) {
                *e = (v as f64 - m).exp();
                sum += *e;
            }
            let inv_sum = 1.0 / sum;
            let pr: f64 = self
                .exp
                .iter()
                .zip(r)
                .map(|(&e, &r)| e * r as f64)
                .sum::<f64>()
                * inv_sum;
            for ((gk, &e), &rk) in g.iter_mut().zip(&self.exp).zip(r) {
                *gk = (e * inv_sum * (rk as f64 - pr) * inv_n) as f32;
            }
        }
        Ok(&self.rgrad)
    }

    /// `R{∂loss/∂logits}` of the last [`grad_r`](Self::grad_r).
    pub fn last_grad_r(&self) -> &Tensor {
        &self.rgrad
    }
}

/// Mean squared error `mean((pred − target)²)` over all elements; gradient
/// `2(pred − target)/numel`.
#[derive(Debug, Default)]
pub struct MseLoss {
    grad: Tensor,
    /// `R{∂loss/∂pred}` of the last [`grad_r`](Self::grad_r) (empty until used).
    rgrad: Tensor,
}

impl MseLoss {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn forward(&mut self, pred: &Tensor, target: &Tensor) -> Result<f32> {
        if pred.shape != target.shape {
            return Err(NnError::Shape(format!(
                "mse: prediction {:?} and target {:?} differ",
                pred.shape, target.shape
            )));
        }
        let k = 2.0 / pred.numel().max(1) as f32;
        self.grad.resize(&pred.shape);
        let mut total = 0f64;
        for ((g, &p), &t) in self.grad.data.iter_mut().zip(&pred.data).zip(&target.data) {
            let d = p - t;
            total += (d as f64) * (d as f64);
            *g = k * d;
        }
        Ok((total / pred.numel().max(1) as f64) as f32)
    }

    pub fn grad(&self) -> &Tensor {
        &self.grad
    }

    /// The R-operator of the gradient (see [`rop`](crate::rop)): `R{∂loss/∂pred} =
    /// 2·rpred/numel` for predictions moving along `rpred` (the target is constant).
    pub fn grad_r(&mut self, rpred: &Tensor) -> Result<&Tensor> {
        if rpred.shape != self.grad.shape {
            return Err(NnError::Shape(format!(
                "mse: R{{prediction}} {:?} for a last prediction of {:?}",
                rpred.shape, self.grad.shape
            )));
        }
        let k = 2.0 / rpred.numel().max(1) as f32;
        self.rgrad.resize(&rpred.shape);
        self.rgrad
            .data
            .iter_mut()
            .zip(&rpred.data)
            .for_each(|(g, &r)| *g = k * r);
        Ok(&self.rgrad)
    }

    /// `R{∂loss/∂pred}` of the last [`grad_r`](Self::grad_r).
    pub fn last_grad_r(&self) -> &Tensor {
        &self.rgrad
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::layers::gradcheck::random_tensor;

    fn softmax(z: &[f32]) -> Vec<f64> {
        let s: f64 = z.iter().map(|&v| (v as f64).exp()).sum();
        z.iter().map(|&v| (v as f64).exp() / s).collect()
    }

    #[test]
    fn gradient_is_softmax_minus_target() {
        for eps in [0.0f32, 0.1] {
            let z = random_tensor(&[3, 4], 1);
            let labels = [2, 0, 3];
            let mut ce = CrossEntropyLoss::new(CrossEntropyConfig {
                label_smoothing: eps,
            })
            .unwrap();
            let loss = ce.forward(&z, &labels).unwrap();
            let mut want_loss = 0.0;
            for n in 0..3 {
                let p = softmax(z.example(n));
                for k in 0..4 {
                    let q = eps as f64 / 4.0
                        + if k == labels[n] {
                            1.0 - eps as f64
                        } else {
                            0.0
                        };
                    want_loss -= q * p[k].ln() / 3.0;
                    let g = ce.grad().data[n * 4 + k] as f64;
                    assert!((g - (p[k] - q) / 3.0).abs() < 1e-6, "eps {eps} ({n},{k})");
                }
            }
            assert!(
                (loss as f64 - want_loss).abs() < 1e-6,
                "{loss} vs {want_loss}"
            );
            // Finite differences on the loss itself.
            let mut zp = z.clone();
            for j in 0..12 {
                zp.data[j] = z.data[j] + 1e-3;
                let lp = ce.forward(&zp, &labels).unwrap() as f64;
                zp.data[j] = z.data[j] - 1e-3;
                let lm = ce.forward(&zp, &labels).unwrap() as f64;
                zp.data[j] = z.data[j];
                ce.forward(&z, &labels).unwrap();
                let fd = (lp - lm) / 2e-3;
                assert!((ce.grad().data[j] as f64 - fd).abs() < 2e-3, "{j}: {fd}");
            }
        }
    }

    #[test]
    fn stable_for_huge_logits_and_errors_name_values() {
        let z = Tensor::from_vec(&[1, 3], vec![1000.0, 0.0, -1000.0]).unwrap();
        let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
        assert_eq!(ce.forward(&z, &[0]).unwrap(), 0.0);
        assert!((ce.forward(&z, &[1]).unwrap() - 1000.0).abs() < 1e-3);
        assert!(ce.grad().data.iter().all(|v| v.is_finite()));
        // Uniform logits: loss ln C whatever the smoothing.
        let u = Tensor::zeros(&[2, 5]);
        let mut ls = CrossEntropyLoss::new(CrossEntropyConfig {
            label_smoothing: 0.3,
        })
        .unwrap();
        assert!((ls.forward(&u, &[1, 4]).unwrap() - 5f32.ln()).abs() < 1e-6);
        let e = ce.forward(&z, &[3]).unwrap_err().to_string();
        assert!(e.contains("label 3"), "{e}");
        assert!(ce.forward(&z, &[0, 1]).is_err());
        let e = CrossEntropyLoss::new(CrossEntropyConfig {
            label_smoothing: -0.1,
        })
        .unwrap_err();
        assert!(e.to_string().contains("label_smoothing = -0.1"));
    }

    #[test]
    fn mse_value_and_gradient() {
        let p = Tensor::from_vec(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let t = Tensor::from_vec(&[2, 2], vec![0.0, 2.0, 5.0, 4.0]).unwrap();
        let mut m = MseLoss::new();
        assert_eq!(m.forward(&p, &t).unwrap(), (1.0 + 4.0) / 4.0);
        assert_eq!(m.grad().data, vec![0.5, 0.0, -1.0, 0.0]);
        assert!(m.forward(&p, &Tensor::zeros(&[4])).is_err());
    }
}
