//! `gradlab diagnose FILE --verify [K]` on a small problem: the report gains a table of the
//! remedies trained, and the JSON their measurements.

use std::path::Path;
use std::process::Command;

#[test]
fn diagnose_verify_trains_the_top_remedies() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/problems/dead_units.toml");
    let run = tmp.path().join("run");
    let json = tmp.path().join("r.json");
    let o = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .arg("diagnose")
        .arg(&config)
        .args(["--quiet", "--out"])
        .arg(&run)
        .arg("--json")
        .arg(&json)
        .arg("--verify")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // K defaults to 3; the finding's first three remedies with a config change.
    assert!(text.contains("verified: 3 remedies"), "{text}");
    assert!(
        text.contains("--set model.bias_init=zeros") && text.contains("works: remedy 1"),
        "{text}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let v = &r["verification"];
    assert_eq!(v["metric"], "test_accuracy");
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3);
    assert_eq!(trials[0]["finding"], "dead_units");
    assert_eq!(trials[0]["gone"], true);
    assert!(trials[0]["metric"].as_f64().unwrap() > v["before"].as_f64().unwrap());
    // Each remedy trained in its own run folder under the run's.
    for k in 1..=3 {
        assert!(run.join(format!("verify/{k}/metrics.jsonl")).exists());
    }

    // --verify 0 is refused with a reason.
    let o = Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .arg("diagnose")
        .arg(&config)
        .args(["--quiet", "--verify", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--verify 0"));
}
