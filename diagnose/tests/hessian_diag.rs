//! The exact Hessian diagonal (`instruments::hessian_diag`) for convolutions, pooling, residual
//! blocks and dropout: against unit-vector products `eᵢᵀ H eᵢ` of the engine (`Probe::hvp`,
//! itself checked against PyTorch in `train/tests/hvp.rs`; dropout's masks are gradlab's own,
//! so this is its only reference), and against PyTorch f64 full Hessians
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

#[test]
fn exact_diagonal_matches_unit_vector_products_through_conv_pool_residual_dropout() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, model, train) in [
        ("conv2d", CONV2D, "steps = 1\nlabel_smoothing = 0.1"),
        ("conv1d", CONV1D, "steps = 1"),
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
            for &(exact, product) in pairs {
                let e = (exact - product).abs() / scale;
                worst = worst.max(e);
                assert!(
                    e <= 1e-6,
                    "{name} {param}: exact {exact} vs eᵢᵀHeᵢ {product}"
                );
            }
        }
        eprintln!(
            "{name}: {} parameters, worst |exact − eᵢᵀHeᵢ| / max {:.2e}",
            seen.len(),
            worst
        );
    }
}
