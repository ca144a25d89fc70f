//! The loss along a run's line from its initial to its final weights, on real (tiny) runs.

use diagnose::surface::{line::grid, Line};

const RUN: &str = r#"
seed = 5
[data]
dataset = "blobs"
n = 400
n_test = 100
batch_size = 40
standardize = true
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "tanh"
[[model.layers]]
type = "linear"
out_features = 3
[optimizer]
name = "sgd"
lr = LR
[train]
epochs = 3
threads = 1
"#;

fn train(dir: &std::path::Path, lr: &str) -> train::Summary {
    train_toml(dir, &RUN.replace("LR", lr))
}

/// Trains the run config `text` into `dir/run`.
fn train_toml(dir: &std::path::Path, text: &str) -> train::Summary {
    let cfg_path = dir.join("run.toml");
    std::fs::write(&cfg_path, text).unwrap();
    let log = format!(
        "log.dir={}",
        toml::Value::String(dir.join("run").display().to_string())
    );
    let cfg = train::RunConfig::from_file(&cfg_path, &[log]).unwrap();
    train::run(
        &cfg,
        &train::Options {
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap()
}

/// With learning rate 0 the final weights are the initial ones: the rebuilt θ₀ must equal
/// them exactly (distance 0, the same loss all along the line).
#[test]
fn rebuilt_initial_weights_are_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), "0.0");
    let line = Line::of_run(&dir.path().join("run"), &grid(-0.5, 1.5, 5)).unwrap();
    assert_eq!(line.distance, 0.0);
    let l0 = line.points[0].train_loss;
    assert!(
        line.points.iter().all(|p| p.train_loss == l0),
        "{:?}",
        line.points
    );
}

/// At α = 1 the test loss is the run's own final evaluation (same weights, same code path), and
/// training lowered the training loss from α = 0.
#[test]
fn the_line_ends_at_the_runs_final_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let s = train(dir.path(), "0.1");
    let line = Line::of_run(&dir.path().join("run"), &grid(-0.5, 1.5, 9)).unwrap();
    let at1 = line.points.iter().find(|p| p.alpha == 1.0).unwrap();
    let at0 = line.points.iter().find(|p| p.alpha == 0.0).unwrap();
    assert_eq!(at1.test_loss, s.last.as_ref().unwrap().test_loss);
    assert_eq!(at1.test_accuracy, s.last.as_ref().unwrap().test_accuracy);
    assert!(at1.train_loss < at0.train_loss);
    assert!(line.distance > 0.0 && line.barrier >= 0.0);
    assert!(line.min_alpha >= 0.5, "{}", line.min_alpha);
    let json = serde_json::to_value(&line).unwrap();
    assert_eq!(json["points"].as_array().unwrap().len(), 9);
}

/// Regression: the running variances were extrapolated linearly, so past the ends they went
/// negative (here `v₁` is 22–67, so at α = −0.5 about −10 to −33); batch norm's `1/√(v + ε)`
/// was NaN, the ReLU after it turned the NaNs into zeros, and the line read a near-uniform
/// prediction's loss (2.31, *below* the 3.21 at the initial weights) at α = −0.5. Variances now
/// go geometrically: the line keeps rising away from the start.
#[test]
fn a_batch_norm_line_extrapolates_positive_variances() {
    let dir = tempfile::tempdir().unwrap();
    let s = train_toml(
        dir.path(),
        r#"
seed = 0
[data]
dataset = "digits"
batch_size = 32
validation_split = 0.1
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
type = "linear"
out_features = 10
[optimizer]
name = "adam"
lr = 0.01
[train]
epochs = 2
threads = 1
"#,
    );
    let line = Line::of_run(&dir.path().join("run"), &grid(-0.5, 1.5, 5)).unwrap();
    let at = |a: f64| line.points.iter().find(|p| p.alpha == a).unwrap();
    // The ends are the run's own weights and statistics, as before.
    assert_eq!(at(1.0).test_loss, s.last.as_ref().unwrap().test_loss);
    assert!(
        at(-0.5).train_loss > at(0.0).train_loss && at(0.0).train_loss > at(1.0).train_loss,
        "{:?}",
        line.points
    );
    assert!(line.points.iter().all(|p| p.train_loss.is_finite()));
}

#[test]
fn a_folder_without_a_finished_run_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = Line::of_run(dir.path(), &[0.0]).unwrap_err().to_string();
    assert!(e.contains("not a run folder"), "{e}");
    std::fs::write(dir.path().join("config.toml"), "seed = 0").unwrap();
    let e = Line::of_run(dir.path(), &[0.0]).unwrap_err().to_string();
    assert!(e.contains("no model.safetensors"), "{e}");
}

/// The slice's centre is the final weights, its grid is square, and the loss rises away from a
/// trained minimum.
#[test]
fn slice_around_the_final_weights() {
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), "0.1");
    let run = dir.path().join("run");
    let s = diagnose::surface::Slice::of_run(&run, 5, 1.0, 7).unwrap();
    assert_eq!(s.train_loss.len(), 5);
    assert!(s.train_loss.iter().all(|r| r.len() == 5));
    // The grid's middle point is the centre itself.
    assert_eq!(s.train_loss[2][2], s.center);
    let line = Line::of_run(&run, &[1.0]).unwrap();
    assert_eq!(line.points[0].train_loss, s.center);
    assert!(s.rise_at_half.is_finite());
    let corners = [
        s.train_loss[0][0],
        s.train_loss[0][4],
        s.train_loss[4][0],
        s.train_loss[4][4],
    ];
    assert!(
        corners.iter().all(|&c| c > s.center),
        "{corners:?} vs {}",
        s.center
    );
    assert!(diagnose::surface::Slice::of_run(&run, 1, 1.0, 7).is_err());
}

/// The retrained run retraces the original exactly, the path ends at the final weights and the
/// two PCA directions explain part of its variance.
#[test]
fn trajectory_retraces_the_run_on_its_pca_plane() {
    let dir = tempfile::tempdir().unwrap();
    let s = train(dir.path(), "0.1");
    let run = dir.path().join("run");
    let t =
        diagnose::surface::Trajectory::of_run(&run, &dir.path().join("scratch"), 10, 4).unwrap();
    assert_eq!(t.reproduced, 0.0);
    assert_eq!(t.steps.first(), Some(&0));
    assert_eq!(t.steps.last(), Some(&s.steps));
    assert_eq!(t.pca.coords.len(), t.steps.len());
    assert_eq!(*t.pca.coords.last().unwrap(), (0.0, 0.0));
    let (e1, e2) = t.pca.explained;
    assert!(e1 >= e2 && e2 > 0.0 && e1 + e2 <= 1.0 + 1e-9, "{e1} {e2}");
    assert_eq!(t.train_loss.len(), 4);
    // The doctor's λmax at the first and the last step.
    let steps: Vec<u64> = t.lambda_max.iter().map(|x| x.0).collect();
    assert_eq!(steps, [1, s.steps]);
    assert!(t.lambda_max.iter().all(|x| x.1.is_finite()));
}

/// With learning rate 0 the final weights are the initial ones, so the sharpness reading (one
/// step from the final weights, the run's seed, hence its first mini-batch) measures the very
/// Hessian the doctor measured at step 1 of the run, with the same Lanczos start: the two agree
/// to float rounding. The instrument itself is checked against PyTorch's full Hessians in
/// `exact_curvature.rs`. The doctor's reading is read back from the run's doctor.json.
#[test]
fn sharpness_at_the_final_weights_is_the_doctors_measurement() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("run.toml");
    std::fs::write(&cfg_path, RUN.replace("LR", "0.0")).unwrap();
    let run = dir.path().join("run");
    let log = format!("log.dir={}", toml::Value::String(run.display().to_string()));
    let cfg = train::RunConfig::from_file(&cfg_path, &[log]).unwrap();
    let mut doctor = diagnose::Doctor::new(diagnose::Preset::Full);
    let summary = train::run_observed(
        &cfg,
        &train::Options {
            quiet: true,
            ..Default::default()
        },
        &mut doctor,
    )
    .unwrap();
    let report = diagnose::run::report(doctor, summary, diagnose::Preset::Full, &cfg_path, None);
    // Without doctor.json there is no doctor's reading to stand beside.
    let bare = diagnose::surface::Sharpness::of_run(&run, &dir.path().join("scratch")).unwrap();
    assert!(bare.doctor.is_none());
    report.write_json(&run.join("doctor.json")).unwrap();
    let s = diagnose::surface::Sharpness::of_run(&run, &dir.path().join("scratch2")).unwrap();
    // Full preset: step 1, then every 250 (the run has 30 steps).
    let (step, doc) = *report.timeline.get("lambda_max").last().unwrap();
    assert_eq!(step, 1);
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-12);
    let first = &s.batches[0];
    assert!(
        rel(first.lambda_max, doc) < 1e-5,
        "{} vs {doc}",
        first.lambda_max
    );
    let (_, lmin) = *report.timeline.get("lambda_min").first().unwrap();
    assert!(
        (first.lambda_min - lmin).abs() < 1e-5 * doc.abs(),
        "{} vs {lmin}",
        first.lambda_min
    );
    // One reading per batch, the median among them; seeded, so a second reading repeats it.
    assert_eq!(s.batches.len(), diagnose::surface::sharpness::BATCHES);
    let (lo, hi) = s.lambda_max_range;
    assert!(lo <= s.lambda_max && s.lambda_max <= hi, "{s:?}");
    assert!(s
        .batches
        .iter()
        .all(|b| b.lambda_min <= b.lambda_max && b.products >= 2));
    assert_eq!(s.batch_size, 40);
    assert_eq!(s.lambda_max, bare.lambda_max);
    let d = s.doctor.expect("the doctor's reading from doctor.json");
    assert_eq!((d.step, d.lambda_max, d.steps), (1, doc, 30));
    assert!(d.lambda_max_err.is_some());
}
