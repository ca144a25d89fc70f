//! The report as text, JSON and plots, on a hand-made run.

use std::path::PathBuf;

use diagnose::report::fmt_num;
use diagnose::{Evidence, Finding, Kind, Remedy, Report, Timeline};

/// A 200-step run of a 3-layer net whose first layer's gradients shrink, with curvature
/// readings every 20 steps, two epochs and two findings.
fn report() -> Report {
    let mut t = Timeline::default();
    for s in 1..=200u64 {
        let x = s as f64;
        t.push("loss", None, s, 2.3 * (-x / 80.0).exp() + 0.05);
        t.push("lr", None, s, 0.1);
        for (i, name) in ["0.weight", "2.weight", "10.weight"].iter().enumerate() {
            t.push(
                "grad_norm",
                Some(name),
                s,
                10f64.powf(-(3 - i as i32) as f64 * x / 100.0),
            );
        }
        if s == 1 || s % 20 == 0 {
            t.push("lambda_max", None, s, 5.0 + x / 5.0);
            t.push("lambda_min", None, s, -2.0 + x / 100.0);
            t.push("stability", None, s, 0.1 * (5.0 + x / 5.0));
        }
    }
    for (epoch, step, val) in [(1usize, 100u64, 0.6), (2, 200, 0.4)] {
        t.epochs.push(train::EpochRecord {
            epoch,
            step,
            train_loss: Some(0.5),
            train_accuracy: Some(0.9),
            val_loss: Some(val),
            val_accuracy: Some(0.85),
            test_loss: None,
            test_accuracy: None,
            lr: 0.1,
            time_s: 1.0,
            examples_per_s: 1000.0,
        });
    }
    let summary = train::Summary {
        stop: train::Stop::Completed,
        steps: 200,
        epochs: 2,
        last: t.epochs.last().cloned(),
        best: None,
        losses: t.get("loss").iter().map(|p| p.1 as f32).collect(),
        wall_s: 1.5,
        run_dir: PathBuf::from("runs/x"),
        checkpoint: None,
    };
    let findings = vec![
        Finding {
            kind: Kind::VanishingGradients,
            first_step: 40,
            last_step: 200,
            confidence: 0.875,
            basis: "0.875 from a test".into(),
            summary: "the first layer's gradients are a thousandth of the last layer's".into(),
            evidence: vec![Evidence {
                what: "grad_norm first/last layer".into(),
                value: 3.2e-4,
                note: "below 1e-3: the first layer barely learns".into(),
            }],
            remedies: vec![
                Remedy {
                    action: "use He (kaiming) initialisation".into(),
                    why: "keeps the gradient's scale from layer to layer".into(),
                    config: Some("model.init=\"kaiming\"".into()),
                },
                Remedy {
                    action: "add BatchNorm".into(),
                    why: "re-centres every layer's input".into(),
                    config: None,
                },
            ],
        },
        Finding {
            kind: Kind::LrTooHigh,
            first_step: 120,
            last_step: 160,
            confidence: 0.5,
            basis: String::new(),
            summary: "the step overshoots the valley floor".into(),
            evidence: vec![Evidence {
                what: "stability".into(),
                value: 2.9,
                note: "above 2".into(),
            }],
            remedies: vec![Remedy {
                action: "lower the learning rate".into(),
                why: "lr·λmax must stay below 2".into(),
                config: Some("optimizer.lr=0.03".into()),
            }],
        },
    ];
    Report {
        config: "examples/problems/vanishing.toml".into(),
        preset: "full".into(),
        instruments: vec!["basic".into(), "curvature".into()],
        summary,
        findings,
        timeline: t,
        instrument_error: None,
        verification: None,
        next: Vec::new(),
    }
}

#[test]
fn text_names_kind_range_evidence_and_ranked_remedies() {
    let r = report();
    let text = r.to_text();
    for want in [
        "examples/problems/vanishing.toml",
        "preset full",
        "200 steps, 2 epochs",
        "stopped: completed",
        "instruments: basic, curvature",
        "val_loss 0.4",
        "1. vanishing_gradients",
        "steps 40-200",
        "confidence 0.88",
        "grad_norm first/last layer",
        "3.200e-4",
        "1. use He (kaiming) initialisation",
        "2. add BatchNorm",
        "config: --set model.init=kaiming",
        "2. lr_too_high",
        "steps 120-160",
        "config: --set optimizer.lr=0.03",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // Remedies keep their rank order, findings theirs.
    assert!(text.find("use He").unwrap() < text.find("add BatchNorm").unwrap());
    assert!(text.find("vanishing_gradients").unwrap() < text.find("lr_too_high").unwrap());
    assert!(!text.contains("healthy"));
    // Fixed width.
    assert!(text.lines().all(|l| l.chars().count() <= 88), "{text}");

    // No finding, or only `converged`: the run looks healthy.
    let mut healthy = r.clone();
    healthy.findings.clear();
    assert!(healthy.to_text().contains("the run looks healthy"));
    healthy.findings.push(Finding {
        kind: Kind::Converged,
        first_step: 150,
        last_step: 200,
        confidence: 0.9,
        basis: String::new(),
        summary: "the loss stopped improving".into(),
        evidence: vec![],
        remedies: vec![],
    });
    let t = healthy.to_text();
    assert!(
        t.contains("the run looks healthy") && t.contains("1. converged"),
        "{t}"
    );
}

#[test]
fn json_round_trip_has_the_required_keys() {
    let r = report();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/report.json");
    r.write_json(&path).unwrap();
    // Only the report is left (the temporary file was renamed into place).
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["report.json"]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["kind"], "vanishing_gradients");
    assert_eq!(f["first_step"], 40);
    assert_eq!(f["last_step"], 200);
    assert_eq!(f["confidence"], 0.875);
    assert_eq!(f["evidence"][0]["value"], 3.2e-4);
    assert_eq!(f["remedies"][0]["config"], "model.init=\"kaiming\"");
    assert!(f["remedies"][1].get("config").is_none());
    assert_eq!(v["findings"][1]["kind"], "lr_too_high");
    assert_eq!(v["summary"]["stop"]["reason"], "completed");
    assert_eq!(
        v["timeline"]["series"]["loss"].as_array().unwrap().len(),
        200
    );
    let p = &v["timeline"]["series"]["grad_norm@10.weight"][0];
    assert_eq!(p[0], 1);
    assert!((p[1].as_f64().unwrap() - 10f64.powf(-0.01)).abs() < 1e-15);
    let back: Report = serde_json::from_value(v).unwrap();
    assert_eq!(back.findings, r.findings);
    // Values come back to the last bit or one ulp (serde_json's default float parser).
    assert!(back.timeline.series.keys().eq(r.timeline.series.keys()));
    for (k, a) in &r.timeline.series {
        let b = &back.timeline.series[k];
        assert_eq!(a.len(), b.len());
        for (p, q) in a.iter().zip(b) {
            assert_eq!(p.0, q.0);
            assert!((p.1 - q.1).abs() <= 1e-15 * p.1.abs(), "{k}: {p:?} {q:?}");
        }
    }
    assert_eq!(back.timeline.epochs, r.timeline.epochs);
}

#[test]
fn numbers_for_people() {
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(2.0), "2");
    assert_eq!(fmt_num(0.123456), "0.1235");
    assert_eq!(fmt_num(1234.4), "1234");
    assert_eq!(fmt_num(12345.6), "12346");
    assert_eq!(fmt_num(-12.25), "-12.25");
    assert_eq!(fmt_num(3.2e-4), "3.200e-4");
    assert_eq!(fmt_num(2.5e7), "2.500e7");
}

#[test]
fn plots_are_written_and_skipped_without_their_series() {
    let r = report();
    let dir = tempfile::tempdir().unwrap();
    // REPORT_PLOTS_DIR keeps the plots for looking at them.
    let out = std::env::var_os("REPORT_PLOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("plots"));
    let files = diagnose::plots::write_all(&r, &out).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["grad_norms.svg", "loss.svg", "curvature.svg"]);
    let heat = std::fs::read_to_string(out.join("grad_norms.svg")).unwrap();
    // Every parameter is a labelled row, in layer order.
    let labels: Vec<&str> = heat
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with(".weight"))
        .collect();
    assert_eq!(labels, ["0.weight", "2.weight", "10.weight"]);
    assert!(
        heat.matches("<rect").count() > 3 * 200,
        "one cell per layer and step"
    );
    let loss = std::fs::read_to_string(out.join("loss.svg")).unwrap();
    assert!(loss.contains("vanishing_gradients") && loss.contains("lr_too_high"));
    let curv = std::fs::read_to_string(out.join("curvature.svg")).unwrap();
    assert!(curv.contains("edge of stability") && curv.contains("stability"));
    // The edge-of-stability plot needs the sharpness and its threshold.
    assert!(diagnose::plots::edge_of_stability(&r.timeline)
        .unwrap()
        .is_none());
    let mut eos = r.timeline.clone();
    for s in (1..=200).step_by(10) {
        eos.push("sharpness", None, s, 5.0 + s as f64 / 20.0);
        eos.push("sharpness_threshold", None, s, 20.0);
    }
    let svg = diagnose::plots::edge_of_stability(&eos).unwrap().unwrap();
    assert!(svg.contains("sharpness λmax") && svg.contains("stability threshold"));

    // A sparse schedule (every 10th step) leaves no empty column: every row has one cell per
    // column, as many as there are readings.
    let mut sparse = r.clone();
    for (k, p) in sparse.timeline.series.iter_mut() {
        if k.starts_with("grad_norm@") {
            p.retain(|q| q.0 == 1 || q.0 % 10 == 0);
        }
    }
    let heat = diagnose::plots::gradient_heatmap(&sparse.timeline)
        .unwrap()
        .unwrap();
    let full = diagnose::plots::gradient_heatmap(&r.timeline)
        .unwrap()
        .unwrap();
    let rects = |svg: &str| svg.matches("<rect").count();
    // 3 rows × 21 columns, plus the colour bar and backgrounds the dense plot has too.
    assert_eq!(rects(&full) - rects(&heat), 3 * (200 - 21));

    // Only the loss: one plot.
    let mut bare = r.clone();
    bare.timeline.series.retain(|k, _| k == "loss");
    bare.findings.clear();
    let dir2 = dir.path().join("bare");
    let files = diagnose::plots::write_all(&bare, &dir2).unwrap();
    assert_eq!(files, [dir2.join("loss.svg")]);
    // No readings at all: no plot, no error.
    bare.timeline.series.clear();
    assert!(diagnose::plots::write_all(&bare, &dir2.join("none"))
        .unwrap()
        .is_empty());
}
