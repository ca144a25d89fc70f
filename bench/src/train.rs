//! `gradlab-bench train`: training-step throughput of the nn engine on three fixed workloads.
//!
//! A step is what a training loop does per batch: forward in train mode, softmax cross-entropy,
//! backward, one Adam step (PyTorch defaults, `optim::Optimizer` over the `nn::Sequential`) and
//! `clear_grads` (as the trainer does: the next backward writes the gradients). Every workload trains on one fixed random batch (seeded), so the numbers measure
//! the engine and nothing else:
//!
//! * `w0`: MLP 40-100-100-10 (ReLU), batch 32 — per-step overhead dominates;
//! * `w1`: MLP 784-512-512-10 (ReLU), batch 128 — matrix products dominate;
//! * `w2`: CNN conv(1→32, 3×3, pad 1)-relu-maxpool2-conv(32→64, 3×3, pad 1)-relu-maxpool2-
//!   linear(3136→128)-relu-linear(128→10) on 1×28×28, batch 64.
//!
//! Timing (the same in bench/torch_train_bench.py and bench/jax_train_bench.py): warm-up steps,
//! then wall time over whole steps until `--seconds` have passed (or exactly `--steps` steps),
//! repeated `--rounds` times; the best round's steps/s is reported. All work runs on one rayon pool
//! of `--threads` threads.

use std::time::Instant;

use anyhow::{bail, Context as _};
use nn::{
    Activation, Conv2dConfig, CrossEntropyConfig, CrossEntropyLoss, FlattenConfig, LayerConfig,
    LinearConfig, Pool2dConfig, Rng, Sequential, Tensor,
};
use optim::optimizers::adam::AdamConfig;
use optim::Optimizer;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Threads of the rayon pool every step runs on.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Workloads to run, comma-separated (w0, w1, w2).
    #[arg(long, value_delimiter = ',', default_values_t = ["w0".to_string(), "w1".into(), "w2".into()])]
    workloads: Vec<String>,
    /// Seconds of timed steps per round (ignored with --steps).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Exactly this many timed steps per round instead of --seconds.
    #[arg(long)]
    steps: Option<usize>,
    /// Timed rounds per workload; the fastest is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Warm-up steps before timing (at least 1: the first step sizes every buffer).
    #[arg(long, default_value_t = 5)]
    warmup: usize,
}

/// One workload: the model, its per-example input shape and batch size.
pub struct Workload {
    pub name: &'static str,
    pub description: &'static str,
    pub in_shape: Vec<usize>,
    pub batch: usize,
    pub layers: Vec<LayerConfig>,
}

fn linear(out: usize) -> LayerConfig {
    LayerConfig::Linear(LinearConfig {
        out_features: out,
        ..Default::default()
    })
}

fn relu() -> LayerConfig {
    LayerConfig::Activation(Activation::Relu)
}

fn mlp(widths: &[usize]) -> Vec<LayerConfig> {
    let mut layers = Vec::new();
    for (k, &w) in widths[1..].iter().enumerate() {
        layers.push(linear(w));
        if k + 2 < widths.len() {
            layers.push(relu());
        }
    }
    layers
}

/// The workload named `name` (`w0`, `w1`, `w2`).
pub fn workload(name: &str) -> anyhow::Result<Workload> {
    Ok(match name {
        "w0" => Workload {
            name: "w0",
            description: "MLP 40-100-100-10, batch 32",
            in_shape: vec![40],
            batch: 32,
            layers: mlp(&[40, 100, 100, 10]),
        },
        "w1" => Workload {
            name: "w1",
            description: "MLP 784-512-512-10, batch 128",
            in_shape: vec![784],
            batch: 128,
            layers: mlp(&[784, 512, 512, 10]),
        },
        "w2" => {
            let conv = |i, o| LayerConfig::Conv2d(Conv2dConfig::new(i, o, 3).padding(1));
            Workload {
                name: "w2",
                description: "CNN conv32-pool-conv64-pool-fc128-fc10 on 1x28x28, batch 64",
                in_shape: vec![1, 28, 28],
                batch: 64,
                layers: vec![
                    conv(1, 32),
                    relu(),
                    LayerConfig::MaxPool2d(Pool2dConfig::new(2)),
                    conv(32, 64),
                    relu(),
                    LayerConfig::MaxPool2d(Pool2dConfig::new(2)),
                    LayerConfig::Flatten(FlattenConfig::default()),
                    linear(128),
                    relu(),
                    linear(10),
                ],
            }
        }
        other => bail!("unknown workload `{other}` (expected w0, w1 or w2)"),
    })
}

/// A training setup for one workload: model, Adam, loss, and one fixed random batch.
pub struct Trainer {
    pub model: Sequential,
    opt: Optimizer<f32>,
    ce: CrossEntropyLoss,
    x: Tensor,
    labels: Vec<usize>,
}

impl Trainer {
    pub fn new(w: &Workload, seed: u64) -> anyhow::Result<Self> {
        let model = Sequential::new(&w.in_shape, &w.layers, seed)
            .with_context(|| format!("building workload {}", w.name))?;
        let recipe = AdamConfig::default().recipe::<f32>()?;
        let opt = Optimizer::new(recipe, &model)?;
        let ce = CrossEntropyLoss::new(CrossEntropyConfig::default())?;
        let mut rng = Rng::new(seed ^ 0x5eed);
        let shape: Vec<usize> = std::iter::once(w.batch)
            .chain(w.in_shape.iter().copied())
            .collect();
        let n: usize = shape.iter().product();
        let x = Tensor::from_vec(&shape, (0..n).map(|_| rng.normal() as f32).collect())?;
        let classes = *model.out_shape().last().unwrap_or(&1);
        let labels = (0..w.batch)
            .map(|_| (rng.next_u64() % classes as u64) as usize)
            .collect();
        Ok(Trainer {
            model,
            opt,
            ce,
            x,
            labels,
        })
    }

    /// One training step; returns the loss.
    pub fn step(&mut self) -> anyhow::Result<f32> {
        let y = self.model.forward(&self.x, true);
        let loss = self.ce.forward(y, &self.labels)?;
        self.model.backward_params(self.ce.grad());
        self.opt.step(&mut self.model)?;
        self.model.clear_grads();
        Ok(loss)
    }
}

#[derive(Serialize, Debug)]
struct WorkloadResult {
    name: &'static str,
    description: &'static str,
    batch: usize,
    parameters: usize,
    /// Steps of the fastest round and its wall time.
    steps: usize,
    seconds: f64,
    steps_per_s: f64,
    /// steps/s of every round.
    rounds: Vec<f64>,
    /// Steps per second of process CPU time in the fastest round (all threads summed).
    steps_per_cpu_s: Option<f64>,
    first_loss: f32,
    last_loss: f32,
}

#[derive(Serialize, Debug)]
struct Report {
    tool: &'static str,
    threads: usize,
    workloads: Vec<WorkloadResult>,
}

fn measure(w: &Workload, args: &TrainArgs) -> anyhow::Result<WorkloadResult> {
    let mut t = Trainer::new(w, 0)?;
    let first_loss = t.step()?;
    for _ in 1..args.warmup.max(1) {
        t.step()?;
    }
    let mut rounds = Vec::new();
    let mut best = (0usize, f64::INFINITY, 0f64, None);
    let mut last_loss = first_loss;
    for _ in 0..args.rounds.max(1) {
        let start = Instant::now();
        let cpu0 = crate::cpu_time::process_seconds();
        let mut steps = 0usize;
        loop {
            last_loss = t.step()?;
            steps += 1;
            let done = match args.steps {
                Some(s) => steps >= s,
                None => start.elapsed().as_secs_f64() >= args.seconds,
            };
            if done {
                break;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu = crate::cpu_time::process_seconds()
            .zip(cpu0)
            .map(|(b, a)| steps as f64 / (b - a).max(1e-9));
        let rate = steps as f64 / secs;
        rounds.push(rate);
        if rate > best.2 {
            best = (steps, secs, rate, cpu);
        }
    }
    if !last_loss.is_finite() {
        bail!("workload {}: loss became {last_loss}", w.name);
    }
    Ok(WorkloadResult {
        name: w.name,
        description: w.description,
        batch: w.batch,
        parameters: t.model.num_parameters(),
        steps: best.0,
        seconds: best.1,
        steps_per_s: best.2,
        rounds,
        steps_per_cpu_s: best.3,
        first_loss,
        last_loss,
    })
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    if args.seconds.is_nan() || args.seconds <= 0.0 {
        bail!("--seconds must be positive, got {}", args.seconds);
    }
    let workloads = args
        .workloads
        .iter()
        .map(|n| workload(n.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()?;
    let results = pool.install(|| {
        workloads
            .iter()
            .map(|w| measure(w, &args))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let report = Report {
        tool: "gradlab",
        threads: args.threads,
        workloads: results,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("gradlab training steps, {} thread(s)", report.threads);
        println!(
            "{:<4} {:<62} {:>12} {:>14}",
            "", "workload", "steps/s", "steps/cpu-s"
        );
        for r in &report.workloads {
            let cpu = r.steps_per_cpu_s.map_or("–".into(), |c| format!("{c:.1}"));
            println!(
                "{:<4} {:<62} {:>12.1} {:>14}",
                r.name, r.description, r.steps_per_s, cpu
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_have_the_specified_shapes() {
        let sizes = [
            ("w0", 40 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10),
            ("w1", 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10),
            (
                "w2",
                32 * 9 + 32 + 64 * 32 * 9 + 64 + 3136 * 128 + 128 + 128 * 10 + 10,
            ),
        ];
        for (name, params) in sizes {
            let w = workload(name).unwrap();
            let m = Sequential::new(&w.in_shape, &w.layers, 0).unwrap();
            assert_eq!(m.num_parameters(), params, "{name}");
            assert_eq!(m.out_shape(), &[10]);
        }
        assert!(workload("w3").is_err());
    }

    #[test]
    fn training_steps_lower_the_loss_on_the_fixed_batch() {
        let w = workload("w0").unwrap();
        let mut t = Trainer::new(&w, 1).unwrap();
        let first = t.step().unwrap();
        let mut last = first;
        for _ in 0..30 {
            last = t.step().unwrap();
        }
        assert!(last < 0.8 * first, "loss {first} → {last}");
    }
}
