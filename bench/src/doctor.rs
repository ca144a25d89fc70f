//! `gradlab-bench doctor`: what the doctor's instruments cost.
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
    /// Optimizer steps per run (long enough that the measurements every instrument takes at
    /// step 1 do not dominate).
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Timed runs per case and setting (the median counts).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Rayon threads for training.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Also time each instrument of each preset alone (besides the always-on basic readings).
    #[arg(long)]
    breakdown: bool,
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
    /// With `--breakdown`: (preset, instrument, median seconds / none) for each instrument
    /// alone; `basic` is the always-on readings by themselves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    breakdown: Vec<(String, String, f64)>,
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
    /// The basic readings alone (`None`) or with the preset's instrument number `i`.
    Only(Preset, Option<usize>),
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
        Setting::Preset(_) | Setting::Only(..) => {
            let mut d = match setting {
                Setting::Only(p, i) => {
                    let mut v: Vec<Box<dyn diagnose::instruments::Instrument>> =
                        vec![Box::new(diagnose::instruments::basic::Basic::for_preset(p))];
                    v.extend(i.and_then(|i| diagnose::instruments::preset(p).into_iter().nth(i)));
                    Doctor::with(v)
                }
                Setting::Preset(p) => Doctor::new(p),
                _ => unreachable!(),
            };
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
    for c in cases.iter().filter(|c| !c.breakdown.is_empty()) {
        let row: Vec<String> = c
            .breakdown
            .iter()
            .map(|(p, i, r)| format!("{p}/{i} {r:.3}x"))
            .collect();
        println!("{} alone: {}", c.name, row.join(", "));
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
        let mut settings = vec![
            ("none".to_string(), Setting::None),
            ("hooks".to_string(), Setting::Hooks),
            ("economy".to_string(), Setting::Preset(Preset::Economy)),
            ("full".to_string(), Setting::Preset(Preset::Full)),
        ];
        if args.breakdown {
            settings.push(("economy/basic".into(), Setting::Only(Preset::Economy, None)));
            for (pname, p) in [("economy", Preset::Economy), ("full", Preset::Full)] {
                for (i, ins) in diagnose::instruments::preset(p).iter().enumerate() {
                    settings.push((format!("{pname}/{}", ins.name()), Setting::Only(p, Some(i))));
                }
            }
        }
        // Interleaved, so that a change in the machine's load hits every setting alike, and
        // rotated, so that no setting always runs right after the same other one.
        let mut t: Vec<Vec<f64>> = vec![Vec::new(); settings.len()];
        for r in 0..args.repeats {
            for j in 0..settings.len() {
                let k = (j + r) % settings.len();
                t[k].push(time(&cfg, settings[k].1)?);
            }
        }
        let m: Vec<f64> = t.into_iter().map(median).collect();
        let (n, h, e, f) = (m[0], m[1], m[2], m[3]);
        let breakdown = settings[4..]
            .iter()
            .zip(&m[4..])
            .map(|((label, _), v)| {
                let (p, i) = label.split_once('/').unwrap_or(("", label));
                (p.to_string(), i.to_string(), v / n)
            })
            .collect();
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
            breakdown,
        });
    }
    Ok(out)
}
