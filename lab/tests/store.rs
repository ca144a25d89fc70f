//! The results store against both backends: SQLite in a temporary file and PostgreSQL on the
//! private server of `support::pg` (loopback, TLS offered). Without PostgreSQL binaries the PostgreSQL
//! half is SKIPPED with a message, unless `GRADLAB_REQUIRE_POSTGRES=1`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::child;
use support::pg::{pg_server, PgServer, PG_PASSWORD};

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
    params.insert("nesterov".into(), json!(i.is_multiple_of(2)));
    params.insert("steps".into(), json!(i as u64 * 1000));
    RunSpec {
        key: format!("{:016x}", 0x1000 + i),
        problem: if i.is_multiple_of(2) {
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

/// What a version 2 gradlab wrote: no attempt counts (and in SQLite no claim owners).
const DOWNGRADE_TO_2_SQLITE: &str = "DROP INDEX runs_by_claim;
     CREATE INDEX runs_by_status ON runs(study, status, key);
     ALTER TABLE runs DROP COLUMN owner;
     ALTER TABLE runs DROP COLUMN attempts;
     UPDATE gradlab_meta SET value = '2' WHERE name = 'schema_version'";
const DOWNGRADE_TO_2_PG: &str = "ALTER TABLE claims DROP COLUMN attempts;
     UPDATE gradlab_meta SET value = '2' WHERE name = 'schema_version'";
/// And version 1, from version 2: no `studies.resolved`.
const DOWNGRADE_2_TO_1: &str = "ALTER TABLE studies DROP COLUMN resolved;
     UPDATE gradlab_meta SET value = '1' WHERE name = 'schema_version'";

fn downgrade(b: &Backend, to: i64) {
    raw_sql(
        b,
        if b.is_pg() {
            DOWNGRADE_TO_2_PG
        } else {
            DOWNGRADE_TO_2_SQLITE
        },
    );
    if to == 1 {
        raw_sql(b, DOWNGRADE_2_TO_1);
    }
}

fn raw_schema_version(b: &Backend) -> String {
    let q = "SELECT value FROM gradlab_meta WHERE name = 'schema_version'";
    if b.is_pg() {
        let mut c = postgres::Client::connect(&b.url, postgres::NoTls).unwrap();
        c.query_one(q, &[]).unwrap().get(0)
    } else {
        let conn = rusqlite::Connection::open(b.url.strip_prefix("sqlite:").unwrap()).unwrap();
        conn.query_row(q, [], |r| r.get(0)).unwrap()
    }
}

/// A version 1 database (no `studies.resolved`, no attempt counts) is migrated when opened:
/// the columns added, the version written, every stored run and result kept, its studies
/// checked by text.
#[test]
fn version_1_database_is_migrated_and_keeps_its_results() {
    for b in backends("migrate") {
        let s = opened(&b, 2);
        let c = s.claim(STUDY, "w").unwrap().unwrap();
        c.complete(&result(0)).unwrap();
        let want = s.runs(STUDY).unwrap();
        downgrade(&b, 1);
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
        assert_eq!(raw_schema_version(&b), "3", "{}", b.name);
        // Opening it again (already version 3) changes nothing.
        assert_eq!(b.reopen().runs(STUDY).unwrap(), want, "{}", b.name);
    }
}

/// A version 2 database is migrated to version 3 in place, its results kept; a run a version 2
/// process left `running` in SQLite (no owner) is recovered, and attempts count from there.
#[test]
fn version_2_database_is_migrated_to_count_attempts() {
    for b in backends("migrate_2") {
        let s = opened(&b, 3);
        s.claim(STUDY, "w")
            .unwrap()
            .unwrap()
            .complete(&result(0))
            .unwrap();
        let want = s.runs(STUDY).unwrap();
        downgrade(&b, 2);
        if !b.is_pg() {
            raw_sql(
                &b,
                &format!(
                    "UPDATE runs SET status = 'running', worker = 'old:1:0' WHERE key = '{}'",
                    spec(1).key
                ),
            );
        }
        let s = b.reopen();
        assert_eq!(raw_schema_version(&b), "3", "{}", b.name);
        assert_eq!(s.runs(STUDY).unwrap()[0], want[0], "{}", b.name);
        let recovered = if b.is_pg() { 0 } else { 1 };
        assert_eq!(s.recover(STUDY).unwrap(), recovered, "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap(), counts(2, 0, 1, 0), "{}", b.name);
        let c = s.claim(STUDY, "w").unwrap().unwrap();
        assert_eq!(c.spec().key, spec(1).key, "{}", b.name);
        c.complete(&result(1)).unwrap();
        assert_eq!(
            s.runs(STUDY).unwrap()[1].result,
            Some(result(1)),
            "{}",
            b.name
        );
    }
}

/// A worker process that claims a run and is SIGKILLed: the run is claimed again afterwards
/// (SQLite after `recover`, which finds the dead process's lock free; PostgreSQL as soon as the
/// server sees the connection drop).
#[test]
fn killed_worker_process_run_is_claimed_again() {
    for b in backends("killed_process") {
        let s = opened(&b, 1);
        let key = spec(0).key;
        let (child, claimed) = spawn_claimer(&b.url);
        assert_eq!(claimed, key, "{}", b.name);
        // While the child holds it, nobody else can claim it.
        assert!(s.claim(STUDY, "parent").unwrap().is_none(), "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 1, 0, 0), "{}", b.name);
        child.kill();
        let c = if b.is_pg() {
            poll_claim(s, "parent")
        } else {
            // Its row still says running until the next start recovers it.
            let s2 = b.reopen();
            assert_eq!(s2.counts(STUDY).unwrap(), counts(0, 1, 0, 0));
            assert_eq!(s2.recover(STUDY).unwrap(), 1);
            assert_eq!(s2.recover(STUDY).unwrap(), 0);
            assert_eq!(s2.counts(STUDY).unwrap(), counts(1, 0, 0, 0));
            let runs = s2.runs(STUDY).unwrap();
            assert_eq!(runs[0].state, RunState::Pending);
            assert_eq!(runs[0].worker, None);
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

/// Bug: a second `gradlab compare` on the same SQLite store reset the first one's live runs on
/// start (`recover`), and the first then failed ("no longer claimed by this worker"). A second
/// process (here the test, with its own store handles) starting while a first (a child
/// process) holds a claim leaves that claim alone; the first completes it; every run is done
/// exactly once. PostgreSQL is checked the same way.
#[test]
fn a_second_process_never_resets_the_first_ones_live_claim() {
    for b in backends("second_process") {
        opened(&b, 3);
        let (first, claimed) = spawn_claimer(&b.url);
        assert_eq!(claimed, spec(0).key, "{}", b.name);
        // The second process starts: its recovery finds the first one alive.
        let second = b.reopen();
        second.open_study(STUDY, DEFINITION, RESOLVED).unwrap();
        assert_eq!(second.recover(STUDY).unwrap(), 0, "{}", b.name);
        assert_eq!(
            second.counts(STUDY).unwrap(),
            counts(2, 1, 0, 0),
            "{}",
            b.name
        );
        // Two handles of the second process, as two runners in one process would have.
        let third = b.reopen();
        assert_eq!(third.recover(STUDY).unwrap(), 0, "{}", b.name);
        let c1 = second.claim(STUDY, "second").unwrap().unwrap();
        let c2 = third.claim(STUDY, "third").unwrap().unwrap();
        assert_eq!(
            (c1.spec().key.as_str(), c2.spec().key.as_str()),
            (spec(1).key.as_str(), spec(2).key.as_str()),
            "{}",
            b.name
        );
        // Each handle's recovery also leaves the other's live claims alone.
        assert_eq!(second.recover(STUDY).unwrap(), 0, "{}", b.name);
        assert_eq!(third.recover(STUDY).unwrap(), 0, "{}", b.name);
        assert!(third.claim(STUDY, "third").unwrap().is_none(), "{}", b.name);
        c1.complete(&result(1)).unwrap();
        c2.complete(&result(2)).unwrap();
        first.finish();
        let runs = second.runs(STUDY).unwrap();
        let workers: Vec<_> = runs.iter().map(|r| r.worker.as_deref()).collect();
        assert_eq!(
            workers,
            [Some("child"), Some("second"), Some("third")],
            "{}",
            b.name
        );
        for (i, r) in runs.iter().enumerate() {
            assert_eq!(r.state, RunState::Done, "{}", b.name);
            assert_eq!(r.result, Some(result(i)), "{}", b.name);
        }
        assert_eq!(
            second.counts(STUDY).unwrap(),
            counts(0, 0, 3, 0),
            "{}",
            b.name
        );
    }
}

/// Bug: a run that kills its worker process (an abort, the out-of-memory killer) was claimed
/// first again on every rerun, so the study could never finish. Its attempts are counted: after
/// it stopped its worker 3 times it is stored failed with an error that says so, runs that
/// did not kill anything are claimed before it meanwhile, and the study goes on.
#[test]
fn a_run_that_keeps_killing_its_worker_is_failed_after_3_attempts() {
    for b in backends("poison") {
        let s = opened(&b, 1);
        let poison = spec(0).key;
        for death in 1..=3 {
            let (child, claimed) = spawn_claimer(&b.url);
            assert_eq!(claimed, poison, "{}: death {death}", b.name);
            child.kill();
        }
        // The next start notices the third death (SQLite) or the next claim does (PostgreSQL).
        s.enqueue(STUDY, &[spec(1), spec(2)]).unwrap();
        assert_eq!(
            s.recover(STUDY).unwrap(),
            if b.is_pg() { 0 } else { 1 },
            "{}",
            b.name
        );
        let mut done = Vec::new();
        while let Some(c) = poll_claim_or_none(s, "parent") {
            let i = usize::from_str_radix(&c.spec().key, 16).unwrap() - 0x1000;
            c.complete(&result(i)).unwrap();
            done.push(i);
        }
        assert_eq!(done, [1, 2], "{}", b.name);
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 0, 2, 1), "{}", b.name);
        let r = &s.runs(STUDY).unwrap()[0];
        assert_eq!(r.state, RunState::Failed, "{}", b.name);
        assert_eq!(r.worker.as_deref(), Some("child"), "{}", b.name);
        let e = r.error.as_deref().unwrap();
        assert!(
            e.contains("stopped its worker process 3 times"),
            "{}: {e}",
            b.name
        );
        assert!(e.contains("not tried again"), "{}: {e}", b.name);
    }
}

/// A run killed once or twice is retried, after the fresh runs; a claim released cleanly (its
/// worker alive) gives its attempt back.
#[test]
fn attempts_order_the_queue_and_clean_releases_do_not_count() {
    for b in backends("attempts") {
        let s = opened(&b, 2);
        for _ in 0..5 {
            drop(s.claim(STUDY, "w").unwrap().unwrap());
        }
        let (child, claimed) = spawn_claimer(&b.url);
        assert_eq!(claimed, spec(0).key, "{}", b.name);
        child.kill();
        s.recover(STUDY).unwrap();
        let c = poll_claim(s, "w");
        assert_eq!(c.spec().key, spec(1).key, "{}: fresh runs first", b.name);
        c.complete(&result(1)).unwrap();
        let c = poll_claim(s, "w");
        assert_eq!(c.spec().key, spec(0).key, "{}", b.name);
        c.complete(&result(0)).unwrap();
        assert_eq!(s.counts(STUDY).unwrap(), counts(0, 0, 2, 0), "{}", b.name);
    }
}

/// The child process of the tests above: claims a run of the store at
/// `GRADLAB_TEST_CHILD_URL` as worker `child` (once the previous child's claim is free), and
/// completes it when told to.
#[test]
#[ignore = "helper process, started by the tests that kill or share a worker process"]
fn child_claimer() {
    let url = std::env::var("GRADLAB_TEST_CHILD_URL").expect("GRADLAB_TEST_CHILD_URL");
    let store = lab::open_store(&url).unwrap();
    store.recover(STUDY).unwrap();
    let claim = poll_claim(store.as_ref(), "child");
    let i = usize::from_str_radix(&claim.spec().key, 16).unwrap() - 0x1000;
    child::claimed(&claim.spec().key);
    child::wait_for_finish();
    claim.complete(&result(i)).unwrap();
}

fn spawn_claimer(url: &str) -> (child::ChildWorker, String) {
    child::spawn("child_claimer", &[("GRADLAB_TEST_CHILD_URL", url)])
}

/// Claims until a run comes back (the server notices a dropped connection asynchronously).
fn poll_claim(s: &dyn Store, worker: &str) -> Box<dyn lab::Claim> {
    poll_claim_or_none(s, worker).expect("the run did not become claimable again")
}

/// [`poll_claim`], or `None` once nothing is pending or running.
fn poll_claim_or_none(s: &dyn Store, worker: &str) -> Option<Box<dyn lab::Claim>> {
    let t = Instant::now();
    loop {
        if let Some(c) = s.claim(STUDY, worker).unwrap() {
            return Some(c);
        }
        let c = s.counts(STUDY).unwrap();
        if c.pending + c.running == 0 || t.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite

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
    // The lost run comes back, after the fresh one (it counts an attempt that did not finish).
    let fresh = poll_claim(&other, "b");
    assert_eq!(fresh.spec().key, spec(1).key);
    fresh.complete(&result(1)).unwrap();
    let c = poll_claim(&other, "b");
    assert_eq!(c.spec().key, spec(0).key);
    c.complete(&result(0)).unwrap();
    let e = claim.complete(&result(5)).unwrap_err().to_string();
    assert!(e.contains("cannot store the result of run"), "{e}");
    assert_eq!(s.counts(STUDY).unwrap(), counts(0, 0, 2, 0));
    let runs = s.runs(STUDY).unwrap();
    assert_eq!(runs[0].worker.as_deref(), Some("b"));
    assert_eq!(runs[0].result, Some(result(0)));
    // The pool dropped the dead connection: `a` still works.
    s.enqueue(STUDY, &[spec(2)]).unwrap();
    let c = a.claim(STUDY, "a").unwrap().unwrap();
    assert_eq!(c.spec().key, spec(2).key);
    c.complete(&result(2)).unwrap();
    assert_eq!(s.counts(STUDY).unwrap(), counts(0, 0, 3, 0));
}

#[test]
fn postgres_connect_errors_are_clear() {
    // Nothing listens on port 1.
    let e = PgStore::connect("postgres://gradlab:s3cret@127.0.0.1:1/lab")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("postgres://gradlab@127.0.0.1:1/lab?sslmode=prefer"),
        "{e}"
    );
    assert!(e.contains("cannot connect"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    let e = lab::open_store("postgresql://x@127.0.0.1:1/lab?password=s3cret&connect_timeout=5")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("postgres://x@127.0.0.1:1/lab?sslmode=prefer"),
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
        "postgres://postgres@127.0.0.1:{}/no_such_db?sslmode=prefer",
        server.port
    )));
    // A store describes itself without the password.
    let url = server.create_db("describe");
    let s = PgStore::connect(&url).unwrap();
    assert_eq!(
        s.describe(),
        format!(
            "postgres://postgres@127.0.0.1:{}/describe?sslmode=prefer",
            server.port
        )
    );
    let kv = format!(
        "host=127.0.0.1 port={} user=postgres password={PG_PASSWORD} dbname=describe",
        server.port
    );
    let s = PgStore::connect(&kv).unwrap();
    assert_eq!(
        s.describe(),
        format!(
            "postgres://postgres@127.0.0.1:{}/describe?sslmode=prefer",
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

/// Bug: a password holding `/` or `?` was printed in the banner and in errors (the redaction
/// split the URL where the driver does not). The store is shown from the settings the driver
/// parsed; the password's pieces appear nowhere, whether it connects, fails to, or the URL does
/// not parse. The password holds `/`, `?`, `:`, `@` (written `%40`) and a literal `%2F`
/// (written `%252F`).
#[test]
fn postgres_passwords_with_url_characters_are_never_shown() {
    const PASSWORD: &str = "QX/JZ?KV:WB@YF%2FHG";
    const IN_URL: &str = "QX/JZ?KV:WB%40YF%252FHG";
    const PIECES: [&str; 6] = ["QX", "JZ", "KV", "WB", "YF", "HG"];
    let shows_none = |text: &str| {
        for p in PIECES {
            assert!(!text.contains(p), "{p} of the password shown: {text}");
        }
    };
    // Unparsable, and unreachable (no server needed).
    for url in [
        format!("postgres://u:{IN_URL}@127.0.0.1:notaport/lab"),
        format!("postgres://u:{PASSWORD}@127.0.0.1:1/lab"),
        format!("postgres://u:{IN_URL}@127.0.0.1:1/lab?sslmode=nonsense"),
        format!("postgres://u:{IN_URL}@127.0.0.1:1/lab?connect_timeout=5"),
        "postgres://u:QX/JZ?KV@127.0.0.1:1/lab".to_string(),
    ] {
        let e = lab::open_store(&url).err().unwrap().to_string();
        shows_none(&e);
    }
    let e = lab::open_store("postgres://u:QX/JZ?KV@127.0.0.1:1/lab")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("postgres://u@127.0.0.1:1/lab?sslmode=prefer"),
        "{e}"
    );

    let Some(server) = pg_server() else {
        return;
    };
    server.create_db("odd_password");
    let mut admin = postgres::Client::connect(&server.url("postgres"), postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS odd; CREATE ROLE odd LOGIN SUPERUSER PASSWORD '{PASSWORD}'"
        ))
        .unwrap();
    let url = |db: &str| format!("postgres://odd:{IN_URL}@127.0.0.1:{}/{db}", server.port);
    // The driver read the whole password: it connects.
    let s = lab::open_store(&url("odd_password")).unwrap();
    assert_eq!(
        s.describe(),
        format!(
            "postgres://odd@127.0.0.1:{}/odd_password?sslmode=prefer",
            server.port
        )
    );
    s.open_study(STUDY, DEFINITION, RESOLVED).unwrap();
    // A connection that fails after parsing (no such database).
    let e = lab::open_store(&url("missing")).err().unwrap().to_string();
    assert!(e.contains("does not exist"), "{e}");
    shows_none(&e);
}

/// A store on another machine over TLS: `sslmode=require` encrypts; `verify-full` connects
/// when the server's certificate chains to the `sslrootcert` CA and names the host, and is
/// refused with a clear error for another CA or another host name; `verify-ca` checks the
/// chain only.
#[test]
fn postgres_tls_modes_connect_or_refuse_clearly() {
    let Some(server) = pg_server() else {
        return;
    };
    let base = server.create_db("tls");
    let ca = server.ca_file();
    let ca = ca.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = p.self_signed(&KeyPair::generate().unwrap()).unwrap();
        std::fs::write(&other_ca, cert.pem()).unwrap();
    }
    let other_ca = other_ca.to_str().unwrap();
    // Whether the store's connections use TLS, as the server sees them (the connection it
    // keeps open after connecting, told apart by its application_name).
    let n = std::cell::Cell::new(0);
    let connects = |query: &str| -> Vec<bool> {
        n.set(n.get() + 1);
        let app = format!("tls{}", n.get());
        let s = lab::open_store(&format!("{base}?{query}&application_name={app}")).unwrap();
        let mode = query.split(['=', '&']).nth(1).unwrap();
        assert!(
            s.describe().ends_with(&format!("?sslmode={mode}")),
            "{}",
            s.describe()
        );
        let mut admin =
            postgres::Client::connect(&server.url("postgres"), postgres::NoTls).unwrap();
        admin
            .query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE a.application_name = $1",
                &[&app],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    assert_eq!(connects("sslmode=disable"), [false]);
    assert_eq!(connects("sslmode=require"), [true]);
    assert_eq!(
        connects(&format!("sslmode=verify-full&sslrootcert={ca}")),
        [true]
    );
    assert_eq!(
        connects(&format!("sslmode=verify-ca&sslrootcert={ca}")),
        [true]
    );
    // The certificate names localhost too.
    let by_name = base.replace("127.0.0.1", "localhost");
    lab::open_store(&format!("{by_name}?sslmode=verify-full&sslrootcert={ca}")).unwrap();

    let refused = |url: String| -> String {
        let e = lab::open_store(&url).err().unwrap().to_string();
        assert!(e.contains("cannot connect"), "{e}");
        assert!(e.contains("sslrootcert"), "the hint: {e}");
        assert!(!e.contains(PG_PASSWORD), "{e}");
        e
    };
    let e = refused(format!("{base}?sslmode=verify-full&sslrootcert={other_ca}"));
    assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{e}");
    // Another name for the same server: connect to 127.0.0.1, expect `db.example`.
    let wrong_host = base.replace("127.0.0.1", "db.example");
    let e = refused(format!(
        "{wrong_host}?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={ca}"
    ));
    assert!(e.contains("not valid for name"), "{e}");
    assert!(e.contains("db.example"), "{e}");
    // verify-ca does not check the name.
    lab::open_store(&format!(
        "{wrong_host}?hostaddr=127.0.0.1&sslmode=verify-ca&sslrootcert={ca}"
    ))
    .unwrap();
    // A CA file that is missing or is not one.
    let e = lab::open_store(&format!(
        "{base}?sslmode=verify-full&sslrootcert=/no/ca.pem"
    ))
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("sslrootcert /no/ca.pem"), "{e}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let e = lab::open_store(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        junk.display()
    ))
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("holds no PEM certificate"), "{e}");
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
    downgrade(&b, 1);
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

/// Says in `cargo test`'s own output when the PostgreSQL halves of the store tests could not run here.
#[test]
#[cfg_attr(
    no_postgres,
    ignore = "no PostgreSQL here, so the PostgreSQL halves of the store tests were skipped: install it (apt-get install postgresql) or set GRADLAB_PG_BIN to its bin folder, then run cargo test again"
)]
fn postgres_is_installed_for_these_tests() {
    assert!(
        support::find_pg::find_pg_bin().is_some(),
        "no PostgreSQL binaries (initdb, pg_ctl): the PostgreSQL halves of the store tests cannot run"
    );
}

/// Regression (runner test `a_second_runner_on_one_sqlite_store_leaves_the_first_ones_runs_alone`,
/// now and then): two handles opening one new SQLite store at the same moment, one failed with
/// "cannot switch to WAL mode: database is locked" — SQLite does not wait through the busy
/// handler for that lock. Many at once must all open.
#[test]
fn many_handles_opening_one_new_sqlite_store_at_once_all_succeed() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    lab::store::sqlite::SqliteStore::open(&path)
                        .unwrap_or_else(|e| panic!("round {round}: {e}"));
                });
            }
        });
    }
}
