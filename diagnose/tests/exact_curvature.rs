//! The curvature instrument against PyTorch f64 full Hessians (`tests/curvature/gen.py`, and the
//! engine's references in `train/tests/hvp/`): λmax and λmin within 2% (of the spectral radius
//! for λmin, see below), the trace exact (no batch norm: the Hessian diagonal, to 1e-4, per
//! parameter too; `tests/hessian_diag.rs` holds it per element) or, by Hutch++ (batch norm in
//! training mode), within 4 of its reported standard errors and within 5% once its standard
//! error meets its 2.5% target (the engine's three references with batch norm do not within
//! the full preset's cap: see
//! `full_preset_readings_match_the_engine_references`), Adam's preconditioned sharpness within 2%, at the
//! first measurement and after an update, for SGD, heavy-ball, Nesterov and Adam runs.

use std::path::{Path, PathBuf};

use diagnose::instruments::curvature::{Curvature, FULL_TRACE_CAP};
use diagnose::instruments::Every;
use diagnose::{Doctor, Timeline};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/curvature")
}

fn hvp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../train/tests/hvp")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn run(config: &Path, curvature: Curvature, log: &Path) -> Timeline {
    let set = format!("log.dir=\"{}\"", log.display());
    let cfg = train::RunConfig::from_file(config, &[set]).unwrap();
    let mut doc = Doctor::with(vec![Box::new(curvature)]);
    train::run_observed(
        &cfg,
        &train::Options {
            quiet: true,
            ..Default::default()
        },
        &mut doc,
    )
    .unwrap();
    assert!(doc.error.is_none(), "{:?}", doc.error);
    doc.timeline
}

fn at(t: &Timeline, name: &str, step: u64) -> f64 {
    t.get(name)
        .iter()
        .find(|p| p.0 == step)
        .unwrap_or_else(|| panic!("no `{name}` at step {step}"))
        .1
}

/// The full preset's effort, measuring at every step.
fn full() -> Curvature {
    Curvature {
        every: Every(1),
        ..Curvature::full()
    }
}

const CASES: &[&str] = &[
    "sgd_early",
    "sgd_late",
    "momentum_early",
    "momentum_late",
    "nesterov_early",
    "nesterov_late",
    "adam_early",
    "adam_late",
];

/// Relative error, and λmin's error relative to the spectral radius: λmin can sit near zero,
/// where a relative error says nothing about the instrument.
struct Errors {
    worst_max: f64,
    worst_min: f64,
    worst_trace: f64,
    /// Cases whose Hutch++ trace stopped at the cap short of its standard-error target.
    at_cap: Vec<String>,
}

fn check(case: &str, step: u64, t: &Timeline, r: &serde_json::Value, e: &mut Errors) {
    let f = |k: &str| r[k].as_f64().unwrap();
    let (lmax, lmin, trace) = (f("lambda_max"), f("lambda_min"), f("trace"));
    let rho = lmax.abs().max(lmin.abs());
    let (m_max, m_min, m_tr) = (
        at(t, "lambda_max", step),
        at(t, "lambda_min", step),
        at(t, "hessian_trace", step),
    );
    let (b_max, b_min) = (at(t, "lambda_max_err", step), at(t, "lambda_min_err", step));
    let em = (m_max - lmax).abs() / lmax.abs();
    let en = (m_min - lmin).abs() / rho;
    let et = (m_tr - trace).abs() / trace.abs();
    eprintln!(
        "{case} step {step}: λmax {m_max:.5} vs {lmax:.5} ({:.2}%, bound {b_max:.1e}); \
         λmin {m_min:.5} vs {lmin:.5} ({:.2}% of ρ, bound {b_min:.1e}); trace {m_tr:.4} vs {trace:.4} ({:.2}%, ±{:.2})",
        100.0 * em,
        100.0 * en,
        100.0 * et,
        at(t, "hessian_trace_err", step)
    );
    // Ritz values never overshoot, and the exact extreme lies within the reported bound.
    assert!(m_max <= lmax + 1e-5 * rho && m_min >= lmin - 1e-5 * rho);
    assert!(
        lmax - m_max <= b_max + 1e-5 * rho,
        "{case}: λmax outside its bound"
    );
    assert!(
        m_min - lmin <= b_min + 1e-5 * rho,
        "{case}: λmin outside its bound"
    );
    assert!(em <= 0.02, "{case} step {step}: λmax {m_max} vs {lmax}");
    assert!(en <= 0.02, "{case} step {step}: λmin {m_min} vs {lmin}");
    if at(t, "hessian_trace_exact", step) == 1.0 {
        // The exact diagonal (MLPs): the trace to rounding, far inside 5%, and per parameter.
        assert!(et <= 1e-4, "{case} step {step}: trace {m_tr} vs {trace}");
        if let Some(per) = r["trace_per_parameter"].as_object() {
            for (name, want) in per {
                let want = want.as_f64().unwrap();
                let got = t
                    .layer("hessian_trace", name)
                    .iter()
                    .find(|p| p.0 == step)
                    .unwrap()
                    .1;
                assert!(
                    (got - want).abs() <= 1e-4 * trace.abs(),
                    "{case} step {step}: trace of {name} {got} vs {want}"
                );
            }
        }
    } else {
        // Hutch++ with the Lanczos sketch (other structures): held to its standard error and
        // to the 5% goal; the adaptive estimator stops once the standard error is 2.5% of the
        // trace, or at the cap.
        let se = at(t, "hessian_trace_err", step);
        let n = at(t, "hessian_trace_samples", step);
        eprintln!("  Hutch++: {n} samples, ± {:.2}%", 100.0 * se / m_tr.abs());
        assert!(
            (m_tr - trace).abs() <= 4.0 * se,
            "{case} step {step}: trace {m_tr} vs {trace} ± {se}"
        );
        assert!(
            se <= 0.025 * m_tr.abs() || n == at(t, "hessian_trace_cap", step),
            "{case} step {step}: stopped at {n} samples with ± {se}"
        );
        if se <= 0.025 * m_tr.abs() {
            // Stopped on its target: the 5% goal holds.
            assert!(
                et <= 0.05,
                "{case} step {step}: trace {m_tr} vs {trace} ({n} samples)"
            );
        } else {
            e.at_cap.push(case.to_string());
        }
    }
    e.worst_max = e.worst_max.max(em);
    e.worst_min = e.worst_min.max(en);
    e.worst_trace = e.worst_trace.max(et);
}

#[test]
fn full_preset_readings_match_pytorch_hessians_through_training() {
    let tmp = tempfile::tempdir().unwrap();
    let mut e = Errors {
        worst_max: 0.0,
        worst_min: 0.0,
        worst_trace: 0.0,
        at_cap: Vec::new(),
    };
    for case in CASES {
        let refs = json(&dir().join(format!("{case}.json")));
        let t = run(
            &dir().join(format!("{case}.toml")),
            full(),
            &tmp.path().join(case),
        );
        let lr = refs["optimizer"]["lr"].as_f64().unwrap();
        for r in refs["points"].as_array().unwrap() {
            let step = r["step"].as_u64().unwrap();
            check(case, step, &t, r, &mut e);
            // The stability threshold follows the optimizer, and stability is their ratio.
            let b = refs["optimizer"]["momentum"].as_f64().unwrap_or(0.0);
            let nesterov = refs["optimizer"]["nesterov"].as_bool() == Some(true);
            let (threshold, sharp) = match refs["optimizer"]["name"].as_str().unwrap() {
                "adam" => {
                    let want = r["preconditioned_lambda_max"].as_f64().unwrap();
                    let got = at(&t, "preconditioned_lambda_max", step);
                    eprintln!("  P⁻¹H: {got:.2} vs {want:.2}");
                    assert!(
                        (got - want).abs() <= 0.02 * want,
                        "{case} step {step}: preconditioned λmax {got} vs {want}"
                    );
                    (3.8 / (0.1 * lr), got)
                }
                _ if nesterov => (
                    (2.0 + 2.0 * b) / ((1.0 + 2.0 * b) * lr),
                    at(&t, "lambda_max", step),
                ),
                _ => (2.0 * (1.0 + b) / lr, at(&t, "lambda_max", step)),
            };
            let thr = at(&t, "sharpness_threshold", step);
            assert!(
                (thr - threshold).abs() <= 1e-9 * threshold,
                "{case}: {thr} vs {threshold}"
            );
            assert!((at(&t, "stability", step) - sharp / thr).abs() <= 1e-12 * sharp / thr);
        }
    }
    eprintln!(
        "worst: λmax {:.2}%, λmin {:.2}% of ρ, trace {:.2}%",
        100.0 * e.worst_max,
        100.0 * e.worst_min,
        100.0 * e.worst_trace
    );
}

#[test]
fn full_preset_readings_match_the_engine_references() {
    // Batch norm, convolutions, residual blocks, every activation: step 1 of each probe case.
    let tmp = tempfile::tempdir().unwrap();
    let mut e = Errors {
        worst_max: 0.0,
        worst_min: 0.0,
        worst_trace: 0.0,
        at_cap: Vec::new(),
    };
    // The exact diagonal covers every structure without batch norm (`activations`: GELU,
    // SiLU, softplus, ELU, sigmoid, leaky ReLU); batch norm in training mode couples the
    // examples and takes Hutch++ (`residual` has one in its first block).
    for (case, exact) in [
        ("mlp_tanh", true),
        ("mlp_tanh_trained", true),
        ("mlp_relu_bn", false),
        ("cnn_bn", false),
        ("residual", false),
        ("activations", true),
    ] {
        let r = json(&hvp_dir().join(format!("{case}.json")));
        assert_eq!(r["probe"].as_bool(), Some(true));
        let t = run(
            &hvp_dir().join(format!("{case}.toml")),
            full(),
            &tmp.path().join(case),
        );
        assert_eq!(at(&t, "hessian_trace_exact", 1) == 1.0, exact, "{case}");
        check(case, 1, &t, &r, &mut e);
    }
    // Not reached: on these three references the Hutch++ trace does NOT reach the 5% goal
    // within the full preset's cap (4 samples plus the Lanczos products left unspent: 11–13
    // here). Their Hessians are small (352–1,758 parameters), indefinite, with traces small
    // against ‖H‖_F (cnn_bn: λ from −0.86 to 0.81, trace 1.2), and the spectrum beyond the
    // Lanczos sketch is flat, so the deflated Rademacher term keeps a relative standard error
    // of 10–35% (measured; with 64 samples still 4–19%, so 2.5% would take ~170 to ~3,800
    // samples, far past the 2× overhead goal; `curvature/bn_trace_variance.py` computes a plain
    // sample's spread exactly, 1.1–3.0 times the trace, and finds that a control variate with
    // frozen batch statistics does not shrink it). The readings stay within 4 of their reported
    // standard errors (`check`) and the report prints that error with the sample count; a
    // case that starts meeting its target moves out of this list and is held to 5%.
    assert_eq!(
        e.at_cap,
        ["mlp_relu_bn", "cnn_bn", "residual"],
        "cases stopping at the cap"
    );
}

#[test]
fn full_preset_readings_match_the_exact_diagonal_references() {
    // Convolutions, pooling, residual blocks without batch norm (`tests/curvature/gen.py`,
    // held per element in `tests/hessian_diag.rs`): the instrument takes the exact diagonal
    // within the full preset's budget, and its trace and extreme eigenvalues match. The budget
    // bounds the rank growth of curved activations after convolutions: `diag_conv1d_pool`'s
    // ELU and softplus add 160 + 120 columns to the 10 of the loss, which counts as 25
    // products against the full preset's 24, so it takes Hutch++ (held to its standard error).
    let tmp = tempfile::tempdir().unwrap();
    let mut e = Errors {
        worst_max: 0.0,
        worst_min: 0.0,
        worst_trace: 0.0,
        at_cap: Vec::new(),
    };
    for (case, exact) in [
        ("diag_conv2d", true),
        ("diag_conv2d_pool", true),
        ("diag_conv1d_pool", false),
        ("diag_residual", true),
        ("diag_residual_conv", true),
    ] {
        let r = json(&dir().join(format!("{case}.json")));
        let t = run(
            &dir().join(format!("{case}.toml")),
            full(),
            &tmp.path().join(case),
        );
        assert_eq!(at(&t, "hessian_trace_exact", 1) == 1.0, exact, "{case}");
        check(case, 1, &t, &r, &mut e);
    }
    eprintln!("worst trace error {:.2e}", e.worst_trace);
}

#[test]
fn economy_readings_are_coarse_but_bounded() {
    // Economy's Lanczos stops after 5 products: its readings never overshoot (λmax from below,
    // λmin from above) and the residual bounds are large when they are off, but an unconverged
    // top Ritz value can be farther from λmax than its residual (the residual bounds the
    // distance to the nearest eigenvalue). Measured on these cases: λmax within 25%, the bound
    // at least a quarter of the error.
    let tmp = tempfile::tempdir().unwrap();
    for case in ["sgd_early", "adam_late"] {
        let refs = json(&dir().join(format!("{case}.json")));
        let cur = Curvature {
            every: Every(1),
            ..Curvature::economy()
        };
        let t = run(
            &dir().join(format!("{case}.toml")),
            cur,
            &tmp.path().join(case),
        );
        for r in refs["points"].as_array().unwrap() {
            let step = r["step"].as_u64().unwrap();
            let (lmax, lmin) = (
                r["lambda_max"].as_f64().unwrap(),
                r["lambda_min"].as_f64().unwrap(),
            );
            let (m_max, m_min) = (at(&t, "lambda_max", step), at(&t, "lambda_min", step));
            let (b_max, b_min) = (
                at(&t, "lambda_max_err", step),
                at(&t, "lambda_min_err", step),
            );
            eprintln!(
                "economy {case} step {step}: λmax {m_max:.4} vs {lmax:.4} (bound {b_max:.3}), \
                 λmin {m_min:.4} vs {lmin:.4} (bound {b_min:.3}), {} products",
                at(&t, "curvature_products", step)
            );
            assert!(at(&t, "curvature_products", step) <= 5.0);
            assert!(m_max <= lmax + 1e-5 && m_min >= lmin - 1e-5);
            assert!(
                lmax - m_max <= 0.25 * lmax,
                "{case}: λmax {m_max} vs {lmax}"
            );
            assert!(lmax - m_max <= 4.0 * b_max + 1e-5 && m_min - lmin <= 4.0 * b_min + 1e-5);
        }
    }
}

#[test]
fn noise_scale_estimates_match_pytorch_per_example_gradients() {
    use diagnose::instruments::per_example::PerExample;
    let tmp = tempfile::tempdir().unwrap();
    for case in CASES {
        let refs = json(&dir().join(format!("{case}.json")));
        let set = format!("log.dir=\"{}\"", tmp.path().join(case).display());
        let cfg = train::RunConfig::from_file(dir().join(format!("{case}.toml")), &[set]).unwrap();
        let mut doc = Doctor::with(vec![Box::new(PerExample::new(Every(1), None))]);
        let opts = train::Options {
            quiet: true,
            ..Default::default()
        };
        train::run_observed(&cfg, &opts, &mut doc).unwrap();
        let t = &doc.timeline;
        let (mut sum_tr, mut sum_g2) = (0.0, 0.0);
        for r in refs["points"].as_array().unwrap() {
            let step = r["step"].as_u64().unwrap();
            let f = |k: &str| r[k].as_f64().unwrap();
            let (tr, g2, gbar2) = (f("tr_sigma"), f("g_norm_sq"), f("batch_grad_norm_sq"));
            let (m_tr, m_g2) = (at(t, "noise_trace", step), at(t, "grad_sq_unbiased", step));
            eprintln!(
                "{case} step {step}: tr(Σ) {m_tr:.6} vs {tr:.6}; ‖G‖² {m_g2:.3e} vs {g2:.3e}"
            );
            assert!(
                (m_tr - tr).abs() <= 1e-4 * tr,
                "{case}: tr(Σ) {m_tr} vs {tr}"
            );
            // ‖G‖² is a difference of two near numbers: held to the scale of its terms.
            assert!(
                (m_g2 - g2).abs() <= 1e-4 * (gbar2 + tr / 32.0),
                "{case}: ‖G‖² {m_g2} vs {g2}"
            );
            assert_eq!(at(t, "batch_size", step), 32.0);
            sum_tr += tr;
            sum_g2 += g2;
            // B_simple averages the readings so far (the window is longer than two steps).
            match t.get("b_simple").iter().find(|p| p.0 == step) {
                Some(&(_, b)) => {
                    assert!(sum_g2 > 0.0);
                    assert!(
                        (b - sum_tr / sum_g2).abs() <= 1e-3 * b,
                        "{case}: B_simple {b}"
                    );
                }
                None => assert!(sum_g2 <= 1e-4 * (gbar2 + tr / 32.0), "{case}: no B_simple"),
            }
        }
    }
}

/// At step 1: the exact diagonal, and the diagonal from unit-vector products `eᵢᵀ H eᵢ`
/// (`Probe::hvp`, itself checked against PyTorch in `train/tests/hvp.rs`).
struct DiagCheck(std::sync::Arc<std::sync::Mutex<Vec<(f64, f64)>>>);

impl diagnose::instruments::Instrument for DiagCheck {
    fn name(&self) -> &'static str {
        "diag_check"
    }
    fn after_backward(
        &mut self,
        p: &mut train::Probe<'_>,
        _t: &mut Timeline,
    ) -> diagnose::Result<()> {
        use optim::Params;
        if p.step != 1 {
            return Ok(());
        }
        let exact = diagnose::instruments::hessian_diag::exact_diagonal(p, f64::INFINITY)?
            .expect("supported structure");
        let m = &*p.model;
        let shapes: Vec<usize> = (0..Params::<f32>::count(m))
            .map(|i| Params::<f32>::value(m, i).len())
            .collect();
        let mut out = self.0.lock().unwrap();
        let mut hv = Vec::new();
        for (pi, d) in exact.iter().enumerate() {
            for (j, &want) in d.diag.iter().enumerate() {
                let mut v: Vec<Vec<f32>> = shapes.iter().map(|&n| vec![0.0; n]).collect();
                v[pi][j] = 1.0;
                p.hvp(&v, &mut hv)?;
                out.push((want, hv[pi][j] as f64));
            }
        }
        Ok(())
    }
}

#[test]
fn exact_diagonal_matches_unit_vector_products_for_every_supported_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = r#"
[[model.layers]]
type = "linear"
out_features = 6
[[model.layers]]
type = "sigmoid"
[[model.layers]]
type = "linear"
out_features = 5
[[model.layers]]
type = "silu"
[[model.layers]]
type = "linear"
out_features = 4
[[model.layers]]
type = "relu"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "sgd"
lr = 0.1
[log]
tensorboard = false
"#;
    for (name, data, train) in [
        (
            "mse",
            "dataset = \"teacher_student\"\nn = 24\nn_test = 8\ndim = 5\nhidden = 4\ndim_out = 2\nbatch_size = 24",
            "steps = 1\nloss = \"mse\"",
        ),
        (
            "ce",
            "dataset = \"moons\"\nn = 24\nbatch_size = 24",
            "steps = 1\nlabel_smoothing = 0.1",
        ),
    ] {
        let text = format!("seed = 5\n[data]\n{data}\n[train]\n{train}\n{layers}");
        let mut t: toml::Table = text.parse().unwrap();
        let dir = tmp.path().join(name);
        train::apply_overrides(&mut t, &[format!("log.dir=\"{}\"", dir.display())]).unwrap();
        let cfg = train::RunConfig::from_table("t.toml", t, Path::new("."), "t").unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut doc = Doctor::with(vec![Box::new(DiagCheck(seen.clone()))]);
        let opts = train::Options {
            quiet: true,
            ..Default::default()
        };
        train::run_observed(&cfg, &opts, &mut doc).unwrap();
        assert!(doc.error.is_none(), "{:?}", doc.error);
        let pairs = seen.lock().unwrap();
        let scale = pairs.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
        assert!(pairs.len() > 60 && scale > 0.0);
        for &(exact, product) in pairs.iter() {
            assert!(
                (exact - product).abs() <= 1e-5 * scale,
                "{name}: exact {exact} vs eᵢᵀHeᵢ {product}"
            );
        }
    }
}

#[test]
fn the_report_names_the_method_behind_each_reading() {
    let tmp = tempfile::tempdir().unwrap();
    for (case, dir, trace) in [
        ("adam_early", dir(), "(exact Hessian diagonal)"),
        ("cnn_bn", hvp_dir(), "samples, ± one standard error)"),
        ("diag_residual_conv", dir(), "(exact Hessian diagonal)"),
    ] {
        let set = format!("log.dir=\"{}\"", tmp.path().join(case).display());
        let cfg = train::RunConfig::from_file(dir.join(format!("{case}.toml")), &[set]).unwrap();
        let mut doc = Doctor::with(vec![Box::new(full())]);
        let opts = train::Options {
            quiet: true,
            ..Default::default()
        };
        let summary = train::run_observed(&cfg, &opts, &mut doc).unwrap();
        let report = diagnose::Report {
            config: case.into(),
            preset: "full".into(),
            instruments: doc.instruments().iter().map(|s| s.to_string()).collect(),
            summary,
            findings: Vec::new(),
            timeline: doc.timeline,
            instrument_error: None,
            verification: None,
            next: Vec::new(),
        };
        let line = report.readings_line().unwrap();
        eprintln!("{line}");
        assert!(
            line.contains("Lanczos") && line.contains("Ritz residual"),
            "{line}"
        );
        assert!(line.contains(trace), "{line}");
        let sharpness = if case == "adam_early" {
            "preconditioned λmax(P⁻¹H)"
        } else {
            "= λmax"
        };
        assert!(line.contains(sharpness), "{line}");
        assert!(report.to_text().contains("readings: curvature at step"));
    }
}

/// The trace from unit-vector products `Σᵢ eᵢᵀ H eᵢ` at one step (`Probe::hvp`, itself checked
/// against PyTorch in `train/tests/hvp.rs`).
struct UnitTrace(u64, std::sync::Arc<std::sync::Mutex<f64>>);

impl diagnose::instruments::Instrument for UnitTrace {
    fn name(&self) -> &'static str {
        "unit_trace"
    }
    fn after_backward(
        &mut self,
        p: &mut train::Probe<'_>,
        _t: &mut Timeline,
    ) -> diagnose::Result<()> {
        use optim::Params;
        if p.step != self.0 {
            return Ok(());
        }
        let m = &*p.model;
        let shapes: Vec<usize> = (0..Params::<f32>::count(m))
            .map(|i| Params::<f32>::value(m, i).len())
            .collect();
        let (mut tr, mut hv) = (0.0, Vec::new());
        let mut v: Vec<Vec<f32>> = shapes.iter().map(|&n| vec![0.0; n]).collect();
        for (pi, &n) in shapes.iter().enumerate() {
            for j in 0..n {
                v[pi][j] = 1.0;
                p.hvp(&v, &mut hv)?;
                v[pi][j] = 0.0;
                tr += hv[pi][j] as f64;
            }
        }
        *self.1.lock().unwrap() = tr;
        Ok(())
    }
}

#[test]
fn adaptive_hutchpp_meets_its_target_and_five_percent_on_a_trained_cnn() {
    // A small conv–batch-norm net (no exact diagonal) after 400 Adam steps: the adaptive
    // estimator stops on its 2.5% standard-error target before the cap, and the trace is
    // within 5% of the exact one.
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        r#"seed = 3
[data]
dataset = "digits"
batch_size = 32
input_shape = [1, 8, 8]
standardize = "channel"
[[model.layers]]
type = "conv2d"
out_channels = 6
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
out_channels = 8
kernel_size = 3
padding = 1
[[model.layers]]
type = "relu"
[[model.layers]]
type = "global_avg_pool"
[[model.layers]]
type = "linear"
out_features = 10
[optimizer]
name = "adam"
lr = 0.01
[train]
steps = 400
[log]
tensorboard = false
dir = "{}"
"#,
        tmp.path().display()
    );
    let t: toml::Table = text.parse().unwrap();
    let cfg = train::RunConfig::from_table("t.toml", t, Path::new("."), "t").unwrap();
    let exact = std::sync::Arc::new(std::sync::Mutex::new(f64::NAN));
    let cur = Curvature {
        every: Every(400),
        ..Curvature::full()
    };
    let mut doc = Doctor::with(vec![Box::new(UnitTrace(400, exact.clone())), Box::new(cur)]);
    let opts = train::Options {
        quiet: true,
        ..Default::default()
    };
    train::run_observed(&cfg, &opts, &mut doc).unwrap();
    assert!(doc.error.is_none(), "{:?}", doc.error);
    let t = &doc.timeline;
    let want = *exact.lock().unwrap();
    let (got, se, n) = (
        at(t, "hessian_trace", 400),
        at(t, "hessian_trace_err", 400),
        at(t, "hessian_trace_samples", 400),
    );
    eprintln!("trace {got:.4} ± {se:.4} ({n} samples) vs exact {want:.4}");
    assert_eq!(at(t, "hessian_trace_exact", 400), 0.0);
    assert!(
        n >= 4.0 && n < at(t, "hessian_trace_cap", 400) && n <= FULL_TRACE_CAP as f64,
        "{n} samples"
    );
    assert!(se <= 0.025 * got.abs(), "± {se}");
    assert!((got - want).abs() <= 0.05 * want.abs(), "{got} vs {want}");
}
