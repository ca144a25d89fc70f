//! The results store. SQLite (a file, the default) for the processes of one machine; PostgreSQL
//! for many workers on many machines.
//!
//! The rule both keep: a run is claimed by one live worker at a time, and only a dead worker's
//! claim is ever taken back. SQLite: the claiming store's owner id is written into the row and
//! its process holds that owner's OS lock, free again the moment the process dies (`sqlite`,
//! `owner`). PostgreSQL: the worker locks the run's row (`FOR UPDATE SKIP LOCKED`) in a
//! transaction it keeps open until the results are committed; the server drops the lock when
//! the worker's connection drops (`postgres`). Both count a run's attempts, and a run that
//! stopped its worker process `MAX_ATTEMPTS` times is stored failed rather than tried
//! again, so that a study whose run kills its worker (an abort, the out-of-memory killer) still
//! finishes.

use crate::{Counts, Result, RunRecord, RunResult, RunSpec};

mod check;
mod owner;
pub mod postgres;
mod rows;
pub mod sqlite;

pub(crate) use check::check_study;
pub use rows::SCHEMA_VERSION;

/// A study's runs and results, shared by the runner's threads.
pub trait Store: Send + Sync {
    /// A short description for messages (`sqlite:results.db`, `postgres://host/db`; no password).
    fn describe(&self) -> String;
    /// Creates the study with its file's `text` and what it `resolved` to
    /// ([`Study::definition`](crate::Study::definition): referenced run configs read in), or
    /// checks that both equal the stored ones: a changed text is an error naming the first
    /// differing line; an unchanged text whose resolution changed (a referenced run config file
    /// edited) is an error naming the problems that differ. A study stored without its
    /// resolution (by a gradlab before it was stored) is checked by its text only, and its
    /// resolution is stored from now on.
    fn open_study(&self, study: &str, text: &str, resolved: &str) -> Result<()>;
    /// Inserts the runs whose keys are new; returns how many were inserted.
    fn enqueue(&self, study: &str, runs: &[RunSpec]) -> Result<usize>;
    /// Takes back the runs claimed by processes that have died (SQLite; a no-op in PostgreSQL,
    /// whose server releases a dead worker's row lock itself): each is claimable again, or
    /// stored failed once it has stopped its worker too often. Never touches a run claimed by a
    /// live process. Returns how many runs it took back.
    fn recover(&self, study: &str) -> Result<usize>;
    /// Claims one pending run, or `None` when none is claimable now.
    fn claim(&self, study: &str, worker: &str) -> Result<Option<Box<dyn Claim>>>;
    /// Every run of the study with its results, ordered by key.
    fn runs(&self, study: &str) -> Result<Vec<RunRecord>>;
    fn counts(&self, study: &str) -> Result<Counts>;
    /// The (name, definition) of every study in the store, ordered by name: the resolved study
    /// (JSON, as [`Study::definition`](crate::Study::definition) writes it) where it is stored,
    /// which rebuilds the study even when a file it referenced has changed or gone since; else
    /// the study file's text.
    fn studies(&self) -> Result<Vec<(String, String)>>;
}

/// A claimed run. Dropping it without `complete`/`fail` releases it unfinished.
pub trait Claim: Send {
    fn spec(&self) -> &crate::RunSpec;
    /// Stores the result and marks the run done, atomically.
    fn complete(self: Box<Self>, result: &RunResult) -> Result<()>;
    /// Marks the run failed with its error.
    fn fail(self: Box<Self>, error: &str) -> Result<()>;
}

/// Opens `url`: `postgres://...` / `postgresql://...`, `sqlite:PATH`, or a plain file path
/// (SQLite).
pub fn open_store(url: &str) -> Result<Box<dyn Store>> {
    match sqlite_path(url) {
        Some(path) => Ok(Box::new(sqlite::SqliteStore::open(path)?)),
        None => Ok(Box::new(postgres::PgStore::connect(url)?)),
    }
}

/// The SQLite file a store URL names, or `None` for a PostgreSQL URL.
pub fn sqlite_path(url: &str) -> Option<&std::path::Path> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        None
    } else {
        Some(std::path::Path::new(
            url.strip_prefix("sqlite:").unwrap_or(url),
        ))
    }
}
