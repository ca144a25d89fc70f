//! Optimizer checkpoints, EMA and gradient accumulation through the public API.

use std::collections::HashMap;

use optim::checkpoint::{from_bytes, to_bytes};
use optim::{
    load_state, optimizers, save_state, ClipConfig, Float, GradAccumulator, GroupSpec, LrSchedule,
    Optimizer, Param, ParamStore, Result,
};
use safetensors::{Dtype, SafeTensors};

/// Every optimizer configuration the round-trip test runs: label, `[optimizer]` table, `[clip]`
/// table. Add a row per optimizer (adam, …) as they land.
const CONFIGS: &[(&str, &str, &str)] = &[
    (
        "sgd momentum",
        "name = 'sgd'\nlr = 0.1\nmomentum = 0.9\nweight_decay = 0.01",
        "",
    ),
    (
        "sgd nesterov",
        "name = 'sgd'\nlr = 0.05\nmomentum = 0.8\nnesterov = true",
        "",
    ),
    (
        "sgd dampening maximize",
        "name = 'sgd'\nlr = 0.05\nmomentum = 0.7\ndampening = 0.3\nmaximize = true",
        "",
    ),
    ("sgd plain (stateless)", "name = 'sgd'\nlr = 0.1", ""),
    (
        "sgd momentum, per-param-norm clipping (whole-tensor transform) + global clipping",
        "name = 'sgd'\nlr = 0.1\nmomentum = 0.9",
        "param_max_norm = 0.3\nmax_norm = 1.0",
    ),
    (
        "adam amsgrad",
        "name = 'adam'\nlr = 0.01\nbetas = [0.8, 0.99]\namsgrad = true\nweight_decay = 0.01",
        "",
    ),
    ("adamw", "name = 'adamw'\nlr = 0.01", ""),
    ("adamax", "name = 'adamax'\nlr = 0.01", ""),
    ("nadam (mu_product scalar)", "name = 'nadam'\nlr = 0.01", ""),
    ("radam", "name = 'radam'\nlr = 0.01", ""),
    (
        "adagrad lr_decay",
        "name = 'adagrad'\nlr = 0.1\nlr_decay = 0.01",
        "",
    ),
    (
        "rmsprop centered momentum",
        "name = 'rmsprop'\nlr = 0.01\ncentered = true\nmomentum = 0.5",
        "",
    ),
    ("adadelta", "name = 'adadelta'\nlr = 1.0", ""),
    ("lion", "name = 'lion'\nlr = 0.001\nweight_decay = 0.1", ""),
    (
        "lamb (trust ratio)",
        "name = 'lamb'\nlr = 0.01\nweight_decay = 0.01",
        "",
    ),
    ("lars", "name = 'lars'\nlr = 0.1", ""),
    ("adabelief", "name = 'adabelief'\nlr = 0.01", ""),
    (
        "sgd schedule-free",
        "name = 'sgd_schedule_free'\nlr = 0.1\nwarmup_steps = 2",
        "",
    ),
    (
        "adamw schedule-free",
        "name = 'adamw_schedule_free'\nlr = 0.01",
        "",
    ),
    ("muon (matrix + fallback)", "name = 'muon'\nlr = 0.02", ""),
    ("signum", "name = 'signsgd'\nlr = 0.01\nmomentum = 0.9", ""),
    (
        "adam with adaptive clipping",
        "name = 'adam'\nlr = 0.01",
        "agc_clipping = 0.05\nvalue = 0.5",
    ),
];

/// A tiny schedule for the tests: `lr_t = base · 0.9^t`, with its state `[t, lrs…]`.
struct TestDecay {
    name: &'static str,
    base: Vec<f64>,
    lrs: Vec<f64>,
    t: f64,
}

impl TestDecay {
    fn new(name: &'static str, base: Vec<f64>) -> Self {
        TestDecay {
            name,
            lrs: base.clone(),
            base,
            t: 0.0,
        }
    }
}

impl LrSchedule for TestDecay {
    fn name(&self) -> &'static str {
        self.name
    }
    fn lrs(&self) -> &[f64] {
        &self.lrs
    }
    fn step(&mut self, _: Option<f64>) -> Result<()> {
        self.t += 1.0;
        self.lrs = self.base.iter().map(|b| b * 0.9f64.powf(self.t)).collect();
        Ok(())
    }
    fn state(&self) -> Vec<f64> {
        let mut s = vec![self.t];
        s.extend(&self.lrs);
        s
    }
    fn load_state(&mut self, state: &[f64]) -> Result<()> {
        if state.len() != 1 + self.base.len() {
            return Err(optim::OptimError::Invalid(format!(
                "test_decay: state has {} numbers, expected {}",
                state.len(),
                1 + self.base.len()
            )));
        }
        self.t = state[0];
        self.lrs = state[1..].to_vec();
        Ok(())
    }
}

fn model<F: Float>() -> ParamStore<F> {
    let v = |n: usize, s: f64| {
        (0..n)
            .map(|i| F::of(s * (i as f64 + 1.0) - 0.4))
            .collect::<Vec<F>>()
    };
    ParamStore::new(vec![
        Param::new("layer.weight", &[2, 3], v(6, 0.3)),
        Param::new("layer.bias", &[3], v(3, -0.2)),
        Param::new("head.unused", &[2], v(2, 0.5)),
    ])
}

/// A non-linear gradient, so the trajectory depends on the state; the bias only gets one on
/// even steps and `head.unused` never does.
fn set_grads<F: Float>(p: &mut ParamStore<F>, t: u64) {
    p.clear_grads();
    for i in 0..2 {
        if i == 1 && t % 2 == 1 {
            continue;
        }
        let g: Vec<F> = p.params[i]
            .value
            .iter()
            .enumerate()
            .map(|(j, &x)| F::of((1.3 * x.f64() + t as f64 + j as f64).sin() + 0.1 * x.f64()))
            .collect();
        p.set_grad(i, &g);
    }
}

fn build<F: Float>(
    opt_toml: &str,
    clip_toml: &str,
    params: &ParamStore<F>,
    groups: &[GroupSpec],
) -> Optimizer<F> {
    let table: toml::Table = toml::from_str(opt_toml).unwrap();
    let mut recipe = optimizers::from_table::<F>("test", &table, &[]).unwrap();
    let clip = ClipConfig::from_toml("clip", &toml::from_str(clip_toml).unwrap()).unwrap();
    recipe.chain = clip.wrap(recipe.chain).unwrap();
    let mut opt = Optimizer::with_groups(recipe, params, groups).unwrap();
    opt.set_clipping(clip.global).unwrap();
    opt
}

fn train<F: Float>(
    opt: &mut Optimizer<F>,
    sched: &mut TestDecay,
    p: &mut ParamStore<F>,
    steps: std::ops::Range<u64>,
) {
    for t in steps {
        opt.set_lrs(sched.lrs());
        set_grads(p, t);
        opt.step(p).unwrap();
        sched.step(None).unwrap();
    }
}

fn bits<F: Float>(xs: &[F]) -> Vec<u64> {
    xs.iter().map(|x| x.f64().to_bits()).collect()
}

/// Everything observable about a run, as bits.
fn snapshot<F: Float>(opt: &Optimizer<F>, p: &ParamStore<F>) -> Vec<Vec<u64>> {
    let mut out = vec![vec![opt.steps(), opt.skipped_steps()]];
    out.push(opt.lrs().iter().map(|x| x.to_bits()).collect());
    for prm in &p.params {
        out.push(bits(&prm.value));
        match opt.state(&prm.name) {
            None => out.push(vec![u64::MAX]),
            Some(states) => {
                for s in states {
                    s.bufs.iter().for_each(|b| out.push(bits(b)));
                    out.push(s.scalars.iter().map(|x| x.to_bits()).collect());
                }
            }
        }
    }
    out
}

fn round_trip<F: Float>() {
    let dir = tempfile::tempdir().unwrap();
    for (label, opt_toml, clip_toml) in CONFIGS {
        // Uninterrupted run of 7 steps.
        let mut p = model::<F>();
        let mut opt = build(opt_toml, clip_toml, &p, &[]);
        let mut sched = TestDecay::new("test_decay", opt.initial_lrs());
        train(&mut opt, &mut sched, &mut p, 0..3);
        let path = dir
            .path()
            .join(format!("{}.safetensors", label.replace(' ', "_")));
        save_state(&opt, Some(&sched), &path).unwrap();
        let params_at_save = p.clone();
        train(&mut opt, &mut sched, &mut p, 3..7);
        let expected = snapshot(&opt, &p);

        // Interrupted: a fresh optimizer and schedule, restored, then the same 4 steps.
        let mut q = params_at_save;
        let mut opt2 = build(opt_toml, clip_toml, &q, &[]);
        let mut sched2 = TestDecay::new("test_decay", opt2.initial_lrs());
        load_state(&mut opt2, Some(&mut sched2), &path).unwrap();
        assert_eq!(opt2.steps(), 3, "{label}");
        assert!(
            opt2.state("head.unused").is_none(),
            "{label}: a parameter without grads has no state"
        );
        train(&mut opt2, &mut sched2, &mut q, 3..7);
        assert_eq!(
            snapshot(&opt2, &q),
            expected,
            "{label}: restored run differs from the uninterrupted one"
        );
        assert!(opt2.state("head.unused").is_none(), "{label}");
        // The layout checks below know SGD's chain (`trace` holds the momentum buffer).
        if !(opt_toml.contains("'sgd'") && opt_toml.contains("momentum")) {
            continue;
        }
        assert!(opt2.state("layer.weight").is_some(), "{label}");
        // The in-memory form holds the same thing.
        let bytes = to_bytes(&opt2, Some(&sched2)).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let k = if clip_toml.is_empty() { 1 } else { 2 };
        let k = if opt_toml.contains("maximize") {
            k + 1
        } else {
            k
        };
        let buf = st
            .tensor(&format!("layer.weight/{k}.trace.momentum_buffer"))
            .unwrap();
        assert_eq!(buf.dtype(), F::DTYPE, "{label}");
        let scalars = st.tensor(&format!("layer.bias/{k}.trace.scalars")).unwrap();
        assert_eq!(scalars.dtype(), Dtype::F64);
        // The bias stepped on even steps only: 0, 2, 4, 6.
        assert_eq!(scalars.data(), &4.0f64.to_le_bytes());
        assert!(
            st.names().iter().all(|n| !n.starts_with("head.unused")),
            "{label}"
        );
    }
}

#[test]
fn restored_step_is_bit_identical_f64() {
    round_trip::<f64>();
}

#[test]
fn restored_step_is_bit_identical_f32() {
    round_trip::<f32>();
}

#[test]
fn metadata_and_tensor_layout() {
    let mut p = model::<f64>();
    let mut opt = build(CONFIGS[0].1, "", &p, &[]);
    let mut sched = TestDecay::new("test_decay", opt.initial_lrs());
    train(&mut opt, &mut sched, &mut p, 0..2);
    opt.set_lr(0, 0.1 + 0.2); // a value JSON readers might round
    let bytes = to_bytes(&opt, Some(&sched)).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    assert_eq!(meta["format"], "gradlab.optim");
    assert_eq!(meta["version"], "1");
    assert_eq!(meta["optimizer"], "sgd");
    assert_eq!(
        meta["chain"],
        "add_decayed_weights > trace > scale_by_learning_rate"
    );
    assert_eq!(meta["dtype"], "F64");
    assert_eq!(meta["step"], "2");
    assert_eq!(meta["skipped"], "0");
    let groups: serde_json::Value = serde_json::from_str(&meta["groups"]).unwrap();
    assert_eq!(groups[0]["lr"], "0.30000000000000004");
    assert_eq!(groups[0]["initial_lr"], "0.1");
    assert_eq!(groups[0]["weight_decay"], "0.01");
    assert!(groups[0]["momentum"].is_null());
    let s: serde_json::Value = serde_json::from_str(&meta["schedule"]).unwrap();
    assert_eq!(s["name"], "test_decay");
    assert_eq!(s["state"][0], "2.0");
    let infos = header.tensors();
    let mut names: Vec<_> = infos.keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "layer.bias/1.trace.momentum_buffer",
            "layer.bias/1.trace.scalars",
            "layer.weight/1.trace.momentum_buffer",
            "layer.weight/1.trace.scalars",
        ]
    );
    assert_eq!(
        infos["layer.weight/1.trace.momentum_buffer"].shape,
        vec![2, 3]
    );
    assert_eq!(infos["layer.weight/1.trace.scalars"].shape, vec![1]);
    // The group lr comes back bit-exactly.
    let mut opt2 = build(CONFIGS[0].1, "", &p, &[]);
    let mut sched2 = TestDecay::new("test_decay", opt2.initial_lrs());
    from_bytes(&mut opt2, Some(&mut sched2), &bytes).unwrap();
    assert_eq!(opt2.lrs()[0].to_bits(), (0.1f64 + 0.2).to_bits());
    assert_eq!(sched2.state(), sched.state());
}

/// Re-serialises a checkpoint with edited metadata and tensors.
fn rewrite(
    bytes: &[u8],
    edit: impl FnOnce(&mut HashMap<String, String>, &mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    let mut tensors: Vec<_> = header
        .tensors()
        .into_iter()
        .map(|(n, i)| {
            let data = st.tensor(&n).unwrap().data().to_vec();
            (n, i.dtype, i.shape.clone(), data)
        })
        .collect();
    edit(&mut meta, &mut tensors);
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, &Some(meta)).unwrap()
}

fn trained(opt_toml: &str) -> (Optimizer<f64>, ParamStore<f64>) {
    let mut p = model::<f64>();
    let mut opt = build(opt_toml, "", &p, &[]);
    let mut sched = TestDecay::new("test_decay", opt.initial_lrs());
    train(&mut opt, &mut sched, &mut p, 0..3);
    (opt, p)
}

/// Step counts, lrs and every parameter's state, as bits.
fn fingerprint(opt: &Optimizer<f64>) -> Vec<Vec<u64>> {
    let mut out = vec![vec![opt.steps(), opt.skipped_steps()], bits(&opt.lrs())];
    for name in ["layer.weight", "layer.bias", "head.unused"] {
        for s in opt.state(name).unwrap_or_default() {
            s.bufs.iter().for_each(|b| out.push(bits(b)));
            out.push(bits(&s.scalars));
        }
    }
    out
}

fn load_err(opt: &mut Optimizer<f64>, sched: Option<&mut dyn LrSchedule>, bytes: &[u8]) -> String {
    let before = fingerprint(opt);
    let e = from_bytes(opt, sched, bytes).unwrap_err().to_string();
    assert_eq!(
        fingerprint(opt),
        before,
        "a failed load changed the optimizer ({e})"
    );
    e
}

#[test]
fn mismatches_are_named() {
    let sgd_m = CONFIGS[0].1;
    let (opt, p) = trained(sgd_m);
    let good = to_bytes(&opt, None).unwrap();
    // A target that already has (different) state, to check nothing is half-applied.
    let (mut target, _) = trained("name = 'sgd'\nlr = 0.3\nmomentum = 0.5");

    let bad = rewrite(&good, |m, _| {
        m.insert("format".into(), "pytorch".into());
    });
    let e = load_err(&mut target, None, &bad);
    assert!(
        e.contains("\"pytorch\"") && e.contains("gradlab.optim"),
        "{e}"
    );

    let bad = rewrite(&good, |m, _| {
        m.insert("version".into(), "7".into());
    });
    let e = load_err(&mut target, None, &bad);
    assert!(e.contains("version \"7\""), "{e}");

    // dtype: an f32 checkpoint into an f64 optimizer.
    let mut p32 = model::<f32>();
    let mut o32 = build(sgd_m, "", &p32, &[]);
    set_grads(&mut p32, 0);
    o32.step(&mut p32).unwrap();
    let e = load_err(&mut target, None, &to_bytes(&o32, None).unwrap());
    assert!(e.contains("F32") && e.contains("F64"), "{e}");

    // Different chain (both named).
    let mut plain = build("name = 'sgd'\nlr = 0.1", "", &p, &[]);
    let e = load_err(&mut plain, None, &good);
    assert!(
        e.contains("add_decayed_weights > trace > scale_by_learning_rate")
            && e.contains("`add_decayed_weights > scale_by_learning_rate`"),
        "{e}"
    );

    // A parameter the optimizer does not have.
    let mut small = ParamStore::new(vec![
        Param::new("layer.weight", &[2, 3], vec![0.0; 6]),
        Param::new("head.unused", &[2], vec![0.0; 2]),
    ]);
    let mut o_small = build(sgd_m, "", &small, &[]);
    set_grads(&mut small, 0);
    o_small.step(&mut small).unwrap();
    let e = load_err(&mut o_small, None, &good);
    assert!(
        e.contains("`layer.bias`") && e.contains("does not have"),
        "{e}"
    );

    // A parameter whose shape changed.
    let reshaped = ParamStore::new(vec![
        Param::new("layer.weight", &[3, 2], vec![0.0; 6]),
        Param::new("layer.bias", &[3], vec![0.0; 3]),
        Param::new("head.unused", &[2], vec![0.0; 2]),
    ]);
    let mut o_reshaped = build(sgd_m, "", &reshaped, &[]);
    let e = load_err(&mut o_reshaped, None, &good);
    assert!(
        e.contains("`layer.weight`") && e.contains("[2, 3]") && e.contains("[3, 2]"),
        "{e}"
    );

    // Too few and too many buffers.
    let bad = rewrite(&good, |_, t| {
        t.retain(|x| x.0 != "layer.bias/1.trace.momentum_buffer")
    });
    let e = load_err(&mut target, None, &bad);
    assert!(
        e.contains("layer.bias/1.trace.momentum_buffer") && e.contains("lacks"),
        "{e}"
    );
    let bad = rewrite(&good, |_, t| {
        t.push((
            "layer.bias/1.trace.exp_avg".into(),
            Dtype::F64,
            vec![3],
            vec![0; 24],
        ))
    });
    let e = load_err(&mut target, None, &bad);
    assert!(
        e.contains("layer.bias/1.trace.exp_avg") && e.contains("`layer.bias`"),
        "{e}"
    );
    let bad = rewrite(&good, |_, t| {
        for x in t
            .iter_mut()
            .filter(|x| x.0 == "layer.weight/1.trace.scalars")
        {
            x.2 = vec![2];
            x.3 = vec![0; 16];
        }
    });
    let e = load_err(&mut target, None, &bad);
    assert!(
        e.contains("layer.weight/1.trace.scalars") && e.contains("[2]") && e.contains("[1]"),
        "{e}"
    );

    // Group count.
    let groups = [GroupSpec {
        patterns: vec!["*.bias".into()],
        lr: Some(0.01),
        weight_decay: None,
        momentum: None,
    }];
    let mut o_groups = build(sgd_m, "", &p, &groups);
    let e = load_err(&mut o_groups, None, &good);
    assert!(e.contains("1 parameter groups, the optimizer has 2"), "{e}");

    // Schedules: presence both ways, name, and a state the schedule rejects.
    let mut sched = TestDecay::new("test_decay", vec![0.1]);
    let e = load_err(&mut target, Some(&mut sched), &good);
    assert!(
        e.contains("`test_decay`") && e.contains("no schedule state"),
        "{e}"
    );
    let with_sched = to_bytes(&opt, Some(&TestDecay::new("test_decay", vec![0.1]))).unwrap();
    let e = load_err(&mut target, None, &with_sched);
    assert!(
        e.contains("`test_decay`") && e.contains("no schedule was given"),
        "{e}"
    );
    let mut other = TestDecay::new("cosine", vec![0.1]);
    let e = load_err(&mut target, Some(&mut other), &with_sched);
    assert!(e.contains("`test_decay`") && e.contains("`cosine`"), "{e}");
    let mut two_groups = TestDecay::new("test_decay", vec![0.1, 0.2]);
    two_groups.step(None).unwrap();
    let before = two_groups.state();
    let e = load_err(&mut target, Some(&mut two_groups), &with_sched);
    assert!(e.contains("state has 2 numbers, expected 3"), "{e}");
    assert_eq!(two_groups.state(), before);

    // Not a safetensors file at all, through the path API: the path is named.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.safetensors");
    std::fs::write(&path, b"definitely not safetensors").unwrap();
    let e = load_state(&mut target, None, &path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("junk.safetensors") && e.contains("safetensors"),
        "{e}"
    );
    let e = load_state(&mut target, None, &dir.path().join("absent"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent") && e.contains("cannot read"), "{e}");
    let e = save_state(&opt, None, &dir.path().join("no/dir/x"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no/dir/x"), "{e}");

    // After all those refusals the good file still loads (same name and chain, other momentum).
    from_bytes(&mut target, None, &good).unwrap();
    assert_eq!(target.steps(), 3);
    assert_eq!(fingerprint(&target), fingerprint(&opt));
}

#[test]
fn empty_state_round_trips() {
    // Saved before any step: every parameter comes back without state.
    let p = model::<f64>();
    let opt = build(CONFIGS[0].1, "", &p, &[]);
    let bytes = to_bytes(&opt, None).unwrap();
    let (mut stepped, _) = trained(CONFIGS[0].1);
    from_bytes(&mut stepped, None, &bytes).unwrap();
    assert_eq!(stepped.steps(), 0);
    assert!(p.params.iter().all(|x| stepped.state(&x.name).is_none()));
}

#[test]
fn accumulation_then_checkpoint() {
    // k = 2 micro-batches through the accumulator, then a checkpoint.
    let mut p = model::<f64>();
    let mut opt = build(CONFIGS[0].1, "", &p, &[]);
    let mut acc = GradAccumulator::new(2).unwrap();
    for t in 0..4 {
        set_grads(&mut p, t);
        // The bias gets a gradient at even t only: at the odd t that completes a window it has
        // none, and the accumulator gives it the mean (its even-t gradient / 2).
        let bias_grad = p.params[1].has_grad.then(|| p.params[1].grad.clone());
        let first = p.params[0].grad.clone();
        if acc.add(&mut p).unwrap() {
            assert!(p.params[1].has_grad && !p.params[2].has_grad);
            assert!(bias_grad.is_none());
            opt.step(&mut p).unwrap();
        } else {
            let half: Vec<f64> = bias_grad.unwrap().iter().map(|g| g / 2.0).collect();
            set_grads(&mut p, t + 1);
            let second = p.params[0].grad.clone();
            assert!(acc.add(&mut p).unwrap());
            assert_eq!(p.params[1].grad, half);
            let mean: Vec<f64> = first
                .iter()
                .zip(&second)
                .map(|(a, b)| (a + b) / 2.0)
                .collect();
            assert_eq!(p.params[0].grad, mean);
            opt.step(&mut p).unwrap();
            break;
        }
    }
    assert_eq!(opt.steps(), 1);
    assert!(opt.state("layer.bias").is_some());
    assert!(opt.state("head.unused").is_none());
    let bytes = to_bytes(&opt, None).unwrap();
    let mut opt2 = build(CONFIGS[0].1, "", &p, &[]);
    from_bytes(&mut opt2, None, &bytes).unwrap();
    assert_eq!(opt2.state("layer.weight"), opt.state("layer.weight"));
    assert_eq!(opt2.state("layer.bias"), opt.state("layer.bias"));
}

/// `(checkpoint, offset)` of element `i` of the `.scalars` tensor of `param` in a checkpoint.
fn scalar_offset(bytes: &[u8], param: &str, i: usize) -> usize {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let name = st
        .names()
        .into_iter()
        .find(|n| n.starts_with(&format!("{param}/")) && n.ends_with(".scalars"))
        .unwrap()
        .clone();
    let data = st.tensor(&name).unwrap().data().as_ptr() as usize;
    data - bytes.as_ptr() as usize + 8 * i
}

/// A checkpoint of adamw_schedule_free after one step, with the step count of `layer.weight`
/// replaced by `k`.
fn schedule_free_with_step_count(k: f64) -> Vec<u8> {
    let mut p = model::<f32>();
    let mut opt = build::<f32>("name = 'adamw_schedule_free'\nlr = 0.01", "", &p, &[]);
    set_grads(&mut p, 0);
    opt.step(&mut p).unwrap();
    let mut bytes = to_bytes(&opt, None).unwrap();
    let at = scalar_offset(&bytes, "layer.weight", 0);
    bytes[at..at + 8].copy_from_slice(&k.to_le_bytes());
    bytes
}

/// Found by fuzzing (fuzz/ target `optimizer`): a restored step count of 1.2e137 made
/// `k as i32 + 1` overflow in schedule-free AdamW's learning-rate factor.
#[test]
fn schedule_free_state_with_a_step_count_past_i32_max_steps_without_overflow() {
    let mut p = model::<f32>();
    let mut opt = build::<f32>("name = 'adamw_schedule_free'\nlr = 0.01", "", &p, &[]);
    from_bytes(
        &mut opt,
        None,
        &schedule_free_with_step_count(1.2475234278354826e137),
    )
    .unwrap();
    set_grads(&mut p, 1);
    opt.step(&mut p).unwrap();
    assert!(p.params[0].value.iter().all(|v| v.is_finite()));
}

/// A NaN or infinite step count (or running sum) in a checkpoint is an error naming the
/// tensor, not a silently NaN learning rate.
#[test]
fn optimizer_checkpoint_with_a_nan_step_count_is_an_error() {
    for k in [f64::NAN, f64::INFINITY] {
        let p = model::<f32>();
        let mut opt = build::<f32>("name = 'adamw_schedule_free'\nlr = 0.01", "", &p, &[]);
        let e = from_bytes(&mut opt, None, &schedule_free_with_step_count(k))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tensor `layer.weight/2.schedule_free.scalars` holds")
                && e.contains("at index 0; state must be finite"),
            "{e}"
        );
        assert_eq!(opt.steps(), 0, "optimizer changed by a failed load");
    }
}

/// A NaN in a moment buffer (Adam's `exp_avg_sq` here) is an error naming the tensor and the
/// element: loaded, it would turn every later step of that parameter into NaN weights.
#[test]
fn optimizer_checkpoint_with_a_nan_buffer_is_an_error() {
    let mut p = model::<f32>();
    let mut opt = build::<f32>("name = 'adam'\nlr = 0.01", "", &p, &[]);
    set_grads(&mut p, 0);
    opt.step(&mut p).unwrap();
    let mut bytes = to_bytes(&opt, None).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let name = st
        .names()
        .into_iter()
        .find(|n| n.starts_with("layer.weight/") && !n.ends_with(".scalars"))
        .unwrap()
        .clone();
    let at = st.tensor(&name).unwrap().data().as_ptr() as usize - bytes.as_ptr() as usize + 4;
    drop(st);
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let mut fresh = build::<f32>("name = 'adam'\nlr = 0.01", "", &p, &[]);
    let e = from_bytes(&mut fresh, None, &bytes)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "tensor `{name}` holds NaN at index 1; state must be finite"
        )),
        "{e}"
    );
    assert_eq!(fresh.steps(), 0, "optimizer changed by a failed load");
}
