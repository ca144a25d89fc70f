//! The results store. SQLite (a file, the default) for one process; PostgreSQL for many workers
//! on many machines, where a worker claims a run by locking its row (`FOR UPDATE SKIP LOCKED`)
//! and keeps the lock until the run's results are committed, so no run executes twice and a
//! killed worker's run returns to the queue when its connection drops.

use crate::{Counts, Result, RunRecord, RunResult, RunSpec};

mod check;
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
    /// Makes runs left `running` by a killed process claimable again (SQLite; a no-op where
    /// claims are row locks). Returns how many.
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
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::PgStore::connect(url)?))
    } else {
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        Ok(Box::new(sqlite::SqliteStore::open(std::path::Path::new(
            path,
        ))?))
    }
}
