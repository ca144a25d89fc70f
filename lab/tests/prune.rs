//! Pruning on a tiny study: the median rule stops the trials of the second wave whose
//! learning rate is far too small, stores them done and `pruned`, never picks them as best,
//! gives the same numbers with one worker or three, and the analysis states the saving.

use std::path::Path;

use lab::store::sqlite::SqliteStore;
use lab::{Phase, RunRecord, RunState, RunnerOptions, Store, Study};

/// One problem, sgd at six learning rates: the first wave (three good ones) is the reference,
/// the second (three hopeless ones) is judged against it after a one-epoch warm-up.
const STUDY: &str = r#"
name = "pruned"
seeds = [0, 1]

[tuning]
protocol = "budget"
trials = 6
metric = "val_accuracy"
prune = "median"
prune_warmup = 1
prune_min_trials = 3

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
epochs = 6

[[optimizers]]
name = "sgd"
momentum = 0.9
lr = { grid = [0.3, 0.1, 0.03, 1e-5, 3e-6, 1e-6] }
"#;

fn run(dir: &Path, workers: usize) -> (Study, Vec<RunRecord>) {
    let p = dir.join("pruned.toml");
    std::fs::write(&p, STUDY).unwrap();
    let study = Study::from_file(&p).unwrap();
    let store = SqliteStore::open(&dir.join("results.db")).unwrap();
    let mut o = RunnerOptions::new(dir.join("out"));
    o.workers = workers;
    o.quiet = true;
    o.worker = "test:1".into();
    lab::run_study(&study, &store, &o).unwrap();
    let mut runs = store.runs("pruned").unwrap();
    runs.sort_by(|a, b| a.spec.key.cmp(&b.spec.key));
    (study, runs)
}

/// A run's stored numbers, without timings.
fn numbers(r: &RunRecord) -> serde_json::Value {
    let res = r.result.as_ref().unwrap();
    let epochs: Vec<_> = res
        .epochs_log
        .iter()
        .map(|e| (e.epoch, e.val_accuracy, e.test_accuracy))
        .collect();
    serde_json::json!([r.spec.key, r.state, res.stop, res.epochs, epochs])
}

#[test]
fn median_pruning_stops_hopeless_trials_deterministically_and_reports_the_saving() {
    let one = tempfile::tempdir().unwrap();
    let three = tempfile::tempdir().unwrap();
    let (study, runs) = run(one.path(), 1);
    let (_, again) = run(three.path(), 3);
    assert_eq!(
        runs.iter().map(numbers).collect::<Vec<_>>(),
        again.iter().map(numbers).collect::<Vec<_>>(),
        "one worker and three prune the same trials at the same epochs"
    );

    let tune: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.spec.phase == Phase::Tune)
        .collect();
    assert_eq!(tune.len(), 6);
    let pruned: Vec<&RunRecord> = tune
        .iter()
        .copied()
        .filter(|r| r.result.as_ref().unwrap().stop == "pruned")
        .collect();
    assert!(!pruned.is_empty(), "no trial was pruned");
    for r in &pruned {
        let res = r.result.as_ref().unwrap();
        assert_eq!(r.state, RunState::Done);
        assert!(r.spec.trial >= 3, "the first wave is never pruned");
        assert!(res.epochs >= 2 && res.epochs < 6, "{} epochs", res.epochs);
        assert!(!res.diverged);
    }
    // The best trial (re-run at seed 1) is a finished one.
    let finals: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.spec.phase == Phase::Final)
        .collect();
    assert_eq!(finals.len(), 1);
    assert!(
        finals[0].spec.trial < 3,
        "chose trial {}",
        finals[0].spec.trial
    );

    let a = lab::analysis::analyze(&study, &runs);
    let p = a.pruning.as_ref().expect("the analysis states the pruning");
    assert_eq!(p.trials, 6);
    assert_eq!(p.pruned, pruned.len());
    assert_eq!(p.epochs_budgeted, 36);
    let saved: usize = pruned
        .iter()
        .map(|r| 6 - r.result.as_ref().unwrap().epochs)
        .sum();
    assert_eq!(p.epochs_saved, saved);
    assert!(p.seconds_saved > 0.0);
    let line = p.line();
    assert!(
        line.contains(&format!("{} of 6 tuning trials pruned", pruned.len())),
        "{line}"
    );
    assert!(
        line.contains(&format!("{saved} of 36 budgeted epochs not run")),
        "{line}"
    );
    let g = &a.groups[0];
    assert_eq!(g.trials.iter().filter(|t| t.pruned).count(), pruned.len());

    // Resuming the finished study trains nothing and changes nothing.
    let (_, resumed) = run(one.path(), 2);
    assert_eq!(
        runs.iter().map(numbers).collect::<Vec<_>>(),
        resumed.iter().map(numbers).collect::<Vec<_>>()
    );
}

#[test]
fn prune_is_off_by_default_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.toml");
    let plain = STUDY
        .replace("prune = \"median\"\n", "")
        .replace("prune_warmup = 1\n", "")
        .replace("prune_min_trials = 3\n", "");
    std::fs::write(&p, &plain).unwrap();
    let s = Study::from_file(&p).unwrap();
    assert!(s.tuning.prune.is_none());
    assert!(
        !s.definition().contains("\"prune\""),
        "left out of the stored definition"
    );
    let with = Study::from_file(&{
        std::fs::write(&p, STUDY).unwrap();
        p.clone()
    })
    .unwrap();
    assert!(with.definition().contains("\"prune\""));
    assert_eq!(s.initial_runs().unwrap().len(), 6);
    let on = Study::from_file(&{
        std::fs::write(&p, STUDY).unwrap();
        p.clone()
    })
    .unwrap();
    assert_eq!(on.initial_runs().unwrap().len(), 3, "the first wave only");
    // Same run keys with and without pruning.
    let keys = |s: &Study| {
        s.initial_runs()
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .take(3)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&s), keys(&on));
    std::fs::write(
        &p,
        STUDY.replace("prune = \"median\"", "prune = \"medain\""),
    )
    .unwrap();
    let e = Study::from_file(&p).unwrap_err().to_string();
    assert!(e.contains("tuning.prune") && e.contains("median"), "{e}");
    std::fs::write(
        &p,
        plain.replace("trials = 6\n", "trials = 6\nprune_warmup = 2\n"),
    )
    .unwrap();
    let e = Study::from_file(&p).unwrap_err().to_string();
    assert!(e.contains("tuning.prune_warmup"), "{e}");
}
