//! One example's gradient on a [`Probe`]: the gradient of example `n`'s share of the step's mean
//! loss, alone ([`Probe::example_gradient`]) or for several examples sharing one forward pass
//! ([`Probe::example_gradients`]), exact or in the evaluation-statistics variant of a model with
//! batch norm.
//!
//! # Rule
//!
//! Example `n`'s share of the mean loss has the output gradient of the step's loss in row `n` and
//! zeros elsewhere; one backward pass with that output gradient gives its parameter gradient,
//! exactly, when the examples do not interact (no batch norm in training mode: for those models
//! the evaluation-statistics variant, batch norm as the fixed affine map of its running
//! statistics). The forward pass does not depend on `n`, and a backward pass leaves what the
//! forward cached (inputs, outputs, masks) as it was, so examples at the same weights share one
//! forward pass and one save and restore of the training state: each gradient is bit for bit
//! the one computed alone (tested in `tests/observe.rs`).

use crate::observe::Probe;
use crate::Result;

impl Probe<'_> {
    /// The gradient of example `n`'s share of the mean loss (a backward pass whose output
    /// gradient is zero outside row `n`). Exact for models whose examples do not interact
    /// (no batch norm in training mode). Training state is untouched.
    pub fn example_gradient(&mut self, n: usize, grads: &mut Vec<Vec<f32>>) -> Result<()> {
        self.example_gradients(&[n], grads, |_, _| {})
    }

    /// [`example_gradient`](Self::example_gradient) of each example of `examples` in turn, into
    /// `grads`, calling `each(k, grads)` with the `k`-th one: all share one forward pass (see the
    /// module docs). Training state is untouched.
    pub fn example_gradients(
        &mut self,
        examples: &[usize],
        grads: &mut Vec<Vec<f32>>,
        each: impl FnMut(usize, &[Vec<f32>]),
    ) -> Result<()> {
        self.isolated(|p| p.example_gradients_inner(examples, grads, each))
    }

    /// [`example_gradient`](Self::example_gradient) in the evaluation-statistics variant of
    /// [`per_example_eval_statistics`](Self::per_example_eval_statistics); `false` (and
    /// `grads` unspecified) when the model has no batch norm with running statistics.
    pub fn example_gradient_eval_statistics(
        &mut self,
        n: usize,
        grads: &mut Vec<Vec<f32>>,
    ) -> Result<bool> {
        self.example_gradients_eval_statistics(&[n], grads, |_, _| {})
    }

    /// [`example_gradients`](Self::example_gradients) in the evaluation-statistics variant;
    /// `false` (and `each` never called) when the model has no batch norm with running
    /// statistics.
    pub fn example_gradients_eval_statistics(
        &mut self,
        examples: &[usize],
        grads: &mut Vec<Vec<f32>>,
        each: impl FnMut(usize, &[Vec<f32>]),
    ) -> Result<bool> {
        Ok(self
            .in_eval_statistics(|p| p.example_gradients_inner(examples, grads, each).map(Some))?
            .is_some())
    }

    fn example_gradients_inner(
        &mut self,
        examples: &[usize],
        grads: &mut Vec<Vec<f32>>,
        mut each: impl FnMut(usize, &[Vec<f32>]),
    ) -> Result<()> {
        self.raw_loss()?;
        let full = self.loss_fn.grad().clone();
        let mut dy = full.clone();
        dy.data.iter_mut().for_each(|v| *v = 0.0);
        let k = dy.per_example();
        for (i, &n) in examples.iter().enumerate() {
            // Row `n` of the step's output gradient, zeros elsewhere (all zeros past the batch).
            let row = n * k..(n + 1) * k;
            if let (Some(src), Some(dst)) = (full.data.get(row.clone()), dy.data.get_mut(row)) {
                dst.copy_from_slice(src);
            }
            self.model.clear_grads();
            self.model.backward(&dy);
            self.read_grads(grads);
            each(i, grads);
            if let Some(dst) = dy.data.get_mut(n * k..(n + 1) * k) {
                dst.iter_mut().for_each(|v| *v = 0.0);
            }
        }
        Ok(())
    }
}
