//! The micro-kernel for x86-64 cores with AVX2 and FMA but no AVX-512 (Haswell to Alder Lake
//! clients, Zen 1–3): the engine's 12 × 32 tile, with its packing and blocking unchanged, as
//! up to four 6 × 16 sub-tiles of 8-lane vectors (12 accumulators, two `B` vectors and one
//! broadcast `A` value: 15 of the 16 ymm registers), each summed over the whole `KC` block.
//!
//! Every element of `C` is the same chain of fused multiply-adds over `k` in ascending order as
//! in the AVX-512 kernel, so the two kernels give bit-identical products (tested); edges use
//! masked loads and stores rather than a scalar loop, for the same reason.

use std::arch::x86_64::*;

use super::Tile;

/// `C[mr×nr] (+)= A[mr×kc] · B[kc×nr]` for one tile (any `mr ≤ 12`, `nr ≤ 32`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn kernel(t: &Tile) {
    let mut r0 = 0;
    while r0 < t.mr {
        let rows = (t.mr - r0).min(6);
        let mut c0 = 0;
        while c0 < t.nr {
            let cols = (t.nr - c0).min(16);
            let sub = Tile {
                a: t.a.add(r0 * t.ars),
                b: t.b.add(c0),
                c: t.c.add(r0 * t.ldc + c0),
                mr: rows,
                nr: cols,
                ..*t
            };
            macro_rules! go {
                ($v:literal) => {
                    match (rows, cols == 8 * $v) {
                        (1, true) => tile::<1, $v, true>(&sub),
                        (2, true) => tile::<2, $v, true>(&sub),
                        (3, true) => tile::<3, $v, true>(&sub),
                        (4, true) => tile::<4, $v, true>(&sub),
                        (5, true) => tile::<5, $v, true>(&sub),
                        (_, true) => tile::<6, $v, true>(&sub),
                        (1, false) => tile::<1, $v, false>(&sub),
                        (2, false) => tile::<2, $v, false>(&sub),
                        (3, false) => tile::<3, $v, false>(&sub),
                        (4, false) => tile::<4, $v, false>(&sub),
                        (5, false) => tile::<5, $v, false>(&sub),
                        (_, false) => tile::<6, $v, false>(&sub),
                    }
                };
            }
            if cols > 8 {
                go!(2)
            } else {
                go!(1)
            }
            c0 += 16;
        }
        r0 += 6;
    }
}

/// Lane masks for the first `cols` of `8·VECS` columns (all ones where `cols` reaches).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn masks<const VECS: usize>(cols: usize) -> [__m256i; VECS] {
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut m = [_mm256_setzero_si256(); VECS];
    for (v, mv) in m.iter_mut().enumerate() {
        let left = cols as i32 - 8 * v as i32;
        *mv = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane);
    }
    m
}

/// A `ROWS × 8·VECS` sub-tile; `FULL`: all `8·VECS` columns are in `C` (else masked).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const ROWS: usize, const VECS: usize, const FULL: bool>(t: &Tile) {
    let m = masks::<VECS>(t.nr);
    let mut acc = [[_mm256_setzero_ps(); VECS]; ROWS];
    let (mut ap, mut bp) = (t.a, t.b);
    for _ in 0..t.kc {
        let mut b = [_mm256_setzero_ps(); VECS];
        for (v, bv) in b.iter_mut().enumerate() {
            *bv = if FULL {
                _mm256_loadu_ps(bp.add(8 * v))
            } else {
                _mm256_maskload_ps(bp.add(8 * v), m[v])
            };
        }
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm256_broadcast_ss(&*ap.add(r * t.ars));
            for (x, &bv) in row.iter_mut().zip(&b) {
                *x = _mm256_fmadd_ps(av, bv, *x);
            }
        }
        ap = ap.add(t.acs);
        bp = bp.add(t.brs);
    }
    for (r, row) in acc.iter().enumerate() {
        let cp = t.c.add(r * t.ldc);
        for (v, &x) in row.iter().enumerate() {
            let p = cp.add(8 * v);
            if FULL {
                let y = if t.acc {
                    _mm256_add_ps(_mm256_loadu_ps(p), x)
                } else {
                    x
                };
                _mm256_storeu_ps(p, y);
            } else {
                let y = if t.acc {
                    _mm256_add_ps(_mm256_maskload_ps(p, m[v]), x)
                } else {
                    x
                };
                _mm256_maskstore_ps(p, m[v], y);
            }
        }
    }
}
