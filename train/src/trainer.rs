//! The training loop. Per step it reads like the math:
//!
//! ```text
//! x, y   = next batch (augmented, standardised)
//! ŷ      = model.forward(x, train)
//! loss   = L(ŷ, y)                      # stop here if it is not finite
//! ∇      = model.backward(∂L/∂ŷ)
//! θ      = optimizer.step(θ, ∇)         # after `accumulate` micro-batches
//! ema    = lerp(ema, θ); schedule.step(); log
//! ```
//!
//! and per epoch: evaluate on the validation and test sets (with EMA weights when configured),
//! step epoch schedules (reduce-on-plateau with the monitored metric), early stopping,
//! checkpoint. Checkpoints hold everything the next step depends on (weights and buffers,
//! optimizer and schedule state, dropout generators, EMA, early-stopping state, position in the
//! epoch), so `--resume` reproduces the uninterrupted run's numbers exactly.
//!
//! A run that diverges stops before the step's update ([`crate::divergence`]); nothing
//! non-finite is saved. Sizes are checked before anything is allocated ([`crate::budget`]); a
//! fresh run clears only what gradlab wrote in its folder ([`crate::run_folder`]).

use std::path::PathBuf;
use std::time::Instant;

use data::Batch;
use nn::{CrossEntropyConfig, CrossEntropyLoss, MseLoss, Sequential, Tensor};
use optim::{Ema, GradAccumulator, LrSchedule, Optimizer};

use crate::config::{Interval, LossKind, RunConfig};
use crate::data::Prepared;
use crate::divergence::{Divergence, Watch};
use crate::evaluate::count_correct;
use crate::files::write_atomic;
use crate::metrics::MetricsLog;
use crate::observe::{grad_norm, Loss, NoObserver, Observer, Probe, Targets};
use crate::optimizer::build_optimizer;
use crate::records::{StepRecord, Stop, Summary};
use crate::state::{EarlyState, EpochSums};
use crate::{budget, run_folder, Result, TrainError};

mod epoch;
mod persist;

/// How to run (as opposed to what: that is the [`RunConfig`]).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Continue from the run directory's last checkpoint.
    pub resume: bool,
    /// No progress bar and no per-epoch lines.
    pub quiet: bool,
    /// Stop after this many optimizer steps of this process, right after a checkpoint, as if
    /// the process had been killed there (for resume tests and time-boxed runs).
    pub stop_after_steps: Option<u64>,
}

/// Runs a training run described by `cfg`.
pub fn run(cfg: &RunConfig, opts: &Options) -> Result<Summary> {
    run_observed(cfg, opts, &mut NoObserver)
}

/// [`run`] with an [`Observer`] looking inside every step.
pub fn run_observed(
    cfg: &RunConfig,
    opts: &Options,
    observer: &mut (dyn Observer + Send),
) -> Result<Summary> {
    match cfg.train.threads {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| {
                    TrainError::Config(format!("{}: [train] threads = {n}: {e}", cfg.source))
                })?;
            pool.install(|| Trainer::new(cfg)?.run_observed(opts, observer))
        }
        None => Trainer::new(cfg)?.run_observed(opts, observer),
    }
}

/// A split of a run's data ([`Trainer::evaluate_split`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    Test,
}

/// A training run in progress: model, optimizer, data and the loop's state.
pub struct Trainer<'c> {
    cfg: &'c RunConfig,
    pub model: Sequential,
    pub optimizer: Optimizer<f32>,
    pub schedule: Option<Box<dyn LrSchedule>>,
    ema: Option<Ema<f32>>,
    acc: Option<GradAccumulator<f32>>,
    data: Prepared,
    loss: Loss,
    loader: data::Loader,
    batch: Batch,
    /// Examples per training batch: `[data] batch_size`, clamped to the training set.
    batch_size: usize,
    x: Tensor,
    /// The evaluation batch, kept across evaluations (a fresh multi-megabyte buffer each time
    /// cost page faults on every epoch).
    eval_x: Tensor,
    /// The training set standardised for [`Trainer::evaluate_split`], made when first asked.
    train_eval: Option<data::Dataset>,
    target: Tensor,
    labels: Vec<usize>,
    /// Per-example squared gradient norms of the last backward pass, when asked for.
    sq_norms: Vec<f32>,
    /// False once the model turned out not to support per-example statistics.
    per_example_ok: bool,
    /// Dropout generators before the current step's forward (kept only while observed).
    rng_before: Vec<u64>,
    /// Optimizer steps taken.
    pub step: u64,
    /// Completed epochs.
    pub epoch: usize,
    /// Batches of the current epoch already consumed.
    batch_in_epoch: usize,
    sums: EpochSums,
    early: EarlyState,
    watch: Watch,
    best_weights: Option<Vec<Vec<f32>>>,
    elapsed_before: f64,
    run_dir: PathBuf,
    last_checkpoint: Option<PathBuf>,
}

impl<'c> Trainer<'c> {
    /// Prepares data, model, optimizer and schedule from the config.
    pub fn new(cfg: &'c RunConfig) -> Result<Trainer<'c>> {
        budget::check_data(cfg)?;
        let data = cfg.data.prepare(cfg.seed)?;
        let train = &data.train;
        let loss_kind = match (cfg.train.loss, &train.targets) {
            (Some(k), _) => k,
            (None, data::Targets::Classes { .. }) => LossKind::CrossEntropy {
                label_smoothing: 0.0,
            },
            (None, data::Targets::Values { .. }) => LossKind::Mse,
        };
        let loss = match (loss_kind, &train.targets) {
            (LossKind::CrossEntropy { label_smoothing }, data::Targets::Classes { .. }) => {
                Loss::CrossEntropy(CrossEntropyLoss::new(CrossEntropyConfig {
                    label_smoothing,
                })?)
            }
            (LossKind::Mse, data::Targets::Values { .. }) => Loss::Mse(MseLoss::new()),
            (k, _) => {
                return Err(TrainError::Config(format!(
                    "{}: [train] loss {k:?} does not fit the targets of dataset `{}` ({})",
                    cfg.source,
                    train.name,
                    if train.labels().is_some() {
                        "class labels: use cross_entropy"
                    } else {
                        "values: use mse"
                    }
                )))
            }
        };
        let evaluated = [data.val.as_ref(), data.test.as_ref()]
            .into_iter()
            .flatten()
            .map(|d| d.len())
            .max()
            .unwrap_or(0);
        budget::check_model(cfg, &train.shape, (train.len(), evaluated))?;
        let model = cfg
            .model
            .build(&train.shape, cfg.seed)
            .map_err(|e| TrainError::Config(format!("{}: [model]: {e}", cfg.source)))?;
        let out = model.out_shape().iter().product::<usize>();
        match &train.targets {
            data::Targets::Classes { num_classes, .. } if out != *num_classes => {
                return Err(TrainError::Config(format!(
                    "{}: [model] produces {out} outputs per example but dataset `{}` has {num_classes} classes; make the last layer's out_features {num_classes}",
                    cfg.source, train.name
                )))
            }
            data::Targets::Values { dim, .. } if out != *dim => {
                return Err(TrainError::Config(format!(
                    "{}: [model] produces {out} outputs per example but dataset `{}` has {dim} target values",
                    cfg.source, train.name
                )))
            }
            _ => {}
        }
        let ema = match cfg.train.ema_decay {
            Some(d) => Some(Ema::new(d)?.with_warmup(cfg.train.ema_warmup)),
            None => None,
        };
        let acc = if cfg.train.accumulate > 1 {
            Some(GradAccumulator::new(cfg.train.accumulate)?)
        } else {
            None
        };
        // A batch larger than the training set is the whole set (one batch per epoch, as
        // PyTorch's DataLoader yields); with drop_last it leaves no batch, an error below.
        let batch_size = if cfg.data.drop_last {
            cfg.data.batch_size
        } else {
            cfg.data.batch_size.min(train.len().max(1))
        };
        let mut loader = data::Loader::new(train.len(), batch_size)?.drop_last(cfg.data.drop_last);
        if cfg.data.shuffle {
            loader = loader.shuffled(cfg.seed ^ 0x5_4FF1E);
        }
        if loader.num_batches() == 0 {
            return Err(TrainError::Config(format!(
                "{}: [data] batch_size = {} with drop_last leaves no batch of the {} training examples",
                cfg.source,
                cfg.data.batch_size,
                train.len()
            )));
        }
        if cfg.train.accumulate > loader.num_batches() {
            // A partial window at the end of an epoch is dropped, so no step would ever be
            // taken: a run by steps would loop forever, one by epochs would train nothing.
            return Err(TrainError::Config(format!(
                "{}: [train] accumulate = {}: an epoch has only {} batches of [data] \
                 batch_size = {} ({} training examples{}), and a partial accumulation window at \
                 the end of an epoch is dropped, so no optimizer step would be taken; use \
                 accumulate <= {} or a smaller batch_size",
                cfg.source,
                cfg.train.accumulate,
                loader.num_batches(),
                cfg.data.batch_size,
                train.len(),
                if cfg.data.drop_last {
                    ", drop_last"
                } else {
                    ""
                },
                loader.num_batches()
            )));
        }
        check_min_batch(cfg, &model, train.len(), batch_size)?;
        let batch = Batch::for_dataset(train, batch_size);
        let steps_per_epoch = (loader.num_batches() / cfg.train.accumulate).max(1) as u64;
        let (optimizer, schedule) = build_optimizer(cfg, &model, steps_per_epoch)?;
        Ok(Trainer {
            cfg,
            model,
            optimizer,
            schedule,
            ema,
            acc,
            loss,
            loader,
            batch,
            batch_size,
            x: Tensor::default(),
            eval_x: Tensor::default(),
            train_eval: None,
            target: Tensor::default(),
            labels: Vec::new(),
            sq_norms: Vec::new(),
            per_example_ok: true,
            rng_before: Vec::new(),
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            sums: EpochSums::default(),
            early: EarlyState::default(),
            watch: Watch::default(),
            best_weights: None,
            elapsed_before: 0.0,
            run_dir: cfg.log.dir.clone(),
            last_checkpoint: None,
            data,
        })
    }

    /// Optimizer steps per epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        (self.loader.num_batches() / self.cfg.train.accumulate).max(1) as u64
    }

    fn total_steps(&self) -> u64 {
        match (self.cfg.train.steps, self.cfg.train.epochs) {
            (Some(s), _) => s,
            (None, Some(e)) => (e as u64).saturating_mul(self.steps_per_epoch()),
            _ => 0,
        }
    }

    fn done(&self) -> bool {
        match (self.cfg.train.steps, self.cfg.train.epochs) {
            (Some(s), _) => self.step >= s,
            (None, Some(e)) => self.epoch >= e,
            _ => true,
        }
    }

    /// Trains to the end (or until stopped) and returns what happened.
    pub fn run(self, opts: &Options) -> Result<Summary> {
        self.run_observed(opts, &mut NoObserver)
    }

    /// [`run`](Self::run) with an [`Observer`].
    pub fn run_observed(mut self, opts: &Options, observer: &mut dyn Observer) -> Result<Summary> {
        let tensorboard = self.cfg.log.tensorboard;
        let mut log = if opts.resume {
            // Nothing is created before a checkpoint is found: a failed resume leaves no folder.
            let state = self.resume()?;
            run_folder::record(&self.run_dir, &[])?;
            MetricsLog::resume(
                &self.run_dir,
                state.metrics_len,
                state.metrics_lines,
                state.step + 1,
                tensorboard,
            )?
        } else {
            run_folder::start_fresh(&self.run_dir)?;
            MetricsLog::create(&self.run_dir, tensorboard)?
        };
        write_atomic(
            &self.run_dir.join("config.toml"),
            toml::to_string(&self.cfg.raw)
                .unwrap_or_default()
                .as_bytes(),
        )?;
        log.start_progress(self.total_steps(), self.step, opts.quiet);
        let started = Instant::now();
        let elapsed = |t: &Self| t.elapsed_before + started.elapsed().as_secs_f64();
        let mut losses = Vec::new();
        let mut stop = None;
        let mut last_record = None;
        let mut epoch_started;
        let mut epoch_examples = 0u64;
        let stop_at = opts.stop_after_steps.map(|n| self.step + n);
        let observing = observer.active();
        let mut acc_loss = 0.0f64;

        'epochs: while !self.done() {
            let e = self.epoch;
            let skip = self.batch_in_epoch;
            epoch_started = Instant::now();
            let batches: Vec<Vec<usize>> = self
                .loader
                .epoch(e as u64)
                .skip(skip)
                .map(|b| b.to_vec())
                .collect();
            for (k, idx) in batches.iter().enumerate() {
                let i = skip + k;
                // --- forward and loss
                if observing {
                    self.rng_before = self.model.rng_state();
                }
                let (loss, correct) = self.forward_train(idx, e, i)?;
                self.batch_in_epoch = i + 1;
                if !loss.is_finite() {
                    stop = Some(Stop::NonFinite {
                        step: self.step + 1,
                        epoch: e + 1,
                        loss,
                    });
                    break 'epochs;
                }
                self.sums.loss_sum += loss as f64 * idx.len() as f64;
                self.sums.correct += correct;
                self.sums.examples += idx.len() as u64;
                self.sums.batches += 1;
                epoch_examples += idx.len() as u64;
                // --- backward
                let mut per_example = self.acc.is_none()
                    && self.per_example_ok
                    && observer.wants_per_example(self.step + 1);
                if per_example {
                    self.sq_norms.clear();
                    self.sq_norms.resize(idx.len(), 0.0);
                    if self
                        .model
                        .backward_with_stats(self.loss.grad(), &mut self.sq_norms)
                        .is_err()
                    {
                        // A layer without per-example statistics (batch norm couples the
                        // examples): redo a plain backward and stop asking.
                        self.model.clear_grads();
                        self.backward();
                        self.per_example_ok = false;
                        per_example = false;
                    }
                } else {
                    self.backward();
                }
                acc_loss += loss as f64;
                if let Some(acc) = &mut self.acc {
                    if !acc.add(&mut self.model)? {
                        // The accumulator keeps the sum; the next micro-batch's backward
                        // writes the gradients afresh.
                        self.model.clear_grads();
                        continue;
                    }
                }
                let step_loss = (acc_loss / self.cfg.train.accumulate as f64) as f32;
                acc_loss = 0.0;
                // --- update
                let logging = (self.step + 1).is_multiple_of(self.cfg.log.every_steps);
                let grad_norm = (logging || observer.wants_grad_norm(self.step + 1))
                    .then(|| grad_norm(&self.model));
                let diverged = self
                    .watch
                    .observe(step_loss, self.cfg.train.divergence_factor)
                    .or_else(|| {
                        grad_norm
                            .is_some_and(|g| !g.is_finite())
                            .then_some(Divergence::NonFiniteGradient)
                    });
                if let Some(cause) = diverged {
                    stop = Some(Stop::Diverged {
                        step: self.step + 1,
                        epoch: e + 1,
                        cause,
                    });
                    break 'epochs;
                }
                let lr = self.optimizer.lrs()[0];
                let targets = match &self.loss {
                    Loss::CrossEntropy(_) => Targets::Labels(&self.labels),
                    Loss::Mse(_) => Targets::Values(&self.target),
                };
                // The observer's view of this step, before and after the update.
                macro_rules! probe {
                    ($norms:expr) => {
                        Probe {
                            step: self.step + 1,
                            epoch: e + 1,
                            loss: step_loss,
                            lr,
                            model: &mut self.model,
                            optimizer: &self.optimizer,
                            optimizer_config: &self.cfg.optimizer,
                            x: &self.x,
                            targets,
                            per_example_sq_norms: $norms,
                            grad_norm,
                            loss_fn: &mut self.loss,
                            rng_at_forward: &self.rng_before,
                        }
                    };
                }
                observer.after_backward(&mut probe!(per_example.then_some(&self.sq_norms[..])))?;
                self.optimizer.step(&mut self.model)?;
                // Gradients absent until the next backward writes them: no zeroing pass, and
                // nothing (optimizer, clipping, the doctor's readers) can read them stale.
                self.model.clear_grads();
                observer.after_update(&mut probe!(None))?;
                self.step += 1;
                losses.push(step_loss);
                if let Some(ema) = &mut self.ema {
                    ema.update(&self.model)?;
                }
                if let (Some(s), Some(sc)) = (&mut self.schedule, &self.cfg.schedule) {
                    if sc.interval == Interval::Step {
                        s.step(None)?;
                        optim::schedule::apply(&**s, &mut self.optimizer);
                    }
                }
                // --- log
                if logging {
                    log.step(&StepRecord {
                        step: self.step,
                        epoch: e + 1,
                        loss: step_loss,
                        lr,
                        grad_norm,
                        time_s: elapsed(&self),
                    })?;
                }
                log.progress(self.step, step_loss);
                if observing && observer.wants_stop() {
                    stop = Some(Stop::Interrupted { step: self.step });
                    break 'epochs;
                }
                let at_limit = self.cfg.train.steps.is_some_and(|s| self.step >= s);
                if at_limit {
                    break;
                }
                let interrupt = stop_at.is_some_and(|s| self.step >= s);
                let every = self.cfg.train.checkpoint_every_steps;
                if interrupt || every.is_some_and(|n| self.step.is_multiple_of(n)) {
                    if let Some(s) = self.checkpoint(&mut log, elapsed(&self))? {
                        stop = Some(s);
                        break 'epochs;
                    }
                }
                if interrupt {
                    stop = Some(Stop::Interrupted { step: self.step });
                    break 'epochs;
                }
            }
            // --- end of epoch (or of the step budget inside one)
            if let Some(s) = self.broken_weights() {
                stop = Some(s);
                break;
            }
            if let Some(acc) = &mut self.acc {
                // A partial accumulation window at the end of an epoch is dropped.
                acc.reset();
                self.model.clear_grads();
                acc_loss = 0.0;
            }
            let epoch_finished = self.batch_in_epoch >= self.loader.num_batches();
            let record = self.end_epoch(
                e,
                elapsed(&self),
                epoch_started.elapsed().as_secs_f64(),
                epoch_examples,
            )?;
            log.epoch(&record, self.cfg)?;
            observer.after_epoch(&record)?;
            epoch_examples = 0;
            if epoch_finished {
                self.epoch += 1;
                self.batch_in_epoch = 0;
            }
            self.sums = EpochSums::default();
            // Epoch schedules, early stopping.
            if let (Some(s), Some(sc)) = (&mut self.schedule, &self.cfg.schedule) {
                if sc.interval == Interval::Epoch {
                    let metric = record.get(&sc.monitor);
                    s.step(metric)?;
                    optim::schedule::apply(&**s, &mut self.optimizer);
                }
            }
            let early = self.early_stopping(&record)?;
            last_record = Some(record);
            if let Some(s) = early {
                stop = Some(s);
                break;
            }
            if observer.wants_stop() {
                stop = Some(Stop::Interrupted { step: self.step });
                break;
            }
            let every = self.cfg.train.checkpoint_every_epochs;
            if self.done() || (every > 0 && self.epoch.is_multiple_of(every) && epoch_finished) {
                if let Some(s) = self.checkpoint(&mut log, elapsed(&self))? {
                    stop = Some(s);
                    break;
                }
            }
        }
        log.finish_progress();
        let mut stop = stop.unwrap_or(Stop::Completed);
        if let Stop::EarlyStopped { .. } = stop {
            if let (Some(best), true) = (
                &self.best_weights,
                self.cfg
                    .train
                    .early_stopping
                    .as_ref()
                    .is_some_and(|e| e.restore_best),
            ) {
                self.model.restore(best)?;
            }
        }
        if !stop.is_diverged() && !matches!(stop, Stop::Interrupted { .. }) {
            match self.broken_weights() {
                Some(s) => stop = s,
                None => self.model.save(self.run_dir.join("model.safetensors"))?,
            }
        }
        let summary = Summary {
            best: self.early.best.map(|b| (self.early.best_epoch, b)),
            stop,
            steps: self.step,
            epochs: self.epoch,
            last: last_record,
            losses,
            wall_s: elapsed(&self),
            run_dir: self.run_dir.clone(),
            checkpoint: self.last_checkpoint.clone(),
        };
        log.summary(&summary)?;
        Ok(summary)
    }

    /// Fills the batch `idx`, runs the training forward pass and the loss; returns the loss and
    /// the number of correct predictions.
    fn forward_train(&mut self, idx: &[usize], epoch: usize, i: usize) -> Result<(f32, u64)> {
        let train = &self.data.train;
        self.batch.fill(train, idx);
        if let Some(a) = &mut self.data.augmenter {
            a.apply(&mut self.batch, epoch as u64, i as u64)?;
        }
        if let Some(st) = &self.data.standardizer {
            st.apply_rows(&mut self.batch.x);
        }
        // The batch becomes the model's input by swapping buffers, not copying (the copy was
        // ~3% of an MLP step); the next fill reuses the other buffer. The shape changes only
        // for a last partial batch.
        std::mem::swap(&mut self.x.data, &mut self.batch.x);
        if self.x.shape.first() != Some(&idx.len()) || self.x.shape.len() != 1 + train.shape.len() {
            self.x.shape.clear();
            self.x.shape.push(idx.len());
            self.x.shape.extend_from_slice(&train.shape);
        }
        assert_eq!(self.x.numel(), self.x.shape.iter().product::<usize>());
        let y = self.model.forward_mut(&mut self.x, true);
        Ok(match &mut self.loss {
            Loss::CrossEntropy(ce) => {
                self.labels.clear();
                self.labels
                    .extend(self.batch.labels.iter().map(|&l| l as usize));
                let l = ce.forward(y, &self.labels)?;
                (l, count_correct(y, &self.labels))
            }
            Loss::Mse(mse) => {
                self.target.resize(&y.shape);
                self.target.data.copy_from_slice(&self.batch.values);
                (mse.forward(y, &self.target)?, 0)
            }
        })
    }

    /// Parameter gradients only: the input gradient of the first layer is never needed.
    fn backward(&mut self) {
        self.model.backward_params(self.loss.grad());
    }
}

/// Refuses batch sizes a layer cannot train on (batch norm with batch statistics needs two
/// examples where an example has one value per channel): the first batch, and the last one of
/// an epoch when it is partial, before anything runs, rather than a panic mid-epoch.
fn check_min_batch(
    cfg: &RunConfig,
    model: &Sequential,
    examples: usize,
    batch_size: usize,
) -> Result<()> {
    let (need, Some(layer)) = model.min_train_batch() else {
        return Ok(());
    };
    let kind = model.layers()[layer].kind();
    let why = format!(
        "layer {layer} ({kind}) normalises each training batch with the batch's own statistics \
         and needs at least {need} examples per batch (PyTorch's BatchNorm refuses fewer too)"
    );
    if batch_size < need {
        return Err(TrainError::Config(format!(
            "{}: [data] batch_size = {}{}: {why}",
            cfg.source,
            cfg.data.batch_size,
            if batch_size < cfg.data.batch_size {
                format!(" (the whole training set: {examples} examples)")
            } else {
                String::new()
            }
        )));
    }
    let last = examples % batch_size;
    if !cfg.data.drop_last && last > 0 && last < need {
        return Err(TrainError::Config(format!(
            "{}: the {examples} training examples in batches of [data] batch_size = {} leave a \
             last batch of {last}, and {why}: set [data] drop_last = true or another batch_size",
            cfg.source, cfg.data.batch_size
        )));
    }
    Ok(())
}

impl std::fmt::Debug for Trainer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("step", &self.step)
            .field("epoch", &self.epoch)
            .finish()
    }
}
