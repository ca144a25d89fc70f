//! `gradlab lr-find` end to end on a bundled example (the 8×8 digits, logistic regression with
//! SGD + momentum): a short sweep over two seeds writes the JSON and the plot, prints the verdict,
//! the stability cross-check and (when clear) the flag; bad flags are errors that name them.

use std::path::PathBuf;
use std::process::{Command, Output};

fn gradlab(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/train")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn lr_find_sweeps_a_bundled_example_and_writes_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = example("digits_logreg.toml");
    let o = gradlab(
        dir.path(),
        &[
            "lr-find",
            &cfg,
            "--seeds",
            "2",
            "--steps",
            "40",
            "--lr-min",
            "1e-5",
            "--lr-max",
            "100",
            "--out",
            "lf",
            "--threads",
            "1",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("seed 0:") && out.contains("seed 1:"), "{out}");
    // SGD with momentum 0.9 has a stability threshold: 2(1+μ)/λmax.
    assert!(out.contains("heavy-ball momentum μ = 0.9"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("lf/lr_find.json")).unwrap())
            .unwrap();
    assert_eq!(json["curves"].as_array().unwrap().len(), 2);
    assert_eq!(json["peak"]["key"], "optimizer.lr");
    assert_eq!(json["plan"]["steps"], 40);
    let lrs = json["curves"][0]["lrs"].as_array().unwrap();
    assert!(lrs.len() >= 8 && lrs.len() <= 40);
    match json["verdict"]["kind"].as_str().unwrap() {
        "clear" => {
            let lr = json["verdict"]["lr"].as_f64().unwrap();
            assert!((1e-5..100.0).contains(&lr));
            let flag = json["flag"].as_str().unwrap();
            assert!(flag.starts_with("--set optimizer.lr="), "{flag}");
            assert!(out.contains(flag), "{out}");
        }
        "unclear" => assert!(out.contains("no clear answer"), "{out}"),
        k => panic!("verdict kind {k}"),
    }
    let svg = std::fs::read_to_string(dir.path().join("lf/lr_find.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("LR range test") && svg.contains("seed 1"));
}

#[test]
fn lr_find_bad_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = example("digits_logreg.toml");
    for (args, want) in [
        (vec!["--seeds", "0"], "--seeds 0"),
        // Regression: a huge count aborted on allocating the seed list.
        (vec!["--seeds", "1000000000000"], "expected 1 to 1000 seeds"),
        (vec!["--lr-max", "1e-9"], "lr_max = "),
        (vec!["--steps", "2"], "steps = 2"),
        (vec!["--set", "optimizer.name=\"sgdd\""], "sgd"),
    ] {
        let mut a = vec!["lr-find", cfg.as_str(), "--out", "x"];
        a.extend(args);
        let o = gradlab(dir.path(), &a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{a:?}: {err}");
    }
}
