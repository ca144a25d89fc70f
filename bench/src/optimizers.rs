//! `gradlab-bench optimizers`: optimizer update throughput against a STREAM-style triad.
//!
//! Every number comes from one run on one rayon pool of `--threads` threads: the triad
//! `a = b + s·c` (12 bytes per element) says what the memory system delivers, and each
//! optimizer's [`Optimizer::step`] on one `f32` parameter of `n` elements (a fixed gradient, set
//! once; 2 warm-up steps; median of `--repeats` timed steps) is converted to GB/s with the bytes
//! the algorithm must move per element (Adam: read p, g, m, v and write p, m, v = 28 bytes).
//! A second case times whole steps over 1,000 tensors of 1,000 elements, where per-tensor
//! overhead rather than bandwidth dominates. A third steps the `train` workloads' MLPs (W0,
//! ~15k parameters, and W1, ~670k, whose state fits in cache) and sets each step's GB/s against
//! a copy (`copy_from_slice`) of the same bytes timed in the same run: the fraction says how
//! close the update runs to cache bandwidth.
//!
//! With `--torch FILE.json` (the output of `bench/torch_optim_bench.py`) it also prints how
//! gradlab compares with PyTorch's `Adam(fused=True)` and SGD with momentum.

use std::hint::black_box;
use std::time::Instant;

use anyhow::{bail, Context as _};
use optim::{Optimizer, Param, ParamStore, Recipe};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(clap::Args, Debug)]
pub struct OptimizersArgs {
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Threads of the rayon pool (the triad and the optimizers use the same pool).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Parameter sizes in elements, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000_000usize, 100_000_000])]
    sizes: Vec<usize>,
    /// Timed repeats per measurement (default: 10 below 50M elements, 5 from there on).
    #[arg(long)]
    repeats: Option<usize>,
    /// Optimizers to run, comma-separated (default: all available of adam, sgd_momentum,
    /// adamw, lion, rmsprop, adagrad).
    #[arg(long, value_delimiter = ',')]
    optimizers: Option<Vec<String>>,
    /// The many-small-tensors case as COUNTxLEN (`0x0` skips it).
    #[arg(long, default_value = "1000x1000")]
    small: String,
    /// Output of bench/torch_optim_bench.py to compare with.
    #[arg(long)]
    torch: Option<std::path::PathBuf>,
    /// Model-shaped cases (the `train` workloads' MLPs: w0 = 40-100-100-10, ~15k parameters;
    /// w1 = 784-512-512-10, ~670k), comma-separated; `none` skips them. Each step is set
    /// against a copy of the same bytes in the same run (in cache when the state is).
    #[arg(long, value_delimiter = ',', default_values_t = ["w0".to_string(), "w1".to_string()])]
    models: Vec<String>,
}

/// The parameter tensors (weight, bias per linear layer) of the `train` workloads' MLPs.
fn model_shapes(name: &str) -> anyhow::Result<Vec<usize>> {
    let widths: &[usize] = match name {
        "w0" => &[40, 100, 100, 10],
        "w1" => &[784, 512, 512, 10],
        other => bail!("--models: unknown `{other}`; valid: w0, w1, none"),
    };
    Ok(widths
        .windows(2)
        .flat_map(|w| [w[0] * w[1], w[1]])
        .collect())
}

/// One optimizer the benchmark knows: its label, how to build it by name, and the bytes per
/// element the update must read and write.
struct Spec {
    label: &'static str,
    /// The `[optimizer]` table handed to `optim::optimizers::from_table`.
    table: &'static str,
    bytes: usize,
}

const SPECS: &[Spec] = &[
    Spec {
        label: "adam",
        table: "name = \"adam\"\nlr = 1e-3",
        bytes: 28,
    },
    Spec {
        label: "sgd_momentum",
        table: "name = \"sgd\"\nlr = 1e-3\nmomentum = 0.9",
        bytes: 20,
    },
    Spec {
        label: "adamw",
        table: "name = \"adamw\"\nlr = 1e-3\nweight_decay = 1e-2",
        bytes: 28,
    },
    Spec {
        label: "lion",
        table: "name = \"lion\"\nlr = 1e-4",
        bytes: 20,
    },
    Spec {
        label: "rmsprop",
        table: "name = \"rmsprop\"\nlr = 1e-3",
        bytes: 20,
    },
    Spec {
        label: "adagrad",
        table: "name = \"adagrad\"\nlr = 1e-3",
        bytes: 20,
    },
];

/// The recipe for `spec`, by name through the library.
fn recipe<F: optim::Float>(spec: &Spec) -> anyhow::Result<Recipe<F>> {
    let table: toml::Table = toml::from_str(spec.table)?;
    Ok(optim::optimizers::from_table::<F>("bench", &table, &[])?)
}

#[derive(Serialize)]
struct TriadResult {
    elements: usize,
    seconds: f64,
    gbps: f64,
}

#[derive(Serialize)]
struct OptResult {
    optimizer: String,
    elements: usize,
    seconds: f64,
    gbps: f64,
    ratio_to_triad: f64,
}

#[derive(Serialize)]
struct SmallResult {
    optimizer: String,
    tensors: usize,
    elements_per_tensor: usize,
    seconds_per_step: f64,
    steps_per_s: f64,
    gbps: f64,
    /// Step time divided by the number of tensors, in µs.
    us_per_tensor: f64,
}

#[derive(Deserialize)]
struct TorchFile {
    threads: Option<usize>,
    torch_version: Option<String>,
    results: Vec<TorchEntry>,
}

#[derive(Deserialize, Serialize, Clone)]
struct TorchEntry {
    name: String,
    elements: usize,
    seconds: f64,
    gbps: f64,
}

#[derive(Serialize)]
struct TorchCompare {
    optimizer: String,
    torch_name: String,
    elements: usize,
    gradlab_seconds: f64,
    torch_seconds: f64,
    /// Speed of gradlab relative to torch (torch seconds / gradlab seconds): > 1 is faster.
    ratio: f64,
}

#[derive(Serialize)]
struct TorchSection {
    threads: Option<usize>,
    torch_version: Option<String>,
    results: Vec<TorchEntry>,
    compare: Vec<TorchCompare>,
}

/// One optimizer step over a model's tensors, against a copy of as many bytes as the step
/// moves (`bytes` per parameter: reads and writes), timed in the same run.
#[derive(Serialize)]
struct ModelResult {
    model: String,
    optimizer: String,
    parameters: usize,
    tensors: usize,
    seconds_per_step: f64,
    ns_per_parameter: f64,
    bytes_per_parameter: usize,
    gbps: f64,
    /// GB/s of `copy_from_slice` moving the same bytes (half read, half written).
    copy_gbps: f64,
    /// `gbps / copy_gbps`.
    fraction_of_copy: f64,
    /// Whether the step ran the hand-fused loop (`optim::fused`).
    hand_fused: bool,
    /// The same step on the general chain executor (the path before the hand-fused loops).
    general_ns_per_parameter: f64,
}

#[derive(Serialize)]
struct Report {
    threads: usize,
    triad: Vec<TriadResult>,
    results: Vec<OptResult>,
    small: Vec<SmallResult>,
    models: Vec<ModelResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    torch: Option<TorchSection>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}

/// Median seconds of `repeats` calls of `f` after 2 warm-up calls.
fn time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let times = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// A deterministic gradient-like fill in [-1, 1), away from denormals.
fn fill(n: usize, seed: u64) -> Vec<f32> {
    let mut v = vec![0.0f32; n];
    v.par_chunks_mut(1 << 16).enumerate().for_each(|(c, ch)| {
        let mut x = seed ^ ((c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for e in ch {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *e = ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0 + 1e-3;
        }
    });
    v
}

const TRIAD_CHUNK: usize = 1 << 16;

fn triad(n: usize, repeats: usize) -> f64 {
    let mut a = vec![0.0f32; n];
    let b = fill(n, 1);
    let c = fill(n, 2);
    let s = black_box(3.0f32);
    time(repeats, || {
        a.par_chunks_mut(TRIAD_CHUNK)
            .zip(b.par_chunks(TRIAD_CHUNK))
            .zip(c.par_chunks(TRIAD_CHUNK))
            .for_each(|((a, b), c)| {
                for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
                    *a = b + s * c;
                }
            });
        black_box(&mut a);
    })
}

/// Median seconds of copying `bytes` bytes (`copy_from_slice` of `f32`s, split across the pool
/// as the optimizers split a large tensor).
fn copy_time(bytes: usize, repeats: usize) -> f64 {
    let n = (bytes / 4).max(1);
    let src = fill(n, 6);
    let mut dst = vec![0.0f32; n];
    time(repeats, || {
        if n >= 2 * TRIAD_CHUNK {
            dst.par_chunks_mut(TRIAD_CHUNK)
                .zip(src.par_chunks(TRIAD_CHUNK))
                .for_each(|(d, s)| d.copy_from_slice(s));
        } else {
            dst.copy_from_slice(&src);
        }
        black_box(&mut dst);
    })
}

fn step_time(
    recipe: Recipe<f32>,
    store: &mut ParamStore<f32>,
    repeats: usize,
) -> anyhow::Result<f64> {
    let mut opt = Optimizer::new(recipe, store)?;
    let mut err = None;
    let t = time(repeats, || {
        if let Err(e) = opt.step(store) {
            err = Some(e);
        }
        black_box(&mut *store);
    });
    if let Some(e) = err {
        return Err(e.into());
    }
    Ok(t)
}

fn parse_small(s: &str) -> anyhow::Result<(usize, usize)> {
    let (a, b) = s
        .split_once('x')
        .with_context(|| format!("--small: expected COUNTxLEN such as 1000x1000, got {s:?}"))?;
    Ok((
        a.trim()
            .parse()
            .with_context(|| format!("--small: bad count {a:?}"))?,
        b.trim()
            .parse()
            .with_context(|| format!("--small: bad length {b:?}"))?,
    ))
}

pub fn run(args: OptimizersArgs) -> anyhow::Result<()> {
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    if args.sizes.contains(&0) {
        bail!("--sizes: every size must be at least 1 element");
    }
    if args.repeats == Some(0) {
        bail!("--repeats must be at least 1");
    }
    let (small_count, small_len) = parse_small(&args.small)?;
    let specs: Vec<&Spec> = match &args.optimizers {
        None => SPECS.iter().collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                SPECS
                    .iter()
                    .find(|s| s.label == n.as_str())
                    .with_context(|| {
                        let valid: Vec<&str> = SPECS.iter().map(|s| s.label).collect();
                        format!("--optimizers: unknown `{n}`; valid: {}", valid.join(", "))
                    })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let torch = match &args.torch {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let t: TorchFile = serde_json::from_str(&text)
                .with_context(|| format!("parsing {} as torch bench output", path.display()))?;
            Some(t)
        }
        None => None,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()?;
    let report = pool.install(|| measure(&args, &specs, small_count, small_len, torch))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn measure(
    args: &OptimizersArgs,
    specs: &[&Spec],
    small_count: usize,
    small_len: usize,
    torch: Option<TorchFile>,
) -> anyhow::Result<Report> {
    let mut triads = Vec::new();
    let mut results = Vec::new();
    for &n in &args.sizes {
        let repeats = args.repeats.unwrap_or(if n < 50_000_000 { 10 } else { 5 });
        let t = triad(n, repeats);
        let triad_gbps = 12.0 * n as f64 / t / 1e9;
        triads.push(TriadResult {
            elements: n,
            seconds: t,
            gbps: triad_gbps,
        });
        let grad = fill(n, 3);
        for spec in specs {
            let recipe = recipe(spec)?;
            let mut store = ParamStore::new(vec![Param {
                name: "w".into(),
                shape: vec![n],
                value: vec![0.5f32; n],
                grad: grad.clone(),
                has_grad: true,
            }]);
            let t = step_time(recipe, &mut store, repeats)?;
            let gbps = spec.bytes as f64 * n as f64 / t / 1e9;
            results.push(OptResult {
                optimizer: spec.label.to_string(),
                elements: n,
                seconds: t,
                gbps,
                ratio_to_triad: gbps / triad_gbps,
            });
        }
    }

    let mut small = Vec::new();
    if small_count > 0 && small_len > 0 {
        let repeats = args.repeats.unwrap_or(20).max(10);
        let grad = fill(small_len, 4);
        for spec in specs {
            let recipe = recipe(spec)?;
            let mut store = ParamStore::new(
                (0..small_count)
                    .map(|i| Param {
                        name: format!("layer{i}.weight"),
                        shape: vec![small_len],
                        value: vec![0.5f32; small_len],
                        grad: grad.clone(),
                        has_grad: true,
                    })
                    .collect(),
            );
            let t = step_time(recipe, &mut store, repeats)?;
            let bytes = spec.bytes as f64 * (small_count * small_len) as f64;
            let gbps = bytes / t / 1e9;
            small.push(SmallResult {
                optimizer: spec.label.to_string(),
                tensors: small_count,
                elements_per_tensor: small_len,
                seconds_per_step: t,
                steps_per_s: 1.0 / t,
                gbps,
                us_per_tensor: t / small_count as f64 * 1e6,
            });
        }
    }

    let mut models = Vec::new();
    for name in args.models.iter().filter(|m| m.as_str() != "none") {
        let shapes = model_shapes(name)?;
        let n: usize = shapes.iter().sum();
        // Enough repeats for a stable median of microsecond steps.
        let repeats = args.repeats.unwrap_or(if n < 100_000 { 2000 } else { 200 });
        for spec in specs {
            let recipe = recipe(spec)?;
            let mut store = ParamStore::new(
                shapes
                    .iter()
                    .enumerate()
                    .map(|(i, &len)| Param {
                        name: format!("{i}"),
                        shape: vec![len],
                        value: vec![0.5f32; len],
                        grad: fill(len, 5 + i as u64),
                        has_grad: true,
                    })
                    .collect(),
            );
            let hand_fused = recipe.chain.hand_fused();
            // The same chain on the general executor, for a same-run before/after.
            let mut general = self::recipe(spec)?;
            general.chain = general.chain.without_fused_loops();
            let mut store2 = store.clone();
            let general_t = step_time(general, &mut store2, repeats)?;
            let t = step_time(recipe, &mut store, repeats)?;
            let bytes = spec.bytes * n;
            let copy_t = copy_time(bytes / 2, repeats);
            let gbps = bytes as f64 / t / 1e9;
            let copy_gbps = bytes as f64 / copy_t / 1e9;
            models.push(ModelResult {
                model: name.clone(),
                optimizer: spec.label.to_string(),
                parameters: n,
                tensors: shapes.len(),
                seconds_per_step: t,
                ns_per_parameter: t / n as f64 * 1e9,
                bytes_per_parameter: spec.bytes,
                gbps,
                copy_gbps,
                fraction_of_copy: gbps / copy_gbps,
                hand_fused,
                general_ns_per_parameter: general_t / n as f64 * 1e9,
            });
        }
    }

    let torch = torch.map(|t| {
        let mut compare = Vec::new();
        for (ours, theirs) in [
            ("adam", "adam_fused"),
            ("adam", "adam_foreach"),
            ("sgd_momentum", "sgd_momentum"),
            ("triad", "triad"),
        ] {
            for e in t.results.iter().filter(|e| e.name == theirs) {
                let mine = if ours == "triad" {
                    triads
                        .iter()
                        .find(|r| r.elements == e.elements)
                        .map(|r| r.seconds)
                } else {
                    results
                        .iter()
                        .find(|r| r.optimizer == ours && r.elements == e.elements)
                        .map(|r| r.seconds)
                };
                if let Some(s) = mine {
                    compare.push(TorchCompare {
                        optimizer: ours.to_string(),
                        torch_name: theirs.to_string(),
                        elements: e.elements,
                        gradlab_seconds: s,
                        torch_seconds: e.seconds,
                        ratio: e.seconds / s,
                    });
                }
            }
        }
        TorchSection {
            threads: t.threads,
            torch_version: t.torch_version,
            results: t.results,
            compare,
        }
    });

    Ok(Report {
        threads: args.threads,
        triad: triads,
        results,
        small,
        models,
        torch,
    })
}

fn print_report(r: &Report) {
    println!("gradlab-bench optimizers: f32, {} threads", r.threads);
    println!();
    println!(
        "{:<16} {:>12} {:>11} {:>9} {:>9}",
        "kernel", "elements", "ms/step", "GB/s", "/triad"
    );
    for t in &r.triad {
        println!(
            "{:<16} {:>12} {:>11.3} {:>9.2} {:>9.2}",
            "triad (12 B/el)",
            t.elements,
            t.seconds * 1e3,
            t.gbps,
            1.0
        );
        for o in r.results.iter().filter(|o| o.elements == t.elements) {
            println!(
                "{:<16} {:>12} {:>11.3} {:>9.2} {:>9.2}",
                o.optimizer,
                o.elements,
                o.seconds * 1e3,
                o.gbps,
                o.ratio_to_triad
            );
        }
    }
    if !r.small.is_empty() {
        println!();
        println!(
            "{:<16} {:>12} {:>11} {:>9} {:>9} {:>14}",
            "many tensors", "tensors×len", "ms/step", "steps/s", "GB/s", "µs/tensor"
        );
        for s in &r.small {
            println!(
                "{:<16} {:>12} {:>11.3} {:>9.1} {:>9.2} {:>14.2}",
                s.optimizer,
                format!("{}×{}", s.tensors, s.elements_per_tensor),
                s.seconds_per_step * 1e3,
                s.steps_per_s,
                s.gbps,
                s.us_per_tensor
            );
        }
    }
    if !r.models.is_empty() {
        println!();
        println!(
            "{:<16} {:>6} {:>9} {:>9} {:>8} {:>9} {:>9} {:>8} {:>12}",
            "model step",
            "model",
            "params",
            "µs/step",
            "ns/param",
            "GB/s",
            "copy GB/s",
            "/copy",
            "general ns/p"
        );
        for m in &r.models {
            println!(
                "{:<16} {:>6} {:>9} {:>9.2} {:>8.3} {:>9.1} {:>9.1} {:>8.2} {:>12.3}",
                format!(
                    "{}{}",
                    m.optimizer,
                    if m.hand_fused { "" } else { " (chain)" }
                ),
                m.model,
                m.parameters,
                m.seconds_per_step * 1e6,
                m.ns_per_parameter,
                m.gbps,
                m.copy_gbps,
                m.fraction_of_copy,
                m.general_ns_per_parameter
            );
        }
        println!(
            "(GB/s counts the bytes the update must move per parameter; copy: copy_from_slice of \
             as many bytes, half read and half written, in this run; general: the same step on \
             the general chain executor, the path before the hand-fused loops)"
        );
    }
    if let Some(t) = &r.torch {
        println!();
        println!(
            "vs PyTorch {} ({} threads): ratio = torch time / gradlab time (> 1: gradlab faster)",
            t.torch_version.as_deref().unwrap_or("?"),
            t.threads.map_or("?".to_string(), |n| n.to_string())
        );
        if t.threads.is_some_and(|n| n != r.threads) {
            println!("warning: torch ran with a different thread count");
        }
        println!(
            "{:<14} {:<14} {:>12} {:>12} {:>12} {:>8}",
            "gradlab", "torch", "elements", "gradlab ms", "torch ms", "ratio"
        );
        for c in &t.compare {
            println!(
                "{:<14} {:<14} {:>12} {:>12.3} {:>12.3} {:>8.2}",
                c.optimizer,
                c.torch_name,
                c.elements,
                c.gradlab_seconds * 1e3,
                c.torch_seconds * 1e3,
                c.ratio
            );
        }
        if t.compare.is_empty() {
            println!("(no torch result matches these sizes)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn bench_adam_matches_pytorch_formula_for_two_steps() {
        // f64, lr 0.1, g = 0.5 then -0.25, p0 = 1: the Adam the bench measures, built by name.
        let spec = Spec {
            label: "adam",
            table: "name = \"adam\"\nlr = 0.1",
            bytes: 28,
        };
        let recipe = recipe::<f64>(&spec).unwrap();
        let mut store = ParamStore::single("w", vec![1.0f64]);
        let mut opt = Optimizer::new(recipe, &store).unwrap();
        let (mut p, mut m, mut v) = (1.0f64, 0.0f64, 0.0f64);
        for (t, g) in [(1.0f64, 0.5f64), (2.0, -0.25)] {
            store.set_grad(0, &[g]);
            opt.step(&mut store).unwrap();
            m += 0.1 * (g - m);
            v = 0.999 * v + 0.001 * g * g;
            let (bc1, bc2) = (1.0 - 0.9f64.powf(t), 1.0 - 0.999f64.powf(t));
            p -= 0.1 / bc1 * m / (v.sqrt() / bc2.sqrt() + 1e-8);
            let got = store.params[0].value[0];
            assert!((got - p).abs() <= 1e-12 * p.abs(), "step {t}: {got} vs {p}");
            if t == 1.0 {
                // Adam's first step moves by lr·sign(g), up to eps.
                assert!((got - 0.9).abs() < 1e-8, "{got}");
            }
        }
    }

    #[test]
    fn parses_small_case() {
        assert_eq!(parse_small("1000x1000").unwrap(), (1000, 1000));
        assert!(parse_small("1000").is_err());
    }
}
