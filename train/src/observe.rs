//! Looking inside a run while it trains: an [`Observer`] is called by the loop after each
//! backward pass (gradients present, weights not yet updated), after each update, and after each
//! epoch. It gets a [`Probe`]: the step's batch, the model and the optimizer, plus measurements
//! that leave training untouched — the loss and gradient at the current weights (or at perturbed
//! ones), exact Hessian-vector products ([`Probe::hvp`]), each layer's activations, one example's
//! gradient.
//!
//! Probes replay the step's dropout masks, so at the current weights they compute exactly the
//! step's loss and gradient. "Untouched" is exact: a probe saves the weights, batch-norm statistics, dropout generators and
//! gradients it disturbs and puts them back bit for bit, so a run with an observer produces the
//! same numbers as one without (tested).

use nn::{Sequential, Tensor};
use optim::{Optimizer, Params};

use crate::records::EpochRecord;
use crate::Result;

/// The targets of the step's batch.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    Labels(&'a [usize]),
    Values(&'a Tensor),
}

/// The loss function of a run.
pub enum Loss {
    CrossEntropy(nn::CrossEntropyLoss),
    Mse(nn::MseLoss),
}

impl Loss {
    /// Mean loss of `y` against `t`; stores `∂loss/∂y` (see [`grad`](Self::grad)).
    pub fn forward(&mut self, y: &Tensor, t: Targets<'_>) -> Result<f32> {
        Ok(match (self, t) {
            (Loss::CrossEntropy(ce), Targets::Labels(l)) => ce.forward(y, l)?,
            (Loss::Mse(m), Targets::Values(v)) => m.forward(y, v)?,
            _ => {
                return Err(crate::TrainError::Config(
                    "loss and targets do not fit (cross_entropy needs labels, mse values)".into(),
                ))
            }
        })
    }

    pub fn grad(&self) -> &Tensor {
        match self {
            Loss::CrossEntropy(ce) => ce.grad(),
            Loss::Mse(m) => m.grad(),
        }
    }

    /// `(∂loss/∂y, R{∂loss/∂y})` for the output `y` of the last [`forward`](Self::forward)
    /// moving along `ry` (see [`nn::rop`]).
    pub fn grad_r(&mut self, y: &Tensor, ry: &Tensor) -> Result<(&Tensor, &Tensor)> {
        Ok(match self {
            Loss::CrossEntropy(ce) => {
                ce.grad_r(y, ry)?;
                (ce.grad(), ce.last_grad_r())
            }
            Loss::Mse(m) => {
                m.grad_r(ry)?;
                (m.grad(), m.last_grad_r())
            }
        })
    }
}

/// Called by the training loop; every method defaults to doing nothing.
pub trait Observer {
    /// Whether the backward pass of optimizer step `step` (1-based) should also compute
    /// per-example squared gradient norms ([`Probe::per_example_sq_norms`]).
    fn wants_per_example(&self, _step: u64) -> bool {
        false
    }

    /// Whether step `step`'s probes should carry the global gradient norm
    /// ([`Probe::grad_norm`]); computed once by the trainer, which also logs it.
    fn wants_grad_norm(&self, _step: u64) -> bool {
        false
    }

    /// After the backward pass of step `probe.step`: the model holds this step's gradients (the
    /// mean over accumulated micro-batches), the weights are those the step starts from.
    fn after_backward(&mut self, _probe: &mut Probe<'_>) -> Result<()> {
        Ok(())
    }

    /// After the update of step `probe.step` (gradients cleared, weights updated, batch the same).
    fn after_update(&mut self, _probe: &mut Probe<'_>) -> Result<()> {
        Ok(())
    }

    /// Whether the observer looks at steps at all (the loop skips its bookkeeping when not).
    fn active(&self) -> bool {
        true
    }

    /// After each epoch's evaluation.
    fn after_epoch(&mut self, _record: &EpochRecord) -> Result<()> {
        Ok(())
    }

    /// Whether the run should end now. Asked after each update (an LR range test that has seen
    /// the loss explode) and after each epoch, after [`after_epoch`] and early stopping (a
    /// caller's rule, such as a tuning study pruning a hopeless trial). The run then ends as
    /// [`Stop::Interrupted`](crate::Stop::Interrupted) with its steps and epochs so far logged;
    /// after an update it ends without a checkpoint or final weights.
    ///
    /// [`after_epoch`]: Observer::after_epoch
    fn wants_stop(&self) -> bool {
        false
    }
}

/// An observer that does nothing.
pub struct NoObserver;

impl Observer for NoObserver {
    fn active(&self) -> bool {
        false
    }
}

/// A view of one training step for an [`Observer`].
pub struct Probe<'a> {
    /// The optimizer step being taken (1-based).
    pub step: u64,
    /// The epoch (1-based).
    pub epoch: usize,
    /// The step's mini-batch loss.
    pub loss: f32,
    /// The step's learning rate (first group).
    pub lr: f64,
    pub model: &'a mut Sequential,
    pub optimizer: &'a Optimizer<f32>,
    /// The run's `[optimizer]` table (name and hyperparameters as configured: momentum, betas,
    /// nesterov, eps…), for readings that depend on the update rule (a stability threshold).
    pub optimizer_config: &'a toml::Table,
    /// The step's (last micro-)batch, as the model saw it.
    pub x: &'a Tensor,
    pub targets: Targets<'a>,
    /// `‖∂loss/∂θ of example n‖²` (its share of the mean loss), when asked for and the model
    /// supports it (not with batch norm, whose statistics couple the examples: see
    /// [`per_example_eval_statistics`](Self::per_example_eval_statistics)).
    pub per_example_sq_norms: Option<&'a [f32]>,
    /// The global L2 norm of the step's gradients (before clipping), when the observer asked
    /// for it or the step is logged.
    pub grad_norm: Option<f64>,
    pub(crate) loss_fn: &'a mut Loss,
    /// The dropout generators' state before the step's forward pass: probes replay the step's
    /// masks, so the loss at the current weights is the step's loss.
    pub(crate) rng_at_forward: &'a [u64],
}

/// What a probe must put back.
#[derive(Default)]
struct Saved {
    weights: Vec<Vec<f32>>,
    rng: Vec<u64>,
    grads: Vec<Option<Vec<f32>>>,
}

thread_local! {
    /// The batch-norm statistics [`Probe::forward_isolated`] saves, reused.
    static BUFFERS: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

thread_local! {
    /// Spent [`Saved`] buffers, reused: a probe copies the model a few times per measurement,
    /// and fresh multi-megabyte allocations (page faults, zeroing) would cost more than the copy.
    static SAVED: std::cell::RefCell<Vec<Saved>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Probe<'_> {
    fn save(&self) -> Saved {
        let m = &*self.model;
        let mut s = SAVED.with(|p| p.borrow_mut().pop()).unwrap_or_default();
        m.snapshot_into(&mut s.weights);
        s.rng = m.rng_state();
        let n = Params::<f32>::count(m);
        s.grads.resize_with(n, || None);
        for (i, slot) in s.grads.iter_mut().enumerate() {
            match Params::<f32>::grad(m, i) {
                Some(g) => {
                    let b = slot.get_or_insert_with(Vec::new);
                    b.clear();
                    b.extend_from_slice(g);
                }
                None => *slot = None,
            }
        }
        s
    }

    fn put_back(&mut self, s: Saved) -> Result<()> {
        self.model.restore(&s.weights)?;
        self.model.set_rng_state(&s.rng)?;
        // Presence is restored too: a gradient that was absent (cleared after the step) and
        // that the isolated pass wrote must read as absent again, or the next backward would
        // add to the pass's gradient.
        for (i, g) in s.grads.iter().enumerate() {
            match g {
                Some(g) => {
                    if let Some(dst) = self.model.ensure_grad(i) {
                        dst.copy_from_slice(g);
                    }
                }
                None => self.model.clear_grad(i),
            }
        }
        SAVED.with(|p| p.borrow_mut().push(s));
        Ok(())
    }

    /// Runs `f` with the model free to be changed (weights, statistics, generators, gradients)
    /// and restores all of it afterwards.
    pub fn isolated<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let saved = self.save();
        self.model.set_rng_state(self.rng_at_forward)?;
        let out = f(self);
        self.put_back(saved)?;
        out
    }

    /// [`isolated`](Self::isolated) for a probe that only runs forward passes (and R-passes,
    /// which leave parameter gradients alone): it saves and restores what those change, the
    /// batch-norm running statistics and the generators, and leaves the weights and gradients
    /// uncopied (a copy of each per probe would cost more than a small probe itself). `f` must
    /// not change weights or gradients (the tests of this file check that training is
    /// untouched by every probe).
    pub(crate) fn forward_isolated<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let rng = self.model.rng_state();
        let mut buffers = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
        self.model.buffers_snapshot_into(&mut buffers);
        self.model.set_rng_state(self.rng_at_forward)?;
        let out = f(self);
        self.model.restore_buffers(&buffers)?;
        self.model.set_rng_state(&rng)?;
        BUFFERS.with(|b| *b.borrow_mut() = buffers);
        out
    }

    /// Training-mode loss on this step's batch at the model's current weights (to be called
    /// inside [`isolated`](Self::isolated) or where disturbing statistics does not matter).
    pub(crate) fn raw_loss(&mut self) -> Result<f32> {
        let y = self.model.forward(self.x, true);
        self.loss_fn.forward(y, self.targets)
    }

    /// The loss on this step's batch at weights `θ + t·d` (`d` per parameter, e.g. the step's
    /// update direction; `None` for `t = 0`). Training state is untouched.
    pub fn loss_at(&mut self, direction: Option<(&[Vec<f32>], f32)>) -> Result<f32> {
        match direction {
            None => self.forward_isolated(|p| p.raw_loss()),
            Some((d, t)) => self.isolated(|p| {
                p.shift_weights(d, t);
                p.raw_loss()
            }),
        }
    }

    /// Loss and gradient (`grads[i]` for parameter `i`, resized as needed) on this step's batch
    /// at weights `θ + t·d`. Training state is untouched.
    pub fn loss_and_gradient(
        &mut self,
        direction: Option<(&[Vec<f32>], f32)>,
        grads: &mut Vec<Vec<f32>>,
    ) -> Result<f32> {
        self.isolated(|p| {
            if let Some((d, t)) = direction {
                p.shift_weights(d, t);
            }
            p.model.clear_grads();
            let loss = p.raw_loss()?;
            p.model.backward(p.loss_fn.grad());
            p.read_grads(grads);
            Ok(loss)
        })
    }

    /// Runs `f` inside [`isolated`](Self::isolated) with the model in the evaluation-statistics
    /// variant ([`nn::Layer::set_eval_statistics`]); `None` when no layer is affected (the
    /// model has no batch norm with running statistics, so the variant is the training loss).
    pub(crate) fn in_eval_statistics<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        self.isolated(|p| {
            if !p.model.set_eval_statistics(true) {
                p.model.set_eval_statistics(false);
                return Ok(None);
            }
            let out = f(p);
            p.model.set_eval_statistics(false);
            out
        })
    }

    /// Per-example statistics of a batch-norm model in the *evaluation-statistics variant*
    /// (BackPACK's answer for batch norm, whose training-mode statistics couple the examples so
    /// that per-example gradients are not defined): every batch norm is the fixed affine map it
    /// is in evaluation mode (running mean and variance as constants, left unchanged), dropout
    /// keeps the step's masks. On this step's batch at the current weights, fills `sq` with
    /// each example's `‖∂(its share of the mean loss)/∂θ‖²` (as
    /// [`per_example_sq_norms`](Self::per_example_sq_norms)) and `grads` with the variant's
    /// mean-loss gradient (the mean of those per-example gradients, laid out as
    /// [`loss_and_gradient`](Self::loss_and_gradient)'s), and returns the variant's loss.
    /// `None` when the model has no batch norm with running statistics (use the exact
    /// statistics) or a layer has no per-example norms. Training state is untouched.
    pub fn per_example_eval_statistics(
        &mut self,
        sq: &mut Vec<f32>,
        grads: &mut Vec<Vec<f32>>,
    ) -> Result<Option<f32>> {
        self.in_eval_statistics(|p| {
            p.model.clear_grads();
            let loss = p.raw_loss()?;
            sq.clear();
            sq.resize(p.x.batch(), 0.0);
            if p.model.backward_with_stats(p.loss_fn.grad(), sq).is_err() {
                return Ok(None);
            }
            p.read_grads(grads);
            Ok(Some(loss))
        })
    }

    /// `∂L/∂y` (rows = examples) for the model's output `y` on this step's batch at the current
    /// weights, `L` the step's mean loss (label smoothing included): what the loss hands the last
    /// layer's backward pass. Training state is untouched.
    pub fn output_gradient(&mut self, out: &mut Tensor) -> Result<()> {
        self.forward_isolated(|p| {
            p.raw_loss()?;
            out.copy_from(p.loss_fn.grad());
            Ok(())
        })
    }

    /// Calls `f(layer index, layer kind, output)` for every top-level layer's output of a
    /// training-mode forward pass on this step's batch. Training state is untouched.
    pub fn for_each_activation(
        &mut self,
        mut f: impl FnMut(usize, &'static str, &Tensor),
    ) -> Result<()> {
        self.forward_isolated(|p| {
            let mut x = p.x.clone();
            for (i, layer) in p.model.layers_mut().iter_mut().enumerate() {
                let kind = layer.kind();
                let y = layer.forward(&x, true);
                f(i, kind, y);
                x.copy_from(y);
            }
            Ok(())
        })
    }

    fn shift_weights(&mut self, d: &[Vec<f32>], t: f32) {
        for (i, d) in d
            .iter()
            .enumerate()
            .take(Params::<f32>::count(&*self.model))
        {
            let (w, _) = self.model.value_grad_mut(i);
            w.iter_mut().zip(d).for_each(|(w, d)| *w += t * d);
        }
    }

    pub(crate) fn read_grads(&self, grads: &mut Vec<Vec<f32>>) {
        let n = Params::<f32>::count(&*self.model);
        grads.resize_with(n, Vec::new);
        for (i, g) in grads.iter_mut().enumerate() {
            g.clear();
            match Params::<f32>::grad(&*self.model, i) {
                Some(src) => g.extend_from_slice(src),
                None => g.resize(Params::<f32>::value(&*self.model, i).len(), 0.0),
            }
        }
    }
}

/// The global gradient norm of `model` (all gradients as one vector), in `f64`: what a logged
/// step records and [`Probe::grad_norm`] carries.
pub(crate) fn grad_norm(model: &Sequential) -> f64 {
    let mut s = 0.0f64;
    for i in 0..Params::<f32>::count(model) {
        if let Some(g) = Params::<f32>::grad(model, i) {
            s += nn::sum_sq(g);
        }
    }
    s.sqrt()
}
