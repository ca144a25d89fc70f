//! The driver: walks a model's parameters, resolves parameter groups, clips by the global norm,
//! skips missing gradients and non-finite steps, and runs the chain on each tensor.

use crate::hyper::{Check, Hyper};
use crate::transform::{Ctx, TensorInfo};
use crate::transforms::{adaptive_clip, clip_by_param_norm, clip_by_value};
use crate::{Chain, Float, OptimError, Params, Recipe, Result, State};

/// A parameter group: the parameters whose names match any of `patterns` (glob syntax:
/// `*.bias`, `*norm*`), with their own learning rate and weight decay. Group 0 is the default
/// group, holding every parameter no other group claims; a parameter belongs to the first
/// group that matches it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupSpec {
    pub patterns: Vec<String>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    /// Replaces the optimizer's momentum (SGD/RMSprop momentum, Adam's first beta) for the group.
    pub momentum: Option<f64>,
}

impl GroupSpec {
    /// Reads `[[optimizer.groups]]` entries: `params = [...]`, optional `lr`, `weight_decay`,
    /// `momentum`.
    pub fn from_toml(context: &str, v: &toml::Value) -> Result<Vec<GroupSpec>> {
        let arr = v.as_array().ok_or_else(|| {
            OptimError::invalid(
                context,
                "groups",
                v,
                "expected a list of tables ([[optimizer.groups]])",
            )
        })?;
        arr.iter()
            .enumerate()
            .map(|(i, g)| {
                let ctx = format!("{context}: groups[{i}]");
                let t = g
                    .as_table()
                    .ok_or_else(|| OptimError::invalid(&ctx, "groups", g, "expected a table"))?;
                let patterns = match t.get("params") {
                    Some(toml::Value::Array(a)) => a
                        .iter()
                        .map(|p| {
                            p.as_str().map(str::to_string).ok_or_else(|| {
                                OptimError::invalid(
                                    &ctx,
                                    "params",
                                    p,
                                    "expected name patterns (strings)",
                                )
                            })
                        })
                        .collect::<Result<Vec<_>>>()?,
                    Some(other) => {
                        return Err(OptimError::invalid(
                            &ctx,
                            "params",
                            other,
                            "expected a list of name patterns",
                        ))
                    }
                    None => {
                        return Err(OptimError::Missing {
                            context: ctx,
                            field: "params".into(),
                        })
                    }
                };
                let mut h = Hyper::new(ctx, t).ignoring(&["params"]);
                let lr = h.opt_f64("lr", Check::NonNeg)?;
                let weight_decay = h.opt_f64("weight_decay", Check::NonNeg)?;
                let momentum = h.opt_f64("momentum", Check::Unit)?;
                h.finish()?;
                Ok(GroupSpec {
                    patterns,
                    lr,
                    weight_decay,
                    momentum,
                })
            })
            .collect()
    }
}

/// Clipping by the global norm over all gradients, and skipping of non-finite steps; both need
/// every gradient before any parameter moves, so they live here rather than in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Clipping {
    /// `torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)`: gradients are multiplied by
    /// `min(1, max_norm / (total_norm + 1e-6))`.
    pub max_norm: Option<f64>,
    /// `2.0`, any `p ≥ 1`, or `f64::INFINITY`.
    pub norm_type: f64,
    /// Skip the whole step (no parameter or state changes) when any gradient is NaN or ±∞.
    pub skip_nonfinite: bool,
}

impl Default for Clipping {
    fn default() -> Self {
        Clipping {
            max_norm: None,
            norm_type: 2.0,
            skip_nonfinite: false,
        }
    }
}

/// The whole `[clip]` section: global-norm clipping for the driver plus per-tensor clipping
/// transforms to put in front of the chain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClipConfig {
    pub global: Clipping,
    /// `clip_grad_value_`
    pub value: Option<f64>,
    /// Per-parameter norm clipping.
    pub param_max_norm: Option<f64>,
    /// Adaptive gradient clipping: `(clipping, eps)`.
    pub agc: Option<(f64, f64)>,
}

impl ClipConfig {
    /// Reads a `[clip]` table: `max_norm`, `norm_type`, `value`, `param_max_norm`,
    /// `agc_clipping`, `agc_eps`, `skip_nonfinite`.
    pub fn from_toml(context: &str, t: &toml::Table) -> Result<ClipConfig> {
        let mut h = Hyper::new(context, t);
        let max_norm = h.opt_f64("max_norm", Check::Positive)?;
        let norm_type = h.f64("norm_type", 2.0, Check::Any);
        let norm_type = match (t.get("norm_type"), norm_type) {
            (Some(toml::Value::String(s)), _) if s == "inf" => f64::INFINITY,
            (_, Ok(p)) if p >= 1.0 => p,
            (Some(v), _) => {
                return Err(OptimError::invalid(
                    context,
                    "norm_type",
                    v,
                    "must be >= 1 or \"inf\"",
                ))
            }
            (None, _) => 2.0,
        };
        let value = h.opt_f64("value", Check::Positive)?;
        let param_max_norm = h.opt_f64("param_max_norm", Check::Positive)?;
        let agc_clipping = h.opt_f64("agc_clipping", Check::Positive)?;
        let agc_eps = h.f64("agc_eps", 1e-3, Check::Positive)?;
        let skip_nonfinite = h.bool("skip_nonfinite", false)?;
        h.finish()?;
        Ok(ClipConfig {
            global: Clipping {
                max_norm,
                norm_type,
                skip_nonfinite,
            },
            value,
            param_max_norm,
            agc: agc_clipping.map(|c| (c, agc_eps)),
        })
    }

    /// The chain with this config's per-tensor clipping transforms in front.
    pub fn wrap<F: Float>(&self, mut chain: Chain<F>) -> Result<Chain<F>> {
        if let Some((c, eps)) = self.agc {
            chain = chain.prepend(adaptive_clip(c, eps))?;
        }
        if let Some(m) = self.param_max_norm {
            chain = chain.prepend(clip_by_param_norm(m))?;
        }
        if let Some(v) = self.value {
            chain = chain.prepend(clip_by_value(v))?;
        }
        Ok(chain)
    }
}

/// A resolved parameter group.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub patterns: Vec<String>,
    pub lr: f64,
    pub weight_decay: f64,
    /// Scheduled momentum, if a schedule drives it.
    pub momentum: Option<f64>,
    /// The lr the group was created with (PyTorch's `initial_lr`).
    pub initial_lr: f64,
}

/// What happened in one [`Optimizer::step`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Total gradient norm before clipping, when clipping or skipping computed it.
    pub grad_norm: Option<f64>,
    /// The factor gradients were multiplied by (1 when not clipped).
    pub clip_coef: f64,
    /// True when the step was skipped because a gradient was not finite.
    pub skipped: bool,
}

pub(crate) struct Slot<F: Float> {
    pub name: String,
    pub shape: Vec<usize>,
    pub len: usize,
    pub group: usize,
    pub state: Option<Vec<State<F>>>,
    pub work: Vec<F>,
}

/// An optimizer over a fixed set of named parameters (see the crate docs).
pub struct Optimizer<F: Float> {
    pub(crate) name: String,
    pub(crate) chain: Chain<F>,
    pub(crate) groups: Vec<Group>,
    pub(crate) slots: Vec<Slot<F>>,
    pub(crate) step: u64,
    pub(crate) skipped: u64,
    pub(crate) clipping: Clipping,
}

impl<F: Float> Optimizer<F> {
    /// An optimizer for `params` with one group.
    pub fn new(recipe: Recipe<F>, params: &impl Params<F>) -> Result<Self> {
        Self::with_groups(recipe, params, &[])
    }

    /// An optimizer with parameter groups (see [`GroupSpec`]). A group whose patterns match no
    /// parameter is an error, since it is almost always a misspelt name.
    pub fn with_groups(
        recipe: Recipe<F>,
        params: &impl Params<F>,
        specs: &[GroupSpec],
    ) -> Result<Self> {
        let mut groups = vec![Group {
            patterns: vec!["*".into()],
            lr: recipe.lr,
            weight_decay: recipe.weight_decay,
            momentum: None,
            initial_lr: recipe.lr,
        }];
        let mut compiled = Vec::new();
        for s in specs {
            let pats = s
                .patterns
                .iter()
                .map(|p| {
                    glob::Pattern::new(p).map_err(|e| {
                        OptimError::invalid(
                            "optimizer groups",
                            "params",
                            format!("{p:?}"),
                            e.to_string(),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            compiled.push(pats);
            let lr = s.lr.unwrap_or(recipe.lr);
            groups.push(Group {
                patterns: s.patterns.clone(),
                lr,
                weight_decay: s.weight_decay.unwrap_or(recipe.weight_decay),
                momentum: s.momentum,
                initial_lr: lr,
            });
        }
        let mut used = vec![false; specs.len()];
        let slots = (0..params.count())
            .map(|i| {
                let name = params.name(i);
                let group = compiled
                    .iter()
                    .position(|pats| pats.iter().any(|p| p.matches(name)))
                    .map_or(0, |g| {
                        used[g] = true;
                        g + 1
                    });
                Slot {
                    name: name.to_string(),
                    shape: params.shape(i).to_vec(),
                    len: params.value(i).len(),
                    group,
                    state: None,
                    work: Vec::new(),
                }
            })
            .collect();
        if let Some(g) = used.iter().position(|u| !u) {
            return Err(OptimError::invalid(
                "optimizer groups",
                &format!("groups[{g}].params"),
                format!("{:?}", specs[g].patterns),
                "matches no parameter",
            ));
        }
        Ok(Optimizer {
            name: recipe.name,
            chain: recipe.chain,
            groups,
            slots,
            step: 0,
            skipped: 0,
            clipping: Clipping::default(),
        })
    }

    /// Sets global-norm clipping and non-finite skipping.
    pub fn set_clipping(&mut self, clipping: Clipping) -> Result<()> {
        if let Some(m) = clipping.max_norm {
            if !(m > 0.0 && m.is_finite()) {
                return Err(OptimError::invalid("clip", "max_norm", m, "must be > 0"));
            }
        }
        if clipping.norm_type.is_nan() || clipping.norm_type < 1.0 {
            return Err(OptimError::invalid(
                "clip",
                "norm_type",
                clipping.norm_type,
                "must be >= 1",
            ));
        }
        self.clipping = clipping;
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn chain(&self) -> &Chain<F> {
        &self.chain
    }
    /// Number of steps taken (skipped ones included, as PyTorch's schedulers count them).
    pub fn steps(&self) -> u64 {
        self.step
    }
    /// Number of steps skipped because a gradient was not finite.
    pub fn skipped_steps(&self) -> u64 {
        self.skipped
    }
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
    /// The learning rate of every group, group 0 first.
    pub fn lrs(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.lr).collect()
    }
    pub fn initial_lrs(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.initial_lr).collect()
    }
    pub fn set_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].lr = lr;
    }
    /// Sets every group's learning rate (as a schedule does).
    pub fn set_lrs(&mut self, lrs: &[f64]) {
        for (g, &lr) in self.groups.iter_mut().zip(lrs) {
            g.lr = lr;
        }
    }
    pub fn set_momentum(&mut self, group: usize, momentum: Option<f64>) {
        self.groups[group].momentum = momentum;
    }
    /// The group of parameter `i`.
    pub fn group_of(&self, i: usize) -> usize {
        self.slots[i].group
    }
    /// The state of parameter `name`, one entry per transform (`None` before its first step).
    pub fn state(&self, name: &str) -> Option<&[State<F>]> {
        self.slots.iter().find(|s| s.name == name)?.state.as_deref()
    }

    fn check(&self, params: &impl Params<F>) -> Result<()> {
        if params.count() != self.slots.len() {
            return Err(OptimError::StateMismatch(format!(
                "optimizer was built for {} parameters, step got {}",
                self.slots.len(),
                params.count()
            )));
        }
        for (i, s) in self.slots.iter().enumerate() {
            if params.value(i).len() != s.len {
                return Err(OptimError::StateMismatch(format!(
                    "parameter `{}` has {} elements, optimizer expects {}",
                    params.name(i),
                    params.value(i).len(),
                    s.len
                )));
            }
        }
        Ok(())
    }

    /// Total gradient norm over all present gradients, in `f64`.
    fn total_norm(&self, params: &impl Params<F>) -> f64 {
        let p = self.clipping.norm_type;
        let mut acc = 0.0f64;
        for i in 0..params.count() {
            let Some(g) = params.grad(i) else { continue };
            if p == f64::INFINITY {
                acc = g.iter().fold(acc, |m, &x| m.max(x.f64().abs()));
                if g.iter().any(|x| x.is_nan()) {
                    acc = f64::NAN;
                }
            } else if p == 2.0 {
                acc += g.iter().map(|&x| x.f64() * x.f64()).sum::<f64>();
            } else {
                acc += g.iter().map(|&x| x.f64().abs().powf(p)).sum::<f64>();
            }
        }
        if p == f64::INFINITY {
            acc
        } else if p == 2.0 {
            acc.sqrt()
        } else {
            acc.powf(1.0 / p)
        }
    }

    /// One optimizer step: every parameter with a gradient moves by its chain's update.
    pub fn step(&mut self, params: &mut impl Params<F>) -> Result<StepReport> {
        self.check(params)?;
        let mut report = StepReport {
            grad_norm: None,
            clip_coef: 1.0,
            skipped: false,
        };
        if self.clipping.max_norm.is_some() || self.clipping.skip_nonfinite {
            let norm = self.total_norm(params);
            report.grad_norm = Some(norm);
            if self.clipping.skip_nonfinite && !norm.is_finite() {
                self.step += 1;
                self.skipped += 1;
                report.skipped = true;
                return Ok(report);
            }
            if let Some(max_norm) = self.clipping.max_norm {
                // clip_grad_norm_ multiplies by the clamped coefficient; a NaN norm propagates.
                let coef = max_norm / (norm + 1e-6);
                report.clip_coef = if coef.is_nan() {
                    f64::NAN
                } else {
                    coef.min(1.0)
                };
            }
        }
        self.step += 1;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let (value, grad) = params.value_grad_mut(i);
            let Some(grad) = grad else { continue };
            let info = TensorInfo {
                name: &slot.name,
                shape: &slot.shape,
            };
            let state = slot
                .state
                .get_or_insert_with(|| self.chain.init(value, info));
            let g = &self.groups[slot.group];
            let ctx = Ctx {
                lr: g.lr,
                weight_decay: g.weight_decay,
                momentum: g.momentum,
                step: self.step,
            };
            self.chain.step_tensor(
                &ctx,
                state,
                value,
                grad,
                report.clip_coef,
                info,
                &mut slot.work,
            );
        }
        Ok(report)
    }
}
