//! Study files: parsing and validation, the run sequence (defaults, grids, random samples),
//! run keys, the choice of the best trial, and the messages of malformed files.

use std::collections::BTreeMap;
use std::path::Path;

use lab::study::{round_sig4, run_key, Protocol, Space};
use lab::{Phase, RunRecord, RunResult, RunSpec, RunState, Study};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A tiny synthetic problem (no files) with a validation set.
fn problem(name: &str) -> String {
    format!(
        r#"
[[problems]]
name = "{name}"
[problems.data]
dataset = "moons"
n = 64
n_test = 32
batch_size = 32
validation_split = 0.25
[[problems.model.layers]]
type = "linear"
out_features = 2
[problems.train]
epochs = 1
"#
    )
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

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn default_study_parses_and_validates() {
    let s = Study::default_study();
    assert_eq!(s.name, "default");
    assert_eq!(s.source, "<default study>");
    assert_eq!(s.seeds, vec![0, 1, 2, 3, 4, 5]);
    let problems: Vec<&str> = s.problems.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(problems, ["mnist1d_mlp", "digits_mlp", "mnist10k_mlp"]);
    let datasets: Vec<&str> = s
        .problems
        .iter()
        .map(|p| p.config["data"]["dataset"].as_str().unwrap())
        .collect();
    assert_eq!(datasets, ["mnist1d", "digits", "mnist-10k"]);
    for p in &s.problems {
        assert_eq!(p.target_metric, "test_accuracy");
        assert!(p.target.is_some(), "{}", p.name);
    }
    let labels: Vec<&str> = s.optimizers.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(
        labels,
        ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "nadam", "lion"]
    );
    for o in &s.optimizers {
        assert!(
            matches!(o.space[0], (ref k, Space::LogUniform(lo, hi)) if k == "lr" && lo > 0.0 && hi / lo >= 100.0),
            "{}: {:?}",
            o.label,
            o.space
        );
    }
    let adamw = s.optimizer("adamw").unwrap();
    assert!(adamw.space.iter().any(|(k, _)| k == "weight_decay"));
    assert_eq!(s.tuning.protocol, Protocol::Budget { trials: 10 });
    assert_eq!(s.tuning.metric, "val_accuracy");
    assert!(s.tuning.higher_is_better);

    let runs = s.initial_runs().unwrap();
    assert_eq!(runs.len(), 3 * 9 * 10);
    for r in &runs {
        assert_eq!((r.phase, r.seed), (Phase::Tune, 0));
        let table: toml::Table = r.config.parse().unwrap();
        let cfg = train::RunConfig::from_table("spec", table, Path::new("/nonexistent"), "x")
            .unwrap_or_else(|e| panic!("{}: {e}", r.key));
        let o = s.optimizer(&r.optimizer).unwrap();
        assert_eq!(cfg.optimizer["name"].as_str(), Some(o.name.as_str()));
        assert_eq!(cfg.seed, 0);
        assert_eq!(
            cfg.optimizer["lr"].as_float(),
            r.params["lr"].as_f64(),
            "{}",
            r.key
        );
    }
    // The bundled text round-trips through the same reader.
    assert_eq!(s.text, lab::study::DEFAULT_STUDY);
}

#[test]
fn initial_runs_are_deterministic_and_unique() {
    let text = format!(
        "name = \"d\"\nseeds = [3, 4]\n[tuning]\ntrials = 5\n{}{}\n{}",
        problem("a"),
        problem("b"),
        r#"
[[optimizers]]
name = "adam"
lr = { log_uniform = [1e-4, 1e-1] }
betas = { grid = [[0.9, 0.999], [0.8, 0.99]] }
[[optimizers]]
label = "mom"
name = "sgd"
lr = { uniform = [0.01, 0.5] }
momentum = 0.9
"#
    );
    let a = parse(&text).initial_runs().unwrap();
    let b = parse(&text).initial_runs().unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 2 * 2 * 5);
    let mut keys: Vec<&str> = a.iter().map(|r| r.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), a.len());
    for r in &a {
        assert_eq!(r.key.len(), 16);
        assert!(r.key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(r.seed, 3, "trials run at the first seed");
        assert_eq!(r.key, run_key(&r.problem, &r.optimizer, &r.params, r.seed));
    }
    // Trials in order: problem-major, then optimizer, then trial index.
    let order: Vec<(&str, &str, u32)> = a
        .iter()
        .map(|r| (r.problem.as_str(), r.optimizer.as_str(), r.trial))
        .collect();
    assert_eq!(order[0], ("a", "adam", 0));
    assert_eq!(order[4], ("a", "adam", 4));
    assert_eq!(order[5], ("a", "mom", 0));
    assert_eq!(order[10], ("b", "adam", 0));
}

#[test]
fn defaults_protocol_uses_default_settings_at_every_seed() {
    let text = format!(
        "name = \"d\"\nseeds = [0, 1, 2]\n{}\n{}",
        problem("p"),
        r#"
[[optimizers]]
name = "adamw"
lr = { log_uniform = [1e-4, 1e-2] }
weight_decay = { uniform = [0.0, 0.1] }
betas = { grid = [[0.8, 0.99], [0.9, 0.999]] }
eps = 1e-7
"#
    );
    let s = parse(&text);
    assert_eq!(s.tuning.protocol, Protocol::Defaults);
    let runs = s.initial_runs().unwrap();
    assert_eq!(runs.len(), 3);
    for (r, seed) in runs.iter().zip([0, 1, 2]) {
        assert_eq!((r.phase, r.trial, r.seed), (Phase::Defaults, 0, seed));
        assert_eq!(num(&r.params["lr"]), 1e-3, "geometric middle");
        assert_eq!(num(&r.params["weight_decay"]), 0.05, "middle");
        assert_eq!(r.params["betas"], json!([0.8, 0.99]), "first grid value");
        assert_eq!(num(&r.params["eps"]), 1e-7, "fixed");
        let cfg: toml::Table = r.config.parse().unwrap();
        assert_eq!(cfg["seed"].as_integer(), Some(seed as i64));
        assert_eq!(cfg["optimizer"]["weight_decay"].as_float(), Some(0.05));
    }
    assert!(s.next_runs(&[]).unwrap().is_empty());
}

#[test]
fn grids_walk_the_cartesian_product_in_order() {
    // (space, trials, expected (betas, eps) sequence by index)
    let only_grids = r#"
[[optimizers]]
name = "adam"
lr = 0.01
betas = { grid = [[0.9, 0.999], [0.8, 0.99]] }
eps = { grid = [1e-8, 1e-6] }
"#;
    let s = parse(&format!(
        "name = \"g\"\n[tuning]\ntrials = 6\n{}{only_grids}",
        problem("p")
    ));
    let runs = s.initial_runs().unwrap();
    // Only the 4 distinct settings although 6 trials were allowed.
    let got: Vec<(serde_json::Value, f64)> = runs
        .iter()
        .map(|r| (r.params["betas"].clone(), num(&r.params["eps"])))
        .collect();
    let want = vec![
        (json!([0.9, 0.999]), 1e-8),
        (json!([0.9, 0.999]), 1e-6),
        (json!([0.8, 0.99]), 1e-8),
        (json!([0.8, 0.99]), 1e-6),
    ];
    assert_eq!(got, want);
    assert_eq!(
        runs.iter().map(|r| r.trial).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );

    // Truncated to k.
    let s = parse(&format!(
        "name = \"g\"\n[tuning]\ntrials = 3\n{}{only_grids}",
        problem("p")
    ));
    let eps: Vec<f64> = s
        .initial_runs()
        .unwrap()
        .iter()
        .map(|r| num(&r.params["eps"]))
        .collect();
    assert_eq!(eps, [1e-8, 1e-6, 1e-8]);

    // With a sampled range the grid cycles and every trial still differs.
    let s = parse(&format!(
        "name = \"g\"\n[tuning]\ntrials = 5\n{}{}",
        problem("p"),
        r#"
[[optimizers]]
name = "sgd"
lr = { log_uniform = [1e-3, 1.0] }
momentum = { grid = [0.0, 0.5, 0.9] }
"#
    ));
    let runs = s.initial_runs().unwrap();
    let m: Vec<f64> = runs.iter().map(|r| num(&r.params["momentum"])).collect();
    assert_eq!(m, [0.0, 0.5, 0.9, 0.0, 0.5]);
    assert_eq!(runs.len(), 5);
}

#[test]
fn samples_stay_in_bounds_spread_log_uniformly_and_match_across_problems() {
    let body = r#"
[[optimizers]]
name = "adamw"
lr = { log_uniform = [1e-4, 1.0] }
weight_decay = { uniform = [0.0, 0.1] }
"#;
    let text = |seed: u64| {
        format!(
            "name = \"s\"\n[tuning]\ntrials = 400\nsample_seed = {seed}\n{}{}{body}",
            problem("a"),
            problem("b")
        )
    };
    let s = parse(&text(0));
    let runs = s.initial_runs().unwrap();
    assert_eq!(runs.len(), 800);
    let (a, b) = runs.split_at(400);
    let lrs: Vec<f64> = a.iter().map(|r| num(&r.params["lr"])).collect();
    let wds: Vec<f64> = a.iter().map(|r| num(&r.params["weight_decay"])).collect();
    for (&lr, &wd) in lrs.iter().zip(&wds) {
        assert!((1e-4..=1.0).contains(&lr), "{lr}");
        assert!((0.0..=0.1).contains(&wd), "{wd}");
        assert_eq!(round_sig4(lr), lr, "4 significant digits: {lr}");
        assert_eq!(round_sig4(wd), wd, "4 significant digits: {wd}");
        let digits = format!("{lr:e}");
        assert!(digits.split('e').next().unwrap().len() <= 5, "{digits}");
    }
    // 100 expected per decade; binomial std ≈ 8.7, so ±40 is more than 4 σ.
    for d in 0..4 {
        let (lo, hi) = (10f64.powi(-4 + d), 10f64.powi(-3 + d));
        let n = lrs.iter().filter(|&&x| x >= lo && x < hi).count();
        assert!((60..=140).contains(&n), "decade [{lo}, {hi}): {n} of 400");
    }
    // Uniform: mean 0.05, std of the mean 0.1/sqrt(12·400) ≈ 0.0014.
    let mean = wds.iter().sum::<f64>() / wds.len() as f64;
    assert!((mean - 0.05).abs() < 0.007, "{mean}");
    // The same settings on every problem, under different keys.
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.params, y.params);
        assert_eq!(x.trial, y.trial);
        assert_ne!(x.key, y.key);
    }
    // Another sample seed draws other settings; the same seed the same ones.
    let other = parse(&text(1)).initial_runs().unwrap();
    let same_count = other[..400]
        .iter()
        .zip(a)
        .filter(|(x, y)| x.params == y.params)
        .count();
    assert_eq!(same_count, 0);
    assert_eq!(parse(&text(0)).initial_runs().unwrap(), runs);
}

#[test]
fn run_keys_hash_problem_optimizer_params_and_seed() {
    let params = |lr: f64, extra: Option<(&str, serde_json::Value)>| {
        let mut m = BTreeMap::new();
        m.insert("lr".to_string(), json!(lr));
        if let Some((k, v)) = extra {
            m.insert(k.to_string(), v);
        }
        m
    };
    let base = run_key("p", "adam", &params(0.001, None), 0);
    // The documented recipe: sha256 of the canonical JSON, first 16 hex digits.
    let canonical = r#"{"optimizer":"adam","params":{"lr":0.001},"problem":"p","seed":0}"#;
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(base, hex[..16]);
    // Map order does not matter.
    let mut m1 = BTreeMap::new();
    m1.insert("weight_decay".to_string(), json!(0.01));
    m1.insert("lr".to_string(), json!(0.001));
    let mut m2 = BTreeMap::new();
    m2.insert("lr".to_string(), json!(0.001));
    m2.insert("weight_decay".to_string(), json!(0.01));
    assert_eq!(run_key("p", "adam", &m1, 0), run_key("p", "adam", &m2, 0));
    // (what changes, key) — each must differ from the base and from each other.
    let cases = [
        ("problem", run_key("q", "adam", &params(0.001, None), 0)),
        ("optimizer", run_key("p", "adamw", &params(0.001, None), 0)),
        ("lr", run_key("p", "adam", &params(0.002, None), 0)),
        ("seed", run_key("p", "adam", &params(0.001, None), 1)),
        (
            "extra param",
            run_key("p", "adam", &params(0.001, Some(("eps", json!(1e-8)))), 0),
        ),
        (
            "nested value",
            run_key(
                "p",
                "adam",
                &params(0.001, Some(("betas", json!([0.9, 0.99])))),
                0,
            ),
        ),
    ];
    for (what, k) in &cases {
        assert_ne!(*k, base, "{what}");
    }
    for i in 0..cases.len() {
        for j in i + 1..cases.len() {
            assert_ne!(cases[i].1, cases[j].1, "{} vs {}", cases[i].0, cases[j].0);
        }
    }
    assert_eq!(base, run_key("p", "adam", &params(0.001, None), 0));
}

/// A finished run whose last epoch has `val_accuracy` / `val_loss` = `score`.
fn record(spec: &RunSpec, state: RunState, score: f64, diverged: bool) -> RunRecord {
    let epoch = |e: usize, v: f64| train::EpochRecord {
        epoch: e,
        step: 10 * e as u64,
        train_loss: Some(1.0),
        train_accuracy: Some(0.5),
        val_loss: Some(v),
        val_accuracy: Some(v),
        test_loss: Some(1.0),
        test_accuracy: Some(0.5),
        lr: 0.1,
        time_s: e as f64,
        examples_per_s: 1000.0,
    };
    let result = (state == RunState::Done).then(|| RunResult {
        stop: if diverged { "non_finite" } else { "completed" }.into(),
        diverged,
        steps: 20,
        epochs: 2,
        wall_s: 1.0,
        step_losses: vec![(10, 1.0), (20, 0.5)],
        // An earlier epoch with a better value must not count: only the last one does.
        epochs_log: vec![epoch(1, 0.5 + 0.5 * score), epoch(2, score)],
        findings: vec![],
    });
    RunRecord {
        spec: spec.clone(),
        state,
        worker: Some("test".into()),
        error: (state == RunState::Failed).then(|| "boom".into()),
        result,
    }
}

fn tuned_study(mode: &str, trials: u32) -> Study {
    parse(&format!(
        "name = \"t\"\nseeds = [7, 8, 9]\n[tuning]\ntrials = {trials}\nmetric = \"{}\"\n{mode}\n{}{}",
        if mode.contains("min") { "val_loss" } else { "val_accuracy" },
        problem("p"),
        r#"
[[optimizers]]
name = "sgd"
lr = { log_uniform = [1e-3, 1.0] }
"#
    ))
}

#[test]
fn next_runs_rerun_the_best_trial_at_every_seed() {
    // (case, mode, trial outcomes: (state, score, diverged), expected best trial or None)
    type Outcome = (RunState, f64, bool);
    const D: RunState = RunState::Done;
    const F: RunState = RunState::Failed;
    let cases: Vec<(&str, &str, Vec<Outcome>, Option<u32>)> = vec![
        (
            "highest accuracy",
            "",
            vec![
                (D, 0.5, false),
                (D, 0.8, false),
                (D, 0.7, false),
                (D, 0.6, false),
            ],
            Some(1),
        ),
        (
            "tie goes to the earlier trial",
            "",
            vec![
                (D, 0.5, false),
                (D, 0.8, false),
                (D, 0.7, false),
                (D, 0.8, false),
            ],
            Some(1),
        ),
        (
            "diverged trials rank last",
            "",
            vec![
                (D, 0.5, false),
                (D, 0.99, true),
                (D, 0.6, false),
                (D, 0.4, false),
            ],
            Some(2),
        ),
        (
            "failed trials rank last",
            "",
            vec![
                (F, 0.0, false),
                (D, 0.1, false),
                (F, 0.0, false),
                (D, 0.05, false),
            ],
            Some(1),
        ),
        (
            "NaN metric ranks last",
            "",
            vec![
                (D, f64::NAN, false),
                (D, 0.2, false),
                (D, 0.3, false),
                (D, 0.1, false),
            ],
            Some(2),
        ),
        (
            // The rule the analysis reports: diverged trials rank before failed ones.
            "no score: the diverged trial before the failed ones",
            "",
            vec![
                (F, 0.0, false),
                (F, 0.0, false),
                (D, 0.9, true),
                (F, 0.0, false),
            ],
            Some(2),
        ),
        (
            "all failed: the first trial",
            "",
            vec![(F, 0.0, false), (F, 0.0, false), (F, 0.0, false)],
            Some(0),
        ),
        (
            "mode = min picks the lowest loss",
            "mode = \"min\"",
            vec![
                (D, 0.5, false),
                (D, 0.3, false),
                (D, 0.01, true),
                (D, 0.4, false),
            ],
            Some(1),
        ),
        (
            "a pending trial: nothing yet",
            "",
            vec![
                (D, 0.5, false),
                (RunState::Pending, 0.0, false),
                (D, 0.7, false),
                (D, 0.6, false),
            ],
            None,
        ),
        (
            "a running trial: nothing yet",
            "",
            vec![
                (D, 0.5, false),
                (D, 0.8, false),
                (RunState::Running, 0.0, false),
                (D, 0.6, false),
            ],
            None,
        ),
    ];
    for (case, mode, outcomes, want) in cases {
        let s = tuned_study(mode, outcomes.len() as u32);
        let trials = s.initial_runs().unwrap();
        assert_eq!(trials.len(), outcomes.len(), "{case}");
        let records: Vec<RunRecord> = trials
            .iter()
            .zip(&outcomes)
            .map(|(t, &(state, score, div))| record(t, state, score, div))
            .collect();
        let next = s.next_runs(&records).unwrap();
        let chosen = s.best_trial("p", "sgd", &records).unwrap();
        let Some(best) = want else {
            assert!(next.is_empty(), "{case}: {next:?}");
            assert_eq!(chosen, None, "{case}");
            continue;
        };
        assert_eq!(chosen.as_ref(), Some(&trials[best as usize]), "{case}");
        let best = &trials[best as usize];
        // Every seed but the tuning seed (7): the trial at seed 7 was selected on that seed's
        // noise and is no final.
        assert_eq!(next.len(), 2, "{case}");
        for (r, seed) in next.iter().zip([8, 9]) {
            assert_eq!(r.phase, Phase::Final, "{case}");
            assert_eq!(r.trial, best.trial, "{case}");
            assert_eq!(r.seed, seed, "{case}");
            assert_eq!(r.params, best.params, "{case}");
            assert_eq!(r.key, run_key("p", "sgd", &best.params, seed), "{case}");
            let cfg: toml::Table = r.config.parse().unwrap();
            assert_eq!(cfg["seed"].as_integer(), Some(seed as i64), "{case}");
        }
        assert!(next.iter().all(|r| r.key != best.key), "{case}");
        // Idempotent: with the final runs stored as well, the same answer.
        let mut more = records.clone();
        more.extend(next.iter().map(|r| record(r, RunState::Done, 0.1, false)));
        assert_eq!(s.next_runs(&more).unwrap(), next, "{case}");
    }
}

/// The runner re-runs the trial the analysis reports as chosen, also when no trial has a score.
#[test]
fn runner_and_analysis_choose_the_same_trial() {
    type Outcome = (RunState, f64, bool);
    const D: RunState = RunState::Done;
    const F: RunState = RunState::Failed;
    // (case, trial outcomes: (state, score, diverged), the trial both choose)
    let cases: Vec<(&str, Vec<Outcome>, u32)> = vec![
        (
            "every trial diverged",
            vec![
                (D, 0.9, true),
                (D, 0.8, true),
                (D, 0.95, true),
                (D, 0.7, true),
            ],
            0,
        ),
        (
            "failed, then diverged",
            vec![
                (F, 0.0, false),
                (D, 0.9, true),
                (F, 0.0, false),
                (D, 0.8, true),
            ],
            1,
        ),
        (
            "no metric before diverged and failed",
            vec![
                (D, 0.9, true),
                (F, 0.0, false),
                (D, f64::NAN, false),
                (D, 0.8, true),
            ],
            2,
        ),
        (
            "one score beats them all",
            vec![
                (D, 0.9, true),
                (F, 0.0, false),
                (D, 0.1, false),
                (D, f64::NAN, false),
            ],
            2,
        ),
    ];
    for (case, outcomes, want) in cases {
        let s = tuned_study("", outcomes.len() as u32);
        let trials = s.initial_runs().unwrap();
        let mut records: Vec<RunRecord> = trials
            .iter()
            .zip(&outcomes)
            .map(|(t, &(state, score, div))| record(t, state, score, div))
            .collect();
        let chosen = s.best_trial("p", "sgd", &records).unwrap().unwrap();
        assert_eq!(chosen.trial, want, "{case}: runner");
        let next = s.next_runs(&records).unwrap();
        assert!(next.iter().all(|r| r.trial == want), "{case}");
        // The analysis of the trials, and of the trials with the finals run.
        let analysis = lab::analyze(&s, &records);
        assert_eq!(
            analysis.groups[0].chosen_trial,
            Some(want),
            "{case}: analysis"
        );
        records.extend(
            next.iter()
                .filter(|r| r.key != chosen.key)
                .map(|r| record(r, D, 0.5, false)),
        );
        let analysis = lab::analyze(&s, &records);
        let g = &analysis.groups[0];
        assert_eq!(g.chosen_trial, Some(want), "{case}: analysis with finals");
        assert_eq!(g.best_params, chosen.params, "{case}");
        assert_eq!(
            g.seeds, 2,
            "{case}: the chosen setting's runs at every seed but the tuning seed"
        );
        assert!(!g.selection_biased, "{case}");
    }
}

#[test]
fn next_runs_waits_for_every_trial_of_a_group() {
    let s = parse(&format!(
        "name = \"w\"\nseeds = [0, 1]\n[tuning]\ntrials = 3\n{}{}{}",
        problem("a"),
        problem("b"),
        r#"
[[optimizers]]
name = "sgd"
lr = { log_uniform = [1e-3, 1.0] }
"#
    ));
    let trials = s.initial_runs().unwrap();
    assert_eq!(trials.len(), 6);
    assert!(s.next_runs(&[]).unwrap().is_empty());
    // Problem a fully done, problem b missing one trial record.
    let records: Vec<RunRecord> = trials[..5]
        .iter()
        .enumerate()
        .map(|(i, t)| record(t, RunState::Done, i as f64 / 10.0, false))
        .collect();
    let next = s.next_runs(&records).unwrap();
    assert_eq!(next.len(), 1);
    assert!(next.iter().all(|r| r.problem == "a" && r.trial == 2));
    // All done: both groups.
    let mut all = records.clone();
    all.push(record(&trials[5], RunState::Done, 0.0, false));
    let next = s.next_runs(&all).unwrap();
    assert_eq!(next.len(), 2);
    assert_eq!(
        next.iter()
            .map(|r| (r.problem.as_str(), r.trial, r.seed))
            .collect::<Vec<_>>(),
        [("a", 2, 1), ("b", 1, 1)]
    );
}

#[test]
fn searched_schedule_keys_reach_the_run_config() {
    let s = parse(&format!(
        "name = \"sch\"\n[tuning]\ntrials = 2\n{}{}",
        problem("p"),
        r#"
[[optimizers]]
name = "sgd"
lr = 0.1
[optimizers.schedule]
name = "step"
step_size = 1
gamma = { grid = [0.5, 0.9] }
"#
    ));
    let runs = s.initial_runs().unwrap();
    assert_eq!(runs.len(), 2);
    for (r, gamma) in runs.iter().zip([0.5, 0.9]) {
        assert_eq!(num(&r.params["schedule.gamma"]), gamma);
        let table: toml::Table = r.config.parse().unwrap();
        let cfg = train::RunConfig::from_table("spec", table, Path::new("."), "x").unwrap();
        let sc = cfg.schedule.unwrap();
        assert_eq!(sc.table["name"].as_str(), Some("step"));
        assert_eq!(sc.table["gamma"].as_float(), Some(gamma));
        assert!(!cfg.optimizer.contains_key("schedule.gamma"));
    }
}

#[test]
fn config_files_resolve_relative_to_the_study_and_take_overrides() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("configs")).unwrap();
    std::fs::write(
        dir.path().join("configs/run.toml"),
        r#"
seed = 5
[data]
dataset = "moons"
batch_size = 16
validation_split = 0.2
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "adam"
lr = 0.5
[schedule]
name = "exponential"
gamma = 0.9
[train]
epochs = 9
"#,
    )
    .unwrap();
    let study = r#"
name = "f"
[tuning]
trials = 2
[[problems]]
name = "file"
config = "configs/run.toml"
set = ["train.epochs=2", "data.batch_size=8"]
target = { metric = "val_loss", value = 0.3 }
[[optimizers]]
name = "sgd"
lr = { grid = [0.1, 0.2] }
"#;
    let path = dir.path().join("study.toml");
    std::fs::write(&path, study).unwrap();
    let s = Study::from_file(&path).unwrap();
    assert_eq!(s.source, path.display().to_string());
    let p = &s.problems[0];
    assert_eq!(
        (p.target_metric.as_str(), p.target),
        ("val_loss", Some(0.3))
    );
    assert!(!p.config.contains_key("optimizer"));
    let runs = s.initial_runs().unwrap();
    assert_eq!(runs.len(), 2);
    let table: toml::Table = runs[1].config.parse().unwrap();
    let cfg = train::RunConfig::from_table("spec", table, Path::new("/"), "x").unwrap();
    assert_eq!(cfg.train.epochs, Some(2));
    assert_eq!(cfg.data.batch_size, 8);
    assert_eq!(cfg.seed, 0);
    assert_eq!(cfg.optimizer["name"].as_str(), Some("sgd"));
    assert_eq!(cfg.optimizer["lr"].as_float(), Some(0.2));
    // The problem's own schedule is kept when the optimizer has none.
    assert_eq!(
        cfg.schedule.unwrap().table["name"].as_str(),
        Some("exponential")
    );

    // A missing study file names its path.
    let e = Study::from_file(&dir.path().join("nope.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.toml"), "{e}");
}

#[test]
fn malformed_studies_name_file_field_and_value() {
    let p = problem("p");
    let sgd = "\n[[optimizers]]\nname = \"sgd\"\nlr = 0.1\n";
    let head = "name = \"m\"\n";
    // (case, study text, expected substrings)
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("invalid TOML", "name = ".into(), vec!["not valid TOML"]),
        (
            "unknown top-level key",
            format!("{head}bogus = 1\n{p}{sgd}"),
            vec!["unknown key `bogus`", "valid: name, description, seeds"],
        ),
        ("missing name", format!("{p}{sgd}"), vec!["missing `name`"]),
        (
            "bad study name",
            format!("name = \"a b\"\n{p}{sgd}"),
            vec!["name = \"a b\""],
        ),
        (
            "empty seeds",
            format!("{head}seeds = []\n{p}{sgd}"),
            vec!["seeds = []", "at least one"],
        ),
        (
            "negative seed",
            format!("{head}seeds = [0, -1]\n{p}{sgd}"),
            vec!["seeds[1] = -1"],
        ),
        (
            "duplicate seed",
            format!("{head}seeds = [1, 2, 1]\n{p}{sgd}"),
            vec!["seeds[2] = 1", "duplicate"],
        ),
        (
            "zero trials",
            format!("{head}[tuning]\ntrials = 0\n{p}{sgd}"),
            vec!["tuning.trials = 0"],
        ),
        (
            "trials with defaults",
            format!("{head}[tuning]\nprotocol = \"defaults\"\ntrials = 3\n{p}{sgd}"),
            vec!["tuning.trials = 3", "budget"],
        ),
        (
            "unknown protocol",
            format!("{head}[tuning]\nprotocol = \"grid\"\n{p}{sgd}"),
            vec!["tuning.protocol = \"grid\"", "\"budget\" or \"defaults\""],
        ),
        (
            "unknown tuning key",
            format!("{head}[tuning]\ntrails = 3\n{p}{sgd}"),
            vec!["tuning.trails", "valid: protocol, trials, metric"],
        ),
        (
            "unknown metric",
            format!("{head}[tuning]\nmetric = \"val_acc\"\n{p}{sgd}"),
            vec!["tuning.metric = \"val_acc\"", "val_accuracy"],
        ),
        (
            "bad mode",
            format!("{head}[tuning]\nmode = \"up\"\n{p}{sgd}"),
            vec!["tuning.mode = \"up\""],
        ),
        (
            "validation metric without a validation split",
            format!(
                "{head}[tuning]\ntrials = 2\n{}{sgd}",
                p.replace("validation_split = 0.25\n", "")
            ),
            vec!["val_accuracy", "problems[0] (p)", "validation_split"],
        ),
        ("no problems", format!("{head}{sgd}"), vec!["missing [[problems]]"]),
        ("no optimizers", format!("{head}{p}"), vec!["missing [[optimizers]]"]),
        (
            "duplicate problem",
            format!("{head}{p}{p}{sgd}"),
            vec!["problems[1].name = \"p\"", "duplicate"],
        ),
        (
            "unknown problem key",
            format!("{head}{}{sgd}", p.replace("name = \"p\"", "name = \"p\"\nepochs = 3")),
            vec!["problems[0].epochs", "valid: name, config, set, target"],
        ),
        (
            "missing config file",
            format!("{head}[[problems]]\nname = \"f\"\nconfig = \"no/such.toml\"\n{sgd}"),
            vec!["problems[0].config = \"no/such.toml\"", "cannot read"],
        ),
        (
            "config and inline sections",
            format!(
                "{head}{}{sgd}",
                p.replace("name = \"p\"", "name = \"p\"\nconfig = \"x.toml\"")
            ),
            vec!["problems[0] (p)", "not both"],
        ),
        (
            "run config rejects the problem",
            format!("{head}{}{sgd}", p.replace("batch_size = 32", "batch_size = 0")),
            vec!["problems[0] (p)", "batch_size", "= 0"],
        ),
        (
            "unknown dataset",
            format!("{head}{}{sgd}", p.replace("\"moons\"", "\"moonz\"")),
            vec!["problems[0] (p)", "\"moonz\""],
        ),
        (
            "bad override",
            format!(
                "{head}{}{sgd}",
                p.replace("name = \"p\"", "name = \"p\"\nset = [\"nokey\"]")
            ),
            vec!["problems[0].set", "nokey"],
        ),
        (
            "bad target metric",
            format!(
                "{head}{}{sgd}",
                p.replace(
                    "name = \"p\"",
                    "name = \"p\"\ntarget = { metric = \"acc\", value = 0.5 }"
                )
            ),
            vec!["problems[0].target.metric = \"acc\""],
        ),
        (
            "target without value",
            format!(
                "{head}{}{sgd}",
                p.replace("name = \"p\"", "name = \"p\"\ntarget = { metric = \"test_loss\" }")
            ),
            vec!["problems[0].target", "missing `value`"],
        ),
        (
            "unknown optimizer",
            format!("{head}{p}[[optimizers]]\nname = \"adamm\"\nlr = 0.1\n"),
            vec!["optimizers[0].name = \"adamm\"", "valid: sgd"],
        ),
        (
            "unknown hyperparameter",
            format!("{head}{p}{sgd}[[optimizers]]\nname = \"adam\"\nbeta = 0.9\n"),
            vec!["optimizers[1].beta", "valid: label, name, schedule, lr, betas"],
        ),
        (
            "negative fixed lr",
            format!("{head}{p}[[optimizers]]\nname = \"sgd\"\nlr = -0.1\n"),
            vec!["optimizers[0].lr = -0.1", "must be"],
        ),
        (
            "a sampled lr out of the optimizer's range",
            format!(
                "{head}[tuning]\ntrials = 20\n{p}[[optimizers]]\nname = \"sgd\"\nlr = {{ uniform = [-0.5, 1.0] }}\n"
            ),
            vec!["optimizers[0].lr = -0.", "must be", "trial "],
        ),
        (
            "betas out of range",
            format!("{head}{p}[[optimizers]]\nname = \"adam\"\nbetas = [0.9, 1.5]\n"),
            vec!["optimizers[0].betas = [0.9, 1.5]"],
        ),
        (
            "duplicate label",
            format!("{head}{p}{sgd}{sgd}"),
            vec!["optimizers[1].label = \"sgd\"", "duplicate"],
        ),
        (
            "uniform lo >= hi",
            format!("{head}{p}[[optimizers]]\nname = \"sgd\"\nlr = {{ uniform = [1.0, 0.1] }}\n"),
            vec!["optimizers[0].lr.uniform = [1.0, 0.1]", "lo < hi"],
        ),
        (
            "log range from 0",
            format!("{head}{p}[[optimizers]]\nname = \"sgd\"\nlr = {{ log_uniform = [0, 1] }}\n"),
            vec!["optimizers[0].lr.log_uniform = [0, 1]", "lo > 0"],
        ),
        (
            "range not a pair",
            format!("{head}{p}[[optimizers]]\nname = \"sgd\"\nlr = {{ uniform = [0.1] }}\n"),
            vec!["optimizers[0].lr.uniform = [0.1]", "[lo, hi]"],
        ),
        (
            "empty grid",
            format!("{head}{p}[[optimizers]]\nname = \"sgd\"\nlr = {{ grid = [] }}\n"),
            vec!["optimizers[0].lr.grid = []", "non-empty"],
        ),
        (
            "two spaces at once",
            format!(
                "{head}{p}[[optimizers]]\nname = \"sgd\"\nlr = {{ grid = [0.1], uniform = [0, 1] }}\n"
            ),
            vec!["optimizers[0].lr = {", "exactly one"],
        ),
        (
            "unknown schedule",
            format!("{head}{p}{sgd}[optimizers.schedule]\nname = \"cosinus\"\n"),
            vec!["optimizers[0] (sgd)", "cosinus"],
        ),
        (
            "schedule not a table",
            format!("{head}{p}[[optimizers]]\nname = \"sgd\"\nlr = 0.1\nschedule = \"cosine\"\n"),
            vec!["optimizers[0].schedule = \"cosine\""],
        ),
    ];
    let mut failures = Vec::new();
    for (case, text, want) in &cases {
        let e = match Study::from_text(text, "study.toml", Path::new(".")) {
            Ok(_) => {
                failures.push(format!("{case}: parsed"));
                continue;
            }
            Err(e) => e.to_string(),
        };
        if !e.starts_with("study.toml: ") {
            failures.push(format!("{case}: no file in {e:?}"));
        }
        for w in want {
            if !e.contains(w) {
                failures.push(format!("{case}: {w:?} not in {e:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if std::env::var_os("SHOW_STUDY_ERRORS").is_some() {
        for (case, text, _) in &cases {
            if let Err(e) = Study::from_text(text, "study.toml", Path::new(".")) {
                println!("{case}: {e}");
            }
        }
    }
    // The helper agrees.
    assert!(parse_err("name = ").contains("study.toml"));
}

#[test]
fn the_module_doc_example_is_a_valid_study() {
    let src = include_str!("../src/study/mod.rs");
    let mut text = String::new();
    let mut inside = false;
    for line in src.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        match (inside, doc.trim()) {
            (false, "```toml") => inside = true,
            (true, "```") => break,
            (true, _) => {
                text.push_str(doc);
                text.push('\n');
            }
            _ => {}
        }
    }
    assert!(text.contains("[[optimizers]]"), "{text}");
    // Its config path is relative to a study file in lab/.
    let s = Study::from_text(&text, "doc.toml", Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "my-study");
    assert_eq!(s.problems.len(), 2);
    assert_eq!(s.optimizers[1].label, "adamw");
    let mnist1d = &s.problems[0];
    assert_eq!(mnist1d.config["train"]["epochs"].as_integer(), Some(15));
    assert_eq!(mnist1d.target, Some(0.55));
    assert_eq!(s.initial_runs().unwrap().len(), 2 * 2 * 6);
}

#[test]
fn dataset_paths_become_absolute_and_names_stay_names() {
    let dir = tempfile::tempdir().unwrap();
    // A folder named like a dataset must not turn the name into a path.
    std::fs::create_dir(dir.path().join("moons")).unwrap();
    let abs = |p: &str| {
        std::path::absolute(dir.path().join(p))
            .unwrap()
            .display()
            .to_string()
    };
    // (dataset as written, expected in the run config)
    let cases = [
        ("moons", "moons".to_string()),
        ("data/train.npz", abs("data/train.npz")),
        ("train.csv", abs("train.csv")),
    ];
    for (dataset, want) in cases {
        let study = format!(
            r#"
name = "a"
[[problems]]
name = "p"
[problems.data]
dataset = {dataset:?}
[[problems.model.layers]]
type = "linear"
out_features = 2
[problems.train]
epochs = 1
[[optimizers]]
name = "sgd"
lr = 0.1
"#
        );
        let path = dir.path().join("study.toml");
        std::fs::write(&path, study).unwrap();
        let s = Study::from_file(&path).unwrap_or_else(|e| panic!("{dataset}: {e}"));
        let got = s.problems[0].config["data"]["dataset"].as_str();
        assert_eq!(got, Some(want.as_str()), "{dataset}");
        let run: toml::Table = s.initial_runs().unwrap()[0].config.parse().unwrap();
        assert_eq!(run["data"]["dataset"].as_str(), Some(want.as_str()));
    }
}

/// Star discrepancy of points in [0, 1]² (largest |fraction in [0, a) × [0, b) − a·b| over
/// the corners the points and 1 make, counting boxes closed and open).
fn star_discrepancy(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as f64;
    let xs: Vec<f64> = pts.iter().map(|p| p.0).chain([1.0]).collect();
    let ys: Vec<f64> = pts.iter().map(|p| p.1).chain([1.0]).collect();
    let mut d: f64 = 0.0;
    for &a in &xs {
        for &b in &ys {
            let open = pts.iter().filter(|p| p.0 < a && p.1 < b).count() as f64 / n;
            let closed = pts.iter().filter(|p| p.0 <= a && p.1 <= b).count() as f64 / n;
            d = d.max((a * b - open).abs()).max((closed - a * b).abs());
        }
    }
    d
}

fn search_study(search: &str, trials: u32, sample_seed: u64) -> Study {
    parse(&format!(
        "name = \"q\"\nseeds = [0, 1]\n[tuning]\ntrials = {trials}\nsample_seed = {sample_seed}\n\
         search = \"{search}\"\n{}{}",
        problem("p"),
        r#"
[[optimizers]]
name = "sgd"
lr = { log_uniform = [1e-4, 1.0] }
momentum = { uniform = [0.0, 0.99] }
nesterov = { grid = [false, true] }
"#
    ))
}

/// The (lr, momentum) settings of the study's trials, mapped to the unit square.
fn unit_points(s: &Study) -> Vec<(f64, f64)> {
    s.initial_runs()
        .unwrap()
        .iter()
        .map(|r| {
            let lr = num(&r.params["lr"]);
            let m = num(&r.params["momentum"]);
            assert!((1e-4..=1.0).contains(&lr), "lr {lr} out of its range");
            assert!((0.0..=0.99).contains(&m), "momentum {m} out of its range");
            ((lr / 1e-4).log10() / 4.0, m / 0.99)
        })
        .collect()
}

#[test]
fn halton_search_is_deterministic_even_log_scaled_and_resumable() {
    let s = search_study("halton", 16, 0);
    let runs = s.initial_runs().unwrap();
    assert_eq!(runs.len(), 16);
    // Deterministic: the same study text gives the same settings and run keys.
    assert_eq!(search_study("halton", 16, 0).initial_runs().unwrap(), runs);
    // Point i of the lr axis is the base-2 radical inverse of i (1, 2, ...), on a log scale:
    // lr = 1e-4 · 10^(4u), rounded to 4 significant digits; momentum uses base 3.
    for (t, r) in runs.iter().enumerate() {
        let i = t as u64 + 1;
        let u = lab::study::halton::radical_inverse(i, 2);
        let v = lab::study::halton::radical_inverse(i, 3);
        assert_eq!(num(&r.params["lr"]), round_sig4(1e-4 * 10f64.powf(4.0 * u)));
        assert_eq!(num(&r.params["momentum"]), round_sig4(0.99 * v));
        // The grid still walks its values in order beside the sampled ranges.
        assert_eq!(r.params["nesterov"], json!(t % 2 == 1), "trial {t}");
    }
    // 8 consecutive points put one log-lr in each eighth of the range (n = 2³ stratifies).
    let mut eighths: Vec<usize> = unit_points(&s)[..8]
        .iter()
        // (Points fall on the eighths' left edges; 4-digit rounding may move them by ~1e-5.)
        .map(|p| ((p.0 * 8.0 + 1e-3).floor() as usize).min(7))
        .collect();
    eighths.sort_unstable();
    assert_eq!(eighths, (0..8).collect::<Vec<_>>());
    // Low discrepancy: 16 Halton points fill the square more evenly than 16 random draws of
    // the same space. The star discrepancy of Halton points 1..=16 (bases 2, 3) is 0.17361,
    // computed independently in Python on the exact points; the 4-digit rounding moves it
    // little.
    let halton = star_discrepancy(&unit_points(&s));
    let random = star_discrepancy(&unit_points(&search_study("random", 16, 0)));
    eprintln!("star discrepancy: halton {halton:.4}, random {random:.4}");
    assert!(
        (halton - 0.17361).abs() < 1e-3,
        "halton discrepancy {halton}"
    );
    assert!(halton < random, "halton {halton} vs random {random}");
    // sample_seed moves along the sequence: seed 3 starts at point 4.
    let shifted = search_study("halton", 4, 3).initial_runs().unwrap();
    assert_eq!(shifted[0].params["lr"], runs[3].params["lr"]);
    // The keys hash the settings: a resumed study finds the same runs.
    for r in &runs {
        assert_eq!(r.key, run_key("p", "sgd", &r.params, 0));
    }
}

#[test]
fn search_key_is_checked() {
    let p = problem("p");
    let e = parse_err(&format!(
        "name = \"q\"\n[tuning]\nsearch = \"haltn\"\n{p}[[optimizers]]\nname = \"sgd\"\nlr = 0.1\n"
    ));
    assert!(e.contains("tuning.search = \"haltn\""), "{e}");
    assert!(e.contains("did you mean `halton`"), "{e}");
    let e = parse_err(&format!(
        "name = \"q\"\n[tuning]\nprotocol = \"defaults\"\nsearch = \"halton\"\n{p}\
         [[optimizers]]\nname = \"sgd\"\nlr = 0.1\n"
    ));
    assert!(e.contains("only protocol = \"budget\""), "{e}");
    // A study without `search` keeps its stored definition (resume of older stores).
    let s = parse(&format!(
        "name = \"q\"\n{p}[[optimizers]]\nname = \"sgd\"\nlr = 0.1\n"
    ));
    assert!(!s.definition().contains("search"), "{}", s.definition());
}
