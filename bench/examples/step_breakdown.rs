//! Where a training step's time goes, per phase, for an MLP (default: the bench's W0,
//! 40-100-100-10, batch 32): `cargo run --release -p bench --example step_breakdown [in,h1,..,out] [batch]`.
use std::time::Instant;

use nn::{
    Activation, CrossEntropyConfig, CrossEntropyLoss, LayerConfig, LinearConfig, Rng, Sequential,
    Tensor,
};

fn main() {
    let widths: Vec<usize> = std::env::args().nth(1).map_or(vec![40, 100, 100, 10], |s| {
        s.split(',').map(|v| v.parse().unwrap()).collect()
    });
    let batch: usize = std::env::args().nth(2).map_or(32, |s| s.parse().unwrap());
    let mut layers = Vec::new();
    for (k, &w) in widths[1..].iter().enumerate() {
        layers.push(LayerConfig::Linear(LinearConfig {
            out_features: w,
            ..Default::default()
        }));
        if k + 2 < widths.len() {
            layers.push(LayerConfig::Activation(Activation::Relu));
        }
    }
    let mut model = Sequential::new(&widths[..1], &layers, 0).unwrap();
    let mut rng = Rng::new(1);
    let x = Tensor::from_vec(
        &[batch, widths[0]],
        (0..batch * widths[0])
            .map(|_| rng.normal() as f32)
            .collect(),
    )
    .unwrap();
    let labels: Vec<usize> = (0..batch).map(|i| i % widths[widths.len() - 1]).collect();
    let recipe = optim::optimizers::adam::AdamConfig::default()
        .recipe::<f32>()
        .unwrap();
    let mut opt = optim::Optimizer::new(recipe, &model).unwrap();
    let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
    let mut t = [0f64; 5];
    let steps = 20000;
    for s in 0..steps + 100 {
        let t0 = Instant::now();
        let y = model.forward(&x, true);
        let t1 = Instant::now();
        ce.forward(y, &labels).unwrap();
        let t2 = Instant::now();
        model.backward_params(ce.grad());
        let t3 = Instant::now();
        opt.step(&mut model).unwrap();
        let t4 = Instant::now();
        model.clear_grads();
        let t5 = Instant::now();
        if s >= 100 {
            for (acc, d) in t
                .iter_mut()
                .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4])
            {
                *acc += d.as_secs_f64();
            }
        }
    }
    let names = ["forward", "loss", "backward", "adam", "clear_grads"];
    let total: f64 = t.iter().sum();
    for (n, v) in names.iter().zip(t) {
        println!("{n:<10} {:8.2} µs", v / steps as f64 * 1e6);
    }
    println!(
        "{:<10} {:8.2} µs ({:.0} steps/s)",
        "total",
        total / steps as f64 * 1e6,
        steps as f64 / total
    );
}
