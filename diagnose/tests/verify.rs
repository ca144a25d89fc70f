//! `--verify` on a small problem: the top remedies of `examples/problems/dead_units.toml`,
//! trained alone with the run's seed and budget, each measured against its finding.

use std::path::Path;

use diagnose::run::diagnose;
use diagnose::{Kind, Preset, Report, Subject};

#[test]
fn verify_trains_the_top_remedies_and_measures_each() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let subject = Subject::new(
        root.join("examples/problems/dead_units.toml"),
        vec![
            format!(
                "log.dir={}",
                toml::Value::String(tmp.path().join("run").display().to_string())
            ),
            "log.tensorboard=false".into(),
        ],
    );
    let cfg = subject.config(&[]).unwrap();
    let opts = train::Options {
        quiet: true,
        ..Default::default()
    };
    let mut report = diagnose(&subject, &cfg, &opts, Preset::Economy).unwrap();
    let first = report.problems().next().unwrap();
    assert_eq!(first.kind, Kind::DeadUnits);
    let v = diagnose::verify::verify(&subject, &cfg, &report, Preset::Economy, 2);
    // The first two remedies of the only finding, in the report's order.
    assert_eq!(v.trials.len(), 2);
    for (i, t) in v.trials.iter().enumerate() {
        assert_eq!((t.finding, t.rank), (Kind::DeadUnits, i + 1));
        assert_eq!(Some(&t.config), first.remedies[i].config.as_ref());
        assert!(t.error.is_none(), "{:?}", t.error);
        // Its own run folder under the run's.
        assert!(tmp
            .path()
            .join(format!("run/verify/{}/metrics.jsonl", i + 1))
            .exists());
    }
    // Zero biases bring the units back: the finding is gone and the test accuracy (the tuning
    // metric, as the run logs a test set) rises from chance.
    let t = &v.trials[0];
    assert_eq!(t.gone, Some(true), "{v:?}");
    assert_eq!(v.metric, Some(train::Metric::TestAccuracy));
    let (before, after) = (v.before.unwrap(), t.metric.unwrap());
    assert!(before < 0.2 && after > 0.8, "{before} -> {after}");
    // The same numbers as the remedied run alone gives (same seed, same budget).
    let alone = Subject::new(
        subject.path.clone(),
        [
            subject.overrides.clone(),
            diagnose::run::overrides(&t.config),
            vec![format!(
                "log.dir={}",
                toml::Value::String(tmp.path().join("alone").display().to_string())
            )],
        ]
        .concat(),
    );
    let r = diagnose(&alone, &alone.config(&[]).unwrap(), &opts, Preset::Economy).unwrap();
    assert_eq!(r.summary.last.unwrap().test_accuracy, t.metric);
    assert_eq!(v.best(), Some(t));

    // In the report: the text's table and the JSON.
    report.verification = Some(v.clone());
    let text = report.to_text();
    assert!(text.contains("verified: 2 remedies"), "{text}");
    assert!(
        text.contains("dead_units (1)") && text.contains("--set model.bias_init=zeros"),
        "{text}"
    );
    assert!(text.contains("works: remedy 1"), "{text}");
    let json = tmp.path().join("r.json");
    report.write_json(&json).unwrap();
    let back: Report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(back.verification, Some(v));
}
