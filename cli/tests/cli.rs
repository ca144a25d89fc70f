//! Integration tests of the `gradlab` binary: each case writes a config into a temporary
//! directory, runs the built binary and checks its outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A temporary directory holding one case's files.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn gradlab(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gradlab"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// Runs `landscape config.toml --json out.json [extra...]` on `config`.
    fn landscape(&self, config: &str, extra: &[&str]) -> Output {
        self.write("config.toml", config);
        let mut args = vec!["landscape", "config.toml", "--json", "out.json"];
        args.extend_from_slice(extra);
        self.gradlab(&args)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("out.json")).unwrap()).unwrap()
    }

    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stderr.
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "gradlab failed: {}", stderr(o));
    stderr(o)
}

/// Asserts failure, that nothing but the config was written, and returns stderr.
fn fails(case: &Case, o: &Output) -> String {
    assert!(!o.status.success(), "gradlab should have failed");
    assert_eq!(
        case.files(),
        ["config.toml"],
        "nothing may be written on error"
    );
    stderr(o)
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

const ROSENBROCK_SGD: &str = r#"
steps = 20
[problem]
function = "rosenbrock"
start = [-1.5, 2.0]
[optimizer]
name = "sgd"
lr = 0.0005
momentum = 0.9
nesterov = true
"#;

#[test]
fn landscape_single_run_json_fields() {
    let c = Case::new();
    ok(&c.landscape(ROSENBROCK_SGD, &[]));
    let j = c.json();
    assert_eq!(j["function"], "rosenbrock");
    assert_eq!(j["dim"], 2);
    assert_eq!(j["steps"], 20);
    assert_eq!(f64s(&j["start"]), [-1.5, 2.0]);
    // The single-optimizer case has the run's fields at the top level and in `runs`.
    assert_eq!(j["runs"].as_array().unwrap().len(), 1);
    for run in [&j, &j["runs"][0]] {
        assert_eq!(run["optimizer"], "sgd");
        assert_eq!(run["params"].as_array().unwrap().len(), 20);
        assert!(run["params"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| f64s(p).len() == 2));
        let losses = f64s(&run["losses"]);
        assert_eq!(losses.len(), 20);
        // f(−1.5, 2) = 2.5² + 100·(2 − 2.25)² = 12.5
        assert!((losses[0] - 12.5).abs() < 1e-12, "{}", losses[0]);
        assert!(losses[19] < losses[0]);
        assert_eq!(f64s(&run["lr"]), vec![0.0005; 20]);
        assert_eq!(run["diverged"], false);
        assert!(run["first_nonfinite_step"].is_null());
        assert!(run["label"].as_str().unwrap().starts_with("sgd"));
    }
    // The first step by hand: g = (−2(1 − x) − 400x(y − x²), 200(y − x²)) at (−1.5, 2)
    // = (−5 − 150, −50) = (−155, −50); Nesterov's first update is g + 0.9·g = 1.9·g.
    let p1 = f64s(&j["params"][0]);
    assert!(
        (p1[0] - (-1.5 + 0.0005 * 1.9 * 155.0)).abs() < 1e-12,
        "{p1:?}"
    );
    assert!(
        (p1[1] - (2.0 + 0.0005 * 1.9 * 50.0)).abs() < 1e-12,
        "{p1:?}"
    );
}

#[test]
fn landscape_quadratic_3d_converges_to_solution() {
    let c = Case::new();
    // A = [[4,1,0],[1,3,1],[0,1,2]], b = [1,2,3]; A⁻¹b = [2/9, 1/9, 13/9].
    let cfg = r#"
steps = 400
[problem]
function = "quadratic"
matrix = [[4, 1, 0], [1, 3, 1], [0, 1, 2]]
vector = [1, 2, 3]
[optimizer]
name = "sgd"
lr = 0.2
momentum = 0.5
"#;
    ok(&c.landscape(cfg, &["--plot", "loss.svg"]));
    let j = c.json();
    assert_eq!(j["dim"], 3);
    assert_eq!(f64s(&j["start"]), [0.0, 0.0, 0.0]);
    let last = f64s(j["params"].as_array().unwrap().last().unwrap());
    for (x, e) in last.iter().zip([2.0 / 9.0, 1.0 / 9.0, 13.0 / 9.0]) {
        assert!((x - e).abs() < 1e-9, "{last:?}");
    }
    // f* = −½ bᵀA⁻¹b = −½ (2 + 2 + 39)/9 = −43/18
    assert!((j["final_loss"].as_f64().unwrap() + 43.0 / 18.0).abs() < 1e-12);
    // Not 2-D, so the plot is a loss curve.
    let svg = std::fs::read_to_string(c.path("loss.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("loss per step"));
}

#[test]
fn landscape_divergence_is_reported_not_an_error() {
    let c = Case::new();
    let cfg = r#"
steps = 10
[problem]
function = "rosenbrock"
[optimizer]
name = "sgd"
lr = 1e308
"#;
    let err = ok(&c.landscape(cfg, &[]));
    assert!(err.contains("diverged at step 1"), "{err}");
    let j = c.json();
    assert_eq!(j["diverged"], true);
    assert_eq!(j["first_nonfinite_step"], 1);
    assert_eq!(j["params"].as_array().unwrap().len(), 1);
    // (−1.5, 2) − 1e308·(−155, −50) overflows to (+∞, +∞).
    assert_eq!(j["params"][0][0], "Infinity");
    assert_eq!(j["params"][0][1], "Infinity");
    assert_eq!(j["losses"][0], 12.5);
    assert!(
        j["final_loss"] == "NaN" || j["final_loss"] == "Infinity",
        "{}",
        j["final_loss"]
    );
}

#[test]
fn landscape_unknown_optimizer_lists_valid_names() {
    let c = Case::new();
    let cfg = ROSENBROCK_SGD.replace("name = \"sgd\"", "name = \"sgdd\"");
    let err = fails(&c, &c.landscape(&cfg, &["--plot", "out.svg"]));
    assert!(err.contains("config.toml"), "{err}");
    assert!(err.contains("unknown optimizer `sgdd`"), "{err}");
    assert!(err.contains("sgd, adagrad, rmsprop"), "{err}");
}

#[test]
fn landscape_unknown_hyperparameter_and_bad_value() {
    let c = Case::new();
    let err = fails(
        &c,
        &c.landscape(&ROSENBROCK_SGD.replace("nesterov", "nesteroff"), &[]),
    );
    assert!(
        err.contains("unknown hyperparameter `nesteroff`") && err.contains("nesterov"),
        "{err}"
    );
    let err = fails(
        &c,
        &c.landscape(&ROSENBROCK_SGD.replace("lr = 0.0005", "lr = -1.0"), &[]),
    );
    assert!(err.contains("`lr` = -1") && err.contains(">= 0"), "{err}");
}

#[test]
fn landscape_unknown_function_and_bad_matrix() {
    let c = Case::new();
    let err = fails(
        &c,
        &c.landscape(
            &ROSENBROCK_SGD.replace("\"rosenbrock\"", "\"rosenbrok\""),
            &[],
        ),
    );
    assert!(
        err.contains("unknown function `rosenbrok`") && err.contains("himmelblau"),
        "{err}"
    );
    let cfg = "[problem]\nfunction = \"quadratic\"\nmatrix = [[1, 0], [0, 1]]\nvector = [1, 2, 3]\n[optimizer]\nname = \"sgd\"\n";
    let err = fails(&c, &c.landscape(cfg, &[]));
    assert!(err.contains("`vector`") && err.contains("2×2"), "{err}");
}

#[test]
fn landscape_toml_syntax_error_shows_file_and_line() {
    let c = Case::new();
    let cfg =
        "steps = 5\n[problem]\nfunction = \"beale\"\nstart = [1.0, \n[optimizer]\nname = \"sgd\"\n";
    let err = fails(&c, &c.landscape(cfg, &[]));
    assert!(err.contains("config.toml"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("column"), "{err}");
}

#[test]
fn landscape_plot_compares_optimizers() {
    let c = Case::new();
    let cfg = r#"
steps = 30
[problem]
function = "himmelblau"
[clip]
max_norm = 5.0
[[optimizers]]
name = "sgd"
lr = 0.01
[[optimizers]]
label = "momentum"
name = "sgd"
lr = 0.01
momentum = 0.9
[optimizers.schedule]
name = "cosine"
t_max = 30
eta_min = 0.001
"#;
    ok(&c.landscape(cfg, &["--plot", "paths.svg"]));
    let j = c.json();
    let runs = j["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        j.get("params").is_none(),
        "several optimizers: fields only under `runs`"
    );
    assert_eq!(runs[0]["label"], "sgd (lr=0.01)");
    assert_eq!(runs[1]["label"], "momentum");
    assert_eq!(f64s(&runs[0]["lr"]), vec![0.01; 30]);
    let lr = f64s(&runs[1]["lr"]);
    assert_eq!(lr[0], 0.01);
    assert!(lr[29] < 0.0011 && lr[29] > 0.001, "{lr:?}");
    let svg = std::fs::read_to_string(c.path("paths.svg")).unwrap();
    // Paths are SVG polylines over the heat map's rectangles.
    assert!(svg.contains("<svg") && svg.contains("<polyline") && svg.contains("<rect"));
    assert!(svg.contains("himmelblau") && svg.contains("momentum"));
    assert!(svg.len() < 2_000_000, "{} bytes", svg.len());
    assert_eq!(
        c.files(),
        ["config.toml", "out.json", "paths.svg"],
        "no temporary files left"
    );
}

#[test]
fn landscape_examples_parse() {
    // The shipped examples use optimizers that may not be built yet; check that every failure
    // is that one, not a config mistake.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/landscape");
    for name in ["rosenbrock.toml", "saddle.toml", "quadratic.toml"] {
        let c = Case::new();
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let o = c.landscape(&text, &["--plot", "p.svg"]);
        if !o.status.success() {
            let err = stderr(&o);
            assert!(err.contains("is not available yet"), "{name}: {err}");
        }
    }
}

/// Regression: the README's main command writes into `runs/`, which a fresh clone lacks.
#[test]
fn landscape_creates_missing_output_folders() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("q.toml");
    std::fs::write(
        &cfg,
        "steps = 5\n[problem]\nfunction = 'saddle'\nstart = [1.0, 0.001]\n[optimizer]\nname = 'sgd'\nlr = 0.1\n",
    )
    .unwrap();
    let out = dir.path().join("runs/deep/out.json");
    let svg = dir.path().join("runs/plot.svg");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .arg("landscape")
        .arg(&cfg)
        .arg("--json")
        .arg(&out)
        .arg("--plot")
        .arg(&svg)
        .status()
        .unwrap();
    assert!(status.success());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(json["params"].as_array().unwrap().len(), 5);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

const TRAIN_MOONS: &str = r#"
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
name = "sgd"
lr = 0.1
momentum = 0.9
nesterov = true
weight_decay = 0.0001
[train]
epochs = 3
[log]
dir = "run"
every_steps = 1
"#;

/// Step and epoch lines of a run's metrics.jsonl without wall-clock fields.
fn train_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("time_s");
            o.remove("examples_per_s");
            v
        })
        .collect()
}

#[test]
fn train_writes_logs_and_prints_epoch_lines() {
    let case = Case::new();
    case.write("run.toml", TRAIN_MOONS);
    let o = case.gradlab(&["train", "run.toml", "--set", "train.epochs=2"]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let epoch_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("epoch")).collect();
    assert_eq!(epoch_lines.len(), 2, "{out}");
    assert!(epoch_lines[1].starts_with("epoch    2/2"), "{out}");
    assert!(
        out.lines().last().unwrap().contains("test_accuracy"),
        "{out}"
    );
    for f in [
        "metrics.jsonl",
        "summary.json",
        "model.safetensors",
        "config.toml",
        "checkpoint.json",
    ] {
        assert!(case.path("run").join(f).exists(), "{f}");
    }
    // --quiet: only the summary line.
    let o = case.gradlab(&["train", "run.toml", "--quiet", "--set", "train.epochs=1"]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(out.lines().count(), 1, "{out}");
}

/// `kill -9` in the middle of a run, then `--resume`: the metrics and the final weights are
/// those of the uninterrupted run.
#[test]
fn train_kill_and_resume_gives_the_uninterrupted_numbers() {
    let case = Case::new();
    let long = TRAIN_MOONS.replace("epochs = 3", "epochs = 150");
    case.write("run.toml", &long);
    let full = case.gradlab(&["train", "run.toml", "--quiet", "--set", "log.dir=\"full\""]);
    ok(&full);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args([
            "train",
            "run.toml",
            "--quiet",
            "--set",
            "train.checkpoint_every_steps=50",
        ])
        .current_dir(case.dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pointer = case.path("run").join("checkpoint.json");
    let t0 = std::time::Instant::now();
    while !pointer.exists() {
        assert!(t0.elapsed().as_secs() < 60, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(std::time::Duration::from_millis(30));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !case.path("run").join("summary.json").exists(),
        "the run finished before it could be killed"
    );
    let o = case.gradlab(&[
        "train",
        "run.toml",
        "--quiet",
        "--resume",
        "--set",
        "train.checkpoint_every_steps=50",
    ]);
    ok(&o);
    let want = train_lines(&case.path("full").join("metrics.jsonl"));
    let got = train_lines(&case.path("run").join("metrics.jsonl"));
    assert_eq!(got.len(), want.len());
    assert!(got == want, "metrics differ after resume");
    assert_eq!(
        std::fs::read(case.path("run").join("model.safetensors")).unwrap(),
        std::fs::read(case.path("full").join("model.safetensors")).unwrap()
    );
}

#[test]
fn train_bad_config_names_file_field_and_value() {
    let case = Case::new();
    for (sets, want) in [
        (vec!["optimizer.lr=-1"], "`lr` = -1"),
        (
            vec!["model.layers=[{type=\"linear\", out_features=3}]"],
            "has 2 classes",
        ),
        (vec!["data.dataset=\"nope\""], "`dataset` = \"nope\""),
        (vec!["train.epocs=2"], "`epocs`"),
    ] {
        case.write("config.toml", TRAIN_MOONS);
        let mut args = vec!["train", "config.toml"];
        for s in &sets {
            args.extend(["--set", s]);
        }
        let o = case.gradlab(&args);
        let e = fails(&case, &o);
        assert!(
            e.contains(want) && e.contains("config.toml"),
            "{sets:?}: {e}"
        );
    }
    let o = case.gradlab(&["train", "missing.toml"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.toml"), "{}", stderr(&o));
}

#[test]
fn train_non_finite_loss_fails_with_advice() {
    let case = Case::new();
    case.write("run.toml", TRAIN_MOONS);
    let o = case.gradlab(&["train", "run.toml", "--quiet", "--set", "optimizer.lr=1e30"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("the loss became") && e.contains("lower the learning rate tenfold"),
        "{e}"
    );
}

/// lr = 1e6 used to finish with exit 0 at a test loss of ~7e5: it stops as diverged, exits
/// non-zero with the doctor's remedies for a diverged run, and saves no model.
#[test]
fn train_lr_1e6_exits_non_zero_with_the_doctors_remedies() {
    let case = Case::new();
    case.write("run.toml", TRAIN_MOONS);
    let o = case.gradlab(&["train", "run.toml", "--quiet", "--set", "optimizer.lr=1e6"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    for want in [
        "training diverged: ",
        "No model.safetensors was written",
        "the doctor's remedies for a diverged run",
        "1. lower the learning rate tenfold",
        "--set optimizer.lr=1e5",
        "2. lower the learning rate 100×",
        "--set optimizer.lr=10000",
        "3. clip the gradient norm",
        "--set clip.max_norm=1.0",
        "4. warm the learning rate up",
    ] {
        assert!(e.contains(want), "{want:?} not in {e}");
    }
    assert!(!case.path("run").join("model.safetensors").exists());
}

/// One NaN in the training inputs used to end with exit 0, a finite loss and NaN weights in
/// model.safetensors (ReLU hides the NaN from the loss).
#[test]
fn train_nan_in_the_inputs_exits_non_zero_and_saves_no_nan_weights() {
    let case = Case::new();
    let mut csv = String::from("label,a,b\n");
    for i in 0..64 {
        let x = if i == 5 {
            "nan".to_string()
        } else {
            format!("{}", i as f32 / 64.0)
        };
        csv += &format!("{},{x},{}\n", i % 2, 1.0 - i as f32 / 64.0);
    }
    case.write("data.csv", &csv);
    case.write(
        "run.toml",
        r#"
[data]
dataset = "data.csv"
batch_size = 16
[[model.layers]]
type = "linear"
out_features = 8
[[model.layers]]
type = "relu"
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "sgd"
lr = 0.1
[train]
epochs = 2
[log]
dir = "run"
every_steps = 1
"#,
    );
    let o = case.gradlab(&["train", "run.toml", "--quiet"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("NaN") || e.contains("non-finite") || e.contains("not finite"),
        "{e}"
    );
    assert!(!case.path("run").join("model.safetensors").exists(), "{e}");
}

/// `log.dir = "."` in a folder holding the user's own `checkpoints/` and files: a fresh run
/// used to delete them recursively. It is refused, naming the folder and the ways on.
#[test]
fn train_in_a_folder_holding_a_users_checkpoints_is_refused_and_deletes_nothing() {
    let case = Case::new();
    case.write(
        "run.toml",
        &TRAIN_MOONS.replace("dir = \"run\"", "dir = \".\""),
    );
    std::fs::create_dir_all(case.path("checkpoints")).unwrap();
    case.write("checkpoints/resnet.pt", "weights");
    case.write("metrics.jsonl", "my log\n");
    let o = case.gradlab(&["train", "run.toml", "--quiet"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("holds files gradlab did not write")
            && e.contains("Nothing was removed")
            && e.contains("log.dir")
            && e.contains("--resume"),
        "{e}"
    );
    assert_eq!(
        case.files(),
        ["checkpoints", "metrics.jsonl", "run.toml"],
        "nothing may be added or removed"
    );
    assert_eq!(
        std::fs::read_to_string(case.path("checkpoints/resnet.pt")).unwrap(),
        "weights"
    );
    assert_eq!(
        std::fs::read_to_string(case.path("metrics.jsonl")).unwrap(),
        "my log\n"
    );
}

/// Sizes that used to abort, panic or hang `gradlab train` are config errors naming the field
/// and value, and nothing is written; a batch larger than the training set is clamped.
#[test]
fn train_huge_config_sizes_fail_with_the_field_and_value() {
    let case = Case::new();
    for (args, want) in [
        (
            vec!["--set", "model.layers.0.out_features=1000000000"],
            "model.layers[0] `out_features` = 1000000000",
        ),
        (vec!["--set", "data.n=1000000000000"], "`n` = 1000000000000"),
        (vec!["--set", "train.threads=100000"], "`threads` = 100000"),
        (vec!["--threads", "100000"], "`threads` = 100000"),
    ] {
        case.write("config.toml", TRAIN_MOONS);
        let mut all = vec!["train", "config.toml", "--quiet"];
        all.extend(&args);
        let e = fails(&case, &case.gradlab(&all));
        assert!(
            e.contains(want) && e.contains("config.toml") && !e.contains("panicked"),
            "{args:?}: {e}"
        );
        // Said once: the config's name is not repeated in front of the message.
        assert_eq!(e.matches("config.toml").count(), 1, "{e}");
    }
    for b in ["1000000000000", "4611686018427387904"] {
        let o = case.gradlab(&[
            "train",
            "config.toml",
            "--quiet",
            "--set",
            &format!("data.batch_size={b}"),
        ]);
        ok(&o);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(out.starts_with("run: 3 steps, 3 epochs"), "{out}");
    }
}

/// A damaged latest checkpoint falls back to the previous one with a warning; with both
/// damaged the resume is refused, exit non-zero. `--resume` where nothing ran leaves no folder.
#[test]
fn train_resume_falls_back_from_a_damaged_checkpoint_and_refuses_when_none_is_usable() {
    let case = Case::new();
    case.write("run.toml", TRAIN_MOONS);
    let o = case.gradlab(&[
        "train",
        "run.toml",
        "--quiet",
        "--resume",
        "--set",
        "log.dir=\"nothing\"",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no checkpoint to resume from"),
        "{}",
        stderr(&o)
    );
    assert!(
        !case.path("nothing").exists(),
        "a failed --resume left a folder"
    );
    ok(&case.gradlab(&["train", "run.toml", "--quiet", "--set", "train.epochs=2"]));
    let flip = |dir: &str| {
        let p = case
            .path("run")
            .join("checkpoints")
            .join(dir)
            .join("model.safetensors");
        let mut b = std::fs::read(&p).unwrap();
        *b.last_mut().unwrap() ^= 0x10;
        std::fs::write(&p, b).unwrap();
    };
    // 12 steps per epoch: checkpoints at the end of epochs 1 and 2.
    flip("step-000000024");
    let o = case.gradlab(&["train", "run.toml", "--quiet", "--resume"]);
    let e = ok(&o);
    assert!(
        e.contains("warning: checkpoints/step-000000024 cannot be used: model.safetensors does not match its checksum")
            && e.contains("resuming from checkpoints/step-000000012 instead"),
        "{e}"
    );
    flip("step-000000036");
    flip("step-000000024");
    let o = case.gradlab(&["train", "run.toml", "--quiet", "--resume"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("no usable checkpoint to resume from")
            && e.contains("step-000000036 cannot be used")
            && e.contains("step-000000024 cannot be used"),
        "{e}"
    );
}

/// The `findings` of a doctor report, each as `(kind, first_step, last_step)`, after checking
/// that every finding has the required keys.
fn findings(report: &Value) -> Vec<(String, u64, u64)> {
    report["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .map(|f| {
            for key in [
                "kind",
                "first_step",
                "last_step",
                "confidence",
                "evidence",
                "remedies",
            ] {
                assert!(f.get(key).is_some(), "finding without `{key}`: {f}");
            }
            let c = f["confidence"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&c), "{f}");
            (
                f["kind"].as_str().unwrap().to_string(),
                f["first_step"].as_u64().unwrap(),
                f["last_step"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn diagnose_writes_report_json_and_plots() {
    let case = Case::new();
    case.write("run.toml", TRAIN_MOONS);
    let o = case.gradlab(&[
        "diagnose",
        "run.toml",
        "--quiet",
        "--json",
        "out/report.json",
        "--plots",
        "figs",
    ]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains("gradlab doctor: run.toml (preset economy)")
            && text.contains("stopped: completed"),
        "{text}"
    );
    let r = read_json(&case.path("out/report.json"));
    assert_eq!(r["preset"], "economy");
    assert_eq!(r["summary"]["stop"]["reason"], "completed");
    // 3 epochs of 384/32 = 12 steps: every step's loss is in the timeline.
    assert_eq!(r["summary"]["steps"], 36);
    assert_eq!(
        r["timeline"]["series"]["loss"].as_array().unwrap().len(),
        36
    );
    assert_eq!(r["timeline"]["epochs"].as_array().unwrap().len(), 3);
    let found = findings(&r);
    assert!(found.iter().all(|f| f.0 != "diverged"), "{found:?}");
    if found.iter().all(|f| f.0 == "converged") {
        assert!(text.contains("the run looks healthy"), "{text}");
    }
    for (kind, first, last) in &found {
        assert!(text.contains(kind.as_str()), "{kind} not in\n{text}");
        assert!(first <= last && *last <= 36);
    }
    // The plots its readings allow, in --plots.
    let loss = std::fs::read_to_string(case.path("figs/loss.svg")).unwrap();
    assert!(loss.starts_with("<svg") && loss.contains("mini-batch loss"));
    let series = r["timeline"]["series"].as_object().unwrap();
    assert_eq!(
        case.path("figs/grad_norms.svg").exists(),
        series.keys().any(|k| k.starts_with("grad_norm@"))
    );
    assert_eq!(
        case.path("figs/curvature.svg").exists(),
        ["lambda_max", "lambda_min", "stability"]
            .iter()
            .any(|k| series.contains_key(*k))
    );
    assert!(!case.path("out/loss.svg").exists());
}

#[test]
fn train_doctor_writes_doctor_json_into_the_run_dir() {
    let case = Case::new();
    case.write("run.toml", TRAIN_MOONS);
    let o = case.gradlab(&["train", "run.toml", "--quiet", "--doctor", "full"]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // The summary line, then the report.
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("run: 36 steps, 3 epochs in"), "{text}");
    assert!(
        text.contains("gradlab doctor: run.toml (preset full)"),
        "{text}"
    );
    let r = read_json(&case.path("run").join("doctor.json"));
    assert_eq!(r["preset"], "full");
    findings(&r);
    assert_eq!(
        r["timeline"]["series"]["loss"].as_array().unwrap().len(),
        36
    );
    assert!(case.path("run").join("loss.svg").exists());
    // The run itself is what `train` writes without the doctor.
    assert!(case.path("run").join("metrics.jsonl").exists());
    assert!(case.path("run").join("model.safetensors").exists());
    // It links the run's landscape: printed under `next:` and in the JSON.
    let landscape = "gradlab landscape --run run --slice 21";
    assert!(
        text.contains("\nnext:\n") && text.contains(landscape),
        "{text}"
    );
    let next = r["next"].as_array().expect("next is an array");
    assert!(next.iter().any(|n| n["command"] == landscape), "{next:?}");
    // No preset: economy.
    let o = case.gradlab(&["train", "run.toml", "--quiet", "--doctor"]);
    ok(&o);
    assert_eq!(
        read_json(&case.path("run").join("doctor.json"))["preset"],
        "economy"
    );
}

#[test]
fn diagnose_diverging_run_is_a_report_not_an_error() {
    let case = Case::new();
    case.write("run.toml", TRAIN_MOONS);
    let o = case.gradlab(&[
        "diagnose",
        "run.toml",
        "--quiet",
        "--set",
        "optimizer.lr=1e30",
        "--json",
        "d/r.json",
    ]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains("diverged") && text.contains("the loss became"),
        "{text}"
    );
    assert!(!text.contains("healthy"), "{text}");
    let r = read_json(&case.path("d/r.json"));
    assert_eq!(r["summary"]["stop"]["reason"], "non_finite");
    let found = findings(&r);
    let d = found
        .iter()
        .find(|f| f.0 == "diverged")
        .expect("a diverged finding");
    assert_eq!(d.2, r["summary"]["stop"]["step"].as_u64().unwrap());
    // A learning-rate finding points at the range test on the same config; a run without final
    // weights has no landscape to draw.
    let lr_find = "gradlab lr-find run.toml --set optimizer.lr=1e30";
    assert!(
        text.contains(lr_find) && !text.contains("gradlab landscape"),
        "{text}"
    );
    let next = r["next"].as_array().expect("next is an array");
    assert!(next.iter().any(|n| n["command"] == lr_find), "{next:?}");
    // Plots default to the JSON's folder.
    assert!(case.path("d/loss.svg").exists());
}

#[test]
fn diagnose_bad_config_names_file_field_and_value() {
    let case = Case::new();
    case.write("config.toml", TRAIN_MOONS);
    let o = case.gradlab(&[
        "diagnose",
        "config.toml",
        "--set",
        "optimizer.lr=-1",
        "--json",
        "r.json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = fails(&case, &o);
    assert!(e.contains("`lr` = -1") && e.contains("config.toml"), "{e}");
    let o = case.gradlab(&["diagnose", "config.toml", "--preset", "deluxe"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown preset `deluxe`"),
        "{}",
        stderr(&o)
    );
}

/// Regression: an unwritable `--json` (or `--plots`) was found only after the whole training,
/// and the diagnosis was lost. Now it is refused before anything runs, and nothing is created.
#[test]
fn diagnose_refuses_an_unwritable_output_before_training() {
    let case = Case::new();
    case.write("config.toml", TRAIN_MOONS);
    case.write("file", "not a folder");
    for (flag, path, want) in [
        ("--json", "file/r.json", "is not a folder"),
        ("--json", ".", "is a folder, not a file"),
        ("--plots", "file/plots", "is not a folder"),
    ] {
        let o = case.gradlab(&["diagnose", "config.toml", "-q", flag, path]);
        let e = stderr(&o);
        assert!(
            !o.status.success() && e.contains(want),
            "{flag} {path}: {e}"
        );
        assert!(!case.path("run").exists(), "{flag} {path}: it trained");
    }
}

/// A tiny study: 2 synthetic problems × 2 optimizers × 2 trials, the best re-run at seed 1
/// (12 runs); `EPOCHS` is replaced per test.
const TINY_STUDY: &str = r#"
name = "tiny"
seeds = [0, 1]
[tuning]
protocol = "budget"
trials = 2
metric = "val_accuracy"

[[problems]]
name = "moons_mlp"
target = { metric = "test_accuracy", value = 0.8 }
[problems.data]
dataset = "moons"
n = 256
n_test = 128
batch_size = 32
validation_split = 0.25
[[problems.model.layers]]
type = "linear"
out_features = 16
[[problems.model.layers]]
type = "relu"
[[problems.model.layers]]
type = "linear"
out_features = 2
[problems.train]
epochs = EPOCHS

[[problems]]
name = "blobs_mlp"
target = { metric = "test_accuracy", value = 0.9 }
[problems.data]
dataset = "blobs"
n = 256
n_test = 128
centers = 3
dim = 4
batch_size = 32
validation_split = 0.25
[[problems.model.layers]]
type = "linear"
out_features = 16
[[problems.model.layers]]
type = "relu"
[[problems.model.layers]]
type = "linear"
out_features = 3
[problems.train]
epochs = EPOCHS

[[optimizers]]
name = "sgd"
lr = { grid = [0.3, 0.03] }

[[optimizers]]
name = "adam"
lr = { grid = [0.01, 0.001] }
"#;

/// key → (status, epoch metrics without timings).
type StoredRuns = std::collections::BTreeMap<String, (String, Vec<Vec<Option<f64>>>)>;

/// Every stored run of a study database.
fn stored_runs(db: &Path) -> StoredRuns {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut runs = std::collections::BTreeMap::new();
    let mut stmt = conn
        .prepare("SELECT key, status FROM runs WHERE study = 'tiny'")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (key, status) = row.unwrap();
        let mut m = conn
            .prepare(
                "SELECT epoch, step, train_loss, val_loss, val_accuracy, test_loss, test_accuracy
                 FROM epoch_metrics WHERE study = 'tiny' AND key = ?1 ORDER BY epoch",
            )
            .unwrap();
        let epochs: Vec<Vec<Option<f64>>> = m
            .query_map([&key], |r| {
                (0..7)
                    .map(|i| r.get::<_, Option<f64>>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert!(
            runs.insert(key, (status, epochs)).is_none(),
            "a key stored twice"
        );
    }
    runs
}

#[test]
fn compare_runs_a_study_and_writes_the_report() {
    let case = Case::new();
    case.write("tiny_study.toml", &TINY_STUDY.replace("EPOCHS", "3"));
    let o = case.gradlab(&["compare", "tiny_study.toml", "--workers", "2", "--quiet"]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let dir = case.path("runs/compare/tiny");
    assert!(out.contains("12 done, 0 failed"), "{out}");
    assert!(
        out.contains(&format!(
            "report: {}",
            Path::new("runs/compare/tiny/report.html").display()
        )),
        "{out}"
    );
    // One verdict line per problem.
    for p in ["moons_mlp", "blobs_mlp"] {
        assert!(out.contains(&format!("  {p}: ")), "{out}");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("moons_mlp"));
    assert!(std::fs::read_dir(dir.join("tables")).unwrap().count() > 0);
    let runs = stored_runs(&dir.join("results.db"));
    assert_eq!(runs.len(), 12);
    for (key, (status, epochs)) in &runs {
        assert_eq!(status, "done", "{key}");
        assert_eq!(epochs.len(), 3, "{key}");
        assert!(dir.join("runs").exists());
    }
    // Per-run logs (metrics.jsonl and TensorBoard) under runs/<problem>/<optimizer>/<key>.
    let moons_sgd = dir.join("runs/moons_mlp/sgd");
    assert_eq!(std::fs::read_dir(&moons_sgd).unwrap().count(), 3);

    // `gradlab report` from the store alone, with the tables exported.
    let o = case.gradlab(&[
        "report",
        "--store",
        "runs/compare/tiny/results.db",
        "--out",
        "again.html",
        "--export",
        "exported",
    ]);
    ok(&o);
    assert!(case.path("again.html").is_file());
    let exported: Vec<String> = std::fs::read_dir(case.path("exported"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(exported.iter().any(|f| f.ends_with(".csv")), "{exported:?}");
    assert!(
        exported.iter().any(|f| f.ends_with(".json")),
        "{exported:?}"
    );

    // Running it again finds every run done: nothing is retrained.
    let o = case.gradlab(&["compare", "tiny_study.toml", "--quiet", "--no-report"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    ok(&o);
    assert!(out.contains("this call: 0 trained, 0 failed"), "{out}");
}

#[test]
fn compare_bad_study_and_store_fail_with_clear_messages() {
    let case = Case::new();
    case.write(
        "bad.toml",
        "name = \"x\"\nseeds = [0]\n[[problems]]\nname = 3\n",
    );
    let o = case.gradlab(&["compare", "bad.toml", "--quiet"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("bad.toml"), "{e}");
    let o = case.gradlab(&["compare", "missing.toml", "--quiet"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing.toml"), "{}", stderr(&o));
    let o = case.gradlab(&["report", "--store", "nothing_here.db"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nothing_here.db"), "{}", stderr(&o));
    assert!(!case.path("nothing_here.db").exists());
    // Regression: 100,000 workers aborted the process ("failed to initiate panic") when their
    // threads could not start. Worker and thread counts are bounded before anything runs.
    case.write("tiny_study.toml", &TINY_STUDY.replace("EPOCHS", "1"));
    for (args, want) in [
        (&["--workers", "100000"][..], "workers = 100000"),
        (&["--workers", "0"][..], "workers = 0"),
        (&["--threads-per-run", "0"][..], "threads_per_run = 0"),
        (&["--threads-per-run", "100000"][..], "at most"),
    ] {
        let mut all = vec!["compare", "tiny_study.toml", "--quiet", "--no-report"];
        all.extend(args);
        let o = case.gradlab(&all);
        let e = stderr(&o);
        assert!(
            !o.status.success() && e.contains(want) && !e.contains("panic"),
            "{args:?}: {e}"
        );
        assert!(!case.path("runs").exists(), "{args:?}: a run started");
    }
}

/// `kill -9` in the middle of a study, then the same command again: every run is stored done
/// exactly once, the interrupted ones were redone, and the numbers are those of an
/// uninterrupted study.
#[test]
fn compare_sigkill_then_rerun_finishes_the_study_with_the_same_numbers() {
    let case = Case::new();
    case.write("tiny_study.toml", &TINY_STUDY.replace("EPOCHS", "20"));
    let args = |out: &str| {
        vec![
            "compare".to_string(),
            "tiny_study.toml".into(),
            "--workers".into(),
            "2".into(),
            "--quiet".into(),
            "--no-report".into(),
            "--no-doctor".into(),
            "--out".into(),
            out.into(),
        ]
    };
    ok(&case.gradlab(&args("full").iter().map(String::as_str).collect::<Vec<_>>()));
    let want = stored_runs(&case.path("full/results.db"));
    assert_eq!(want.len(), 12);

    let mut child = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(args("killed"))
        .current_dir(case.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = case.path("killed/results.db");
    let t0 = std::time::Instant::now();
    loop {
        assert!(t0.elapsed().as_secs() < 120, "the study did not progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
        if !db.exists() {
            continue;
        }
        let Ok(conn) = rusqlite::Connection::open(&db) else {
            continue;
        };
        let done: rusqlite::Result<i64> =
            conn.query_row("SELECT count(*) FROM runs WHERE status = 'done'", [], |r| {
                r.get(0)
            });
        if done.is_ok_and(|d| d >= 3) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = stored_runs(&db);
    let running = before.values().filter(|(s, _)| s == "running").count();
    let done = before.values().filter(|(s, _)| s == "done").count();
    assert!(running >= 1, "killed while no run was training: {before:?}");
    assert!(done < 12, "the study finished before it could be killed");

    ok(&case.gradlab(
        &args("killed")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    let got = stored_runs(&db);
    assert_eq!(got.len(), 12);
    assert!(got.values().all(|(s, _)| s == "done"));
    assert_eq!(got, want, "numbers differ from the uninterrupted study");
}

/// A one-problem study whose problem is a run config file (2 runs: one optimizer, seeds 0 and 1).
const REF_STUDY: &str = r#"
name = "ref"
seeds = [0, 1]
[tuning]
protocol = "defaults"

[[problems]]
name = "moons_mlp"
config = "conf/moons.toml"

[[optimizers]]
name = "sgd"
lr = 0.1
"#;

const MOONS_RUN: &str = r#"
[data]
dataset = "moons"
n = 128
n_test = 64
batch_size = 32
validation_split = 0.25
[[model.layers]]
type = "linear"
out_features = 8
[[model.layers]]
type = "relu"
[[model.layers]]
type = "linear"
out_features = 2
[train]
epochs = 2
"#;

/// Editing a run config file a stored study names: the study file is the same, but resuming it
/// is refused (nothing trained) with the problem and its file named; `gradlab report` still
/// rebuilds the study from the store after the file is gone.
#[test]
fn compare_refuses_a_study_whose_run_config_file_changed() {
    let case = Case::new();
    std::fs::create_dir(case.path("conf")).unwrap();
    case.write("ref.toml", REF_STUDY);
    case.write("conf/moons.toml", MOONS_RUN);
    let args = [
        "compare",
        "ref.toml",
        "--quiet",
        "--no-report",
        "--no-doctor",
    ];
    let o = case.gradlab(&args);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 done, 0 failed"));
    let db = case.path("runs/compare/ref/results.db");
    let before = std::fs::read_to_string(case.path("conf/moons.toml")).unwrap();
    let stored = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(
            "SELECT count(*) FROM epoch_metrics WHERE study = 'ref'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    assert_eq!(stored, 4); // 2 runs × 2 epochs

    case.write(
        "conf/moons.toml",
        &before.replace("epochs = 2", "epochs = 3"),
    );
    let o = case.gradlab(&args);
    assert!(!o.status.success(), "a changed run config was resumed");
    let e = stderr(&o);
    for part in [
        "study \"ref\"",
        "file is unchanged",
        "problem \"moons_mlp\" (config = \"conf/moons.toml\"): config.train.epochs is 2 in the \
         store but 3 now",
        "restore the file",
    ] {
        assert!(e.contains(part), "{e:?} lacks {part:?}");
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM epoch_metrics", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 4, "nothing may be trained");
    drop(conn);
    // Restored: resumes with nothing to do.
    case.write("conf/moons.toml", &before);
    let o = case.gradlab(&args);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("this call: 0 trained, 0 failed"));

    // The run config gone: the report is rebuilt from what the study resolved to.
    std::fs::remove_dir_all(case.path("conf")).unwrap();
    let o = case.gradlab(&["report", "--store", "runs/compare/ref/results.db"]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("  moons_mlp: "), "{out}");
    let html = std::fs::read_to_string(case.path("runs/compare/ref/report.html")).unwrap();
    assert!(html.contains("moons_mlp") && html.contains("<svg"));
}

/// `gradlab compare remedies` runs the bundled remedies studies (seconds) and prints every
/// claim with its measured verdict; each study gets its report and its factor tables.
#[test]
fn compare_remedies_prints_every_claim_with_a_verdict() {
    let case = Case::new();
    let o = case.gradlab(&[
        "compare",
        "remedies",
        "--out",
        "rem",
        "--workers",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| claim"))
        .collect();
    assert_eq!(rows.len(), 10, "{out}");
    for r in &rows {
        assert!(
            ["supported", "contradicted", "not shown", "not enough seeds"]
                .iter()
                .any(|v| r.ends_with(&format!("**{v}** |"))),
            "{r}"
        );
    }
    for s in lab::study::REMEDIES.iter().map(|(n, _)| n) {
        assert!(case.path(&format!("rem/{s}/report.html")).is_file(), "{s}");
        assert!(
            case.path(&format!("rem/{s}/tables/factors.csv")).is_file(),
            "{s}"
        );
    }
}

/// Regression: a mistyped `GRADLAB_SGEMM_KERNEL` panicked inside the first matrix product; it is
/// now refused before anything runs, naming the variable and the value.
#[test]
fn a_bad_kernel_variable_is_an_error_before_any_work() {
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(["data", "list"])
        .env("GRADLAB_SGEMM_KERNEL", "avx3")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GRADLAB_SGEMM_KERNEL=\"avx3\"")
            && err.contains("expected avx512, avx2 or portable"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
