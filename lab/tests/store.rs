//! The results store against both backends: SQLite in a temporary file and PostgreSQL on a
//! private server this file starts on loopback (initdb into a temporary folder, `pg_ctl start`
//! on a free port, stopped at exit). Without PostgreSQL binaries the PostgreSQL half is skipped
//! with a message, unless `GRADLAB_REQUIRE_POSTGRES=1`. The binaries are looked up in
//! `GRADLAB_PG_BIN`, on PATH, then in /usr/lib/postgresql/*/bin; as root, the server runs as
//! user `postgres` (or `nobody`) through `runuser`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab::store::postgres::PgStore;
use lab::store::sqlite::SqliteStore;
use lab::{Counts, FindingRow, Phase, RunRecord, RunResult, RunSpec, RunState, Store};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Fixtures

const STUDY: &str = "st";
const DEFINITION: &str = "name = \"st\"\n[problems.a]\nepochs = 3\n";
/// What a study resolves to (as `Study::definition` writes it).
const RESOLVED: &str = r#"{"name":"st","problems":[{"config":{"train":{"epochs":3,"lr":0.1}},"name":"a"},{"config":{"train":{"epochs":5}},"name":"b"}],"seeds":[0]}"#;

/// A run with awkward values: an lr whose shortest decimal needs 17 digits, betas, a string,
/// a bool, a seed above 2^63 and a config with quotes and non-ASCII text.
fn spec(i: usize) -> RunSpec {
    let mut params = BTreeMap::new();
    params.insert("lr".into(), json!(10f64.powf(-2.5) * (i + 1) as f64));
    params.insert("betas".into(), json!([0.9, 0.999]));
    params.insert("eps".into(), json!(1e-8 / 3.0));
    params.insert("schedule".into(), json!("cosine \"warm\" ünï"));
    params.insert("nesterov".into(), json!(i % 2 == 0));
    params.insert("steps".into(), json!(i as u64 * 1000));
    RunSpec {
        key: format!("{:016x}", 0x1000 + i),
        problem: if i % 2 == 0 {
            "digits_mlp"
        } else {
            "mnist1d_mlp"
        }
        .into(),
        optimizer: ["adam", "sgd", "lion"][i % 3].into(),
        phase: [Phase::Defaults, Phase::Tune, Phase::Final][i % 3],
        trial: i as u32,
        seed: u64::MAX - i as u64,
        params,
        config: format!("[train]\nepochs = 3 # \"quoted\" ∂ run {i}\nlr = 1e-3\n"),
    }
}

fn specs(n: usize) -> Vec<RunSpec> {
    (0..n).map(spec).collect()
}

/// A full result with non-trivial floats (no NaN: compared with `==`).
fn result(i: usize) -> RunResult {
    let x = (i + 1) as f64;
    RunResult {
        stop: "completed".into(),
        diverged: false,
        steps: 1000 + i as u64,
        epochs: 3,
        wall_s: 1.0 / 3.0 * x,
        step_losses: (0..50)
            .map(|s| {
                (
                    s * 10,
                    (std::f64::consts::LN_10 / (1.0 + s as f64 * 0.1)) * x,
                )
            })
            .collect(),
        epochs_log: (0..3)
            .map(|e| train::EpochRecord {
                epoch: e,
                step: 100 * (e as u64 + 1),
                train_loss: Some(0.1 + 1.0 / (e as f64 + 7.0)),
                train_accuracy: Some(0.9 + e as f64 * 1e-17),
                val_loss: if e == 1 {
                    None
                } else {
                    Some(std::f64::consts::PI * x)
                },
                val_accuracy: if e == 1 {
                    None
                } else {
                    Some(std::f64::consts::FRAC_1_SQRT_2)
                },
                test_loss: Some(5e-324), // subnormal
                test_accuracy: None,
                lr: 1e-3 * 0.5f64.powi(e as i32),
                time_s: 1.2345678901234567 * (e + 1) as f64,
                examples_per_s: 12345.678901234567,
            })
            .collect(),
        findings: vec![
            FindingRow {
                kind: "lr_too_high".into(),
                first_step: 10,
                last_step: 490,
                confidence: 0.8333333333333334,
                summary: "loss spikes — \"lower\" the lr ×10".into(),
            },
            FindingRow {
                kind: "plateau".into(),
                first_step: 200,
                last_step: 300,
                confidence: 0.1,
                summary: String::new(),
            },
        ],
    }
}

/// A diverged run: NaN and infinite losses, a negative zero.
fn diverged() -> RunResult {
    let mut r = result(7);
    r.stop = "non_finite".into();
    r.diverged = true;
    r.step_losses = vec![(0, 2.3), (10, f64::INFINITY), (20, f64::NAN), (30, -0.0)];
    r.epochs_log.truncate(1);
    r.epochs_log[0].train_loss = Some(f64::NAN);
    r.epochs_log[0].val_loss = Some(f64::NEG_INFINITY);
    r.findings.clear();
    r
}

/// Debug text: equal iff all fields are bitwise equal (f64 Debug is the shortest exact form,
/// NaN prints as NaN and -0.0 as -0.0).
fn exact(r: &impl std::fmt::Debug) -> String {
    format!("{r:?}")
}

// ---------------------------------------------------------------------------------------------
// Backends

/// A fresh empty store of one backend; `url` reopens it (`lab::open_store`).
struct Backend {
    name: &'static str,
    url: String,
    store: Box<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _server: Option<Arc<PgServer>>,
}

impl Backend {
    fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("results.db");
        let url = format!("sqlite:{}", path.display());
        Backend {
            name: "sqlite",
            store: lab::open_store(&url).unwrap(),
            url,
            _dir: Some(dir),
            _server: None,
        }
    }

    /// A fresh database `db` on the shared private server, or `None` (skipped).
    fn postgres(db: &str) -> Option<Backend> {
        let server = pg_server()?;
        let url = server.create_db(db);
        Some(Backend {
            name: "postgres",
            store: Box::new(PgStore::connect(&url).unwrap()),
            url,
            _dir: None,
            _server: Some(server),
        })
    }

    fn reopen(&self) -> Box<dyn Store> {
        lab::open_store(&self.url).unwrap()
    }

    fn is_pg(&self) -> bool {
        self.name == "postgres"
    }
}

/// SQLite and, where available, PostgreSQL (database `db`).
fn backends(db: &str) -> Vec<Backend> {
    let mut v = vec![Backend::sqlite()];
    v.extend(Backend::postgres(db));
    v
}

fn opened(b: &Backend, n: usize) -> &dyn Store {
    let s = b.store.as_ref();
    s.open_study(STUDY, DEFINITION, RESOLVED).unwrap();
    assert_eq!(s.enqueue(STUDY, &specs(n)).unwrap(), n, "{}", b.name);
    s
}

fn counts(pending: usize, running: usize, done: usize, failed: usize) -> Counts {
    Counts {
        pending,
        running,
        done,
        failed,
    }
}

// ---------------------------------------------------------------------------------------------
// Tests over both backends

#[test]
fn round_trip_of_full_records() {
    for b in backends("round_trip") {
        let s = opened(&b, 4);
        // Claims come in key order.
        let c0 = s.claim(STUDY, "host:1:0").unwrap().unwrap();
        assert_eq!(c0.spec(), &spec(0), "{}", b.name);
        c0.complete(&result(0)).unwrap();
        let c1 = s.claim(STUDY, "host:1:1").unwrap().unwrap();
        assert_eq!(c1.spec(), &spec(1), "{}", b.name);
        c1.fail("run 0001: loss exploded: \"NaN\" at step 3")
            .unwrap();
        let c2 = s.claim(STUDY, "host:2:0").unwrap().unwrap();
        c2.complete(&diverged()).unwrap();

        let want = vec![
            RunRecord {
                spec: spec(0),
                state: RunState::Done,
                worker: Some("host:1:0".into()),
                error: None,
                result: Some(result(0)),
            },
            RunRecord {
                spec: spec(1),
                state: RunState::Failed,
                worker: Some("host:1:1".into()),
                error: Some("run 0001: loss exploded: \"NaN\" at step 3".into()),
                result: None,
            },
            RunRecord {
                spec: spec(2),
                state: RunState::Done,
                worker: Some("host:2:0".into()),
                error: None,
                result: Some(diverged()),
            },
            RunRecord {
                spec: spec(3),
                state: RunState::Pending,
                worker: None,
                error: None,
                result: None,
            },
        ];
        for store in [b.store.as_ref(), b.reopen().as_ref()] {
            let got = store.runs(STUDY).unwrap();
            assert_eq!(got.len(), 4, "{}", b.name);
            // Exact equality (no NaN in these two) ...
            assert_eq!(got[0], want[0], "{}", b.name);
            assert_eq!(got[1], want[1], "{}", b.name);
            assert_eq!(got[3], want[3], "{}", b.name);
            // ... and bitwise equality including NaN, infinities and -0.0.
            assert_eq!(exact(&got), exact(&want), "{}", b.name);
            let r = got[2].result.as_ref().unwrap();
            assert!(r.step_losses[2].1.is_nan() && r.step_losses[1].1 == f64::INFINITY);
            assert!(r.step_losses[3].1.is_sign_negative() && r.step_losses[3].1 == 0.0);
            assert_eq!(
                store.counts(STUDY).unwrap(),
                counts(1, 0, 2, 1),
                "{}",
                b.name
            );
        }
        // The lr needs all 17 digits: parsed back exactly.
        let lr = want[0].spec.params["lr"].as_f64().unwrap();
        let got = b.store.runs(STUDY).unwrap();
        assert_eq!(
            got[0].spec.params["lr"].as_f64().unwrap().to_bits(),
            lr.to_bits()
        );
        // Another study in the same store is separate.
        s.open_study("other", "x = 1", "{\"name\":\"other\"}")
            .unwrap();
        assert_eq!(s.runs("other").unwrap(), vec![]);
        assert_eq!(s.counts("other").unwrap(), Counts::default());
        assert!(s.claim("other", "w").unwrap().is_none());
        // Both studies are listed, by name, with what they resolved to.
        let mut want = vec![
            ("other".to_string(), "{\"name\":\"other\"}".to_string()),
            (STUDY.to_string(), RESOLVED.to_string()),
        ];
        want.sort();
        assert_eq!(s.studies().unwrap(), want, "{}", b.name);
    }
}

#[test]
fn enqueue_is_idempotent() {
    for b in backends("enqueue") {
        let s = opened(&b, 3);
        assert_eq!(s.enqueue(STUDY, &specs(3)).unwrap(), 0, "{}", b.name);
        // Same keys again plus two new ones: only the new ones count.
        assert_eq!(s.enqueue(STUDY, &specs(5)).unwrap(), 2, "{}", b.name);
        assert_eq!(s.enqueue(STUDY, &[]).unwrap(), 0, "{}", b.name);
        // A finished run is not reset by enqueueing it again.
        s.claim(STUDY, "w")
            .unwrap()
            .unwrap()
            .complete(&result(0))
            .unwrap();
        assert_eq!(s.enqueue(STUDY, &specs(5)).unwrap(), 0, "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap(), counts(4, 0, 1, 0), "{}", b.name);
        let keys: Vec<String> = s
            .runs(STUDY)
            .unwrap()
            .into_iter()
            .map(|r| r.spec.key)
            .collect();
        let want: Vec<String> = specs(5).into_iter().map(|r| r.key).collect();
        assert_eq!(keys, want, "{}", b.name);
        assert_eq!(
            s.runs(STUDY).unwrap()[0].state,
            RunState::Done,
            "{}",
            b.name
        );
    }
}

#[test]
fn claim_complete_fail_counts() {
    for b in backends("claims") {
        let s = opened(&b, 3);
        assert_eq!(s.counts(STUDY).unwrap(), counts(3, 0, 0, 0), "{}", b.name);
        let a = s.claim(STUDY, "wa").unwrap().unwrap();
        let c = s.claim(STUDY, "wb").unwrap().unwrap();
        assert_ne!(a.spec().key, c.spec().key, "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap(), counts(1, 2, 0, 0), "{}", b.name);
        // A claimed run is listed as running, with its worker.
        let runs = s.runs(STUDY).unwrap();
        assert_eq!(runs[0].state, RunState::Running, "{}", b.name);
        assert_eq!(runs[0].worker.as_deref(), Some("wa"), "{}", b.name);
        assert_eq!(runs[2].state, RunState::Pending, "{}", b.name);
        // Dropping a claim releases the run.
        let released = c.spec().key.clone();
        drop(c);
        assert_eq!(s.counts(STUDY).unwrap(), counts(2, 1, 0, 0), "{}", b.name);
        let again = s.claim(STUDY, "wc").unwrap().unwrap();
        assert_eq!(again.spec().key, released, "{}", b.name);
        let last = s.claim(STUDY, "wd").unwrap().unwrap();
        // Nothing left to claim.
        assert!(s.claim(STUDY, "we").unwrap().is_none(), "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 3, 0, 0), "{}", b.name);
        a.complete(&result(0)).unwrap();
        again.fail("boom").unwrap();
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 1, 1, 1), "{}", b.name);
        last.complete(&result(2)).unwrap();
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 0, 2, 1), "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap().total(), 3);
        assert!(s.claim(STUDY, "wf").unwrap().is_none(), "{}", b.name);
        let runs = s.runs(STUDY).unwrap();
        assert_eq!(runs[1].error.as_deref(), Some("boom"), "{}", b.name);
        assert_eq!(runs[1].worker.as_deref(), Some("wc"), "{}", b.name);
        assert_eq!(runs[2].worker.as_deref(), Some("wd"), "{}", b.name);
        // recover has nothing to do.
        assert_eq!(s.recover(STUDY).unwrap(), 0, "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 0, 2, 1), "{}", b.name);
    }
}

#[test]
fn changed_study_definition_is_an_error() {
    for b in backends("definition") {
        let s = opened(&b, 1);
        s.open_study(STUDY, DEFINITION, RESOLVED).unwrap(); // the same again: fine
        let changed = DEFINITION.replace("epochs = 3", "epochs = 4");
        let e = s
            .open_study(STUDY, &changed, RESOLVED)
            .unwrap_err()
            .to_string();
        for part in [
            "results store",
            "study \"st\"",
            "epochs = 3",
            "epochs = 4",
            "line 3",
        ] {
            assert!(e.contains(part), "{}: {e:?} lacks {part:?}", b.name);
        }
    }
}

/// A study file naming run config files, and what it resolved to: problem `a` from `runs/a.toml`,
/// `b` inline.
const REF_TEXT: &str = "name = \"res\"\nseeds = [0]\n[[problems]]\nname = \"a\"\n\
                        config = \"runs/a.toml\"\n[[problems]]\nname = \"b\"\n\
                        config = \"runs/b.toml\"\n";
const REF_RESOLVED: &str = r#"{"name":"res","problems":[{"config":{"data":{"dataset":"moons"},"train":{"epochs":3}},"name":"a","target":null},{"config":{"train":{"epochs":5}},"name":"b","target":null}],"seeds":[0]}"#;

/// Executes `sql` on the backend's database directly (as another program, or an older gradlab,
/// would).
fn raw_sql(b: &Backend, sql: &str) {
    if b.is_pg() {
        let mut c = postgres::Client::connect(&b.url, postgres::NoTls).unwrap();
        c.batch_execute(sql).unwrap();
    } else {
        let conn = rusqlite::Connection::open(b.url.strip_prefix("sqlite:").unwrap()).unwrap();
        conn.execute_batch(sql).unwrap();
    }
}

/// The stored (definition, resolved) of study `name`, read directly.
fn raw_study(b: &Backend, name: &str) -> (String, Option<String>) {
    let q = "SELECT definition, resolved FROM studies WHERE name = 'NAME'".replace("NAME", name);
    if b.is_pg() {
        let mut c = postgres::Client::connect(&b.url, postgres::NoTls).unwrap();
        let r = c.query_one(&q, &[]).unwrap();
        (r.get(0), r.get(1))
    } else {
        let conn = rusqlite::Connection::open(b.url.strip_prefix("sqlite:").unwrap()).unwrap();
        conn.query_row(&q, [], |r| Ok((r.get(0).unwrap(), r.get(1).unwrap())))
            .unwrap()
    }
}

/// The same study file whose referenced run config changed: an error naming the problem, its
/// file, what changed, and what to do; the stored study is left as it was.
#[test]
fn unchanged_study_whose_resolution_changed_is_an_error() {
    for b in backends("resolution") {
        let s = b.store.as_ref();
        s.open_study("res", REF_TEXT, REF_RESOLVED).unwrap();
        s.open_study("res", REF_TEXT, REF_RESOLVED).unwrap();
        // The same JSON value written differently is the same resolution.
        let spaced = REF_RESOLVED.replace(',', ", ").replace(':', ": ");
        s.open_study("res", REF_TEXT, &spaced).unwrap();

        let changed_a = REF_RESOLVED.replace(r#""epochs":3"#, r#""epochs":4"#);
        let e = s
            .open_study("res", REF_TEXT, &changed_a)
            .unwrap_err()
            .to_string();
        for part in [
            "results store",
            "study \"res\"",
            "file is unchanged",
            "resolves to changed",
            "problem \"a\" (config = \"runs/a.toml\"): config.train.epochs is 3 in the store \
             but 4 now",
            "restore the file",
            "another name",
        ] {
            assert!(e.contains(part), "{}: {e:?} lacks {part:?}", b.name);
        }
        assert!(!e.contains("problem \"b\""), "{}: {e}", b.name);

        // Both problems changed (one key gone, one added): both named.
        let changed_ab = REF_RESOLVED
            .replace(r#""dataset":"moons""#, r#""dataset":"blobs""#)
            .replace(r#""epochs":5"#, r#""epochs":5,"lr":0.1"#);
        let e = s
            .open_study("res", REF_TEXT, &changed_ab)
            .unwrap_err()
            .to_string();
        for part in [
            "problem \"a\" (config = \"runs/a.toml\"): config.data.dataset is \"moons\" in \
             the store but \"blobs\" now",
            "problem \"b\" (config = \"runs/b.toml\"): config.train.lr is absent in the store \
             but 0.1 now",
        ] {
            assert!(e.contains(part), "{}: {e:?} lacks {part:?}", b.name);
        }
        // A changed text is reported as such (its line), whatever it resolves to.
        let e = s
            .open_study("res", &REF_TEXT.replace("[0]", "[1]"), &changed_a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{}: {e}", b.name);
        // Nothing was overwritten.
        assert_eq!(
            raw_study(&b, "res"),
            (REF_TEXT.to_string(), Some(REF_RESOLVED.to_string())),
            "{}",
            b.name
        );
        assert_eq!(
            s.studies().unwrap(),
            vec![("res".to_string(), REF_RESOLVED.to_string())],
            "{}",
            b.name
        );
    }
}

/// A study stored without its resolution (NULL, as a version 1 database holds it) is checked by
/// its text only; the resolution it is then opened with is stored and checked from then on.
#[test]
fn study_stored_without_resolution_is_checked_by_text_then_pinned() {
    for b in backends("no_resolution") {
        let s = b.store.as_ref();
        s.open_study("res", REF_TEXT, REF_RESOLVED).unwrap();
        raw_sql(&b, "UPDATE studies SET resolved = NULL");
        // `studies` falls back to the text.
        assert_eq!(
            s.studies().unwrap(),
            vec![("res".to_string(), REF_TEXT.to_string())],
            "{}",
            b.name
        );
        // A changed text is still an error, and stores nothing.
        let e = s
            .open_study("res", &REF_TEXT.replace("[0]", "[1]"), REF_RESOLVED)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{}: {e}", b.name);
        assert_eq!(raw_study(&b, "res").1, None, "{}", b.name);
        // Unknown resolution: opens, whatever it resolves to now, and keeps that.
        let changed = REF_RESOLVED.replace(r#""epochs":3"#, r#""epochs":4"#);
        s.open_study("res", REF_TEXT, &changed).unwrap();
        assert_eq!(
            raw_study(&b, "res"),
            (REF_TEXT.to_string(), Some(changed.clone())),
            "{}",
            b.name
        );
        assert_eq!(
            s.studies().unwrap(),
            vec![("res".to_string(), changed.clone())],
            "{}",
            b.name
        );
        let e = s
            .open_study("res", REF_TEXT, REF_RESOLVED)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.train.epochs is 4 in the store but 3 now"),
            "{}: {e}",
            b.name
        );
    }
}

/// A version 1 database (no `studies.resolved`) is migrated when opened: the column added, the
/// version written, every stored run and result kept, its studies checked by text.
#[test]
fn version_1_database_is_migrated_and_keeps_its_results() {
    for b in backends("migrate") {
        let s = opened(&b, 2);
        let c = s.claim(STUDY, "w").unwrap().unwrap();
        c.complete(&result(0)).unwrap();
        let want = s.runs(STUDY).unwrap();
        // Turn it into what gradlab wrote before `resolved` existed.
        raw_sql(
            &b,
            "ALTER TABLE studies DROP COLUMN resolved;
             UPDATE gradlab_meta SET value = '1' WHERE name = 'schema_version'",
        );
        let reopened = b.reopen();
        assert_eq!(reopened.runs(STUDY).unwrap(), want, "{}", b.name);
        assert_eq!(
            raw_study(&b, STUDY),
            (DEFINITION.to_string(), None),
            "{}",
            b.name
        );
        assert_eq!(
            reopened.studies().unwrap(),
            vec![(STUDY.to_string(), DEFINITION.to_string())],
            "{}",
            b.name
        );
        reopened.open_study(STUDY, DEFINITION, RESOLVED).unwrap();
        assert_eq!(
            raw_study(&b, STUDY),
            (DEFINITION.to_string(), Some(RESOLVED.to_string())),
            "{}",
            b.name
        );
        let version: String = if b.is_pg() {
            let mut c = postgres::Client::connect(&b.url, postgres::NoTls).unwrap();
            c.query_one(
                "SELECT value FROM gradlab_meta WHERE name = 'schema_version'",
                &[],
            )
            .unwrap()
            .get(0)
        } else {
            let conn = rusqlite::Connection::open(b.url.strip_prefix("sqlite:").unwrap()).unwrap();
            conn.query_row(
                "SELECT value FROM gradlab_meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(version, "2", "{}", b.name);
        // Opening it again (already version 2) changes nothing.
        assert_eq!(b.reopen().runs(STUDY).unwrap(), want, "{}", b.name);
    }
}

/// A worker process that claims a run and is SIGKILLed: the run is claimed again afterwards
/// (SQLite after `recover`, PostgreSQL as soon as the server sees the connection drop).
#[test]
fn killed_worker_process_run_is_claimed_again() {
    for b in backends("killed_process") {
        let s = opened(&b, 1);
        let key = spec(0).key;
        let (mut child, claimed) = spawn_claimer(&b.url);
        assert_eq!(claimed, key, "{}", b.name);
        // While the child holds it, nobody else can claim it.
        assert!(s.claim(STUDY, "parent").unwrap().is_none(), "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 1, 0, 0), "{}", b.name);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let c = if b.is_pg() {
            poll_claim(s, "parent")
        } else {
            // Its row still says running until the next start recovers it.
            let s2 = b.reopen();
            assert_eq!(s2.counts(STUDY).unwrap(), counts(0, 1, 0, 0));
            assert_eq!(s2.recover(STUDY).unwrap(), 1);
            assert_eq!(s2.counts(STUDY).unwrap(), counts(1, 0, 0, 0));
            s.claim(STUDY, "parent").unwrap().unwrap()
        };
        assert_eq!(c.spec().key, key, "{}", b.name);
        c.complete(&result(0)).unwrap();
        let runs = s.runs(STUDY).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].state, RunState::Done, "{}", b.name);
        assert_eq!(runs[0].worker.as_deref(), Some("parent"), "{}", b.name);
        assert_eq!(runs[0].result, Some(result(0)), "{}", b.name);
    }
}

/// The process half of [`killed_worker_process_run_is_claimed_again`].
#[test]
#[ignore = "helper process, started by killed_worker_process_run_is_claimed_again"]
fn child_claimer() {
    let url = std::env::var("GRADLAB_STORE_CHILD_URL").expect("GRADLAB_STORE_CHILD_URL");
    let store = lab::open_store(&url).unwrap();
    let claim = store.claim(STUDY, "child").unwrap().expect("a pending run");
    println!("\nCLAIMED {}", claim.spec().key);
    std::thread::sleep(Duration::from_secs(60));
    panic!("not killed");
}

fn spawn_claimer(url: &str) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_claimer", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("GRADLAB_STORE_CHILD_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        let line = line.unwrap();
        // libtest may print "test child_claimer ... " before it on the same line.
        if let Some(at) = line.find("CLAIMED ") {
            return (child, line[at + 8..].trim().to_string());
        }
    }
    let _ = child.kill();
    panic!(
        "the child process exited without claiming: {:?}",
        child.wait()
    );
}

/// Claims until a run comes back (the server notices a dropped connection asynchronously).
fn poll_claim(s: &dyn Store, worker: &str) -> Box<dyn lab::Claim> {
    let t = Instant::now();
    loop {
        if let Some(c) = s.claim(STUDY, worker).unwrap() {
            return c;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the run did not become claimable again"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite

#[test]
fn sqlite_recovers_runs_of_a_killed_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.open_study(STUDY, DEFINITION, RESOLVED).unwrap();
        s.enqueue(STUDY, &specs(3)).unwrap();
        s.claim(STUDY, "w0")
            .unwrap()
            .unwrap()
            .complete(&result(0))
            .unwrap();
        let c = s.claim(STUDY, "w1").unwrap().unwrap();
        assert_eq!(c.spec().key, spec(1).key);
        // The process dies: no complete, no fail, no drop.
        std::mem::forget(c);
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.describe(), format!("sqlite:{}", path.display()));
    s.open_study(STUDY, DEFINITION, RESOLVED).unwrap();
    assert_eq!(s.counts(STUDY).unwrap(), counts(1, 1, 1, 0));
    assert_eq!(s.recover(STUDY).unwrap(), 1);
    assert_eq!(s.recover(STUDY).unwrap(), 0);
    assert_eq!(s.counts(STUDY).unwrap(), counts(2, 0, 1, 0));
    let runs = s.runs(STUDY).unwrap();
    assert_eq!(runs[1].state, RunState::Pending);
    assert_eq!(runs[1].worker, None);
    // The completed run is kept exactly; the interrupted one is claimed (first) again.
    assert_eq!(runs[0].result, Some(result(0)));
    let c = s.claim(STUDY, "w2").unwrap().unwrap();
    assert_eq!(c.spec().key, spec(1).key);
    c.complete(&result(1)).unwrap();
    assert_eq!(s.runs(STUDY).unwrap()[1].result, Some(result(1)));
}

#[test]
fn sqlite_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // Not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let e = SqliteStore::open(&junk).err().unwrap().to_string();
    assert!(e.contains(&junk.display().to_string()), "{e}");
    assert!(e.contains("not a database"), "{e}");
    // A parent that is a file.
    let bad = junk.join("r.db");
    let e = SqliteStore::open(&bad).err().unwrap().to_string();
    assert!(e.contains(&junk.display().to_string()), "{e}");
    // Disk full (a page cap stands in for the disk).
    let path = dir.path().join("full.db");
    let s = SqliteStore::open(&path).unwrap();
    s.open_study(STUDY, DEFINITION, RESOLVED).unwrap();
    s.limit_pages(32).unwrap();
    let mut big = spec(0);
    big.config = "#".repeat(1 << 20);
    let e = s.enqueue(STUDY, &[big]).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("full"), "{e}");
    assert!(e.contains("cannot enqueue"), "{e}");
    // Nothing half-written: the store still works.
    assert_eq!(s.counts(STUDY).unwrap(), Counts::default());
    assert_eq!(s.enqueue(STUDY, &specs(1)).unwrap(), 1);
    // The disk fills up while a result is stored: nothing of it is kept (one transaction), the
    // run returns to pending, and is stored whole once there is room.
    let c = s.claim(STUDY, "w").unwrap().unwrap();
    let mut huge = result(0);
    huge.step_losses = (0..20_000).map(|i| (i, 1.0 / (i + 1) as f64)).collect();
    let e = c.complete(&huge).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("full"), "{e}");
    assert!(e.contains("cannot store the result of run"), "{e}");
    assert_eq!(s.counts(STUDY).unwrap(), counts(1, 0, 0, 0));
    assert_eq!(s.runs(STUDY).unwrap()[0].result, None);
    s.limit_pages(1 << 20).unwrap();
    let c = s.claim(STUDY, "w").unwrap().unwrap();
    c.complete(&huge).unwrap();
    assert_eq!(s.runs(STUDY).unwrap()[0].result, Some(huge));
    // A database from a newer gradlab.
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE gradlab_meta SET value='99' WHERE name='schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = SqliteStore::open(&path).err().unwrap().to_string();
    assert!(e.contains("schema version 99"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// 4 workers claim and complete 40 runs concurrently: each run is completed exactly once and
/// none is lost. SQLite: threads sharing one store (as the runner does); PostgreSQL: one store
/// (own connection) per worker, as on many machines, and threads sharing one store.
#[test]
fn many_workers_complete_each_run_once() {
    type Case = (String, Vec<Arc<dyn Store>>, Backend);
    let mut cases: Vec<Case> = Vec::new();
    let b = Backend::sqlite();
    let shared: Arc<dyn Store> = Arc::from(b.reopen());
    cases.push(("sqlite, shared store".into(), vec![shared; 4], b));
    if let Some(b) = Backend::postgres("many_workers_own") {
        let own = (0..4)
            .map(|_| Arc::new(PgStore::connect(&b.url).unwrap()) as Arc<dyn Store>)
            .collect();
        cases.push(("postgres, a store per worker".into(), own, b));
    }
    if let Some(b) = Backend::postgres("many_workers_shared") {
        let shared: Arc<dyn Store> = Arc::from(b.reopen());
        cases.push(("postgres, shared store".into(), vec![shared; 4], b));
    }
    for (label, stores, b) in cases {
        let n = 40;
        opened(&b, n);
        let t0 = Instant::now();
        let done = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
        let threads: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(w, s)| {
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    s.open_study(STUDY, DEFINITION, RESOLVED).unwrap();
                    let worker = format!("w{w}");
                    while let Some(c) = s.claim(STUDY, &worker).unwrap() {
                        let i = usize::from_str_radix(&c.spec().key, 16).unwrap() - 0x1000;
                        std::thread::sleep(Duration::from_millis(2)); // "training"
                        c.complete(&result(i)).unwrap();
                        done.lock().unwrap().push((w, c_key(i)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let done = done.lock().unwrap();
        let keys: BTreeSet<&String> = done.iter().map(|(_, k)| k).collect();
        assert_eq!(done.len(), n, "{label}: completions");
        assert_eq!(keys.len(), n, "{label}: distinct runs completed");
        let per_worker: Vec<usize> = (0..4)
            .map(|w| done.iter().filter(|d| d.0 == w).count())
            .collect();
        println!(
            "{label}: 40 runs by 4 workers in {:.3} s (2 ms of \"training\" each); runs per \
             worker: {per_worker:?}",
            t0.elapsed().as_secs_f64()
        );
        let s = b.store.as_ref();
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 0, n, 0), "{label}");
        let runs = s.runs(STUDY).unwrap();
        for (i, r) in runs.iter().enumerate() {
            assert_eq!(r.spec, spec(i), "{label}");
            assert_eq!(r.result, Some(result(i)), "{label}: run {i}");
            let w = r.worker.as_deref().unwrap();
            assert!(
                done.contains(&(w[1..].parse().unwrap(), c_key(i))),
                "{label}: {w} {i}"
            );
        }
    }
}

fn c_key(i: usize) -> String {
    spec(i).key
}

/// A worker whose connection is killed mid-claim loses the run to another worker, and its own
/// late `complete` fails instead of storing a second result.
#[test]
fn postgres_killed_connection_releases_the_run() {
    let Some(b) = Backend::postgres("killed_connection") else {
        return;
    };
    let s = opened(&b, 2);
    let a = PgStore::connect(&b.url).unwrap();
    let claim = a.claim(STUDY, "a").unwrap().unwrap();
    assert_eq!(claim.spec().key, spec(0).key);
    assert_eq!(s.counts(STUDY).unwrap(), counts(1, 1, 0, 0));
    // Kill the backend holding the claim (it holds the claim's advisory lock).
    let mut admin = postgres::Client::connect(&b.url, postgres::NoTls).unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 2 AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap();
    assert_eq!(killed.len(), 1);
    let other = PgStore::connect(&b.url).unwrap();
    let c = poll_claim(&other, "b");
    assert_eq!(c.spec().key, spec(0).key);
    c.complete(&result(0)).unwrap();
    let e = claim.complete(&result(5)).unwrap_err().to_string();
    assert!(e.contains("cannot store the result of run"), "{e}");
    assert_eq!(s.counts(STUDY).unwrap(), counts(1, 0, 1, 0));
    let runs = s.runs(STUDY).unwrap();
    assert_eq!(runs[0].worker.as_deref(), Some("b"));
    assert_eq!(runs[0].result, Some(result(0)));
    // The pool dropped the dead connection: `a` still works.
    let c = a.claim(STUDY, "a").unwrap().unwrap();
    assert_eq!(c.spec().key, spec(1).key);
    c.complete(&result(1)).unwrap();
    assert_eq!(s.counts(STUDY).unwrap(), counts(0, 0, 2, 0));
}

#[test]
fn postgres_connect_errors_are_clear() {
    // Nothing listens on port 1.
    let e = PgStore::connect("postgres://gradlab:s3cret@127.0.0.1:1/lab")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("postgres://gradlab@127.0.0.1:1/lab"), "{e}");
    assert!(e.contains("cannot connect"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    let e = lab::open_store("postgresql://x@127.0.0.1:1/lab?password=s3cret&connect_timeout=5")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("postgresql://x@127.0.0.1:1/lab?connect_timeout=5"),
        "{e}"
    );
    assert!(!e.contains("s3cret"), "{e}");
    let e = PgStore::connect("postgres://a:b@127.0.0.1:notaport/x")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("invalid PostgreSQL URL"), "{e}");

    let Some(server) = pg_server() else {
        return;
    };
    // Wrong password.
    let url = format!(
        "postgres://postgres:wrong@127.0.0.1:{}/postgres",
        server.port
    );
    let e = PgStore::connect(&url).err().unwrap().to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("wrong@"), "{e}");
    // Missing database.
    let url = server.url("no_such_db");
    let e = PgStore::connect(&url).err().unwrap().to_string();
    assert!(e.contains("database \"no_such_db\" does not exist"), "{e}");
    assert!(e.contains(&format!(
        "postgres://postgres@127.0.0.1:{}/no_such_db",
        server.port
    )));
    // A store describes itself without the password.
    let url = server.create_db("describe");
    let s = PgStore::connect(&url).unwrap();
    assert_eq!(
        s.describe(),
        format!("postgres://postgres@127.0.0.1:{}/describe", server.port)
    );
    let kv = format!(
        "host=127.0.0.1 port={} user=postgres password={PG_PASSWORD} dbname=describe",
        server.port
    );
    let s = PgStore::connect(&kv).unwrap();
    assert_eq!(
        s.describe(),
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=describe",
            server.port
        )
    );
    // A database written by a newer gradlab.
    drop(s);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.execute(
        "UPDATE gradlab_meta SET value = '99' WHERE name = 'schema_version'",
        &[],
    )
    .unwrap();
    let e = PgStore::connect(&url).err().unwrap().to_string();
    assert!(e.contains("schema version 99"), "{e}");
}

/// Many workers starting at once on an empty database all create/check the schema fine.
#[test]
fn postgres_concurrent_schema_creation() {
    let Some(server) = pg_server() else {
        return;
    };
    let url = server.create_db("schema_race");
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let s = PgStore::connect(&url)?;
                s.open_study(STUDY, DEFINITION, RESOLVED)?;
                s.enqueue(STUDY, &specs(3))
            })
        })
        .collect();
    let added: usize = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .sum();
    assert_eq!(added, 3);
}

/// Many workers starting at once on a version 1 database: it is migrated exactly once and every
/// worker opens the study.
#[test]
fn postgres_concurrent_migration_from_version_1() {
    let Some(b) = Backend::postgres("migrate_race") else {
        return;
    };
    opened(&b, 3);
    raw_sql(
        &b,
        "ALTER TABLE studies DROP COLUMN resolved;
         UPDATE gradlab_meta SET value = '1' WHERE name = 'schema_version'",
    );
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let url = b.url.clone();
            std::thread::spawn(move || {
                let s = PgStore::connect(&url)?;
                s.open_study(STUDY, DEFINITION, RESOLVED)?;
                Ok::<_, lab::LabError>(s.runs(STUDY)?.len())
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), 3);
    }
    assert_eq!(
        raw_study(&b, STUDY),
        (DEFINITION.to_string(), Some(RESOLVED.to_string()))
    );
}

// ---------------------------------------------------------------------------------------------
// The private PostgreSQL server

const PG_PASSWORD: &str = "gradlab-test-pw";

struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Whom to run the server binaries as (they refuse to run as root).
    run_as: Option<String>,
    port: u16,
}

static SERVER: Mutex<Option<Arc<PgServer>>> = Mutex::new(None);
static SKIPPED: Mutex<bool> = Mutex::new(false);

extern "C" {
    fn atexit(f: extern "C" fn()) -> i32;
}

extern "C" fn stop_server_at_exit() {
    let server = SERVER.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(server);
}

/// The shared private server (started on first use, stopped at exit), or `None` when no
/// PostgreSQL is installed (an error with `GRADLAB_REQUIRE_POSTGRES=1`).
fn pg_server() -> Option<Arc<PgServer>> {
    let mut guard = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = guard.as_ref() {
        return Some(Arc::clone(s));
    }
    let Some(bin) = find_pg_bin() else {
        if std::env::var("GRADLAB_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("GRADLAB_REQUIRE_POSTGRES=1 but no PostgreSQL binaries (initdb, pg_ctl)");
        }
        let mut skipped = SKIPPED.lock().unwrap();
        if !*skipped {
            // Straight to stderr: libtest hides eprintln! output of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipping the PostgreSQL tests: no initdb/pg_ctl in GRADLAB_PG_BIN, on PATH or in \
                 /usr/lib/postgresql/*/bin (GRADLAB_REQUIRE_POSTGRES=1 makes this an error)"
            );
            *skipped = true;
        }
        return None;
    };
    let server = Arc::new(PgServer::start(bin));
    *guard = Some(Arc::clone(&server));
    unsafe {
        atexit(stop_server_at_exit);
    }
    Some(server)
}

/// `GRADLAB_PG_BIN` (a folder with initdb and pg_ctl), else PATH, else the newest
/// /usr/lib/postgresql/*/bin.
fn find_pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GRADLAB_PG_BIN") {
        let dir = PathBuf::from(dir);
        return (dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()).then_some(dir);
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|d| d.join("initdb").is_file())
            .collect();
        dirs.sort_by_key(|d| {
            d.parent()
                .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        dirs.pop()
    })
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output();
    matches!(out, Ok(o) if String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgServer {
    fn start(bin: PathBuf) -> PgServer {
        let dir = tempfile::Builder::new()
            .prefix("gradlab-pg")
            .tempdir()
            .unwrap();
        let run_as = is_root().then(|| {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| {
                    Command::new("id")
                        .arg(u)
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
                .expect("running as root and neither user postgres nor nobody exists");
            let ok = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "chown {user} {}", dir.path().display());
            user.to_string()
        });
        let mut server = PgServer {
            dir,
            bin,
            run_as,
            port: 0,
        };
        let pwfile = server.dir.path().join("pw");
        std::fs::write(&pwfile, PG_PASSWORD).unwrap();
        if let Some(user) = &server.run_as {
            Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&pwfile)
                .status()
                .unwrap();
        }
        let data = server.dir.path().join("data");
        let out = server
            .cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "-N"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", show(&out));
        // A free port can be taken between probing and starting: retry a few times.
        for attempt in 0..5 {
            server.port = free_port();
            let log = server.dir.path().join("log");
            let out = server
                .cmd("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "30", "-o"])
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c full_page_writes=off -c max_connections=100",
                    server.port,
                    server.dir.path().display()
                ))
                .arg("start")
                .output()
                .unwrap();
            if out.status.success() {
                server.watchdog(&data);
                return server;
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(attempt < 4, "pg_ctl start failed: {}\n{log}", show(&out));
        }
        unreachable!()
    }

    /// A detached shell that stops the server and deletes its folder once this process is gone,
    /// also when it is killed (at a normal exit the atexit handler has already done so).
    fn watchdog(&self, data: &std::path::Path) {
        let pg_ctl = self.bin.join("pg_ctl");
        let as_user = match &self.run_as {
            Some(user) => format!("runuser -u {user} -- "),
            None => String::new(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {as_user}'{pg_ctl}' -D '{data}' -m immediate -w stop; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = data.display(),
            dir = self.dir.path().display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn cmd(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{PG_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Creates database `db` (dropping an old one) and returns its URL.
    fn create_db(&self, db: &str) -> String {
        let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        self.url(db)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn show(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
