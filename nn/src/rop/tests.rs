//! The R-operator against finite differences, layer by layer and model by model, and the
//! symmetry of the Hessian it multiplies by. (Against PyTorch in f64: `train/tests/hvp.rs`.)
//!
//! Finite differences use the five-point stencil `[8(f(h) − f(−h)) − (f(2h) − f(−2h))]/12h`,
//! accumulated in f64: its truncation error is `O(h⁴)`, so with `h = 1e-2` what remains is the
//! f32 rounding of `f`, about `ε_f32·|f|/h ≈ 1e-5` of the scale of `f`. Piecewise layers (ReLU,
//! leaky ReLU, max pooling) get inputs whose kinks are farther than `2h` away.

use optim::Params;

use crate::layers::gradcheck::random_tensor;
use crate::layers::{
    Activation, BatchNorm, BatchNormConfig, Conv, Conv1dConfig, Conv2dConfig, Dropout,
    DropoutConfig, Flatten, FlattenConfig, GlobalAvgPool, Linear, LinearConfig, Pool, Pool1dConfig,
    Pool2dConfig,
};
use crate::{
    ActivationLayer, CrossEntropyConfig, CrossEntropyLoss, Layer, LayerConfig, MseLoss,
    ResidualConfig, Rng, Sequential, Tensor,
};

/// R-forward against finite differences of the forward: `|R{y} − fd| ≤ TOL·(|fd| + ‖fd‖∞)`
/// (observed ≤ 5e-5).
const FORWARD_TOL: f64 = 1e-4;
/// Whole-model `H v` against finite differences of the gradient with `h = 1e-2`, same form
/// (observed ≤ 7e-5).
const HVP_TOL: f64 = 3e-4;
/// The same with `h = 1e-3`, for models with kinks (ReLU, max pooling): ten times the rounding
/// (observed ≤ 2.5e-4).
const HVP_TOL_KINKED: f64 = 1e-3;
/// `|⟨u, Hv⟩ − ⟨v, Hu⟩| ≤ SYM_TOL·max(‖Hv‖, ‖Hu‖)` for unit `u`, `v` (observed ≤ 2e-8).
const SYM_TOL: f64 = 1e-6;

/// `[8(f(h) − f(−h)) − (f(2h) − f(−2h))]/12h`, elementwise in f64.
fn five_point(mut f: impl FnMut(f32) -> Vec<f64>, h: f32) -> Vec<f64> {
    let (p1, m1, p2, m2) = (f(h), f(-h), f(2.0 * h), f(-2.0 * h));
    (0..p1.len())
        .map(|j| (8.0 * (p1[j] - m1[j]) - (p2[j] - m2[j])) / (12.0 * h as f64))
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: sizes");
    let inf = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    assert!(inf > 1e-6, "{what}: a vanishing reference proves nothing");
    for (j, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (b.abs() + inf),
            "{what}: element {j}: {a} vs finite difference {b} (scale {inf})"
        );
    }
}

/// One random direction per parameter of `layer` (entries of magnitude 0.1–1).
fn directions(params: &[optim::Param<f32>], seed: u64) -> Vec<Vec<f32>> {
    params
        .iter()
        .enumerate()
        .map(|(k, p)| random_tensor(&[p.value.len()], seed + k as u64).data)
        .collect()
}

fn f64s(t: &[f32]) -> Vec<f64> {
    t.iter().map(|&v| v as f64).collect()
}

/// Checks `forward_r` of `layer` at `x` against finite differences of `forward(x + t·rx,
/// w + t·v)`, with and without an input direction; dropout masks replayed.
fn check_forward_r(layer: &mut dyn Layer, x: &Tensor, train: bool, h: f32, seed: u64) {
    let kind = layer.kind();
    let mut rng = Vec::new();
    layer.rng_state(&mut rng);
    let w0: Vec<Vec<f32>> = layer.parameters().iter().map(|p| p.value.clone()).collect();
    let v = directions(layer.parameters(), seed);
    let rx = random_tensor(&x.shape, seed + 100);
    for with_rx in [true, false] {
        let mut at = |t: f32| -> Vec<f64> {
            layer.set_rng_state(&rng).unwrap();
            for ((p, w), d) in layer.parameters_mut().iter_mut().zip(&w0).zip(&v) {
                for ((pv, &wv), &dv) in p.value.iter_mut().zip(w).zip(d) {
                    *pv = wv + t * dv;
                }
            }
            let mut xt = x.clone();
            if with_rx {
                xt.data
                    .iter_mut()
                    .zip(&rx.data)
                    .for_each(|(a, r)| *a += t * r);
            }
            f64s(&layer.forward(&xt, train).data)
        };
        let fd = five_point(&mut at, h);
        at(0.0);
        let ry = layer
            .forward_r(with_rx.then_some(&rx), &v)
            .unwrap()
            .map(|t| f64s(&t.data));
        match ry {
            Some(ry) => assert_close(
                &format!("{kind} R{{y}} (R{{x}}: {with_rx})"),
                &ry,
                &fd,
                FORWARD_TOL,
            ),
            None => {
                assert!(!with_rx && v.is_empty(), "{kind}: R{{y}} missing");
                assert!(
                    fd.iter().all(|&d| d == 0.0),
                    "{kind}: zero R{{y}} but {fd:?}"
                );
            }
        }
    }
}

fn distinct(shape: &[usize], seed: u64) -> Tensor {
    // Distinct values 0.05 apart, shuffled: max-pool windows never near a tie.
    let n: usize = shape.iter().product();
    let mut rng = Rng::new(seed);
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        idx.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let data = idx.iter().map(|&i| i as f32 * 0.05 - 1.0).collect();
    Tensor::from_vec(shape, data).unwrap()
}

#[test]
fn forward_r_matches_finite_differences_for_every_layer() {
    let mut rng = Rng::new(1);
    let mut l = Linear::new(&LinearConfig::new(5, 3), 5, &mut rng).unwrap();
    check_forward_r(&mut l, &random_tensor(&[4, 5], 2), true, 1e-2, 3);
    let nobias = LinearConfig {
        bias: false,
        ..LinearConfig::new(4, 2)
    };
    let mut l = Linear::new(&nobias, 4, &mut rng).unwrap();
    check_forward_r(&mut l, &random_tensor(&[2, 3, 4], 4), true, 1e-2, 5);

    let c2 = Conv2dConfig::new(2, 3, 3).stride(2).padding(1);
    let mut c = Conv::new_2d(&c2, 2, &mut rng).unwrap();
    check_forward_r(&mut c, &random_tensor(&[2, 2, 5, 6], 6), true, 1e-2, 7);
    let c1 = Conv1dConfig {
        padding: 1,
        dilation: 2,
        bias: false,
        ..Conv1dConfig::new(2, 3, 3)
    };
    let mut c = Conv::new_1d(&c1, 2, &mut rng).unwrap();
    check_forward_r(&mut c, &random_tensor(&[3, 2, 9], 8), true, 1e-2, 9);

    for (k, act) in [
        Activation::Relu,
        Activation::LeakyRelu {
            negative_slope: 0.2,
        },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Elu { alpha: 0.7 },
        Activation::Gelu,
        Activation::Silu,
        Activation::softplus(),
        Activation::Softplus {
            beta: 2.0,
            threshold: 1.0,
        },
    ]
    .into_iter()
    .enumerate()
    {
        // Inputs at least 0.1 from the kinks at 0 and 0.03 from softplus's threshold at 0.5,
        // farther than the stencil's 2h·|R{x}| ≤ 0.02.
        let mut a = ActivationLayer::new(act).unwrap();
        let mut x = random_tensor(&[3, 6], 10 + k as u64);
        x.data.iter_mut().for_each(|v| {
            if (v.abs() - 0.5).abs() < 0.03 {
                *v *= 1.15;
            }
        });
        check_forward_r(&mut a, &x, true, 1e-2, 20 + k as u64);
    }

    let mut p = Pool::max_2d(&Pool2dConfig::new(3).stride(2).padding(1)).unwrap();
    // Two values 0.05 apart move by at most 2·2h·1 = 0.02: no window changes its maximum.
    check_forward_r(&mut p, &distinct(&[2, 2, 5, 6], 1), true, 5e-3, 30);
    let mut p = Pool::max_1d(&Pool1dConfig::new(2)).unwrap();
    check_forward_r(&mut p, &distinct(&[2, 3, 7], 2), true, 5e-3, 31);
    let mut p = Pool::avg_2d(&Pool2dConfig::new(2).stride(1).padding(1)).unwrap();
    check_forward_r(&mut p, &random_tensor(&[2, 2, 4, 5], 3), true, 1e-2, 32);
    let mut p = Pool::avg_1d(&Pool1dConfig {
        kernel_size: 3,
        stride: Some(2),
        padding: 1,
    })
    .unwrap();
    check_forward_r(&mut p, &random_tensor(&[2, 2, 7], 4), true, 1e-2, 33);
    check_forward_r(
        &mut GlobalAvgPool::new(),
        &random_tensor(&[3, 2, 3, 3], 5),
        true,
        1e-2,
        34,
    );
    let mut f = Flatten::new(FlattenConfig::default()).unwrap();
    check_forward_r(&mut f, &random_tensor(&[2, 3, 2, 2], 6), true, 1e-2, 35);
    // Dropout: the step's mask (replayed), and the identity in evaluation.
    let mut d = Dropout::new(DropoutConfig { p: 0.4 }, Rng::new(7)).unwrap();
    check_forward_r(&mut d, &random_tensor(&[4, 5], 7), true, 1e-2, 36);
    check_forward_r(&mut d, &random_tensor(&[4, 5], 8), false, 1e-2, 37);

    // Batch norm: batch statistics in training (1-d, 1-d with a length, 2-d), running ones in
    // evaluation, and without affine parameters.
    for (dims, shape) in [(1, vec![6, 3]), (1, vec![3, 2, 4]), (2, vec![2, 3, 3, 2])] {
        let mut bn = BatchNorm::new(&BatchNormConfig::default(), dims, &shape[1..]).unwrap();
        let c = shape[1];
        bn.parameters_mut()[0].value = (0..c).map(|k| 0.5 + k as f32).collect();
        bn.parameters_mut()[1].value = (0..c).map(|k| k as f32 - 0.3).collect();
        check_forward_r(&mut bn, &random_tensor(&shape, 40), true, 1e-2, 41);
        check_forward_r(&mut bn, &random_tensor(&shape, 42), false, 1e-2, 43);
    }
    let cfg = BatchNormConfig {
        affine: false,
        ..Default::default()
    };
    let mut bn = BatchNorm::new(&cfg, 1, &[3]).unwrap();
    check_forward_r(&mut bn, &random_tensor(&[5, 3], 44), true, 1e-2, 45);

    // Residual blocks: identity and projection shortcuts, batch norm inside.
    let lin = |i, o| LayerConfig::Linear(LinearConfig::new(i, o));
    let cfg = ResidualConfig {
        body: vec![
            lin(3, 3),
            LayerConfig::BatchNorm1d(BatchNormConfig::default()),
            LayerConfig::Activation(Activation::Tanh),
        ],
        shortcut: None,
    };
    let mut r = cfg.build(&[3], &mut rng).unwrap();
    check_forward_r(&mut r, &random_tensor(&[5, 3], 46), true, 1e-2, 47);
    let cfg = ResidualConfig {
        body: vec![lin(3, 4), LayerConfig::Activation(Activation::Gelu)],
        shortcut: Some(vec![lin(3, 4)]),
    };
    let mut r = cfg.build(&[3], &mut rng).unwrap();
    check_forward_r(&mut r, &random_tensor(&[4, 3], 48), true, 1e-2, 49);
}

/// The loss of a test model: cross-entropy (label smoothing 0.1) or MSE.
enum TestLoss {
    Ce(CrossEntropyLoss, Vec<usize>),
    Mse(MseLoss, Tensor),
}

impl TestLoss {
    fn ce(n: usize, classes: usize) -> TestLoss {
        let ce = CrossEntropyLoss::new(CrossEntropyConfig {
            label_smoothing: 0.1,
        })
        .unwrap();
        TestLoss::Ce(ce, (0..n).map(|k| (k * 7 + 1) % classes).collect())
    }

    fn mse(n: usize, out: usize, seed: u64) -> TestLoss {
        TestLoss::Mse(MseLoss::new(), random_tensor(&[n, out], seed))
    }

    /// Loss and gradient at the model's weights (`train` mode, dropout masks from `rng`).
    fn gradient(&mut self, m: &mut Sequential, x: &Tensor, train: bool, rng: &[u64]) -> Vec<f64> {
        m.set_rng_state(rng).unwrap();
        m.zero_grad();
        let y = m.forward(x, train).clone();
        let dy = match self {
            TestLoss::Ce(ce, l) => {
                ce.forward(&y, l).unwrap();
                ce.grad().clone()
            }
            TestLoss::Mse(mse, t) => {
                mse.forward(&y, t).unwrap();
                mse.grad().clone()
            }
        };
        m.backward(&dy);
        (0..m.count())
            .flat_map(|i| f64s(m.grad(i).unwrap()))
            .collect()
    }

    /// `H v` by the R-operator (same masks).
    fn hvp(
        &mut self,
        m: &mut Sequential,
        x: &Tensor,
        train: bool,
        rng: &[u64],
        v: &[Vec<f32>],
    ) -> Vec<Vec<f32>> {
        m.set_rng_state(rng).unwrap();
        let y = m.forward(x, train).clone();
        let mut hv = Vec::new();
        match self {
            TestLoss::Ce(ce, l) => {
                ce.forward(&y, l).unwrap();
                let ry = m.forward_r(v).unwrap();
                ce.grad_r(&y, ry).unwrap();
                m.backward_r(ce.grad(), ce.last_grad_r(), v, &mut hv)
                    .unwrap();
            }
            TestLoss::Mse(mse, t) => {
                mse.forward(&y, t).unwrap();
                let ry = m.forward_r(v).unwrap();
                mse.grad_r(ry).unwrap();
                m.backward_r(mse.grad(), mse.last_grad_r(), v, &mut hv)
                    .unwrap();
            }
        }
        hv
    }
}

/// A unit direction over the model's parameters.
fn unit_direction(m: &Sequential, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<Vec<f32>> = (0..m.count())
        .map(|i| (0..m.value(i).len()).map(|_| rng.normal() as f32).collect())
        .collect();
    let n = v
        .iter()
        .flatten()
        .map(|&a| (a as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    v.iter_mut()
        .flatten()
        .for_each(|a| *a = (*a as f64 / n) as f32);
    v
}

/// Checks the model's `H v` (R-operator) against finite differences of its gradient along a
/// random unit `v`, in `train` mode (dropout masks replayed).
fn check_hvp(name: &str, mut m: Sequential, x: &Tensor, mut loss: TestLoss, train: bool, h: f32) {
    let rng = m.rng_state();
    let w0 = m.snapshot();
    let v = unit_direction(&m, 99);
    let fd = five_point(
        |t| {
            m.restore(&w0).unwrap();
            for (i, d) in v.iter().enumerate() {
                m.value_grad_mut(i)
                    .0
                    .iter_mut()
                    .zip(d)
                    .for_each(|(w, d)| *w += t * d);
            }
            loss.gradient(&mut m, x, train, &rng)
        },
        h,
    );
    m.restore(&w0).unwrap();
    let hv: Vec<f64> = loss
        .hvp(&mut m, x, train, &rng, &v)
        .iter()
        .flat_map(|h| f64s(h))
        .collect();
    let tol = if h >= 1e-2 { HVP_TOL } else { HVP_TOL_KINKED };
    assert_close(&format!("{name} H v (train: {train})"), &hv, &fd, tol);
}

fn lin(i: usize, o: usize) -> LayerConfig {
    LayerConfig::Linear(LinearConfig::new(i, o))
}

fn act(a: Activation) -> LayerConfig {
    LayerConfig::Activation(a)
}

#[test]
fn hvp_matches_finite_differences_of_the_gradient_for_every_layer() {
    let x = random_tensor(&[6, 4], 1);
    let model = |cfgs: &[LayerConfig], seed| Sequential::new(&[4], cfgs, seed).unwrap();
    // Linear alone (the Hessian comes from the loss), with MSE and cross-entropy.
    check_hvp(
        "linear+ce",
        model(&[lin(4, 3)], 1),
        &x,
        TestLoss::ce(6, 3),
        true,
        1e-2,
    );
    check_hvp(
        "linear+mse",
        model(&[lin(4, 3)], 1),
        &x,
        TestLoss::mse(6, 3, 5),
        true,
        1e-2,
    );
    // Each activation between two linear layers (its f'' and the R{x} paths of Linear).
    for (k, a) in [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Elu { alpha: 0.7 },
        Activation::Gelu,
        Activation::Silu,
        Activation::softplus(),
        Activation::Softplus {
            beta: 2.0,
            threshold: 1.0,
        },
        Activation::Relu,
        Activation::LeakyRelu {
            negative_slope: 0.2,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let m = model(&[lin(4, 5), act(a), lin(5, 3)], 10 + k as u64);
        let kinked = matches!(a, Activation::Relu | Activation::LeakyRelu { .. });
        let h = if kinked { 1e-3 } else { 1e-2 };
        check_hvp(a.name(), m, &x, TestLoss::ce(6, 3), true, h);
    }
    // Dropout: the step's masks; batch norm in training and evaluation mode.
    let m = model(
        &[
            lin(4, 6),
            act(Activation::Tanh),
            LayerConfig::Dropout(DropoutConfig { p: 0.3 }),
            lin(6, 3),
        ],
        20,
    );
    check_hvp("dropout", m, &x, TestLoss::ce(6, 3), true, 1e-2);
    let bn = [
        lin(4, 5),
        LayerConfig::BatchNorm1d(BatchNormConfig::default()),
        act(Activation::Tanh),
        lin(5, 3),
    ];
    check_hvp(
        "batch_norm1d",
        model(&bn, 21),
        &x,
        TestLoss::ce(6, 3),
        true,
        1e-2,
    );
    let mut m = model(&bn, 21);
    // Running statistics that are not the batch's.
    m.forward(&random_tensor(&[6, 4], 2), true);
    check_hvp("batch_norm1d", m, &x, TestLoss::mse(6, 3, 6), false, 1e-2);
    // Residual blocks.
    let res = [
        lin(4, 5),
        act(Activation::Tanh),
        LayerConfig::Residual(ResidualConfig {
            body: vec![
                lin(5, 5),
                LayerConfig::BatchNorm1d(BatchNormConfig::default()),
                act(Activation::Gelu),
            ],
            shortcut: None,
        }),
        LayerConfig::Residual(ResidualConfig {
            body: vec![lin(5, 4), act(Activation::Silu)],
            shortcut: Some(vec![lin(5, 4)]),
        }),
        lin(4, 3),
    ];
    check_hvp(
        "residual",
        model(&res, 22),
        &x,
        TestLoss::ce(6, 3),
        true,
        1e-2,
    );

    // Convolutions and pooling.
    let img = random_tensor(&[4, 2, 6, 6], 3);
    let conv = |i, o, k, p| LayerConfig::Conv2d(Conv2dConfig::new(i, o, k).padding(p));
    let cnn = |pool: LayerConfig, flat| {
        Sequential::new(
            &[2, 6, 6],
            &[
                conv(2, 3, 3, 1),
                act(Activation::Tanh),
                pool,
                conv(3, 2, 2, 0),
                LayerConfig::BatchNorm2d(BatchNormConfig::default()),
                act(Activation::Softplus {
                    beta: 1.5,
                    threshold: 20.0,
                }),
                LayerConfig::Flatten(FlattenConfig::default()),
                lin(flat, 3),
            ],
            30,
        )
        .unwrap()
    };
    check_hvp(
        "conv2d+avg_pool2d",
        cnn(LayerConfig::AvgPool2d(Pool2dConfig::new(2)), 8),
        &img,
        TestLoss::ce(4, 3),
        true,
        1e-2,
    );
    // Max pooling: h small enough that no window changes its maximum (checked by the match).
    check_hvp(
        "conv2d+max_pool2d",
        cnn(LayerConfig::MaxPool2d(Pool2dConfig::new(2)), 8),
        &img,
        TestLoss::ce(4, 3),
        true,
        1e-3,
    );
    let gap = Sequential::new(
        &[2, 6, 6],
        &[
            conv(2, 3, 3, 0),
            LayerConfig::BatchNorm2d(BatchNormConfig::default()),
            act(Activation::Silu),
            LayerConfig::GlobalAvgPool,
            lin(3, 2),
        ],
        31,
    )
    .unwrap();
    check_hvp(
        "global_avg_pool",
        gap,
        &img,
        TestLoss::mse(4, 2, 7),
        true,
        1e-2,
    );
    let seq = random_tensor(&[4, 2, 10], 4);
    let c1 = |i, o, k| {
        LayerConfig::Conv1d(Conv1dConfig {
            padding: 1,
            ..Conv1dConfig::new(i, o, k)
        })
    };
    let one_d = |pool: LayerConfig, flat| {
        Sequential::new(
            &[2, 10],
            &[
                c1(2, 3, 3),
                act(Activation::Elu { alpha: 1.0 }),
                pool,
                c1(3, 2, 2),
                LayerConfig::BatchNorm1d(BatchNormConfig::default()),
                act(Activation::Sigmoid),
                LayerConfig::Flatten(FlattenConfig::default()),
                lin(flat, 3),
            ],
            32,
        )
        .unwrap()
    };
    check_hvp(
        "conv1d+avg_pool1d",
        one_d(LayerConfig::AvgPool1d(Pool1dConfig::new(2)), 12),
        &seq,
        TestLoss::ce(4, 3),
        true,
        1e-2,
    );
    check_hvp(
        "conv1d+max_pool1d",
        one_d(LayerConfig::MaxPool1d(Pool1dConfig::new(2)), 12),
        &seq,
        TestLoss::mse(4, 3, 8),
        true,
        1e-3,
    );
}

/// Models with every layer kind: `⟨u, Hv⟩ = ⟨v, Hu⟩` to f32 rounding, in training mode (batch
/// statistics, the step's dropout masks) and in evaluation mode.
#[test]
fn hessian_is_symmetric_on_models_with_every_layer_kind() {
    let two_d = Sequential::new(
        &[2, 8, 8],
        &[
            LayerConfig::Conv2d(Conv2dConfig::new(2, 4, 3).padding(1)),
            LayerConfig::BatchNorm2d(BatchNormConfig::default()),
            act(Activation::Relu),
            LayerConfig::MaxPool2d(Pool2dConfig::new(2)),
            LayerConfig::Residual(ResidualConfig {
                body: vec![
                    LayerConfig::Conv2d(Conv2dConfig::new(4, 4, 3).padding(1)),
                    LayerConfig::BatchNorm2d(BatchNormConfig::default()),
                    act(Activation::Gelu),
                ],
                shortcut: None,
            }),
            LayerConfig::AvgPool2d(Pool2dConfig::new(2)),
            LayerConfig::Dropout(DropoutConfig { p: 0.2 }),
            LayerConfig::Flatten(FlattenConfig::default()),
            lin(16, 8),
            LayerConfig::BatchNorm1d(BatchNormConfig::default()),
            act(Activation::softplus()),
            LayerConfig::Residual(ResidualConfig {
                body: vec![lin(8, 6), act(Activation::Silu)],
                shortcut: Some(vec![lin(8, 6)]),
            }),
            lin(6, 3),
        ],
        1,
    )
    .unwrap();
    let one_d = Sequential::new(
        &[2, 12],
        &[
            LayerConfig::Conv1d(Conv1dConfig {
                padding: 1,
                ..Conv1dConfig::new(2, 3, 3)
            }),
            LayerConfig::BatchNorm1d(BatchNormConfig::default()),
            act(Activation::elu()),
            LayerConfig::MaxPool1d(Pool1dConfig::new(2)),
            LayerConfig::AvgPool1d(Pool1dConfig::new(2)),
            LayerConfig::Conv1d(Conv1dConfig::new(3, 4, 2)),
            act(Activation::Tanh),
            LayerConfig::GlobalAvgPool,
            lin(4, 5),
            act(Activation::Sigmoid),
            act(Activation::leaky_relu()),
            lin(5, 3),
        ],
        2,
    )
    .unwrap();
    let cases = [
        (
            "2-d",
            two_d,
            random_tensor(&[6, 2, 8, 8], 3),
            TestLoss::ce(6, 3),
        ),
        (
            "1-d",
            one_d,
            random_tensor(&[6, 2, 12], 4),
            TestLoss::mse(6, 3, 5),
        ),
    ];
    for (name, mut m, x, mut loss) in cases {
        let rng = m.rng_state();
        let (u, v) = (unit_direction(&m, 7), unit_direction(&m, 8));
        for train in [true, false] {
            let hv = loss.hvp(&mut m, &x, train, &rng, &v);
            let hu = loss.hvp(&mut m, &x, train, &rng, &u);
            let dot = |a: &[Vec<f32>], b: &[Vec<f32>]| -> f64 {
                a.iter()
                    .flatten()
                    .zip(b.iter().flatten())
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum()
            };
            let (uhv, vhu) = (dot(&u, &hv), dot(&v, &hu));
            let scale = dot(&hv, &hv).sqrt().max(dot(&hu, &hu).sqrt());
            assert!(scale > 1e-3, "{name}: a vanishing H v proves nothing");
            assert!(
                (uhv - vhu).abs() <= SYM_TOL * scale,
                "{name} (train: {train}): ⟨u, Hv⟩ = {uhv} but ⟨v, Hu⟩ = {vhu}"
            );
            // The R-passes leave the parameter gradients alone.
            assert!((0..m.count()).all(|i| m.grad(i).unwrap().iter().all(|&g| g == 0.0)));
        }
    }
}

#[test]
fn loss_r_operators_match_finite_differences_of_their_gradients() {
    let z = random_tensor(&[3, 4], 1);
    let rz = random_tensor(&[3, 4], 2);
    let mut ce = CrossEntropyLoss::new(CrossEntropyConfig {
        label_smoothing: 0.2,
    })
    .unwrap();
    let labels = [2, 0, 3];
    let fd = five_point(
        |t| {
            let mut zt = z.clone();
            zt.data
                .iter_mut()
                .zip(&rz.data)
                .for_each(|(a, r)| *a += t * r);
            ce.forward(&zt, &labels).unwrap();
            f64s(&ce.grad().data)
        },
        1e-2,
    );
    ce.forward(&z, &labels).unwrap();
    let got = f64s(&ce.grad_r(&z, &rz).unwrap().data);
    assert_close("cross-entropy R{grad}", &got, &fd, 1e-4);
    assert!(ce.grad_r(&z, &random_tensor(&[3, 5], 3)).is_err());
    let mut mse = MseLoss::new();
    mse.forward(&z, &rz).unwrap();
    let got = f64s(&mse.grad_r(&z).unwrap().data);
    let want: Vec<f64> = z.data.iter().map(|&v| v as f64 / 6.0).collect();
    assert_close("mse R{grad}", &got, &want, 1e-6);
    assert!(mse.grad_r(&random_tensor(&[4, 3], 4)).is_err());
}

/// A layer without an R-operator, directions that do not fit, and a model without parameters
/// are errors, not panics.
#[test]
fn unsupported_layers_and_mismatched_directions_are_errors() {
    struct Custom;
    impl Layer for Custom {
        fn kind(&self) -> &'static str {
            "custom"
        }
        fn out_shape(&self, s: &[usize]) -> crate::Result<Vec<usize>> {
            Ok(s.to_vec())
        }
        fn forward(&mut self, _x: &Tensor, _train: bool) -> &Tensor {
            unreachable!()
        }
        fn backward(&mut self, _dy: &Tensor) -> &Tensor {
            unreachable!()
        }
    }
    let x = random_tensor(&[3, 2], 1);
    let e = Custom.forward_r(None, &[]).unwrap_err().to_string();
    assert!(e.contains("`custom` has no R-operator"), "{e}");
    let dy = random_tensor(&[3, 2], 2);
    assert!(Custom.backward_r(&dy, &dy, &[], &mut [], true).is_err());
    let mut lin = Sequential::new(&[2], &[lin(2, 2)], 0).unwrap();
    lin.forward(&x, true);
    let v = unit_direction(&lin, 1);
    let e = lin.forward_r(&v[..1]).unwrap_err().to_string();
    assert!(
        e.contains("1 directions for a model with 2 parameters"),
        "{e}"
    );
    let e = lin
        .forward_r(&[v[0].clone(), vec![0.0; 3]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`0.bias` has 3 values"), "{e}");
    let mut hv = Vec::new();
    assert!(lin
        .backward_r(&dy, &random_tensor(&[2, 2], 3), &v, &mut hv)
        .is_err());
    let mut flat = Sequential::new(&[2], &[act(Activation::Tanh)], 0).unwrap();
    flat.forward(&x, true);
    let e = flat.forward_r(&[]).unwrap_err().to_string();
    assert!(e.contains("no parameters"), "{e}");
}

/// Convolutions large enough to split their batch across threads (30·16·36·180 multiply-adds
/// per product, above the threshold; one with, one without the input-side results) give the
/// same `H v` on three threads as on one, up to the order of the sums.
#[test]
fn batch_split_across_threads_gives_the_same_product() {
    let cfgs = [
        LayerConfig::Conv2d(Conv2dConfig::new(4, 4, 3).padding(1)),
        act(Activation::Tanh),
        LayerConfig::Conv2d(Conv2dConfig::new(4, 16, 3).padding(1)),
        act(Activation::Tanh),
        LayerConfig::Conv2d(Conv2dConfig::new(16, 8, 3).padding(1).stride(2)),
        act(Activation::Gelu),
        LayerConfig::GlobalAvgPool,
        lin(8, 3),
    ];
    let x = random_tensor(&[30, 4, 12, 15], 1);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut m = Sequential::new(&[4, 12, 15], &cfgs, 2).unwrap();
            let v = unit_direction(&m, 3);
            let rng = m.rng_state();
            let hv = TestLoss::ce(30, 3).hvp(&mut m, &x, true, &rng, &v);
            hv.iter().flat_map(|h| f64s(h)).collect::<Vec<f64>>()
        })
    };
    let (one, three) = (run(1), run(3));
    assert_close("3 threads vs 1", &three, &one, 1e-5);
}
