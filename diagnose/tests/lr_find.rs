//! The range test on a quadratic, where the answer is known in closed form, and on a real
//! (tiny) training run through the trainer.

use diagnose::lr_find::{self, suggest, sweep, End, Plan, Settings, Verdict};

/// Gradient descent on `f(θ) = ½ λ ‖θ‖²` takes `θ ← (1 − lr·λ) θ`, so each step multiplies the
/// loss by `(1 − lr·λ)²`: the loss falls fastest (per step, in log) at `lr = 1/λ` — the optimal
/// learning rate, one step to the minimum — and grows from `lr = 2/λ` on. The sweep must stop
/// after `2/λ` and suggest `≈ 1/λ`.
#[test]
fn quadratic_sweep_finds_the_optimal_lr() {
    for lambda in [2.0f64, 40.0, 3000.0] {
        let plan = Plan::default();
        let mut theta = [1.0f64; 4];
        let rec = sweep::run(&plan, |lr| {
            theta.iter_mut().for_each(|t| *t *= 1.0 - lr * lambda);
            Ok(0.5 * lambda * theta.iter().map(|t| t * t).sum::<f64>())
        })
        .unwrap();
        // The raw loss falls exactly while lr < 2/λ.
        let m = (0..rec.losses.len())
            .min_by(|&a, &b| rec.losses[a].total_cmp(&rec.losses[b]))
            .unwrap();
        assert!(rec.lrs[m] < 2.0 / lambda && rec.lrs[m + 1] > 2.0 / lambda);
        match rec.end {
            // The stop rule reads a causal EMA, which still remembers the losses before the collapse at
            // 1/λ: it fires after 2/λ, within a decade of it.
            Some(End::Exploded { lr, .. }) => {
                assert!(lr > 2.0 / lambda && lr < 20.0 / lambda, "λ {lambda}: {lr}")
            }
            ref e => panic!("λ {lambda}: {e:?}"),
        }
        let (call, _) = suggest::call(&rec.lrs, &rec.losses, plan.smooth);
        let lr = call.lr.unwrap_or_else(|| panic!("{call:?}"));
        eprintln!("λ {lambda}: suggestion {lr}, 1/λ = {}", 1.0 / lambda);
        // Within a factor 1.26 of 1/λ, about one of the sweep's steps (×1.2 apart): the step
        // that lands nearest 1/λ makes the deepest drop, and the smoothing spreads it.
        assert!(
            (lr * lambda).log10().abs() < 0.1,
            "λ {lambda}: {lr} vs {}",
            1.0 / lambda
        );
    }
}

/// A few sweep steps of a small MLP on synthetic blobs through the trainer: the recorded lrs
/// follow the plan, every seed gets a curve, the stop rule ends an exploding sweep early, and the
/// run folders are where they should be.
#[test]
fn sweeps_a_real_config_through_the_trainer() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("blobs.toml");
    std::fs::write(
        &cfg_path,
        r#"
seed = 3
[data]
dataset = "blobs"
n = 512
n_test = 128
batch_size = 32
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "relu"
[[model.layers]]
type = "linear"
out_features = 3
[optimizer]
name = "sgd"
lr = 0.1
momentum = 0.9
[schedule]
name = "cosine"
[train]
epochs = 3
threads = 1
[train.early_stopping]
monitor = "test_loss"
"#,
    )
    .unwrap();
    let cfg = train::RunConfig::from_file(&cfg_path, &[]).unwrap();
    let plan = Plan {
        lr_min: 1e-4,
        lr_max: 1e3,
        steps: 40,
        ..Plan::default()
    };
    let out = dir.path().join("out");
    let mut told = Vec::new();
    let r = lr_find::run(
        &cfg,
        &cfg_path,
        &Settings {
            plan: plan.clone(),
            seeds: vec![3, 4],
            curvature: true,
        },
        &out,
        |m| told.push(m.to_string()),
    )
    .unwrap();
    assert_eq!(told.len(), 2);
    assert_eq!(r.peak.key, "optimizer.lr");
    assert_eq!(r.peak.schedule.as_deref(), Some("cosine"));
    for c in &r.curves {
        assert!(out
            .join(format!("seed-{}", c.seed))
            .join("metrics.jsonl")
            .exists());
        for (i, lr) in c.lrs.iter().enumerate() {
            assert!(
                (lr / plan.lr(i) - 1.0).abs() < 1e-6,
                "{lr} vs {}",
                plan.lr(i)
            );
        }
        // lr 1e3 with momentum on a ReLU net explodes well before the end of the plan.
        assert!(c.lrs.len() < plan.steps, "{:?}", c.end);
        assert!(!matches!(c.end, End::Completed));
        assert!(c.lambda_max.is_some_and(|l| l > 0.0));
    }
    let st = r.stability.as_ref().unwrap();
    assert!(st.threshold.is_some() && st.rule.contains("heavy-ball"));
    let text = r.text();
    assert!(text.contains("seed 3") && text.contains("seed 4"), "{text}");
    if let Verdict::Clear { lr, lo, hi } = r.verdict {
        assert!(lo <= lr && lr <= hi);
        assert!(r
            .flag
            .as_deref()
            .unwrap()
            .starts_with("--set optimizer.lr="));
    }
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["curves"].as_array().unwrap().len(), 2);
}

#[test]
fn one_cycle_sweeps_max_lr_and_groups_keep_their_ratio() {
    let raw: toml::Table = r#"
seed = 0
[optimizer]
name = "sgd"
lr = 0.1
[[optimizer.groups]]
params = ["*.bias"]
lr = 0.01
[schedule]
name = "one_cycle"
max_lr = 0.5
[train]
epochs = 4
"#
    .parse()
    .unwrap();
    let plan = Plan::default();
    let p = lr_find::driver::peak(&raw, "c.toml").unwrap();
    assert_eq!((p.key.as_str(), p.value), ("schedule.max_lr", Some(0.5)));
    let t =
        lr_find::driver::sweep_table(&raw, "c.toml", &plan, 7, std::path::Path::new("o")).unwrap();
    assert_eq!(t["seed"].as_integer(), Some(7));
    assert_eq!(t["schedule"]["name"].as_str(), Some("exponential"));
    assert_eq!(t["optimizer"]["lr"].as_float(), Some(1e-7));
    // one_cycle gives every group the same max_lr.
    assert_eq!(t["optimizer"]["groups"][0]["lr"].as_float(), Some(1e-7));
    assert_eq!(t["train"]["steps"].as_integer(), Some(101));
    assert!(t["train"].get("epochs").is_none());
    // Without one_cycle a group keeps its ratio to optimizer.lr.
    let mut raw2 = raw.clone();
    raw2.remove("schedule");
    let t =
        lr_find::driver::sweep_table(&raw2, "c.toml", &plan, 7, std::path::Path::new("o")).unwrap();
    let g = t["optimizer"]["groups"][0]["lr"].as_float().unwrap();
    assert!((g / 1e-8 - 1.0).abs() < 1e-12, "{g}");
    // A list of max_lr per group cannot be swept as one peak.
    let mut raw3 = raw.clone();
    raw3["schedule"]["max_lr"] = toml::Value::Array(vec![0.5.into(), 0.1.into()]);
    let e = lr_find::driver::peak(&raw3, "c.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.toml") && e.contains("max_lr"), "{e}");
}
