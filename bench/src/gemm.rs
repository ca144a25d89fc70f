//! `gradlab-bench gemm`: the engine's SGEMM on W1's products (MLP 784-512-512-10, batch 128)
//! against the core's FMA peak measured in the same run, at one thread.
//!
//! For each linear layer (`x: [128, i]`, `w: [o, i]`, `dy: [128, o]`) the three products the
//! engine runs, with the operand layouts it runs them with (`nn::matmul`): forward `y = x·wᵀ`
//! (a transposed `B`, packed), `dx = dy·w` (`B` read in place) and `dw = dyᵀ·x` (a transposed
//! `A`). Each is timed under the blocking chosen from CPUID ([`kernels::blocking`]) and under
//! [`kernels::Blocking::FIXED`] (the constants used before), alternately, with the thread's CPU
//! clock (robust to other processes on a shared machine); the best of `--rounds` rounds counts.
//!
//! The peak is measured, not assumed: a loop of independent register-only FMAs at the vector
//! width of the SGEMM kernel that runs (16 chains of 512 bits, or 12 of 256 bits, so that
//! latency never limits), timed the same way; `GRADLAB_SGEMM_KERNEL=avx2` (or `portable`) runs
//! a narrower kernel than the CPU's best, against its own width's peak. The clock is estimated
//! from a chain of dependent integer adds (one per cycle), so the FMA throughput per cycle is
//! printed too (e.g. Zen 4 runs a 512-bit FMA as two 256-bit halves: 32 flops per cycle, where
//! two 512-bit FMA ports give 64).

use anyhow::bail;
use kernels::Blocking;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct GemmArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Timed rounds per product and blocking; the fastest counts.
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// Seconds of calls per round (at least one call).
    #[arg(long, default_value_t = 0.05)]
    seconds: f64,
    /// The blocking compared with the chosen one, as KC,MC,NC (default: the fixed one used
    /// before the blocking was chosen from CPUID, 256,96,2048).
    #[arg(long, value_delimiter = ',')]
    against: Option<Vec<usize>>,
}

#[derive(Serialize)]
struct Report {
    cpu: String,
    kernel: &'static str,
    caches: String,
    blocking: [usize; 3],
    fixed_blocking: [usize; 3],
    peak_gflops: f64,
    clock_ghz: f64,
    flops_per_cycle: f64,
    products: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    product: String,
    m: usize,
    n: usize,
    k: usize,
    gflops_fixed: f64,
    gflops_chosen: f64,
    peak_fraction_fixed: f64,
    peak_fraction_chosen: f64,
}

pub fn run(args: GemmArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!(
            "--rounds must be ≥ 1 and --seconds > 0 (got {} and {})",
            args.rounds,
            args.seconds
        );
    }
    let chosen = kernels::blocking();
    let fixed = match args.against.as_deref() {
        None => Blocking::FIXED,
        // Bounded before anything is packed: the B block (KC × NC floats) is allocated once
        // per thread, so a huge value would abort on allocation rather than say what is wrong.
        Some(&[kc, mc, nc])
            if (1..=MAX_BLOCK).contains(&kc)
                && (1..=MAX_BLOCK).contains(&mc)
                && (1..=MAX_BLOCK).contains(&nc)
                && kc * nc <= MAX_PACKED =>
        {
            Blocking { kc, mc, nc }
        }
        Some(v) => bail!(
            "--against wants KC,MC,NC, three integers from 1 to {MAX_BLOCK} with KC·NC at most \
             {MAX_PACKED} (got {v:?})"
        ),
    };
    let (peak, width) = fma_peak(args.rounds);
    let clock = clock_hz(args.rounds);
    let mut rows = Vec::new();
    for (i, o) in [(784, 512), (512, 512), (512, 10)] {
        let n = 128;
        let x = fill(n * i, 1);
        let w = fill(o * i, 2);
        let dy = fill(n * o, 3);
        let mut y = vec![0.0; n * o];
        let mut dx = vec![0.0; n * i];
        let mut dw = vec![0.0; o * i];
        let mut one = |name: String, dims: (usize, usize, usize), f: &mut dyn FnMut(Blocking)| {
            let flops = 2.0 * (dims.0 * dims.1 * dims.2) as f64;
            let [tf, tc] = time_pair(args.rounds, args.seconds, |which| {
                f(if which == 0 { fixed } else { chosen })
            });
            rows.push(Row {
                product: name,
                m: dims.0,
                n: dims.1,
                k: dims.2,
                gflops_fixed: flops / tf / 1e9,
                gflops_chosen: flops / tc / 1e9,
                peak_fraction_fixed: flops / tf / peak,
                peak_fraction_chosen: flops / tc / peak,
            });
        };
        one(format!("{i}→{o} forward x·wᵀ"), (n, o, i), &mut |bl| {
            kernels::product_blocked(bl, (n, o, i), &mut y, false, &x, (i, 1), &w, (1, i))
        });
        one(format!("{i}→{o} dx = dy·w"), (n, i, o), &mut |bl| {
            kernels::product_blocked(bl, (n, i, o), &mut dx, false, &dy, (o, 1), &w, (i, 1))
        });
        one(format!("{i}→{o} dw = dyᵀ·x"), (o, i, n), &mut |bl| {
            kernels::product_blocked(bl, (o, i, n), &mut dw, false, &dy, (1, o), &x, (i, 1))
        });
        std::hint::black_box((&y, &dx, &dw));
    }
    // All nine products, as one W1 step at one thread runs them: total flops over total time.
    let (flops, t_fixed, t_chosen) = rows.iter().fold((0.0, 0.0, 0.0), |(f, a, b), r| {
        let fl = 2.0 * (r.m * r.n * r.k) as f64;
        (f + fl, a + fl / r.gflops_fixed, b + fl / r.gflops_chosen)
    });
    rows.push(Row {
        product: "W1, all nine".into(),
        m: 0,
        n: 0,
        k: 0,
        gflops_fixed: flops / t_fixed,
        gflops_chosen: flops / t_chosen,
        peak_fraction_fixed: flops / t_fixed * 1e9 / peak,
        peak_fraction_chosen: flops / t_chosen * 1e9 / peak,
    });
    let caches = kernels::caches();
    let show = |c: Option<kernels::CacheLevel>| {
        c.map_or("?".to_string(), |c| {
            format!(
                "{} KiB {}-way (shared by {})",
                c.size / 1024,
                c.ways,
                c.sharing
            )
        })
    };
    let report = Report {
        cpu: cpu_name(),
        kernel: kernels::kernel_name(),
        caches: format!(
            "L1d {}, L2 {}, L3 {}",
            show(caches.l1d),
            show(caches.l2),
            show(caches.l3)
        ),
        blocking: [chosen.kc, chosen.mc, chosen.nc],
        fixed_blocking: [fixed.kc, fixed.mc, fixed.nc],
        peak_gflops: peak / 1e9,
        clock_ghz: clock / 1e9,
        flops_per_cycle: peak / clock,
        products: rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("CPU: {}", report.cpu);
    println!("caches (CPUID): {}", report.caches);
    println!(
        "kernel {}; blocking chosen KC {} MC {} NC {}, compared with (\"fixed\") KC {} MC {} NC {}",
        report.kernel, chosen.kc, chosen.mc, chosen.nc, fixed.kc, fixed.mc, fixed.nc
    );
    println!(
        "measured FMA peak, 1 thread, {width}: {:.1} GFLOP/s (clock ≈ {:.2} GHz, {:.1} flops/cycle)",
        report.peak_gflops, report.clock_ghz, report.flops_per_cycle
    );
    println!(
        "{:<24} {:>15} {:>16} {:>16}",
        "product", "m×n×k", "fixed GFLOP/s", "chosen GFLOP/s"
    );
    for r in &report.products {
        println!(
            "{:<24} {:>15} {:>8.1} ({:>3.0}%) {:>8.1} ({:>3.0}%)",
            r.product,
            if r.m == 0 {
                String::new()
            } else {
                format!("{}×{}×{}", r.m, r.n, r.k)
            },
            r.gflops_fixed,
            100.0 * r.peak_fraction_fixed,
            r.gflops_chosen,
            100.0 * r.peak_fraction_chosen
        );
    }
    Ok(())
}

fn fill(n: usize, s: u32) -> Vec<f32> {
    (0..n)
        .map(|j| {
            ((j as u32).wrapping_mul(2654435761).wrapping_add(s) >> 8) as f32 / 16777216.0 - 0.5
        })
        .collect()
}

/// Largest `--against` block dimension, and largest packed B block (floats, 64 MiB).
const MAX_BLOCK: usize = 16_384;
const MAX_PACKED: usize = 1 << 24;

/// CPU seconds of the calling thread, so that time another process takes from this core is
/// not counted (wall seconds where the platform does not tell).
fn thread_cpu() -> f64 {
    crate::cpu_time::thread_seconds().unwrap_or_else(|| {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64()
    })
}

/// Best seconds per call of `f(0)` and `f(1)`, alternating rounds.
fn time_pair(rounds: usize, seconds: f64, mut f: impl FnMut(usize)) -> [f64; 2] {
    let mut best = [f64::INFINITY; 2];
    f(0);
    f(1);
    for _ in 0..rounds {
        for (which, b) in best.iter_mut().enumerate() {
            let t0 = thread_cpu();
            let mut calls = 0;
            let mut dt;
            loop {
                f(which);
                calls += 1;
                dt = thread_cpu() - t0;
                if dt >= seconds {
                    break;
                }
            }
            *b = b.min(dt / calls as f64);
        }
    }
    best
}

/// The best of `rounds` timings of `f`, in seconds of thread CPU time.
fn best_of(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds.max(3))
        .map(|_| {
            let t0 = thread_cpu();
            f();
            thread_cpu() - t0
        })
        .fold(f64::INFINITY, f64::min)
}

/// The measured FMA peak of one core in flop/s at the vector width of the kernel that runs
/// (`kernels::kernel_name`), and that width.
fn fma_peak(rounds: usize) -> (f64, &'static str) {
    const ITERS: u64 = 4_000_000;
    #[cfg(target_arch = "x86_64")]
    {
        let kernel = kernels::kernel_name();
        if kernel.starts_with("avx512") {
            // 16 chains × 16 lanes × 2 flops per iteration.
            let t = best_of(rounds, || unsafe { fma512(ITERS) });
            return (ITERS as f64 * 512.0 / t, "512-bit FMA");
        }
        if kernel.starts_with("avx2") {
            // 12 chains (of 16 ymm registers) × 8 lanes × 2 flops per iteration.
            let t = best_of(rounds, || unsafe { fma256(ITERS) });
            return (ITERS as f64 * 192.0 / t, "256-bit FMA");
        }
    }
    // The portable kernel's loops: what the compiler makes of 16 scalar chains.
    let t = best_of(rounds, || fma_scalar(ITERS));
    (ITERS as f64 * 32.0 / t, "scalar f32 mul-add")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma512(iters: u64) {
    use std::arch::x86_64::*;
    let m = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let a = _mm512_set1_ps(std::hint::black_box(1e-7));
    let mut acc = [_mm512_set1_ps(1.0); 16];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, m, a);
        }
    }
    std::hint::black_box(acc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma256(iters: u64) {
    use std::arch::x86_64::*;
    let m = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let a = _mm256_set1_ps(std::hint::black_box(1e-7));
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, m, a);
        }
    }
    std::hint::black_box(acc);
}

fn fma_scalar(iters: u64) {
    let m = std::hint::black_box(0.999_999f32);
    let a = std::hint::black_box(1e-7f32);
    let mut acc = [1f32; 16];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = x.mul_add(m, a);
        }
    }
    std::hint::black_box(acc);
}

/// Core clock in Hz, from a chain of dependent integer adds (one cycle each).
fn clock_hz(rounds: usize) -> f64 {
    const ITERS: u64 = 20_000_000;
    #[cfg(target_arch = "x86_64")]
    {
        let t = best_of(rounds, || {
            let mut x = 0u64;
            for _ in 0..ITERS {
                // SAFETY: register-only arithmetic.
                unsafe {
                    std::arch::asm!(
                        "add {x}, 1", "add {x}, 1", "add {x}, 1", "add {x}, 1",
                        "add {x}, 1", "add {x}, 1", "add {x}, 1", "add {x}, 1",
                        x = inout(reg) x,
                        options(nomem, nostack, pure),
                    )
                };
            }
            std::hint::black_box(x);
        });
        ITERS as f64 * 8.0 / t
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = rounds;
        f64::NAN
    }
}

/// The CPU's model name (`/proc/cpuinfo`), with CPUID's family and model, which name the
/// microarchitecture where a hypervisor shortens the name (e.g. "AMD EPYC", family 25 model 17
/// is Zen 4).
fn cpu_name() -> String {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(unused_unsafe)]
        // SAFETY: leaf 1 exists on every x86-64 processor.
        let eax = unsafe { std::arch::x86_64::__cpuid(1) }.eax;
        let (base_family, ext_family) = ((eax >> 8) & 0xf, (eax >> 20) & 0xff);
        let family = base_family + if base_family == 0xf { ext_family } else { 0 };
        let model = ((eax >> 4) & 0xf)
            | if base_family == 0xf || base_family == 6 {
                ((eax >> 16) & 0xf) << 4
            } else {
                0
            };
        format!("{name} (family {family}, model {model})")
    }
    #[cfg(not(target_arch = "x86_64"))]
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(rounds: usize, seconds: f64, against: Option<Vec<usize>>) -> GemmArgs {
        GemmArgs {
            json: true,
            rounds,
            seconds,
            against,
        }
    }

    #[test]
    fn bad_arguments_are_refused_before_timing() {
        let e = run(args(0, 0.01, None)).unwrap_err().to_string();
        assert!(e.contains("--rounds"), "{e}");
        let e = run(args(1, f64::NAN, None)).unwrap_err().to_string();
        assert!(e.contains("--seconds"), "{e}");
        let e = run(args(1, 0.01, Some(vec![256, 96])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("KC,MC,NC") && e.contains("[256, 96]"), "{e}");
        let e = run(args(1, 0.01, Some(vec![0, 96, 2048])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("from 1 to"), "{e}");
        // Regression: a huge block aborted on allocating its packing scratch.
        let huge = 100_000_000;
        let e = run(args(1, 0.01, Some(vec![huge, huge, huge])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("KC·NC at most"), "{e}");
        let e = run(args(1, 0.01, Some(vec![16_384, 96, 16_384])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[16384, 96, 16384]"), "{e}");
    }

    #[test]
    fn the_peak_and_clock_are_measured_finite() {
        let (peak, width) = fma_peak(1);
        assert!(peak.is_finite() && peak > 1e8, "{peak} {width}");
        #[cfg(target_arch = "x86_64")]
        {
            let hz = clock_hz(1);
            assert!(hz.is_finite() && hz > 1e8, "{hz}");
        }
    }
}
