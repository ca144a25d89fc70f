//! The transform abstraction: one small, stateful step of gradient processing.
//!
//! An optimizer is a [`Chain`](crate::Chain) of transforms. The chain hands each transform the
//! current *updates* (initially the gradient), and each transform rewrites them in place; the
//! last update is added to the parameter. Learning rate and weight decay come from the
//! parameter's group through [`Ctx`], so that schedules and parameter groups need no transform
//! to know about them.
//!
//! Most transforms are **elementwise**: element `i` of the output depends only on element `i` of
//! the gradient, the parameter and the state. The chain then runs all of them over one small
//! chunk at a time while it sits in L1 cache, so that a whole optimizer step reads the gradient,
//! parameter and state once and writes parameter and state once (a fused update). Transforms
//! that need the whole tensor (trust ratios, orthogonalisation, per-tensor norms) say so with
//! [`Transform::elementwise`] returning `false` and implement [`Transform::tensor`].

use crate::{Float, State};

/// Maximum number of per-element buffers one transform may keep.
pub const MAX_BUFS: usize = 4;
/// Coefficients a transform computes once per tensor and step, then reads in every chunk.
pub type Coef = [f64; 8];

/// Per-step, per-group hyperparameters visible to every transform.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ctx {
    /// The group's learning rate for this step (after any schedule).
    pub lr: f64,
    /// The group's weight decay. Where it acts (coupled L2 or decoupled) is decided by where
    /// [`add_decayed_weights`](crate::transforms::add_decayed_weights) sits in the chain.
    pub weight_decay: f64,
    /// A scheduled momentum (one-cycle's `cycle_momentum`): when set, it replaces the momentum of
    /// `trace` and the first beta of Adam-like transforms.
    pub momentum: Option<f64>,
    /// The optimizer's step number, 1-based.
    pub step: u64,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx {
            lr: 1e-3,
            weight_decay: 0.0,
            momentum: None,
            step: 1,
        }
    }
}

/// Shape and name of the parameter a transform is working on.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
}

/// One composable step of an optimizer. See the module docs.
pub trait Transform<F: Float>: Send + Sync {
    /// Short snake_case name, used in state files and error messages (`scale_by_adam`).
    fn name(&self) -> &'static str;

    /// Names of the per-element buffers in [`State::bufs`], in order (`["exp_avg", "exp_avg_sq"]`).
    fn buffers(&self) -> &'static [&'static str] {
        &[]
    }

    /// Number of scalars in [`State::scalars`] (a step counter is the usual one).
    fn scalars(&self) -> usize {
        0
    }

    /// Fresh state for a parameter, created lazily at its first step with a gradient (as PyTorch
    /// does). The default is zero buffers; override it for non-zero initial values.
    fn init(&self, param: &[F], _info: TensorInfo<'_>) -> State<F> {
        State::zeros(self.buffers().len(), param.len(), self.scalars())
    }

    /// What the transform is to the hand-fused loops of [`fused`](crate::fused): a chain made
    /// only of links those loops know (Adam, AdamW, SGD with momentum) runs as one loop per
    /// tensor, bit-identical to this transform's `chunk`. A transform that returns anything but
    /// [`Link::Other`] promises exactly that link's arithmetic and coefficients.
    fn link(&self) -> Link {
        Link::Other
    }

    /// Whether the transform works element by element (see the module docs).
    fn elementwise(&self) -> bool {
        true
    }

    /// Once per tensor and step, before the chunks: advance scalar state (step counts) and
    /// return the coefficients [`Transform::chunk`] needs.
    fn begin(&self, _ctx: &Ctx, _scalars: &mut [f64]) -> Coef {
        [0.0; 8]
    }

    /// Elementwise work over one chunk: `bufs[k]` is the chunk of buffer `k`, `upd` the chunk of
    /// the updates (rewrite in place), `param` the chunk of the parameter's current value.
    fn chunk(&self, _coef: &Coef, _bufs: &mut [&mut [F]], _upd: &mut [F], _param: &[F]) {}

    /// When the transform only multiplies the updates by a scalar (`u ← s·u`), that scalar. The
    /// fused executor then folds it into the final `p += s·u` instead of spending a pass on it;
    /// the result is bit-identical, since `p + (s·u)` rounds the same either way.
    fn as_scalar(&self, _coef: &Coef) -> Option<f64> {
        None
    }

    /// Whole-tensor work, for transforms whose [`Transform::elementwise`] is `false`.
    /// The default runs `begin` and then `chunk` over the whole tensor.
    fn tensor(
        &self,
        ctx: &Ctx,
        state: &mut State<F>,
        upd: &mut [F],
        param: &[F],
        _info: TensorInfo<'_>,
    ) {
        let coef = self.begin(ctx, &mut state.scalars);
        let mut slots: [&mut [F]; MAX_BUFS] = Default::default();
        let n = state.bufs.len();
        for (slot, buf) in slots.iter_mut().zip(state.bufs.iter_mut()) {
            *slot = buf.as_mut_slice();
        }
        self.chunk(&coef, &mut slots[..n], upd, param);
    }
}

/// Boxed transforms are how chains hold them.
pub type BoxedTransform<F> = Box<dyn Transform<F>>;

/// What a transform is to the hand-fused loops ([`Transform::link`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Anything else: the chain runs on the general executor.
    Other,
    /// `add_decayed_weights`: `u ← u + wd·p`, skipped when `wd = 0` (coefficient 0).
    DecayedWeights,
    /// `scale_by_learning_rate`: `u ← s·u` (coefficient 0).
    LearningRate,
    /// `scale_by_adam` without AMSGrad (coefficients as its `begin`).
    Adam,
    /// `trace` (coefficients `[μ, 1 − dampening, first step]`).
    Trace { nesterov: bool },
}
