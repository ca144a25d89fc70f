//! Throughput of `nn::matmul` against the `gemm` crate on the products of the bench workloads:
//! `cargo run --release -p bench --example gemm_bench [threads]`.
use std::time::Instant;

// The example uses only the thread clock of the bench binary's module.
#[allow(dead_code)]
#[path = "../src/cpu_time.rs"]
mod cpu_time;

/// CPU seconds of the calling thread: robust to other processes competing for the cores, for
/// single-threaded comparisons.
fn thread_cpu() -> f64 {
    cpu_time::thread_seconds().expect("thread CPU time (Linux)")
}

fn fill(n: usize, s: u32) -> Vec<f32> {
    (0..n)
        .map(|j| {
            ((j as u32).wrapping_mul(2654435761).wrapping_add(s) >> 8) as f32 / 16777216.0 - 0.5
        })
        .collect()
}

/// Best per-call seconds over 5 rounds of 20 calls; with `GEMM_BENCH_ONLY=ours|gemm` the other
/// side is skipped (returns NaN), so that `perf stat -e cycles:u` can count one side alone.
fn time(side: &str, mut f: impl FnMut()) -> f64 {
    if std::env::var("GEMM_BENCH_ONLY").is_ok_and(|o| o != side) {
        return f64::NAN;
    }
    f();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let (t, c) = (Instant::now(), thread_cpu());
        for _ in 0..20 {
            f();
        }
        let dt = if CPU.load(std::sync::atomic::Ordering::Relaxed) {
            thread_cpu() - c
        } else {
            t.elapsed().as_secs_f64()
        };
        best = best.min(dt / 20.0);
    }
    best
}

static CPU: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn main() {
    let threads: usize = std::env::args().nth(1).map_or(2, |s| s.parse().unwrap());
    // One thread: time with the thread's CPU clock (runs inline on this thread).
    CPU.store(threads == 1, std::sync::atomic::Ordering::Relaxed);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let run = || {
        for &(n, i, o) in &[
            (32, 40, 100),
            (32, 100, 100),
            (128, 784, 512),
            (128, 512, 512),
            (64, 3136, 128),
        ] {
            let x = fill(n * i, 1);
            let w = fill(o * i, 2);
            let dy = fill(n * o, 3);
            let mut y = vec![0.0; n * o];
            let mut dx = vec![0.0; n * i];
            let mut dw = vec![0.0; o * i];
            let fl = 2.0 * (n * i * o) as f64;
            let ours = [
                time("ours", || nn::matmul::x_wt(&x, &w, &mut y, n, i, o)),
                time("ours", || nn::matmul::dy_w(&dy, &w, &mut dx, n, i, o)),
                time("ours", || {
                    nn::matmul::dyt_x(&dy, &x, &mut dw, n, i, o, true)
                }),
            ];
            let par = if n * i * o >= nn::matmul::PAR_THRESHOLD {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            };
            let g = |m: usize,
                     nn_: usize,
                     k: usize,
                     d: &mut [f32],
                     acc: bool,
                     l: &[f32],
                     (lrs, lcs): (usize, usize),
                     r: &[f32],
                     (rrs, rcs): (usize, usize)| unsafe {
                gemm::gemm(
                    m,
                    nn_,
                    k,
                    d.as_mut_ptr(),
                    1,
                    nn_ as isize,
                    acc,
                    l.as_ptr(),
                    lcs as isize,
                    lrs as isize,
                    r.as_ptr(),
                    rcs as isize,
                    rrs as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                )
            };
            let theirs = [
                time("gemm", || g(n, o, i, &mut y, false, &x, (i, 1), &w, (1, i))),
                time("gemm", || {
                    g(n, i, o, &mut dx, false, &dy, (o, 1), &w, (i, 1))
                }),
                time("gemm", || {
                    g(o, i, n, &mut dw, true, &dy, (1, o), &x, (i, 1))
                }),
            ];
            println!(
                "n{n} i{i} o{o}: GFLOP/s ours {:.0} {:.0} {:.0} | gemm {:.0} {:.0} {:.0}",
                fl / ours[0] / 1e9,
                fl / ours[1] / 1e9,
                fl / ours[2] / 1e9,
                fl / theirs[0] / 1e9,
                fl / theirs[1] / 1e9,
                fl / theirs[2] / 1e9
            );
        }
    };
    pool.install(run);
}
