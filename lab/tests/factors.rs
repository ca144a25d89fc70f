//! Factor studies: reading and validating factors, expanding them into arms (full factorial,
//! one-at-a-time ablation), and the overrides reaching every run's config.

use std::path::Path;

use lab::study::Design;
use lab::Study;

/// A tiny synthetic problem with one hidden layer (so model edits have a layer to act on).
const PROBLEM: &str = r#"
[[problems]]
name = "p"
target = { metric = "test_accuracy", value = 0.5 }
[problems.data]
dataset = "moons"
n = 64
n_test = 32
batch_size = 32
validation_split = 0.25
[[problems.model.layers]]
type = "linear"
out_features = 8
[[problems.model.layers]]
type = "sigmoid"
[[problems.model.layers]]
type = "linear"
out_features = 2
[problems.train]
epochs = 1
"#;

const OPTIMIZERS: &str = r#"
[[optimizers]]
name = "sgd"
lr = { log_uniform = [1e-3, 1.0] }
[[optimizers]]
name = "adam"
lr = { log_uniform = [1e-4, 1e-1] }
"#;

const FACTORS: &str = r#"
[[factors]]
name = "norm"
levels = [
  { name = "none", set = [] },
  { name = "bn", set = ["model.normalization=batchnorm"] },
]
[[factors]]
name = "act"
levels = [
  { name = "sigmoid", set = [] },
  { name = "relu", set = ["model.activation=relu", "model.weight_init=\"kaiming_normal\""] },
  { name = "tanh", set = ["model.activation=tanh"] },
]
"#;

/// A study: `top` holds top-level keys (before any table), `factors` the [[factors]].
fn text(top: &str, factors: &str) -> String {
    format!("name = \"f\"\nseeds = [0, 1, 2]\n{top}\n[tuning]\ntrials = 3\n{PROBLEM}{OPTIMIZERS}{factors}")
}

fn parse(text: &str) -> Study {
    Study::from_text(text, "study.toml", Path::new("."))
        .unwrap_or_else(|e| panic!("study does not parse: {e}\n{text}"))
}

fn parse_err(text: &str) -> String {
    match Study::from_text(text, "study.toml", Path::new(".")) {
        Ok(_) => panic!("study parsed but should not:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn full_factorial_expands_every_optimizer_times_every_combination() {
    let s = parse(&text("", FACTORS));
    assert_eq!(s.design, Design::Factorial);
    assert_eq!(s.factors.len(), 2);
    let labels: Vec<&str> = s.optimizers.iter().map(|o| o.label.as_str()).collect();
    // 2 optimizers × 2 norms × 3 activations, optimizer-major, the last factor fastest.
    assert_eq!(
        labels,
        [
            "sgd+norm=none+act=sigmoid",
            "sgd+norm=none+act=relu",
            "sgd+norm=none+act=tanh",
            "sgd+norm=bn+act=sigmoid",
            "sgd+norm=bn+act=relu",
            "sgd+norm=bn+act=tanh",
            "adam+norm=none+act=sigmoid",
            "adam+norm=none+act=relu",
            "adam+norm=none+act=tanh",
            "adam+norm=bn+act=sigmoid",
            "adam+norm=bn+act=relu",
            "adam+norm=bn+act=tanh",
        ]
    );
    let arm = s.optimizers[4].arm.as_ref().unwrap();
    assert_eq!(arm.optimizer, "sgd");
    assert_eq!(
        (arm.level("norm"), arm.level("act")),
        (Some("bn"), Some("relu"))
    );
    assert_eq!(
        arm.set,
        [
            "model.normalization=batchnorm",
            "model.activation=relu",
            "model.weight_init=\"kaiming_normal\""
        ]
    );
    // 12 arms × 3 trials, each with its own key.
    let runs = s.initial_runs().unwrap();
    assert_eq!(runs.len(), 36);
    let mut keys: Vec<&str> = runs.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 36);
    // Every arm of an optimizer is tried at the same learning rates (the lr is tuned per arm,
    // from the same candidates).
    let lrs = |label: &str| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.optimizer == label)
            .map(|r| r.params["lr"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(
        lrs("sgd+norm=none+act=sigmoid"),
        lrs("sgd+norm=bn+act=tanh")
    );
    assert_ne!(
        lrs("sgd+norm=none+act=sigmoid"),
        lrs("adam+norm=none+act=sigmoid")
    );
    // The levels reach the run config, after the optimizer's setting.
    let r = runs
        .iter()
        .find(|r| r.optimizer == "sgd+norm=bn+act=relu")
        .unwrap();
    let cfg: toml::Table = r.config.parse().unwrap();
    assert_eq!(cfg["model"]["normalization"].as_str(), Some("batchnorm"));
    assert_eq!(cfg["model"]["activation"].as_str(), Some("relu"));
    assert_eq!(cfg["model"]["weight_init"].as_str(), Some("kaiming_normal"));
    assert_eq!(cfg["optimizer"]["name"].as_str(), Some("sgd"));
    let base = runs
        .iter()
        .find(|r| r.optimizer == "sgd+norm=none+act=sigmoid")
        .unwrap();
    let cfg: toml::Table = base.config.parse().unwrap();
    assert!(cfg["model"].get("normalization").is_none());
    // The stored definition names the factors; a study without them keeps its old form.
    assert!(s.definition().contains("\"factors\""));
    let plain = parse(&text("", ""));
    assert_eq!(plain.optimizers.len(), 2);
    assert!(!plain.definition().contains("factors"));
    assert!(!plain.definition().contains("\"arm\""));
}

#[test]
fn ablation_changes_one_factor_at_a_time_from_the_baseline() {
    let s = parse(&text("design = \"ablation\"", FACTORS));
    assert_eq!(s.design, Design::Ablation);
    let labels: Vec<&str> = s
        .optimizers
        .iter()
        .filter(|o| o.base_label() == "adam")
        .map(|o| o.label.as_str())
        .collect();
    // The baseline, then each other level alone: 1 + (2 − 1) + (3 − 1) = 4 arms per optimizer.
    assert_eq!(
        labels,
        [
            "adam+norm=none+act=sigmoid",
            "adam+norm=bn+act=sigmoid",
            "adam+norm=none+act=relu",
            "adam+norm=none+act=tanh",
        ]
    );
    assert_eq!(s.optimizers.len(), 8);
}

#[test]
fn factors_are_validated_before_any_run() {
    let level = |set: &str| {
        format!(
            "[[factors]]\nname = \"reg\"\nlevels = [{{ name = \"off\", set = [] }}, {{ name = \"on\", set = [{set}] }}]\n"
        )
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "misspelt model edit key",
            level("\"model.normalisation=batchnorm\""),
            vec![
                "factors[0] (reg) level `on`",
                "normalisation",
                "did you mean `normalization`",
            ],
        ),
        (
            "misspelt edit value",
            level("\"model.activation=rleu\""),
            vec!["factors[0] (reg) level `on`", "did you mean `relu`"],
        ),
        (
            "misspelt section",
            level("\"trian.early_stopping=true\""),
            vec!["factors[0] (reg) level `on`", "did you mean `train`"],
        ),
        (
            "not key=value",
            level("\"model.dropout\""),
            vec![
                "factors[0].levels[1].set[0] = \"model.dropout\"",
                "key=value",
            ],
        ),
        (
            "a key the study sets",
            level("\"seed=3\""),
            vec!["factors[0].levels[1].set[0]", "the study sets this key"],
        ),
        (
            "an optimizer key the optimizer searches",
            level("\"optimizer.lr=0.1\""),
            vec![
                "factors[0] (reg) level `on`",
                "sets optimizer.lr",
                "set it in one place",
            ],
        ),
        (
            "one level",
            "[[factors]]\nname = \"reg\"\nlevels = [{ name = \"off\" }]\n".into(),
            vec!["factors[0].levels", "at least two levels"],
        ),
        (
            "duplicate level",
            "[[factors]]\nname = \"reg\"\nlevels = [{ name = \"off\" }, { name = \"off\" }]\n"
                .into(),
            vec![
                "factors[0].levels[1].name = \"off\"",
                "duplicate level name",
            ],
        ),
        (
            "unknown factor key",
            "[[factors]]\nname = \"reg\"\nlevel = []\n".into(),
            vec!["unknown key factors[0].level", "did you mean `levels`"],
        ),
        (
            "bad design",
            format!("design = \"ablaton\"\n{}", level("")),
            vec!["design = \"ablaton\"", "did you mean `ablation`"],
        ),
    ];
    for (case, factors, want) in cases {
        let (top, factors) = match factors.split_once("\n[[factors]]") {
            Some((top, rest)) if !top.is_empty() => (top.to_string(), format!("[[factors]]{rest}")),
            _ => (String::new(), factors),
        };
        let e = parse_err(&text(&top, &factors));
        for w in want {
            assert!(e.contains(w), "{case}: {w:?} not in {e}");
        }
        assert!(e.contains("study.toml"), "{case}: names the file: {e}");
    }
    // A factorial design past the arm limit is refused before anything is expanded.
    let many: String = (0..13)
        .map(|i| {
            format!(
                "[[factors]]\nname = \"f{i}\"\nlevels = [{{ name = \"a\" }}, {{ name = \"b\" }}]\n"
            )
        })
        .collect();
    let e = parse_err(&text("", &many));
    assert!(
        e.contains("2 optimizers x 8192 level combinations is more than 4096 arms"),
        "{e}"
    );
    // Weight decay, batch size and early stopping are factors too.
    let s = parse(&text(
        "",
        &level("\"optimizer.weight_decay=0.01\", \"data.batch_size=16\", \"train.early_stopping.patience=2\""),
    ));
    assert_eq!(s.optimizers.len(), 4);
    let r = &s.initial_runs().unwrap()[3];
    let cfg: toml::Table = r.config.parse().unwrap();
    assert_eq!(cfg["optimizer"]["weight_decay"].as_float(), Some(0.01));
    assert_eq!(cfg["data"]["batch_size"].as_integer(), Some(16));
    assert_eq!(
        cfg["train"]["early_stopping"]["patience"].as_integer(),
        Some(2)
    );
}

fn done(spec: &lab::RunSpec, test_acc: f64, findings: &[&str]) -> lab::RunRecord {
    let e = train::EpochRecord {
        epoch: 1,
        step: 10,
        train_loss: Some(0.3),
        train_accuracy: Some(0.9),
        val_loss: Some(0.4),
        val_accuracy: Some(test_acc),
        test_loss: Some(1.0 - test_acc),
        test_accuracy: Some(test_acc),
        lr: 0.1,
        time_s: 1.0,
        examples_per_s: 100.0,
    };
    lab::RunRecord {
        spec: spec.clone(),
        state: lab::RunState::Done,
        worker: Some("test".into()),
        error: None,
        result: Some(lab::RunResult {
            stop: "completed".into(),
            diverged: false,
            steps: 10,
            epochs: 1,
            wall_s: 1.0,
            step_losses: Vec::new(),
            epochs_log: vec![e],
            findings: findings
                .iter()
                .map(|k| lab::FindingRow {
                    kind: k.to_string(),
                    first_step: 1,
                    last_step: 2,
                    confidence: 0.9,
                    summary: String::new(),
                })
                .collect(),
        }),
    }
}

/// A 2 × 2 factorial with 3 seeds per cell, worked by hand.
///
/// Test accuracy per cell (seeds 0, 1, 2):
///   a0 b0: 0.80 0.82 0.84 (mean 0.82)    a0 b1: 0.70 0.72 0.74 (mean 0.72)
///   a1 b0: 0.90 0.92 0.94 (mean 0.92)    a1 b1: 0.60 0.62 0.64 (mean 0.62)
/// Factor A, level a1 against a0: pairs (a1b0 − a0b0) = +0.10 and (a1b1 − a0b1) = −0.10, so
/// the effect is 0 (pooled means 0.77 and 0.77): within noise.
/// Factor B, level b1 against b0: pairs −0.10 and −0.30, effect −0.20. Pooled b0 = {0.80,
/// 0.82, 0.84, 0.90, 0.92, 0.94}, mean 0.87, deviations ±0.03, ±0.05, ±0.07, SS = 0.0166,
/// variance 0.00332; b1 the same spread around 0.67. Welch t = 0.20 / √(2 · 0.00332 / 6) =
/// 6.0120 in favour of b0, so b1's t is −6.01: clear.
/// Interaction (balanced): grand mean 0.77, row means 0.77 and 0.77, column means 0.87 and
/// 0.67; interaction residuals cell − row − column + grand = ∓0.05 in every cell, so
/// SS_AB = 3 · 4 · 0.05² = 0.03 on (2 − 1)(2 − 1) = 1 df. Within cells each has deviations
/// −0.02, 0, 0.02: SS_within = 4 · 0.0008 = 0.0032 on 12 − 4 = 8 df, MS 0.0004.
/// F = 0.03 / 0.0004 = 75, p = P(F(1, 8) > 75) = P(|t₈| > √75) = 2.4568e-5 (numerical
/// integration of the t density in Python).
/// The doctor fired `vanishing_gradients` in every b0 seed and no b1 seed.
#[test]
fn two_factor_analysis_by_hand() {
    let factors = r#"
[[factors]]
name = "A"
levels = [{ name = "a0" }, { name = "a1", set = ["model.dropout=0.1"] }]
[[factors]]
name = "B"
levels = [{ name = "b0" }, { name = "b1", set = ["model.normalization=batchnorm"], claim = "b1 helps" }]
"#;
    // The defaults protocol: every arm at seeds 0, 1, 2, all of them finals.
    let text = format!(
        "name = \"f\"\nseeds = [0, 1, 2]\n{PROBLEM}\n[[optimizers]]\nname = \"sgd\"\nlr = 0.1\n{factors}"
    );
    let s = parse(&text);
    let cell = |label: &str| -> [f64; 3] {
        match label {
            "sgd+A=a0+B=b0" => [0.80, 0.82, 0.84],
            "sgd+A=a0+B=b1" => [0.70, 0.72, 0.74],
            "sgd+A=a1+B=b0" => [0.90, 0.92, 0.94],
            "sgd+A=a1+B=b1" => [0.60, 0.62, 0.64],
            other => panic!("unexpected arm {other}"),
        }
    };
    let runs: Vec<lab::RunRecord> = s
        .initial_runs()
        .unwrap()
        .iter()
        .map(|r| {
            let acc = cell(&r.optimizer)[r.seed as usize];
            let f: &[&str] = if r.optimizer.ends_with("b0") {
                &["vanishing_gradients"]
            } else {
                &[]
            };
            done(r, acc, f)
        })
        .collect();
    assert_eq!(runs.len(), 12);
    let a = lab::analyze(&s, &runs);
    assert_eq!(a.factors.len(), 2);
    let close = |x: f64, y: f64| (x - y).abs() < 1e-9;

    let fa = &a.factors[0];
    assert_eq!((fa.factor.as_str(), fa.reference.as_str()), ("A", "a0"));
    assert_eq!(fa.levels[0].confidence, "reference");
    let a1 = &fa.levels[1];
    assert!(close(a1.effect.unwrap(), 0.0), "{a1:?}");
    assert!(close(a1.metric.unwrap().mean, 0.77));
    assert!(close(a1.metric.unwrap().std, (0.1366f64 / 5.0).sqrt()));
    assert_eq!(a1.confidence, "within noise");

    let fb = &a.factors[1];
    let b0 = &fb.levels[0];
    let b1 = &fb.levels[1];
    assert!(close(b0.metric.unwrap().mean, 0.87));
    assert!(close(b1.effect.unwrap(), -0.20), "{b1:?}");
    assert!((b1.t.unwrap() + 6.0120).abs() < 1e-4, "{:?}", b1.t);
    assert_eq!(b1.confidence, "clear");
    assert_eq!(b0.findings.get("vanishing_gradients"), Some(&6));
    assert_eq!(b1.findings.get("vanishing_gradients"), None);
    assert_eq!((b0.seeds, b1.seeds), (6, 6));
    // Each level's curve pools the same final seeds: one epoch, mean 0.87 (min 0.80, max 0.94)
    // for b0 and 0.67 (0.60–0.74) for b1.
    for (e, mean, lo, hi) in [(b0, 0.87, 0.80, 0.94), (b1, 0.67, 0.60, 0.74)] {
        assert_eq!(e.curve.x, vec![1.0]);
        assert!(close(e.curve.mean[0], mean), "{:?}", e.curve);
        assert!(close(e.curve.min[0], lo) && close(e.curve.max[0], hi));
        assert!(close(e.curve.std[0], e.metric.unwrap().std));
    }
    // Every seed reached the target 0.5 at its only epoch (step 10).
    assert_eq!(b1.reached_target, 6);
    assert!(close(b1.steps_to_target.unwrap().mean, 10.0));
    assert_eq!(
        fb.verdicts[0],
        "On p with sgd, B=b1 lowers final test accuracy by 20.0 points vs b0 (67.0 ± 5.8% over \
         6 seeds vs 87.0 ± 5.8% over 6 seeds); clear, t = -6.0. The doctor's \
         `vanishing_gradients`: 0 of 6 seeds vs 6 of 6 (removed). Claim \"b1 helps\": \
         contradicted."
    );

    assert_eq!(a.interactions.len(), 1);
    let i = &a.interactions[0];
    assert_eq!(i.factors, ("A".to_string(), "B".to_string()));
    assert!(close(i.cells[1][0].unwrap().mean, 0.92));
    let (f, d1, d2, p) = i.test.unwrap();
    assert!((f - 75.0).abs() < 1e-6, "F = {f}");
    assert_eq!((d1, d2), (1, 8));
    assert!((p - 2.4568e-5).abs() < 1e-8, "p = {p}");
    assert_eq!(i.label, "interact");
    assert!(
        i.text
            .contains("the effect of A depends on B (interaction F(1, 8) = 75.00, p = 0.000025)"),
        "{}",
        i.text
    );

    // Two seeds per cell: the interaction says "not enough seeds" (an effect still pools 4
    // runs a side: 2 arms × 2 seeds).
    let two: Vec<lab::RunRecord> = runs.iter().filter(|r| r.spec.seed < 2).cloned().collect();
    let a = lab::analyze(&s, &two);
    assert_eq!(a.interactions[0].label, "not enough seeds");
    assert!(a.interactions[0]
        .text
        .contains("the smallest cell has 2 seeds"));
    assert_eq!(a.factors[1].levels[1].confidence, "clear");
    // One seed: 2 runs a side, not enough for any effect.
    let one: Vec<lab::RunRecord> = runs.iter().filter(|r| r.spec.seed == 0).cloned().collect();
    let a = lab::analyze(&s, &one);
    assert_eq!(a.factors[1].levels[1].confidence, "not enough seeds");
    assert_eq!(
        a.factors[1].levels[1].claim_verdict.as_deref(),
        Some("not enough seeds")
    );
    assert_eq!(a.interactions[0].label, "not enough seeds");
}

#[test]
fn f_distribution_tail_matches_tables() {
    use lab::analysis::f_survival;
    // Critical values at 5% (Fisher's tables): F(1, 8) = 5.3177, F(1, 4) = 7.7086,
    // F(2, 10) = 4.1028, F(3, 20) = 3.0984.
    for (f, d1, d2) in [
        (5.3177, 1.0, 8.0),
        (7.7086, 1.0, 4.0),
        (4.1028, 2.0, 10.0),
        (3.0984, 3.0, 20.0),
    ] {
        let p = f_survival(f, d1, d2);
        assert!((p - 0.05).abs() < 5e-5, "F({d1}, {d2}) = {f}: p = {p}");
    }
    assert_eq!(f_survival(0.0, 1.0, 8.0), 1.0);
    // Unbalanced cells run through the same least-squares test: with equal cell means
    // across one factor there is no interaction at all.
    let cells = vec![
        vec![vec![1.0, 2.0, 3.0], vec![2.0, 3.0]],
        vec![vec![2.0, 3.0, 4.0, 3.0], vec![3.0, 4.0, 3.5, 3.5]],
    ];
    let (f, d1, d2, _) = lab::analysis::interaction_f(&cells).unwrap();
    assert_eq!((d1, d2), (1, 9));
    assert!(f.is_finite() && f >= 0.0);
    assert!(lab::analysis::interaction_f(&[vec![vec![1.0], vec![2.0]]]).is_none());
}

/// The example factor studies read and validate (they run in seconds: see their headers).
#[test]
fn example_studies_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/studies");
    for (file, arms) in [("init_norm.toml", 4), ("regularisation.toml", 5)] {
        let s = Study::from_file(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(s.optimizers.len(), arms, "{file}");
        assert!(!s.factors.is_empty(), "{file}");
    }
}

/// The bundled remedies studies read, validate and carry a claim on every non-reference level.
#[test]
fn remedies_studies_are_valid_and_claim_something() {
    let studies = Study::remedies();
    assert_eq!(studies.len(), lab::study::REMEDIES.len());
    let mut claims = 0;
    for s in &studies {
        assert!(!s.factors.is_empty(), "{}", s.name);
        for f in &s.factors {
            assert!(f.levels[0].claim.is_none());
            for l in &f.levels[1..] {
                assert!(l.claim.is_some(), "{} {}={}", s.name, f.name, l.name);
                claims += 1;
            }
        }
        assert_eq!(Study::bundled(&s.name).unwrap(), *s);
    }
    assert_eq!(claims, 3 + 4 + 1 + 2);
    assert!(Study::bundled("nope").is_none());
}

/// A reference whose final seeds all diverged has no metric; the level that finished every
/// seed is then clearly better (the claim is supported), and the sentence says why.
#[test]
fn a_reference_that_always_diverges_loses_clearly() {
    let factors = r#"
[[factors]]
name = "clip"
levels = [{ name = "none" }, { name = "on", set = ["clip.max_norm=1.0"], claim = "clipping rescues it" }]
"#;
    let text = format!(
        "name = \"c\"\nseeds = [0, 1, 2]\n{PROBLEM}\n[[optimizers]]\nname = \"sgd\"\nlr = 3.0\n{factors}"
    );
    let s = parse(&text);
    let runs: Vec<lab::RunRecord> = s
        .initial_runs()
        .unwrap()
        .iter()
        .map(|r| {
            let mut rec = done(r, 0.9 + 0.01 * r.seed as f64, &[]);
            if r.optimizer.ends_with("none") {
                let res = rec.result.as_mut().unwrap();
                res.diverged = true;
                res.stop = "diverged".into();
                res.epochs_log.clear();
            }
            rec
        })
        .collect();
    let a = lab::analyze(&s, &runs);
    let on = &a.factors[0].levels[1];
    assert!(a.factors[0].levels[0].metric.is_none());
    assert_eq!(a.factors[0].levels[0].seeds_diverged, 3);
    assert_eq!((on.confidence.as_str(), on.effect), ("clear", None));
    assert_eq!(on.claim_verdict.as_deref(), Some("supported"));
    assert!(
        a.factors[0].verdicts[0].contains("Final seeds diverged: 0 of 3 (vs 3 of 3)"),
        "{}",
        a.factors[0].verdicts[0]
    );
}
