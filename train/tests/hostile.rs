//! Hostile and broken input to a training run (issue 12): diverging runs, sizes that do not fit,
//! damaged checkpoints and run folders holding someone else's files. Each test is named after
//! the bug it pins.

use std::path::Path;

use train::{Divergence, Options, RunConfig, Stop};

/// Two-moons classification, 384 training examples in 12 batches of 32 per epoch.
const MOONS: &str = r#"
seed = 4
[data]
dataset = "moons"
n = 512
n_test = 128
batch_size = 32
validation_split = 0.25
[[model.layers]]
type = "linear"
out_features = 32
[[model.layers]]
type = "relu"
[[model.layers]]
type = "dropout"
p = 0.1
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "adam"
lr = 0.01
[train]
epochs = 3
checkpoint_every_steps = 5
[log]
every_steps = 1
"#;

fn config(dir: &Path, sets: &[&str]) -> train::Result<RunConfig> {
    let mut t: toml::Table = MOONS.parse().unwrap();
    let mut all: Vec<String> = vec![format!("log.dir=\"{}\"", dir.display())];
    all.extend(sets.iter().map(|s| s.to_string()));
    train::apply_overrides(&mut t, &all)?;
    RunConfig::from_table("run.toml", t, Path::new("."), "run")
}

fn quiet() -> Options {
    Options {
        quiet: true,
        ..Default::default()
    }
}

fn resume(stop_after_steps: Option<u64>) -> Options {
    Options {
        resume: true,
        quiet: true,
        stop_after_steps,
    }
}

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// The step folders in `run/checkpoints`, sorted.
fn checkpoints(run: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// Runs 17 steps (checkpoints at steps 5, 10, 15 and 17, the last two kept) in `dir/part`
/// and the whole run in `dir/full`; returns the full run's final weights and metrics.
fn interrupted_and_full(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let full = dir.join("full");
    train::run(&config(&full, &[]).unwrap(), &quiet()).unwrap();
    let part = dir.join("part");
    let s = train::run(
        &config(&part, &[]).unwrap(),
        &Options {
            stop_after_steps: Some(17),
            ..quiet()
        },
    )
    .unwrap();
    assert_eq!(s.stop, Stop::Interrupted { step: 17 });
    assert_eq!(checkpoints(&part), ["step-000000015", "step-000000017"]);
    (
        read(full.join("model.safetensors")),
        read(full.join("metrics.jsonl")),
    )
}

fn flip_last_byte(p: &Path) {
    let mut b = read(p);
    *b.last_mut().unwrap() ^= 0x01;
    std::fs::write(p, b).unwrap();
}

/// Rewrites a checkpoint's `checksums.json` to match its files (an edit made "carefully").
fn reseal(dir: &Path) {
    let p = dir.join("checksums.json");
    let mut v: serde_json::Value = serde_json::from_slice(&read(&p)).unwrap();
    for (name, sum) in v["files"].as_object_mut().unwrap() {
        let bytes = read(dir.join(name));
        sum["bytes"] = bytes.len().into();
        sum["crc32c"] = format!("{:08x}", crc32c::crc32c(&bytes)).into();
    }
    std::fs::write(p, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn edit_state(dir: &Path, key: &str, value: serde_json::Value) {
    let p = dir.join("trainer.json");
    let mut v: serde_json::Value = serde_json::from_slice(&read(&p)).unwrap();
    v[key] = value;
    std::fs::write(p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn a_flipped_bit_in_the_latest_checkpoint_falls_back_to_the_previous_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (want_w, want_m) = interrupted_and_full(tmp.path());
    let part = tmp.path().join("part");
    flip_last_byte(&part.join("checkpoints/step-000000017/model.safetensors"));
    let s = train::run(&config(&part, &[]).unwrap(), &resume(None)).unwrap();
    assert_eq!(s.stop, Stop::Completed);
    // Resumed from step 15, it redid steps 16 and 17 and ended where the uninterrupted run did.
    assert_eq!(s.losses.len(), 36 - 15);
    assert_eq!(read(part.join("model.safetensors")), want_w);
    let strip = |b: Vec<u8>| -> Vec<serde_json::Value> {
        String::from_utf8(b)
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let o = v.as_object_mut().unwrap();
                o.remove("time_s");
                o.remove("examples_per_s");
                v
            })
            .collect()
    };
    assert_eq!(strip(read(part.join("metrics.jsonl"))), strip(want_m));
    // The damaged checkpoint was replaced; the last two remain.
    assert_eq!(checkpoints(&part), ["step-000000035", "step-000000036"]);
}

#[test]
fn an_edited_trainer_json_epoch_is_detected_and_not_resumed_from() {
    let tmp = tempfile::tempdir().unwrap();
    let (want_w, _) = interrupted_and_full(tmp.path());
    let part = tmp.path().join("part");
    let latest = part.join("checkpoints/step-000000017");
    // An edit the checksums catch.
    edit_state(&latest, "epoch", 99.into());
    let s = train::run(&config(&part, &[]).unwrap(), &resume(Some(1))).unwrap();
    assert_eq!(s.losses.len(), 1, "resumed from step 15, one step taken");
    assert_eq!(s.steps, 16);
    // An edit with checksums to match: the state no longer agrees with itself.
    let tmp2 = tempfile::tempdir().unwrap();
    interrupted_and_full(tmp2.path());
    let part = tmp2.path().join("part");
    let latest = part.join("checkpoints/step-000000017");
    edit_state(&latest, "epoch", 2.into());
    reseal(&latest);
    let s = train::run(&config(&part, &[]).unwrap(), &resume(None)).unwrap();
    assert_eq!((s.stop.clone(), s.losses.len()), (Stop::Completed, 36 - 15));
    assert_eq!(read(part.join("model.safetensors")), want_w);
}

#[test]
fn an_edited_trainer_json_metrics_len_is_detected_and_does_not_empty_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, want_m) = interrupted_and_full(tmp.path());
    let part = tmp.path().join("part");
    for dir in ["step-000000015", "step-000000017"] {
        let d = part.join("checkpoints").join(dir);
        edit_state(&d, "metrics_len", 0.into());
        reseal(&d);
    }
    let before = read(part.join("metrics.jsonl"));
    let e = train::run(&config(&part, &[]).unwrap(), &resume(None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no usable checkpoint")
            && e.contains("checkpoints/step-000000017 cannot be used: metrics.jsonl disagrees")
            && e.contains("checkpoints/step-000000015 cannot be used"),
        "{e}"
    );
    // The log was not cut.
    assert_eq!(read(part.join("metrics.jsonl")), before);
    assert!(before.len() > want_m.len() / 3);
}

#[test]
fn both_checkpoints_damaged_refuse_the_resume_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    interrupted_and_full(tmp.path());
    let part = tmp.path().join("part");
    flip_last_byte(&part.join("checkpoints/step-000000017/optimizer.safetensors"));
    std::fs::remove_file(part.join("checkpoints/step-000000015/checksums.json")).unwrap();
    let before = read(part.join("metrics.jsonl"));
    let e = train::run(&config(&part, &[]).unwrap(), &resume(None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no usable checkpoint to resume from")
            && e.contains("optimizer.safetensors does not match its checksum")
            && e.contains("checksums.json")
            && e.contains("without --resume"),
        "{e}"
    );
    assert_eq!(read(part.join("metrics.jsonl")), before);
}

/// A checkpoint written under another batch size is refused: its position in the epoch means
/// something else now.
#[test]
fn resuming_with_another_batch_size_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    interrupted_and_full(tmp.path());
    let part = tmp.path().join("part");
    let e = train::run(
        &config(&part, &["data.batch_size=64"]).unwrap(),
        &resume(None),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("12 batches per epoch") && e.contains("config gives 6"),
        "{e}"
    );
}

/// An epoch's end that is also a `checkpoint_every_steps` step saves twice at one step: the
/// second save must not take the previous checkpoint with it.
#[test]
fn a_second_save_at_the_same_step_keeps_the_checkpoint_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        tmp.path(),
        &["train.checkpoint_every_steps=6", "train.epochs=2"],
    )
    .unwrap();
    train::run(&c, &quiet()).unwrap();
    assert_eq!(
        checkpoints(tmp.path()),
        ["step-000000018", "step-000000024"]
    );
}

/// lr = 1e6 used to finish with exit 0 at a test loss of ~7e5.
#[test]
fn lr_1e6_stops_as_diverged_instead_of_finishing_with_a_huge_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        &[
            "optimizer.name=\"sgd\"",
            "optimizer.lr=1e6",
            "train.epochs=20",
        ],
    )
    .unwrap();
    let s = train::run(&cfg, &quiet()).unwrap();
    assert!(s.stop.is_diverged(), "{:?}", s.stop);
    assert!(s.steps < 12, "stopped within the first epoch: {:?}", s.stop);
    assert!(!tmp.path().join("model.safetensors").exists());
    let msg = s.explain().unwrap();
    assert!(msg.starts_with("training diverged: "), "{msg}");
    // A factor of inf lets it run on (the check is off).
    let off = config(
        &tmp.path().join("off"),
        &[
            "optimizer.name=\"sgd\"",
            "optimizer.lr=1e6",
            "train.divergence_factor=inf",
        ],
    )
    .unwrap();
    let s = train::run(&off, &quiet()).unwrap();
    assert!(
        !matches!(
            s.stop,
            Stop::Diverged {
                cause: Divergence::LossGrew { .. },
                ..
            }
        ),
        "{:?}",
        s.stop
    );
}

/// Non-finite weights never reach a saved model. A NaN weight behind a ReLU used to leave the
/// loss finite (ReLU mapped NaN to 0) and the run ended with exit 0 and NaN weights in
/// model.safetensors; ReLU now keeps NaN as PyTorch does, so the loss is NaN at the first step.
/// A NaN the training loss cannot see — a batch-norm running variance, used only in evaluation
/// — is caught by the weights check before the first checkpoint (step 5) is written.
#[test]
fn nan_weights_behind_a_relu_stop_the_run_and_are_never_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&tmp.path().join("relu"), &["log.every_steps=1000"]).unwrap();
    let mut t = train::Trainer::new(&cfg).unwrap();
    t.model.layers_mut()[0].parameters_mut()[0].value[3] = f32::NAN;
    let s = t.run(&quiet()).unwrap();
    assert!(
        matches!(s.stop, Stop::NonFinite { step: 1, .. }),
        "{:?}",
        s.stop
    );
    assert!(!tmp.path().join("relu/model.safetensors").exists());

    let mut table: toml::Table = MOONS.parse().unwrap();
    table["model"]["layers"].as_array_mut().unwrap()[2] =
        toml::Value::Table(toml::toml! { type = "batchnorm1d" });
    let dir = tmp.path().join("bn");
    train::apply_overrides(
        &mut table,
        &[
            format!("log.dir=\"{}\"", dir.display()),
            "log.every_steps=1000".into(),
        ],
    )
    .unwrap();
    let cfg = RunConfig::from_table("run.toml", table, Path::new("."), "run").unwrap();
    let mut t = train::Trainer::new(&cfg).unwrap();
    t.model.layers_mut()[2].buffers_mut()[1].value[0] = f32::NAN;
    let s = t.run(&quiet()).unwrap();
    assert!(s.losses.iter().all(|l| l.is_finite()));
    let Stop::Diverged { cause, step, .. } = &s.stop else {
        panic!("{:?}", s.stop)
    };
    assert_eq!(
        cause,
        &Divergence::NonFiniteWeights {
            tensor: "2.running_var".into()
        }
    );
    assert!(*step <= 5, "{step}");
    assert!(!dir.join("model.safetensors").exists());
    assert!(!dir.join("checkpoints/step-000000005").exists());
}

/// Sizes that used to abort (allocation failure), panic (overflow) or hang are config errors
/// naming the field and value, raised before anything is allocated or written.
#[test]
fn huge_sizes_in_a_config_are_errors_not_aborts_panics_or_hangs() {
    let tmp = tempfile::tempdir().unwrap();
    for (sets, want) in [
        (
            vec!["model.layers.0.out_features=1000000000"],
            "model.layers[0] `out_features` = 1000000000: the model's",
        ),
        (
            vec!["data.n=1000000000000"],
            "`n` = 1000000000000: generating 1000000000128 examples",
        ),
        (
            vec!["data.n=9223372036854775807"],
            "`n` = 9223372036854775807: too large",
        ),
        (vec!["train.threads=100000"], "`threads` = 100000: at most"),
        (
            vec!["model.layers.0.out_features=4611686018427387904"],
            "`out_features` = 4611686018427387904: too large",
        ),
    ] {
        let dir = tmp.path().join("run");
        let e = config(&dir, &sets)
            .and_then(|c| train::run(&c, &quiet()).map(|_| ()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(want) && e.starts_with("run.toml"),
            "{sets:?}: {e}"
        );
        assert!(!dir.exists(), "{sets:?} wrote {}", dir.display());
    }
}

/// A batch larger than the training set is the whole set, as PyTorch's DataLoader yields it:
/// `batch_size = 2^62` (or 1e12) trains exactly like `batch_size = 384`.
#[test]
fn batch_size_2_pow_62_is_clamped_to_the_training_set() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |dir: &str, b: &str| {
        let c = config(
            &tmp.path().join(dir),
            &[&format!("data.batch_size={b}"), "train.epochs=2"],
        )
        .unwrap();
        train::run(&c, &quiet()).unwrap()
    };
    let whole = run("a", "384");
    for b in ["4611686018427387904", "1000000000000"] {
        let s = run(b, b);
        assert_eq!((s.steps, &s.losses), (2, &whole.losses), "{b}");
    }
    // With drop_last it leaves no batch: an error, as before.
    let c = config(
        &tmp.path().join("d"),
        &["data.batch_size=4611686018427387904", "data.drop_last=true"],
    )
    .unwrap();
    let e = train::run(&c, &quiet()).unwrap_err().to_string();
    assert!(e.contains("leaves no batch"), "{e}");
}

/// Batch norm in training mode needs two examples per channel: a batch of 1, or a last batch
/// of 1 left by the training set's size, panicked in the layer (mid-epoch for the last batch);
/// now both are config errors before anything runs, naming the field and the layer.
#[test]
fn a_batch_of_one_for_batch_norm_is_an_error_before_training_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let bn = |dir: &str, sets: &[&str]| {
        let mut t: toml::Table = MOONS.parse().unwrap();
        let layers = t["model"]["layers"].as_array_mut().unwrap();
        layers[2] = toml::Value::Table(toml::toml! { type = "batchnorm1d" });
        let mut all: Vec<String> = vec![format!("log.dir=\"{}\"", tmp.path().join(dir).display())];
        all.extend(sets.iter().map(|s| s.to_string()));
        train::apply_overrides(&mut t, &all).unwrap();
        let c = RunConfig::from_table("run.toml", t, Path::new("."), "run").unwrap();
        train::run(&c, &quiet())
    };
    let e = bn("one", &["data.batch_size=1"]).unwrap_err().to_string();
    assert!(
        e.contains("batch_size = 1") && e.contains("layer 2 (batch_norm1d)"),
        "{e}"
    );
    assert!(!tmp.path().join("one").exists(), "a run folder was created");
    // 384 training examples in batches of 383 leave a last batch of 1.
    let e = bn("last", &["data.batch_size=383"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("last batch of 1") && e.contains("drop_last = true"),
        "{e}"
    );
    // The remedies it names work; so does a last batch of 2.
    for (dir, sets) in [
        ("drop", &["data.batch_size=383", "data.drop_last=true"][..]),
        ("two", &["data.batch_size=382"][..]),
    ] {
        let s = bn(dir, sets).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert!(
            s.steps > 0 && s.losses.iter().all(|l| l.is_finite()),
            "{dir}"
        );
    }
}

/// `accumulate` above an epoch's batch count: every epoch dropped its partial window, so a run
/// by steps looped forever and one by epochs finished without a single update. Now an error.
#[test]
fn accumulating_more_batches_than_an_epoch_has_is_an_error_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    for (dir, budget) in [("steps", "train.steps=1"), ("epochs", "train.epochs=2")] {
        let mut t: toml::Table = MOONS.parse().unwrap();
        t["train"].as_table_mut().unwrap().remove("epochs");
        let all = [
            format!("log.dir=\"{}\"", tmp.path().join(dir).display()),
            "train.accumulate=13".into(),
            budget.into(),
        ];
        train::apply_overrides(&mut t, &all).unwrap();
        let c = RunConfig::from_table("run.toml", t, Path::new("."), "run").unwrap();
        let e = train::run(&c, &quiet()).unwrap_err().to_string();
        assert!(
            e.contains("accumulate = 13") && e.contains("only 12 batches"),
            "{dir}: {e}"
        );
    }
    // 12 is the whole epoch: one step per epoch.
    let c = config(&tmp.path().join("ok"), &["train.accumulate=12"]).unwrap();
    assert_eq!(train::run(&c, &quiet()).unwrap().steps, 3);
}

/// `epochs = 2^62` with a cosine schedule spanning the run used to overflow its span.
#[test]
fn epochs_2_pow_62_does_not_overflow_the_schedule_span() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(
        tmp.path(),
        &[
            "train.epochs=4611686018427387904",
            "schedule.name=\"cosine\"",
        ],
    )
    .unwrap();
    train::Trainer::new(&c).unwrap();
}

/// A fresh run in a folder holding a user's own `checkpoints/` and files (no gradlab manifest)
/// used to delete them: it is refused and nothing is touched.
#[test]
fn a_fresh_run_in_a_users_folder_is_refused_and_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("checkpoints/mine")).unwrap();
    std::fs::write(d.join("checkpoints/mine/weights.pt"), b"precious").unwrap();
    std::fs::write(d.join("metrics.jsonl"), b"my own log\n").unwrap();
    std::fs::write(d.join("model.safetensors"), b"my model").unwrap();
    let e = train::run(&config(d, &[]).unwrap(), &quiet())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&d.display().to_string())
            && e.contains("gradlab-run.json")
            && e.contains("Nothing was removed")
            && e.contains("--resume"),
        "{e}"
    );
    assert_eq!(read(d.join("checkpoints/mine/weights.pt")), b"precious");
    assert_eq!(read(d.join("metrics.jsonl")), b"my own log\n");
    assert_eq!(read(d.join("model.safetensors")), b"my model");
}

/// A fresh run where gradlab ran before removes exactly what that run wrote (its manifest's
/// files, its checkpoints) and leaves the user's files beside them.
#[test]
fn a_fresh_run_removes_exactly_what_the_previous_run_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("run");
    train::run(&config(&d, &["train.epochs=1"]).unwrap(), &quiet()).unwrap();
    std::fs::write(d.join("notes.txt"), b"mine").unwrap();
    std::fs::write(d.join("checkpoints/readme.txt"), b"mine too").unwrap();
    let events = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("events.out")
            })
            .count()
    };
    assert_eq!(events(&d), 1);
    train::run(&config(&d, &["train.epochs=1"]).unwrap(), &quiet()).unwrap();
    // The old event file went, the new one is there; the user's files stayed.
    assert_eq!(events(&d), 1);
    assert_eq!(read(d.join("notes.txt")), b"mine");
    assert_eq!(read(d.join("checkpoints/readme.txt")), b"mine too");
    assert_eq!(
        checkpoints(&d),
        ["readme.txt", "step-000000010", "step-000000012"]
    );
}
