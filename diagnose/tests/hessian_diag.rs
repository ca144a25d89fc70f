//! The exact Hessian diagonal (`instruments::hessian_diag`) for convolutions, pooling, residual
//! blocks, dropout and linear layers over positions: against unit-vector products `eᵢᵀ H eᵢ` of
//! the engine (`Probe::hvp`, itself checked against PyTorch in `train/tests/hvp.rs`; dropout's
//! masks are gradlab's own, so this is its only reference), and against PyTorch f64 full Hessians
//! (`tests/curvature/gen.py`, the `diag_*` cases) per parameter element and in the trace.

use std::path::Path;
use std::sync::{Arc, Mutex};

use diagnose::instruments::hessian_diag::exact_diagonal;
use diagnose::{Doctor, Timeline};

/// Pairs (exact diagonal, unit-vector product) per parameter at step 1.
type Seen = Arc<Mutex<Vec<(String, Vec<(f64, f64)>)>>>;

struct UnitCheck(Seen);

impl diagnose::instruments::Instrument for UnitCheck {
    fn name(&self) -> &'static str {
        "unit_check"
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
        let exact = exact_diagonal(p, f64::INFINITY)?.expect("supported structure");
        let m = &*p.model;
        let shapes: Vec<usize> = (0..Params::<f32>::count(m))
            .map(|i| Params::<f32>::value(m, i).len())
            .collect();
        let mut out = self.0.lock().unwrap();
        let mut hv = Vec::new();
        let mut v: Vec<Vec<f32>> = shapes.iter().map(|&n| vec![0.0; n]).collect();
        for (pi, d) in exact.iter().enumerate() {
            let mut pairs = Vec::new();
            for (j, &want) in d.diag.iter().enumerate() {
                v[pi][j] = 1.0;
                p.hvp(&v, &mut hv)?;
                v[pi][j] = 0.0;
                pairs.push((want, hv[pi][j] as f64));
            }
            out.push((d.name.clone(), pairs));
        }
        Ok(())
    }
}

fn run_with(
    text: &str,
    dir: &Path,
    instrument: Box<dyn diagnose::instruments::Instrument>,
) -> Timeline {
    let mut t: toml::Table = text.parse().unwrap();
    train::apply_overrides(&mut t, &[format!("log.dir=\"{}\"", dir.display())]).unwrap();
    let cfg = train::RunConfig::from_table("t.toml", t, Path::new("."), "t").unwrap();
    let mut doc = Doctor::with(vec![instrument]);
    let opts = train::Options {
        quiet: true,
        ..Default::default()
    };
    train::run_observed(&cfg, &opts, &mut doc).unwrap();
    assert!(doc.error.is_none(), "{:?}", doc.error);
    doc.timeline
}

const CONV2D: &str = r#"
[data]
dataset = "digits"
batch_size = 12
subset = 48
shuffle = false
input_shape = [1, 8, 8]
[[model.layers]]
type = "conv2d"
out_channels = 3
kernel_size = 3
padding = 1
[[model.layers]]
type = "tanh"
[[model.layers]]
type = "dropout"
p = 0.3
[[model.layers]]
type = "maxpool2d"
kernel_size = 2
[[model.layers]]
type = "residual"
body = [{ type = "conv2d", out_channels = 3, kernel_size = 3, padding = 1 }, { type = "gelu" }, { type = "dropout", p = 0.2 }, { type = "conv2d", out_channels = 3, kernel_size = 3, padding = 1 }]
[[model.layers]]
type = "residual"
body = [{ type = "conv2d", out_channels = 4, kernel_size = 3, padding = 1 }, { type = "softplus" }]
shortcut = [{ type = "conv2d", out_channels = 4, kernel_size = 1, bias = false }]
[[model.layers]]
type = "avgpool2d"
kernel_size = 3
stride = 1
padding = 1
[[model.layers]]
type = "conv2d"
out_channels = 2
kernel_size = 2
dilation = 2
[[model.layers]]
type = "elu"
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 10
"#;

const CONV1D: &str = r#"
[data]
dataset = "mnist1d"
batch_size = 12
subset = 48
shuffle = false
input_shape = [1, 40]
[[model.layers]]
type = "residual"
body = [{ type = "conv1d", out_channels = 2, kernel_size = 3, padding = 1 }, { type = "tanh" }]
shortcut = [{ type = "conv1d", out_channels = 2, kernel_size = 1 }]
[[model.layers]]
type = "conv1d"
out_channels = 3
kernel_size = 5
padding = 2
stride = 2
[[model.layers]]
type = "leaky_relu"
[[model.layers]]
type = "maxpool1d"
kernel_size = 3
stride = 2
padding = 1
[[model.layers]]
type = "conv1d"
out_channels = 4
kernel_size = 3
padding = 2
dilation = 2
[[model.layers]]
type = "sigmoid"
[[model.layers]]
type = "global_avg_pool"
[[model.layers]]
type = "linear"
out_features = 10
"#;

/// A linear layer over positions (`[4, 10] → [4, 6]`, PyTorch's last-dimension rule).
const POSITIONS: &str = r#"
[data]
dataset = "mnist1d"
batch_size = 12
subset = 48
shuffle = false
input_shape = [4, 10]
[[model.layers]]
type = "linear"
out_features = 6
[[model.layers]]
type = "silu"
[[model.layers]]
type = "linear"
out_features = 3
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 10
"#;

#[test]
fn exact_diagonal_matches_unit_vector_products_through_conv_pool_residual_dropout() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, model, train) in [
        ("conv2d", CONV2D, "steps = 1\nlabel_smoothing = 0.1"),
        ("conv1d", CONV1D, "steps = 1"),
        ("positions", POSITIONS, "steps = 1"),
    ] {
        let text = format!(
            "seed = 5\n{model}\n[train]\n{train}\n[optimizer]\nname = \"sgd\"\nlr = 0.1\n[log]\ntensorboard = false\n"
        );
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        run_with(
            &text,
            &tmp.path().join(name),
            Box::new(UnitCheck(seen.clone())),
        );
        let seen = seen.lock().unwrap();
        let mut worst: f64 = 0.0;
        for (param, pairs) in seen.iter() {
            let scale = pairs.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
            assert!(scale > 0.0, "{name} {param}: zero diagonal");
            let mut w: f64 = 0.0;
            for &(exact, product) in pairs {
                // The products are the f32 engine's (measured ≤ 6e-7 of the largest entry).
                w = w.max((exact - product).abs() / scale);
                assert!(
                    (exact - product).abs() <= 2e-6 * scale,
                    "{name} {param}: exact {exact} vs eᵢᵀHeᵢ {product}"
                );
            }
            eprintln!("{name} {param}: {w:.1e}");
            worst = worst.max(w);
        }
        eprintln!(
            "{name}: {} parameters, worst |exact − eᵢᵀHeᵢ| / max {:.2e}",
            seen.len(),
            worst
        );
    }
}

/// The exact diagonal at step 1, per parameter.
type Diagonals = Arc<Mutex<Vec<(String, Vec<f64>)>>>;

struct Exact(Diagonals);

impl diagnose::instruments::Instrument for Exact {
    fn name(&self) -> &'static str {
        "exact"
    }
    fn after_backward(
        &mut self,
        p: &mut train::Probe<'_>,
        _t: &mut Timeline,
    ) -> diagnose::Result<()> {
        if p.step == 1 {
            let d = exact_diagonal(p, f64::INFINITY)?.expect("supported structure");
            *self.0.lock().unwrap() = d.into_iter().map(|d| (d.name, d.diag)).collect();
        }
        Ok(())
    }
}

const DIAG_CASES: &[&str] = &[
    "diag_conv2d",
    "diag_conv2d_pool",
    "diag_conv1d_pool",
    "diag_residual",
    "diag_residual_conv",
];

#[test]
fn exact_diagonal_matches_pytorch_f64_hessians_per_element() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/curvature");
    let tmp = tempfile::tempdir().unwrap();
    for case in DIAG_CASES {
        let text = std::fs::read_to_string(dir.join(format!("{case}.json"))).unwrap();
        let r: serde_json::Value = serde_json::from_str(&text).unwrap();
        let set = format!("log.dir=\"{}\"", tmp.path().join(case).display());
        let cfg = train::RunConfig::from_file(dir.join(format!("{case}.toml")), &[set]).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut doc = Doctor::with(vec![Box::new(Exact(seen.clone()))]);
        let opts = train::Options {
            quiet: true,
            ..Default::default()
        };
        train::run_observed(&cfg, &opts, &mut doc).unwrap();
        assert!(doc.error.is_none(), "{:?}", doc.error);
        let got = seen.lock().unwrap();
        let names: Vec<&str> = r["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(got.len(), names.len(), "{case}");
        let (mut trace, mut worst): (f64, f64) = (0.0, 0.0);
        for ((name, d), want_name) in got.iter().zip(&names) {
            assert_eq!(name, want_name, "{case}");
            let want: Vec<f64> = r["diagonal"][name]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(d.len(), want.len(), "{case} {name}");
            // Per element, relative to the parameter's largest diagonal entry (entries
            // can be zero or cancel).
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let err = d
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0f64, f64::max)
                / scale;
            eprintln!(
                "{case} {name}: {} entries, max error {err:.2e} of max |diag| {scale:.3e}",
                d.len()
            );
            assert!(err <= 1e-6, "{case} {name}: {err:.2e}");
            worst = worst.max(err);
            trace += d.iter().sum::<f64>();
        }
        let want = r["trace"].as_f64().unwrap();
        let et = (trace - want).abs() / want.abs();
        eprintln!("{case}: trace {trace:.8} vs {want:.8} ({et:.2e}); worst element {worst:.2e}");
        assert!(et <= 1e-6, "{case}: trace {trace} vs {want}");
    }
}

/// Times, at step 2: the exact diagonal, one training forward+backward and one Hessian-vector
/// product, and whether the full preset's budget admits the diagonal.
/// (diagonal s, forward+backward s, product s, admitted by the full preset's budget).
type Times = Arc<Mutex<Vec<(f64, f64, f64, bool)>>>;

struct Timing(Times);

impl diagnose::instruments::Instrument for Timing {
    fn name(&self) -> &'static str {
        "timing"
    }
    fn after_backward(
        &mut self,
        p: &mut train::Probe<'_>,
        _t: &mut Timeline,
    ) -> diagnose::Result<()> {
        use std::time::Instant;
        if p.step != 2 {
            return Ok(());
        }
        let admitted = exact_diagonal(p, 24.0)?.is_ok();
        // With a budget of one product the refusal states the cost against one product.
        if let Err(why) = exact_diagonal(p, 1.0)? {
            eprintln!("counted: {why} (one product)");
        }
        let (mut grads, mut hv) = (Vec::new(), Vec::new());
        p.loss_and_gradient(None, &mut grads)?;
        for _ in 0..3 {
            let t = Instant::now();
            exact_diagonal(p, f64::INFINITY)?.unwrap();
            let diag = t.elapsed().as_secs_f64();
            let t = Instant::now();
            p.loss_and_gradient(None, &mut grads)?;
            let step = t.elapsed().as_secs_f64();
            let t = Instant::now();
            p.hvp(&grads, &mut hv)?;
            let prod = t.elapsed().as_secs_f64();
            self.0.lock().unwrap().push((diag, step, prod, admitted));
        }
        Ok(())
    }
}

#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn cost_of_the_exact_diagonal_on_bundled_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/train");
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/curvature");
    let cases = [
        "mnist1d_cnn",
        "deep_residual",
        "mnist1d_mlp",
        "mnist-10k_mlp",
    ]
    .iter()
    .map(|c| (c, &examples));
    for (case, dir) in cases.chain(DIAG_CASES.iter().map(|c| (c, &refs))) {
        let mut set = vec![format!("log.dir=\"{}\"", tmp.path().join(case).display())];
        if dir == &examples {
            set.push("train.epochs=1".to_string());
        } else {
            set.push("train.steps=2".to_string());
        }
        let cfg = train::RunConfig::from_file(dir.join(format!("{case}.toml")), &set).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut doc = Doctor::with(vec![Box::new(Timing(seen.clone()))]);
        let opts = train::Options {
            quiet: true,
            stop_after_steps: Some(2),
            ..Default::default()
        };
        train::run_observed(&cfg, &opts, &mut doc).unwrap();
        for (diag, step, prod, admitted) in seen.lock().unwrap().iter() {
            eprintln!(
                "{case}: exact diagonal {:.1} ms = {:.1}× a forward+backward ({:.2} ms), {:.1}× a Hessian-vector product ({:.2} ms); full preset admits it: {admitted}",
                1e3 * diag, diag / step, 1e3 * step, diag / prod, 1e3 * prod
            );
        }
    }
}
