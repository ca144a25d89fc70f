//! `Flatten`: merges dimensions `start_dim..=end_dim`, as PyTorch's `nn.Flatten`.

use crate::layer::Layer;
use crate::{NnError, Result, Tensor};

/// Configuration of [`Flatten`]; dimensions count the batch as 0, negative `end_dim` counts from
/// the end. PyTorch defaults: `start_dim = 1`, `end_dim = -1`. The batch dimension cannot be
/// flattened (`start_dim ≥ 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlattenConfig {
    pub start_dim: usize,
    pub end_dim: isize,
}

impl Default for FlattenConfig {
    fn default() -> Self {
        FlattenConfig {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl FlattenConfig {
    pub fn validate(&self) -> Result<()> {
        if self.start_dim == 0 {
            return Err(NnError::config(
                "flatten",
                "start_dim",
                0,
                "must be ≥ 1 (the batch dimension stays)",
            ));
        }
        Ok(())
    }

    /// The inclusive range of full-shape dimensions merged for a tensor of `ndim` dimensions.
    fn range(&self, ndim: usize) -> Result<(usize, usize)> {
        let end = if self.end_dim < 0 {
            ndim as isize + self.end_dim
        } else {
            self.end_dim
        };
        if end < 0 || end as usize >= ndim || self.start_dim > end as usize {
            return Err(NnError::Shape(format!(
                "flatten: start_dim = {}, end_dim = {} do not fit a {ndim}-d input",
                self.start_dim, self.end_dim
            )));
        }
        Ok((self.start_dim, end as usize))
    }

    fn flat(&self, full: &[usize]) -> Result<Vec<usize>> {
        let (s, e) = self.range(full.len())?;
        let mut out = full[..s].to_vec();
        out.push(full[s..=e].iter().product());
        out.extend_from_slice(&full[e + 1..]);
        Ok(out)
    }
}

/// Reshapes without changing the data order.
#[derive(Debug)]
pub struct Flatten {
    cfg: FlattenConfig,
    in_shape: Vec<usize>,
    y: Tensor,
    dx: Tensor,
    /// R-pass buffers ([`rop`](crate::rop)).
    ry: Tensor,
    rdx: Tensor,
}

impl Flatten {
    pub fn new(cfg: FlattenConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Flatten {
            cfg,
            in_shape: Vec::new(),
            y: Tensor::default(),
            dx: Tensor::default(),
            ry: Tensor::default(),
            rdx: Tensor::default(),
        })
    }
}

impl Layer for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }

    fn out_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        let mut full = vec![1];
        full.extend_from_slice(in_shape);
        Ok(self.cfg.flat(&full)?[1..].to_vec())
    }

    fn forward(&mut self, x: &Tensor, _train: bool) -> &Tensor {
        let (s, e) = self
            .cfg
            .range(x.shape.len())
            .unwrap_or_else(|err| panic!("{err}"));
        self.in_shape.clear();
        self.in_shape.extend_from_slice(&x.shape);
        self.y.shape.clear();
        self.y.shape.extend_from_slice(&x.shape[..s]);
        self.y.shape.push(x.shape[s..=e].iter().product());
        self.y.shape.extend_from_slice(&x.shape[e + 1..]);
        self.y.data.clear();
        self.y.data.extend_from_slice(&x.data);
        &self.y
    }

    fn reshape_in_place(&mut self, shape: &mut Vec<usize>) -> bool {
        let (s, e) = self
            .cfg
            .range(shape.len())
            .unwrap_or_else(|err| panic!("{err}"));
        self.in_shape.clear();
        self.in_shape.extend_from_slice(shape);
        shape[s] = shape[s..=e].iter().product();
        shape.drain(s + 1..=e);
        true
    }

    fn backward(&mut self, dy: &Tensor) -> &Tensor {
        assert_eq!(
            dy.numel(),
            self.in_shape.iter().product::<usize>(),
            "flatten: gradient size differs from output"
        );
        self.dx.resize(&self.in_shape);
        self.dx.data.copy_from_slice(&dy.data);
        &self.dx
    }

    /// A reshape is linear: `R{y}` is `R{x}` reshaped (the forward run on `R{x}`, into the
    /// R-buffer: the buffers are swapped around the call).
    fn forward_r(&mut self, rx: Option<&Tensor>, _v: &[Vec<f32>]) -> Result<Option<&Tensor>> {
        let Some(rx) = rx else {
            return Ok(None);
        };
        std::mem::swap(&mut self.y, &mut self.ry);
        self.forward(rx, true);
        std::mem::swap(&mut self.y, &mut self.ry);
        Ok(Some(&self.ry))
    }

    /// `(dx, R{dx})`: the (linear) backward of `dy` and of `R{dy}`.
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
    fn shapes_and_gradients() {
        let mut f = Flatten::new(FlattenConfig::default()).unwrap();
        assert_eq!(f.out_shape(&[3, 4, 5]).unwrap(), vec![60]);
        let x = random_tensor(&[2, 3, 2, 2], 1);
        let y = f.forward(&x, false);
        assert_eq!(y.shape, vec![2, 12]);
        assert_eq!(y.data, x.data);
        check_layer(&mut f, &x, 2);
        let mut g = Flatten::new(FlattenConfig {
            start_dim: 2,
            end_dim: 3,
        })
        .unwrap();
        assert_eq!(g.out_shape(&[3, 4, 5, 6]).unwrap(), vec![3, 20, 6]);
        assert!(g.out_shape(&[3, 4]).is_err());
        check_layer(&mut g, &x, 3);
        let e = Flatten::new(FlattenConfig {
            start_dim: 0,
            end_dim: -1,
        })
        .unwrap_err();
        assert!(e.to_string().contains("start_dim = 0"));
    }
}
