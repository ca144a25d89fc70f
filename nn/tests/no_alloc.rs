//! The steady-state training step (forward, loss, backward, zero_grad) allocates nothing once
//! shapes are stable: counted with a global allocator that tallies this thread's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use nn::{
    Activation, CrossEntropyConfig, CrossEntropyLoss, LayerConfig, LinearConfig, Sequential, Tensor,
};

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count() -> usize {
    COUNT.with(|c| c.get())
}

fn allocations_per_step(model: &mut Sequential, x: &Tensor, labels: &[usize]) -> usize {
    let mut ce = CrossEntropyLoss::new(CrossEntropyConfig {
        label_smoothing: 0.1,
    })
    .unwrap();
    let mut norms = vec![0.0f32; x.batch()];
    let mut step = |model: &mut Sequential| {
        model.zero_grad();
        norms.iter_mut().for_each(|v| *v = 0.0);
        let y = model.forward(x, true);
        let loss = ce.forward(y, labels).unwrap();
        model.backward_with_stats(ce.grad(), &mut norms).unwrap();
        assert!(loss.is_finite());
    };
    for _ in 0..2 {
        step(model);
    }
    let before = count();
    for _ in 0..5 {
        step(model);
    }
    (count() - before) / 5
}

fn input() -> (Tensor, Vec<usize>) {
    let x = Tensor::from_vec(
        &[32, 3, 4],
        (0..384).map(|i| (i as f32 * 0.37).sin()).collect(),
    )
    .unwrap();
    (x, (0..32).map(|i| i % 3).collect())
}

/// Everything the engine itself does in a step (layer buffers, masks, loss) reuses its buffers.
#[test]
fn steady_state_step_of_parameter_free_layers_does_not_allocate() {
    let mut model = Sequential::new(
        &[3, 4],
        &[
            LayerConfig::Flatten(Default::default()),
            LayerConfig::Activation(Activation::Gelu),
            LayerConfig::Dropout(Default::default()),
            LayerConfig::Activation(Activation::softplus()),
        ],
        7,
    )
    .unwrap();
    let (x, _) = input();
    let labels: Vec<usize> = (0..32).map(|i| i % 12).collect();
    assert_eq!(allocations_per_step(&mut model, &x, &labels), 0);
}

/// With linear layers the only allocations left are gemm's own per-call packing scratch (its
/// general kernel allocates a small scratch buffer and a flag vector per product): at most two
/// per product, three products per linear layer, and the same count every step.
#[test]
fn steady_state_step_allocates_only_inside_gemm() {
    let mut model = Sequential::new(
        &[3, 4],
        &[
            LayerConfig::Flatten(Default::default()),
            LayerConfig::Linear(LinearConfig {
                out_features: 40,
                ..Default::default()
            }),
            LayerConfig::Activation(Activation::Gelu),
            LayerConfig::Dropout(Default::default()),
            LayerConfig::Linear(LinearConfig {
                out_features: 3,
                ..Default::default()
            }),
        ],
        7,
    )
    .unwrap();
    let (x, labels) = input();
    let n = allocations_per_step(&mut model, &x, &labels);
    eprintln!("{n} allocations per step (inside gemm)");
    assert!(n <= 2 * 3 * 2, "{n} allocations per step");
    assert_eq!(allocations_per_step(&mut model, &x, &labels), n);
}
