//! What the fuzz targets share: a scratch file for parsers that read only from a path, and the
//! small run (`seeds/tiny.toml`) whose model, optimizer and EMA the checkpoint targets load into.

use std::path::{Path, PathBuf};

use nn::Sequential;
use optim::{LrSchedule, Optimizer};
use train::RunConfig;

/// The run config the checkpoint targets load into (and `seeds/make.sh` trains).
pub const TINY: &str = include_str!("../seeds/tiny.toml");

/// Per-example input shape of the tiny run's data (the bundled `digits`).
pub const TINY_INPUT: &[usize] = &[1, 8, 8];

/// A scratch file holding one input, for parsers that read only from a path: in `/dev/shm`
/// where there is one (no disk write per input), named per process, removed (with any SQLite
/// journal beside it) when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Writes `data` to this process's scratch file `name`.
    pub fn new(name: &str, data: &[u8]) -> Scratch {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let s = Scratch(dir.join(format!("gradlab-fuzz-{}-{name}", std::process::id())));
        s.remove();
        std::fs::write(&s.0, data).expect("scratch file writable");
        s
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The tiny run's config with `overrides` (`--set` syntax) applied.
pub fn tiny_config(overrides: &[String]) -> train::Result<RunConfig> {
    let mut table: toml::Table = TINY.parse().expect("tiny.toml is TOML");
    train::apply_overrides(&mut table, overrides)?;
    RunConfig::from_table("tiny.toml", table, Path::new("."), "tiny")
}

/// The tiny run's model, as training builds it.
pub fn tiny_model() -> Sequential {
    let cfg = tiny_config(&[]).expect("tiny.toml is a valid run config");
    cfg.model
        .build(TINY_INPUT, cfg.seed)
        .expect("tiny model builds")
}

/// `[schedule]` tables by name with settings that build on the tiny run (the span of `cosine`
/// and `one_cycle` comes from `[train]`).
pub const SCHEDULES: &[(&str, &str)] = &[
    ("constant", "name = 'constant'"),
    ("step", "name = 'step'\nstep_size = 2"),
    ("multistep", "name = 'multistep'\nmilestones = [1, 3]"),
    ("exponential", "name = 'exponential'\ngamma = 0.9"),
    ("cosine", "name = 'cosine'"),
    ("cosine_warm_restarts", "name = 'cosine_warm_restarts'\nt_0 = 2"),
    ("linear", "name = 'linear'"),
    ("polynomial", "name = 'polynomial'"),
    ("one_cycle", "name = 'one_cycle'\nmax_lr = 0.1"),
    (
        "sequential",
        "name = 'sequential'\nmilestones = [2]\nschedulers = [{ name = 'linear', start_factor = 0.5, total_iters = 2 }, { name = 'exponential', gamma = 0.9 }]",
    ),
    ("reduce_on_plateau", "name = 'reduce_on_plateau'\ninterval = 'epoch'"),
];

/// A model with its optimizer and schedule.
pub type Run = (Sequential, Optimizer<f32>, Option<Box<dyn LrSchedule>>);

/// The tiny run's model, and its optimizer `optimizer` (default settings, lr 0.01) with the
/// schedule `schedule` (see [`SCHEDULES`]), or `None` when that pair does not build. Built
/// afresh each call (the `optimizer` target keeps one per pair: a load restores all state).
pub fn tiny_optimizer(optimizer: &str, schedule: Option<&str>) -> Option<Run> {
    let mut table: toml::Table = TINY.parse().expect("tiny.toml is TOML");
    let mut opt = toml::Table::new();
    opt.insert("name".into(), optimizer.into());
    opt.insert("lr".into(), 0.01.into());
    table.insert("optimizer".into(), opt.into());
    table.remove("schedule");
    if let Some(name) = schedule {
        let text = SCHEDULES.iter().find(|(n, _)| *n == name)?.1;
        let sched: toml::Table = text.parse().expect("SCHEDULES are TOML");
        table.insert("schedule".into(), sched.into());
    }
    let cfg = RunConfig::from_table("tiny.toml", table, Path::new("."), "tiny").ok()?;
    let model = cfg.model.build(TINY_INPUT, cfg.seed).ok()?;
    let (opt, sched) = train::optimizer::build_optimizer(&cfg, &model, 21).ok()?;
    Some((model, opt, sched))
}

/// Prints what a parser said of the input when `GRADLAB_FUZZ_SHOW` is set (to check that seeds
/// are accepted, or see why an input is refused: `GRADLAB_FUZZ_SHOW=1 fuzz/target/…/T FILE`).
pub fn show<T, E: std::fmt::Display>(what: &str, r: &Result<T, E>) {
    if std::env::var_os("GRADLAB_FUZZ_SHOW").is_some() {
        match r {
            Ok(_) => eprintln!("{what}: ok"),
            Err(e) => eprintln!("{what}: {e}"),
        }
    }
}
