//! PostgreSQL store (many workers on many machines).
//!
//! A claim is a row lock: the claiming worker takes a connection of its own, `BEGIN`s, selects
//! one pending run `FOR UPDATE SKIP LOCKED` and keeps that transaction open while it trains;
//! `complete` writes the result rows, sets the run `done` and `COMMIT`s. When a worker dies its
//! connection drops, the server rolls the transaction back and the run is pending (and
//! claimable) again. So a run's `status` column is only ever `pending`, `done` or `failed`.
//!
//! Which pending runs are being trained: the claim transaction also takes a transaction-scoped
//! advisory lock on (`hashtext(study)`, `hashtext(key)`), which lives and dies with the row lock
//! and, unlike row locks, is listed in `pg_locks` (visible to every role). `counts().running` and
//! the `Running` state in `runs()` are the pending runs whose advisory lock is held; a (very
//! unlikely) 64-bit hash collision could only mislabel a pending run as running in these
//! displays, never change what is claimed.
//!
//! Attempts: a claim also writes, on a separate autocommit connection (the run row itself stays
//! locked until the claim ends), the worker's name, start time and the run's attempt count to
//! the `claims` table, where they outlive a worker that dies. A claim that ends (done, failed)
//! deletes that row; one released cleanly gives its attempt back. A pending run whose count has
//! reached `MAX_ATTEMPTS` stopped its worker that many times: the next worker to lock it stores
//! it failed instead of training it, and claims another. Fewest attempts are claimed first.
//! Nothing else ever resets a run: `recover` has nothing to do, and a live worker's row lock
//! cannot be taken.
//!
//! Connection settings and their display without the password: `settings`; TLS: `tls`.

mod settings;
mod tls;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::{Client, Config, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use self::settings::SslMode;
use super::rows::{
    self, params_json, parse_state, stopped_worker_error, Finish, ResultRows, SpecColumns,
    MAX_ATTEMPTS, MIGRATE_1_TO_2, SCHEMA_VERSION,
};
use crate::{
    Claim, Counts, FindingRow, LabError, Result, RunRecord, RunResult, RunSpec, RunState, Store,
};

/// Advisory lock (single-bigint form) serialising schema creation between workers.
const SCHEMA_LOCK: i64 = 0x6772_6164_6c61_6201; // "gradlab\x01"

/// [`rows::SPEC_COLUMNS`] of `runs r`.
const R_SPEC_COLUMNS: &str =
    "r.key, r.problem, r.optimizer, r.phase, r.trial, r.seed, r.params, r.config";

/// Idle connections kept for reuse.
const POOL_MAX: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS studies(
  name TEXT PRIMARY KEY, definition TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  resolved TEXT);
CREATE TABLE IF NOT EXISTS runs(
  study TEXT NOT NULL, key TEXT NOT NULL, problem TEXT NOT NULL, optimizer TEXT NOT NULL,
  phase TEXT NOT NULL, trial BIGINT NOT NULL, seed BIGINT NOT NULL, params TEXT NOT NULL,
  config TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', worker TEXT, error TEXT,
  stop TEXT, diverged BOOLEAN, steps BIGINT, epochs BIGINT, wall_s DOUBLE PRECISION,
  started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, PRIMARY KEY(study, key));
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(study, status, key);
CREATE TABLE IF NOT EXISTS step_metrics(
  study TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL, step BIGINT NOT NULL,
  loss DOUBLE PRECISION, PRIMARY KEY(study, key, idx));
CREATE TABLE IF NOT EXISTS epoch_metrics(
  study TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL, epoch BIGINT NOT NULL,
  step BIGINT NOT NULL, train_loss DOUBLE PRECISION, train_accuracy DOUBLE PRECISION,
  val_loss DOUBLE PRECISION, val_accuracy DOUBLE PRECISION, test_loss DOUBLE PRECISION,
  test_accuracy DOUBLE PRECISION, lr DOUBLE PRECISION NOT NULL, time_s DOUBLE PRECISION NOT NULL,
  examples_per_s DOUBLE PRECISION NOT NULL, PRIMARY KEY(study, key, idx));
CREATE TABLE IF NOT EXISTS findings(
  study TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL, kind TEXT NOT NULL,
  first_step BIGINT NOT NULL, last_step BIGINT NOT NULL, confidence DOUBLE PRECISION NOT NULL,
  summary TEXT NOT NULL, PRIMARY KEY(study, key, idx));
CREATE TABLE IF NOT EXISTS claims(
  study TEXT NOT NULL, key TEXT NOT NULL, worker TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(), attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(study, key));
";

/// Version 2 to 3: the attempt count. Claims made before it count from 0.
const MIGRATE_2_TO_3: &str = "ALTER TABLE claims ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0";

/// `held`: the (study hash, key hash) pairs of the claim advisory locks now held in this database.
const HELD: &str = "held AS (SELECT classid, objid FROM pg_locks
  WHERE locktype = 'advisory' AND objsubid = 2 AND granted
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))";

/// True for a pending run `r` whose claim advisory lock is held (needs `held`).
const LOCKED: &str = "(r.status = 'pending' AND (hashtext(r.study)::oid, hashtext(r.key)::oid)
  IN (SELECT classid, objid FROM held))";

struct PgInner {
    config: Config,
    tls: MakeRustlsConnect,
    /// The parsed settings without the password.
    shown: String,
    pool: Mutex<Vec<Client>>,
}

impl PgInner {
    fn err(&self, what: &str, e: impl std::fmt::Display) -> LabError {
        LabError::Store {
            store: self.shown.clone(),
            message: format!("{what}: {e}"),
        }
    }

    fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        let mut c = self.config.connect(self.tls.clone())?;
        // A claim keeps its transaction open while the run trains: never time it out.
        c.batch_execute("SET idle_in_transaction_session_timeout = 0")?;
        Ok(c)
    }

    /// An idle pooled connection, or a new one.
    fn get(&self, what: &str) -> Result<Client> {
        loop {
            let c = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match c {
                Some(c) if !c.is_closed() => return Ok(c),
                Some(_) => continue,
                None => return self.connect().map_err(|e| self.err(what, msg(&e))),
            }
        }
    }

    fn put(&self, c: Client) {
        if c.is_closed() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(c);
        }
    }

    /// Runs `f` on a pooled connection (autocommit unless `f` begins a transaction); the
    /// connection goes back to the pool unless `f` failed.
    fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Client) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut c = self.get(what)?;
        match f(&mut c) {
            Ok(v) => {
                self.put(c);
                Ok(v)
            }
            Err(e) => Err(self.err(what, msg(&e))),
        }
    }
}

/// The PostgreSQL results store.
pub struct PgStore {
    inner: Arc<PgInner>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=MODE`; a user
    /// name or password holding `@` writes it `%40`) at once, so that an unreachable server, a
    /// refused certificate, failed authentication or a missing database is reported here, and
    /// creates the schema if absent (serialised between workers by an advisory lock), migrates
    /// an older one or checks its version. `sslmode` is libpq's (`disable`, `prefer`, `require`,
    /// `verify-ca`, `verify-full`), with `sslrootcert=PATH` for the CA file: see `tls`. The
    /// store shows itself, and every error, from the parsed settings, without the password.
    pub fn connect(url: &str) -> Result<PgStore> {
        let settings::Settings {
            mut config,
            sslmode,
            root_cert,
            shown,
        } = settings::parse(url).map_err(|message| LabError::Store {
            store: settings::NOT_SHOWN.into(),
            message,
        })?;
        let tls =
            tls::connector(sslmode, root_cert.as_deref()).map_err(|message| LabError::Store {
                store: shown.clone(),
                message,
            })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let inner = Arc::new(PgInner {
            config,
            tls,
            shown,
            pool: Mutex::new(Vec::new()),
        });
        let mut c = inner.connect().map_err(|e| {
            let hint = match sslmode {
                SslMode::VerifyCa => ", is the server's certificate signed by the sslrootcert CA",
                SslMode::VerifyFull => {
                    ", is the server's certificate signed by the sslrootcert CA and for this host"
                }
                _ => "",
            };
            inner.err(
                &format!(
                    "cannot connect (is the server running and reachable, are the user, \
                     password and database name right{hint}?)"
                ),
                msg(&e),
            )
        })?;
        create_schema(&mut c).map_err(|e| inner.err("cannot create or check the schema", e))?;
        inner.put(c);
        Ok(PgStore { inner })
    }
}

fn create_schema(c: &mut Client) -> std::result::Result<(), String> {
    let e = |e: postgres::Error| msg(&e);
    let mut tx = c.transaction().map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(e)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS gradlab_meta(name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )
    .map_err(e)?;
    let version: Option<String> = tx
        .query_opt(
            "SELECT value FROM gradlab_meta WHERE name = 'schema_version'",
            &[],
        )
        .map_err(e)?
        .map(|r| r.get(0));
    match version {
        None => {
            tx.batch_execute(SCHEMA).map_err(e)?;
            tx.execute(
                "INSERT INTO gradlab_meta(name, value) VALUES ('schema_version', $1)",
                &[&SCHEMA_VERSION.to_string()],
            )
            .map_err(e)?;
        }
        Some(v) => {
            // Under the schema lock, in the transaction: workers starting together migrate once.
            let steps = rows::migrations(&v, &[MIGRATE_1_TO_2, MIGRATE_2_TO_3])?;
            for step in steps {
                tx.batch_execute(step).map_err(|e| {
                    format!("cannot migrate the schema from version {v}: {}", msg(&e))
                })?;
            }
            if !steps.is_empty() {
                tx.execute(
                    "UPDATE gradlab_meta SET value = $1 WHERE name = 'schema_version'",
                    &[&SCHEMA_VERSION.to_string()],
                )
                .map_err(e)?;
            }
        }
    }
    tx.commit().map_err(e)
}

/// An error with its causes (`postgres::Error` displays only its kind, e.g. "db error").
fn msg(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text = format!("{text}: {t}");
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

impl Store for PgStore {
    fn describe(&self) -> String {
        self.inner.shown.clone()
    }

    fn open_study(&self, study: &str, text: &str, resolved: &str) -> Result<()> {
        let inner = &self.inner;
        let what = format!("cannot open study {study:?}");
        // Each statement is atomic on its own: a worker opening the study concurrently either
        // inserts it or finds it; a study stored without its resolution gets this one's only if
        // its text is the same (and only once: the first UPDATE wins, the others then compare).
        let (stored, stored_resolved): (String, Option<String>) = inner.with(&what, |c| {
            c.execute(
                "INSERT INTO studies(name, definition, resolved) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&study, &text, &resolved],
            )?;
            c.execute(
                "UPDATE studies SET resolved = $3
                 WHERE name = $1 AND definition = $2 AND resolved IS NULL",
                &[&study, &text, &resolved],
            )?;
            let r = c.query_one(
                "SELECT definition, resolved FROM studies WHERE name = $1",
                &[&study],
            )?;
            Ok((r.get(0), r.get(1)))
        })?;
        super::check_study(study, &stored, stored_resolved.as_deref(), text, resolved)
            .map_err(|m| inner.err(&what, m))
    }

    fn enqueue(&self, study: &str, runs: &[RunSpec]) -> Result<usize> {
        let what = format!("cannot enqueue runs of study {study:?}");
        let keys: Vec<&str> = runs.iter().map(|r| r.key.as_str()).collect();
        let problems: Vec<&str> = runs.iter().map(|r| r.problem.as_str()).collect();
        let optimizers: Vec<&str> = runs.iter().map(|r| r.optimizer.as_str()).collect();
        let phases: Vec<&str> = runs.iter().map(|r| r.phase.as_str()).collect();
        let trials: Vec<i64> = runs.iter().map(|r| r.trial as i64).collect();
        let seeds: Vec<i64> = runs.iter().map(|r| r.seed as i64).collect();
        let params: Vec<String> = runs.iter().map(|r| params_json(&r.params)).collect();
        let configs: Vec<&str> = runs.iter().map(|r| r.config.as_str()).collect();
        let n = self.inner.with(&what, |c| {
            c.execute(
                "INSERT INTO runs(study, key, problem, optimizer, phase, trial, seed, params,
                   config, status)
                 SELECT $1, k, p, o, ph, t, s, pa, co, 'pending'
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                             $7::bigint[], $8::text[], $9::text[])
                   AS u(k, p, o, ph, t, s, pa, co)
                 ON CONFLICT (study, key) DO NOTHING",
                &[
                    &study,
                    &keys,
                    &problems,
                    &optimizers,
                    &phases,
                    &trials,
                    &seeds,
                    &params,
                    &configs,
                ],
            )
        })?;
        Ok(n as usize)
    }

    /// Claims are row locks that a dead worker's connection releases, and the `claims` rows
    /// they leave behind keep the attempt counts: there is nothing to recover. Returns 0.
    fn recover(&self, _study: &str) -> Result<usize> {
        Ok(0)
    }

    fn claim(&self, study: &str, worker: &str) -> Result<Option<Box<dyn Claim>>> {
        let inner = &self.inner;
        let what = format!("cannot claim a run of study {study:?}");
        loop {
            let mut c = inner.get(&what)?;
            let row = (|| {
                c.batch_execute("BEGIN")?;
                // Fewest attempts first: a run that stopped its worker is retried after the
                // fresh ones.
                let row = c.query_opt(
                    &format!(
                        "SELECT {R_SPEC_COLUMNS}, coalesce(cl.attempts, 0), cl.worker
                         FROM runs r LEFT JOIN claims cl ON cl.study = r.study AND cl.key = r.key
                         WHERE r.study = $1 AND r.status = 'pending'
                         ORDER BY coalesce(cl.attempts, 0), r.key
                         FOR UPDATE OF r SKIP LOCKED LIMIT 1"
                    ),
                    &[&study],
                )?;
                match &row {
                    Some(r) => {
                        let key: &str = r.get(0);
                        c.execute(
                            "SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2))",
                            &[&study, &key],
                        )?;
                    }
                    None => c.batch_execute("ROLLBACK")?,
                }
                Ok::<_, postgres::Error>(row)
            })();
            let row = match row {
                Ok(row) => row,
                Err(e) => return Err(inner.err(&what, msg(&e))), // the connection is dropped (rolled back)
            };
            let Some(row) = row else {
                inner.put(c);
                return Ok(None);
            };
            let spec = spec_from_row(&row).map_err(|e| inner.err(&what, e))?;
            let attempts: i32 = row.try_get(8).map_err(|e| inner.err(&what, msg(&e)))?;
            if i64::from(attempts) >= MAX_ATTEMPTS {
                let last_worker: Option<String> =
                    row.try_get(9).map_err(|e| inner.err(&what, msg(&e)))?;
                give_up(&mut c, study, &spec.key, last_worker.as_deref(), attempts)
                    .map_err(|e| inner.err(&what, msg(&e)))?;
                inner.put(c);
                continue;
            }
            // On another connection, so that it outlives this claim's transaction: counted even
            // if the worker dies.
            inner.with(&what, |d| {
                d.execute(
                    "INSERT INTO claims(study, key, worker, attempts) VALUES ($1, $2, $3, 1)
                     ON CONFLICT (study, key) DO UPDATE SET worker = excluded.worker,
                       started_at = excluded.started_at, attempts = claims.attempts + 1",
                    &[&study, &spec.key, &worker],
                )
            })?;
            return Ok(Some(Box::new(PgClaim {
                inner: Arc::clone(inner),
                client: Some(c),
                study: study.to_string(),
                worker: worker.to_string(),
                spec,
            })));
        }
    }

    fn runs(&self, study: &str) -> Result<Vec<RunRecord>> {
        let inner = &self.inner;
        let what = format!("cannot read the runs of study {study:?}");
        let (runs, steps, epochs, findings) = inner.with(&what, |c| {
            // One snapshot for the four queries.
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let runs = tx.query(
                &format!(
                    "WITH {HELD} SELECT {R_SPEC_COLUMNS}, r.status, {LOCKED} AS locked,
                       coalesce(r.worker, cl.worker), r.error, r.stop, r.diverged, r.steps,
                       r.epochs, r.wall_s
                     FROM runs r LEFT JOIN claims cl ON cl.study = r.study AND cl.key = r.key
                     WHERE r.study = $1 ORDER BY r.key"
                ),
                &[&study],
            )?;
            let steps = tx.query(
                "SELECT key, step, loss FROM step_metrics WHERE study = $1 ORDER BY key, idx",
                &[&study],
            )?;
            let epochs = tx.query(
                "SELECT key, epoch, step, train_loss, train_accuracy, val_loss, val_accuracy,
                   test_loss, test_accuracy, lr, time_s, examples_per_s
                 FROM epoch_metrics WHERE study = $1 ORDER BY key, idx",
                &[&study],
            )?;
            let findings = tx.query(
                "SELECT key, kind, first_step, last_step, confidence, summary
                 FROM findings WHERE study = $1 ORDER BY key, idx",
                &[&study],
            )?;
            tx.commit()?;
            Ok((runs, steps, epochs, findings))
        })?;
        assemble(runs, steps, epochs, findings).map_err(|e| inner.err(&what, e))
    }

    fn counts(&self, study: &str) -> Result<Counts> {
        let inner = &self.inner;
        let what = format!("cannot count the runs of study {study:?}");
        let rows = inner.with(&what, |c| {
            c.query(
                &format!(
                    "WITH {HELD} SELECT r.status, {LOCKED} AS locked, count(*)
                     FROM runs r WHERE r.study = $1 GROUP BY 1, 2"
                ),
                &[&study],
            )
        })?;
        let mut counts = Counts::default();
        for r in rows {
            let status: String = r.get(0);
            let locked: bool = r.get(1);
            let n = r.get::<_, i64>(2) as usize;
            match parse_state(&status).map_err(|e| inner.err(&what, e))? {
                RunState::Pending if locked => counts.running += n,
                RunState::Pending => counts.pending += n,
                RunState::Running => counts.running += n,
                RunState::Done => counts.done += n,
                RunState::Failed => counts.failed += n,
            }
        }
        Ok(counts)
    }

    fn studies(&self) -> Result<Vec<(String, String)>> {
        let inner = &self.inner;
        let what = "cannot list its studies";
        let rows = inner.with(what, |c| {
            c.query(
                "SELECT name, COALESCE(resolved, definition) FROM studies ORDER BY name",
                &[],
            )
        })?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// Stores the run `key`, locked by `c`'s open transaction, failed after it stopped its worker
/// (`last_worker`, the one that claimed it last) `attempts` times, and commits.
fn give_up(
    c: &mut Client,
    study: &str,
    key: &str,
    last_worker: Option<&str>,
    attempts: i32,
) -> std::result::Result<(), postgres::Error> {
    c.execute(
        "UPDATE runs SET status = 'failed', worker = $3, error = $4, finished_at = clock_timestamp()
         WHERE study = $1 AND key = $2 AND status = 'pending'",
        &[&study, &key, &last_worker, &stopped_worker_error(attempts.into())],
    )?;
    c.execute(
        "DELETE FROM claims WHERE study = $1 AND key = $2",
        &[&study, &key],
    )?;
    c.batch_execute("COMMIT")
}

/// A claimed run: its connection holds the open transaction with the row lock.
struct PgClaim {
    inner: Arc<PgInner>,
    /// `None` once completed or failed.
    client: Option<Client>,
    study: String,
    worker: String,
    spec: RunSpec,
}

impl PgClaim {
    fn what(&self, verb: &str) -> String {
        format!(
            "cannot {verb} run {} ({} / {}) of study {:?}",
            self.spec.key, self.spec.problem, self.spec.optimizer, self.study
        )
    }

    /// Runs `f` in the claim's transaction and commits; the connection returns to the pool on
    /// success. On failure the connection is closed (the server rolls back: the run is pending).
    fn finish(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Client, &str, &str) -> std::result::Result<u64, postgres::Error>,
    ) -> Result<()> {
        let Some(mut c) = self.client.take() else {
            return Err(self.inner.err(what, "the claim has already ended"));
        };
        let r: std::result::Result<u64, postgres::Error> = (|| {
            let n = f(&mut c, &self.study, &self.spec.key)?;
            if n != 1 {
                return Ok(n);
            }
            c.execute(
                "DELETE FROM claims WHERE study = $1 AND key = $2",
                &[&self.study, &self.spec.key],
            )?;
            c.batch_execute("COMMIT")?;
            Ok(n)
        })();
        match r {
            Ok(1) => {
                self.inner.put(c);
                Ok(())
            }
            Ok(n) => Err(self.inner.err(
                what,
                format!("expected to update the one pending row of the run, updated {n}"),
            )),
            Err(e) => Err(self.inner.err(
                what,
                format!(
                    "{} (the run stays pending and will be claimed again)",
                    msg(&e)
                ),
            )),
        }
    }
}

impl Claim for PgClaim {
    fn spec(&self) -> &RunSpec {
        &self.spec
    }

    fn complete(mut self: Box<Self>, result: &RunResult) -> Result<()> {
        let what = self.what("store the result of");
        let worker = self.worker.clone();
        self.finish(&what, |c, study, key| {
            let n = c.execute(
                "UPDATE runs SET status = 'done', worker = $3, error = NULL, stop = $4,
                   diverged = $5, steps = $6, epochs = $7, wall_s = $8, started_at = now(),
                   finished_at = clock_timestamp()
                 WHERE study = $1 AND key = $2 AND status = 'pending'",
                &[
                    &study,
                    &key,
                    &worker,
                    &result.stop,
                    &result.diverged,
                    &(result.steps as i64),
                    &(result.epochs as i64),
                    &result.wall_s,
                ],
            )?;
            for table in ["step_metrics", "epoch_metrics", "findings"] {
                c.execute(
                    &format!("DELETE FROM {table} WHERE study = $1 AND key = $2"),
                    &[&study, &key],
                )?;
            }
            let idx: Vec<i32> = (0..result.step_losses.len() as i32).collect();
            let steps: Vec<i64> = result.step_losses.iter().map(|s| s.0 as i64).collect();
            let losses: Vec<f64> = result.step_losses.iter().map(|s| s.1).collect();
            c.execute(
                "INSERT INTO step_metrics(study, key, idx, step, loss)
                 SELECT $1, $2, i, s, l FROM unnest($3::int[], $4::bigint[], $5::float8[])
                   AS u(i, s, l)",
                &[&study, &key, &idx, &steps, &losses],
            )?;
            let e = &result.epochs_log;
            let idx: Vec<i32> = (0..e.len() as i32).collect();
            let col = |f: fn(&train::EpochRecord) -> Option<f64>| -> Vec<Option<f64>> {
                e.iter().map(f).collect()
            };
            c.execute(
                "INSERT INTO epoch_metrics(study, key, idx, epoch, step, train_loss,
                   train_accuracy, val_loss, val_accuracy, test_loss, test_accuracy, lr, time_s,
                   examples_per_s)
                 SELECT $1, $2, u.* FROM unnest($3::int[], $4::bigint[], $5::bigint[],
                   $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[],
                   $11::float8[], $12::float8[], $13::float8[], $14::float8[]) AS u",
                &[
                    &study,
                    &key,
                    &idx,
                    &e.iter().map(|r| r.epoch as i64).collect::<Vec<i64>>(),
                    &e.iter().map(|r| r.step as i64).collect::<Vec<i64>>(),
                    &col(|r| r.train_loss),
                    &col(|r| r.train_accuracy),
                    &col(|r| r.val_loss),
                    &col(|r| r.val_accuracy),
                    &col(|r| r.test_loss),
                    &col(|r| r.test_accuracy),
                    &e.iter().map(|r| r.lr).collect::<Vec<f64>>(),
                    &e.iter().map(|r| r.time_s).collect::<Vec<f64>>(),
                    &e.iter().map(|r| r.examples_per_s).collect::<Vec<f64>>(),
                ],
            )?;
            let f = &result.findings;
            let idx: Vec<i32> = (0..f.len() as i32).collect();
            c.execute(
                "INSERT INTO findings(study, key, idx, kind, first_step, last_step, confidence,
                   summary)
                 SELECT $1, $2, u.* FROM unnest($3::int[], $4::text[], $5::bigint[],
                   $6::bigint[], $7::float8[], $8::text[]) AS u",
                &[
                    &study,
                    &key,
                    &idx,
                    &f.iter().map(|r| r.kind.as_str()).collect::<Vec<&str>>(),
                    &f.iter().map(|r| r.first_step as i64).collect::<Vec<i64>>(),
                    &f.iter().map(|r| r.last_step as i64).collect::<Vec<i64>>(),
                    &f.iter().map(|r| r.confidence).collect::<Vec<f64>>(),
                    &f.iter().map(|r| r.summary.as_str()).collect::<Vec<&str>>(),
                ],
            )?;
            Ok(n)
        })
    }

    fn fail(mut self: Box<Self>, error: &str) -> Result<()> {
        let what = self.what("record the failure of");
        let worker = self.worker.clone();
        self.finish(&what, |c, study, key| {
            let n = c.execute(
                "UPDATE runs SET status = 'failed', worker = $3, error = $4, started_at = now(),
                   finished_at = clock_timestamp()
                 WHERE study = $1 AND key = $2 AND status = 'pending'",
                &[&study, &key, &worker, &error],
            )?;
            Ok(n)
        })
    }
}

impl Drop for PgClaim {
    fn drop(&mut self) {
        // Released unfinished: roll back (the run is pending again) and give the attempt back,
        // since the worker lives.
        if let Some(mut c) = self.client.take() {
            let ok = c.batch_execute("ROLLBACK").is_ok()
                && c.execute(
                    "DELETE FROM claims WHERE study = $1 AND key = $2 AND attempts <= 1",
                    &[&self.study, &self.spec.key],
                )
                .is_ok()
                && c.execute(
                    "UPDATE claims SET attempts = attempts - 1 WHERE study = $1 AND key = $2",
                    &[&self.study, &self.spec.key],
                )
                .is_ok();
            if ok {
                self.inner.put(c);
            }
        }
    }
}

fn spec_from_row(r: &Row) -> std::result::Result<RunSpec, String> {
    let key: String = r.try_get(0).map_err(|e| msg(&e))?;
    let e = |e: postgres::Error| format!("run {key}: {}", msg(&e));
    rows::spec(SpecColumns {
        problem: r.try_get(1).map_err(e)?,
        optimizer: r.try_get(2).map_err(e)?,
        phase: r.try_get(3).map_err(e)?,
        trial: r.try_get(4).map_err(e)?,
        seed: r.try_get(5).map_err(e)?,
        params: r.try_get(6).map_err(e)?,
        config: r.try_get(7).map_err(e)?,
        key,
    })
}

fn assemble(
    runs: Vec<Row>,
    steps: Vec<Row>,
    epochs: Vec<Row>,
    findings: Vec<Row>,
) -> std::result::Result<Vec<RunRecord>, String> {
    let e = |e: postgres::Error| msg(&e);
    let mut results = ResultRows::default();
    for r in &steps {
        let loss: Option<f64> = r.try_get(2).map_err(e)?;
        results
            .steps
            .entry(r.try_get(0).map_err(e)?)
            .or_default()
            .push((
                r.try_get::<_, i64>(1).map_err(e)? as u64,
                loss.unwrap_or(f64::NAN),
            ));
    }
    for r in &epochs {
        results
            .epochs
            .entry(r.try_get(0).map_err(e)?)
            .or_default()
            .push(train::EpochRecord {
                epoch: r.try_get::<_, i64>(1).map_err(e)? as usize,
                step: r.try_get::<_, i64>(2).map_err(e)? as u64,
                train_loss: r.try_get(3).map_err(e)?,
                train_accuracy: r.try_get(4).map_err(e)?,
                val_loss: r.try_get(5).map_err(e)?,
                val_accuracy: r.try_get(6).map_err(e)?,
                test_loss: r.try_get(7).map_err(e)?,
                test_accuracy: r.try_get(8).map_err(e)?,
                lr: r.try_get(9).map_err(e)?,
                time_s: r.try_get(10).map_err(e)?,
                examples_per_s: r.try_get(11).map_err(e)?,
            });
    }
    for r in &findings {
        results
            .findings
            .entry(r.try_get(0).map_err(e)?)
            .or_default()
            .push(FindingRow {
                kind: r.try_get(1).map_err(e)?,
                first_step: r.try_get::<_, i64>(2).map_err(e)? as u64,
                last_step: r.try_get::<_, i64>(3).map_err(e)? as u64,
                confidence: r.try_get(4).map_err(e)?,
                summary: r.try_get(5).map_err(e)?,
            });
    }
    let mut out = Vec::with_capacity(runs.len());
    for r in &runs {
        let spec = spec_from_row(r)?;
        let status: &str = r.try_get(8).map_err(e)?;
        let locked: bool = r.try_get(9).map_err(e)?;
        let state = match parse_state(status)? {
            RunState::Pending if locked => RunState::Running,
            s => s,
        };
        let worker: Option<String> = match state {
            RunState::Pending => None,
            _ => r.try_get(10).map_err(e)?,
        };
        let error: Option<String> = r.try_get(11).map_err(e)?;
        let stop: Option<String> = r.try_get(12).map_err(e)?;
        out.push(results.record(spec, state, worker, error, stop, || {
            Ok(Finish {
                diverged: r.try_get(13).map_err(e)?,
                steps: r.try_get(14).map_err(e)?,
                epochs: r.try_get(15).map_err(e)?,
                wall_s: r.try_get(16).map_err(e)?,
            })
        })?);
    }
    Ok(out)
}
