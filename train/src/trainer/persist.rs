//! Checkpoints and resuming: what is saved after a step (never broken weights), and which
//! checkpoint a `--resume` restores.

use std::path::Path;

use optim::LrSchedule;

use crate::divergence::{self, Divergence};
use crate::metrics::MetricsLog;
use crate::records::Stop;
use crate::resume::{self, Expect};
use crate::state::{TrainerState, VERSION};
use crate::{checkpoint, Result, TrainError};

use super::Trainer;

impl Trainer<'_> {
    /// A diverged stop when a weight or buffer (or an EMA weight) is not finite.
    pub(super) fn broken_weights(&self) -> Option<Stop> {
        let tensor = divergence::non_finite_tensor(&self.model).or_else(|| {
            let ema = self.ema.as_ref().filter(|e| e.updates() > 0)?;
            (0..optim::Params::<f32>::count(&self.model))
                .find(|&i| ema.averaged(i).is_some_and(|v| !divergence::all_finite(v)))
                .map(|i| format!("EMA of {}", optim::Params::<f32>::name(&self.model, i)))
        })?;
        Some(Stop::Diverged {
            step: self.step,
            epoch: (self.epoch + usize::from(self.batch_in_epoch > 0)).max(1),
            cause: Divergence::NonFiniteWeights { tensor },
        })
    }

    /// Writes a checkpoint — unless the weights are broken: then the diverged stop, and the
    /// last good checkpoint stays.
    pub(super) fn checkpoint(
        &mut self,
        log: &mut MetricsLog,
        elapsed: f64,
    ) -> Result<Option<Stop>> {
        if let Some(s) = self.broken_weights() {
            return Ok(Some(s));
        }
        let state = TrainerState {
            version: VERSION,
            step: self.step,
            epoch: self.epoch,
            batch_in_epoch: self.batch_in_epoch,
            batches_per_epoch: self.loader.num_batches(),
            accumulate: self.cfg.train.accumulate,
            sums: self.sums.clone(),
            early: self.early.clone(),
            divergence: self.watch.clone(),
            rng_state: self.model.rng_state(),
            metrics_len: log.metrics_len()?,
            metrics_lines: log.metrics_lines(),
            elapsed_s: elapsed,
        };
        let dir = checkpoint::save(
            &self.run_dir,
            self.last_checkpoint.as_deref(),
            &state,
            &self.model,
            &self.optimizer,
            self.schedule.as_deref(),
            self.ema.as_ref(),
            self.best_weights.as_deref(),
        )?;
        self.last_checkpoint = Some(dir);
        Ok(None)
    }

    /// Restores the newest usable checkpoint: its files must match their checksums and its
    /// state must agree with itself, the config and the log; a damaged one is passed over for
    /// the one before it, with a warning. An error naming each one tried when none is usable.
    pub(super) fn resume(&mut self) -> Result<TrainerState> {
        let metrics = self.run_dir.join("metrics.jsonl");
        let expect = Expect {
            batches_per_epoch: self.loader.num_batches(),
            accumulate: self.cfg.train.accumulate,
            batch_size: self.batch_size,
            epochs: self.cfg.train.epochs,
            steps: self.cfg.train.steps,
            metrics: &metrics,
        };
        let mut passed = Vec::new();
        for dir in checkpoint::candidates(&self.run_dir)? {
            let name = dir
                .strip_prefix(&self.run_dir)
                .unwrap_or(&dir)
                .display()
                .to_string();
            let state = checkpoint::read(&dir)
                .and_then(|s| resume::check(&s, &expect).map(|()| s))
                .and_then(|s| {
                    self.restore(&s, &dir)
                        .map(|()| s)
                        .map_err(|e| e.to_string())
                });
            match state {
                Ok(s) => {
                    if !passed.is_empty() {
                        eprintln!(
                            "warning: {}; resuming from {name} instead",
                            passed.join("; ")
                        );
                    }
                    self.last_checkpoint = Some(dir);
                    return Ok(s);
                }
                Err(why) => passed.push(format!("{name} cannot be used: {why}")),
            }
        }
        Err(TrainError::checkpoint(
            &self.run_dir,
            format!(
                "no usable checkpoint to resume from: {}. Start afresh without --resume (in another [log] dir to keep this one)",
                passed.join("; ")
            ),
        ))
    }

    fn restore(&mut self, s: &TrainerState, dir: &Path) -> Result<()> {
        checkpoint::load_into(
            dir,
            &mut self.model,
            &mut self.optimizer,
            self.schedule
                .as_mut()
                .map(|s| &mut **s as &mut dyn LrSchedule),
            self.ema.as_mut(),
            &mut self.best_weights,
        )?;
        self.model
            .set_rng_state(&s.rng_state)
            .map_err(|e| TrainError::checkpoint(dir, e))?;
        self.step = s.step;
        self.epoch = s.epoch;
        self.batch_in_epoch = s.batch_in_epoch;
        self.sums = s.sums.clone();
        self.early = s.early.clone();
        self.watch = s.divergence.clone();
        self.elapsed_before = s.elapsed_s;
        // The learning rate of the next step comes from the restored schedule.
        if let Some(sc) = &self.schedule {
            optim::schedule::apply(&**sc, &mut self.optimizer);
        }
        Ok(())
    }
}
