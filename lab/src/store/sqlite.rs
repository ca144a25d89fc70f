//! SQLite store (the default): one file, on one machine, shared by any number of processes.
//! Each store is a `Mutex<Connection>` in WAL mode with a busy timeout and `synchronous=FULL`:
//! a commit is on disk when it returns, so a run stored done survives a power loss too (with
//! `NORMAL` the last commits could roll back). It costs one WAL fsync per claim and per stored
//! result; the README gives its measured cost on the default study.
//!
//! Claims: a claim marks one pending row `running` (fewest attempts first, then lowest key),
//! counts the attempt, and names the claiming store's owner, whose process holds that owner's
//! OS lock while it lives (see `owner`). `complete` writes the result rows and `done` in ONE
//! transaction. `recover` (at start, and whenever a runner finds nothing to claim) takes back
//! only the runs of owners whose lock is free, i.e. whose process died: back to `pending`, or
//! stored `failed` once a run has stopped its worker `MAX_ATTEMPTS` times. A run claimed by a
//! live process, in this or any other process, is never reset. Rows claimed by a gradlab older
//! than schema version 3 name no owner and count as a dead process's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Row, ToSql};

use super::owner::{self, Owner};
use super::rows::{
    self, params_json, parse_state, stopped_worker_error, Finish, ResultRows, SpecColumns,
    MAX_ATTEMPTS, MIGRATE_1_TO_2, SCHEMA_VERSION, SPEC_COLUMNS,
};
use crate::{
    Claim, Counts, FindingRow, LabError, Result, RunRecord, RunResult, RunSpec, RunState, Store,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS studies(
  name TEXT PRIMARY KEY, definition TEXT NOT NULL, created_at TEXT NOT NULL, resolved TEXT);
CREATE TABLE IF NOT EXISTS runs(
  study TEXT NOT NULL, key TEXT NOT NULL, problem TEXT NOT NULL, optimizer TEXT NOT NULL,
  phase TEXT NOT NULL, trial INTEGER NOT NULL, seed INTEGER NOT NULL, params TEXT NOT NULL,
  config TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', worker TEXT, error TEXT,
  stop TEXT, diverged INTEGER, steps INTEGER, epochs INTEGER, wall_s REAL,
  started_at TEXT, finished_at TEXT, owner TEXT, attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(study, key));
CREATE INDEX IF NOT EXISTS runs_by_claim ON runs(study, status, attempts, key);
CREATE TABLE IF NOT EXISTS step_metrics(
  study TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL, step INTEGER NOT NULL, loss REAL,
  PRIMARY KEY(study, key, idx));
CREATE TABLE IF NOT EXISTS epoch_metrics(
  study TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL, epoch INTEGER NOT NULL,
  step INTEGER NOT NULL, train_loss REAL, train_accuracy REAL, val_loss REAL, val_accuracy REAL,
  test_loss REAL, test_accuracy REAL, lr REAL, time_s REAL, examples_per_s REAL,
  PRIMARY KEY(study, key, idx));
CREATE TABLE IF NOT EXISTS findings(
  study TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL, kind TEXT NOT NULL,
  first_step INTEGER NOT NULL, last_step INTEGER NOT NULL, confidence REAL, summary TEXT NOT NULL,
  PRIMARY KEY(study, key, idx));
";

/// Version 2 to 3: the claim's owner and the attempt count. Runs left `running` by a version 2
/// process get no owner, which `recover` treats as a dead process's.
const MIGRATE_2_TO_3: &str = "
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS runs_by_status;
CREATE INDEX IF NOT EXISTS runs_by_claim ON runs(study, status, attempts, key);
";

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

struct Inner {
    path: PathBuf,
    /// The database file with symbolic links resolved: where the owner locks live, so that two
    /// processes opening it by different paths find the same locks.
    real_path: PathBuf,
    conn: Mutex<Connection>,
    /// This store's owner, taken at its first claim (a store that only reads takes none).
    owner: Mutex<Option<Owner>>,
}

impl Inner {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
    fn err(&self, what: &str, e: impl std::fmt::Display) -> LabError {
        LabError::Store {
            store: self.describe(),
            message: format!("{what}: {e}"),
        }
    }
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This store's owner id, taking its lock at the first call.
    fn owner_id(&self) -> Result<String> {
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = owner.as_ref() {
            return Ok(o.id().to_string());
        }
        let o = Owner::acquire(&self.real_path).map_err(|e| {
            self.err(
                &format!(
                    "cannot take the lock that marks this process's claims as live in {}",
                    owner::folder(&self.real_path).display()
                ),
                e,
            )
        })?;
        let id = o.id().to_string();
        *owner = Some(o);
        Ok(id)
    }

    /// Whether the owner `id` (read from a claimed row) is this store or a live process.
    fn owner_alive(&self, id: &str) -> Result<bool> {
        let own = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        if own.as_ref().is_some_and(|o| o.id() == id) {
            return Ok(true);
        }
        drop(own);
        owner::is_alive(&self.real_path, id).map_err(|e| {
            self.err(
                &format!(
                    "cannot check whether the process that claimed runs as {id} is alive (in {})",
                    owner::folder(&self.real_path).display()
                ),
                e,
            )
        })
    }
}

/// The SQLite results store.
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl SqliteStore {
    /// Opens (creating if absent) the database at `path`: WAL journal, `synchronous=FULL`, a 10 s
    /// busy timeout, the schema created if absent, an older one migrated, its version checked.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::create_dir_all(parent).map_err(|error| LabError::Io {
                    path: parent.display().to_string(),
                    error,
                })?;
            }
        }
        let store = |message: String| LabError::Store {
            store: format!("sqlite:{}", path.display()),
            message,
        };
        let conn = Connection::open(path).map_err(|e| store(format!("cannot open: {e}")))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| store(format!("cannot set the busy timeout: {e}")))?;
        // Switching a new database to WAL needs an exclusive lock, and SQLite does not wait for
        // it through the busy handler when another connection is doing the same (two processes
        // opening one new store at once): retry within the busy timeout.
        let t0 = std::time::Instant::now();
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
                Ok(mode) => break mode,
                Err(e)
                    if matches!(
                        e.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        )
                    ) && t0.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(store(format!("cannot switch to WAL mode: {e}"))),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            return Err(store(format!(
                "cannot switch to WAL mode (journal mode stays {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL")
            .map_err(|e| store(format!("cannot set synchronous=FULL: {e}")))?;
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            real_path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            conn: Mutex::new(conn),
            owner: Mutex::new(None),
        });
        let s = SqliteStore { inner };
        s.create_schema()?;
        Ok(s)
    }

    fn create_schema(&self) -> Result<()> {
        let inner = &self.inner;
        let mut conn = inner.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| inner.err("cannot create the schema", e))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS gradlab_meta(name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        .map_err(|e| inner.err("cannot create the schema", e))?;
        let version: Option<String> = tx
            .query_row(
                "SELECT value FROM gradlab_meta WHERE name='schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| inner.err("cannot read the schema version", e))?;
        match version {
            None => {
                tx.execute_batch(SCHEMA)
                    .map_err(|e| inner.err("cannot create the schema", e))?;
                tx.execute(
                    "INSERT INTO gradlab_meta(name, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(|e| inner.err("cannot write the schema version", e))?;
            }
            Some(v) => {
                let steps = rows::migrations(&v, &[MIGRATE_1_TO_2, MIGRATE_2_TO_3])
                    .map_err(|m| inner.err("cannot open", m))?;
                for step in steps {
                    tx.execute_batch(step).map_err(|e| {
                        inner.err(&format!("cannot migrate the schema from version {v}"), e)
                    })?;
                }
                if !steps.is_empty() {
                    tx.execute(
                        "UPDATE gradlab_meta SET value=?1 WHERE name='schema_version'",
                        [SCHEMA_VERSION.to_string()],
                    )
                    .map_err(|e| inner.err("cannot write the schema version", e))?;
                }
            }
        }
        tx.commit()
            .map_err(|e| inner.err("cannot create the schema", e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Caps the database at `pages` pages (`PRAGMA max_page_count`, 4 KiB pages): writes beyond
    /// fail as on a full disk ("database or disk is full"). For quotas and tests.
    pub fn limit_pages(&self, pages: u64) -> Result<()> {
        let inner = &self.inner;
        let conn = inner.lock();
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(|e| inner.err("cannot set max_page_count", e))
    }
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn open_study(&self, study: &str, text: &str, resolved: &str) -> Result<()> {
        let inner = &self.inner;
        let what = format!("cannot open study {study:?}");
        let mut conn = inner.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| inner.err(&what, e))?;
        let stored: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT definition, resolved FROM studies WHERE name=?1",
                [study],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| inner.err(&what, e))?;
        match stored {
            Some((stored, stored_resolved)) => {
                super::check_study(study, &stored, stored_resolved.as_deref(), text, resolved)
                    .map_err(|m| inner.err(&what, m))?;
                if stored_resolved.is_none() {
                    // Stored by a gradlab that did not keep the resolution: keep it from now on.
                    tx.execute(
                        "UPDATE studies SET resolved=?2 WHERE name=?1 AND resolved IS NULL",
                        params![study, resolved],
                    )
                    .map_err(|e| inner.err(&what, e))?;
                }
            }
            None => {
                tx.execute(
                    &format!(
                        "INSERT INTO studies(name, definition, created_at, resolved)
                         VALUES (?1, ?2, {NOW}, ?3)"
                    ),
                    params![study, text, resolved],
                )
                .map_err(|e| inner.err(&what, e))?;
            }
        }
        tx.commit().map_err(|e| inner.err(&what, e))
    }

    fn enqueue(&self, study: &str, runs: &[RunSpec]) -> Result<usize> {
        let inner = &self.inner;
        let what = format!("cannot enqueue runs of study {study:?}");
        let mut conn = inner.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| inner.err(&what, e))?;
        let mut added = 0;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT OR IGNORE INTO runs(study, key, problem, optimizer, phase, trial, seed,
                     params, config, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending')",
                )
                .map_err(|e| inner.err(&what, e))?;
            for r in runs {
                added += stmt
                    .execute(params![
                        study,
                        r.key,
                        r.problem,
                        r.optimizer,
                        r.phase.as_str(),
                        r.trial as i64,
                        r.seed as i64,
                        params_json(&r.params),
                        r.config,
                    ])
                    .map_err(|e| inner.err(&format!("{what} (run {})", r.key), e))?;
            }
        }
        tx.commit().map_err(|e| inner.err(&what, e))?;
        Ok(added)
    }

    fn recover(&self, study: &str) -> Result<usize> {
        let inner = &self.inner;
        let what = format!("cannot recover interrupted runs of study {study:?}");
        let owners: Vec<Option<String>> = {
            let conn = inner.lock();
            let mut stmt = conn
                .prepare("SELECT DISTINCT owner FROM runs WHERE study=?1 AND status='running'")
                .map_err(|e| inner.err(&what, e))?;
            let rows = stmt
                .query_map([study], |r| r.get(0))
                .map_err(|e| inner.err(&what, e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| inner.err(&what, e))?
        };
        // Checked outside the transaction: an owner found dead stays dead (ids are never reused).
        let mut dead = Vec::new();
        for owner in owners {
            match owner {
                Some(id) if inner.owner_alive(&id)? => {}
                other => dead.push(other),
            }
        }
        if dead.is_empty() {
            return Ok(0);
        }
        let mut conn = inner.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| inner.err(&what, e))?;
        let mut n = 0;
        for owner in &dead {
            let left: Vec<(String, i64)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT key, attempts FROM runs
                         WHERE study=?1 AND status='running' AND owner IS ?2",
                    )
                    .map_err(|e| inner.err(&what, e))?;
                let rows = stmt
                    .query_map(params![study, owner], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(|e| inner.err(&what, e))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(|e| inner.err(&what, e))?
            };
            for (key, attempts) in left {
                for table in ["step_metrics", "epoch_metrics", "findings"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE study=?1 AND key=?2"),
                        [study, &key],
                    )
                    .map_err(|e| inner.err(&what, e))?;
                }
                if attempts >= MAX_ATTEMPTS {
                    tx.execute(
                        &format!(
                            "UPDATE runs SET status='failed', owner=NULL, error=?3,
                             finished_at={NOW} WHERE study=?1 AND key=?2"
                        ),
                        params![study, key, stopped_worker_error(attempts)],
                    )
                } else {
                    tx.execute(
                        "UPDATE runs SET status='pending', owner=NULL, worker=NULL,
                         started_at=NULL WHERE study=?1 AND key=?2",
                        params![study, key],
                    )
                }
                .map_err(|e| inner.err(&what, e))?;
                n += 1;
            }
        }
        tx.commit().map_err(|e| inner.err(&what, e))?;
        Ok(n)
    }

    fn claim(&self, study: &str, worker: &str) -> Result<Option<Box<dyn Claim>>> {
        let inner = &self.inner;
        let what = format!("cannot claim a run of study {study:?}");
        let owner = inner.owner_id()?;
        let conn = inner.lock();
        // Fewest attempts first: a run that stopped its worker is retried after the fresh ones.
        let spec = conn
            .query_row(
                &format!(
                    "UPDATE runs SET status='running', owner=?3, worker=?2, started_at={NOW},
                       error=NULL, attempts=attempts+1
                     WHERE study=?1 AND key=(SELECT key FROM runs WHERE study=?1
                       AND status='pending' ORDER BY attempts, key LIMIT 1)
                     RETURNING {SPEC_COLUMNS}"
                ),
                params![study, worker, owner],
                |r| Ok(spec_from_row(r, 0)),
            )
            .optional()
            .map_err(|e| inner.err(&what, e))?;
        drop(conn);
        match spec {
            None => Ok(None),
            Some(spec) => {
                let spec = spec.map_err(|e| inner.err(&what, e))?;
                Ok(Some(Box::new(SqliteClaim {
                    inner: Arc::clone(inner),
                    study: study.to_string(),
                    owner,
                    spec,
                    open: true,
                })))
            }
        }
    }

    fn runs(&self, study: &str) -> Result<Vec<RunRecord>> {
        let inner = &self.inner;
        let what = format!("cannot read the runs of study {study:?}");
        let conn = inner.lock();
        read_runs(&conn, study).map_err(|e| inner.err(&what, e))
    }

    fn counts(&self, study: &str) -> Result<Counts> {
        let inner = &self.inner;
        let what = format!("cannot count the runs of study {study:?}");
        let conn = inner.lock();
        let mut stmt = conn
            .prepare("SELECT status, count(*) FROM runs WHERE study=?1 GROUP BY status")
            .map_err(|e| inner.err(&what, e))?;
        let rows = stmt
            .query_map([study], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| inner.err(&what, e))?;
        let mut c = Counts::default();
        for row in rows {
            let (status, n) = row.map_err(|e| inner.err(&what, e))?;
            let n = n as usize;
            match parse_state(&status).map_err(|e| inner.err(&what, e))? {
                RunState::Pending => c.pending += n,
                RunState::Running => c.running += n,
                RunState::Done => c.done += n,
                RunState::Failed => c.failed += n,
            }
        }
        Ok(c)
    }

    fn studies(&self) -> Result<Vec<(String, String)>> {
        let inner = &self.inner;
        let what = "cannot list its studies";
        let conn = inner.lock();
        let mut stmt = conn
            .prepare("SELECT name, COALESCE(resolved, definition) FROM studies ORDER BY name")
            .map_err(|e| inner.err(what, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| inner.err(what, e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| inner.err(what, e))
    }
}

/// Why a claim's `complete` or `fail` found its row no longer claimed by it.
const LOST: &str = "the run is no longer claimed by this store (its row was changed by hand, \
                    or this process's owner lock file was deleted while it ran)";

struct SqliteClaim {
    inner: Arc<Inner>,
    study: String,
    /// The claiming store's owner id: the claim holds while the row still names it.
    owner: String,
    spec: RunSpec,
    /// Still claimed (neither completed nor failed): dropping returns the run to pending.
    open: bool,
}

impl SqliteClaim {
    fn what(&self, verb: &str) -> String {
        format!(
            "cannot {verb} run {} ({} / {}) of study {:?}",
            self.spec.key, self.spec.problem, self.spec.optimizer, self.study
        )
    }
}

impl Claim for SqliteClaim {
    fn spec(&self) -> &RunSpec {
        &self.spec
    }

    fn complete(mut self: Box<Self>, result: &RunResult) -> Result<()> {
        let what = self.what("store the result of");
        let inner = Arc::clone(&self.inner);
        let mut conn = inner.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| inner.err(&what, e))?;
        let key = self.spec.key.as_str();
        let study = self.study.as_str();
        let n = tx
            .execute(
                &format!(
                    "UPDATE runs SET status='done', stop=?3, diverged=?4, steps=?5, epochs=?6,
                     wall_s=?7, error=NULL, finished_at={NOW}, owner=NULL
                     WHERE study=?1 AND key=?2 AND status='running' AND owner=?8"
                ),
                params![
                    study,
                    key,
                    result.stop,
                    result.diverged,
                    result.steps as i64,
                    result.epochs as i64,
                    F(result.wall_s),
                    self.owner,
                ],
            )
            .map_err(|e| inner.err(&what, e))?;
        if n != 1 {
            return Err(inner.err(&what, LOST));
        }
        write_result_rows(&tx, study, key, result).map_err(|e| inner.err(&what, e))?;
        tx.commit().map_err(|e| inner.err(&what, e))?;
        self.open = false;
        Ok(())
    }

    fn fail(mut self: Box<Self>, error: &str) -> Result<()> {
        let what = self.what("record the failure of");
        let inner = Arc::clone(&self.inner);
        let conn = inner.lock();
        let n = conn
            .execute(
                &format!(
                    "UPDATE runs SET status='failed', error=?3, finished_at={NOW}, owner=NULL
                     WHERE study=?1 AND key=?2 AND status='running' AND owner=?4"
                ),
                params![self.study, self.spec.key, error, self.owner],
            )
            .map_err(|e| inner.err(&what, e))?;
        if n != 1 {
            return Err(inner.err(&what, LOST));
        }
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteClaim {
    fn drop(&mut self) {
        if self.open {
            // Released unfinished: back to the queue, its attempt given back since its worker
            // lives (best effort: `recover` takes it back once this process has ended).
            let conn = self.inner.lock();
            let _ = conn.execute(
                "UPDATE runs SET status='pending', owner=NULL, worker=NULL, started_at=NULL,
                   attempts=max(attempts-1, 0)
                 WHERE study=?1 AND key=?2 AND status='running' AND owner=?3",
                params![self.study, self.spec.key, self.owner],
            );
        }
    }
}

fn write_result_rows(
    tx: &rusqlite::Transaction<'_>,
    study: &str,
    key: &str,
    result: &RunResult,
) -> rusqlite::Result<()> {
    for table in ["step_metrics", "epoch_metrics", "findings"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE study=?1 AND key=?2"),
            [study, key],
        )?;
    }
    let mut stmt = tx.prepare(
        "INSERT INTO step_metrics(study, key, idx, step, loss) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (i, &(step, loss)) in result.step_losses.iter().enumerate() {
        stmt.execute(params![study, key, i as i64, step as i64, F(loss)])?;
    }
    let mut stmt = tx.prepare(
        "INSERT INTO epoch_metrics(study, key, idx, epoch, step, train_loss, train_accuracy,
         val_loss, val_accuracy, test_loss, test_accuracy, lr, time_s, examples_per_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for (i, e) in result.epochs_log.iter().enumerate() {
        stmt.execute(params![
            study,
            key,
            i as i64,
            e.epoch as i64,
            e.step as i64,
            e.train_loss.map(F),
            e.train_accuracy.map(F),
            e.val_loss.map(F),
            e.val_accuracy.map(F),
            e.test_loss.map(F),
            e.test_accuracy.map(F),
            F(e.lr),
            F(e.time_s),
            F(e.examples_per_s),
        ])?;
    }
    let mut stmt = tx.prepare(
        "INSERT INTO findings(study, key, idx, kind, first_step, last_step, confidence, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (i, f) in result.findings.iter().enumerate() {
        stmt.execute(params![
            study,
            key,
            i as i64,
            f.kind,
            f.first_step as i64,
            f.last_step as i64,
            F(f.confidence),
            f.summary,
        ])?;
    }
    Ok(())
}

fn read_runs(conn: &Connection, study: &str) -> std::result::Result<Vec<RunRecord>, String> {
    let e = |e: rusqlite::Error| e.to_string();
    let mut results = ResultRows::default();
    {
        let mut stmt = conn
            .prepare("SELECT key, step, loss FROM step_metrics WHERE study=?1 ORDER BY key, idx")
            .map_err(e)?;
        let mut rows = stmt.query([study]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            let key: String = r.get(0).map_err(e)?;
            let step = r.get::<_, i64>(1).map_err(e)? as u64;
            let loss = get_f64(r, 2).map_err(e)?.unwrap_or(f64::NAN);
            results.steps.entry(key).or_default().push((step, loss));
        }
    }
    {
        let mut stmt = conn
            .prepare(
                "SELECT key, epoch, step, train_loss, train_accuracy, val_loss, val_accuracy,
                 test_loss, test_accuracy, lr, time_s, examples_per_s
                 FROM epoch_metrics WHERE study=?1 ORDER BY key, idx",
            )
            .map_err(e)?;
        let mut rows = stmt.query([study]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            let key: String = r.get(0).map_err(e)?;
            let rec = train::EpochRecord {
                epoch: r.get::<_, i64>(1).map_err(e)? as usize,
                step: r.get::<_, i64>(2).map_err(e)? as u64,
                train_loss: get_f64(r, 3).map_err(e)?,
                train_accuracy: get_f64(r, 4).map_err(e)?,
                val_loss: get_f64(r, 5).map_err(e)?,
                val_accuracy: get_f64(r, 6).map_err(e)?,
                test_loss: get_f64(r, 7).map_err(e)?,
                test_accuracy: get_f64(r, 8).map_err(e)?,
                lr: get_f64(r, 9).map_err(e)?.unwrap_or(f64::NAN),
                time_s: get_f64(r, 10).map_err(e)?.unwrap_or(f64::NAN),
                examples_per_s: get_f64(r, 11).map_err(e)?.unwrap_or(f64::NAN),
            };
            results.epochs.entry(key).or_default().push(rec);
        }
    }
    {
        let mut stmt = conn
            .prepare(
                "SELECT key, kind, first_step, last_step, confidence, summary
                 FROM findings WHERE study=?1 ORDER BY key, idx",
            )
            .map_err(e)?;
        let mut rows = stmt.query([study]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            let key: String = r.get(0).map_err(e)?;
            let f = FindingRow {
                kind: r.get(1).map_err(e)?,
                first_step: r.get::<_, i64>(2).map_err(e)? as u64,
                last_step: r.get::<_, i64>(3).map_err(e)? as u64,
                confidence: get_f64(r, 4).map_err(e)?.unwrap_or(f64::NAN),
                summary: r.get(5).map_err(e)?,
            };
            results.findings.entry(key).or_default().push(f);
        }
    }
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {SPEC_COLUMNS}, status, worker, error, stop, diverged, steps, epochs, wall_s
             FROM runs WHERE study=?1 ORDER BY key"
        ))
        .map_err(e)?;
    let mut runs = stmt.query([study]).map_err(e)?;
    let mut out = Vec::new();
    while let Some(r) = runs.next().map_err(e)? {
        let spec = spec_from_row(r, 0)?;
        let status: String = r.get(8).map_err(e)?;
        let state = parse_state(&status)?;
        let worker: Option<String> = r.get(9).map_err(e)?;
        let error: Option<String> = r.get(10).map_err(e)?;
        let stop: Option<String> = r.get(11).map_err(e)?;
        out.push(results.record(spec, state, worker, error, stop, || {
            Ok(Finish {
                diverged: r.get(12).map_err(e)?,
                steps: r.get(13).map_err(e)?,
                epochs: r.get(14).map_err(e)?,
                wall_s: get_f64(r, 15).map_err(e)?,
            })
        })?);
    }
    Ok(out)
}

/// Reads the [`SPEC_COLUMNS`] starting at column `at`.
fn spec_from_row(r: &Row<'_>, at: usize) -> std::result::Result<RunSpec, String> {
    let e = |e: rusqlite::Error| e.to_string();
    rows::spec(SpecColumns {
        key: r.get(at).map_err(e)?,
        problem: r.get(at + 1).map_err(e)?,
        optimizer: r.get(at + 2).map_err(e)?,
        phase: r.get(at + 3).map_err(e)?,
        trial: r.get(at + 4).map_err(e)?,
        seed: r.get(at + 5).map_err(e)?,
        params: r.get(at + 6).map_err(e)?,
        config: r.get(at + 7).map_err(e)?,
    })
}

/// An `f64` as SQLite stores it exactly: SQLite turns a NaN REAL into NULL and stores an
/// integral REAL as an integer (so -0.0 would read back as 0.0); NaN and -0.0 are therefore
/// stored as the texts `NaN` and `neg_zero` (a REAL column keeps text that does not read as a
/// number as text). Infinities and everything else are REALs.
#[derive(Clone, Copy)]
struct F(f64);

impl ToSql for F {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        if self.0.is_nan() {
            Ok(ToSqlOutput::Borrowed(ValueRef::Text(b"NaN")))
        } else if self.0 == 0.0 && self.0.is_sign_negative() {
            Ok(ToSqlOutput::Borrowed(ValueRef::Text(b"neg_zero")))
        } else {
            Ok(ToSqlOutput::Borrowed(ValueRef::Real(self.0)))
        }
    }
}

/// Reads an [`F`] column (NULL = `None`).
fn get_f64(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<f64>> {
    match r.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Real(v) => Ok(Some(v)),
        ValueRef::Integer(v) => Ok(Some(v as f64)),
        ValueRef::Text(b"NaN") => Ok(Some(f64::NAN)),
        ValueRef::Text(b"neg_zero") => Ok(Some(-0.0)),
        other => Err(rusqlite::Error::FromSqlConversionFailure(
            i,
            other.data_type(),
            "expected a REAL, 'NaN' or 'neg_zero'".into(),
        )),
    }
}
