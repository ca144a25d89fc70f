//! Per-example statistics of batch-norm models (the evaluation-statistics variant) against
//! PyTorch float64 per-example gradients, one example at a time with batch norm in evaluation
//! mode (`tests/per_example_bn/gen.py`): an MLP with BatchNorm1d, a CNN with two BatchNorm2d and
//! residual blocks with BatchNorm1d in a body, at the first step (running statistics after that
//! step's training forward).

use std::path::{Path, PathBuf};

use diagnose::instruments::per_example::{PerExample, EVAL_STATISTICS};
use diagnose::instruments::Every;
use diagnose::Doctor;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/per_example_bn")
}

#[test]
fn eval_statistics_readings_match_pytorch_per_example_gradients() {
    let tmp = tempfile::tempdir().unwrap();
    for case in ["mlp_bn", "cnn_bn", "residual_bn"] {
        let path = dir().join(format!("{case}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let refs: serde_json::Value = serde_json::from_str(&text).unwrap();
        let f = |k: &str| refs[k].as_f64().unwrap();
        let set = format!("log.dir=\"{}\"", tmp.path().join(case).display());
        let cfg = train::RunConfig::from_file(dir().join(format!("{case}.toml")), &[set]).unwrap();
        let mut doc = Doctor::with(vec![Box::new(PerExample::new(Every(1), None))]);
        let opts = train::Options {
            quiet: true,
            ..Default::default()
        };
        train::run_observed(&cfg, &opts, &mut doc).unwrap();
        assert!(doc.error.is_none(), "{:?}", doc.error);
        let t = &doc.timeline;
        let at = |name: &str| {
            t.get(name)
                .iter()
                .find(|p| p.0 == 1)
                .unwrap_or_else(|| panic!("{case}: no `{name}` at step 1"))
                .1
        };
        assert_eq!(at(EVAL_STATISTICS), 1.0);
        let (tr, g2, gbar2) = (f("tr_sigma"), f("g_norm_sq"), f("batch_grad_norm_sq"));
        for (name, got, want) in [
            ("pe_norm_mean", at("pe_norm_mean"), f("pe_norm_mean")),
            ("pe_norm_max", at("pe_norm_max"), f("pe_norm_max")),
            ("noise_trace", at("noise_trace"), tr),
        ] {
            eprintln!("{case}: {name} {got:.7} vs PyTorch f64 {want:.7}");
            assert!(
                (got - want).abs() <= 1e-5 * want,
                "{case}: {name} {got} vs {want}"
            );
        }
        // ‖G‖² is a difference of two near numbers: held to the scale of its terms.
        let m_g2 = at("grad_sq_unbiased");
        eprintln!("{case}: ‖G‖² {m_g2:.7} vs PyTorch f64 {g2:.7}");
        assert!(
            (m_g2 - g2).abs() <= 1e-4 * (gbar2 + tr / 32.0),
            "{case}: ‖G‖² {m_g2} vs {g2}"
        );
    }
}
