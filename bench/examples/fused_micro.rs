//! Criterion-free micro check of the fused chain executor against hand-written fused loops.
//!
//! `cargo run --release -p bench --example fused_micro -- [elements] [repeats] [threads] [only]`
//! (`only` = 1 skips the triad and the hand-written loops). The hand-written Adam loop here is
//! the benchmarks' one reference Adam; the chain it is compared with is the library's `adam`.
//! Each line gives the CPU time of all threads per step (from /proc/self/task/*/schedstat; on a
//! shared machine it is steadier than wall time) and the median wall time (the minimum with
//! `GL_MIN=1` in the environment).

use std::hint::black_box;
use std::time::Instant;

use optim::optimizers::adam::AdamConfig;
use optim::optimizers::sgd::SgdConfig;
use optim::{Optimizer, ParamStore};

use rayon::prelude::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if std::env::var("GL_MIN").is_ok() {
        v[0]
    } else {
        v[v.len() / 2]
    }
}

/// CPU time of all threads of this process, in seconds (from /proc/self/task/*/schedstat).
fn cpu() -> f64 {
    let mut ns = 0u64;
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let p = e.unwrap().path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(p) {
            ns += s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    ns as f64 * 1e-9
}

/// Median (or min) wall seconds, and CPU seconds per call.
fn time(r: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let c0 = cpu();
    let m = median(
        (0..r)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let c = (cpu() - c0) / r as f64;
    print!("[cpu {:7.3} ms] ", c * 1e3);
    m
}

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let n = a.first().copied().unwrap_or(10_000_000);
    let r = a.get(1).copied().unwrap_or(20);
    let th = a.get(2).copied().unwrap_or(2);
    let only = a.get(3).copied().unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(th)
        .build()
        .unwrap();
    pool.install(|| {
        const C: usize = 1 << 16;
        let g: Vec<f32> = (0..n).map(|i| ((i % 1000) as f32) * 1e-3 - 0.5).collect();
        if only == 0 {
            // triad
            let (mut x, y, z) = (vec![0f32; n], vec![1f32; n], vec![2f32; n]);
            let t = time(r, || {
                x.par_chunks_mut(C)
                    .zip(y.par_chunks(C))
                    .zip(z.par_chunks(C))
                    .for_each(|((x, y), z)| {
                        x.iter_mut()
                            .zip(y)
                            .zip(z)
                            .for_each(|((x, &y), &z)| *x = y + 3.0 * z)
                    })
            });
            println!(
                "triad        {:8.3} ms {:6.2} GB/s",
                t * 1e3,
                12.0 * n as f64 / t / 1e9
            );
            drop((x, y, z));
            // hand-fused sgd momentum
            let (mut p, mut b) = (vec![0.5f32; n], vec![0f32; n]);
            let t = time(r, || {
                p.par_chunks_mut(C)
                    .zip(b.par_chunks_mut(C))
                    .zip(g.par_chunks(C))
                    .for_each(|((p, b), g)| {
                        p.iter_mut()
                            .zip(b.iter_mut())
                            .zip(g)
                            .for_each(|((p, b), &g)| {
                                *b = *b * 0.9 + g;
                                *p += -1e-3 * *b;
                            })
                    });
                black_box(&mut p);
            });
            println!(
                "sgd hand     {:8.3} ms {:6.2} GB/s",
                t * 1e3,
                20.0 * n as f64 / t / 1e9
            );
            drop((p, b));
        }
        let mut store = ParamStore::single("w", vec![0.5f32; n]);
        store.set_grad(0, &g);
        let rec = SgdConfig {
            momentum: 0.0,
            ..Default::default()
        }
        .recipe()
        .unwrap();
        let mut opt = Optimizer::new(rec, &store).unwrap();
        let t = time(r, || {
            opt.step(&mut store).unwrap();
        });
        println!(
            "sgd0 chain   {:8.3} ms {:6.2} GB/s",
            t * 1e3,
            12.0 * n as f64 / t / 1e9
        );
        let mut store = ParamStore::single("w", vec![0.5f32; n]);
        store.set_grad(0, &g);
        let rec = SgdConfig {
            momentum: 0.9,
            ..Default::default()
        }
        .recipe()
        .unwrap();
        let mut opt = Optimizer::new(rec, &store).unwrap();
        let t = time(r, || {
            opt.step(&mut store).unwrap();
        });
        println!(
            "sgd chain    {:8.3} ms {:6.2} GB/s",
            t * 1e3,
            20.0 * n as f64 / t / 1e9
        );
        drop((store, opt));
        let (mut p, mut m, mut v) = (vec![0.5f32; n], vec![0f32; n], vec![0f32; n]);
        let t = time(r, || {
            p.par_chunks_mut(C)
                .zip(m.par_chunks_mut(C))
                .zip(v.par_chunks_mut(C))
                .zip(g.par_chunks(C))
                .for_each(|(((p, m), v), g)| {
                    for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g)
                    {
                        *m = *m + 0.1 * (g - *m);
                        *v = *v * 0.999 + 0.001 * g * g;
                        *p += -1e-3 * (*m / (v.sqrt() / 0.03 + 1e-8) * 1.2);
                    }
                });
            black_box(&mut p);
        });
        println!(
            "adam hand    {:8.3} ms {:6.2} GB/s",
            t * 1e3,
            28.0 * n as f64 / t / 1e9
        );
        drop((p, m, v));
        let mut store = ParamStore::single("w", vec![0.5f32; n]);
        store.set_grad(0, &g);
        let rec = AdamConfig::default().recipe::<f32>().unwrap();
        let mut opt = Optimizer::new(rec, &store).unwrap();
        let t = time(r, || {
            opt.step(&mut store).unwrap();
        });
        println!(
            "adam chain   {:8.3} ms {:6.2} GB/s",
            t * 1e3,
            28.0 * n as f64 / t / 1e9
        );
    });
}
