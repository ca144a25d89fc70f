//! Factor studies: reading and validating factors, expanding them into arms (full factorial,
//! one-at-a-time ablation), and the overrides reaching every run's config.

use std::path::Path;

use lab::study::Design;
use lab::Study;

/// A tiny synthetic problem with one hidden layer (so model edits have a layer to act on).
const PROBLEM: &str = r#"
[[problems]]
name = "p"
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
