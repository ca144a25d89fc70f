//! The driver: parameter groups, global-norm clipping, non-finite skipping, missing gradients and
//! config errors.

use optim::optimizers::sgd::SgdConfig;
use optim::{optimizers, ClipConfig, Clipping, GroupSpec, Optimizer, Param, ParamStore, Params};

fn two_params() -> ParamStore<f64> {
    ParamStore::new(vec![
        Param::new("0.weight", &[2, 2], vec![1.0, 2.0, 3.0, 4.0]),
        Param::new("0.bias", &[2], vec![0.5, -0.5]),
    ])
}

fn sgd(lr: f64, wd: f64) -> optim::Recipe<f64> {
    SgdConfig {
        lr,
        weight_decay: wd,
        ..Default::default()
    }
    .recipe()
    .unwrap()
}

#[test]
fn groups_override_lr_and_weight_decay_by_name_pattern() {
    let mut p = two_params();
    let groups = [GroupSpec {
        patterns: vec!["*.bias".into()],
        lr: Some(0.5),
        weight_decay: Some(0.0),
        momentum: None,
    }];
    let mut opt = Optimizer::with_groups(sgd(0.1, 0.1), &p, &groups).unwrap();
    assert_eq!(opt.group_of(0), 0);
    assert_eq!(opt.group_of(1), 1);
    p.set_grad(0, &[1.0; 4]);
    p.set_grad(1, &[1.0; 2]);
    opt.step(&mut p).unwrap();
    // weight: w − 0.1·(1 + 0.1·w); bias: b − 0.5·1 (no decay)
    let w: Vec<f64> = [1.0, 2.0, 3.0, 4.0]
        .iter()
        .map(|w| w - 0.1 * (1.0 + 0.1 * w))
        .collect();
    assert_eq!(p.params[0].value, w);
    assert_eq!(p.params[1].value, vec![0.0, -1.0]);
    assert_eq!(opt.lrs(), vec![0.1, 0.5]);
}

#[test]
fn group_matching_nothing_is_an_error_naming_it() {
    let p = two_params();
    let groups = [GroupSpec {
        patterns: vec!["*.gamma".into()],
        lr: None,
        weight_decay: Some(0.0),
        momentum: None,
    }];
    let e = Optimizer::with_groups(sgd(0.1, 0.0), &p, &groups)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("*.gamma") && e.contains("matches no parameter"),
        "{e}"
    );
}

#[test]
fn global_norm_clipping_matches_clip_grad_norm() {
    let mut p = two_params();
    let mut opt = Optimizer::new(sgd(1.0, 0.0), &p).unwrap();
    opt.set_clipping(Clipping {
        max_norm: Some(1.0),
        ..Default::default()
    })
    .unwrap();
    p.set_grad(0, &[3.0, 0.0, 0.0, 0.0]);
    p.set_grad(1, &[4.0, 0.0]);
    let r = opt.step(&mut p).unwrap();
    assert_eq!(r.grad_norm, Some(5.0));
    let coef = 1.0 / (5.0 + 1e-6);
    assert_eq!(r.clip_coef, coef);
    assert_eq!(p.params[0].value[0], 1.0 - 3.0 * coef);
    assert_eq!(p.params[1].value[0], 0.5 - 4.0 * coef);
}

#[test]
fn nonfinite_gradients_skip_the_step_and_are_counted() {
    let mut p = two_params();
    let recipe = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..Default::default()
    }
    .recipe()
    .unwrap();
    let mut opt = Optimizer::new(recipe, &p).unwrap();
    opt.set_clipping(Clipping {
        skip_nonfinite: true,
        ..Default::default()
    })
    .unwrap();
    p.set_grad(0, &[1.0; 4]);
    p.set_grad(1, &[1.0; 2]);
    opt.step(&mut p).unwrap();
    let before = p.clone();
    let state_before = opt.state("0.weight").unwrap().to_vec();
    p.set_grad(0, &[1.0, f64::NAN, 1.0, 1.0]);
    let r = opt.step(&mut p).unwrap();
    assert!(r.skipped);
    assert_eq!(opt.skipped_steps(), 1);
    assert_eq!(p.params[0].value, before.params[0].value);
    assert_eq!(opt.state("0.weight").unwrap(), &state_before[..]);
    p.set_grad(0, &[1.0, f64::INFINITY, 1.0, 1.0]);
    assert!(opt.step(&mut p).unwrap().skipped);
    assert_eq!(opt.skipped_steps(), 2);
}

#[test]
fn missing_gradients_leave_parameter_and_state_untouched() {
    let mut p = two_params();
    let mut opt = Optimizer::new(
        optimizers::from_table(
            "t",
            &"name='sgd'\nlr=0.1\nmomentum=0.9".parse().unwrap(),
            &[],
        )
        .unwrap(),
        &p,
    )
    .unwrap();
    p.set_grad(0, &[1.0; 4]);
    opt.step(&mut p).unwrap();
    assert!(
        opt.state("0.bias").is_none(),
        "no state before the first gradient"
    );
    assert_eq!(p.value(1), &[0.5, -0.5]);
}

#[test]
fn config_errors_name_what_is_wrong() {
    let err = |s: &str| {
        optimizers::from_table::<f64>("cfg.toml [optimizer]", &s.parse().unwrap(), &[])
            .err()
            .unwrap()
            .to_string()
    };
    let e = err("name='adamx'");
    assert!(
        e.contains("unknown optimizer `adamx`") && e.contains("adamax"),
        "{e}"
    );
    let e = err("name='sgd'\nlr=0.1\nmomentun=0.9");
    assert!(e.contains("`momentun`") && e.contains("momentum"), "{e}");
    let e = err("name='sgd'\nlr=-1");
    assert!(e.contains("cfg.toml") && e.contains("`lr` = -1"), "{e}");
    let e = err("name='sgd'\nlr=0.1\nnesterov=true");
    assert!(e.contains("nesterov"), "{e}");
    let e = ClipConfig::from_toml("cfg.toml [clip]", &"max_norm=-1".parse().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("max_norm") && e.contains("-1"), "{e}");
    let e = ClipConfig::from_toml("cfg.toml [clip]", &"max_nrm=1".parse().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("max_nrm") && e.contains("max_norm"), "{e}");
}

#[test]
fn f32_and_f64_agree() {
    let run = |lr: f64| {
        let mut p32 = ParamStore::<f32>::single("x", vec![1.0, -2.0, 0.5]);
        let mut p64 = ParamStore::<f64>::single("x", vec![1.0, -2.0, 0.5]);
        let r = |c: &SgdConfig| (c.recipe::<f32>().unwrap(), c.recipe::<f64>().unwrap());
        let (r32, r64) = r(&SgdConfig {
            lr,
            momentum: 0.9,
            nesterov: true,
            ..Default::default()
        });
        let mut o32 = Optimizer::new(r32, &p32).unwrap();
        let mut o64 = Optimizer::new(r64, &p64).unwrap();
        for _ in 0..50 {
            let g64: Vec<f64> = p64.params[0].value.iter().map(|x| 2.0 * x).collect();
            let g32: Vec<f32> = p32.params[0].value.iter().map(|x| 2.0 * x).collect();
            p64.set_grad(0, &g64);
            p32.set_grad(0, &g32);
            o64.step(&mut p64).unwrap();
            o32.step(&mut p32).unwrap();
        }
        for (a, b) in p32.params[0].value.iter().zip(&p64.params[0].value) {
            assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
        }
    };
    run(0.05);
}

#[test]
fn large_tensors_take_the_parallel_path_with_the_same_result() {
    // 300k elements cross the parallel threshold; the result must equal the scalar rule.
    let n = 300_000;
    let init: Vec<f64> = (0..n).map(|i| (i as f64 * 0.001).sin()).collect();
    let mut p = ParamStore::single("big", init.clone());
    let mut opt = Optimizer::new(
        SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            ..Default::default()
        }
        .recipe()
        .unwrap(),
        &p,
    )
    .unwrap();
    let g: Vec<f64> = (0..n).map(|i| (i as f64 * 0.002).cos()).collect();
    for _ in 0..3 {
        p.set_grad(0, &g);
        opt.step(&mut p).unwrap();
    }
    // Scalar reference for the same three steps.
    let mut x = init;
    let mut b = vec![0.0; n];
    for t in 0..3 {
        for i in 0..n {
            let d = g[i] + 0.01 * x[i];
            b[i] = if t == 0 { d } else { 0.9 * b[i] + d };
            x[i] += -0.1 * b[i];
        }
    }
    assert_eq!(p.params[0].value, x);
}
