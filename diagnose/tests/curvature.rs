//! The curvature and step-quality instruments against closed forms computed independently
//! (explicit Hessians in f64, Jacobi eigenvalues), and the doctor leaving training unchanged.

use std::path::Path;
use std::sync::{Arc, Mutex};

use diagnose::instruments::curvature::Curvature;
use diagnose::instruments::step::StepQuality;
use diagnose::instruments::{Every, Instrument};
use diagnose::{Doctor, Timeline};
use optim::Params;
use train::{Probe, Targets};

/// What the test instrument saw at step 1: inputs, targets, weights, gradient.
#[derive(Default, Clone)]
struct Seen {
    x: Vec<f32>,
    x_shape: Vec<usize>,
    y: Vec<f32>,
    weights: Vec<Vec<f32>>,
    grad: Vec<Vec<f32>>,
}

struct Capture(Arc<Mutex<Seen>>);

impl Instrument for Capture {
    fn name(&self) -> &'static str {
        "capture"
    }
    fn after_backward(&mut self, p: &mut Probe<'_>, _t: &mut Timeline) -> diagnose::Result<()> {
        if p.step != 1 {
            return Ok(());
        }
        let mut s = self.0.lock().unwrap();
        s.x = p.x.data.clone();
        s.x_shape = p.x.shape.clone();
        if let Targets::Values(y) = p.targets {
            s.y = y.data.clone();
        }
        let m = &*p.model;
        s.weights = m.snapshot();
        s.grad = (0..Params::<f32>::count(m))
            .map(|i| Params::<f32>::grad(m, i).unwrap().to_vec())
            .collect();
        Ok(())
    }
}

fn config(toml_text: &str, dir: &Path) -> train::RunConfig {
    let mut t: toml::Table = toml_text.parse().unwrap();
    train::apply_overrides(&mut t, &[format!("log.dir=\"{}\"", dir.display())]).unwrap();
    train::RunConfig::from_table("t.toml", t, Path::new("."), "t").unwrap()
}

fn run(cfg: &train::RunConfig, instruments: Vec<Box<dyn Instrument>>) -> (Timeline, Vec<f32>) {
    let mut doc = Doctor::with(instruments);
    let s = train::run_observed(
        cfg,
        &train::Options {
            quiet: true,
            ..Default::default()
        },
        &mut doc,
    )
    .unwrap();
    assert!(doc.error.is_none(), "{:?}", doc.error);
    (doc.timeline, s.losses)
}

/// Teacher–student regression, one bias-free linear layer, MSE, full batch, plain SGD.
fn quadratic_toml(lr: f64, steps: u64) -> String {
    format!(
        r#"
seed = 3
[data]
dataset = "teacher_student"
n = 40
n_test = 10
dim = 5
hidden = 4
dim_out = 2
batch_size = 40
[[model.layers]]
type = "linear"
out_features = 2
bias = false
[optimizer]
name = "sgd"
lr = {lr}
[train]
steps = {steps}
loss = "mse"
[log]
tensorboard = false
"#
    )
}

/// Symmetric eigenvalues by cyclic Jacobi rotations (f64), ascending.
#[allow(clippy::needless_range_loop)]
fn jacobi_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut e: Vec<f64> = (0..n).map(|i| a[i][i]).collect();
    e.sort_by(f64::total_cmp);
    e
}

/// The explicit Hessian of `mean((x W^T − y)²)` over `n × out` entries w.r.t. `W` (row-major
/// `[out, in]`): `H[(o,i),(o',j)] = δ_oo' · 2/(n·out) · Σ_k x_ki x_kj`.
fn linear_mse_hessian(s: &Seen, out: usize) -> Vec<Vec<f64>> {
    let (n, d) = (s.x_shape[0], s.x.len() / s.x_shape[0]);
    let c = 2.0 / (n * out) as f64;
    let mut h = vec![vec![0.0; d * out]; d * out];
    for o in 0..out {
        for i in 0..d {
            for j in 0..d {
                let xx: f64 = (0..n)
                    .map(|k| s.x[k * d + i] as f64 * s.x[k * d + j] as f64)
                    .sum();
                h[o * d + i][o * d + j] = c * xx;
            }
        }
    }
    h
}

fn first(t: &Timeline, name: &str) -> f64 {
    let pts = t.get(name);
    assert!(!pts.is_empty(), "no `{name}` reading");
    assert_eq!(pts[0].0, 1);
    pts[0].1
}

#[test]
fn quadratic_spectrum_matches_closed_form() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(&quadratic_toml(0.05, 1), tmp.path());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let samples = 400;
    let (t, _) = run(
        &cfg,
        vec![
            Box::new(Capture(seen.clone())),
            Box::new(Curvature::new(Every(1), 300, samples).with_tol(1e-9)),
        ],
    );
    let s = seen.lock().unwrap().clone();
    let h = linear_mse_hessian(&s, 2);
    let eig = jacobi_eigenvalues(h.clone());
    let (lmin, lmax) = (eig[0], *eig.last().unwrap());
    let trace: f64 = (0..h.len()).map(|i| h[i][i]).sum();
    let (m_max, m_min, m_tr) = (
        first(&t, "lambda_max"),
        first(&t, "lambda_min"),
        first(&t, "hessian_trace"),
    );
    eprintln!("λmax {m_max} vs {lmax}; λmin {m_min} vs {lmin}; trace {m_tr} vs {trace}");
    // Lanczos on 10 dimensions spans the whole space: exact up to f32 rounding.
    assert!(
        (m_max - lmax).abs() <= 1e-3 * lmax,
        "λmax {m_max} vs {lmax}"
    );
    assert!(
        (m_min - lmin).abs() <= 1e-2 * lmax,
        "λmin {m_min} vs {lmin}"
    );
    // Plain SGD: the threshold is 2/lr.
    assert!((first(&t, "sharpness_threshold") - 2.0 / 0.05).abs() < 1e-9);
    assert!((first(&t, "stability") - 0.05 * m_max / 2.0).abs() < 1e-12);
    assert!(first(&t, "lambda_max_err") <= 1e-4 * lmax);
    // A linear layer under MSE: the trace comes from the exact Hessian diagonal.
    assert_eq!(first(&t, "hessian_trace_exact"), 1.0);
    assert!(
        (m_tr - trace).abs() <= 1e-5 * trace,
        "trace {m_tr} vs {trace}"
    );
}

#[test]
fn saddle_has_negative_curvature() {
    // y = W2 W1 x with both weights zero: the gradient vanishes and the Hessian is
    // [[0, K], [Kᵀ, 0]] per hidden unit with K = −2/(n·out) Σ_k x_k y_kᵀ, whose eigenvalues are
    // ±σ(K): λmin = −σmax(K) < 0.
    let tmp = tempfile::tempdir().unwrap();
    let text = quadratic_toml(0.05, 1).replace(
        "[[model.layers]]\ntype = \"linear\"\nout_features = 2\nbias = false",
        "[[model.layers]]\ntype = \"linear\"\nout_features = 3\nbias = false\nweight_init = \"zeros\"\n\
         [[model.layers]]\ntype = \"linear\"\nout_features = 2\nbias = false\nweight_init = \"zeros\"",
    );
    let cfg = config(&text, tmp.path());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (t, _) = run(
        &cfg,
        vec![
            Box::new(Capture(seen.clone())),
            Box::new(Curvature::new(Every(1), 300, 0).with_tol(1e-9)),
        ],
    );
    let s = seen.lock().unwrap().clone();
    assert!(s.grad.iter().flatten().all(|&g| g == 0.0));
    let (n, d, out) = (s.x_shape[0], s.x.len() / s.x_shape[0], 2);
    // KᵀK (out × out) → σmax² as its largest eigenvalue.
    let c = 2.0 / (n * out) as f64;
    let k: Vec<Vec<f64>> = (0..d)
        .map(|i| {
            (0..out)
                .map(|o| {
                    -c * (0..n)
                        .map(|r| s.x[r * d + i] as f64 * s.y[r * out + o] as f64)
                        .sum::<f64>()
                })
                .collect()
        })
        .collect();
    let ktk: Vec<Vec<f64>> = (0..out)
        .map(|a| {
            (0..out)
                .map(|b| (0..d).map(|i| k[i][a] * k[i][b]).sum())
                .collect()
        })
        .collect();
    let sigma = jacobi_eigenvalues(ktk).last().unwrap().sqrt();
    let (m_max, m_min) = (first(&t, "lambda_max"), first(&t, "lambda_min"));
    eprintln!("saddle: λmax {m_max}, λmin {m_min}, ±σ {sigma}");
    assert!(m_min < 0.0);
    assert!(
        (m_min + sigma).abs() <= 1e-2 * sigma,
        "λmin {m_min} vs −{sigma}"
    );
    // ±σ tie in magnitude; λmax is still the positive one.
    assert!(
        (m_max - sigma).abs() <= 1e-2 * sigma,
        "λmax {m_max} vs {sigma}"
    );
}

#[test]
fn step_quality_matches_closed_form() {
    // Along the SGD update d = −lr·g of a quadratic, α = lr · gᵀHg/‖g‖² − 1 =: lr·ρ − 1.
    let tmp = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    run(
        &config(&quadratic_toml(0.01, 1), tmp.path()),
        vec![Box::new(Capture(seen.clone()))],
    );
    let s = seen.lock().unwrap().clone();
    let h = linear_mse_hessian(&s, 2);
    let g: Vec<f64> = s.grad[0].iter().map(|&x| x as f64).collect();
    let hg: Vec<f64> = h
        .iter()
        .map(|r| r.iter().zip(&g).map(|(a, b)| a * b).sum())
        .collect();
    let rho =
        g.iter().zip(&hg).map(|(a, b)| a * b).sum::<f64>() / g.iter().map(|a| a * a).sum::<f64>();
    let lmax = *jacobi_eigenvalues(h).last().unwrap();
    for (lr, tol) in [
        (0.01 / rho, 0.05),
        (1.0 / rho, 0.01),
        (2.0 / rho, 0.01),
        (1.9 / lmax, 0.01),
    ] {
        let (t, _) = run(
            &config(&quadratic_toml(lr, 1), tmp.path()),
            vec![Box::new(StepQuality::new(Every(1)))],
        );
        let a = first(&t, "alpha");
        let expected = lr * rho - 1.0;
        eprintln!("lr {lr}: α {a} vs {expected}");
        assert!((a - expected).abs() <= tol, "lr {lr}: α {a} vs {expected}");
    }
}

#[test]
fn doctor_leaves_training_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        r#"
seed = 1
[data]
dataset = "moons"
n = 120
batch_size = 40
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "tanh"
[[model.layers]]
type = "dropout"
p = 0.2
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "sgd"
lr = 0.2
momentum = 0.9
[train]
epochs = 3
[log]
tensorboard = false
"#,
        tmp.path(),
    );
    let plain = train::run(
        &cfg,
        &train::Options {
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap()
    .losses;
    let (t, observed) = run(
        &cfg,
        vec![
            Box::new(Curvature::new(Every(2), 5, 2)),
            Box::new(StepQuality::new(Every(1))),
        ],
    );
    assert_eq!(plain, observed);
    assert_eq!(t.get("lambda_max").len(), 5); // steps 1, 2, 4, 6, 8
    assert!(t.get("hessian_trace").iter().all(|p| p.1.is_finite()));
    assert!(!t.get("alpha").is_empty());
    // The presets run too and do not disturb training.
    for preset in [diagnose::Preset::Economy, diagnose::Preset::Full] {
        let mut doc = Doctor::new(preset);
        let s = train::run_observed(
            &cfg,
            &train::Options {
                quiet: true,
                ..Default::default()
            },
            &mut doc,
        )
        .unwrap();
        assert_eq!(s.losses, plain);
        assert!(!doc.timeline.get("lambda_max").is_empty());
    }
}

type MakeInstrument = fn() -> Box<dyn Instrument>;

/// Wall time of an instrument's calls.
struct Timed<I>(I, Arc<Mutex<Vec<f64>>>);

impl<I: Instrument> Instrument for Timed<I> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> diagnose::Result<()> {
        let n = t.series.values().map(Vec::len).sum::<usize>();
        let start = std::time::Instant::now();
        self.0.after_backward(p, t)?;
        if t.series.values().map(Vec::len).sum::<usize>() > n {
            self.1
                .lock()
                .unwrap()
                .push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    }
    fn after_update(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> diagnose::Result<()> {
        let start = std::time::Instant::now();
        self.0.after_update(p, t)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if self.0.name() == "step" && ms > 0.05 {
            self.1.lock().unwrap().push(ms);
        }
        Ok(())
    }
}

/// Cost per measurement on a W1-sized MLP (784-512-512-10, batch 128, mnist-10k). Prints only
/// (timings are not asserted): `cargo test -p diagnose --release --test curvature -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn cost_per_measurement() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        r#"
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
type = "linear"
out_features = 512
[[model.layers]]
type = "relu"
[[model.layers]]
type = "linear"
out_features = 10
[optimizer]
name = "sgd"
lr = 0.05
[train]
steps = 401
[log]
tensorboard = false
"#,
        tmp.path(),
    );
    let opts = train::Options {
        quiet: true,
        ..Default::default()
    };
    let plain = train::run(&cfg, &opts).unwrap();
    let step_ms = plain.wall_s * 1e3 / plain.steps as f64;
    println!(
        "plain training: {step_ms:.2} ms/step ({} steps)",
        plain.steps
    );
    let mut doc = Doctor::with(Vec::new());
    let s = train::run_observed(&cfg, &opts, &mut doc).unwrap();
    println!(
        "observer with no instrument: {:.2}×",
        s.wall_s / plain.wall_s
    );
    for preset in [diagnose::Preset::Economy, diagnose::Preset::Full] {
        let mut doc = Doctor::new(preset);
        let s = train::run_observed(&cfg, &opts, &mut doc).unwrap();
        println!(
            "preset {preset:?} ({:?}): {:.2}× the plain run's wall time",
            doc.instruments(),
            s.wall_s / plain.wall_s
        );
    }
    let cases: Vec<(&str, MakeInstrument)> = vec![
        ("curvature economy (Lanczos ≤5 products)", || {
            Box::new(Curvature::economy())
        }),
        ("curvature full (Lanczos ≤20 products, trace)", || {
            Box::new(Curvature::full())
        }),
        ("one Lanczos product", || {
            Box::new(Curvature::new(Every(1), 1, 0))
        }),
        ("step quality α", || Box::new(StepQuality::new(Every(1)))),
    ];
    for (name, make) in cases {
        let times = Arc::new(Mutex::new(Vec::new()));
        struct Wrap(Box<dyn Instrument>);
        impl Instrument for Wrap {
            fn name(&self) -> &'static str {
                self.0.name()
            }
            fn after_backward(
                &mut self,
                p: &mut Probe<'_>,
                t: &mut Timeline,
            ) -> diagnose::Result<()> {
                self.0.after_backward(p, t)
            }
            fn after_update(
                &mut self,
                p: &mut Probe<'_>,
                t: &mut Timeline,
            ) -> diagnose::Result<()> {
                self.0.after_update(p, t)
            }
        }
        let inst = Timed(Wrap(make()), times.clone());
        let mut doc = Doctor::with(vec![Box::new(inst)]);
        train::run_observed(&cfg, &opts, &mut doc).unwrap();
        let t = times.lock().unwrap();
        let mean = t.iter().sum::<f64>() / t.len().max(1) as f64;
        println!(
            "{name}: {mean:.2} ms per measurement ({} measurements) = {:.2} training steps",
            t.len(),
            mean / step_ms
        );
    }
}

/// Products per measurement of the full preset's curvature on the overhead benchmark's cases
/// (`bench/src/doctor.rs`: the MLP 784-512-512-10 with dropout, mnist-10k, batch 128, AdamW; the
/// CNN conv32-BN-conv64-BN-GAP-linear, digits 8×8, batch 32, Adam; 1,000 steps, measured at
/// step 1 and every 250). Prints only: `cargo test -p diagnose --release --test curvature
/// bench_products -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_products_per_measurement() {
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
steps = 1000
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
steps = 1000
[log]
tensorboard = false
every_steps = 1000000
"#;
    for (name, text) in [("mlp_mnist", MLP), ("cnn_digits", CNN)] {
        println!("{name}:");
        bench_case(text);
    }
}

fn bench_case(text: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(text, tmp.path());
    let (t, _) = run(&cfg, vec![Box::new(Curvature::full())]);
    let get = |name: &str, step: u64| {
        t.get(name)
            .iter()
            .find(|p| p.0 == step)
            .map_or(f64::NAN, |p| p.1)
    };
    for &(step, lanczos) in t.get("curvature_products") {
        let (tr, se, n) = (
            get("hessian_trace", step),
            get("hessian_trace_err", step),
            get("hessian_trace_samples", step),
        );
        println!(
            "step {step}: Lanczos {lanczos} + preconditioned ≤{} + trace {n} products; trace {tr:.4} ± {se:.4} ({:.1}%)",
            Curvature::full().precond_iters,
            100.0 * se / tr.abs()
        );
    }
}
