//! The per-layer, activation and per-example instruments against independent computations.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diagnose::instruments::activations::Activations;
use diagnose::instruments::layers::Layers;
use diagnose::instruments::per_example::PerExample;
use diagnose::instruments::{Every, Instrument};
use diagnose::{Doctor, Preset, Timeline};
use optim::Params;
use train::Probe;

const MLP: &str = r#"
seed = 0
[data]
dataset = "moons"
n = 120
batch_size = 20
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "relu"
[[model.layers]]
type = "dropout"
p = 0.2
[[model.layers]]
type = "linear"
out_features = 12
[[model.layers]]
type = "tanh"
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "sgd"
lr = 0.1
[train]
epochs = 2
[log]
tensorboard = false
"#;

fn config(src: &str, sets: &[&str], dir: &Path) -> train::RunConfig {
    let mut t: toml::Table = src.parse().unwrap();
    let mut all: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    all.push(format!("log.dir=\"{}\"", dir.display()));
    train::apply_overrides(&mut t, &all).unwrap();
    train::RunConfig::from_table("t.toml", t, Path::new("."), "t").unwrap()
}

fn quiet() -> train::Options {
    train::Options {
        quiet: true,
        ..Default::default()
    }
}

fn run(src: &str, sets: &[&str], instruments: Vec<Box<dyn Instrument>>) -> (Timeline, Vec<f32>) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(src, sets, tmp.path());
    let mut doc = Doctor::with(instruments);
    let s = train::run_observed(&cfg, &quiet(), &mut doc).unwrap();
    assert!(doc.error.is_none());
    (doc.timeline, s.losses)
}

fn norm(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-12
}

/// What the test instruments saw, per step.
#[derive(Default)]
struct Seen {
    names: Vec<String>,
    init: Vec<Vec<f32>>,
    before: BTreeMap<u64, Vec<Vec<f32>>>,
    grads: BTreeMap<u64, Vec<Vec<f32>>>,
    lr: BTreeMap<u64, f64>,
    /// Per step: the per-example gradients (of the per-example loss) computed one at a time.
    examples: BTreeMap<u64, Vec<Vec<f64>>>,
    sq_norms: BTreeMap<u64, Vec<f32>>,
}

/// Records the model's own weights and gradients (and, when asked, every example's gradient).
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    per_example: bool,
}

impl Instrument for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn wants_per_example(&self, _step: u64) -> bool {
        self.per_example
    }
    fn after_backward(&mut self, p: &mut Probe<'_>, _t: &mut Timeline) -> diagnose::Result<()> {
        let mut s = self.seen.lock().unwrap();
        let m = &*p.model;
        let n = Params::<f32>::count(m);
        if s.names.is_empty() {
            s.names = (0..n)
                .map(|i| Params::<f32>::name(m, i).to_string())
                .collect();
            s.init = m.snapshot();
        }
        s.before.insert(p.step, m.snapshot());
        let g = (0..n)
            .map(|i| Params::<f32>::grad(m, i).unwrap().to_vec())
            .collect();
        s.grads.insert(p.step, g);
        s.lr.insert(p.step, p.lr);
        if self.per_example {
            if let Some(sq) = p.per_example_sq_norms {
                let sq = sq.to_vec();
                let b = sq.len();
                let mut all = Vec::new();
                let mut buf = Vec::new();
                for k in 0..b {
                    p.example_gradient(k, &mut buf)?;
                    all.push(buf.iter().flatten().map(|&v| v as f64 * b as f64).collect());
                }
                s.examples.insert(p.step, all);
                s.sq_norms.insert(p.step, sq);
            }
        }
        Ok(())
    }
}

fn recorder(per_example: bool) -> (Box<dyn Instrument>, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    (
        Box::new(Recorder {
            seen: seen.clone(),
            per_example,
        }),
        seen,
    )
}

#[test]
fn norms_ratios_and_distance_match_the_models_own_numbers() {
    let (rec, seen) = recorder(false);
    let (t, losses) = run(MLP, &[], vec![rec, Box::new(Layers::new(Every(1)))]);
    let s = seen.lock().unwrap();
    assert_eq!(losses.len(), 12);
    for (i, name) in s.names.iter().enumerate() {
        let gn = t.layer("grad_norm", name);
        let wn = t.layer("weight_norm", name);
        let ur = t.layer("update_ratio", name);
        let di = t.layer("dist_init", name);
        assert_eq!(gn.len(), 12, "{name}");
        assert_eq!(ur.len(), 12, "{name}");
        for k in 0..12 {
            let step = k as u64 + 1;
            let g = &s.grads[&step][i];
            let w = &s.before[&step][i];
            assert_eq!(gn[k].0, step);
            assert!(close(gn[k].1, norm(g), 1e-9), "{name} {step}");
            assert!(close(wn[k].1, norm(w), 1e-9), "{name} {step}");
            // Plain SGD: Δθ = lr·g, so ‖Δθ‖/‖θ‖ = lr·‖g‖/‖θ‖.
            let hand = s.lr[&step] * norm(g) / norm(w);
            assert!(
                close(ur[k].1, hand, 1e-3),
                "{name} {step}: {} vs {hand}",
                ur[k].1
            );
            let w0 = &s.init[i];
            let d: Vec<f32> = w.iter().zip(w0).map(|(a, b)| a - b).collect();
            assert!(close(di[k].1, norm(&d) / norm(w0), 1e-5), "{name} {step}");
        }
        assert_eq!(di[0].1, 0.0);
        assert!(di[11].1 > 0.0);
    }
    // Histograms: one per parameter and step, counting every non-zero gradient entry.
    let h: Vec<_> = t
        .histograms
        .iter()
        .filter(|h| h.what == "gradient" && h.layer == "0.weight")
        .collect();
    assert_eq!(h.len(), 12);
    let g = &s.grads[&5][0];
    let nonzero = g.iter().filter(|&&x| x != 0.0).count() as u64;
    assert_eq!(h[4].counts.iter().sum::<u64>(), nonzero);
    assert_eq!(h[4].edges.len(), h[4].counts.len() + 1);
}

/// Forces units 0..3 of the first linear layer (8 units) negative for every input and units
/// 3..8 positive, before the activation instrument's forward pass of step 1.
struct KillUnits;

impl Instrument for KillUnits {
    fn name(&self) -> &'static str {
        "kill"
    }
    fn after_backward(&mut self, p: &mut Probe<'_>, _t: &mut Timeline) -> diagnose::Result<()> {
        if p.step == 1 {
            let (b, _) = p.model.value_grad_mut(1); // 0.bias
            for (u, v) in b.iter_mut().enumerate() {
                *v = if u < 3 { -1e3 } else { 1e3 };
            }
        }
        Ok(())
    }
}

const SMALL: &str = r#"
seed = 1
[data]
dataset = "moons"
n = 60
batch_size = 30
[[model.layers]]
type = "linear"
out_features = 8
[[model.layers]]
type = "relu"
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "sgd"
lr = 0.05
[train]
epochs = 1
[log]
tensorboard = false
"#;

#[test]
fn dead_fraction_is_exact() {
    let (t, _) = run(
        SMALL,
        &[],
        vec![Box::new(KillUnits), Box::new(Activations::new(Every(1)))],
    );
    assert_eq!(t.layers_of("dead_fraction"), vec!["1"]);
    assert_eq!(t.layer("dead_fraction", "1")[0], (1, 3.0 / 8.0));
    // All units dead by construction: zero weights and a negative bias.
    let (t, _) = run(
        SMALL,
        &[
            "model.layers.0.weight_init=\"zeros\"",
            "model.layers.0.bias_init=\"constant\"",
            "model.layers.0.bias_value=-0.5",
        ],
        vec![Box::new(Activations::new(Every(1)))],
    );
    let d = t.layer("dead_fraction", "1");
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|p| p.1 == 1.0));
    assert!(t.layer("act_mean", "1").iter().all(|p| p.1 == 0.0));
    assert!(t.layer("act_zero_fraction", "1").iter().all(|p| p.1 == 1.0));
    // Every layer gets a mean and std; activation histograms per layer.
    assert_eq!(t.layers_of("act_std"), vec!["0", "1", "2"]);
    assert_eq!(
        t.histograms
            .iter()
            .filter(|h| h.what == "activation")
            .count(),
        6
    );
}

#[test]
fn act_mean_and_std_match_a_hand_forward_pass() {
    // A linear layer with zero weights and bias 0.25 → tanh: every output is tanh(0.25).
    let (t, _) = run(
        &SMALL.replace("\"relu\"", "\"tanh\""),
        &[
            "model.layers.0.weight_init=\"zeros\"",
            "model.layers.0.bias_init=\"constant\"",
            "model.layers.0.bias_value=0.25",
        ],
        vec![Box::new(Activations::new(Every(1)))],
    );
    let m = t.layer("act_mean", "1")[0].1;
    assert!(close(m, 0.25f32.tanh() as f64, 1e-6), "{m}");
    assert!(t.layer("act_std", "1")[0].1 < 1e-6);
    assert_eq!(t.layer("saturation", "1")[0].1, 0.0);
}

#[test]
fn saturation_of_tanh_with_huge_and_small_weights() {
    let src = SMALL.replace("\"relu\"", "\"tanh\"");
    let sets = |std: &'static str| {
        [
            "model.layers.0.weight_init=\"normal\"",
            std,
            "model.layers.0.bias_init=\"zeros\"",
        ]
    };
    let (big, _) = run(
        &src,
        &sets("model.layers.0.init_std=100.0"),
        vec![Box::new(Activations::new(Every(1)))],
    );
    let s = big.layer("saturation", "1")[0].1;
    assert!(s > 0.9, "{s}");
    let (small, _) = run(
        &src,
        &sets("model.layers.0.init_std=0.001"),
        vec![Box::new(Activations::new(Every(1)))],
    );
    assert_eq!(small.layer("saturation", "1")[0].1, 0.0);
    // Sigmoid with huge weights saturates too.
    let (sig, _) = run(
        &SMALL.replace("\"relu\"", "\"sigmoid\""),
        &sets("model.layers.0.init_std=100.0"),
        vec![Box::new(Activations::new(Every(1)))],
    );
    assert!(sig.layer("saturation", "1")[0].1 > 0.9);
    assert!(sig.layers_of("dead_fraction").is_empty());
}

#[test]
fn identical_units_after_zero_init() {
    let src = SMALL.replace("\"relu\"", "\"sigmoid\"");
    let zeros = ["model.weight_init=\"zeros\"", "model.bias_init=\"zeros\""];
    let (t, _) = run(&src, &zeros, vec![Box::new(Layers::new(Every(1)))]);
    // The hidden layer's units stay identical: symmetry is never broken.
    let u = t.layer("identical_units", "0.weight");
    assert_eq!(u.len(), 2);
    assert!(u.iter().all(|p| p.1 == 1.0), "{u:?}");
    // Biases are 1-D: no reading.
    assert!(t.layer("identical_units", "0.bias").is_empty());
    let (t, _) = run(&src, &[], vec![Box::new(Layers::new(Every(1)))]);
    assert_eq!(t.layer("identical_units", "0.weight")[0].1, 0.0);
    assert_eq!(t.layer("identical_units", "2.weight")[0].1, 0.0);
}

#[test]
fn per_example_statistics_match_one_by_one_gradients() {
    let (rec, seen) = recorder(true);
    let batch = 20;
    let (t, _) = run(
        MLP,
        &[],
        vec![
            rec,
            Box::new(PerExample::new(Every(1), Some((Every(3), batch)))),
        ],
    );
    let s = seen.lock().unwrap();
    let pm = t.get("pe_norm_mean");
    assert_eq!(pm.len(), 12);
    let ip = t.get("inner_product_test");
    assert_eq!(
        ip.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![1, 3, 6, 9, 12]
    );
    for (k, &(step, mean)) in pm.iter().enumerate() {
        let gs = &s.examples[&step];
        let b = gs.len();
        assert_eq!(b, batch);
        let gbar: Vec<f64> = s.grads[&step].iter().flatten().map(|&v| v as f64).collect();
        let dot = |a: &[f64], c: &[f64]| a.iter().zip(c).map(|(x, y)| x * y).sum::<f64>();
        // The engine's per-example norms equal the one-by-one gradients' norms.
        for (g, &sq) in gs.iter().zip(&s.sq_norms[&step]) {
            let share = dot(g, g) / (b * b) as f64;
            assert!(close(sq as f64, share, 1e-4), "{sq} vs {share}");
        }
        // The mean of the per-example gradients is the batch gradient.
        let mean_g: Vec<f64> = (0..gbar.len())
            .map(|j| gs.iter().map(|g| g[j]).sum::<f64>() / b as f64)
            .collect();
        let diff: Vec<f64> = mean_g.iter().zip(&gbar).map(|(a, c)| a - c).collect();
        assert!(dot(&diff, &diff).sqrt() <= 1e-5 * dot(&gbar, &gbar).sqrt() + 1e-9);
        let norms: Vec<f64> = gs.iter().map(|g| dot(g, g).sqrt()).collect();
        let want_mean = norms.iter().sum::<f64>() / b as f64;
        let want_max = norms.iter().cloned().fold(0.0, f64::max);
        assert!(close(mean, want_mean, 1e-4), "{mean} vs {want_mean}");
        assert!(close(t.get("pe_norm_max")[k].1, want_max, 1e-4));
        let g2 = dot(&gbar, &gbar);
        let v = gs
            .iter()
            .map(|g| {
                g.iter()
                    .zip(&gbar)
                    .map(|(a, c)| (a - c).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / b as f64;
        let nt = t.get("norm_test")[k];
        assert_eq!(nt.0, step);
        assert!(
            close(nt.1, v / (b as f64 * g2), 1e-3),
            "{} vs {}",
            nt.1,
            v / (b as f64 * g2)
        );
        assert!(close(t.get("grad_snr")[k].1, g2 / (v / b as f64), 1e-3));
        if let Some(&(_, ipv)) = ip.iter().find(|p| p.0 == step) {
            // Bollapragada et al.: sample variances over the subsample (here the whole batch).
            let want_ip = gs.iter().map(|g| (dot(g, &gbar) - g2).powi(2)).sum::<f64>()
                / (b as f64 - 1.0)
                / (b as f64 * g2 * g2);
            let want_orth = gs
                .iter()
                .map(|g| {
                    let c = dot(g, &gbar) / g2;
                    g.iter()
                        .zip(&gbar)
                        .map(|(a, gb)| (a - c * gb).powi(2))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / (b as f64 - 1.0)
                / (b as f64 * g2);
            let orth = t
                .get("orthogonality_test")
                .iter()
                .find(|p| p.0 == step)
                .unwrap()
                .1;
            assert!(close(ipv, want_ip, 1e-3), "{ipv} vs {want_ip}");
            assert!(close(orth, want_orth, 1e-3), "{orth} vs {want_orth}");
        }
    }
}

/// Per step: the mean per-example gradient norm of the evaluation-statistics variant, from
/// explicit per-example gradients (one plain backward pass per example).
struct EvalStatisticsNorms {
    seen: Arc<Mutex<BTreeMap<u64, f64>>>,
}

impl Instrument for EvalStatisticsNorms {
    fn name(&self) -> &'static str {
        "eval_statistics_norms"
    }
    fn after_backward(&mut self, p: &mut Probe<'_>, _t: &mut Timeline) -> diagnose::Result<()> {
        let b = p.x.batch();
        let mut buf = Vec::new();
        let mut sum = 0.0;
        for k in 0..b {
            assert!(p.example_gradient_eval_statistics(k, &mut buf)?);
            sum += b as f64
                * buf
                    .iter()
                    .flatten()
                    .map(|&v| v as f64 * v as f64)
                    .sum::<f64>()
                    .sqrt();
        }
        self.seen.lock().unwrap().insert(p.step, sum / b as f64);
        Ok(())
    }
}

#[test]
fn batch_norm_models_record_eval_statistics_variant() {
    let src = MLP.replace(
        "type = \"tanh\"",
        "type = \"batchnorm1d\"\n[[model.layers]]\ntype = \"tanh\"",
    );
    assert!(src.contains("batchnorm1d") && src.contains("dropout"));
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let (t, _) = run(
        &src,
        &[],
        vec![
            Box::new(PerExample::new(Every(1), Some((Every(2), 4)))),
            Box::new(EvalStatisticsNorms { seen: seen.clone() }),
        ],
    );
    let marker = t.get(diagnose::instruments::per_example::EVAL_STATISTICS);
    let pe = t.get("pe_norm_mean");
    assert_eq!(pe.len(), 12, "2 epochs of 6 batches");
    assert_eq!(marker.len(), pe.len());
    assert!(marker.iter().zip(pe).all(|(m, p)| m.0 == p.0 && m.1 == 1.0));
    for name in ["grad_snr", "b_simple", "noise_trace", "inner_product_test"] {
        assert!(!t.get(name).is_empty(), "{name} not recorded");
    }
    let seen = seen.lock().unwrap();
    for &(step, v) in pe {
        let want = seen[&step];
        assert!(
            close(v, want, 1e-4),
            "step {step}: pe_norm_mean {v} vs explicit {want}"
        );
    }
    // Under the full preset: training is bit for bit that of a plain run, and the report's
    // readings line labels the noise scale with the variant.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&src, &[], tmp.path());
    let plain = train::run(&cfg, &quiet()).unwrap();
    let mut doc = Doctor::new(Preset::Full);
    let full = train::run_observed(&cfg, &quiet(), &mut doc).unwrap();
    assert_eq!(plain.losses, full.losses);
    assert!(!doc.timeline.get("b_simple").is_empty());
    let report = diagnose::run::report(doc, full, Preset::Full, Path::new("bn.toml"), None);
    let line = report.readings_line().unwrap();
    assert!(
        line.contains("B_simple") && line.contains("per_example_variant = \"eval_statistics\""),
        "{line}"
    );
    // Without running statistics there is no such variant: nothing is recorded.
    let untracked = src.replace(
        "\"batchnorm1d\"",
        "\"batchnorm1d\"\ntrack_running_stats = false",
    );
    let (t, _) = run(
        &untracked,
        &[],
        vec![Box::new(PerExample::new(Every(1), Some((Every(1), 4))))],
    );
    assert!(t.series.is_empty());
}

#[test]
fn instruments_leave_training_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = train::run(&config(MLP, &[], tmp.path()), &quiet()).unwrap();
    let every = || -> Vec<Box<dyn Instrument>> {
        vec![
            Box::new(Layers::new(Every(1))),
            Box::new(Activations::new(Every(1))),
            Box::new(PerExample::new(Every(1), Some((Every(2), 6)))),
        ]
    };
    let (_, with) = run(MLP, &[], every());
    assert_eq!(plain.losses, with);
    let tmp = tempfile::tempdir().unwrap();
    let mut doc = Doctor::new(Preset::Full);
    let full = train::run_observed(&config(MLP, &[], tmp.path()), &quiet(), &mut doc).unwrap();
    assert_eq!(plain.losses, full.losses);
    assert!(!doc.timeline.get("norm_test").is_empty());
    // Adam with momentum state and a batch-norm model too.
    let src = MLP
        .replace("\"sgd\"", "\"adam\"")
        .replace("\"dropout\"\np = 0.2", "\"batchnorm1d\"");
    let tmp = tempfile::tempdir().unwrap();
    let plain = train::run(&config(&src, &[], tmp.path()), &quiet()).unwrap();
    let (_, with) = run(&src, &[], every());
    assert_eq!(plain.losses, with);
}

/// Times an instrument's hooks.
struct Timed {
    inner: Box<dyn Instrument>,
    spent: Arc<Mutex<Duration>>,
}

impl Instrument for Timed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn wants_per_example(&self, step: u64) -> bool {
        self.inner.wants_per_example(step)
    }
    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> diagnose::Result<()> {
        let s = Instant::now();
        let r = self.inner.after_backward(p, t);
        *self.spent.lock().unwrap() += s.elapsed();
        r
    }
    fn after_update(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> diagnose::Result<()> {
        let s = Instant::now();
        let r = self.inner.after_update(p, t);
        *self.spent.lock().unwrap() += s.elapsed();
        r
    }
}

/// Asks for per-example norms on every step and does nothing else (their cost is in backward).
struct WantsPerExample;

impl Instrument for WantsPerExample {
    fn name(&self) -> &'static str {
        "wants_per_example"
    }
    fn wants_per_example(&self, _step: u64) -> bool {
        true
    }
}

/// Only the probe's extra forward pass (to separate the probe's cost from the statistics').
struct BareForward;

impl Instrument for BareForward {
    fn name(&self) -> &'static str {
        "bare_forward"
    }
    fn after_backward(&mut self, p: &mut Probe<'_>, _t: &mut Timeline) -> diagnose::Result<()> {
        let mut n = 0usize;
        p.for_each_activation(|_, _, y| n += y.data.len())?;
        assert!(n > 0);
        Ok(())
    }
}

/// Cost per measurement on the W1-sized MLP (784-512-512-10, batch 128, mnist-10k):
/// `cargo test -p diagnose --release --test layers -- --ignored --nocapture cost`.
#[test]
#[ignore]
fn cost_per_measurement() {
    let src = r#"
seed = 0
[data]
dataset = "mnist-10k"
batch_size = 128
subset = 2560
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
[train]
epochs = 2
[log]
tensorboard = false
"#;
    let steps = 40.0;
    let time_run = |instruments: Vec<Box<dyn Instrument>>| {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config(src, &[], tmp.path());
        let mut doc = Doctor::with(instruments);
        let t = Instant::now();
        let s = train::run_observed(&cfg, &quiet(), &mut doc).unwrap();
        assert_eq!(s.steps as f64, steps);
        t.elapsed().as_secs_f64()
    };
    // Warm-up, then the plain step time.
    time_run(vec![]);
    let base = (0..3).map(|_| time_run(vec![])).fold(f64::MAX, f64::min);
    let step_ms = base / steps * 1e3;
    println!("training step (incl. epoch evaluation): {step_ms:.2} ms");
    let pe = (0..3)
        .map(|_| time_run(vec![Box::new(WantsPerExample)]))
        .fold(f64::MAX, f64::min);
    println!(
        "per-example norms in backward: {:.2} ms/step ({:.2}× a step)",
        (pe - base) / steps * 1e3,
        (pe - base) / base
    );
    type Make = Box<dyn Fn() -> Box<dyn Instrument>>;
    let cases: Vec<(&str, Make)> = vec![
        ("layers", Box::new(|| Box::new(Layers::new(Every(1))))),
        (
            "layers (no histograms)",
            Box::new(|| {
                let mut l = Layers::new(Every(1));
                l.histograms = false;
                Box::new(l)
            }),
        ),
        (
            "activations",
            Box::new(|| Box::new(Activations::new(Every(1)))),
        ),
        (
            "  of which the probe's forward pass",
            Box::new(|| Box::new(BareForward)),
        ),
        (
            "per_example (norm stats)",
            Box::new(|| Box::new(PerExample::new(Every(1), None))),
        ),
        (
            "per_example (m = 8 tests)",
            Box::new(|| Box::new(PerExample::new(Every(1), Some((Every(1), 8))))),
        ),
    ];
    for (name, make) in cases {
        let mut best = f64::MAX;
        for _ in 0..2 {
            let spent = Arc::new(Mutex::new(Duration::ZERO));
            time_run(vec![Box::new(Timed {
                inner: make(),
                spent: spent.clone(),
            })]);
            best = best.min(spent.lock().unwrap().as_secs_f64());
        }
        let ms = best / steps * 1e3;
        println!(
            "{name}: {ms:.2} ms per measurement ({:.3}× a step)",
            ms / step_ms
        );
    }
}
