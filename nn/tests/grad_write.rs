//! The first backward after [`Sequential::clear_grads`] writes the gradients instead of adding
//! to zeros (issue 15). Training with it must give the same bits as the old path, `zero_grad`
//! (a pass writing zeros) followed by backward passes that add: compared here for every layer
//! kind that owns parameters (linear, 2-d convolution on one and on several parallel parts,
//! batch norm, a residual block), with two backward passes per step adding up (accumulation
//! into `.grad`, as PyTorch does over micro-batches) and with the optimizer crate's
//! `GradAccumulator`, over several Adam steps; every gradient and weight compared by its bits
//! (the sign of zero included).

use nn::{
    Activation, BatchNormConfig, Conv2dConfig, CrossEntropyConfig, CrossEntropyLoss, FlattenConfig,
    LayerConfig, LinearConfig, ResidualConfig, Sequential, Tensor,
};
use optim::{GradAccumulator, Optimizer, Params};

fn conv(out_channels: usize) -> LayerConfig {
    LayerConfig::Conv2d(Conv2dConfig {
        out_channels,
        kernel_size: [3, 3],
        padding: [1, 1],
        ..Default::default()
    })
}

/// conv-BN-ReLU, a residual block (conv-ReLU body, identity shortcut), then a ReLU MLP head.
fn model(channels: usize, side: usize) -> Sequential {
    Sequential::new(
        &[2, side, side],
        &[
            conv(channels),
            LayerConfig::BatchNorm2d(BatchNormConfig::default()),
            LayerConfig::Activation(Activation::Relu),
            LayerConfig::Residual(ResidualConfig {
                body: vec![conv(channels), LayerConfig::Activation(Activation::Relu)],
                shortcut: None,
            }),
            LayerConfig::Flatten(FlattenConfig::default()),
            LayerConfig::Linear(LinearConfig {
                out_features: 8,
                ..Default::default()
            }),
            LayerConfig::Activation(Activation::Relu),
            LayerConfig::Linear(LinearConfig {
                out_features: 3,
                ..Default::default()
            }),
        ],
        7,
    )
    .unwrap()
}

/// A deterministic batch `[n, 2, side, side]` with labels; ReLU zeros and exact zeros in the
/// input make zero (and negative-zero) gradient contributions likely.
fn batch(n: usize, side: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let data: Vec<f32> = (0..n * 2 * side * side)
        .map(|_| {
            let r = next();
            if r % 5 == 0 {
                0.0
            } else {
                ((r >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            }
        })
        .collect();
    let labels = (0..n).map(|_| (next() % 3) as usize).collect();
    (Tensor::from_vec(&[n, 2, side, side], data).unwrap(), labels)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn grads(m: &Sequential) -> Vec<Vec<u32>> {
    (0..m.count()).map(|i| bits(m.grad(i).unwrap())).collect()
}

fn weights(m: &Sequential) -> Vec<Vec<u32>> {
    m.snapshot().iter().map(|v| bits(v)).collect()
}

fn adam(m: &Sequential) -> Optimizer<f32> {
    let recipe = optim::optimizers::adam::AdamConfig {
        lr: 1e-2,
        ..Default::default()
    }
    .recipe::<f32>()
    .unwrap();
    Optimizer::new(recipe, m).unwrap()
}

/// How the step starts: the old path or the new one.
#[derive(Clone, Copy, PartialEq)]
enum Clear {
    Zero,
    Absent,
}

fn clear(m: &mut Sequential, how: Clear) {
    match how {
        Clear::Zero => m.zero_grad(),
        Clear::Absent => m.clear_grads(),
    }
}

/// `steps` Adam steps, each over `micro` batches whose gradients add up in the model's
/// buffers; returns the gradients of every step and the final weights.
fn train_adding(
    how: Clear,
    channels: usize,
    side: usize,
    n: usize,
    steps: usize,
    micro: usize,
) -> (Vec<Vec<Vec<u32>>>, Vec<Vec<u32>>) {
    let mut m = model(channels, side);
    let mut opt = adam(&m);
    let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
    let mut seen = Vec::new();
    for s in 0..steps {
        clear(&mut m, how);
        for k in 0..micro {
            let (x, y) = batch(n, side, (s * micro + k) as u64);
            let out = m.forward(&x, true);
            ce.forward(out, &y).unwrap();
            m.backward_params(ce.grad());
        }
        seen.push(grads(&m));
        opt.step(&mut m).unwrap();
    }
    (seen, weights(&m))
}

/// The same with the optimizer crate's accumulator: the model's gradients are cleared before
/// every micro-batch, and the accumulator hands the optimizer their mean.
fn train_accumulator(how: Clear, steps: usize, micro: usize) -> Vec<Vec<u32>> {
    let (channels, side, n) = (3, 5, 6);
    let mut m = model(channels, side);
    let mut opt = adam(&m);
    let mut acc = GradAccumulator::new(micro).unwrap();
    let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
    let mut k = 0;
    for _ in 0..steps {
        loop {
            clear(&mut m, how);
            let (x, y) = batch(n, side, 100 + k);
            k += 1;
            let out = m.forward(&x, true);
            ce.forward(out, &y).unwrap();
            m.backward_params(ce.grad());
            if acc.add(&mut m).unwrap() {
                break;
            }
        }
        opt.step(&mut m).unwrap();
    }
    weights(&m)
}

#[test]
fn written_gradients_equal_zeroed_and_added_bit_for_bit() {
    for micro in [1, 3] {
        let old = train_adding(Clear::Zero, 3, 5, 6, 4, micro);
        let new = train_adding(Clear::Absent, 3, 5, 6, 4, micro);
        for (s, (a, b)) in old.0.iter().zip(&new.0).enumerate() {
            assert!(a == b, "{micro} micro-batches, step {s}: gradients differ");
        }
        assert!(old.1 == new.1, "{micro} micro-batches: weights differ");
        // The steps did move the weights.
        assert!(old.1 != weights(&model(3, 5)));
    }
}

/// A convolution large enough to split its backward pass into parallel parts (reduced in
/// order into the gradient; the first part writes).
#[test]
fn written_gradients_equal_on_parallel_convolution_parts() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        let old = train_adding(Clear::Zero, 8, 12, 32, 2, 2);
        let new = train_adding(Clear::Absent, 8, 12, 32, 2, 2);
        assert!(old == new, "gradients or weights differ");
    });
}

#[test]
fn accumulator_over_written_gradients_is_bit_identical() {
    let old = train_accumulator(Clear::Zero, 3, 2);
    let new = train_accumulator(Clear::Absent, 3, 2);
    assert!(old == new, "weights differ");
}

/// After `clear_grads` nothing can read a stale gradient: every gradient is absent (an
/// optimizer step changes nothing), `zero_grad` still gives zeros, and the next backward
/// writes.
#[test]
fn cleared_gradients_are_absent_until_written() {
    let mut m = model(3, 5);
    let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
    let (x, y) = batch(4, 5, 1);
    let out = m.forward(&x, true);
    ce.forward(out, &y).unwrap();
    m.backward_params(ce.grad());
    let first = grads(&m);
    m.clear_grads();
    assert!((0..m.count()).all(|i| m.grad(i).is_none()));
    let before = weights(&m);
    let mut opt = adam(&m);
    opt.step(&mut m).unwrap();
    assert!(
        weights(&m) == before,
        "a step on absent gradients moved weights"
    );
    // A second clear then zero_grad: present zeros.
    m.zero_grad();
    assert!((0..m.count()).all(|i| m.grad(i).unwrap().iter().all(|&g| g == 0.0)));
    // Clear, then backward twice: the sum of two equal contributions.
    m.clear_grads();
    for _ in 0..2 {
        let out = m.forward(&x, true);
        ce.forward(out, &y).unwrap();
        m.backward_params(ce.grad());
    }
    let doubled = grads(&m);
    m.zero_grad();
    for _ in 0..2 {
        let out = m.forward(&x, true);
        ce.forward(out, &y).unwrap();
        m.backward_params(ce.grad());
    }
    assert!(grads(&m) == doubled);
    assert!(doubled != first);
}
