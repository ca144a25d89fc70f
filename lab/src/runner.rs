//! The runner: worker threads claim runs from the store, train them (with the doctor's economy
//! instruments), and store their results; one progress bar with ETA over the study.
//!
//! Every run is independent and seeded, so the stored numbers do not depend on how many workers
//! trained the study or in which order. A run that returns an error or panics is recorded
//! `failed` with its error and the study goes on; an error of the store itself stops the study.
//!
//! Many runners (processes, machines) may work on one study in one store: each claims runs the
//! others do not hold, and one that runs out of runs to claim waits for the others' runs to
//! finish (their results may make the final runs known), taking back the runs of any that died
//! ([`Store::recover`]), before it decides the study is over.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::progress::Progress;
use crate::study::prune::Pruner;

use crate::{Counts, FindingRow, LabError, Result, RunResult, RunSpec, Store, Study};

/// How long an idle worker waits before it asks the store again (runs claimed by other
/// processes finish, or their processes die, without telling this one).
const POLL: Duration = Duration::from_millis(500);

#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Runs trained at once (default: the machine's cores).
    pub workers: usize,
    /// Rayon threads inside each run (default 1).
    pub threads_per_run: usize,
    /// Per-run log folders (metrics.jsonl, TensorBoard) go under `out/runs/`.
    pub out: PathBuf,
    /// Run the doctor's economy instruments and store its findings.
    pub doctor: bool,
    pub quiet: bool,
    /// This worker's name prefix (host:pid by default).
    pub worker: String,
    /// Called by the worker thread right before a run trains, inside the same panic guard
    /// (tests use it to make a run crash).
    pub before_run: Option<fn(&RunSpec)>,
}

impl RunnerOptions {
    /// The defaults: one worker per core, one thread per run, the doctor on, `host:pid`.
    pub fn new(out: impl Into<PathBuf>) -> RunnerOptions {
        RunnerOptions {
            workers: default_workers(),
            threads_per_run: 1,
            out: out.into(),
            doctor: true,
            quiet: false,
            worker: default_worker_name(),
            before_run: None,
        }
    }
}

impl RunnerOptions {
    /// Refuses worker and thread counts this machine cannot start: all the runs' rayon threads
    /// together at most [`train::config::max_threads`] (4 per core), as for one run's
    /// `train.threads` (100,000 workers aborted the process when their threads failed to start).
    pub fn check(&self) -> Result<()> {
        let max = train::config::max_threads();
        let bad = |option, value: usize, message: String| LabError::Option {
            option,
            value: value.to_string(),
            message,
        };
        if self.workers == 0 {
            return Err(bad("workers", 0, "expected at least 1 worker".into()));
        }
        if self.threads_per_run == 0 {
            return Err(bad(
                "threads_per_run",
                0,
                "expected at least 1 thread".into(),
            ));
        }
        if self.workers.saturating_mul(self.threads_per_run) > max {
            return Err(bad(
                "workers",
                self.workers,
                format!(
                    "with {} thread(s) per run that is {} threads; at most {max} (4 per core of \
                     this machine)",
                    self.threads_per_run,
                    self.workers.saturating_mul(self.threads_per_run)
                ),
            ));
        }
        Ok(())
    }
}

/// The machine's cores (1 when unknown).
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `host:pid`.
pub fn default_worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{}:{}", host.trim(), std::process::id())
}

/// What one `run_study` call did.
#[derive(Clone, Debug, Default)]
pub struct RunnerReport {
    /// Runs this call trained and stored done.
    pub ran: usize,
    /// Runs this call recorded failed.
    pub failed: usize,
    pub wall_s: f64,
    /// The study's runs by state at the end (including runs stored by earlier calls).
    pub counts: Counts,
}

impl RunnerReport {
    /// Runs finished (done or failed) by this call per hour of wall time.
    pub fn runs_per_hour(&self) -> f64 {
        if self.wall_s > 0.0 {
            (self.ran + self.failed) as f64 * 3600.0 / self.wall_s
        } else {
            0.0
        }
    }

    /// `runs: 40 done, 1 failed (this call: 12 trained, 0 failed) in 3m 12s, 225 runs/hour`.
    pub fn line(&self) -> String {
        format!(
            "runs: {} done, {} failed (this call: {} trained, {} failed) in {}, {:.0} runs/hour",
            self.counts.done,
            self.counts.failed,
            self.ran,
            self.failed,
            present::duration(self.wall_s),
            self.runs_per_hour()
        )
    }
}

/// The state the worker threads share.
struct Shared<'a> {
    study: &'a Study,
    store: &'a dyn Store,
    opts: &'a RunnerOptions,
    bar: Progress,
    /// Runs being trained by this process.
    running: AtomicUsize,
    ran: AtomicUsize,
    failed: AtomicUsize,
    /// Set on the first store error: every worker stops.
    stop: AtomicBool,
    error: Mutex<Option<LabError>>,
    /// The coordinator: `finished` is the count of finished runs when `next_runs` last ran.
    coord: Mutex<Coordinator>,
    /// Signalled when a run of this process finishes.
    wake: Condvar,
    wake_lock: Mutex<()>,
}

struct Coordinator {
    finished: Option<usize>,
}

/// Runs `study` to completion in `store` (resuming what is stored). The caller prints the
/// summary ([`RunnerReport::line`]).
pub fn run_study(study: &Study, store: &dyn Store, opts: &RunnerOptions) -> Result<RunnerReport> {
    opts.check()?;
    let start = Instant::now();
    // `lr_find` ranges first (from the store when resuming): they are part of the definition.
    let resolved = crate::lr_range::resolve(study, store, &opts.out, |m| {
        if !opts.quiet {
            eprintln!("{m}");
        }
    })?;
    let study = &resolved;
    let name = study.name.as_str();
    store.open_study(name, &study.text, &study.definition())?;
    store.recover(name)?;
    store.enqueue(name, &study.initial_runs()?)?;
    // A study resumed after its tuning trials finished knows its final runs already.
    let known = store.runs(name)?;
    store.enqueue(name, &study.next_runs(&known)?)?;
    let counts = store.counts(name)?;

    let bar = Progress::new(
        expected_total(study, &counts) as u64,
        (counts.done + counts.failed) as u64,
        &study.name,
        &store.describe(),
        opts.quiet,
    );

    let shared = Shared {
        study,
        store,
        opts,
        bar,
        running: AtomicUsize::new(0),
        ran: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        error: Mutex::new(None),
        coord: Mutex::new(Coordinator { finished: None }),
        wake: Condvar::new(),
        wake_lock: Mutex::new(()),
    };
    let workers = opts.workers.max(1);
    std::thread::scope(|s| {
        for i in 0..workers {
            let shared = &shared;
            let worker = format!("{}:{i}", opts.worker);
            let fail = move |e: LabError| {
                let mut slot = shared.error.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(e);
                shared.stop.store(true, Ordering::SeqCst);
                shared.wake.notify_all();
            };
            let spawned = std::thread::Builder::new()
                .name(format!("lab-worker-{i}"))
                .spawn_scoped(s, move || {
                    if let Err(e) = worker_loop(shared, &worker) {
                        fail(e);
                    }
                });
            // A thread the system refuses (limits) stops the study with an error; the workers
            // already started finish their runs.
            if let Err(error) = spawned {
                fail(LabError::Io {
                    path: format!("worker thread {i} of {workers}"),
                    error,
                });
                break;
            }
        }
    });
    shared.bar.finish();
    if let Some(e) = shared.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let report = RunnerReport {
        ran: shared.ran.load(Ordering::SeqCst),
        failed: shared.failed.load(Ordering::SeqCst),
        wall_s: start.elapsed().as_secs_f64(),
        counts: store.counts(name)?,
    };
    Ok(report)
}

fn worker_loop(sh: &Shared, worker: &str) -> Result<()> {
    let name = sh.study.name.as_str();
    loop {
        if sh.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Counted before the claim, so an idle worker never sees "nothing running" while this
        // one holds a claim it has not counted yet.
        sh.running.fetch_add(1, Ordering::SeqCst);
        let claim = match sh.store.claim(name, worker) {
            Ok(c) => c,
            Err(e) => {
                sh.running.fetch_sub(1, Ordering::SeqCst);
                return Err(e);
            }
        };
        let Some(claim) = claim else {
            sh.running.fetch_sub(1, Ordering::SeqCst);
            if coordinate(sh)? {
                return Ok(());
            }
            continue;
        };
        let spec = claim.spec().clone();
        // A trial of a pruned study is judged against its arm's earlier waves, all finished
        // before this one was queued (see `study::prune`).
        let records = if spec.phase == crate::Phase::Tune && !sh.study.tuning.prune.is_none() {
            sh.store.runs(name)?
        } else {
            Vec::new()
        };
        let outcome = execute(&spec, sh.study, sh.opts, &records);
        let stored = match &outcome {
            Ok(result) => claim.complete(result),
            Err(msg) => claim.fail(msg),
        };
        sh.running.fetch_sub(1, Ordering::SeqCst);
        {
            let _g = sh.wake_lock.lock().unwrap_or_else(|p| p.into_inner());
            sh.wake.notify_all();
        }
        stored?;
        let what = format!(
            "{}/{} #{} seed {}",
            spec.problem, spec.optimizer, spec.trial, spec.seed
        );
        match &outcome {
            Ok(r) => {
                sh.ran.fetch_add(1, Ordering::SeqCst);
                let acc = match r.last() {
                    Some(e) => match (e.test_accuracy, e.val_accuracy, e.test_loss) {
                        (Some(a), _, _) => format!("test acc {a:.4}"),
                        (None, Some(a), _) => format!("val acc {a:.4}"),
                        (None, None, Some(l)) => format!("test loss {l:.4}"),
                        _ => "no test metric".into(),
                    },
                    None => "no epoch finished".into(),
                };
                let div = if r.diverged { ", diverged" } else { "" };
                sh.bar.set_message(format!("{what}: {acc}{div}"));
            }
            Err(e) => {
                sh.failed.fetch_add(1, Ordering::SeqCst);
                let first = e.lines().next().unwrap_or("");
                sh.bar
                    .println(format!("run {} ({what}) failed: {first}", spec.key));
                sh.bar.set_message(format!("{what}: FAILED"));
            }
        }
        sh.bar.inc();
    }
}

/// The study's size as far as it can be known: the stored runs, or (budget protocol, before the
/// final runs are known) the trials plus one final run per problem × optimizer × extra seed.
fn expected_total(study: &Study, counts: &Counts) -> usize {
    let known = counts.total();
    match study.tuning.protocol {
        crate::study::Protocol::Defaults => known,
        crate::study::Protocol::Budget { .. } => {
            let tuning_seed = study.seeds.first();
            let mut extra: Vec<u64> = study
                .seeds
                .iter()
                .copied()
                .filter(|s| Some(s) != tuning_seed)
                .collect();
            extra.sort_unstable();
            extra.dedup();
            let finals = study.problems.len() * study.optimizers.len() * extra.len();
            // Every tuning trial (with pruning, later waves are stored only when the earlier
            // ones finish) plus the final runs.
            (study.tuning_run_count().unwrap_or(known) + finals).max(known)
        }
    }
}

/// Called when a worker found nothing to claim: enqueues what the finished runs make known,
/// and decides whether the study is over. Returns `true` when the worker should exit.
fn coordinate(sh: &Shared) -> Result<bool> {
    let name = sh.study.name.as_str();
    {
        let mut coord = sh.coord.lock().unwrap_or_else(|p| p.into_inner());
        // Another process that died while this one ran left its runs claimed.
        sh.store.recover(name)?;
        let mut counts = sh.store.counts(name)?;
        let finished = counts.done + counts.failed;
        if coord.finished != Some(finished) {
            let runs = sh.store.runs(name)?;
            let added = sh.store.enqueue(name, &sh.study.next_runs(&runs)?)?;
            coord.finished = Some(finished);
            if added > 0 {
                let counts = sh.store.counts(name)?;
                sh.bar
                    .set_length(expected_total(sh.study, &counts).max(counts.total()) as u64);
                return Ok(false);
            }
            // Another process may have enqueued them first: this one can help train them.
            counts = sh.store.counts(name)?;
        }
        if counts.pending == 0 && counts.running == 0 && sh.running.load(Ordering::SeqCst) == 0 {
            // Nothing left here or elsewhere; wake the others so they see it too.
            sh.wake.notify_all();
            return Ok(true);
        }
        // Runs are being trained by other processes, or by this one: their results may make
        // final runs known.
    }
    let g = sh.wake_lock.lock().unwrap_or_else(|p| p.into_inner());
    let _ = sh.wake.wait_timeout(g, POLL);
    Ok(false)
}

/// The run's log folder: `out/runs/<problem>/<optimizer>/<key>`.
pub fn run_dir(out: &Path, spec: &RunSpec) -> PathBuf {
    out.join("runs")
        .join(sanitize(&spec.problem))
        .join(sanitize(&spec.optimizer))
        .join(sanitize(&spec.key))
}

fn sanitize(s: &str) -> String {
    if s.is_empty() || s.chars().all(|c| c == '.') {
        return "_".repeat(s.len().max(1));
    }
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Trains one run; `Err` carries the error text (a train error or a panic's message).
fn execute(
    spec: &RunSpec,
    study: &Study,
    opts: &RunnerOptions,
    records: &[crate::RunRecord],
) -> std::result::Result<RunResult, String> {
    match catch_unwind(AssertUnwindSafe(|| {
        if let Some(hook) = opts.before_run {
            hook(spec);
        }
        train_run(spec, study, opts, records)
    })) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("{e}")),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".into());
            Err(format!("the run crashed (panic): {msg}"))
        }
    }
}

/// Builds the run's config from `spec.config` with the runner's settings applied.
pub fn run_config(spec: &RunSpec, study: &Study, opts: &RunnerOptions) -> Result<train::RunConfig> {
    let run_err = |message: String| LabError::Run {
        key: spec.key.clone(),
        problem: spec.problem.clone(),
        optimizer: spec.optimizer.clone(),
        message,
    };
    let mut table: toml::Table = spec
        .config
        .parse()
        .map_err(|e| run_err(format!("its config is not valid TOML: {e}")))?;
    let dir = run_dir(&opts.out, spec);
    let mut overrides = vec![
        format!("train.threads={}", opts.threads_per_run.max(1)),
        format!("log.dir={}", toml::Value::String(dir.display().to_string())),
        // An interrupted run is redone from scratch (the store keeps only finished runs), so
        // per-epoch checkpoints would be written and never read: on these short runs their
        // fsyncs cost about a third of the study's time (bench/compare.sh).
        "train.checkpoint_every_epochs=0".into(),
    ];
    let has_every = table
        .get("log")
        .and_then(|l| l.as_table())
        .is_some_and(|l| l.contains_key("every_steps"));
    if !has_every {
        overrides.push("log.every_steps=10".into());
    }
    train::apply_overrides(&mut table, &overrides)?;
    let base = study_dir(study);
    let source = format!(
        "{} [{} / {} {}]",
        study.source, spec.problem, spec.optimizer, spec.key
    );
    Ok(train::RunConfig::from_table(
        &source, table, &base, &spec.key,
    )?)
}

/// The folder relative paths of the study resolve against.
fn study_dir(study: &Study) -> PathBuf {
    let p = Path::new(&study.source);
    if p.is_file() {
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    } else {
        PathBuf::from(".")
    }
}

fn train_run(
    spec: &RunSpec,
    study: &Study,
    opts: &RunnerOptions,
    records: &[crate::RunRecord],
) -> Result<RunResult> {
    let start = Instant::now();
    let cfg = run_config(spec, study, opts)?;
    let rule = study.prune_rule(spec, records, cfg.train.epochs.unwrap_or(usize::MAX))?;
    let dir = cfg.log.dir.clone();
    // A run redone after an interruption starts clean.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|error| LabError::Io {
            path: dir.display().to_string(),
            error,
        })?;
    }
    let topts = train::Options {
        resume: false,
        quiet: true,
        stop_after_steps: None,
    };
    let pruned_at;
    let (summary, findings) = if opts.doctor {
        let mut doctor = diagnose::Doctor::new(diagnose::Preset::Economy);
        let mut pruner = Pruner {
            inner: &mut doctor,
            rule,
            pruned_at: None,
        };
        let summary = train::run_observed(&cfg, &topts, &mut pruner)?;
        pruned_at = pruner.pruned_at;
        diagnose::progress::record(&mut doctor.timeline);
        let findings = diagnose::detect(&doctor.timeline, &summary)
            .into_iter()
            .map(|f| FindingRow {
                kind: f.kind.as_str().to_string(),
                first_step: f.first_step,
                last_step: f.last_step,
                confidence: f.confidence,
                summary: f.summary,
            })
            .collect();
        (summary, findings)
    } else {
        let mut none = train::NoObserver;
        let mut pruner = Pruner {
            inner: &mut none,
            rule,
            pruned_at: None,
        };
        let summary = train::run_observed(&cfg, &topts, &mut pruner)?;
        pruned_at = pruner.pruned_at;
        (summary, Vec::new())
    };
    let mut step_losses = Vec::new();
    let mut epochs_log = Vec::new();
    for line in train::read_metrics(&summary.run_dir.join("metrics.jsonl"))? {
        match line {
            train::Line::Step(s) => step_losses.push((s.step, s.loss as f64)),
            train::Line::Epoch(e) => epochs_log.push(e),
        }
    }
    let stop = serde_json::to_value(&summary.stop)
        .ok()
        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(String::from))
        .unwrap_or_else(|| "unknown".into());
    // The rule stopped it (a run that diverged in the same epoch keeps its own reason).
    let stop = match (&summary.stop, pruned_at) {
        (train::Stop::Interrupted { .. }, Some(_)) => crate::study::prune::PRUNED.to_string(),
        _ => stop,
    };
    Ok(RunResult {
        stop,
        diverged: summary.stop.is_diverged(),
        steps: summary.steps,
        epochs: summary.epochs,
        wall_s: start.elapsed().as_secs_f64(),
        step_losses,
        epochs_log,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates_read_well() {
        assert_eq!(present::duration(5.25), "5.2s");
        assert_eq!(present::duration(192.0), "3m 12s");
        assert_eq!(present::duration(3720.0), "1h 02m");
        let r = RunnerReport {
            ran: 9,
            failed: 1,
            wall_s: 120.0,
            counts: Counts::default(),
        };
        assert_eq!(r.runs_per_hour(), 300.0);
    }

    #[test]
    fn run_dirs_are_safe_paths() {
        let spec = RunSpec {
            key: "0123abcd".into(),
            problem: "my problem".into(),
            optimizer: "../adam".into(),
            phase: crate::Phase::Tune,
            trial: 0,
            seed: 0,
            params: Default::default(),
            config: String::new(),
        };
        assert_eq!(
            run_dir(Path::new("out"), &spec),
            PathBuf::from("out/runs/my_problem/.._adam/0123abcd")
        );
    }
}
