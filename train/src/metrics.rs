//! What a run records: `metrics.jsonl` (a line per logged step and per epoch), TensorBoard
//! scalars, `summary.json`, and the console (progress bar, one fixed-width line per epoch).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::files::write_atomic;
use crate::records::{EpochRecord, StepRecord, Stop, Summary};
use crate::run_folder;
use crate::tensorboard::EventWriter;
use crate::{Result, TrainError};

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    record: &'a T,
}

/// A line of `metrics.jsonl`, read back.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Step(StepRecord),
    Epoch(EpochRecord),
}

/// Reads a run's `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<Line>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrainError::file(path, format!("cannot read: {e}")))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| TrainError::file(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// The run directory's writers.
pub struct MetricsLog {
    path: PathBuf,
    file: BufWriter<File>,
    /// Lines written (counting those a resumed log kept).
    lines: u64,
    tb: Option<EventWriter>,
    bar: Option<ProgressBar>,
    quiet: bool,
    dir: PathBuf,
}

impl MetricsLog {
    /// A fresh `metrics.jsonl` (and event file) in `dir`.
    pub fn create(dir: &Path, tensorboard: bool) -> Result<MetricsLog> {
        let path = dir.join("metrics.jsonl");
        let file = File::create(&path)
            .map_err(|e| TrainError::file(&path, format!("cannot create: {e}")))?;
        Self::with_file(dir, path, file, 0, tensorboard)
    }

    /// Reopens `metrics.jsonl` cut to `len` bytes and `lines` lines (what the checkpoint had
    /// seen), so the lines of steps redone after a resume are not doubled. A new TensorBoard
    /// event file starts with a restart marker at `next_step`, so the steps logged after the
    /// checkpoint and redone now are not shown twice either.
    pub fn resume(
        dir: &Path,
        len: u64,
        lines: u64,
        next_step: u64,
        tensorboard: bool,
    ) -> Result<MetricsLog> {
        let path = dir.join("metrics.jsonl");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| TrainError::file(&path, format!("cannot open: {e}")))?;
        let have = file.metadata().map(|m| m.len()).unwrap_or(0);
        if have < len {
            return Err(TrainError::file(
                &path,
                format!("has {have} bytes but the checkpoint recorded {len}; the log was changed or truncated"),
            ));
        }
        file.set_len(len).map_err(|e| TrainError::file(&path, e))?;
        let mut log = Self::with_file(dir, path, file, lines, tensorboard)?;
        if let Some(tb) = &mut log.tb {
            tb.session_start(next_step).map_err(|e| {
                TrainError::file(dir, format!("cannot write the TensorBoard event file: {e}"))
            })?;
        }
        use std::io::Seek;
        log.file
            .get_mut()
            .seek(std::io::SeekFrom::End(0))
            .map_err(|e| TrainError::file(&log.path, e))?;
        Ok(log)
    }

    fn with_file(
        dir: &Path,
        path: PathBuf,
        file: File,
        lines: u64,
        tensorboard: bool,
    ) -> Result<MetricsLog> {
        let tb = if tensorboard {
            let name = EventWriter::new_name(dir);
            run_folder::record(dir, &[&name])?;
            Some(EventWriter::create_named(dir, &name).map_err(|e| {
                TrainError::file(dir, format!("cannot create TensorBoard event file: {e}"))
            })?)
        } else {
            None
        };
        Ok(MetricsLog {
            path,
            file: BufWriter::new(file),
            lines,
            tb,
            bar: None,
            quiet: false,
            dir: dir.to_path_buf(),
        })
    }

    /// Bytes written so far, made durable, for checkpoints: a checkpoint must never record
    /// log lines that a power loss could take back.
    pub fn metrics_len(&mut self) -> Result<u64> {
        // The event file too: a checkpoint is where a resumed run continues its logs, so
        // nothing logged before it may still sit in a buffer a kill would lose.
        if let Some(tb) = &mut self.tb {
            tb.flush()
                .map_err(|e| TrainError::file(tb.path(), format!("cannot write: {e}")))?;
        }
        self.file
            .get_ref()
            .sync_data()
            .map_err(|e| TrainError::file(&self.path, format!("cannot sync: {e}")))?;
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|e| TrainError::file(&self.path, e))
    }

    /// Lines written so far (for checkpoints, with [`metrics_len`](Self::metrics_len)).
    pub fn metrics_lines(&self) -> u64 {
        self.lines
    }

    fn line<T: Serialize>(&mut self, kind: &str, record: &T) -> Result<()> {
        let s = serde_json::to_string(&Tagged { kind, record }).expect("records serialise");
        writeln!(self.file, "{s}")
            .and_then(|_| self.file.flush())
            .map_err(|e| TrainError::file(&self.path, format!("cannot write: {e}")))?;
        self.lines += 1;
        Ok(())
    }

    pub fn step(&mut self, r: &StepRecord) -> Result<()> {
        self.line("step", r)?;
        if let Some(tb) = &mut self.tb {
            let mut w = || -> std::io::Result<()> {
                tb.scalar("train/loss", r.loss as f64, r.step)?;
                tb.scalar("train/lr", r.lr, r.step)?;
                if let Some(g) = r.grad_norm {
                    tb.scalar("train/grad_norm", g, r.step)?;
                }
                Ok(())
            };
            w().map_err(|e| TrainError::file(&self.dir, format!("TensorBoard: {e}")))?;
        }
        Ok(())
    }

    pub fn epoch(&mut self, r: &EpochRecord, cfg: &RunConfig) -> Result<()> {
        self.line("epoch", r)?;
        if let Some(tb) = &mut self.tb {
            let mut w = || -> std::io::Result<()> {
                for (tag, v) in [
                    ("epoch/train_loss", r.train_loss),
                    ("epoch/train_accuracy", r.train_accuracy),
                    ("epoch/val_loss", r.val_loss),
                    ("epoch/val_accuracy", r.val_accuracy),
                    ("epoch/test_loss", r.test_loss),
                    ("epoch/test_accuracy", r.test_accuracy),
                    ("epoch/lr", Some(r.lr)),
                    ("epoch/examples_per_s", Some(r.examples_per_s)),
                ] {
                    if let Some(v) = v {
                        tb.scalar(tag, v, r.step)?;
                    }
                }
                tb.flush()
            };
            w().map_err(|e| TrainError::file(&self.dir, format!("TensorBoard: {e}")))?;
        }
        if !self.quiet {
            let line = epoch_line(r, cfg.train.epochs);
            match &self.bar {
                Some(b) if !b.is_hidden() => b.println(line),
                _ => println!("{line}"),
            }
        }
        Ok(())
    }

    /// Shows a progress bar over `total` steps on a terminal (nothing when `quiet`).
    pub fn start_progress(&mut self, total: u64, done: u64, quiet: bool) {
        self.quiet = quiet;
        if quiet {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:32.cyan/blue} {pos:>7}/{len:7} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
            )
            .expect("valid template"),
        );
        bar.set_position(done);
        self.bar = Some(bar);
    }

    pub fn progress(&mut self, step: u64, loss: f32) {
        if let Some(b) = &self.bar {
            b.set_position(step);
            if step.is_multiple_of(10) {
                b.set_message(format!("loss {loss:.4}"));
            }
        }
    }

    pub fn finish_progress(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// Writes `summary.json`.
    pub fn summary(&mut self, s: &Summary) -> Result<()> {
        if let Some(tb) = &mut self.tb {
            let _ = tb.flush();
        }
        let text = serde_json::to_string_pretty(&SummaryFile {
            stop: &s.stop,
            steps: s.steps,
            epochs: s.epochs,
            last: &s.last,
            best: s.best,
            wall_s: s.wall_s,
        })
        .expect("summary serialises");
        write_atomic(&self.dir.join("summary.json"), text.as_bytes())
    }
}

#[derive(Serialize)]
struct SummaryFile<'a> {
    stop: &'a Stop,
    steps: u64,
    epochs: usize,
    last: &'a Option<EpochRecord>,
    best: Option<(usize, f64)>,
    wall_s: f64,
}

/// One line per epoch, at most [`EPOCH_LINE_WIDTH`] characters:
/// `epoch    3/10  step    240  train 0.4123/87.1%  val 0.4500/86.0%  test 0.4412/86.5%  lr 1.0e-3`
/// (loss/accuracy per set; wall time and examples per second are in `metrics.jsonl`, the
/// elapsed time on the progress bar).
pub fn epoch_line(r: &EpochRecord, epochs: Option<usize>) -> String {
    let total = epochs
        .map(|e| format!("/{e:<3}"))
        .unwrap_or_else(|| "    ".into());
    let pair = |name: &str, l: Option<f64>, a: Option<f64>| match (l, a) {
        (Some(l), Some(a)) => format!("  {name} {}/{:.1}%", loss6(l), a * 100.0),
        (Some(l), None) => format!("  {name} {}", loss6(l)),
        _ => String::new(),
    };
    format!(
        "epoch {:>4}{total} step {:>6}{}{}{}  lr {:.1e}",
        r.epoch,
        r.step,
        pair("train", r.train_loss, r.train_accuracy),
        pair("val", r.val_loss, r.val_accuracy),
        pair("test", r.test_loss, r.test_accuracy),
        r.lr,
    )
}

/// The widest an epoch line gets for runs under 1,000 epochs and 10 million steps (the widest
/// case, every accuracy 100%, is 98).
pub const EPOCH_LINE_WIDTH: usize = 100;

/// A loss in six characters, so the columns of successive lines align.
fn loss6(l: f64) -> String {
    let a = l.abs();
    if !l.is_finite() {
        format!("{l:>6}")
    } else if a < 10.0 {
        format!("{l:.4}")
    } else if a < 100.0 {
        format!("{l:.3}")
    } else if a < 1000.0 {
        format!("{l:.2}")
    } else {
        format!("{l:.0e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: per-epoch lines were 136 characters wide; they fit 100 even at their widest.
    #[test]
    fn epoch_lines_fit_100_columns() {
        let wide = EpochRecord {
            epoch: 999,
            step: 9_999_999,
            train_loss: Some(123.456),
            train_accuracy: Some(1.0),
            val_loss: Some(12.3456),
            val_accuracy: Some(0.999),
            test_loss: Some(2.31234),
            test_accuracy: Some(0.1),
            lr: 1.2345e-3,
            time_s: 3599.0,
            examples_per_s: 123456.0,
        };
        let line = epoch_line(&wide, Some(999));
        assert!(
            line.chars().count() <= EPOCH_LINE_WIDTH,
            "{} {line}",
            line.len()
        );
        assert_eq!(
            line,
            "epoch  999/999 step 9999999  train 123.46/100.0%  val 12.346/99.9%  test 2.3123/10.0%  lr 1.2e-3"
        );
        let plain = EpochRecord {
            epoch: 2,
            step: 90,
            train_loss: Some(0.5),
            train_accuracy: None,
            val_loss: None,
            val_accuracy: None,
            test_loss: Some(f64::NAN),
            test_accuracy: None,
            lr: 0.1,
            time_s: 0.25,
            examples_per_s: 0.0,
        };
        assert_eq!(
            epoch_line(&plain, None),
            "epoch    2     step     90  train 0.5000  test    NaN  lr 1.0e-1"
        );
    }
}
