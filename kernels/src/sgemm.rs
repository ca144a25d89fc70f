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
mod x86 {
    use super::{Tile, MR, NR};

    use std::arch::x86_64::*;

    /// AVX-512 micro-kernel: up to a 12 × 32 tile in 24 registers, instantiated for 4, 8 or 12
    /// rows and one or two 16-lane vectors so that edge tiles do not compute padding. `packed`:
    /// `A` is a packed panel (`ars = 1`, `acs = MR`, zero rows up to `MR`); otherwise `mr` is a
    /// multiple of 4 or at least the instantiated row count of readable rows.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn kernel(t: &Tile, packed: bool) {
        let rows = t.mr.div_ceil(4);
        let two = t.nr > 16;
        macro_rules! go {
            ($p:literal) => {
                match (rows, two) {
                    (1, false) => tile::<$p, 4, 1>(t),
                    (2, false) => tile::<$p, 8, 1>(t),
                    (_, false) => tile::<$p, 12, 1>(t),
                    (1, true) => tile::<$p, 4, 2>(t),
                    (2, true) => tile::<$p, 8, 2>(t),
                    (_, true) => tile::<$p, 12, 2>(t),
                }
            };
        }
        if packed {
            go!(true)
        } else {
            go!(false)
        }
    }

    #[inline]
    fn mask(nr: usize, v: usize) -> __mmask16 {
        let lo = 16 * v;
        if nr >= lo + 16 {
            0xffff
        } else if nr <= lo {
            0
        } else {
            ((1u32 << (nr - lo)) - 1) as u16
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const PACKED: bool, const ROWS: usize, const VECS: usize>(t: &Tile) {
        let full = t.nr >= 16 * VECS || (PACKED && t.brs == NR);
        let acc = if full {
            rank_updates::<PACKED, ROWS, VECS, true>(t)
        } else {
            rank_updates::<PACKED, ROWS, VECS, false>(t)
        };
        let (ldc, c) = (t.ldc, t.c);
        if t.nr >= 16 * VECS {
            for (r, row) in acc.iter().enumerate().take(t.mr) {
                let cp = c.add(r * ldc);
                for (v, &x) in row.iter().enumerate() {
                    let p = cp.add(16 * v);
                    let y = if t.acc {
                        _mm512_add_ps(_mm512_loadu_ps(p), x)
                    } else {
                        x
                    };
                    _mm512_storeu_ps(p, y);
                }
            }
        } else {
            for (r, row) in acc.iter().enumerate().take(t.mr) {
                let cp = c.add(r * ldc);
                for (v, &x) in row.iter().enumerate() {
                    let m = mask(t.nr, v);
                    let p = cp.add(16 * v);
                    let y = if t.acc {
                        _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), x)
                    } else {
                        x
                    };
                    _mm512_mask_storeu_ps(p, m, y);
                }
            }
        }
    }

    /// The `kc` rank-1 updates of a `ROWS × 16·VECS` tile. `FULL_B`: rows of `B` have
    /// `16·VECS` readable values (else masked loads).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn rank_updates<
        const PACKED: bool,
        const ROWS: usize,
        const VECS: usize,
        const FULL_B: bool,
    >(
        t: &Tile,
    ) -> [[__m512; VECS]; ROWS] {
        let (ars, acs) = if PACKED { (1, MR) } else { (t.ars, t.acs) };
        let mut masks = [0xffffu16; VECS];
        for (v, m) in masks.iter_mut().enumerate() {
            *m = mask(t.nr, v);
        }
        let mut acc = [[_mm512_setzero_ps(); VECS]; ROWS];
        let mut ap = t.a;
        let mut bp = t.b;
        for _ in 0..t.kc {
            let mut b = [_mm512_setzero_ps(); VECS];
            for (v, bv) in b.iter_mut().enumerate() {
                *bv = if FULL_B {
                    _mm512_loadu_ps(bp.add(16 * v))
                } else {
                    _mm512_maskz_loadu_ps(masks[v], bp.add(16 * v))
                };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r * ars));
                for (x, &bv) in row.iter_mut().zip(&b) {
                    *x = _mm512_fmadd_ps(av, bv, *x);
                }
            }
            ap = ap.add(acs);
            bp = bp.add(t.brs);
        }
        acc
    }

    /// Writes the transpose of the 16 × 16 block at `src` (row stride `ss`) to `dst` (row
    /// stride `ds`): `dst[j·ds + i] = src[i·ss + j]`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose16(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        let mut r = [_mm512_setzero_ps(); 16];
        for (i, v) in r.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(src.add(i * ss));
        }
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let pd = _mm512_castps_pd;
        let ps = _mm512_castpd_ps;
        for g in 0..4 {
            let b = 4 * g;
            r[b] = ps(_mm512_unpacklo_pd(pd(t[b]), pd(t[b + 2])));
            r[b + 1] = ps(_mm512_unpackhi_pd(pd(t[b]), pd(t[b + 2])));
            r[b + 2] = ps(_mm512_unpacklo_pd(pd(t[b + 1]), pd(t[b + 3])));
            r[b + 3] = ps(_mm512_unpackhi_pd(pd(t[b + 1]), pd(t[b + 3])));
        }
        for h in 0..2 {
            let b = 8 * h;
            for j in 0..4 {
                t[b + j] = _mm512_shuffle_f32x4::<0x88>(r[b + j], r[b + 4 + j]);
                t[b + 4 + j] = _mm512_shuffle_f32x4::<0xdd>(r[b + j], r[b + 4 + j]);
            }
        }
        for j in 0..8 {
            r[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
            r[8 + j] = _mm512_shuffle_f32x4::<0xdd>(t[j], t[8 + j]);
        }
        for (j, v) in r.iter().enumerate() {
            _mm512_storeu_ps(dst.add(j * ds), *v);
        }
    }
}

#[cfg(test)]
mod tests {
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
                (((j as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32
                    / 500.0
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
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
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
}
