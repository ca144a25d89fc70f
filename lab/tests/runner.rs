//! The runner on a tiny study (synthetic data, a few epochs): every run stored once, finals
//! enqueued for the best trial, diverged runs stored done + diverged, crashing and erroring runs
//! stored failed while the rest finish, interrupted runs redone, and the same numbers whatever
//! the number of workers, of store handles or of machines sharing the study.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use lab::store::sqlite::SqliteStore;
use lab::{Phase, RunRecord, RunSpec, RunState, RunnerOptions, Store, Study};

/// 2 problems × 3 optimizers × 2 trials at seed 0, the best trial re-run at seed 1.
/// `sgd_hot`'s learning rates make the loss NaN within a few steps.
const PROBLEMS: &str = r#"
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
epochs = 3

[[problems]]
name = "blobs_mlp"
[problems.data]
dataset = "blobs"
n = 200
n_test = 100
centers = 3
dim = 4
batch_size = 32
validation_split = 0.2
[[problems.model.layers]]
type = "linear"
out_features = 16
[[problems.model.layers]]
type = "relu"
[[problems.model.layers]]
type = "linear"
out_features = 3
[problems.train]
epochs = 3
"#;

const OPTIMIZERS: &str = r#"
[[optimizers]]
name = "sgd"
lr = { grid = [0.3, 0.03] }

[[optimizers]]
name = "adam"
lr = { grid = [0.01, 0.001] }

[[optimizers]]
label = "sgd_hot"
name = "sgd"
lr = { grid = [1e6, 1e7] }
"#;

fn tiny() -> String {
    format!("{PROBLEMS}{OPTIMIZERS}")
}

fn study(dir: &Path, text: &str) -> Study {
    let p = dir.join("tiny.toml");
    std::fs::write(&p, text).unwrap();
    Study::from_file(&p).unwrap()
}

fn opts(out: &Path, workers: usize) -> RunnerOptions {
    let mut o = RunnerOptions::new(out);
    o.workers = workers;
    o.quiet = true;
    o.worker = "test:1".into();
    o
}

/// Crashes blobs_mlp / adam trial 1 (a panic inside the run).
fn crash_one(spec: &RunSpec) {
    if spec.problem == "blobs_mlp" && spec.optimizer == "adam" && spec.trial == 1 {
        panic!("injected crash in {}", spec.key);
    }
}

fn run(dir: &Path, text: &str, workers: usize, hook: Option<fn(&RunSpec)>) -> Vec<RunRecord> {
    let study = study(dir, text);
    let store = SqliteStore::open(&dir.join("results.db")).unwrap();
    let mut o = opts(&dir.join("out"), workers);
    o.before_run = hook;
    let report = lab::run_study(&study, &store, &o).unwrap();
    let counts = store.counts("tiny").unwrap();
    assert_eq!(report.counts, counts);
    assert_eq!(counts.pending + counts.running, 0, "{counts:?}");
    store.runs("tiny").unwrap()
}

/// The numbers of a run, without its timings.
fn numbers(r: &RunRecord) -> serde_json::Value {
    let res = r.result.as_ref().map(|res| {
        let epochs: Vec<_> = res
            .epochs_log
            .iter()
            .map(|e| {
                (
                    e.epoch,
                    e.step,
                    e.train_loss,
                    e.train_accuracy,
                    e.val_loss,
                    e.val_accuracy,
                    e.test_loss,
                    e.test_accuracy,
                    e.lr,
                )
            })
            .collect();
        let findings: Vec<_> = res
            .findings
            .iter()
            .map(|f| (&f.kind, f.first_step, f.last_step))
            .collect();
        serde_json::json!({
            "stop": res.stop,
            "diverged": res.diverged,
            "steps": res.steps,
            "epochs": res.epochs,
            "step_losses": res.step_losses,
            "epochs_log": epochs,
            "findings": findings,
        })
    });
    serde_json::json!({
        "key": r.spec.key,
        "state": r.state,
        "phase": r.spec.phase,
        "params": r.spec.params,
        "error": r.error.as_ref().map(|e| e.lines().next().unwrap_or("").to_string()),
        "result": res,
    })
}

fn score(r: &RunRecord) -> Option<f64> {
    let res = r.result.as_ref()?;
    if res.diverged {
        return None;
    }
    res.last()?.val_accuracy
}

#[test]
fn tiny_study_runs_every_run_once_with_finals_for_the_best_trial() {
    let dir = tempfile::tempdir().unwrap();
    let runs = run(dir.path(), &tiny(), 2, Some(crash_one));
    // 2 problems × 3 optimizers × 2 trials, + the best trial at seed 1.
    assert_eq!(runs.len(), 2 * 3 * 2 + 2 * 3, "{runs:#?}");
    let mut keys: Vec<&str> = runs.iter().map(|r| r.spec.key.as_str()).collect();
    keys.dedup();
    assert_eq!(keys.len(), runs.len(), "keys are unique");

    let mut groups: BTreeMap<(String, String), Vec<&RunRecord>> = BTreeMap::new();
    for r in &runs {
        groups
            .entry((r.spec.problem.clone(), r.spec.optimizer.clone()))
            .or_default()
            .push(r);
    }
    assert_eq!(groups.len(), 6);
    for ((problem, optimizer), rs) in &groups {
        let mut trials: Vec<&&RunRecord> =
            rs.iter().filter(|r| r.spec.phase == Phase::Tune).collect();
        trials.sort_by_key(|r| r.spec.trial);
        let finals: Vec<&&RunRecord> = rs.iter().filter(|r| r.spec.phase == Phase::Final).collect();
        assert_eq!(trials.len(), 2, "{problem}/{optimizer}");
        assert_eq!(finals.len(), 1, "{problem}/{optimizer}");
        assert!(trials.iter().all(|r| r.spec.seed == 0));
        assert_eq!(finals[0].spec.seed, 1);
        // The final re-runs the best trial's setting (ties and unscored trials: the earlier).
        let best = trials
            .iter()
            .copied()
            .fold(None::<&&RunRecord>, |b, r| match (b, score(r)) {
                (None, _) => Some(r),
                (Some(b), Some(s)) if score(b).is_none_or(|bs| s > bs) => Some(r),
                (b, _) => b,
            })
            .unwrap();
        assert_eq!(
            finals[0].spec.params, best.spec.params,
            "{problem}/{optimizer}: the final runs the best trial's setting"
        );
        for r in rs {
            assert_eq!(
                r.worker.as_deref().map(|w| w.starts_with("test:1:")),
                Some(true)
            );
            let crashed = problem == "blobs_mlp" && optimizer == "adam" && r.spec.trial == 1;
            if crashed && r.spec.phase == Phase::Tune {
                assert_eq!(r.state, RunState::Failed, "{r:#?}");
                let e = r.error.as_deref().unwrap();
                assert!(e.contains("injected crash"), "{e}");
                assert!(r.result.is_none());
                continue;
            }
            assert_eq!(r.state, RunState::Done, "{r:#?}");
            let res = r.result.as_ref().unwrap();
            if optimizer == "sgd_hot" {
                assert!(res.diverged, "lr 1e6 diverges: {res:?}");
                // The loss passes the divergence factor (or turns NaN) within the first epoch.
                assert!(
                    matches!(res.stop.as_str(), "diverged" | "non_finite"),
                    "{res:?}"
                );
                assert!(res.epochs_log.is_empty());
            } else {
                assert!(!res.diverged);
                assert_eq!(res.stop, "completed");
                assert_eq!(res.epochs, 3);
                assert_eq!(res.epochs_log.len(), 3);
                // 160 training examples in batches of 32: 5 steps per epoch, logged every 10.
                assert_eq!(res.steps, 15);
                assert_eq!(
                    res.step_losses.iter().map(|s| s.0).collect::<Vec<_>>(),
                    [10]
                );
                let last = res.last().unwrap();
                for m in [last.train_loss, last.val_loss, last.test_loss] {
                    assert!(m.unwrap().is_finite());
                }
                assert!(last.test_accuracy.unwrap() > 0.3);
            }
            let log = lab::runner::run_dir(&dir.path().join("out"), &r.spec).join("metrics.jsonl");
            assert!(log.is_file(), "{}", log.display());
        }
    }
    // Adam on the blobs: trial 1 crashed, so trial 0 is the best and re-run.
    let finals = &groups[&("blobs_mlp".to_string(), "adam".to_string())];
    let f = finals
        .iter()
        .find(|r| r.spec.phase == Phase::Final)
        .unwrap();
    assert_eq!(f.spec.params["lr"], serde_json::json!(0.01));
    assert_eq!(f.state, RunState::Done);
}

#[test]
fn worker_count_does_not_change_the_numbers() {
    let one = tempfile::tempdir().unwrap();
    let three = tempfile::tempdir().unwrap();
    let a: Vec<_> = run(one.path(), &tiny(), 1, Some(crash_one))
        .iter()
        .map(numbers)
        .collect();
    let b: Vec<_> = run(three.path(), &tiny(), 3, Some(crash_one))
        .iter()
        .map(numbers)
        .collect();
    assert_eq!(a.len(), 18);
    assert_eq!(a, b);
}

#[test]
fn a_run_that_errors_is_recorded_failed_and_the_study_finishes() {
    // A third problem whose data file does not exist: it is only read when its runs train.
    let text = format!(
        "{PROBLEMS}{}{OPTIMIZERS}",
        r#"
[[problems]]
name = "missing_data"
[problems.data]
dataset = "no_such_file.npz"
batch_size = 32
validation_split = 0.2
[[problems.model.layers]]
type = "linear"
out_features = 2
[problems.train]
epochs = 1
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let runs = run(dir.path(), &text, 2, None);
    let (failed, done): (Vec<&RunRecord>, Vec<&RunRecord>) =
        runs.iter().partition(|r| r.state == RunState::Failed);
    assert!(done.iter().all(|r| r.state == RunState::Done));
    assert_eq!(done.len(), 18, "the other problems finish");
    assert!(!failed.is_empty());
    for r in &failed {
        assert_eq!(r.spec.problem, "missing_data");
        let e = r.error.as_deref().unwrap();
        assert!(e.contains("no_such_file.npz"), "{e}");
    }
    // Every trial of missing_data failed: its 3 × 2 trials, and (when the study re-runs a
    // failed best) its finals, all failed too.
    assert!(failed.len() >= 6, "{}", failed.len());
}

/// A process that claimed a run and was SIGKILLed while training it (its row left `running`,
/// a partial log in its run folder): the next runner redoes the run at once, and the numbers
/// are those of an uninterrupted study.
#[test]
fn an_interrupted_run_is_redone_and_the_numbers_match() {
    let clean = tempfile::tempdir().unwrap();
    let want: Vec<_> = run(clean.path(), &tiny(), 2, None)
        .iter()
        .map(numbers)
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let (killed, _) = support::child::spawn(
        "child_claims_a_run",
        &[("GRADLAB_TEST_CHILD_DIR", dir.path().to_str().unwrap())],
    );
    killed.kill();
    let store = SqliteStore::open(&dir.path().join("results.db")).unwrap();
    assert_eq!(store.counts("tiny").unwrap().running, 1);
    let got: Vec<_> = run(dir.path(), &tiny(), 2, None)
        .iter()
        .map(numbers)
        .collect();
    assert_eq!(got, want);
}

/// The child process of [`an_interrupted_run_is_redone_and_the_numbers_match`]: claims a run of
/// the tiny study in `GRADLAB_TEST_CHILD_DIR`, writes half a log line into its run folder, and
/// waits to be killed.
#[test]
#[ignore = "helper process, started by an_interrupted_run_is_redone_and_the_numbers_match"]
fn child_claims_a_run() {
    let dir = std::path::PathBuf::from(std::env::var_os("GRADLAB_TEST_CHILD_DIR").unwrap());
    let s = study(&dir, &tiny());
    let store = SqliteStore::open(&dir.join("results.db")).unwrap();
    store.open_study(&s.name, &s.text, &s.definition()).unwrap();
    store.enqueue(&s.name, &s.initial_runs().unwrap()).unwrap();
    let claim = store.claim(&s.name, "dead:1:0").unwrap().unwrap();
    let d = lab::runner::run_dir(&dir.join("out"), claim.spec());
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("metrics.jsonl"), "{\"type\":\"step\",\"garbage\n").unwrap();
    support::child::claimed(&claim.spec().key);
    support::child::wait_for_finish();
}

/// Runs the tiny study (with [`crash_one`]) in the store at `url` with two runners at once,
/// each with its own store handle and two workers — two processes, or two machines —, the
/// second started while the first trains. Each run is trained by exactly one of them, and the
/// numbers are those of one worker alone.
fn two_runners_share_the_study(url: &str) {
    let one = tempfile::tempdir().unwrap();
    let want: Vec<_> = run(one.path(), &tiny(), 1, Some(crash_one))
        .iter()
        .map(numbers)
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let s = study(dir.path(), &tiny());
    let reports: Vec<_> = std::thread::scope(|scope| {
        let start = |m: usize| {
            let (s, out) = (&s, dir.path().join(format!("m{m}")));
            scope.spawn(move || {
                let store = lab::open_store(url).unwrap();
                let mut o = opts(&out, 2);
                o.worker = format!("m{m}:1");
                o.before_run = Some(crash_one);
                lab::run_study(s, store.as_ref(), &o).unwrap()
            })
        };
        let first = start(0);
        let watch = lab::open_store(url).unwrap();
        let t0 = std::time::Instant::now();
        while watch.counts("tiny").unwrap().running == 0 {
            assert!(
                t0.elapsed().as_secs() < 60,
                "the first runner never started a run"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let second = start(1);
        [first, second].map(|h| h.join().unwrap()).to_vec()
    });
    let ran: usize = reports.iter().map(|r| r.ran + r.failed).sum();
    assert_eq!(ran, 18, "each run trained by exactly one runner");
    let store = lab::open_store(url).unwrap();
    let runs = store.runs("tiny").unwrap();
    assert!(runs.iter().all(|r| r
        .worker
        .as_deref()
        .is_some_and(|w| w.starts_with("m0:1:") || w.starts_with("m1:1:"))));
    let got: Vec<_> = runs.iter().map(numbers).collect();
    assert_eq!(got, want);
}

/// Bug: a second `gradlab compare` on the same SQLite store reset the first one's live runs
/// when it started, and the first then stopped with "no longer claimed by this worker".
#[test]
fn a_second_runner_on_one_sqlite_store_leaves_the_first_ones_runs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    two_runners_share_the_study(db.to_str().unwrap());
}

/// Two machines share one study in PostgreSQL. Skipped (with a message) where no PostgreSQL is
/// installed.
#[test]
fn postgres_machines_share_a_study_with_the_same_numbers() {
    let Some(server) = support::pg::pg_server() else {
        return;
    };
    two_runners_share_the_study(&server.create_db("runner_study"));
}

/// Says in `cargo test`'s own output when the PostgreSQL runner tests could not run here.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "no PostgreSQL here, so the PostgreSQL runner tests were skipped: install it (apt-get install postgresql) or set GRADLAB_PG_BIN to its bin folder, then run cargo test again"
)]
fn postgres_is_installed_for_these_tests() {
    assert!(
        support::find_pg::find_pg_bin().is_some(),
        "no PostgreSQL binaries (initdb, pg_ctl): the PostgreSQL runner tests cannot run"
    );
}
