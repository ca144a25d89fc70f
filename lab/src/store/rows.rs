//! How runs sit in the rows of a store, the same in SQLite and PostgreSQL: the schema version
//! and its migration, the columns that make a [`RunSpec`], the stored names of states and
//! phases, params as JSON text, and a run's record put back together from its `runs` row and
//! the rows of the result tables.
//!
//! Params are written by serde_json (the shortest text that reads back to the same `f64`) and
//! read by serde_json with `float_roundtrip` (correctly rounded), so every stored float comes
//! back bit for bit.

use std::collections::{BTreeMap, HashMap};

use crate::{FindingRow, Phase, RunRecord, RunResult, RunSpec, RunState};

/// The schema version this build writes (stored in `gradlab_meta`). Version 2 added
/// `studies.resolved` (NULL for the studies a version 1 database holds: checked by their text
/// only); version 3 counts each run's attempts (SQLite: `runs.attempts` and the claim's
/// `runs.owner`; PostgreSQL: `claims.attempts`, since a claimed run's row stays locked). An older
/// database is migrated in place when opened, one version at a time, in one transaction.
pub const SCHEMA_VERSION: i64 = 3;

/// Adds `studies.resolved` to a version 1 database (both backends).
pub(crate) const MIGRATE_1_TO_2: &str = "ALTER TABLE studies ADD COLUMN resolved TEXT";

/// The migrations that bring a database of schema version `stored` to [`SCHEMA_VERSION`], in
/// order; `steps[i]` migrates version `i + 1` to `i + 2`. `Err` for a version this build cannot
/// read (a newer gradlab's, or not a version at all).
pub(crate) fn migrations<'a>(
    stored: &str,
    steps: &'a [&'static str],
) -> Result<&'a [&'static str], String> {
    debug_assert_eq!(steps.len() as i64 + 1, SCHEMA_VERSION);
    match stored.parse::<i64>() {
        Ok(v) if (1..=SCHEMA_VERSION).contains(&v) => Ok(&steps[v as usize - 1..]),
        _ => Err(format!(
            "incompatible database: schema version {stored}, this gradlab reads version \
             {SCHEMA_VERSION} (and migrates versions 1 to {})",
            SCHEMA_VERSION - 1
        )),
    }
}

/// How many times a run may stop its worker process (the process dies while training it: a
/// kill, the out-of-memory killer, an abort) before it is stored failed instead of retried, so
/// that one such run cannot keep a study from finishing. A claim released cleanly does not
/// count.
pub(crate) const MAX_ATTEMPTS: i64 = 3;

/// The error stored for a run given up after it stopped its worker `attempts` times.
pub(crate) fn stopped_worker_error(attempts: i64) -> String {
    format!(
        "the run stopped its worker process {attempts} times (the process died while training \
         it: killed, out of memory or aborted); it is not tried again"
    )
}

/// The columns of `runs` that make a [`RunSpec`], in [`spec`]'s order.
pub(crate) const SPEC_COLUMNS: &str = "key, problem, optimizer, phase, trial, seed, params, config";

/// The [`SPEC_COLUMNS`] of one row, as read.
pub(crate) struct SpecColumns {
    pub key: String,
    pub problem: String,
    pub optimizer: String,
    pub phase: String,
    pub trial: i64,
    pub seed: i64,
    pub params: String,
    pub config: String,
}

/// The spec a row's [`SPEC_COLUMNS`] hold; the error names the run.
pub(crate) fn spec(c: SpecColumns) -> Result<RunSpec, String> {
    let key = c.key;
    Ok(RunSpec {
        phase: parse_phase(&c.phase).map_err(|m| format!("run {key}: {m}"))?,
        params: parse_params(&c.params).map_err(|m| format!("run {key}: {m}"))?,
        problem: c.problem,
        optimizer: c.optimizer,
        trial: c.trial as u32,
        seed: c.seed as u64,
        config: c.config,
        key,
    })
}

pub(crate) fn parse_state(s: &str) -> Result<RunState, String> {
    Ok(match s {
        "pending" => RunState::Pending,
        "running" => RunState::Running,
        "done" => RunState::Done,
        "failed" => RunState::Failed,
        other => return Err(format!("unknown run status {other:?}")),
    })
}

pub(crate) fn parse_phase(s: &str) -> Result<Phase, String> {
    Ok(match s {
        "defaults" => Phase::Defaults,
        "tune" => Phase::Tune,
        "final" => Phase::Final,
        other => return Err(format!("unknown phase {other:?}")),
    })
}

/// The params as JSON text (serde_json writes the shortest exact representation of an f64).
pub(crate) fn params_json(params: &BTreeMap<String, serde_json::Value>) -> String {
    serde_json::to_string(params).unwrap_or_else(|_| "{}".into())
}

/// Parses stored params exactly (see the module documentation).
pub(crate) fn parse_params(text: &str) -> Result<BTreeMap<String, serde_json::Value>, String> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(m)) => Ok(m.into_iter().collect()),
        Ok(_) => Err(format!("params {text:?}: not a JSON object")),
        Err(e) => Err(format!("params {text:?}: {e}")),
    }
}

/// The `runs` columns of a finished run that its [`RunResult`] keeps.
pub(crate) struct Finish {
    pub diverged: Option<bool>,
    pub steps: Option<i64>,
    pub epochs: Option<i64>,
    pub wall_s: Option<f64>,
}

/// The rows of a study's result tables (`step_metrics`, `epoch_metrics`, `findings`), by run
/// key, in the order stored.
#[derive(Default)]
pub(crate) struct ResultRows {
    pub steps: HashMap<String, Vec<(u64, f64)>>,
    pub epochs: HashMap<String, Vec<train::EpochRecord>>,
    pub findings: HashMap<String, Vec<FindingRow>>,
}

impl ResultRows {
    /// The record of the run of `spec`. A done run with a `stop` reason has a result: `finish`
    /// reads the rest of its `runs` row (only then), and it takes its rows of the result tables.
    pub fn record(
        &mut self,
        spec: RunSpec,
        state: RunState,
        worker: Option<String>,
        error: Option<String>,
        stop: Option<String>,
        finish: impl FnOnce() -> Result<Finish, String>,
    ) -> Result<RunRecord, String> {
        let result = match (state, stop) {
            (RunState::Done, Some(stop)) => {
                let f = finish()?;
                Some(RunResult {
                    stop,
                    diverged: f.diverged.unwrap_or(false),
                    steps: f.steps.unwrap_or(0) as u64,
                    epochs: f.epochs.unwrap_or(0) as usize,
                    wall_s: f.wall_s.unwrap_or(f64::NAN),
                    step_losses: self.steps.remove(&spec.key).unwrap_or_default(),
                    epochs_log: self.epochs.remove(&spec.key).unwrap_or_default(),
                    findings: self.findings.remove(&spec.key).unwrap_or_default(),
                })
            }
            _ => None,
        };
        Ok(RunRecord {
            spec,
            state,
            worker,
            error,
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every float comes back bit for bit: 17-digit values (which a parser that is not
    /// correctly rounded gets one ulp wrong), subnormals, extremes, -0.0.
    #[test]
    fn params_floats_round_trip_bit_exactly() {
        let mut values = vec![
            0.1,
            1.0 / 3.0,
            2.0f64.sqrt() * 1e-3,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE / 3.0,
            5e-324,
            f64::MAX,
            f64::MIN,
            -0.0,
            0.30000000000000004,
            9007199254740993.0,
            1e23,
            8.98846567431158e307,
        ];
        // A fixed pseudo-random sweep over bit patterns (finite ones).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while values.len() < 20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = f64::from_bits(x);
            if v.is_finite() {
                values.push(v);
            }
        }
        for chunk in values.chunks(64) {
            let params: BTreeMap<String, serde_json::Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, &v)| (format!("p{i:02}"), serde_json::Value::from(v)))
                .collect();
            let back = parse_params(&params_json(&params)).unwrap();
            assert_eq!(back.len(), params.len());
            for (k, v) in &params {
                let (a, b) = (v.as_f64().unwrap(), back[k].as_f64().unwrap());
                assert_eq!(a.to_bits(), b.to_bits(), "{a:?} read back as {b:?}");
            }
        }
    }

    #[test]
    fn params_keep_integers_strings_and_nesting() {
        let text = r#"{"betas":[0.9,0.999],"flag":true,"n":3,"neg":-2,"none":null,"s":"a\"b"}"#;
        let p = parse_params(text).unwrap();
        assert_eq!(params_json(&p), text);
        assert_eq!(p["n"].as_u64(), Some(3));
        assert_eq!(p["neg"].as_i64(), Some(-2));
        assert!(parse_params("[1]")
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(parse_params("{\"a\":1} x").is_err());
        assert!(parse_params("{\"a\":").is_err());
    }

    #[test]
    fn states_and_phases_read_back_their_names() {
        for s in [
            RunState::Pending,
            RunState::Running,
            RunState::Done,
            RunState::Failed,
        ] {
            assert_eq!(parse_state(s.as_str()), Ok(s));
        }
        for p in [Phase::Defaults, Phase::Tune, Phase::Final] {
            assert_eq!(parse_phase(p.as_str()), Ok(p));
        }
        assert!(parse_state("done ").is_err() && parse_phase("tuning").is_err());
    }
}
