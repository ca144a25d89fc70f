//! The single-precision matrix product: `C (+)= A · B` on strided operands into a
//! row-major `C`, BLIS-style (packed panels, a register-blocked micro-kernel), with the packing
//! scratch kept per thread and reused, so a product allocates nothing once a thread has seen its
//! largest shape.
//!
//! Blocking: `B` is packed by `KC × NC` blocks into `NR`-column micro-panels, `A` by `MC × KC`
//! blocks into `MR`-row micro-panels; the micro-kernel keeps an `MR × NR` tile of `C` in
//! registers (12 × 32 with AVX-512: 24 accumulators) and sums over `k` in ascending order within
//! each `KC` block. `KC`, `MC` and `NC` are chosen once per process from the caches CPUID
//! reports (`blocking.rs`: the analytical model of BLIS); tests and benchmarks pass others. The
//! packing scratch is sized from the blocking on a thread's first product. On x86-64 with
//! AVX-512F (detected at run time) the kernel uses it; with AVX2 and FMA but no AVX-512, the
//! same tile runs as 6 × 16 sub-tiles (`sgemm/avx2.rs`, bit-identical results); elsewhere a
//! portable kernel with the same blocking runs.
//!
//! Parallel products split `C` into column (or row) ranges, one single-threaded product each,
//! joined with `rayon::join` (which allocates nothing).

use std::cell::RefCell;

use crate::blocking::Blocking;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Rows of the register tile.
pub(crate) const MR: usize = 12;
/// Columns of the register tile (two 16-lane vectors).
pub(crate) const NR: usize = 32;
/// The register tile, `(MR, NR)`, that the blocking is chosen for.
pub(crate) const TILE: (usize, usize) = (MR, NR);

/// The blocking the engine's products use: [`Blocking::for_caches`] on the
/// [`caches`](crate::caches) CPUID describes, for this kernel's tile, chosen once per process.
pub fn blocking() -> Blocking {
    static BLOCKING: std::sync::OnceLock<Blocking> = std::sync::OnceLock::new();
    *BLOCKING.get_or_init(|| Blocking::for_caches(&crate::caches(), TILE))
}

/// A read-only strided matrix view: element `(r, c)` is at `ptr + r·rs + c·cs`.
#[derive(Clone, Copy)]
pub(crate) struct View {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

// SAFETY: a View is only read, and callers keep the borrowed slice alive across the call.
unsafe impl Send for View {}
unsafe impl Sync for View {}

#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    ld: usize,
}
// SAFETY: parallel tasks write disjoint ranges of the output.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

#[derive(Default)]
struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    /// One packed partial row panel (unpacked products).
    edge: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `C[m×n] = (acc ? C : 0) + A[m×k] · B[k×n]`, `C` row-major with leading dimension `n`.
/// `threads > 1` splits the work on the current rayon pool.
///
/// # Safety
/// `a` and `b` must be valid for every element `(r, c)` of their `m×k` / `k×n` shapes, `c`
/// valid for `m·n` writes, and `c` must not alias `a` or `b`.
pub(crate) unsafe fn gemm(
    (m, n, k): (usize, usize, usize),
    c: *mut f32,
    acc: bool,
    a: View,
    b: View,
    threads: usize,
    blocking: Blocking,
) {
    if m == 0 || n == 0 {
        return;
    }
    let out = Out { ptr: c, ld: n };
    if k == 0 {
        if !acc {
            for r in 0..m {
                std::slice::from_raw_parts_mut(c.add(r * n), n).fill(0.0);
            }
        }
        return;
    }
    split(m, n, k, out, acc, a, b, threads.max(1), blocking);
}

/// Splits `C` into `parts` ranges (in whole tiles) and runs them with `rayon::join`.
#[allow(clippy::too_many_arguments)]
unsafe fn split(
    m: usize,
    n: usize,
    k: usize,
    c: Out,
    acc: bool,
    a: View,
    b: View,
    parts: usize,
    bl: Blocking,
) {
    let col_tiles = n.div_ceil(NR);
    let row_tiles = m.div_ceil(MR);
    if parts <= 1 || (col_tiles < 2 && row_tiles < 2) {
        serial(m, n, k, c, acc, a, b, bl);
        return;
    }
    let left = parts / 2;
    // Column ranges share nothing but reads of A; row ranges each pack their own copy of a
    // transposed B, so a packed B is split by columns while there are columns to split.
    if col_tiles >= row_tiles || (b.cs != 1 && col_tiles >= 2) {
        let n1 = (col_tiles * left / parts).max(1) * NR;
        let (c2, b2) = (
            Out {
                ptr: c.ptr.add(n1),
                ld: c.ld,
            },
            View {
                ptr: b.ptr.add(n1 * b.cs),
                ..b
            },
        );
        rayon::join(
            || split(m, n1, k, c, acc, a, b, left, bl),
            || split(m, n - n1, k, c2, acc, a, b2, parts - left, bl),
        );
    } else {
        let m1 = (row_tiles * left / parts).max(1) * MR;
        let (c2, a2) = (
            Out {
                ptr: c.ptr.add(m1 * c.ld),
                ld: c.ld,
            },
            View {
                ptr: a.ptr.add(m1 * a.rs),
                ..a
            },
        );
        rayon::join(
            || split(m1, n, k, c, acc, a, b, left, bl),
            || split(m - m1, n, k, c2, acc, a2, b, parts - left, bl),
        );
    }
}

/// The single-threaded blocked product. `B` is packed when it is not row-contiguous; otherwise
/// the kernel reads it in place, as it does `A`.
#[allow(clippy::too_many_arguments)]
unsafe fn serial(m: usize, n: usize, k: usize, c: Out, acc: bool, a: View, b: View, bl: Blocking) {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let Scratch { a: ap, b: bp, edge } = &mut *s;
        let kc_max = k.min(bl.kc);
        // Packing A measured no faster for the engine's shapes (up to a few thousand): the
        // kernel broadcasts from A in place, whose 12-row micro-panel stays in L1 across the
        // column panels. Only a partial last row panel is packed (zero rows).
        let pack_a = false;
        // Row-contiguous B is read in place (measured as fast as packed for the engine's
        // shapes); a transposed B is packed (transposed in 16 × 16 register blocks).
        let pack_b = b.cs != 1;
        let a_need = if pack_a {
            m.min(bl.mc).div_ceil(MR) * MR * kc_max
        } else {
            0
        };
        if ap.len() < a_need {
            ap.resize(a_need, 0.0);
        }
        // The scratch a thread will ever need, sized on its first product: a thread that met
        // only small products so far must not allocate on a later, larger one.
        if bp.len() < bl.kc * bl.nc {
            bp.resize(bl.kc * bl.nc, 0.0);
        }
        if edge.len() < MR * bl.kc {
            edge.resize(MR * bl.kc, 0.0);
        }
        let kernel = kernel();
        let mut jc = 0;
        while jc < n {
            let nc = bl.nc.min(n - jc);
            let mut pc = 0;
            while pc < k {
                let kc = bl.kc.min(k - pc);
                let first = pc == 0;
                let bsrc = b.ptr.add(pc * b.rs + jc * b.cs);
                if pack_b {
                    pack_b_block(kc, nc, bsrc, b.rs, b.cs, bp);
                }
                let mut ic = 0;
                while ic < m {
                    let mc = bl.mc.min(m - ic);
                    let asrc = a.ptr.add(ic * a.rs + pc * a.cs);
                    if pack_a {
                        pack_a_block(mc, kc, asrc, a.rs, a.cs, ap);
                    }
                    // A last partial row panel (not a multiple of 4 rows) is packed (zero
                    // rows) into the edge buffer once per block, not once per column panel.
                    let tail = mc % MR;
                    if !pack_a && tail & 3 != 0 {
                        pack_a_block(tail, kc, asrc.add((mc - tail) * a.rs), a.rs, a.cs, edge);
                    }
                    let mut jr = 0;
                    while jr < nc {
                        let nr = NR.min(nc - jr);
                        let (bpanel, brs) = if pack_b {
                            (bp.as_ptr().add(jr * kc), NR)
                        } else {
                            (bsrc.add(jr), b.rs)
                        };
                        let mut ir = 0;
                        while ir < mc {
                            let mr = MR.min(mc - ir);
                            let packed = pack_a || mr & 3 != 0;
                            let (apanel, ars, acs) = if pack_a {
                                (ap.as_ptr().add(ir * kc), 1, MR)
                            } else if mr & 3 != 0 {
                                (edge.as_ptr(), 1, MR)
                            } else {
                                (asrc.add(ir * a.rs), a.rs, a.cs)
                            };
                            let t = Tile {
                                kc,
                                a: apanel,
                                ars,
                                acs,
                                b: bpanel,
                                brs,
                                c: c.ptr.add((ic + ir) * c.ld + jc + jr),
                                ldc: c.ld,
                                acc: acc || !first,
                                mr,
                                nr,
                            };
                            match kernel {
                                #[cfg(target_arch = "x86_64")]
                                Kernel::Avx512 => x86::kernel(&t, packed),
                                #[cfg(target_arch = "x86_64")]
                                Kernel::Avx2 => avx2::kernel(&t),
                                _ => kernel_portable(&t),
                            }
                            ir += MR;
                        }
                        jr += NR;
                    }
                    ic += bl.mc;
                }
                pc += bl.kc;
            }
            jc += bl.nc;
        }
    });
}

/// One micro-kernel call: `C[mr×nr] (+)= A[mr×kc] · B[kc×nr]` with `A(r, p)` at
/// `a + r·ars + p·acs` and row `p` of `B` contiguous from `b + p·brs` (readable up to `nr`
/// columns; packed panels are zero-padded to `NR`).
#[derive(Clone, Copy)]
struct Tile {
    kc: usize,
    a: *const f32,
    ars: usize,
    acs: usize,
    b: *const f32,
    brs: usize,
    c: *mut f32,
    ldc: usize,
    acc: bool,
    mr: usize,
    nr: usize,
}

/// The micro-kernels, chosen at run time from the CPU's features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// 12 × 32 in 24 zmm registers.
    Avx512,
    /// The same tile as 6 × 16 sub-tiles in 12 ymm registers (AVX2 + FMA, no AVX-512).
    Avx2,
    Portable,
}

/// The micro-kernel this thread's products run, e.g. `"avx512 12×32"` (for benchmarks).
pub fn kernel_name() -> &'static str {
    match kernel() {
        Kernel::Avx512 => "avx512 12×32",
        Kernel::Avx2 => "avx2+fma 12×32 (6×16 sub-tiles)",
        Kernel::Portable => "portable 12×32",
    }
}

/// The environment variable that picks a slower kernel than the CPU's best, for benchmarks:
/// `avx2` or `portable` (`avx512`, the default where the CPU has it). Read once per process.
pub const KERNEL_VAR: &str = "GRADLAB_SGEMM_KERNEL";

/// Whether [`KERNEL_VAR`], when set, names a kernel this CPU runs: `Err` names the variable,
/// its value and what this CPU offers. The products never fail on it (they take the CPU's best
/// kernel instead); the binaries call this first so that a mistyped value is an error, not a
/// silent choice.
pub fn check_kernel_var() -> Result<(), String> {
    let Some(v) = std::env::var_os(KERNEL_VAR) else {
        return Ok(());
    };
    let v = v.to_string_lossy();
    #[cfg(target_arch = "x86_64")]
    let (avx512, avx2) = (
        std::arch::is_x86_feature_detected!("avx512f"),
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
    );
    #[cfg(not(target_arch = "x86_64"))]
    let (avx512, avx2) = (false, false);
    let runs = match v.as_ref() {
        "avx512" => avx512,
        "avx2" => avx2,
        "portable" => true,
        _ => {
            return Err(format!(
                "{KERNEL_VAR}={v:?}: expected avx512, avx2 or portable (unset: the CPU's best)"
            ))
        }
    };
    if runs {
        Ok(())
    } else {
        Err(format!(
            "{KERNEL_VAR}={v:?}: this CPU does not run that kernel (avx512: {avx512}, \
             avx2+fma: {avx2})"
        ))
    }
}

#[inline]
fn kernel() -> Kernel {
    #[cfg(test)]
    if let Some(k) = FORCE_KERNEL.with(|f| f.get()) {
        return k;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::atomic::{AtomicU8, Ordering};
        // 0: not probed yet, then 1 + the kernel's index.
        static KERNEL: AtomicU8 = AtomicU8::new(0);
        const KERNELS: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2, Kernel::Portable];
        match KERNEL.load(Ordering::Relaxed) {
            0 => {
                let avx512 = std::arch::is_x86_feature_detected!("avx512f");
                let avx2 = std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma");
                // A value this CPU cannot run, or none, gives its best kernel (the binaries
                // refuse such a value up front: `check_kernel_var`).
                let best = usize::from(!avx512) + usize::from(!avx512 && !avx2);
                let k = match std::env::var(KERNEL_VAR).as_deref() {
                    Ok("avx2") if avx2 => 1,
                    Ok("portable") => 2,
                    _ => best,
                };
                KERNEL.store(1 + k as u8, Ordering::Relaxed);
                KERNELS[k]
            }
            v => KERNELS[v as usize - 1],
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Kernel::Portable
    }
}

#[cfg(test)]
thread_local! {
    /// Tests set this to exercise every kernel the machine can run.
    static FORCE_KERNEL: std::cell::Cell<Option<Kernel>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with `kernel` forced on this thread (tests).
#[cfg(test)]
pub(crate) fn with_kernel<R>(kernel: Kernel, f: impl FnOnce() -> R) -> R {
    FORCE_KERNEL.with(|p| p.set(Some(kernel)));
    let r = f();
    FORCE_KERNEL.with(|p| p.set(None));
    r
}

/// Runs `f` with the portable kernel forced on this thread (tests).
#[cfg(test)]
pub(crate) fn with_portable_kernel<R>(f: impl FnOnce() -> R) -> R {
    with_kernel(Kernel::Portable, f)
}

/// Packs `A[mc×kc]` into `MR`-row panels: panel `i`, depth `p`, row `r` at `i·MR·kc + p·MR + r`,
/// rows past `mc` zero.
unsafe fn pack_a_block(mc: usize, kc: usize, a: *const f32, rs: usize, cs: usize, dst: &mut [f32]) {
    let mut i = 0;
    while i < mc {
        let rows = MR.min(mc - i);
        let panel = &mut dst[i * kc..(i + MR) * kc];
        let src = a.add(i * rs);
        if cs == 1 {
            for r in 0..rows {
                let row = std::slice::from_raw_parts(src.add(r * rs), kc);
                for (p, &v) in row.iter().enumerate() {
                    *panel.get_unchecked_mut(p * MR + r) = v;
                }
            }
        } else {
            for p in 0..kc {
                let col = src.add(p * cs);
                let d = panel.get_unchecked_mut(p * MR..p * MR + MR);
                for (r, v) in d.iter_mut().enumerate().take(rows) {
                    *v = *col.add(r * rs);
                }
            }
        }
        if rows < MR {
            for p in 0..kc {
                panel[p * MR + rows..p * MR + MR].fill(0.0);
            }
        }
        i += MR;
    }
}

/// Packs `B[kc×nc]` into `NR`-column panels: panel `j`, depth `p`, column `q` at
/// `j·NR·kc + p·NR + q`, columns past `nc` zero.
unsafe fn pack_b_block(kc: usize, nc: usize, b: *const f32, rs: usize, cs: usize, dst: &mut [f32]) {
    let mut j = 0;
    while j < nc {
        let cols = NR.min(nc - j);
        let panel = &mut dst[j * kc..(j + NR) * kc];
        let src = b.add(j * cs);
        if cs == 1 {
            for p in 0..kc {
                let row = std::slice::from_raw_parts(src.add(p * rs), cols);
                let d = panel.get_unchecked_mut(p * NR..p * NR + NR);
                d[..cols].copy_from_slice(row);
                d[cols..].fill(0.0);
            }
        } else if rs == 1 {
            let mut p0 = 0;
            #[cfg(target_arch = "x86_64")]
            if kernel() == Kernel::Avx512 {
                // 16 × 16 blocks transposed in registers.
                let mut q0 = 0;
                while q0 + 16 <= cols {
                    let mut p = 0;
                    while p + 16 <= kc {
                        x86::transpose16(
                            src.add(q0 * cs + p),
                            cs,
                            panel.as_mut_ptr().add(p * NR + q0),
                            NR,
                        );
                        p += 16;
                    }
                    q0 += 16;
                }
                p0 = kc / 16 * 16;
                // Columns past the last full 16, depths below p0 (the rest is done below).
                for q in q0..cols {
                    let col = std::slice::from_raw_parts(src.add(q * cs), p0);
                    for (p, &v) in col.iter().enumerate() {
                        *panel.get_unchecked_mut(p * NR + q) = v;
                    }
                }
            }
            for q in 0..cols {
                let col = std::slice::from_raw_parts(src.add(q * cs + p0), kc - p0);
                for (p, &v) in col.iter().enumerate() {
                    *panel.get_unchecked_mut((p0 + p) * NR + q) = v;
                }
            }
            if cols < NR {
                for p in 0..kc {
                    panel[p * NR + cols..p * NR + NR].fill(0.0);
                }
            }
        } else {
            for p in 0..kc {
                let d = panel.get_unchecked_mut(p * NR..p * NR + NR);
                for (q, v) in d.iter_mut().enumerate() {
                    *v = if q < cols {
                        *src.add(p * rs + q * cs)
                    } else {
                        0.0
                    };
                }
            }
        }
        j += NR;
    }
}

/// Portable micro-kernel.
unsafe fn kernel_portable(t: &Tile) {
    let mut acc = [[0f32; NR]; MR];
    for p in 0..t.kc {
        let bp = std::slice::from_raw_parts(t.b.add(p * t.brs), t.nr);
        for (r, row) in acc.iter_mut().enumerate().take(t.mr) {
            let av = *t.a.add(r * t.ars + p * t.acs);
            for (x, &bv) in row.iter_mut().zip(bp) {
                *x += av * bv;
            }
        }
    }
    for (r, row) in acc.iter().enumerate().take(t.mr) {
        let cr = std::slice::from_raw_parts_mut(t.c.add(r * t.ldc), t.nr);
        if t.acc {
            cr.iter_mut().zip(row).for_each(|(c, &v)| *c += v);
        } else {
            cr.copy_from_slice(&row[..t.nr]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;
