//! The blocked product against an f64 triple loop on every layout, blocking and kernel.

use super::*;

#[test]
fn a_kernel_variable_naming_no_kernel_is_refused_by_the_check() {
    // The check reads the process environment: only values no test sets are used here.
    std::env::set_var(KERNEL_VAR, "avx3");
    let e = check_kernel_var().unwrap_err();
    std::env::remove_var(KERNEL_VAR);
    assert!(e.contains("avx3") && e.contains(KERNEL_VAR), "{e}");
    assert!(check_kernel_var().is_ok());
}

#[test]
fn the_chosen_blocking_is_one_of_the_model() {
    assert_eq!(blocking(), Blocking::for_caches(&crate::caches(), TILE));
}

fn fill(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|j| {
            (((j as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0
                - 1.0
        })
        .collect()
}

/// Checks `gemm` against an f64 triple loop for `A` and `B` stored row- or column-major
/// (or with a padded row stride), with and without accumulation, on `threads` parts.
fn check(m: usize, n: usize, k: usize, threads: usize) {
    check_blocked(m, n, k, threads, blocking());
}

fn check_blocked(m: usize, n: usize, k: usize, threads: usize, bl: Blocking) {
    for layout in 0..6 {
        // (A row-major?, B row-major?, padding)
        let (a_rm, b_rm, pad) = [
            (true, true, 0),
            (true, false, 0),
            (false, true, 0),
            (false, false, 0),
            (true, true, 3),
            (false, false, 5),
        ][layout];
        let (ars, acs) = if a_rm { (k + pad, 1) } else { (1, m + pad) };
        let (brs, bcs) = if b_rm { (n + pad, 1) } else { (1, k + pad) };
        let a = fill((m.max(1) - 1) * ars + (k.max(1) - 1) * acs + 1, 7);
        let b = fill((k.max(1) - 1) * brs + (n.max(1) - 1) * bcs + 1, 9);
        let c0 = fill(m * n, 11);
        for acc in [false, true] {
            let mut c = c0.clone();
            unsafe {
                gemm(
                    (m, n, k),
                    c.as_mut_ptr(),
                    acc,
                    View {
                        ptr: a.as_ptr(),
                        rs: ars,
                        cs: acs,
                    },
                    View {
                        ptr: b.as_ptr(),
                        rs: brs,
                        cs: bcs,
                    },
                    threads,
                    bl,
                )
            };
            for r in 0..m {
                for q in 0..n {
                    let mut s = if acc { c0[r * n + q] as f64 } else { 0.0 };
                    for p in 0..k {
                        s += a[r * ars + p * acs] as f64 * b[p * brs + q * bcs] as f64;
                    }
                    let got = c[r * n + q] as f64;
                    assert!(
                        (got - s).abs() <= 1e-4 * (1.0 + s.abs()) * (1.0 + k as f64).sqrt(),
                        "{m}×{n}×{k} layout {layout} acc {acc} threads {threads} {bl:?} \
                         ({r},{q}): {got} vs {s}"
                    );
                }
            }
        }
    }
}

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 5, 7),
    (12, 32, 16),
    (13, 33, 17),
    (32, 100, 40),
    (11, 31, 300),
    (100, 140, 20),
    (130, 17, 33),
    (2, 2100, 3),
    (0, 4, 4),
    (4, 4, 0),
];

#[test]
fn matches_triple_loop_on_edges_layouts_and_blocks() {
    for &(m, n, k) in SHAPES {
        check(m, n, k, 1);
    }
}

#[test]
fn parallel_split_matches() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    pool.install(|| {
        for &(m, n, k) in SHAPES {
            check(m, n, k, 3);
        }
        check(70, 40, 9, 2);
    });
}

#[test]
fn portable_kernel_matches() {
    with_portable_kernel(|| {
        for &(m, n, k) in SHAPES {
            check(m, n, k, 1);
        }
    });
}

/// Blockings far from the chosen one, so that the shapes above cross every block edge:
/// depths that are and are not multiples of 16, one-panel row and column blocks.
const BLOCKINGS: &[(usize, usize, usize)] = &[(16, 12, 32), (20, 24, 64), (7, 36, 96)];

#[test]
fn every_blocking_matches_on_both_kernels() {
    let mut blockings: Vec<Blocking> = BLOCKINGS
        .iter()
        .map(|&(kc, mc, nc)| Blocking::new(kc, mc, nc, TILE))
        .collect();
    blockings.push(Blocking::FIXED);
    blockings.push(blocking());
    for bl in blockings {
        for &(m, n, k) in SHAPES {
            check_blocked(m, n, k, 1, bl);
            with_portable_kernel(|| check_blocked(m, n, k, 1, bl));
            if has_avx2() {
                with_kernel(Kernel::Avx2, || check_blocked(m, n, k, 1, bl));
            }
        }
        check_blocked(130, 70, 45, 2, bl);
    }
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `C` from `kernel` for every layout of `check`, accumulating into a fixed `C`.
fn run_with(kernel: Kernel, (m, n, k): (usize, usize, usize), layout: usize) -> Vec<u32> {
    let (ars, acs, brs, bcs) = match layout {
        0 => (k, 1, n, 1),
        1 => (k, 1, 1, k),
        2 => (1, m, n, 1),
        _ => (1, m + 2, 1, k + 3),
    };
    let a = fill((m.max(1) - 1) * ars + (k.max(1) - 1) * acs + 1, 7);
    let b = fill((k.max(1) - 1) * brs + (n.max(1) - 1) * bcs + 1, 9);
    let mut c = fill(m * n, 11);
    let view = |v: &[f32], rs, cs| View {
        ptr: v.as_ptr(),
        rs,
        cs,
    };
    let bl = Blocking::new(64, 24, 64, TILE);
    with_kernel(kernel, || unsafe {
        gemm(
            (m, n, k),
            c.as_mut_ptr(),
            true,
            view(&a, ars, acs),
            view(&b, brs, bcs),
            1,
            bl,
        )
    });
    c.iter().map(|v| v.to_bits()).collect()
}

/// The AVX2 kernel runs the same fused multiply-adds in the same order as the AVX-512 one.
#[test]
fn avx2_and_avx512_kernels_agree_to_the_bit() {
    #[cfg(target_arch = "x86_64")]
    if !(has_avx2() && std::arch::is_x86_feature_detected!("avx512f")) {
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    return;
    for &dims in SHAPES
        .iter()
        .chain(&[(25, 47, 130), (128, 10, 70), (10, 64, 33)])
    {
        for layout in 0..4 {
            assert!(
                run_with(Kernel::Avx2, dims, layout) == run_with(Kernel::Avx512, dims, layout),
                "{dims:?} layout {layout}"
            );
        }
    }
}
