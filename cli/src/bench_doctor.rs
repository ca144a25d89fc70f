//! `gradlab bench doctor`: what the doctor's instruments cost.
//!
//! In one process, the same training runs (an MLP 784-512-512-10 with ReLU and dropout on
//! mnist-10k, and a small CNN with BatchNorm on the 8x8 digits; a fixed number of steps each)
//! are timed without the doctor, with a doctor without instruments (the observer hooks alone),
//! with the `economy` preset and with `full`, interleaved, and the
//! median training time of `--repeats` runs is compared. Goals: economy ≤ 1.10×, full ≤ 2×.

use std::path::Path;

use anyhow::{Context, Result};
use diagnose::{Doctor, Preset};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Optimizer steps per run.
    #[arg(long, default_value_t = 150)]
    steps: u64,
    /// Timed runs per case and setting (the median counts).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Rayon threads for training.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

const MLP: &str = r#"
seed = 0
[data]
dataset = "mnist-10k"
batch_size = 128
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 512
[[model.layers]]
type = "relu"
[[model.layers]]
type = "dropout"
p = 0.2
[[model.layers]]
type = "linear"
out_features = 512
[[model.layers]]
type = "relu"
[[model.layers]]
type = "dropout"
p = 0.2
[[model.layers]]
type = "linear"
out_features = 10
[optimizer]
name = "adamw"
lr = 0.001
weight_decay = 0.01
[train]
[log]
tensorboard = false
every_steps = 1000000
"#;

const CNN: &str = r#"
seed = 0
[data]
dataset = "digits"
batch_size = 32
input_shape = [1, 8, 8]
standardize = "channel"
[[model.layers]]
type = "conv2d"
out_channels = 32
kernel_size = 3
padding = 1
[[model.layers]]
type = "batchnorm2d"
[[model.layers]]
type = "relu"
[[model.layers]]
type = "maxpool2d"
kernel_size = 2
[[model.layers]]
type = "conv2d"
out_channels = 64
kernel_size = 3
padding = 1
[[model.layers]]
type = "batchnorm2d"
[[model.layers]]
type = "relu"
[[model.layers]]
type = "global_avg_pool"
[[model.layers]]
type = "linear"
out_features = 10
[optimizer]
name = "adam"
lr = 0.003
[train]
[log]
tensorboard = false
every_steps = 1000000
"#;

#[derive(Serialize)]
struct Case {
    name: &'static str,
    steps: u64,
    /// Median training seconds without the doctor, with a doctor without instruments (the
    /// cost of the observer hooks alone), with economy, with full.
    none_s: f64,
    hooks_s: f64,
    economy_s: f64,
    full_s: f64,
    hooks_ratio: f64,
    economy_ratio: f64,
    full_ratio: f64,
    /// The instruments each preset ran.
    economy_instruments: Vec<&'static str>,
    full_instruments: Vec<&'static str>,
}

fn config(text: &str, name: &str, dir: &Path, args: &DoctorArgs) -> Result<train::RunConfig> {
    let mut t: toml::Table = text.parse().context("bench config")?;
    train::apply_overrides(
        &mut t,
        &[
            format!("train.steps={}", args.steps),
            format!("train.threads={}", args.threads),
            format!("log.dir={:?}", dir.join(name).display().to_string()),
        ],
    )?;
    Ok(train::RunConfig::from_table(
        &format!("bench doctor {name}"),
        t,
        Path::new("."),
        name,
    )?)
}

/// What observes a timed run.
#[derive(Clone, Copy)]
enum Setting {
    None,
    Hooks,
    Preset(Preset),
}

/// Training seconds of one run.
fn time(cfg: &train::RunConfig, setting: Setting) -> Result<f64> {
    let opts = train::Options {
        quiet: true,
        ..Default::default()
    };
    let s = match setting {
        Setting::None => train::run(cfg, &opts)?,
        Setting::Hooks => train::run_observed(cfg, &opts, &mut Doctor::with(Vec::new()))?,
        Setting::Preset(p) => {
            let mut d = Doctor::new(p);
            let s = train::run_observed(cfg, &opts, &mut d)?;
            if let Some(e) = &d.error {
                eprintln!("warning: {}: an instrument failed: {e}", cfg.source);
            }
            s
        }
    };
    Ok(s.wall_s)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

pub fn run(args: DoctorArgs) -> Result<()> {
    anyhow::ensure!(args.repeats >= 1, "--repeats 0: expected at least 1");
    anyhow::ensure!(args.steps >= 1, "--steps 0: expected at least 1");
    let tmp = std::env::temp_dir().join(format!("gradlab-bench-doctor-{}", std::process::id()));
    let result = cases(&args, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let cases = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&cases)?);
        return Ok(());
    }
    println!(
        "doctor overhead: median of {} runs of {} steps, {} threads (goals: economy <= 1.10x, full <= 2x)",
        args.repeats, args.steps, args.threads
    );
    println!(
        "{:<12} {:>8} {:>8} {:>10} {:>8} {:>8} {:>9} {:>8}",
        "case", "none s", "hooks s", "economy s", "full s", "hooks", "economy", "full"
    );
    for c in &cases {
        println!(
            "{:<12} {:>8.3} {:>8.3} {:>10.3} {:>8.3} {:>7.3}x {:>8.3}x {:>7.3}x",
            c.name,
            c.none_s,
            c.hooks_s,
            c.economy_s,
            c.full_s,
            c.hooks_ratio,
            c.economy_ratio,
            c.full_ratio
        );
    }
    if let Some(c) = cases.first() {
        println!("economy instruments: {}", c.economy_instruments.join(", "));
        println!("full instruments: {}", c.full_instruments.join(", "));
    }
    Ok(())
}

fn cases(args: &DoctorArgs, tmp: &Path) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    for (name, text) in [("mlp_mnist", MLP), ("cnn_digits", CNN)] {
        let cfg = config(text, name, tmp, args)?;
        // One untimed warm-up run (data loading, page faults, allocator).
        time(&cfg, Setting::None)?;
        let mut t: [Vec<f64>; 4] = Default::default();
        for _ in 0..args.repeats {
            for (k, s) in [
                Setting::None,
                Setting::Hooks,
                Setting::Preset(Preset::Economy),
                Setting::Preset(Preset::Full),
            ]
            .into_iter()
            .enumerate()
            {
                t[k].push(time(&cfg, s)?);
            }
        }
        let [n, h, e, f] = t.map(median);
        out.push(Case {
            name,
            steps: args.steps,
            none_s: n,
            hooks_s: h,
            hooks_ratio: h / n,
            economy_s: e,
            full_s: f,
            economy_ratio: e / n,
            full_ratio: f / n,
            economy_instruments: Doctor::new(Preset::Economy).instruments(),
            full_instruments: Doctor::new(Preset::Full).instruments(),
        });
    }
    Ok(out)
}
