//! Exact Hessian-vector products on a [`Probe`]: one at a time ([`Probe::hvp`]), or many at the
//! same weights sharing one forward pass ([`Probe::hessian_products`]).
//!
//! # Rule
//!
//! `H v` is Pearlmutter's R-operator ([`nn::rop`]): a training-mode forward pass with the step's
//! dropout masks and batch-norm batch statistics replayed, then the R-forward along `v`, the
//! loss's `R{∂L/∂y}` and the R-backward. The forward pass and the loss depend on the weights and
//! the batch only, not on `v`, and the R-passes leave what the forward cached (inputs, outputs,
//! masks, batch statistics) as it was: every product at the same weights can share one forward.
//! A measurement that needs many products (Lanczos, Hutch++) then pays for the forward pass and
//! for saving and restoring the training state once instead of once per product, and every
//! product is bit for bit the one [`Probe::hvp`] computes alone (tested in `tests/hvp.rs`).

use nn::Tensor;
use optim::Params;

use crate::observe::Probe;
use crate::{Result, TrainError};

thread_local! {
    /// The model output kept beside `R{output}` (the loss's R-operator needs both), reused.
    static OUTPUT: std::cell::RefCell<Tensor> = std::cell::RefCell::new(Tensor::default());
}

/// Products `H v` at one probe's current weights (see the module docs); made by
/// [`Probe::hessian_products`].
pub struct HessianProducts<'p, 'a> {
    p: &'p mut Probe<'a>,
    /// The model output of the shared forward pass.
    y: Tensor,
    loss: f32,
}

impl HessianProducts<'_, '_> {
    /// The step's mean loss at these weights (the shared forward pass's).
    pub fn loss(&self) -> f32 {
        self.loss
    }

    /// `out[i] = (H v)ᵢ` for parameter `i`, laid out as the parameters (`v` likewise); `out` is
    /// resized. A model without parameters leaves `out` empty.
    pub fn apply(&mut self, v: &[Vec<f32>], out: &mut Vec<Vec<f32>>) -> Result<()> {
        let p = &mut *self.p;
        if Params::<f32>::count(&*p.model) == 0 {
            out.clear();
            return Ok(());
        }
        let ry = p.model.forward_r(v)?;
        let (dy, rdy) = p.loss_fn.grad_r(&self.y, ry)?;
        p.model.backward_r(dy, rdy, v, out)?;
        Ok(())
    }
}

impl Probe<'_> {
    /// Runs `f` with Hessian-vector products at the current weights, all sharing one
    /// training-mode forward pass (see the module docs): the Hessian of the mean loss on this
    /// step's batch, the same function [`loss_and_gradient`](Self::loss_and_gradient)
    /// differentiates. Training state is untouched.
    /// Errors of `f` are its own (any error type a [`TrainError`] converts into).
    pub fn hessian_products<T, E: From<TrainError>>(
        &mut self,
        f: impl FnOnce(&mut HessianProducts<'_, '_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        // Forward and R-passes change neither weights nor gradients: only the statistics and
        // generators need restoring.
        self.forward_isolated(|p| {
            // Taken out of the thread's slot for the closure's duration, so a nested call
            // (another probe inside `f`) finds an empty one instead of a borrowed one.
            let mut y = OUTPUT.with(|c| std::mem::take(&mut *c.borrow_mut()));
            y.copy_from(p.model.forward(p.x, true));
            let out = match p.loss_fn.forward(&y, p.targets) {
                Ok(loss) => {
                    let mut h = HessianProducts { p, y, loss };
                    let out = f(&mut h);
                    y = h.y;
                    out
                }
                Err(e) => Err(E::from(e)),
            };
            OUTPUT.with(|c| *c.borrow_mut() = y);
            Ok(out)
        })?
    }

    /// The exact Hessian-vector product `out[i] = (H v)ᵢ` for parameter `i` (laid out as
    /// [`loss_and_gradient`](Self::loss_and_gradient)'s gradients, `v` likewise), `H` the
    /// Hessian of the mean loss on this step's batch at the current weights, in training mode
    /// with the step's dropout masks and batch-norm batch statistics replayed: the same function
    /// `loss_and_gradient` differentiates. Computed with Pearlmutter's R-operator
    /// ([`nn::rop`]: forward, R-forward, R-backward; no finite differences). Returns the loss.
    /// Training state is untouched. For many products at the same weights,
    /// [`hessian_products`](Self::hessian_products) shares the forward pass.
    pub fn hvp(&mut self, v: &[Vec<f32>], out: &mut Vec<Vec<f32>>) -> Result<f32> {
        self.hessian_products(|h| -> Result<f32> {
            h.apply(v, out)?;
            Ok(h.loss())
        })
    }
}
