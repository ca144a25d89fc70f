//! `lr = { lr_find = { decades = D } }`: the space is read and checked, a tiny study sweeps
//! each problem × optimizer once, samples its trials within D decades of the recorded
//! suggestion, and resumes (or reruns) with identical run keys and no second sweep.

use std::path::Path;

use lab::store::sqlite::SqliteStore;
use lab::study::Space;
use lab::{Phase, RunnerOptions, Store, Study};

fn text(space: &str) -> String {
    format!(
        r#"
name = "tiny_lr"
seeds = [0, 1]

[tuning]
protocol = "budget"
trials = 3
metric = "val_accuracy"

[[problems]]
name = "moons_mlp"
[problems.data]
dataset = "moons"
n = 200
n_test = 100
batch_size = 32
validation_split = 0.2
[[problems.model.layers]]
type = "linear"
out_features = 16
[[problems.model.layers]]
type = "relu"
[[problems.model.layers]]
type = "linear"
out_features = 2
[problems.train]
epochs = 2

[[optimizers]]
name = "sgd"
momentum = 0.0
lr = {space}

[[optimizers]]
name = "adam"
lr = {{ lr_find = {{ decades = 0.5 }} }}
"#
    )
}

fn parse_err(text: &str) -> String {
    match Study::from_text(text, "study.toml", Path::new(".")) {
        Ok(_) => panic!("study parsed but should not:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn lr_find_space_is_read_and_bad_values_name_the_field() {
    let s = Study::from_text(
        &text("{ lr_find = { decades = 1, fallback = [1e-3, 1e-1] } }"),
        "study.toml",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(
        s.optimizers[0]
            .space
            .iter()
            .find(|(k, _)| k == "lr")
            .unwrap()
            .clone(),
        (
            "lr".to_string(),
            Space::LrFind {
                decades: 1.0,
                fallback: Some((1e-3, 1e-1))
            }
        )
    );
    assert!(!s.definition().contains("lr_found"), "nothing resolved yet");
    for (space, field, why) in [
        (
            "{ lr_find = { decades = 0 } }",
            "optimizers[0].lr.lr_find.decades = 0",
            "(0, 4]",
        ),
        (
            "{ lr_find = { decades = 9 } }",
            "optimizers[0].lr.lr_find.decades = 9",
            "(0, 4]",
        ),
        (
            "{ lr_find = { decades = \"one\" } }",
            "optimizers[0].lr.lr_find.decades",
            "finite number",
        ),
        (
            "{ lr_find = { fallback = [1.0, 0.1] } }",
            "optimizers[0].lr.lr_find.fallback",
            "0 < lo < hi",
        ),
        ("{ lr_find = { decade = 1 } }", "decade", "decades"),
        (
            "{ lr_find = 1 }",
            "optimizers[0].lr.lr_find = 1",
            "expected a table",
        ),
    ] {
        let e = parse_err(&text(space));
        assert!(e.starts_with("study.toml: "), "{e}");
        assert!(e.contains(field) && e.contains(why), "{space}: {e}");
    }
    let e = parse_err(&text("0.1").replace("momentum = 0.0", "momentum = { lr_find = {} }"));
    assert!(
        e.contains("optimizers[0].momentum.lr_find") && e.contains("only `lr`"),
        "{e}"
    );
}

fn opts(out: &Path) -> RunnerOptions {
    let mut o = RunnerOptions::new(out);
    o.workers = 2;
    o.quiet = true;
    o.worker = "test:1".into();
    o
}

/// Runs the study into `dir`; returns the run keys, sorted, and the resolved study.
fn run(dir: &Path, study: &Study) -> (Vec<String>, Study) {
    let store = SqliteStore::open(&dir.join("results.db")).unwrap();
    let out = dir.join("out");
    lab::run_study(study, &store, &opts(&out)).unwrap();
    let runs = store.runs(&study.name).unwrap();
    let resolved = lab::lr_range::resolve(study, &store, &out, |m| {
        panic!("the stored ranges are reused, no sweep: {m}")
    })
    .unwrap();
    let mut keys: Vec<String> = runs.iter().map(|r| r.spec.key.clone()).collect();
    keys.sort();
    // The trials' lrs lie in the band around the recorded suggestion.
    for r in runs.iter().filter(|r| r.spec.phase == Phase::Tune) {
        let range = &resolved.lr_found[&Study::lr_found_key(&r.spec.problem, &r.spec.optimizer)];
        let s = range.suggestion.expect("a clear suggestion on moons");
        let d: f64 = if r.spec.optimizer == "sgd" { 1.0 } else { 0.5 };
        assert!(
            (range.lo / (s / 10f64.powf(d)) - 1.0).abs() < 1e-12
                && (range.hi / (s * 10f64.powf(d)) - 1.0).abs() < 1e-12,
            "{range:?}"
        );
        let lr = r.spec.params["lr"].as_f64().unwrap();
        assert!(
            lr >= range.lo && lr <= range.hi,
            "{} lr {lr} outside {range:?}",
            r.spec.key
        );
        assert!(
            r.state == lab::RunState::Done,
            "{}: {:?}",
            r.spec.key,
            r.state
        );
    }
    (keys, resolved)
}

#[test]
fn a_study_sweeps_once_samples_around_the_suggestion_and_resumes_with_the_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let study = Study::from_text(
        &text("{ lr_find = { decades = 1 } }"),
        "study.toml",
        Path::new("."),
    )
    .unwrap();
    let (keys, resolved) = run(dir.path(), &study);
    // 2 optimizers × (3 trials + 1 final).
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert_eq!(resolved.lr_found.len(), 2);
    for o in ["sgd", "adam"] {
        let sweep = dir.path().join("out/lr-find/moons_mlp").join(o);
        assert!(sweep.join("seed-0").is_dir(), "{}", sweep.display());
    }
    // Both optimizers' trials are different lrs (sampled, not the suggestion thrice).
    let tune_lrs: Vec<f64> = SqliteStore::open(&dir.path().join("results.db"))
        .unwrap()
        .runs("tiny_lr")
        .unwrap()
        .iter()
        .filter(|r| r.spec.phase == Phase::Tune && r.spec.optimizer == "sgd")
        .map(|r| r.spec.params["lr"].as_f64().unwrap())
        .collect();
    assert_eq!(tune_lrs.len(), 3);
    assert!(
        tune_lrs[0] != tune_lrs[1] && tune_lrs[1] != tune_lrs[2],
        "{tune_lrs:?}"
    );

    // Resuming: the store's ranges are used (the sweep folders are gone and stay gone).
    std::fs::remove_dir_all(dir.path().join("out/lr-find")).unwrap();
    let (again, resolved_again) = run(dir.path(), &study);
    assert_eq!(again, keys);
    assert_eq!(resolved_again.lr_found, resolved.lr_found);
    assert!(!dir.path().join("out/lr-find").exists());

    // A fresh store sweeps again, deterministically: the same ranges and run keys.
    let fresh = tempfile::tempdir().unwrap();
    let (fresh_keys, fresh_resolved) = run(fresh.path(), &study);
    assert_eq!(fresh_resolved.lr_found, resolved.lr_found);
    assert_eq!(fresh_keys, keys);

    // A stored range edited to a negative lower end is refused, not sampled.
    let db = fresh.path().join("results.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let def: String = conn
        .query_row(
            "SELECT COALESCE(resolved, definition) FROM studies",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&def).unwrap();
    for r in v["lr_found"].as_object_mut().unwrap().values_mut() {
        r["lo"] = serde_json::json!(-1.0);
    }
    conn.execute(
        "UPDATE studies SET resolved = ?1, definition = ?1",
        [v.to_string()],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&db).unwrap();
    let e = lab::lr_range::resolve(&study, &store, &fresh.path().join("out"), |m| panic!("{m}"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("stored lr_find range") && e.contains("-1"),
        "{e}"
    );
}

/// Blobs whose clusters overlap completely (std 1000): the loss cannot fall, lr-find has no
/// answer ("no descent").
fn flat(space: &str) -> Study {
    let text = format!(
        r#"
name = "flat_lr"
seeds = [0]

[tuning]
trials = 2
metric = "val_accuracy"

[[problems]]
name = "flat_blobs"
[problems.data]
dataset = "blobs"
n = 400
n_test = 100
centers = 3
dim = 2
std = 1000.0
batch_size = 64
validation_split = 0.2
standardize = true
[[problems.model.layers]]
type = "linear"
out_features = 3
[problems.train]
epochs = 1

[[optimizers]]
name = "sgd"
lr = {space}
"#
    );
    Study::from_text(&text, "flat.toml", Path::new(".")).unwrap()
}

#[test]
fn no_answer_takes_the_fallback_or_is_an_error_naming_file_problem_and_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("results.db")).unwrap();
    let e = lab::run_study(
        &flat("{ lr_find = { decades = 1 } }"),
        &store,
        &opts(&dir.path().join("out")),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("flat.toml: ")
            && e.contains("\"flat_blobs\"")
            && e.contains("\"sgd\"")
            && e.contains("no clear answer")
            && e.contains("fallback"),
        "{e}"
    );
    assert!(store.studies().unwrap().is_empty(), "nothing stored");

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("results.db")).unwrap();
    let study = flat("{ lr_find = { decades = 1, fallback = [0.01, 0.1] } }");
    let out = dir.path().join("out");
    lab::run_study(&study, &store, &opts(&out)).unwrap();
    let resolved = lab::lr_range::resolve(&study, &store, &out, |m| panic!("{m}")).unwrap();
    let r = &resolved.lr_found["flat_blobs/sgd"];
    assert_eq!((r.suggestion, r.lo, r.hi), (None, 0.01, 0.1));
    let runs = store.runs("flat_lr").unwrap();
    assert_eq!(runs.len(), 2);
    for run in &runs {
        let lr = run.spec.params["lr"].as_f64().unwrap();
        assert!((0.01..=0.1).contains(&lr), "{lr}");
    }
}

/// Under a one_cycle schedule lr-find sweeps `schedule.max_lr`, which the trials' `lr` does not
/// set: the study refuses instead of searching a range on a key the schedule overrides.
#[test]
fn a_one_cycle_problem_is_refused_rather_than_searched_on_the_wrong_key() {
    let text = text("{ lr_find = { decades = 1 } }").replace(
        "[problems.train]\nepochs = 2\n",
        "[problems.train]\nepochs = 2\n[problems.schedule]\nname = \"one_cycle\"\nmax_lr = 0.1\n",
    );
    assert!(text.contains("one_cycle"));
    let study = Study::from_text(&text, "study.toml", Path::new(".")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("results.db")).unwrap();
    let e = lab::run_study(&study, &store, &opts(&dir.path().join("out")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"moons_mlp\"") && e.contains("schedule.max_lr") && e.contains("log_uniform"),
        "{e}"
    );
}
