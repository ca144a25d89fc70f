//! `gradlab lr-find FILE [--set key=value ...] [--seeds N] [--out DIR] [--lr-min X] [--lr-max X]
//! [--steps N]`: the learning-rate range test on a run config (`diagnose::lr_find`), with its
//! plot (`report::lr_find_plot`) and JSON.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args as ClapArgs;
use diagnose::lr_find::{self, Plan, Settings};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Run config (TOML) whose data, model, optimizer and clipping the sweep uses.
    pub config: PathBuf,
    /// Change any config value first (repeatable), e.g. `--set data.batch_size=64`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Seeds to sweep (the config's seed and the next ones).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub seeds: u64,
    /// Folder for lr_find.json, lr_find.svg and each seed's run (default runs/lr-find/STEM).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// First learning rate of the sweep.
    #[arg(long, default_value_t = 1e-7, value_name = "LR")]
    pub lr_min: f64,
    /// Last learning rate of the sweep.
    #[arg(long, default_value_t = 10.0, value_name = "LR")]
    pub lr_max: f64,
    /// Steps (learning rates) per seed.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub steps: usize,
    /// Rayon threads (shortcut for `--set train.threads=N`).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Skip the λmax reading at the initial weights (the stability cross-check).
    #[arg(long)]
    pub no_curvature: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.seeds == 0 || args.seeds > lr_find::MAX_SEEDS as u64 {
        bail!(
            "--seeds {}: expected 1 to {} seeds",
            args.seeds,
            lr_find::MAX_SEEDS
        );
    }
    let mut sets = args.set.clone();
    if let Some(t) = args.threads {
        if t == 0 {
            bail!("--threads 0: expected at least 1 thread");
        }
        sets.push(format!("train.threads={t}"));
    }
    let cfg = train::RunConfig::from_file(&args.config, &sets)?;
    let stem = args
        .config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/lr-find").join(stem));
    let settings = Settings {
        plan: Plan {
            lr_min: args.lr_min,
            lr_max: args.lr_max,
            steps: args.steps,
            ..Plan::default()
        },
        seeds: (0..args.seeds)
            .map(|k| cfg.seed.saturating_add(k))
            .collect(),
        curvature: !args.no_curvature,
    };
    let r = lr_find::run(&cfg, &args.config, &settings, &out, |m| {
        eprintln!("lr-find: {m}")
    })
    .map_err(|e| {
        // Said once: config errors already name the file.
        let name = args.config.display().to_string();
        if e.to_string().starts_with(&name) {
            anyhow::Error::new(e)
        } else {
            anyhow::Error::new(e).context(format!("lr-find {name}"))
        }
    })?;
    let json = out.join("lr_find.json");
    let text = serde_json::to_string_pretty(&r).context("encoding lr_find.json")?;
    report::write_atomic(&json, text.as_bytes())?;
    let svg = out.join("lr_find.svg");
    report::write_atomic(&svg, report::lr_find_plot::render(&r).as_bytes())?;
    print!("{}", r.text());
    println!("wrote {} and {}", json.display(), svg.display());
    Ok(())
}
