//! The steady-state training step (forward, loss, backward, optimizer step, clear_grads or
//! zero_grad)
//! allocates nothing once shapes are stable: counted with a global allocator that tallies
//! allocations on every thread (rayon workers included).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nn::{
    Activation, Conv2dConfig, CrossEntropyConfig, CrossEntropyLoss, FlattenConfig, LayerConfig,
    LinearConfig, Pool2dConfig, Sequential, Tensor,
};

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

thread_local! {
    /// The generation of the measuring pool this thread works for (0: none).
    static TRACKED: Cell<usize> = const { Cell::new(0) };
}

/// Allocations on the threads of the current measuring pool. Counting every thread made the
/// test flaky (about one run in four failed with a handful of allocations): the test harness's
/// own thread allocates while it reports finished tests, and so do tests running beside this
/// one. Counting every pool's threads left it flaky (about one run in four or eight counted one
/// allocation): a dropped `ThreadPool` does not join its workers, and a worker of the previous
/// measurement's pool allocates as it exits (crossbeam-epoch hands its thread-local garbage bag
/// to the global queue) while the next measurement counts. So each pool gets a new generation
/// and only its threads count. Tests that read it also hold `GLOBAL_LOCK`.
static ALL: AtomicUsize = AtomicUsize::new(0);
static GENERATION: AtomicUsize = AtomicUsize::new(0);
static GLOBAL_LOCK: Mutex<()> = Mutex::new(());

fn tracked() -> bool {
    let g = TRACKED.try_with(Cell::get).unwrap_or(0);
    g != 0 && g == GENERATION.load(Ordering::Relaxed)
}

/// A rayon pool of `threads` whose workers' allocations `ALL` counts (and no earlier pool's).
fn measuring_pool(threads: usize) -> rayon::ThreadPool {
    let generation = GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |_| TRACKED.with(|t| t.set(generation)))
        .build()
        .unwrap()
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        if tracked() {
            ALL.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        if tracked() {
            ALL.fetch_add(1, Ordering::Relaxed);
        }
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

/// With linear layers too: the products pack into per-thread scratch that is kept, so nothing
/// is allocated once the first steps have sized every buffer.
#[test]
fn steady_state_step_with_linear_layers_does_not_allocate() {
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
    assert_eq!(allocations_per_step(&mut model, &x, &labels), 0);
}

fn linear(out: usize) -> LayerConfig {
    LayerConfig::Linear(LinearConfig {
        out_features: out,
        ..Default::default()
    })
}

fn relu() -> LayerConfig {
    LayerConfig::Activation(Activation::Relu)
}

/// Allocations (on any thread) per full training step — forward, cross-entropy, backward of the
/// parameters, Adam, clear_grads (the trainer's) — after warm-up, with the work on a rayon pool of `threads`.
fn training_step_allocations(
    in_shape: &[usize],
    layers: &[LayerConfig],
    batch: usize,
    threads: usize,
) -> usize {
    let _guard = GLOBAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut model = Sequential::new(in_shape, layers, 3).unwrap();
    let shape: Vec<usize> = std::iter::once(batch)
        .chain(in_shape.iter().copied())
        .collect();
    let n: usize = shape.iter().product();
    let mut x =
        Tensor::from_vec(&shape, (0..n).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap();
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let recipe = optim::optimizers::adam::AdamConfig::default()
        .recipe::<f32>()
        .unwrap();
    let mut opt = optim::Optimizer::new(recipe, &model).unwrap();
    let mut ce = CrossEntropyLoss::new(CrossEntropyConfig::default()).unwrap();
    let pool = measuring_pool(threads);
    // Each worker sizes its product scratch on its first product; which worker runs a small
    // product is up to the scheduler, so give every worker one before counting.
    pool.broadcast(|_| {
        let mut y = [0.0f32; 4];
        nn::matmul::x_wt(&[1.0; 4], &[1.0; 4], &mut y, 2, 2, 2);
    });
    pool.install(|| {
        let mut step = |model: &mut Sequential| {
            // As the trainer calls it (a leading Flatten reshapes `x` in place).
            let y = model.forward_mut(&mut x, true);
            let loss = ce.forward(y, &labels).unwrap();
            model.backward_params(ce.grad());
            opt.step(model).unwrap();
            model.clear_grads();
            assert!(loss.is_finite());
        };
        for _ in 0..5 {
            step(&mut model);
        }
        // The counter sees allocations made here.
        let probe = ALL.load(Ordering::SeqCst);
        drop(std::hint::black_box(vec![1u8; 3]));
        assert!(ALL.load(Ordering::SeqCst) > probe);
        let before = ALL.load(Ordering::SeqCst);
        for _ in 0..3 {
            step(&mut model);
        }
        ALL.load(Ordering::SeqCst) - before
    })
}

/// W0-like MLP (the bench's 40-100-100-10, batch 32): one thread and two.
#[test]
fn mlp_training_step_does_not_allocate() {
    let layers = [linear(100), relu(), linear(100), relu(), linear(10)];
    for threads in [1, 2] {
        let n = training_step_allocations(&[40], &layers, 32, threads);
        assert_eq!(n, 0, "{threads} thread(s)");
    }
    // Large enough that products and activations split across the pool (W1-like, narrower).
    let wide = [linear(512), relu(), linear(256), relu(), linear(10)];
    assert_eq!(training_step_allocations(&[200], &wide, 64, 2), 0);
    // An MLP over images: the leading Flatten reshapes the caller's batch in place.
    let images = [
        LayerConfig::Flatten(FlattenConfig::default()),
        linear(64),
        relu(),
        linear(10),
    ];
    assert_eq!(training_step_allocations(&[1, 8, 8], &images, 32, 1), 0);
}

/// A small CNN (conv-relu-pool twice, linear head); on two threads the second convolution
/// (32·16·72·100 multiply-adds) is split across the batch.
#[test]
fn cnn_training_step_does_not_allocate() {
    let conv = |i, o| LayerConfig::Conv2d(Conv2dConfig::new(i, o, 3).padding(1));
    let layers = [
        conv(1, 8),
        relu(),
        LayerConfig::MaxPool2d(Pool2dConfig::new(2)),
        conv(8, 16),
        relu(),
        LayerConfig::MaxPool2d(Pool2dConfig::new(2)),
        LayerConfig::Flatten(FlattenConfig::default()),
        linear(32),
        relu(),
        linear(10),
    ];
    for threads in [1, 2] {
        let n = training_step_allocations(&[1, 20, 20], &layers, 32, threads);
        assert_eq!(n, 0, "{threads} thread(s)");
    }
}

/// Allocations per exact Hessian-vector product (forward, loss, R-forward, the loss's R-operator,
/// R-backward; `nn::rop`), alternating with ordinary training steps, after warm-up: the
/// R-buffers are the layers' own and are reused.
fn hvp_allocations(
    in_shape: &[usize],
    layers: &[LayerConfig],
    batch: usize,
    threads: usize,
) -> usize {
    let _guard = GLOBAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut model = Sequential::new(in_shape, layers, 5).unwrap();
    let shape: Vec<usize> = std::iter::once(batch)
        .chain(in_shape.iter().copied())
        .collect();
    let n: usize = shape.iter().product();
    let x = Tensor::from_vec(&shape, (0..n).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap();
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let mut ce = CrossEntropyLoss::new(CrossEntropyConfig {
        label_smoothing: 0.1,
    })
    .unwrap();
    let v: Vec<Vec<f32>> = (0..optim::Params::<f32>::count(&model))
        .map(|i| {
            let len = optim::Params::<f32>::value(&model, i).len();
            (0..len).map(|j| ((i + j) as f32 * 0.11).cos()).collect()
        })
        .collect();
    let mut hv = Vec::new();
    let mut y = Tensor::default();
    let pool = measuring_pool(threads);
    pool.broadcast(|_| {
        let mut y = [0.0f32; 4];
        nn::matmul::x_wt(&[1.0; 4], &[1.0; 4], &mut y, 2, 2, 2);
    });
    pool.install(|| {
        let mut step = |model: &mut Sequential| {
            model.clear_grads();
            ce.forward(model.forward(&x, true), &labels).unwrap();
            model.backward_params(ce.grad());
            y.copy_from(model.forward(&x, true));
            ce.forward(&y, &labels).unwrap();
            let ry = model.forward_r(&v).unwrap();
            ce.grad_r(&y, ry).unwrap();
            model
                .backward_r(ce.grad(), ce.last_grad_r(), &v, &mut hv)
                .unwrap();
            assert!(hv.iter().flatten().all(|h| h.is_finite()));
        };
        for _ in 0..3 {
            step(&mut model);
        }
        // The counter sees allocations made here.
        let probe = ALL.load(Ordering::SeqCst);
        drop(std::hint::black_box(vec![1u8; 3]));
        assert!(ALL.load(Ordering::SeqCst) > probe);
        let before = ALL.load(Ordering::SeqCst);
        for _ in 0..3 {
            step(&mut model);
        }
        ALL.load(Ordering::SeqCst) - before
    })
}

/// Every layer kind, on one thread and two (the CNN's products split across the pool).
#[test]
fn hessian_vector_product_does_not_allocate() {
    let conv = |i, o| LayerConfig::Conv2d(Conv2dConfig::new(i, o, 3).padding(1));
    let bn2 = LayerConfig::BatchNorm2d(nn::BatchNormConfig::default());
    let layers = [
        conv(1, 8),
        bn2.clone(),
        relu(),
        LayerConfig::MaxPool2d(Pool2dConfig::new(2)),
        LayerConfig::Residual(nn::ResidualConfig {
            body: vec![conv(8, 8), bn2, LayerConfig::Activation(Activation::Gelu)],
            shortcut: None,
        }),
        LayerConfig::AvgPool2d(Pool2dConfig::new(2)),
        LayerConfig::Dropout(Default::default()),
        LayerConfig::Flatten(FlattenConfig::default()),
        linear(32),
        LayerConfig::BatchNorm1d(nn::BatchNormConfig::default()),
        LayerConfig::Activation(Activation::Tanh),
        LayerConfig::Residual(nn::ResidualConfig {
            body: vec![linear(16), LayerConfig::Activation(Activation::Silu)],
            shortcut: Some(vec![linear(16)]),
        }),
        linear(10),
    ];
    for threads in [1, 2] {
        let n = hvp_allocations(&[1, 20, 20], &layers, 32, threads);
        assert_eq!(n, 0, "{threads} thread(s)");
    }
    let conv1 = |i, o| {
        LayerConfig::Conv1d(nn::Conv1dConfig {
            padding: 1,
            ..nn::Conv1dConfig::new(i, o, 3)
        })
    };
    let one_d = [
        conv1(2, 4),
        LayerConfig::BatchNorm1d(nn::BatchNormConfig::default()),
        LayerConfig::Activation(Activation::elu()),
        LayerConfig::MaxPool1d(nn::Pool1dConfig::new(2)),
        LayerConfig::AvgPool1d(nn::Pool1dConfig::new(2)),
        conv1(4, 4),
        LayerConfig::GlobalAvgPool,
        linear(10),
    ];
    assert_eq!(hvp_allocations(&[2, 16], &one_d, 16, 1), 0);
}
