//! The AVX-512 micro-kernel (x86-64 with AVX-512F, detected at run time): up to a 12 × 32
//! tile of `C` in 24 zmm registers, and the 16 × 16 register transposes the packing of a
//! transposed `B` uses.

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
