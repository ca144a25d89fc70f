//! How the optimizer sees a model's parameters: named tensors with optional gradients. [`Param`]
//! is the one parameter type of the workspace: the nn engine's layers hold their weights in it,
//! and [`ParamStore`] is a plain list of them.

use crate::Float;

/// A model's parameters as the optimizer walks them. The nn engine implements this for its
/// models; [`ParamStore`] is a plain owned implementation for tests, tools and simple problems.
pub trait Params<F: Float> {
    fn count(&self) -> usize;
    /// PyTorch-style dotted name (`0.weight`).
    fn name(&self, i: usize) -> &str;
    fn shape(&self, i: usize) -> &[usize];
    fn value(&self, i: usize) -> &[F];
    /// The gradient, or `None` when the parameter received none this step (it is then skipped,
    /// and its state does not advance — PyTorch's `p.grad is None`).
    fn grad(&self, i: usize) -> Option<&[F]>;
    /// The value and gradient of parameter `i`, both writable.
    fn value_grad_mut(&mut self, i: usize) -> (&mut [F], Option<&mut [F]>);
    /// A writable gradient for parameter `i`, created (zero-filled) and marked present when it
    /// had none; used by [`GradAccumulator`](crate::GradAccumulator). The default returns the
    /// existing gradient only, for models that cannot create one.
    fn ensure_grad(&mut self, i: usize) -> Option<&mut [F]> {
        self.value_grad_mut(i).1
    }
}

/// One named parameter tensor with its gradient buffer (same length as the value; empty for a
/// model's non-trainable buffers, e.g. batch norm's running statistics).
#[derive(Clone, Debug, PartialEq)]
pub struct Param<F> {
    /// The name the optimizer sees (PyTorch-style, `0.weight`); parameter groups match it.
    pub name: String,
    pub shape: Vec<usize>,
    pub value: Vec<F>,
    pub grad: Vec<F>,
    /// Whether `grad` holds this step's gradient (PyTorch's `p.grad is not None`).
    pub has_grad: bool,
}

impl<F: Float> Param<F> {
    pub fn new(name: impl Into<String>, shape: &[usize], value: Vec<F>) -> Self {
        let n: usize = shape.iter().product();
        assert_eq!(
            n,
            value.len(),
            "parameter shape {shape:?} does not match {} values",
            value.len()
        );
        Param {
            name: name.into(),
            shape: shape.to_vec(),
            grad: vec![F::zero(); n],
            value,
            has_grad: false,
        }
    }

    /// A parameter of `shape` holding zeros, with a zero gradient (absent until marked).
    pub fn zeros(name: impl Into<String>, shape: &[usize]) -> Self {
        Param::new(name, shape, vec![F::zero(); shape.iter().product()])
    }

    /// The gradient when present, as [`Params::grad`] reports it.
    pub fn present_grad(&self) -> Option<&[F]> {
        self.has_grad.then_some(self.grad.as_slice())
    }

    /// The value and the gradient when present, both writable ([`Params::value_grad_mut`]).
    pub fn value_grad_mut(&mut self) -> (&mut [F], Option<&mut [F]>) {
        let g = if self.has_grad {
            Some(self.grad.as_mut_slice())
        } else {
            None
        };
        (&mut self.value, g)
    }

    /// The gradient, zero-filled and marked present if it was absent ([`Params::ensure_grad`]).
    pub fn ensure_grad(&mut self) -> &mut [F] {
        if !self.has_grad {
            self.grad.iter_mut().for_each(|g| *g = F::zero());
            self.has_grad = true;
        }
        &mut self.grad
    }
}

/// A list of parameters (see [`Params`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamStore<F> {
    pub params: Vec<Param<F>>,
}

impl<F: Float> ParamStore<F> {
    pub fn new(params: Vec<Param<F>>) -> Self {
        ParamStore { params }
    }

    /// A single parameter named `name` (for 1-tensor problems).
    pub fn single(name: &str, value: Vec<F>) -> Self {
        let n = value.len();
        ParamStore::new(vec![Param::new(name, &[n], value)])
    }

    /// Sets parameter `i`'s gradient (marking it present).
    pub fn set_grad(&mut self, i: usize, grad: &[F]) {
        let p = &mut self.params[i];
        p.grad.copy_from_slice(grad);
        p.has_grad = true;
    }

    /// Marks every gradient absent (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn clear_grads(&mut self) {
        self.params.iter_mut().for_each(|p| p.has_grad = false);
    }

    pub fn get(&self, name: &str) -> Option<&Param<F>> {
        self.params.iter().find(|p| p.name == name)
    }
}

impl<F: Float> Params<F> for ParamStore<F> {
    fn count(&self) -> usize {
        self.params.len()
    }
    fn name(&self, i: usize) -> &str {
        &self.params[i].name
    }
    fn shape(&self, i: usize) -> &[usize] {
        &self.params[i].shape
    }
    fn value(&self, i: usize) -> &[F] {
        &self.params[i].value
    }
    fn grad(&self, i: usize) -> Option<&[F]> {
        self.params[i].present_grad()
    }
    fn value_grad_mut(&mut self, i: usize) -> (&mut [F], Option<&mut [F]>) {
        self.params[i].value_grad_mut()
    }
    fn ensure_grad(&mut self, i: usize) -> Option<&mut [F]> {
        Some(self.params[i].ensure_grad())
    }
}
