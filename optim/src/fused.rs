//! Hand-fused loops for the commonest chains: Adam and AdamW (`scale_by_adam` without AMSGrad,
//! with coupled, decoupled or no weight decay) and SGD with momentum (`trace`, coupled or no
//! weight decay), each ending in `scale_by_learning_rate`.
//!
//! The general fused executor ([`Chain`](crate::Chain)) runs every transform of a chain over a
//! 128-element chunk copied to the stack, one virtual call per transform and chunk; once a
//! model's state sits in cache those extra passes, not memory, bound the step (W0-sized Adam
//! ran at about a third of the same run's in-cache triad). Here one loop per tensor reads the
//! gradient, parameter and state once and writes them once, with every flag of the step
//! (gradient scale, decay placement, lerp form, first momentum step, Nesterov) decided before
//! the loop, so that its body has no branch and LLVM vectorises it.
//!
//! Each loop performs exactly the chain's operations, in its order and precision (for Adam,
//! PyTorch's single-tensor order: `m ← lerp(m, g, 1 − β₁)`, `v ← β₂·v + ((1 − β₂)·g)·g`,
//! `u = (m·(1/bc₁)) / (√v / √bc₂ + ε)`, then `p += (−lr)·u`), from the coefficients the
//! chain's own `begin` returned, so results are bit-identical to the chain (tested against it
//! over many steps with random data in this module and by the PyTorch golden tests, which now
//! run through these loops).

use crate::transform::{Coef, Link, MAX_BUFS};
use crate::transforms::{lerp_coef, moments};
use crate::{Float, State};

/// Where weight decay sits relative to the moment transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decay {
    None,
    Coupled,
    Decoupled,
}

/// A chain the loops below run: its shape and the positions of its links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    kind: Kind,
    /// Index of the moment transform (Adam or trace).
    core: usize,
    /// Index of `add_decayed_weights`, if any.
    decay: Option<usize>,
    placement: Decay,
    /// Index of `scale_by_learning_rate` (the last link).
    lr: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Adam,
    Trace { nesterov: bool },
}

impl Plan {
    /// The plan for a chain with these links, if it is one the loops cover:
    /// `[decay?, adam, lr]`, `[adam, decay, lr]`, `[decay?, trace, lr]`.
    pub(crate) fn of(links: &[Link]) -> Option<Plan> {
        let kind_of = |l: Link| match l {
            Link::Adam => Some(Kind::Adam),
            Link::Trace { nesterov } => Some(Kind::Trace { nesterov }),
            _ => None,
        };
        let plan = |kind, core, decay, placement| Plan {
            kind,
            core,
            decay,
            placement,
            lr: links.len() - 1,
        };
        match links {
            [c, Link::LearningRate] => kind_of(*c).map(|k| plan(k, 0, None, Decay::None)),
            [Link::DecayedWeights, c, Link::LearningRate] => {
                kind_of(*c).map(|k| plan(k, 1, Some(0), Decay::Coupled))
            }
            [Link::Adam, Link::DecayedWeights, Link::LearningRate] => {
                Some(plan(Kind::Adam, 0, Some(1), Decay::Decoupled))
            }
            _ => None,
        }
    }

    /// One step of one tensor: `coefs[i]` from transform `i`'s `begin` (already called),
    /// `states` the chain's states for this tensor.
    pub(crate) fn run<F: Float>(
        &self,
        coefs: &[Coef],
        states: &mut [State<F>],
        param: &mut [F],
        grad: &[F],
        scale: F,
    ) {
        let wd = self.decay.map_or(0.0, |d| coefs[d][0]);
        // `add_decayed_weights` is a no-op with a zero coefficient.
        let decay = if wd == 0.0 {
            Decay::None
        } else {
            self.placement
        };
        let wd = F::of(wd);
        let lr = F::of(coefs[self.lr][0]);
        let c = &coefs[self.core];
        let scaled = scale != F::one();
        let n = param.len();
        let bufs = &mut states[self.core].bufs;
        match self.kind {
            Kind::Adam => {
                let (small, k1) = lerp_coef::<F>(c[0]);
                let a = AdamCoefs {
                    scale,
                    wd,
                    lr,
                    k1,
                    b2: F::of(c[1]),
                    k2: F::of(c[2]),
                    inv_bc1: F::of(c[3]),
                    sqrt_bc2: F::of(c[4]),
                    eps: F::of(c[5]),
                };
                let (m, v) = bufs.split_at_mut(1);
                let (m, v) = (&mut m[0][..n], &mut v[0][..n]);
                macro_rules! go {
                    ($s:literal, $l:literal, $d:literal) => {
                        tasks(param, grad, [m, v], |p, g, [m, v]| {
                            adam::<F, $s, $l, $d>(&a, p, g, m, v)
                        })
                    };
                }
                match (scaled, small, decay) {
                    (false, true, Decay::None) => go!(false, true, 0),
                    (false, true, Decay::Coupled) => go!(false, true, 1),
                    (false, true, Decay::Decoupled) => go!(false, true, 2),
                    (false, false, Decay::None) => go!(false, false, 0),
                    (false, false, Decay::Coupled) => go!(false, false, 1),
                    (false, false, Decay::Decoupled) => go!(false, false, 2),
                    (true, true, Decay::None) => go!(true, true, 0),
                    (true, true, Decay::Coupled) => go!(true, true, 1),
                    (true, true, Decay::Decoupled) => go!(true, true, 2),
                    (true, false, Decay::None) => go!(true, false, 0),
                    (true, false, Decay::Coupled) => go!(true, false, 1),
                    (true, false, Decay::Decoupled) => go!(true, false, 2),
                }
            }
            Kind::Trace { nesterov } => {
                let t = TraceCoefs {
                    scale,
                    wd,
                    lr,
                    mu: F::of(c[0]),
                    keep: F::of(c[1]),
                };
                let first = c[2] == 1.0;
                let coupled = decay == Decay::Coupled;
                let b = &mut bufs[0][..n];
                macro_rules! go {
                    ($s:literal, $d:literal, $f:literal, $n:literal) => {
                        tasks(param, grad, [b], |p, g, [b]| {
                            trace::<F, $s, $d, $f, $n>(&t, p, g, b)
                        })
                    };
                }
                match (scaled, coupled, first, nesterov) {
                    (false, false, false, false) => go!(false, false, false, false),
                    (false, false, false, true) => go!(false, false, false, true),
                    (false, false, true, false) => go!(false, false, true, false),
                    (false, false, true, true) => go!(false, false, true, true),
                    (false, true, false, false) => go!(false, true, false, false),
                    (false, true, false, true) => go!(false, true, false, true),
                    (false, true, true, false) => go!(false, true, true, false),
                    (false, true, true, true) => go!(false, true, true, true),
                    (true, false, false, false) => go!(true, false, false, false),
                    (true, false, false, true) => go!(true, false, false, true),
                    (true, false, true, false) => go!(true, false, true, false),
                    (true, false, true, true) => go!(true, false, true, true),
                    (true, true, false, false) => go!(true, true, false, false),
                    (true, true, false, true) => go!(true, true, false, true),
                    (true, true, true, false) => go!(true, true, true, false),
                    (true, true, true, true) => go!(true, true, true, true),
                }
            }
        }
    }
}

/// Elements per parallel task, and the size below which a tensor is updated on one thread
/// (the general executor's split, so that threading is unchanged).
/// Elements per parallel task, and the size below which a tensor is updated on one thread: the
/// chain's general executor splits the same way, so both give the same bits.
pub(crate) const TASK: usize = 1 << 16;

/// Runs `f` over the tensor in tasks of [`TASK`] elements, in parallel for large tensors; the
/// update is elementwise, so the split does not change results.
fn tasks<F: Float, const B: usize>(
    param: &mut [F],
    grad: &[F],
    bufs: [&mut [F]; B],
    f: impl Fn(&mut [F], &[F], [&mut [F]; B]) + Sync,
) {
    debug_assert!(B <= MAX_BUFS);
    let len = param.len();
    if len < 2 * TASK {
        f(param, grad, bufs);
        return;
    }
    split(param, grad, bufs, &f);
}

/// Splits every stream at the same task boundaries, halving recursively through
/// `rayon::join` (nothing allocated), and runs `f` on each task.
fn split<F: Float, const B: usize>(
    param: &mut [F],
    grad: &[F],
    bufs: [&mut [F]; B],
    f: &(impl Fn(&mut [F], &[F], [&mut [F]; B]) + Sync),
) {
    let len = param.len();
    let tasks = len.div_ceil(TASK);
    if tasks <= 1 {
        f(param, grad, bufs);
        return;
    }
    let mid = tasks / 2 * TASK;
    let (p0, p1) = param.split_at_mut(mid);
    let (g0, g1) = grad.split_at(mid);
    let mut left: [&mut [F]; B] = std::array::from_fn(|_| &mut [][..]);
    let mut right: [&mut [F]; B] = std::array::from_fn(|_| &mut [][..]);
    for (k, b) in bufs.into_iter().enumerate() {
        let (b0, b1) = b.split_at_mut(mid);
        left[k] = b0;
        right[k] = b1;
    }
    rayon::join(|| split(p0, g0, left, f), || split(p1, g1, right, f));
}

struct AdamCoefs<F> {
    scale: F,
    wd: F,
    lr: F,
    k1: F,
    b2: F,
    k2: F,
    inv_bc1: F,
    sqrt_bc2: F,
    eps: F,
}

/// Adam over one range; `DECAY`: 0 none, 1 coupled (before the moments), 2 decoupled (after).
#[inline(always)]
fn adam<F: Float, const SCALED: bool, const SMALL: bool, const DECAY: u8>(
    a: &AdamCoefs<F>,
    p: &mut [F],
    g: &[F],
    m: &mut [F],
    v: &mut [F],
) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let mut u = if SCALED { g[i] * a.scale } else { g[i] };
        if DECAY == 1 {
            u += a.wd * p[i];
        }
        moments(&mut m[i], &mut v[i], u, SMALL, a.k1, a.b2, a.k2);
        let denom = v[i].sqrt() / a.sqrt_bc2 + a.eps;
        u = m[i] * a.inv_bc1 / denom;
        if DECAY == 2 {
            u += a.wd * p[i];
        }
        p[i] += a.lr * u;
    }
}

struct TraceCoefs<F> {
    scale: F,
    wd: F,
    lr: F,
    mu: F,
    keep: F,
}

/// SGD with momentum over one range (`trace`, PyTorch's conventions).
#[inline(always)]
fn trace<
    F: Float,
    const SCALED: bool,
    const COUPLED: bool,
    const FIRST: bool,
    const NESTEROV: bool,
>(
    t: &TraceCoefs<F>,
    p: &mut [F],
    g: &[F],
    b: &mut [F],
) {
    let n = p.len();
    let (g, b) = (&g[..n], &mut b[..n]);
    for i in 0..n {
        let mut u = if SCALED { g[i] * t.scale } else { g[i] };
        if COUPLED {
            u += t.wd * p[i];
        }
        b[i] = if FIRST { u } else { b[i] * t.mu + t.keep * u };
        if NESTEROV {
            u += t.mu * b[i];
        } else {
            u = b[i];
        }
        p[i] += t.lr * u;
    }
}

#[cfg(test)]
mod tests {
    use crate::transform::{Ctx, TensorInfo};
    use crate::transforms::{add_decayed_weights, scale_by_adam, scale_by_learning_rate, trace};
    use crate::{Chain, Float, Transform};

    /// xorshift values in [-1, 1), with exact zeros and a few large ones.
    fn random<F: Float>(n: usize, seed: u64) -> Vec<F> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let x = ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0;
                F::of(match s % 17 {
                    0 => 0.0,
                    1 => x * 1e4,
                    _ => x,
                })
            })
            .collect()
    }

    fn boxed<F: Float>(ts: Vec<Box<dyn Transform<F>>>) -> Chain<F> {
        Chain::new(ts).unwrap()
    }

    /// The chains the loops cover, as the named optimizers build them (plus variants: lerp in
    /// its other form, dampening, Nesterov).
    type Make<F> = fn() -> Chain<F>;

    fn chains<F: Float>() -> Vec<(&'static str, Make<F>)> {
        vec![
            ("adam", || {
                boxed(vec![
                    Box::new(add_decayed_weights()),
                    Box::new(scale_by_adam(0.9, 0.999, 1e-8, false)),
                    Box::new(scale_by_learning_rate()),
                ])
            }),
            ("adam b1=0.3", || {
                boxed(vec![
                    Box::new(scale_by_adam(0.3, 0.99, 1e-6, false)),
                    Box::new(scale_by_learning_rate()),
                ])
            }),
            ("adamw", || {
                boxed(vec![
                    Box::new(scale_by_adam(0.9, 0.999, 1e-8, false)),
                    Box::new(add_decayed_weights()),
                    Box::new(scale_by_learning_rate()),
                ])
            }),
            ("sgd momentum", || {
                boxed(vec![
                    Box::new(add_decayed_weights()),
                    Box::new(trace(0.9, 0.0, false)),
                    Box::new(scale_by_learning_rate()),
                ])
            }),
            ("sgd nesterov dampening", || {
                boxed(vec![
                    Box::new(add_decayed_weights()),
                    Box::new(trace(0.8, 0.25, true)),
                    Box::new(scale_by_learning_rate()),
                ])
            }),
            ("sgd momentum, no decay link", || {
                boxed(vec![
                    Box::new(trace(0.9, 0.0, true)),
                    Box::new(scale_by_learning_rate()),
                ])
            }),
        ]
    }

    fn same_bits<F: Float>(a: &[F], b: &[F]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.f64().to_bits() == y.f64().to_bits())
    }

    /// Every covered chain gives the general executor's bits over many steps with random
    /// gradients, for weight decay on and off, a gradient scale of 1 and not, a scheduled
    /// momentum, and a tensor small enough for one thread and one split into parallel tasks.
    fn loops_match_chain<F: Float>() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for (name, make) in chains::<F>() {
            let fast = make();
            let general = make().without_fused_loops();
            assert!(fast.hand_fused() && !general.hand_fused(), "{name}");
            for n in [1usize, 37, 1000, 2 * super::TASK + 333] {
                let info = TensorInfo {
                    name: "w",
                    shape: &[n],
                };
                let init: Vec<F> = random(n, 1);
                let (mut pa, mut pb) = (init.clone(), init.clone());
                let (mut sa, mut sb) = (fast.init(&pa, info), general.init(&pb, info));
                let (mut wa, mut wb) = (Vec::new(), Vec::new());
                for step in 1..=12u64 {
                    let grad: Vec<F> = random(n, 100 + step);
                    let ctx = Ctx {
                        lr: 0.01 * (1.0 + step as f64 * 0.1),
                        weight_decay: if step % 3 == 0 { 0.0 } else { 0.05 },
                        momentum: (step % 4 == 0).then_some(0.85),
                        step,
                    };
                    let scale = if step % 2 == 0 { 1.0 } else { 0.37 };
                    pool.install(|| {
                        fast.step_tensor(&ctx, &mut sa, &mut pa, &grad, scale, info, &mut wa);
                        general.step_tensor(&ctx, &mut sb, &mut pb, &grad, scale, info, &mut wb);
                    });
                    assert!(
                        same_bits(&pa, &pb),
                        "{name}, n {n}, step {step}: parameters"
                    );
                    for (x, y) in sa.iter().zip(&sb) {
                        assert_eq!(x.scalars, y.scalars, "{name}, n {n}, step {step}");
                        for (bx, by) in x.bufs.iter().zip(&y.bufs) {
                            assert!(same_bits(bx, by), "{name}, n {n}, step {step}: state");
                        }
                    }
                }
                assert!(!same_bits(&pa, &init), "{name}: the steps moved nothing");
            }
        }
    }

    #[test]
    fn hand_fused_loops_are_bit_identical_to_the_chain_f32() {
        loops_match_chain::<f32>();
    }

    #[test]
    fn hand_fused_loops_are_bit_identical_to_the_chain_f64() {
        loops_match_chain::<f64>();
    }

    /// The named optimizers take the loops; AMSGrad, NAdam and `maximize` do not.
    #[test]
    fn named_optimizers_take_the_loops() {
        use crate::optimizers::{adam::AdamConfig, sgd::SgdConfig};
        let adam = |c: AdamConfig| c.recipe::<f32>().unwrap().chain.hand_fused();
        assert!(adam(AdamConfig::default()));
        assert!(adam(AdamConfig {
            decoupled_weight_decay: true,
            weight_decay: 0.01,
            ..Default::default()
        }));
        assert!(!adam(AdamConfig {
            amsgrad: true,
            ..Default::default()
        }));
        assert!(!adam(AdamConfig {
            maximize: true,
            ..Default::default()
        }));
        let sgd = |c: SgdConfig| c.recipe::<f32>().unwrap().chain.hand_fused();
        assert!(sgd(SgdConfig {
            momentum: 0.9,
            ..Default::default()
        }));
        // Plain SGD (no momentum) keeps the general executor.
        assert!(!sgd(SgdConfig::default()));
    }
}
