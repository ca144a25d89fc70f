//! The end of an epoch: evaluation on the validation and test sets (EMA weights when
//! configured), the epoch record, early stopping; and evaluation of any split on demand.

use crate::evaluate::evaluate;
use crate::observe::Loss;
use crate::records::{EpochRecord, Stop};
use crate::Result;

use super::{Split, Trainer};

impl Trainer<'_> {
    /// Loss (and accuracy) of the current weights on the validation set, if there is one.
    pub fn evaluate_validation(&mut self) -> Result<Option<(f64, Option<f64>)>> {
        self.evaluate_split(Split::Validation)
    }

    /// Mean loss (and accuracy) of the current weights over a whole split, in evaluation mode
    /// (the training set without augmentation, standardised as its batches are); `None` when the
    /// run has no such split. For analyses of a run's weights (the loss along a line of them).
    pub fn evaluate_split(&mut self, split: Split) -> Result<Option<(f64, Option<f64>)>> {
        if split == Split::Train && self.train_eval.is_none() {
            let mut d = self.data.train.clone();
            if let Some(st) = &self.data.standardizer {
                st.apply_rows(&mut d.x);
            }
            self.train_eval = Some(d);
        }
        let set = match split {
            Split::Train => self.train_eval.as_ref(),
            Split::Validation => self.data.val.as_ref(),
            Split::Test => self.data.test.as_ref(),
        };
        let Some(set) = set else { return Ok(None) };
        Ok(Some(evaluate(
            &mut self.model,
            &mut self.eval_x,
            &mut self.loss,
            set,
            self.cfg.data.eval_batch_size,
        )?))
    }

    /// Evaluates (EMA weights when configured) and builds the epoch record.
    pub(super) fn end_epoch(
        &mut self,
        e: usize,
        time_s: f64,
        epoch_s: f64,
        examples: u64,
    ) -> Result<EpochRecord> {
        if let Some(ema) = &mut self.ema {
            if ema.updates() > 0 {
                ema.swap_into(&mut self.model)?;
            }
        }
        let val = self.evaluate_split(Split::Validation)?;
        let test = self.evaluate_split(Split::Test)?;
        if let Some(ema) = &mut self.ema {
            if ema.updates() > 0 {
                ema.swap_into(&mut self.model)?;
            }
        }
        let classify = matches!(self.loss, Loss::CrossEntropy(_));
        let s = &self.sums;
        Ok(EpochRecord {
            epoch: e + 1,
            step: self.step,
            train_loss: (s.examples > 0).then(|| s.loss_sum / s.examples as f64),
            train_accuracy: (classify && s.examples > 0)
                .then(|| s.correct as f64 / s.examples as f64),
            val_loss: val.map(|v| v.0),
            val_accuracy: val.and_then(|v| v.1),
            test_loss: test.map(|v| v.0),
            test_accuracy: test.and_then(|v| v.1),
            lr: self.optimizer.lrs()[0],
            time_s,
            examples_per_s: if epoch_s > 0.0 {
                examples as f64 / epoch_s
            } else {
                0.0
            },
        })
    }

    pub(super) fn early_stopping(&mut self, r: &EpochRecord) -> Result<Option<Stop>> {
        let Some(es) = &self.cfg.train.early_stopping else {
            return Ok(None);
        };
        let Some(v) = r.get(&es.monitor) else {
            return Ok(None);
        };
        let improved = match self.early.best {
            None => true,
            Some(b) if es.maximize => v > b + es.min_delta,
            Some(b) => v < b - es.min_delta,
        };
        if improved {
            self.early.best = Some(v);
            self.early.best_epoch = r.epoch;
            self.early.wait = 0;
            if es.restore_best {
                match &mut self.best_weights {
                    Some(w) => {
                        for (dst, src) in w.iter_mut().zip(self.model.snapshot()) {
                            *dst = src;
                        }
                    }
                    None => self.best_weights = Some(self.model.snapshot()),
                }
            }
        } else {
            self.early.wait += 1;
            if self.early.wait >= es.patience {
                return Ok(Some(Stop::EarlyStopped {
                    epoch: r.epoch,
                    best_epoch: self.early.best_epoch,
                    best: self.early.best.unwrap_or(v),
                }));
            }
        }
        Ok(None)
    }
}
