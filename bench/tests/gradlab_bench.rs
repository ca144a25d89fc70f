//! Integration tests of the `gradlab-bench` binary: each case runs it in a temporary directory
//! and checks its output.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn bench(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab-bench"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Asserts success and returns stderr.
fn ok(o: &Output) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "gradlab-bench failed: {stderr}");
    stderr
}

#[test]
fn bench_doctor_json_has_ratios_for_both_cases() {
    let dir = tempfile::tempdir().unwrap();
    let o = bench(
        dir.path(),
        &["doctor", "--json", "--steps", "2", "--repeats", "1"],
    );
    ok(&o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cases = v.as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mlp_mnist", "cnn_digits"]);
    for c in cases {
        assert_eq!(c["steps"], 2);
        let t = |k: &str| c[k].as_f64().unwrap();
        for k in ["none_s", "hooks_s", "economy_s", "full_s"] {
            assert!(t(k) > 0.0, "{k}: {c}");
        }
        assert!((t("economy_ratio") - t("economy_s") / t("none_s")).abs() < 1e-12);
        assert!((t("full_ratio") - t("full_s") / t("none_s")).abs() < 1e-12);
        assert!(c["economy_instruments"]
            .as_array()
            .unwrap()
            .contains(&Value::from("basic")));
    }
}
