//! The training loop's callbacks, logs and checkpoints, end to end on small data.

use std::path::Path;

use train::{read_metrics, Line, Options, RunConfig, Stop};

/// A small classifier on the bundled digits (1,437 train / 360 test): dropout, BatchNorm,
/// augmentation noise and a plateau schedule, so resume has every kind of state to restore.
const DIGITS: &str = r#"
seed = 7
[data]
dataset = "digits"
batch_size = 64
validation_split = 0.2
standardize = true
[data.augment]
noise_std = 0.1
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 32
[[model.layers]]
type = "batchnorm1d"
[[model.layers]]
type = "relu"
[[model.layers]]
type = "dropout"
p = 0.2
[[model.layers]]
type = "linear"
out_features = 10
[optimizer]
name = "adamw"
lr = 0.01
[schedule]
name = "reduce_on_plateau"
patience = 0
factor = 0.5
threshold = 0.2
[train]
epochs = 6
ema_decay = 0.9
[log]
every_steps = 1
"#;

fn config(src: &str, dir: &Path, sets: &[&str]) -> RunConfig {
    let mut t: toml::Table = src.parse().unwrap();
    let mut all: Vec<String> = vec![format!("log.dir=\"{}\"", dir.display())];
    all.extend(sets.iter().map(|s| s.to_string()));
    train::apply_overrides(&mut t, &all).unwrap();
    RunConfig::from_table("test.toml", t, Path::new("."), "test").unwrap()
}

fn quiet() -> Options {
    Options {
        quiet: true,
        ..Default::default()
    }
}

fn lines(dir: &Path) -> Vec<Line> {
    read_metrics(&dir.join("metrics.jsonl")).unwrap()
}

/// Killing a run (after a mid-epoch step, and after an epoch boundary) and resuming gives the
/// same metrics.jsonl numbers and the same final weights as the uninterrupted run.
#[test]
fn resume_reproduces_the_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let full_dir = tmp.path().join("full");
    let full = config(DIGITS, &full_dir, &["train.checkpoint_every_steps=5"]);
    let s = train::run(&full, &quiet()).unwrap();
    assert_eq!(s.stop, Stop::Completed);
    let want = lines(&full_dir);
    let want_w = std::fs::read(full_dir.join("model.safetensors")).unwrap();

    // 18 steps per epoch: stop at 7 (mid-epoch 1), then 30 more (mid-epoch 3), then finish.
    let part_dir = tmp.path().join("part");
    let part = config(DIGITS, &part_dir, &["train.checkpoint_every_steps=5"]);
    for (resume, stop) in [(false, Some(7)), (true, Some(30)), (true, None)] {
        let s = train::run(
            &part,
            &Options {
                resume,
                quiet: true,
                stop_after_steps: stop,
            },
        )
        .unwrap();
        if stop.is_some() {
            assert!(matches!(s.stop, Stop::Interrupted { .. }), "{:?}", s.stop);
        }
    }
    let got = lines(&part_dir);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        match (g, w) {
            (Line::Step(g), Line::Step(w)) => {
                assert_eq!(
                    (g.step, g.loss, g.lr, g.grad_norm),
                    (w.step, w.loss, w.lr, w.grad_norm)
                )
            }
            (Line::Epoch(g), Line::Epoch(w)) => {
                let strip = |r: &train::EpochRecord| {
                    let mut r = r.clone();
                    r.time_s = 0.0;
                    r.examples_per_s = 0.0;
                    r
                };
                assert_eq!(strip(g), strip(w));
            }
            _ => panic!("line kinds differ: {g:?} vs {w:?}"),
        }
    }
    assert_eq!(
        std::fs::read(part_dir.join("model.safetensors")).unwrap(),
        want_w
    );
    // TensorBoard sees the interrupted run as the uninterrupted one: every (tag, step) once,
    // with the same values.
    let tb = |d: &Path| {
        let mut v = train::tensorboard::read_run_scalars(d).unwrap();
        v.retain(|x| x.0 != "epoch/examples_per_s"); // wall-clock
        v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        v
    };
    assert_eq!(tb(&part_dir), tb(&full_dir));
    // The plateau schedule halved the lr at least once, so its state was exercised.
    let lrs: Vec<f64> = want
        .iter()
        .filter_map(|l| match l {
            Line::Epoch(e) => Some(e.lr),
            _ => None,
        })
        .collect();
    assert!(lrs.last().unwrap() < &0.01, "{lrs:?}");
}

/// `--resume` where no run was: a clear error, and no empty run folder left behind (issue 16).
#[test]
fn resume_without_checkpoint_is_a_clear_error_and_creates_no_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("never-ran");
    let cfg = config(DIGITS, &dir, &[]);
    let e = train::run(
        &cfg,
        &Options {
            resume: true,
            ..quiet()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no checkpoint to resume from") && e.contains("without --resume"),
        "{e}"
    );
    assert!(!dir.exists(), "a failed resume created {}", dir.display());
}

/// metrics.jsonl has a line per logged step (step, epoch, loss, lr) and per epoch (train, val,
/// test metrics); the TensorBoard file holds the same losses; summary.json and the weights exist.
#[test]
fn logs_and_tensorboard() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(DIGITS, tmp.path(), &["log.every_steps=4", "train.epochs=2"]);
    let s = train::run(&cfg, &quiet()).unwrap();
    let ls = lines(tmp.path());
    let steps: Vec<_> = ls
        .iter()
        .filter_map(|l| match l {
            Line::Step(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    let epochs: Vec<_> = ls
        .iter()
        .filter_map(|l| match l {
            Line::Epoch(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(s.steps, 36);
    assert_eq!(
        steps.iter().map(|r| r.step).collect::<Vec<_>>(),
        (1..=9).map(|k| 4 * k).collect::<Vec<_>>()
    );
    for r in &steps {
        assert_eq!(r.loss, s.losses[r.step as usize - 1]);
        assert!(r.grad_norm.unwrap() > 0.0);
    }
    assert_eq!(epochs.len(), 2);
    for e in &epochs {
        assert!(e.train_loss.is_some() && e.val_accuracy.is_some() && e.test_accuracy.is_some());
    }
    // Raw JSON keys as documented.
    let text = std::fs::read_to_string(tmp.path().join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for k in ["step", "epoch", "loss", "lr"] {
        assert!(first.get(k).is_some(), "{first}");
    }
    let tb = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents")
        })
        .expect("event file");
    let scalars = train::tensorboard::read_scalars(&tb.path()).unwrap();
    let tb_losses: Vec<(u64, f32)> = scalars
        .iter()
        .filter(|(t, _, _)| t == "train/loss")
        .map(|(_, s, v)| (*s, *v))
        .collect();
    assert_eq!(
        tb_losses,
        steps.iter().map(|r| (r.step, r.loss)).collect::<Vec<_>>()
    );
    assert!(scalars.iter().any(|(t, _, _)| t == "epoch/test_accuracy"));
    assert!(tmp.path().join("summary.json").exists());
    assert!(tmp.path().join("model.safetensors").exists());
    assert!(tmp.path().join("config.toml").exists());
}

/// A learning rate far too high makes the loss non-finite: the run stops at that step, says
/// what happened, and the last good checkpoint stays.
#[test]
fn non_finite_loss_stops_with_advice_and_keeps_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let src = DIGITS
        .replace("name = \"adamw\"\nlr = 0.01", "name = \"sgd\"\nlr = 1e6")
        .replace("standardize = true", "standardize = false");
    let cfg = config(
        &src,
        tmp.path(),
        &[
            "train.checkpoint_every_steps=1",
            "train.epochs=20",
            "train.divergence_factor=inf",
        ],
    );
    let s = train::run(&cfg, &quiet()).unwrap();
    let Stop::NonFinite { step, .. } = s.stop else {
        panic!("expected a non-finite stop, got {:?}", s.stop)
    };
    let msg = s.explain().unwrap();
    assert!(msg.contains(&format!("at step {step}")), "{msg}");
    let ckpt = s
        .checkpoint
        .clone()
        .expect("a checkpoint before the blow-up");
    assert!(msg.contains(&ckpt.display().to_string()), "{msg}");
    assert!(ckpt.join("model.safetensors").exists());
    assert!(!tmp.path().join("model.safetensors").exists());
    // Every logged loss is finite: the bad step is not logged.
    for l in lines(tmp.path()) {
        if let Line::Step(r) = l {
            assert!(r.loss.is_finite() && r.step < step);
        }
    }
}

/// Early stopping stops after `patience` epochs without improvement and restores the best
/// weights: evaluating the final model gives the best epoch's validation loss.
#[test]
fn early_stopping_restores_best_weights() {
    let tmp = tempfile::tempdir().unwrap();
    // A large constant lr without a schedule on a tiny subset overfits quickly.
    let src = DIGITS.replace(
        "[schedule]\nname = \"reduce_on_plateau\"\npatience = 0\nfactor = 0.5\nthreshold = 0.2\n",
        "",
    );
    let cfg = config(
        &src,
        tmp.path(),
        &[
            "train.epochs=60",
            "data.subset=200",
            "optimizer.lr=0.05",
            "train.ema_decay=0.0",
            "train.early_stopping.patience=3",
            "train.early_stopping.monitor=\"val_loss\"",
        ],
    );
    let s = train::run(&cfg, &quiet()).unwrap();
    let Stop::EarlyStopped {
        epoch,
        best_epoch,
        best,
    } = s.stop
    else {
        panic!("{:?}", s.stop)
    };
    assert_eq!(epoch, best_epoch + 3);
    let vals: Vec<f64> = lines(tmp.path())
        .iter()
        .filter_map(|l| match l {
            Line::Epoch(e) => e.val_loss,
            _ => None,
        })
        .collect();
    assert_eq!(vals.len(), epoch);
    let min = vals.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(best, min);
    assert_eq!(vals[best_epoch - 1], min);
    // The saved model is the best epoch's: re-evaluate it.
    let mut t = train::Trainer::new(&cfg).unwrap();
    t.model.load(tmp.path().join("model.safetensors")).unwrap();
    let (val_loss, _) = t.evaluate_validation().unwrap().unwrap();
    assert!(
        (val_loss - min).abs() < 1e-6 * min.max(1.0),
        "{val_loss} vs {min}"
    );
}

/// Accumulating two half batches takes the same steps as one full batch (no BatchNorm or
/// dropout, whose statistics depend on the batch): same losses to rounding.
#[test]
fn gradient_accumulation_matches_the_full_batch() {
    let src = r#"
seed = 1
[data]
dataset = "moons"
n = 256
n_test = 64
batch_size = 64
shuffle = false
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "tanh"
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "sgd"
lr = 0.5
momentum = 0.9
[train]
epochs = 5
[log]
tensorboard = false
"#;
    let tmp = tempfile::tempdir().unwrap();
    let full = train::run(&config(src, &tmp.path().join("a"), &[]), &quiet()).unwrap();
    let acc = train::run(
        &config(
            src,
            &tmp.path().join("b"),
            &["data.batch_size=32", "train.accumulate=2"],
        ),
        &quiet(),
    )
    .unwrap();
    assert_eq!(full.steps, 20);
    assert_eq!(acc.steps, 20);
    for (a, b) in full.losses.iter().zip(&acc.losses) {
        assert!((a - b).abs() < 1e-5 * a.abs().max(1.0), "{a} vs {b}");
    }
    assert!(full.losses.last().unwrap() < &(0.5 * full.losses[0]));
}

/// `steps` mode stops at the step budget; a step schedule (cosine over the run) reaches its
/// minimum at the end; EMA evaluation differs from the raw weights' evaluation.
#[test]
fn steps_mode_with_step_schedule_and_ema() {
    let src = r#"
seed = 2
[data]
dataset = "blobs"
n = 300
centers = 3
batch_size = 50
[[model.layers]]
type = "linear"
out_features = 3
[optimizer]
name = "sgd"
lr = 0.1
[schedule]
name = "cosine"
t_max = 25
eta_min = 0.001
[train]
steps = 25
[log]
every_steps = 1
tensorboard = false
"#;
    let tmp = tempfile::tempdir().unwrap();
    let s = train::run(&config(src, &tmp.path().join("a"), &[]), &quiet()).unwrap();
    assert_eq!(s.steps, 25);
    let ls = lines(&tmp.path().join("a"));
    let lrs: Vec<f64> = ls
        .iter()
        .filter_map(|l| match l {
            Line::Step(r) => Some(r.lr),
            _ => None,
        })
        .collect();
    assert_eq!(lrs.len(), 25);
    assert_eq!(lrs[0], 0.1);
    for w in lrs.windows(2) {
        assert!(w[1] < w[0]);
    }
    // 300 examples / 50 = 6 steps per epoch: epochs 1–4 complete, a final partial epoch 5.
    let epochs: Vec<usize> = ls
        .iter()
        .filter_map(|l| match l {
            Line::Epoch(r) => Some(r.epoch),
            _ => None,
        })
        .collect();
    assert_eq!(epochs, vec![1, 2, 3, 4, 5]);
    let raw = s.last.unwrap().test_loss.unwrap();
    let e = train::run(
        &config(src, &tmp.path().join("b"), &["train.ema_decay=0.9"]),
        &quiet(),
    )
    .unwrap();
    let ema = e.last.unwrap().test_loss.unwrap();
    assert!(raw != ema, "EMA weights evaluate differently");
    // Training itself is unaffected by EMA.
    assert_eq!(s.losses, e.losses);
}

/// Two runs with the same seed give identical numbers; another seed differs.
#[test]
fn deterministic_by_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |dir: &str, sets: &[&str]| {
        train::run(&config(DIGITS, &tmp.path().join(dir), sets), &quiet())
            .unwrap()
            .losses
    };
    let a = run("a", &["train.epochs=1"]);
    let b = run("b", &["train.epochs=1"]);
    let c = run("c", &["train.epochs=1", "seed=8"]);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// `one_cycle` without `total_steps` spans the run's optimizer steps (it would otherwise fail
/// when stepped past its end); `cosine` without `t_max` spans the epochs.
#[test]
fn schedules_span_the_run_when_length_is_omitted() {
    let tmp = tempfile::tempdir().unwrap();
    let src = DIGITS.replace(
        "[schedule]\nname = \"reduce_on_plateau\"\npatience = 0\nfactor = 0.5\nthreshold = 0.2\n",
        "[schedule]\nname = \"one_cycle\"\nmax_lr = 0.05\n",
    );
    let s = train::run(
        &config(&src, &tmp.path().join("a"), &["train.epochs=2"]),
        &quiet(),
    )
    .unwrap();
    assert_eq!((s.stop.clone(), s.steps), (Stop::Completed, 36));
    let lrs: Vec<f64> = lines(&tmp.path().join("a"))
        .iter()
        .filter_map(|l| match l {
            Line::Step(r) => Some(r.lr),
            _ => None,
        })
        .collect();
    let peak = lrs.iter().cloned().fold(0.0, f64::max);
    assert!((peak - 0.05).abs() < 1e-3, "{peak}");
    assert!(lrs[35] < 1e-4, "{}", lrs[35]);
    let src = src.replace("name = \"one_cycle\"\nmax_lr = 0.05", "name = \"cosine\"");
    let s = train::run(
        &config(&src, &tmp.path().join("b"), &["train.epochs=3"]),
        &quiet(),
    )
    .unwrap();
    let last = s.last.unwrap();
    // t_max = 3 epochs: the third epoch runs at 0.01·(1 + cos(2π/3))/2 = 0.0025.
    assert!((last.lr - 0.0025).abs() < 1e-9, "{}", last.lr);
}

/// An observer's `wants_stop` ends the run after the epoch it asked at, with that epoch logged.
#[test]
fn an_observer_can_stop_the_run_after_an_epoch() {
    struct StopAt(usize, usize);
    impl train::Observer for StopAt {
        fn active(&self) -> bool {
            false
        }
        fn after_epoch(&mut self, r: &train::EpochRecord) -> train::Result<()> {
            self.1 = r.epoch;
            Ok(())
        }
        fn wants_stop(&self) -> bool {
            self.1 >= self.0
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(DIGITS, &tmp.path().join("run"), &["train.epochs=4"]);
    let s = train::run_observed(&cfg, &quiet(), &mut StopAt(2, 0)).unwrap();
    assert!(matches!(s.stop, Stop::Interrupted { .. }), "{:?}", s.stop);
    assert_eq!(s.epochs, 2);
    let epochs = lines(&tmp.path().join("run"))
        .iter()
        .filter(|l| matches!(l, Line::Epoch(_)))
        .count();
    assert_eq!(epochs, 2);
}
