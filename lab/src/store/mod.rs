//! The results store. SQLite (a file, the default) for one process; PostgreSQL for many workers
//! on many machines, where a worker claims a run by locking its row (`FOR UPDATE SKIP LOCKED`)
//! and keeps the lock until the run's results are committed, so no run executes twice and a
//! killed worker's run returns to the queue when its connection drops.

use crate::{Counts, Result, RunRecord, RunResult, RunSpec};

pub mod postgres;
pub mod sqlite;

/// A study's runs and results, shared by the runner's threads.
pub trait Store: Send + Sync {
    /// A short description for messages (`sqlite:results.db`, `postgres://host/db`; no password).
    fn describe(&self) -> String;
    /// Creates the study, or checks that the stored definition equals `definition` (a study
    /// changed after it started is an error naming both).
    fn open_study(&self, study: &str, definition: &str) -> Result<()>;
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
    /// The (name, stored definition) of every study in the store, ordered by name.
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
