//! A steady-state optimizer step allocates nothing, for every named optimizer and in both
//! precisions: Muon's Newton–Schulz products included (they run on the `kernels` crate, whose
//! packing scratch is kept per thread). Counted with a global allocator that tallies the
//! allocations of the measuring rayon pool's threads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use optim::{optimizers, Float, Hyper, Optimizer, Param, ParamStore};

struct Counting;

thread_local! {
    /// The measuring pool a thread works for (0: none).
    static POOL: Cell<usize> = const { Cell::new(0) };
}

/// The pool being measured. Only its workers count: the harness's own threads allocate while
/// reporting, and so do the workers of an earlier pool while they shut down.
static MEASURED: AtomicUsize = AtomicUsize::new(0);
/// Allocations of the measured pool's workers; tests that read it hold `LOCK`.
static ALL: AtomicUsize = AtomicUsize::new(0);
static LOCK: Mutex<()> = Mutex::new(());

fn tally() {
    let pool = POOL.try_with(Cell::get).unwrap_or(0);
    if pool != 0 && pool == MEASURED.load(Ordering::Relaxed) {
        ALL.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tally();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        tally();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A matrix large enough that Muon's `X·Xᵀ` (130·130·160 multiply-adds) splits across the pool,
/// a small matrix, and a bias (Muon's Adam path).
fn params<F: Float>() -> ParamStore<F> {
    let init = |n: usize, s: f64| (0..n).map(|i| F::of((i as f64 * s).sin())).collect();
    ParamStore::new(vec![
        Param::new("big", &[160, 130], init(160 * 130, 0.37)),
        Param::new("small", &[4, 6], init(24, 0.71)),
        Param::new("bias", &[130], init(130, 0.13)),
    ])
}

/// Allocations per optimizer step after warm-up, on a rayon pool of `threads`.
fn step_allocations<F: Float>(name: &str, threads: usize) -> usize {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let table = toml::Table::new();
    let recipe = optimizers::build::<F>(name, &mut Hyper::new(name, &table)).unwrap();
    let mut p = params::<F>();
    let mut opt = Optimizer::new(recipe, &p).unwrap();
    let grads: Vec<Vec<F>> = p
        .params
        .iter()
        .map(|q| {
            q.value
                .iter()
                .map(|&v| v * F::of(0.5) + F::of(0.1))
                .collect()
        })
        .collect();
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let id = NEXT.fetch_add(1, Ordering::SeqCst);
    MEASURED.store(id, Ordering::SeqCst);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |_| POOL.with(|p| p.set(id)))
        .build()
        .unwrap();
    // Each worker sizes its product scratch on its first product; which worker runs a part is
    // up to the scheduler, so give every worker one before counting.
    pool.broadcast(|_| {
        let mut c = [0.0f32; 4];
        kernels::product(
            (2, 2, 2),
            &mut c,
            false,
            &[1.0; 4],
            (2, 1),
            &[1.0; 4],
            (2, 1),
        );
    });
    pool.install(|| {
        let mut step = |p: &mut ParamStore<F>| {
            for (i, g) in grads.iter().enumerate() {
                p.set_grad(i, g);
            }
            opt.step(p).unwrap();
        };
        for _ in 0..3 {
            step(&mut p);
        }
        // The counter sees allocations made here.
        let probe = ALL.load(Ordering::SeqCst);
        drop(std::hint::black_box(vec![1u8; 3]));
        assert!(ALL.load(Ordering::SeqCst) > probe);
        let before = ALL.load(Ordering::SeqCst);
        for _ in 0..3 {
            step(&mut p);
        }
        ALL.load(Ordering::SeqCst) - before
    })
}

#[test]
fn muon_step_does_not_allocate() {
    for threads in [1, 2] {
        assert_eq!(
            step_allocations::<f32>("muon", threads),
            0,
            "f32, {threads}"
        );
        assert_eq!(
            step_allocations::<f64>("muon", threads),
            0,
            "f64, {threads}"
        );
    }
}

#[test]
fn every_optimizer_step_does_not_allocate() {
    let bad: Vec<(&str, usize)> = optimizers::NAMES
        .iter()
        .map(|&name| (name, step_allocations::<f32>(name, 2)))
        .filter(|&(_, n)| n > 0)
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}
