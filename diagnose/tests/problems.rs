//! The doctor on real runs: each config of `examples/problems/` provokes one problem, and the
//! doctor must name it (and nothing unrelated); each fix, and a few healthy configs from
//! `examples/train` (shortened), must get no finding other than `converged`.
//!
//! The runs use `Doctor::new(Preset::Full)`. Per-layer readings the detectors need
//! (`grad_norm@param`, `identical_units`, `act_std`, `dead_fraction`, `saturation`) are filled in by a small
//! test-only instrument wherever the preset's instruments did not record them at that step, so
//! these tests do not depend on which instruments are merged.

use std::path::Path;

use diagnose::instruments::{basic::Basic, Instrument};
use diagnose::{Doctor, Finding, Kind, Preset, Timeline};
use optim::Params;
use train::Probe;

/// Records the per-layer series of the contract that are missing at this step.
struct Fallback;

fn missing(t: &Timeline, name: &str, layer: &str, step: u64) -> bool {
    t.layer(name, layer).last().is_none_or(|p| p.0 != step)
}

impl Instrument for Fallback {
    fn name(&self) -> &'static str {
        "test-fallback"
    }

    fn after_backward(&mut self, p: &mut Probe<'_>, t: &mut Timeline) -> diagnose::Result<()> {
        let step = p.step;
        let m = &*p.model;
        let n = Params::<f32>::count(m);
        for i in 0..n {
            let name = Params::<f32>::name(m, i).to_string();
            if let Some(g) = Params::<f32>::grad(m, i) {
                if missing(t, "grad_norm", &name, step) {
                    let s: f64 = g.iter().map(|&x| (x as f64).powi(2)).sum();
                    t.push("grad_norm", Some(&name), step, s.sqrt());
                }
            }
            // Weight matrices: rows = the bias's length.
            let Some(prefix) = name.strip_suffix("weight") else {
                continue;
            };
            if step % 5 != 1 || !missing(t, "identical_units", &name, step) {
                continue;
            }
            let bias = format!("{prefix}bias");
            let Some(j) = (0..n).find(|&j| Params::<f32>::name(m, j) == bias) else {
                continue;
            };
            let rows = Params::<f32>::value(m, j).len();
            let w = Params::<f32>::value(m, i);
            if rows < 2 || !w.len().is_multiple_of(rows) || w.len() == rows {
                continue;
            }
            let cols = w.len() / rows;
            let row = |r: usize| &w[r * cols..(r + 1) * cols];
            let same = (0..rows)
                .filter(|&a| {
                    (0..rows).any(|b| {
                        // Up to 1e-6 of the row's norm: blocked matmuls round rows that are
                        // equal in exact arithmetic differently.
                        b != a && {
                            let (ra, rb) = (row(a), row(b));
                            let d: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum();
                            let na: f32 = ra.iter().map(|x| x * x).sum();
                            let nb: f32 = rb.iter().map(|x| x * x).sum();
                            d.sqrt() <= 1e-6 * na.max(nb).sqrt() + 1e-12
                        }
                    })
                })
                .count();
            t.push(
                "identical_units",
                Some(&name),
                step,
                same as f64 / rows as f64,
            );
        }
        if step % 5 == 1 {
            let mut rows: Vec<(String, &'static str, f64)> = Vec::new();
            p.for_each_activation(|i, kind, y| {
                let b = y.batch();
                let f = y.per_example();
                let v = &y.data;
                if ["relu", "sigmoid", "tanh"].contains(&kind) {
                    let n = v.len().max(1) as f64;
                    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
                    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
                    rows.push((i.to_string(), "act_std", var.sqrt()));
                }
                match kind {
                    "relu" => {
                        let dead = (0..f)
                            .filter(|&u| (0..b).all(|e| v[e * f + u] <= 0.0))
                            .count();
                        rows.push((i.to_string(), "dead_fraction", dead as f64 / f as f64));
                    }
                    "sigmoid" => {
                        let s = v.iter().filter(|&&x| !(0.01..=0.99).contains(&x)).count();
                        rows.push((i.to_string(), "saturation", s as f64 / v.len() as f64));
                    }
                    "tanh" => {
                        let s = v.iter().filter(|&&x| x.abs() > 0.99).count();
                        rows.push((i.to_string(), "saturation", s as f64 / v.len() as f64));
                    }
                    _ => {}
                }
            })
            .map_err(diagnose::DiagnoseError::from)?;
            for (l, what, v) in rows {
                if missing(t, what, &l, step) {
                    t.push(what, Some(&l), step, v);
                }
            }
        }
        Ok(())
    }
}

/// Runs `file` (relative to the workspace root) with `overrides` under the full doctor.
fn diagnose(file: &str, overrides: &[&str]) -> (Vec<Finding>, Timeline) {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    o.push(format!("log.dir=\"{}\"", tmp.path().display()));
    o.push("log.tensorboard=false".into());
    let cfg = train::RunConfig::from_file(root.join(file), &o).unwrap();
    // What `Doctor::new(Preset::Full)` runs, plus the fallback.
    let mut ins: Vec<Box<dyn Instrument>> = vec![Box::new(Basic::default())];
    ins.extend(diagnose::instruments::preset(Preset::Full));
    ins.push(Box::new(Fallback));
    let mut doc = Doctor::with(ins);
    let s = train::run_observed(
        &cfg,
        &train::Options {
            quiet: true,
            ..Default::default()
        },
        &mut doc,
    )
    .unwrap();
    assert!(doc.error.is_none(), "{:?}", doc.error);
    (diagnose::detect(&doc.timeline, &s), doc.timeline)
}

fn show(file: &str, f: &[Finding]) -> String {
    let mut s = format!("{file}:");
    for f in f {
        s += &format!(
            "\n  {} [{}..{}] conf {:.2}: {}",
            f.kind, f.first_step, f.last_step, f.confidence, f.summary
        );
        for e in &f.evidence {
            s += &format!("\n      {} = {:.4e}", e.what, e.value);
        }
    }
    s
}

/// Asserts `file` gets `expect` and otherwise only kinds from `allowed`.
fn check(file: &str, overrides: &[&str], expect: Option<Kind>, allowed: &[Kind]) {
    let (f, t) = diagnose(file, overrides);
    let text = show(file, &f);
    println!("{text}");
    if std::env::var_os("DOCTOR_TRACE").is_some() {
        let l = t.get("loss");
        let k = (l.len() / 12).max(1);
        let pts: Vec<String> = l
            .iter()
            .step_by(k)
            .map(|p| format!("{}:{:.3}", p.0, p.1))
            .collect();
        println!("  loss {}", pts.join(" "));
        for e in &t.epochs {
            println!(
                "  epoch {} train {:?} val {:?} acc {:?} val acc {:?}",
                e.epoch, e.train_loss, e.val_loss, e.train_accuracy, e.val_accuracy
            );
        }
    }
    if let Some(k) = expect {
        assert!(f.iter().any(|f| f.kind == k), "expected {k}: {text}");
    }
    for x in &f {
        assert!(
            Some(x.kind) == expect || allowed.contains(&x.kind),
            "unexpected {}: {text}",
            x.kind
        );
        assert!((0.0..=1.0).contains(&x.confidence));
        assert!(!x.evidence.is_empty() && x.evidence.iter().all(|e| !e.note.is_empty()));
        assert!(x.kind == Kind::Converged || !x.remedies.is_empty());
    }
}

macro_rules! problem {
    ($name:ident, $kind:expr $(, $also:expr)*) => {
        mod $name {
            use super::*;
            #[test]
            fn provoked() {
                check(
                    concat!("examples/problems/", stringify!($name), ".toml"),
                    &[],
                    Some($kind),
                    &[$($also),*],
                );
            }
            #[test]
            fn fixed() {
                check(
                    concat!("examples/problems/", stringify!($name), "_fix.toml"),
                    &[],
                    None,
                    &[Kind::Converged],
                );
            }
        }
    };
}

problem!(vanishing_gradients, Kind::VanishingGradients);
// Divergence from a too-large step: the gradient explodes on the way.
problem!(
    lr_too_high,
    Kind::LrTooHigh,
    Kind::Diverged,
    Kind::ExplodingGradients
);
problem!(lr_too_low, Kind::LrTooLow);
problem!(exploding_gradients, Kind::ExplodingGradients);
problem!(symmetry_not_broken, Kind::SymmetryNotBroken);
problem!(dead_units, Kind::DeadUnits);
problem!(underfitting, Kind::Underfitting);
problem!(overfitting, Kind::Overfitting);
// The run escapes the saddle and ends well.
problem!(saddle_or_plateau, Kind::SaddleOrPlateau);

macro_rules! healthy {
    ($name:ident, $file:expr, [$($o:expr),*]) => {
        #[test]
        fn $name() {
            check($file, &[$($o),*], None, &[Kind::Converged]);
        }
    };
}

healthy!(
    healthy_digits_logreg,
    "examples/train/digits_logreg.toml",
    ["train.epochs=5"]
);
healthy!(
    healthy_digits_mlp,
    "examples/train/digits_mlp.toml",
    ["train.epochs=6", "schedule.t_max=6"]
);

/// Exploration: `DOCTOR_FILE=examples/… DOCTOR_SET='a=1;b=2' DOCTOR_TRACE=1 cargo test … explore
/// -- --ignored --nocapture` prints the doctor's findings for any config.
#[test]
#[ignore]
fn explore() {
    let file = std::env::var("DOCTOR_FILE").unwrap();
    let set = std::env::var("DOCTOR_SET").unwrap_or_default();
    let o: Vec<&str> = set.split(';').filter(|s| !s.is_empty()).collect();
    check(&file, &o, None, &Kind::ALL);
}
healthy!(
    healthy_digits_cnn,
    "examples/train/digits_cnn.toml",
    ["train.epochs=4", "schedule.t_max=4"]
);
