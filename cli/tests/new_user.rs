//! A new user's first hour (issue: "The first hour of a new user, and PyTorch habits"): configs
//! written from PyTorch memory, flags they reach for, what a long command says when it is piped
//! or interrupted. Each test runs the built `gradlab` binary in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gradlab(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// What a PyTorch user writes from memory: class names for layers, optimizer and scheduler,
/// and a `[scheduler]` section.
const TORCH_FLAVOURED: &str = r#"
seed = 1
[data]
dataset = "digits"
batch_size = 64
[[model.layers]]
type = "Flatten"
[[model.layers]]
type = "Linear"
out_features = 32
[[model.layers]]
type = "ReLU"
[[model.layers]]
type = "BatchNorm1d"
[[model.layers]]
type = "Linear"
out_features = 10
[optimizer]
name = "SGD"
lr = 0.1
momentum = 0.9
[scheduler]
name = "StepLR"
step_size = 1
gamma = 0.5
[train]
epochs = 2
[log]
dir = "run"
"#;

#[test]
fn a_pytorch_flavoured_config_trains() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "torch.toml", TORCH_FLAVOURED);
    let o = gradlab(dir.path(), &["train", "torch.toml", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The saved config speaks gradlab's canonical names.
    let saved = std::fs::read_to_string(dir.path().join("run/config.toml")).unwrap();
    assert!(
        saved.contains("name = \"sgd\"") && saved.contains("name = \"step\""),
        "{saved}"
    );
    assert!(
        saved.contains("[schedule]") && !saved.contains("[scheduler]"),
        "{saved}"
    );
}

#[test]
fn misspelt_names_get_one_message_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "torch.toml", TORCH_FLAVOURED);
    for (set, want) in [
        ("optimizer.name=\"adamm\"", "did you mean `adam`?"),
        ("model.layers.2.type=\"relu6\"", "did you mean `relu`?"),
        ("train.epoch=3", "did you mean `epochs`?"),
        ("optimizer.momentm=0.5", "did you mean `momentum`?"),
        ("schedule.name=\"StepLRR\"", "did you mean `step`?"),
        ("data.dataset=\"digit\"", "did you mean `digits`?"),
        ("scheduler.gama=0.5", "did you mean `gamma`?"),
    ] {
        let o = gradlab(
            dir.path(),
            &["train", "torch.toml", "--quiet", "--set", set],
        );
        assert!(!o.status.success(), "{set} should fail");
        let e = stderr(&o);
        assert!(e.contains(want), "{set}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "one message: {e}");
        assert!(!e.contains("torch.toml: torch.toml"), "said twice: {e}");
    }
    let o = gradlab(dir.path(), &["diagnose", "torch.toml", "--preset", "fll"]);
    assert!(
        stderr(&o).contains("did you mean `full`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_linear_layer_on_images_suggests_flatten() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TORCH_FLAVOURED.replacen(
        "type = \"Flatten\"\n[[model.layers]]\ntype = \"Linear\"\n",
        "type = \"Linear\"\nin_features = 64\n",
        1,
    );
    write(dir.path(), "c.toml", &cfg);
    let o = gradlab(dir.path(), &["train", "c.toml", "--quiet"]);
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("add a `flatten` layer before it (its output has 64 features)"),
        "{e}"
    );
}

#[test]
fn shortcut_flags_and_bracket_indices() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "torch.toml", TORCH_FLAVOURED);
    let o = gradlab(
        dir.path(),
        &[
            "train",
            "torch.toml",
            "--quiet",
            "--epochs",
            "1",
            "--lr",
            "0.05",
            "--batch-size",
            "32",
            "--seed",
            "3",
            "--out",
            "elsewhere",
            "--set",
            "model.layers[1].bias=false",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let saved: toml::Table = std::fs::read_to_string(dir.path().join("elsewhere/config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(saved["train"]["epochs"].as_integer(), Some(1));
    assert_eq!(saved["optimizer"]["lr"].as_float(), Some(0.05));
    assert_eq!(saved["data"]["batch_size"].as_integer(), Some(32));
    assert_eq!(saved["seed"].as_integer(), Some(3));
    assert_eq!(
        saved["model"]["layers"][1]["bias"].as_bool(),
        Some(false),
        "{saved}"
    );
    // The summary line shows 1 epoch of 1437/32 = 45 steps.
    assert!(stdout(&o).contains("45 steps, 1 epochs"), "{}", stdout(&o));
}

/// Ctrl-C (SIGINT) on `gradlab train` says how to continue, exits 130, and the hinted command
/// continues the run.
#[cfg(unix)]
#[test]
fn ctrl_c_on_train_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "long.toml",
        &TORCH_FLAVOURED.replace("epochs = 2", "epochs = 400"),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(["train", "long.toml", "--quiet"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pointer = dir.path().join("run/checkpoint.json");
    let t0 = Instant::now();
    while !pointer.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("interrupted") && e.contains("gradlab train long.toml --resume"),
        "{e}"
    );
    let o = gradlab(
        dir.path(),
        &["train", "long.toml", "--quiet", "--resume", "--epochs", "3"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `gradlab compare` into a pipe (CI logs, nohup) prints plain progress lines instead of
/// nothing.
#[test]
fn compare_into_a_pipe_prints_progress_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.toml",
        r#"
name = "piped"
seeds = [0]
[tuning]
protocol = "defaults"
metric = "val_accuracy"
[[problems]]
name = "moons"
[problems.data]
dataset = "moons"
n = 128
n_test = 64
batch_size = 32
validation_split = 0.25
[[problems.model.layers]]
type = "linear"
out_features = 2
[problems.train]
epochs = 1
[[optimizers]]
name = "sgd"
[[optimizers]]
name = "Adam"
"#,
    );
    let o = gradlab(
        dir.path(),
        &["compare", "s.toml", "--workers", "1", "--no-report"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("piped (") && e.contains("0/2 runs done, starting"),
        "{e}"
    );
    assert!(e.contains("piped: 2/2 runs (100%)"), "{e}");
}

/// CSV data with a header names its label column (or counts from the end, as pandas does);
/// a misspelt name gets the header's names.
#[test]
fn csv_label_column_by_name_or_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x0,x1,species\n");
    for i in 0..200 {
        let (a, b) = ((i % 17) as f32 / 17.0, (i % 5) as f32 / 5.0);
        csv += &format!("{a},{b},{}\n", usize::from(a + b > 0.9));
    }
    write(dir.path(), "points.csv", &csv);
    let cfg = |label: &str| {
        format!(
            "[data]\ndataset = \"points.csv\"\nlabel_column = {label}\nbatch_size = 20\n\
             [[model.layers]]\ntype = \"linear\"\nout_features = 2\n\
             [optimizer]\nname = \"sgd\"\nlr = 0.5\n[train]\nepochs = 2\n[log]\ndir = \"run\"\n"
        )
    };
    for label in ["\"species\"", "-1", "2"] {
        write(dir.path(), "c.toml", &cfg(label));
        let o = gradlab(dir.path(), &["train", "c.toml", "--quiet"]);
        assert!(o.status.success(), "{label}: {}", stderr(&o));
    }
    write(dir.path(), "c.toml", &cfg("\"specie\""));
    let o = gradlab(dir.path(), &["train", "c.toml", "--quiet"]);
    assert!(
        stderr(&o).contains("did you mean `species`?"),
        "{}",
        stderr(&o)
    );
}
