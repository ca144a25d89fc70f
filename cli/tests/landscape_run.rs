//! `gradlab landscape --run DIR`: a short `gradlab train`, then the loss along the line from its
//! initial to its final weights, written into the run folder (and its manifest).

use std::process::{Command, Output};

const MOONS: &str = r#"
seed = 4
[data]
dataset = "moons"
n = 256
n_test = 64
batch_size = 32
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "relu"
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "sgd"
lr = 0.1
momentum = 0.9
[train]
epochs = 3
threads = 1
[log]
dir = "run"
"#;

fn gradlab(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn landscape_run_writes_the_line_into_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("run.toml"), MOONS).unwrap();
    let o = gradlab(dir.path(), &["train", "run.toml", "--quiet"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = gradlab(
        dir.path(),
        &[
            "landscape",
            "--run",
            "run",
            "--points",
            "6",
            "--slice",
            "3",
            "--trajectory",
            "3",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("barrier on [0, 1]"), "{out}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/landscape.json")).unwrap(),
    )
    .unwrap();
    // 6 evenly spaced points from −0.5 to 1.5, plus the run's ends α = 0 and 1.
    let alphas: Vec<f64> = json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alpha"].as_f64().unwrap())
        .collect();
    assert_eq!(alphas.len(), 8, "{alphas:?}");
    assert!(alphas.contains(&0.0) && alphas.contains(&1.0));
    assert!(json["points"][0]["test_loss"].as_f64().is_some());
    let svg = std::fs::read_to_string(dir.path().join("run/landscape.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("test loss"));
    let manifest = std::fs::read_to_string(dir.path().join("run/gradlab-run.json")).unwrap();
    assert!(manifest.contains("landscape.json") && manifest.contains("landscape.svg"));
    let slice: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/landscape_slice.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(slice["train_loss"].as_array().unwrap().len(), 3);
    assert!(manifest.contains("landscape_slice.svg"));
    assert!(out.contains("slice 3×3"), "{out}");
    // The sharpness reading, with no doctor's to compare (trained without --doctor).
    assert!(
        out.contains("sharpness at the final weights: λmax")
            && out.contains("no doctor's λmax to compare"),
        "{out}"
    );
    let h = &slice["sharpness"];
    assert!(h["lambda_max"].as_f64().unwrap() >= h["lambda_min"].as_f64().unwrap());
    assert!(h.get("doctor").is_none(), "{h}");
    assert!(
        out.contains("differ from the saved ones by at most 0"),
        "{out}"
    );
    assert!(manifest.contains("landscape_trajectory.svg"));
    // A fresh run in the folder removes them with the rest.
    let o = gradlab(
        dir.path(),
        &["train", "run.toml", "--quiet", "--epochs", "1"],
    );
    assert!(o.status.success());
    assert!(!dir.path().join("run/landscape.json").exists());
}

/// Trained with the doctor: its report names the landscape command, and the slice's sharpness
/// reading stands beside the doctor's last λmax from the run's doctor.json.
#[test]
fn slice_sharpness_stands_beside_the_doctors_lambda_max() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("run.toml"), MOONS).unwrap();
    let o = gradlab(
        dir.path(),
        &["train", "run.toml", "--quiet", "--doctor", "full"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("gradlab landscape --run run --slice 21"),
        "{out}"
    );
    let doctor: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/doctor.json")).unwrap())
            .unwrap();
    let last = doctor["timeline"]["series"]["lambda_max"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let o = gradlab(
        dir.path(),
        &["landscape", "--run", "run", "--points", "3", "--slice", "3"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("sharpness at the final weights: λmax")
            && out.contains("the doctor's last λmax during the run"),
        "{out}"
    );
    let slice: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/landscape_slice.json")).unwrap(),
    )
    .unwrap();
    let d = &slice["sharpness"]["doctor"];
    assert_eq!(d["step"], last[0], "{d} vs {last}");
    assert_eq!(d["lambda_max"], last[1], "{d} vs {last}");
    assert!(slice["sharpness"]["lambda_max"]
        .as_f64()
        .unwrap()
        .is_finite());
    let svg = std::fs::read_to_string(dir.path().join("run/landscape_slice.svg")).unwrap();
    assert!(svg.contains("doctor") && svg.contains("λmax at the centre"));
}

#[test]
fn landscape_run_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (vec!["landscape", "--run", "nowhere"], "not a run folder"),
        (
            vec!["landscape", "--run", ".", "--points", "1"],
            "--points 1",
        ),
        // Regression: a huge count aborted on allocating the grid.
        (
            vec!["landscape", "--run", ".", "--points", "99999999999"],
            "expected 2 to 10001 points",
        ),
        (vec!["landscape"], "<CONFIG>"),
        // Regression: a bad --slice or --trajectory was refused only after the line's
        // evaluations had run and been written; now before anything (here, before the folder
        // is even read).
        (
            vec!["landscape", "--run", ".", "--slice", "1"],
            "expected 2 to 201 points",
        ),
        (
            vec!["landscape", "--run", ".", "--slice", "3", "--span", "0"],
            "a span > 0",
        ),
        (
            vec!["landscape", "--run", ".", "--trajectory", "1000"],
            "1000 grid points per side",
        ),
    ] {
        let o = gradlab(dir.path(), &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
    }
}
