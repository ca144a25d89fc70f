//! Observers see every step, and probing leaves training bit-for-bit unchanged.

use std::path::Path;

use optim::Params;
use train::{Observer, Options, Probe, RunConfig};

const NET: &str = r#"
seed = 3
[data]
dataset = "digits"
batch_size = 50
subset = 400
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 24
[[model.layers]]
type = "batchnorm1d"
[[model.layers]]
type = "tanh"
[[model.layers]]
type = "dropout"
p = 0.3
[[model.layers]]
type = "linear"
out_features = 10
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[train]
epochs = 2
[log]
tensorboard = false
"#;

fn config(src: &str, dir: &Path, sets: &[&str]) -> RunConfig {
    let mut t: toml::Table = src.parse().unwrap();
    let mut all = vec![format!("log.dir=\"{}\"", dir.display())];
    all.extend(sets.iter().map(|s| s.to_string()));
    train::apply_overrides(&mut t, &all).unwrap();
    RunConfig::from_table("test.toml", t, Path::new("."), "test").unwrap()
}

/// Uses every probe on every step and records what it saw.
#[derive(Default)]
struct Everything {
    steps: Vec<u64>,
    epochs: usize,
    max_grad_diff: f32,
    per_example_sums: Vec<(f32, usize)>,
    activations: usize,
    hvps: usize,
}

impl Observer for Everything {
    fn wants_per_example(&self, step: u64) -> bool {
        step.is_multiple_of(2)
    }

    fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        self.steps.push(p.step);
        let mut g = Vec::new();
        let loss = p.loss_and_gradient(None, &mut g)?;
        assert!(loss.is_finite());
        {
            // The probe replays the step's dropout masks: exactly the training loss and gradient.
            assert_eq!(loss, p.loss);
            for (i, gi) in g.iter().enumerate() {
                let train_g = Params::<f32>::grad(&*p.model, i).unwrap();
                for (a, b) in gi.iter().zip(train_g) {
                    self.max_grad_diff = self.max_grad_diff.max((a - b).abs());
                }
            }
        }
        let d: Vec<Vec<f32>> = g.iter().map(|v| v.iter().map(|x| -x).collect()).collect();
        // The exact Hessian-vector product replays the step too: the step's loss.
        let mut hv = Vec::new();
        assert_eq!(p.hvp(&d, &mut hv)?, p.loss);
        assert!(hv.iter().flatten().all(|h| h.is_finite()));
        self.hvps += 1;
        p.loss_at(Some((&d, 1e-3)))?;
        p.loss_and_gradient(Some((&d, 1e-2)), &mut g)?;
        p.example_gradient(3, &mut g)?;
        p.for_each_activation(|_, _, y| {
            assert!(y.data.iter().all(|v| v.is_finite()));
            self.activations += 1;
        })?;
        if let Some(sq) = p.per_example_sq_norms {
            assert_eq!(p.step % 2, 0);
            self.per_example_sums.push((sq.iter().sum(), sq.len()));
        }
        Ok(())
    }

    fn after_update(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        p.loss_at(None)?;
        let mut dy = nn::Tensor::default();
        p.output_gradient(&mut dy)?;
        let (mut g, mut hv) = (Vec::new(), Vec::new());
        p.loss_and_gradient(None, &mut g)?;
        p.hessian_products(|h| h.apply(&g, &mut hv))?;
        // After the step the gradients are absent (the next backward writes them). A probe
        // that runs a backward pass must leave them absent, or the next step would add to the
        // probe's gradient.
        let absent = |p: &Probe<'_>| {
            (0..Params::<f32>::count(&*p.model))
                .all(|i| Params::<f32>::grad(&*p.model, i).is_none())
        };
        assert!(absent(p));
        let mut g = Vec::new();
        p.loss_and_gradient(None, &mut g)?;
        assert!(g.iter().flatten().any(|&x| x != 0.0));
        assert!(absent(p));
        Ok(())
    }

    fn after_epoch(&mut self, _: &train::EpochRecord) -> train::Result<()> {
        self.epochs += 1;
        Ok(())
    }
}

/// The trainer's first backward after a step writes the gradients (issue 15); zeroing them
/// after every update instead (the old path: the next backward adds to zeros) must train to
/// the same bits, with gradient accumulation over micro-batches, batch norm and dropout.
#[test]
fn written_gradients_train_as_zeroed_ones() {
    struct ZeroAfterUpdate(u64);
    impl Observer for ZeroAfterUpdate {
        fn after_update(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
            p.model.zero_grad();
            self.0 += 1;
            Ok(())
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    for accumulate in ["1", "2"] {
        let set = [format!("train.accumulate={accumulate}")];
        let sets: Vec<&str> = set.iter().map(|s| s.as_str()).collect();
        let opts = Options {
            quiet: true,
            ..Default::default()
        };
        let a_dir = tmp.path().join(format!("a{accumulate}"));
        let b_dir = tmp.path().join(format!("b{accumulate}"));
        let written = train::run(&config(NET, &a_dir, &sets), &opts).unwrap();
        let mut zero = ZeroAfterUpdate(0);
        let zeroed = train::run_observed(&config(NET, &b_dir, &sets), &opts, &mut zero).unwrap();
        assert!(zero.0 > 0);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&written.losses),
            bits(&zeroed.losses),
            "accumulate {accumulate}"
        );
        assert_eq!(
            std::fs::read(a_dir.join("model.safetensors")).unwrap(),
            std::fs::read(b_dir.join("model.safetensors")).unwrap(),
            "accumulate {accumulate}"
        );
    }
}

/// Without batch norm the per-example squared norms come on the steps asked for, and they
/// match per-example gradients computed one by one with `example_gradient`.
#[test]
fn per_example_norms_match_example_gradients() {
    struct Check(usize);
    impl Observer for Check {
        fn wants_per_example(&self, step: u64) -> bool {
            step.is_multiple_of(2)
        }
        fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
            let Some(sq) = p.per_example_sq_norms else {
                assert_eq!(p.step % 2, 1);
                return Ok(());
            };
            let sq = sq.to_vec();
            let mut g = Vec::new();
            for (n, &want) in sq.iter().enumerate() {
                p.example_gradient(n, &mut g)?;
                let got: f32 = g.iter().flatten().map(|x| x * x).sum();
                assert!(
                    (got - want).abs() <= 1e-4 * want.max(1e-12),
                    "{n}: {got} vs {want}"
                );
            }
            self.0 += 1;
            Ok(())
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(NET, tmp.path(), &["model.layers.2.type=\"relu\""]);
    let mut check = Check(0);
    let opts = Options {
        quiet: true,
        ..Default::default()
    };
    train::run_observed(&cfg, &opts, &mut check).unwrap();
    assert_eq!(check.0, 8);
}

#[test]
fn probing_leaves_training_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    for p in ["0.3", "0.0"] {
        let set = format!("model.layers.4.p={p}");
        let plain = train::run(
            &config(NET, &tmp.path().join("a"), &[&set]),
            &Options {
                quiet: true,
                ..Default::default()
            },
        )
        .unwrap();
        let mut obs = Everything::default();
        let watched = train::run_observed(
            &config(NET, &tmp.path().join("b"), &[&set]),
            &Options {
                quiet: true,
                ..Default::default()
            },
            &mut obs,
        )
        .unwrap();
        assert_eq!(plain.losses, watched.losses, "p = {p}");
        assert_eq!(
            std::fs::read(tmp.path().join("a/model.safetensors")).unwrap(),
            std::fs::read(tmp.path().join("b/model.safetensors")).unwrap()
        );
        assert_eq!(obs.steps, (1..=16).collect::<Vec<_>>());
        assert_eq!(obs.epochs, 2);
        assert_eq!(obs.activations, 16 * 6);
        assert_eq!(obs.hvps, 16);
        // Batch norm couples the examples: no per-example norms are offered.
        assert!(obs.per_example_sums.is_empty());
        assert_eq!(obs.max_grad_diff, 0.0);
    }
}

/// `Probe::hvp` is the derivative of `Probe::loss_and_gradient` (the same function: training
/// mode, the step's dropout masks and batch-norm batch statistics): against the five-point
/// finite difference `[8(g(h) − g(−h)) − (g(2h) − g(−2h))]/12h` of the gradient along a unit
/// direction, `h = 1e-2`, within `1e-3·(|fd| + ‖fd‖∞)` (f32 rounding of the differences).
#[test]
fn hvp_is_the_derivative_of_the_probed_gradient() {
    struct Fd(usize);
    impl Observer for Fd {
        fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
            if p.step > 3 {
                return Ok(());
            }
            let mut g = Vec::new();
            p.loss_and_gradient(None, &mut g)?;
            // A unit direction along which the gradient changes: the normalised gradient.
            let n = g
                .iter()
                .flatten()
                .map(|&x| (x as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            let v: Vec<Vec<f32>> = g
                .iter()
                .map(|gi| gi.iter().map(|&x| (x as f64 / n) as f32).collect())
                .collect();
            let h = 1e-2f32;
            let mut at = |t: f32| -> train::Result<Vec<f64>> {
                let mut gt = Vec::new();
                p.loss_and_gradient(Some((&v, t)), &mut gt)?;
                Ok(gt.iter().flatten().map(|&x| x as f64).collect())
            };
            let (p1, m1, p2, m2) = (at(h)?, at(-h)?, at(2.0 * h)?, at(-2.0 * h)?);
            let fd: Vec<f64> = (0..p1.len())
                .map(|j| (8.0 * (p1[j] - m1[j]) - (p2[j] - m2[j])) / (12.0 * h as f64))
                .collect();
            let mut hv = Vec::new();
            p.hvp(&v, &mut hv)?;
            let inf = fd.iter().fold(0f64, |m, x| m.max(x.abs()));
            assert!(inf > 1e-3, "step {}: vanishing H v", p.step);
            for (j, (a, b)) in hv.iter().flatten().zip(&fd).enumerate() {
                let a = *a as f64;
                assert!(
                    (a - b).abs() <= 1e-3 * (b.abs() + inf),
                    "step {} element {j}: {a} vs finite difference {b}",
                    p.step
                );
            }
            self.0 += 1;
            Ok(())
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(NET, tmp.path(), &[]);
    let mut fd = Fd(0);
    let opts = Options {
        quiet: true,
        ..Default::default()
    };
    train::run_observed(&cfg, &opts, &mut fd).unwrap();
    assert_eq!(fd.0, 3);
}

/// Products sharing one forward pass ([`Probe::hessian_products`]) are bit for bit the products
/// [`Probe::hvp`] computes alone, in any order and repeated, with batch norm and dropout (the
/// step's masks and batch statistics, which the shared pass must keep for every product).
#[test]
fn shared_hessian_products_are_the_products_alone() {
    struct Shared(usize);
    impl Observer for Shared {
        fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
            if p.step > 3 {
                return Ok(());
            }
            let mut g = Vec::new();
            p.loss_and_gradient(None, &mut g)?;
            let dirs: Vec<Vec<Vec<f32>>> = (0..3)
                .map(|k| {
                    g.iter()
                        .map(|gi| {
                            gi.iter()
                                .enumerate()
                                .map(|(j, &x)| x + ((j * 7 + k * 3) % 5) as f32 * 0.01)
                                .collect()
                        })
                        .collect()
                })
                .collect();
            let mut alone = Vec::new();
            for v in &dirs {
                let mut hv = Vec::new();
                assert_eq!(p.hvp(v, &mut hv)?, p.loss);
                alone.push(hv);
            }
            let step_loss = p.loss;
            let mut hv = Vec::new();
            p.hessian_products(|h| -> train::Result<()> {
                assert_eq!(h.loss(), step_loss);
                for k in [2, 0, 1, 2, 0] {
                    h.apply(&dirs[k], &mut hv)?;
                    assert!(hv == alone[k], "step {}: direction {k}", self.0);
                }
                Ok(())
            })?;
            self.0 += 1;
            Ok(())
        }
    }
    let mut obs = Shared(0);
    // Training is untouched by the shared products.
    trains_as_without(&mut obs);
    assert_eq!(obs.0, 3);
}

/// Example gradients sharing one forward pass ([`Probe::example_gradients`], and in the
/// evaluation-statistics variant) are bit for bit those computed alone, in any order, an
/// example repeated and one past the batch (all zeros) included, with batch norm and dropout.
#[test]
fn shared_example_gradients_are_the_gradients_alone() {
    struct Shared(usize);
    impl Observer for Shared {
        fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
            if p.step > 3 {
                return Ok(());
            }
            let batch = p.x.shape[0];
            let idx = [7, 0, batch - 1, 7, batch + 2];
            for variant in [false, true] {
                let mut alone = Vec::new();
                for &n in &idx {
                    let mut g = Vec::new();
                    if variant {
                        assert!(p.example_gradient_eval_statistics(n, &mut g)?);
                    } else {
                        p.example_gradient(n, &mut g)?;
                    }
                    alone.push(g);
                }
                assert!(alone[4].iter().flatten().all(|&x| x == 0.0));
                assert!(alone[0].iter().flatten().any(|&x| x != 0.0));
                let mut seen = 0;
                let mut g = Vec::new();
                let step = p.step;
                let each = |k: usize, gk: &[Vec<f32>]| {
                    assert!(gk == &alone[k][..], "step {step}: example {k}");
                    seen += 1;
                };
                if variant {
                    assert!(p.example_gradients_eval_statistics(&idx, &mut g, each)?);
                } else {
                    p.example_gradients(&idx, &mut g, each)?;
                }
                assert_eq!(seen, idx.len());
            }
            self.0 += 1;
            Ok(())
        }
    }
    let mut obs = Shared(0);
    trains_as_without(&mut obs);
    assert_eq!(obs.0, 3);
}

/// Trains `NET` plainly and under `obs`: the losses must be the same (the observer's probes
/// leave training alone).
fn trains_as_without(obs: &mut (dyn Observer + Send)) {
    let opts = Options {
        quiet: true,
        ..Default::default()
    };
    let tmp = tempfile::tempdir().unwrap();
    let plain = train::run(&config(NET, &tmp.path().join("a"), &[]), &opts).unwrap();
    let seen = train::run_observed(&config(NET, &tmp.path().join("b"), &[]), &opts, obs);
    assert_eq!(seen.unwrap().losses, plain.losses);
}
