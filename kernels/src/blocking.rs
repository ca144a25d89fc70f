//! The SGEMM's cache blocking, chosen once per process from the caches CPUID describes.
//!
//! The rule is the analytical model of Low, Igual, Smith and Quintana-Ortí, "Analytical
//! Modeling Is Enough for High-Performance BLIS", ACM TOMS 43(2), 2016, §4, for a kernel whose
//! `MR × NR` register tile is fed by an `MR × KC` micro-panel of `A` and a `KC × NR`
//! micro-panel of `B` (the one reused across the row panels of the innermost loop):
//!
//! * **`KC`, from L2**: the paper keeps the `B` micro-panel in L1 while `A` micro-panels
//!   stream through it, one way left for the `C` tile: `A` gets `C_A = ⌊(W − 1) / (1 +
//!   NR/MR)⌋` of the `W` ways, `KC = C_A·N·C / (MR·4)` (`N` sets of `C`-byte lines). Applied
//!   to L1 this gives `KC = 80` for the 12 × 32 tile on Zen 4 (32 KiB 8-way L1d), which
//!   measured 4–9% slower on W1's products than `KC = 256` or 512 (`gradlab-bench gemm --against
//!   80,96,2048`, a shared 2-core AMD EPYC): the tile loads little for its work (176 bytes per
//!   384 multiply-adds, under 16 bytes a cycle even at two 512-bit FMAs a cycle), which L2
//!   delivers, while every `KC` block reloads and stores the `C` tile. So the same rule is
//!   applied one level out, to L2 (to L1 where CPUID reports no L2).
//! * **`MC`, from L2**: the `MC × KC` block of `A` takes the ways of L2 that neither the `B`
//!   micro-panel nor one way of streaming data needs, `C_A = W₂ − 1 − ⌈KC·NR·4 / (N₂·C₂)⌉`,
//!   `MC = C_A·N₂·C₂ / (KC·4)`, rounded down to whole `MR` panels.
//! * **`NC`, from L3**: the packed `KC × NC` block of `B` takes the ways of this core's share
//!   of L3 (its sets divided by the logical processors sharing it) left by the `A` block and
//!   one way of streaming data, rounded down to whole `NR` panels.
//!
//! Bounds keep a CPU that reports odd figures (a hypervisor's, say) from choosing blocks that
//! make no sense, and the per-thread scratch small: `KC ∈ [64, 512]` (784 measured within 2%
//! on W1), `MC ≤ 1536`, `NC ≥ 256` and `KC·NC ≤ 2¹⁹` floats (the 2 MiB packed `B` block of the
//! fixed blocking). Where CPUID says nothing (not x86-64, or a leaf missing) the blocking is
//! [`Blocking::FIXED`], the constants the kernel used before it read the caches.
//!
//! Numbers: within each `KC` block the kernel sums over `k` in ascending order and adds the
//! block's sum to `C`, so a different `KC` changes the rounding of products with `k > KC`
//! (in the last bits); `MC` and `NC` do not change the arithmetic at all.

use std::sync::OnceLock;

/// One cache level as CPUID describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLevel {
    /// Bytes.
    pub size: usize,
    /// Associativity (ways); a fully associative cache reports its line count.
    pub ways: usize,
    /// Line size in bytes.
    pub line: usize,
    /// Logical processors sharing it (at most; CPUID's figure).
    pub sharing: usize,
}

impl CacheLevel {
    fn sets(&self) -> usize {
        (self.size / (self.ways * self.line)).max(1)
    }
    /// Bytes of one way.
    fn way_bytes(&self) -> usize {
        self.sets() * self.line
    }
    fn valid(&self) -> bool {
        self.size > 0 && self.ways > 0 && self.line > 0 && self.ways * self.line <= self.size
    }
}

/// The data caches of the core this process runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caches {
    pub l1d: Option<CacheLevel>,
    pub l2: Option<CacheLevel>,
    pub l3: Option<CacheLevel>,
}

/// The blocking of the SGEMM's loop nest (see the module docs of the `kernels` crate's SGEMM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Depth of a packed block (`k` per micro-kernel call).
    pub kc: usize,
    /// Rows of `A` per block (a multiple of the tile's rows).
    pub mc: usize,
    /// Columns of `B` per packed block (a multiple of the tile's columns).
    pub nc: usize,
}

const F32: usize = std::mem::size_of::<f32>();

impl Blocking {
    /// The fixed blocking used before it was chosen from CPUID; also the choice where CPUID
    /// describes no caches.
    pub const FIXED: Blocking = Blocking {
        kc: 256,
        mc: 96,
        nc: 2048,
    };

    /// `kc`, `mc`, `nc` made usable by a kernel with an `mr × nr` tile: `kc ≥ 1`, `mc` and
    /// `nc` rounded up to whole tiles.
    pub fn new(kc: usize, mc: usize, nc: usize, (mr, nr): (usize, usize)) -> Blocking {
        Blocking {
            kc: kc.max(1),
            mc: mc.max(1).div_ceil(mr) * mr,
            nc: nc.max(1).div_ceil(nr) * nr,
        }
    }

    /// The blocking the analytical model gives a kernel with an `mr × nr` tile on `caches`
    /// (see the module docs); [`Blocking::FIXED`] for what the caches leave undetermined.
    pub fn for_caches(caches: &Caches, (mr, nr): (usize, usize)) -> Blocking {
        let fixed = Blocking::new(Self::FIXED.kc, Self::FIXED.mc, Self::FIXED.nc, (mr, nr));
        let l2 = caches.l2.filter(CacheLevel::valid);
        // The micro-panels' level: L2, or L1 where CPUID reports no L2.
        let Some(near) = l2.or(caches.l1d.filter(CacheLevel::valid)) else {
            return fixed;
        };
        // Ways for A's micro-panel; the B micro-panel takes (NR/MR)× as many, one is left for
        // streaming data.
        let ways_a = (near.ways.saturating_sub(1) * mr) / (mr + nr);
        let kc = if ways_a == 0 {
            // Too few ways for the model (direct-mapped or 2-way): half the cache for both.
            near.size / 2 / ((mr + nr) * F32)
        } else {
            ways_a * near.way_bytes() / (mr * F32)
        };
        // Whole 16-deep steps suit the 16 × 16 transposes of the packing.
        let kc = (kc.clamp(KC_MIN, KC_MAX) / 16) * 16;

        let mc = match l2 {
            Some(l2) => {
                let b_ways = (kc * nr * F32).div_ceil(l2.way_bytes());
                let ways = l2.ways.saturating_sub(1 + b_ways).max(1);
                ways * l2.way_bytes() / (kc * F32)
            }
            None => fixed.mc,
        };
        let mc = (mc.clamp(mr, MC_MAX) / mr) * mr;

        let nc = match caches.l3.filter(CacheLevel::valid) {
            Some(l3) => {
                let share = (l3.way_bytes() / l3.sharing.max(1)).max(1);
                let a_ways = (mc * kc * F32).div_ceil(share);
                let ways = l3.ways.saturating_sub(1 + a_ways).max(1);
                ways * share / (kc * F32)
            }
            None => fixed.nc,
        };
        let nc = nc.min(PACKED_B_MAX / kc).max(NC_MIN);
        Blocking::new(kc, mc, (nc / nr).max(1) * nr, (mr, nr))
    }
}

/// Bounds on the blocking (module docs).
const KC_MIN: usize = 64;
const KC_MAX: usize = 512;
const MC_MAX: usize = 1536;
const NC_MIN: usize = 256;
/// Floats of one thread's packed `B` block (`KC·NC`): 2 MiB, as with the fixed blocking.
const PACKED_B_MAX: usize = 1 << 19;

/// The caches CPUID describes for this core (read once).
pub fn caches() -> Caches {
    static CACHES: OnceLock<Caches> = OnceLock::new();
    *CACHES.get_or_init(read_caches)
}

#[cfg(target_arch = "x86_64")]
fn read_caches() -> Caches {
    use std::arch::x86_64::{__cpuid_count, CpuidResult};
    // SAFETY: CPUID exists on every x86-64 processor; leaves above the maximum are not read.
    // (The intrinsic is safe from Rust 1.91 on, unsafe before.)
    #[allow(unused_unsafe)]
    let cpuid = |leaf: u32, sub: u32| -> CpuidResult { unsafe { __cpuid_count(leaf, sub) } };
    let v = cpuid(0, 0);
    let mut vendor = [0u8; 12];
    vendor[..4].copy_from_slice(&v.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&v.edx.to_le_bytes());
    vendor[8..].copy_from_slice(&v.ecx.to_le_bytes());
    let max_ext = cpuid(0x8000_0000, 0).eax;
    let amd = &vendor == b"AuthenticAMD" || &vendor == b"HygonGenuine";
    // The deterministic cache parameters: Intel's leaf 4, AMD's 0x8000001D (with TOPOEXT).
    let leaf = if amd {
        let topoext = max_ext >= 0x8000_0001 && cpuid(0x8000_0001, 0).ecx & (1 << 22) != 0;
        (topoext && max_ext >= 0x8000_001D).then_some(0x8000_001D)
    } else {
        (v.eax >= 4).then_some(4)
    };
    let mut caches = Caches::default();
    if let Some(leaf) = leaf {
        for sub in 0..16 {
            let r = cpuid(leaf, sub);
            let kind = r.eax & 0x1f;
            if kind == 0 {
                break;
            }
            // 1: data, 3: unified; instruction caches (2) are not ours.
            if kind == 2 {
                continue;
            }
            let level = CacheLevel {
                line: (r.ebx & 0xfff) as usize + 1,
                ways: (r.ebx >> 22) as usize + 1,
                size: ((r.ebx >> 22) as usize + 1)
                    * (((r.ebx >> 12) & 0x3ff) as usize + 1)
                    * ((r.ebx & 0xfff) as usize + 1)
                    * (r.ecx as usize + 1),
                sharing: ((r.eax >> 14) & 0xfff) as usize + 1,
            };
            match (r.eax >> 5) & 7 {
                1 => caches.l1d = Some(level),
                2 => caches.l2 = Some(level),
                3 => caches.l3 = Some(level),
                _ => {}
            }
        }
    } else if amd && max_ext >= 0x8000_0006 {
        // Older AMD: sizes and (encoded) associativities of 0x80000005/6; sharing unknown.
        let l1 = cpuid(0x8000_0005, 0).ecx;
        caches.l1d = Some(CacheLevel {
            size: (l1 >> 24) as usize * 1024,
            ways: ((l1 >> 16) & 0xff) as usize,
            line: (l1 & 0xff) as usize,
            sharing: 1,
        });
        let r = cpuid(0x8000_0006, 0);
        let ways = |code: u32| match code {
            1 | 2 | 4 => code as usize,
            6 => 8,
            8 => 16,
            0xa => 32,
            0xb => 48,
            0xc => 64,
            0xd => 96,
            0xe => 128,
            _ => 0,
        };
        caches.l2 = Some(CacheLevel {
            size: (r.ecx >> 16) as usize * 1024,
            ways: ways((r.ecx >> 12) & 0xf),
            line: (r.ecx & 0xff) as usize,
            sharing: 1,
        });
        caches.l3 = Some(CacheLevel {
            size: (r.edx >> 18) as usize * 512 * 1024,
            ways: ways((r.edx >> 12) & 0xf),
            line: (r.edx & 0xff) as usize,
            sharing: 1,
        });
    }
    Caches {
        l1d: caches.l1d.filter(CacheLevel::valid),
        l2: caches.l2.filter(CacheLevel::valid),
        l3: caches.l3.filter(CacheLevel::valid),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn read_caches() -> Caches {
    Caches::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TILE: (usize, usize) = (12, 32);

    fn level(kib: usize, ways: usize, sharing: usize) -> Option<CacheLevel> {
        Some(CacheLevel {
            size: kib * 1024,
            ways,
            line: 64,
            sharing,
        })
    }

    /// Zen 4 (EPYC 9004: 32 KiB 8-way L1d, 1 MiB 8-way L2, 32 MiB 16-way L3 per 8-core CCX).
    const ZEN4: fn() -> Caches = || Caches {
        l1d: level(32, 8, 2),
        l2: level(1024, 8, 2),
        l3: level(32 * 1024, 16, 16),
    };

    #[test]
    fn zen4_by_hand() {
        // L2: 2048 sets × 64 B = 128 KiB a way; A gets ⌊7·12/44⌋ = 1 way: 131072/48 = 2730,
        // bounded to 512. B's micro-panel (64 KiB) takes 1 way, A's block the other 6:
        // 6·131072/2048 = 384 rows. L3 per sharer: 2 MiB a way / 16 = 128 KiB; A's block
        // (768 KiB) takes 6 of them, B's block 9: 9·131072/2048 = 576, then KC·NC ≤ 2¹⁹: 1024
        // is not reached, so 576.
        assert_eq!(
            Blocking::for_caches(&ZEN4(), TILE),
            Blocking {
                kc: 512,
                mc: 384,
                nc: 576
            }
        );
    }

    #[test]
    fn sapphire_rapids_by_hand() {
        // 48 KiB 12-way L1d, 2 MiB 16-way L2, 105 MiB 15-way L3 for 112 logical processors.
        let c = Caches {
            l1d: level(48, 12, 2),
            l2: level(2048, 16, 2),
            l3: level(105 * 1024, 15, 112),
        };
        // L2 way 128 KiB: KC bounded to 512; B's micro-panel 1 way, A's block 14:
        // 14·131072/2048 = 896 → 888 (74 panels of 12). L3 way 7 MiB / 112 = 64 KiB per
        // sharer: A's block (1.73 MiB) wants more ways than there are, so B gets 1:
        // 65536/2048 = 32, raised to NC ≥ 256.
        assert_eq!(
            Blocking::for_caches(&c, TILE),
            Blocking {
                kc: 512,
                mc: 888,
                nc: 256
            }
        );
    }

    #[test]
    fn without_l2_the_rule_is_applied_to_l1() {
        let c = Caches {
            l1d: level(32, 8, 1),
            ..Caches::default()
        };
        // ⌊7·12/44⌋ = 1 way of 4 KiB: 4096/48 = 85 → 80 (whole 16s); MC, NC fixed.
        assert_eq!(
            Blocking::for_caches(&c, TILE),
            Blocking {
                kc: 80,
                mc: 96,
                nc: 2048
            }
        );
    }

    #[test]
    fn nothing_known_or_nonsense_gives_the_fixed_blocking() {
        assert_eq!(
            Blocking::for_caches(&Caches::default(), TILE),
            Blocking::FIXED
        );
        let nonsense = Caches {
            l1d: Some(CacheLevel {
                size: 0,
                ways: 8,
                line: 64,
                sharing: 1,
            }),
            l2: Some(CacheLevel {
                size: 1024,
                ways: 0,
                line: 64,
                sharing: 1,
            }),
            l3: None,
        };
        assert_eq!(Blocking::for_caches(&nonsense, TILE), Blocking::FIXED);
    }

    #[test]
    fn every_description_gives_whole_tiles_within_bounds() {
        for kib in [1, 16, 48, 256, 1280, 2048, 1 << 16] {
            for ways in [1, 2, 4, 8, 12, 16, 20] {
                for sharing in [1, 2, 64, 4096] {
                    let c = Caches {
                        l1d: level(kib.min(64), ways, 1),
                        l2: level(kib, ways, 1),
                        l3: level(kib * 16, ways, sharing),
                    };
                    for tile in [TILE, (4, 16), (6, 64)] {
                        let b = Blocking::for_caches(&c, tile);
                        assert!((KC_MIN..=KC_MAX).contains(&b.kc), "{c:?} {b:?}");
                        assert_eq!(b.kc % 16, 0, "{c:?} {b:?}");
                        assert_eq!(b.mc % tile.0, 0, "{c:?} {b:?}");
                        assert!(b.mc >= tile.0 && b.mc <= MC_MAX, "{c:?} {b:?}");
                        assert_eq!(b.nc % tile.1, 0, "{c:?} {b:?}");
                        assert!(b.nc >= tile.1 && b.kc * b.nc <= PACKED_B_MAX.max(b.kc * NC_MIN));
                    }
                }
            }
        }
    }
}
