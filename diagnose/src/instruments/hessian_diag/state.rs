//! The recursion's state at one point of the chain: the factored Hessian of the loss with
//! respect to that point's values, and the gradient.

/// `M = S diag(sign) Sᵀ + diag(c)` and `δ` at one point of the chain, for one example.
#[derive(Clone)]
pub(super) struct State {
    pub dim: usize,
    /// The columns of `S`, each `dim` long, one after the other.
    pub cols: Vec<f64>,
    pub sign: Vec<f64>,
    pub c: Vec<f64>,
    pub delta: Vec<f64>,
}

impl State {
    pub fn col(&self, j: usize) -> &[f64] {
        &self.cols[j * self.dim..(j + 1) * self.dim]
    }

    /// `diag(c)` joins the columns as `√|c_q| e_q` (sign of `c_q`), mapped by `unit(q, v, out)`
    /// into a `dim_in`-long column; `c` becomes zero (of length `dim_in`).
    pub fn fold_c(
        &mut self,
        dim_in: usize,
        new: &mut Vec<f64>,
        mut unit: impl FnMut(usize, f64, &mut [f64]),
    ) {
        for (q, &cq) in self.c.iter().enumerate() {
            if cq != 0.0 {
                let start = new.len();
                new.resize(start + dim_in, 0.0);
                unit(q, cq.abs().sqrt(), &mut new[start..]);
                self.sign.push(cq.signum());
            }
        }
        self.c = vec![0.0; dim_in];
    }
}
