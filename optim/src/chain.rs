//! A chain of transforms and the fused executor that runs it over one parameter tensor.

use rayon::prelude::*;

use crate::transform::{BoxedTransform, Coef, Ctx, TensorInfo, Transform, MAX_BUFS};
use crate::{Float, OptimError, Result, State};

/// Longest chain the executor keeps on the stack.
pub const MAX_CHAIN: usize = 16;
/// Elements per inner chunk: small enough that the chunk of every stream stays in L1.
const SUB: usize = 1024;
/// Elements per parallel task, and the size below which a tensor is updated on one thread.
const TASK: usize = 1 << 16;

/// An optimizer as a sequence of transforms (optax's `chain`).
pub struct Chain<F: Float> {
    transforms: Vec<BoxedTransform<F>>,
}

impl<F: Float> std::fmt::Debug for Chain<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl<F: Float> Chain<F> {
    pub fn new(transforms: Vec<BoxedTransform<F>>) -> Result<Self> {
        if transforms.len() > MAX_CHAIN {
            return Err(OptimError::Invalid(format!(
                "a chain holds at most {MAX_CHAIN} transforms, got {}",
                transforms.len()
            )));
        }
        for t in &transforms {
            if t.buffers().len() > MAX_BUFS {
                return Err(OptimError::Invalid(format!(
                    "transform `{}` declares {} buffers; at most {MAX_BUFS}",
                    t.name(),
                    t.buffers().len()
                )));
            }
        }
        Ok(Chain { transforms })
    }

    /// Appends a transform (builder style).
    pub fn then(mut self, t: impl Transform<F> + 'static) -> Result<Self> {
        self.transforms.push(Box::new(t));
        Chain::new(self.transforms)
    }

    /// Puts a transform in front (used for clipping and `maximize`).
    pub fn prepend(mut self, t: impl Transform<F> + 'static) -> Result<Self> {
        self.transforms.insert(0, Box::new(t));
        Chain::new(self.transforms)
    }

    pub fn transforms(&self) -> &[BoxedTransform<F>] {
        &self.transforms
    }

    /// `"scale_by_adam > add_decayed_weights > scale_by_learning_rate"`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.transforms.iter().map(|t| t.name()).collect();
        names.join(" > ")
    }

    /// True when every transform is elementwise, so the whole step runs in one fused pass.
    pub fn fused(&self) -> bool {
        self.transforms.iter().all(|t| t.elementwise())
    }

    /// Fresh state of every transform for one parameter.
    pub fn init(&self, param: &[F], info: TensorInfo<'_>) -> Vec<State<F>> {
        self.transforms
            .iter()
            .map(|t| {
                let s = t.init(param, info);
                if t.elementwise() {
                    for b in &s.bufs {
                        assert_eq!(
                            b.len(),
                            param.len(),
                            "elementwise transform `{}` must keep parameter-sized buffers",
                            t.name()
                        );
                    }
                }
                s
            })
            .collect()
    }

    /// One optimizer step for one tensor: `param += chain(grad * grad_scale)`.
    ///
    /// `work` is a parameter-sized buffer kept by the caller; it is used only when the chain
    /// holds a whole-tensor transform (the fused path needs none), and is grown once, never per
    /// step.
    #[allow(clippy::too_many_arguments)]
    pub fn step_tensor(
        &self,
        ctx: &Ctx,
        states: &mut [State<F>],
        param: &mut [F],
        grad: &[F],
        grad_scale: f64,
        info: TensorInfo<'_>,
        work: &mut Vec<F>,
    ) {
        debug_assert_eq!(states.len(), self.transforms.len());
        debug_assert_eq!(param.len(), grad.len());
        if self.fused() {
            let mut coefs = [[0.0; 8]; MAX_CHAIN];
            for (i, (t, s)) in self.transforms.iter().zip(states.iter_mut()).enumerate() {
                coefs[i] = t.begin(ctx, &mut s.scalars);
            }
            let run = Run::new(&self.transforms, &coefs, states, 0..self.transforms.len());
            run.fused(param, grad, F::of(grad_scale));
        } else {
            work.clear();
            let s = F::of(grad_scale);
            if grad_scale == 1.0 {
                work.extend_from_slice(grad);
            } else {
                work.extend(grad.iter().map(|&g| g * s));
            }
            let mut i = 0;
            while i < self.transforms.len() {
                if self.transforms[i].elementwise() {
                    // A run of elementwise transforms: one pass over the work buffer.
                    let mut j = i;
                    let mut coefs = [[0.0; 8]; MAX_CHAIN];
                    while j < self.transforms.len() && self.transforms[j].elementwise() {
                        coefs[j] = self.transforms[j].begin(ctx, &mut states[j].scalars);
                        j += 1;
                    }
                    Run::new(&self.transforms, &coefs, states, i..j).in_place(work, param);
                    i = j;
                } else {
                    self.transforms[i].tensor(ctx, &mut states[i], work, param, info);
                    i += 1;
                }
            }
            add_assign(param, work);
        }
    }
}

/// `a += b`, in parallel for large tensors.
fn add_assign<F: Float>(a: &mut [F], b: &[F]) {
    if a.len() >= 2 * TASK {
        a.par_chunks_mut(TASK)
            .zip(b.par_chunks(TASK))
            .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(a, &b)| *a += b));
    } else {
        a.iter_mut().zip(b).for_each(|(a, &b)| *a += b);
    }
}

/// A raw pointer that may cross threads. Every use below hands each thread a disjoint range.
#[derive(Clone, Copy)]
struct Ptr<F>(*mut F);
unsafe impl<F> Send for Ptr<F> {}
unsafe impl<F> Sync for Ptr<F> {}
impl<F> Ptr<F> {
    // A method call makes closures capture the whole `Ptr` (which is Send) rather than the raw
    // pointer field (which is not).
    #[inline(always)]
    fn get(self) -> *mut F {
        self.0
    }
}

/// A run of consecutive elementwise transforms with the base pointers of all their buffers, so
/// that chunks of one tensor can be processed in parallel without allocating.
struct Run<'a, F: Float> {
    transforms: &'a [BoxedTransform<F>],
    coefs: &'a [Coef; MAX_CHAIN],
    range: std::ops::Range<usize>,
    bufs: [[Ptr<F>; MAX_BUFS]; MAX_CHAIN],
    nbufs: [usize; MAX_CHAIN],
}

unsafe impl<F: Float> Sync for Run<'_, F> {}

impl<'a, F: Float> Run<'a, F> {
    fn new(
        transforms: &'a [BoxedTransform<F>],
        coefs: &'a [Coef; MAX_CHAIN],
        states: &'a mut [State<F>],
        range: std::ops::Range<usize>,
    ) -> Self {
        let mut bufs = [[Ptr(std::ptr::null_mut()); MAX_BUFS]; MAX_CHAIN];
        let mut nbufs = [0; MAX_CHAIN];
        for i in range.clone() {
            nbufs[i] = states[i].bufs.len();
            for (k, b) in states[i].bufs.iter_mut().enumerate() {
                bufs[i][k] = Ptr(b.as_mut_ptr());
            }
        }
        Run {
            transforms,
            coefs,
            range,
            bufs,
            nbufs,
        }
    }

    /// Runs the transforms over elements `lo..hi`, with `upd` and `param` already cut to it.
    ///
    /// # Safety
    /// No other thread may touch elements `lo..hi` of the state buffers at the same time.
    #[inline]
    unsafe fn apply(&self, lo: usize, upd: &mut [F], param: &[F]) {
        let n = upd.len();
        for i in self.range.clone() {
            let mut slots: [&mut [F]; MAX_BUFS] = Default::default();
            for (k, slot) in slots.iter_mut().enumerate().take(self.nbufs[i]) {
                *slot = std::slice::from_raw_parts_mut(self.bufs[i][k].get().add(lo), n);
            }
            self.transforms[i].chunk(&self.coefs[i], &mut slots[..self.nbufs[i]], upd, param);
        }
    }

    /// The fused step: per L1-sized chunk, load the scaled gradient into a stack buffer, run every
    /// transform over it and add the result to the parameter.
    fn fused(&self, param: &mut [F], grad: &[F], scale: F) {
        let len = param.len();
        let p = Ptr(param.as_mut_ptr());
        let task = |t: usize| {
            let lo = t * TASK;
            let hi = (lo + TASK).min(len);
            let mut scratch = [F::zero(); SUB];
            let mut s = lo;
            while s < hi {
                let e = (s + SUB).min(hi);
                let upd = &mut scratch[..e - s];
                let g = &grad[s..e];
                if scale == F::one() {
                    upd.copy_from_slice(g);
                } else {
                    upd.iter_mut().zip(g).for_each(|(u, &g)| *u = g * scale);
                }
                // SAFETY: tasks cover disjoint ranges of the parameter and of every buffer.
                let prm = unsafe { std::slice::from_raw_parts_mut(p.get().add(s), e - s) };
                unsafe { self.apply(s, upd, prm) };
                prm.iter_mut().zip(upd.iter()).for_each(|(p, &u)| *p += u);
                s = e;
            }
        };
        let tasks = len.div_ceil(TASK);
        if len >= 2 * TASK {
            (0..tasks).into_par_iter().for_each(task);
        } else {
            (0..tasks).for_each(task);
        }
    }

    /// Runs the transforms over a materialised update buffer, in place.
    fn in_place(&self, upd: &mut [F], param: &[F]) {
        let len = upd.len();
        let u = Ptr(upd.as_mut_ptr());
        let task = |t: usize| {
            let lo = t * TASK;
            let hi = (lo + TASK).min(len);
            // SAFETY: tasks cover disjoint ranges.
            let upd = unsafe { std::slice::from_raw_parts_mut(u.get().add(lo), hi - lo) };
            unsafe { self.apply(lo, upd, &param[lo..hi]) };
        };
        let tasks = len.div_ceil(TASK);
        if len >= 2 * TASK {
            (0..tasks).into_par_iter().for_each(task);
        } else {
            (0..tasks).for_each(task);
        }
    }
}
