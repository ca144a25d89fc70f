//! Learning-rate schedules with PyTorch's step-by-step semantics.
//!
//! Contract: a schedule is created from the optimizer's initial group learning rates; `lrs()` is
//! the learning rate of every group for the coming optimizer step; `step(metric)` is called once
//! after each optimizer step (PyTorch's `scheduler.step()`; `metric` feeds reduce-on-plateau).
//!
//! Every schedule reproduces the code path `torch.optim.lr_scheduler` takes for
//! `scheduler.step()` without an epoch argument, including its rounding: most schedulers use the
//! recursive ("chainable") form, which multiplies the *current* lr by a ratio each step
//! (`ExponentialLR` multiplies by `gamma` every step, `CosineAnnealingLR` by a ratio of cosines,
//! `LinearLR` and `PolynomialLR` by ratios of their factors), and the closed form is used only
//! where PyTorch uses it (`SequentialLR` restarting a scheduler at a milestone with `step(0)`).
//! The formulas are written in Python's order of operations, so f64 results match PyTorch's to
//! the last bit where libm's `cos`/`pow` agree.
//!
//! The schedulers share one set of parameter-group fields ([`Groups`]: `lr`, `initial_lr`,
//! `momentum`, and one-cycle's `max_lr`, `min_lr`, `max_momentum`, `base_momentum`), as PyTorch's
//! schedulers share the optimizer's `param_groups`. That matters for [`sequential`]: its
//! schedulers are constructed one after another on the same groups (a `one_cycle` overwrites
//! `initial_lr`), then `SequentialLR` resets `lr` to `initial_lr`, undoes every scheduler's
//! initial step and redoes only the first one's; at a milestone the next scheduler is restarted
//! with `step(0)` (closed form where the scheduler has one).
//!
//! The code paths followed are those of current PyTorch 2.x (`_is_initial`, `_update_lr(0)` in
//! `SequentialLR`); older 2.x releases (`last_epoch == 0` checks, `step(0)`) give the same values
//! for every configuration accepted here. Stricter than PyTorch: values that would make it divide
//! by zero or produce nonsense later (`factor = 0`, `total_iters = 0`, unordered sequential
//! milestones, negative gammas) are rejected up front.
//!
//! Families: [`closed`] (constant, step, multistep, exponential, cosine, cosine warm restarts,
//! linear, polynomial), [`one_cycle`], [`plateau`], [`sequential`].

use crate::hyper::Hyper;
use crate::{Float, OptimError, Result};

pub mod closed;
pub mod one_cycle;
pub mod plateau;
pub mod sequential;

/// A learning-rate (and optionally momentum) schedule over parameter groups.
pub trait LrSchedule: Send {
    /// Schedule name as in config files (`cosine`, `one_cycle`, ...).
    fn name(&self) -> &'static str;
    /// The learning rate of each group for the coming step.
    fn lrs(&self) -> &[f64];
    /// The scheduled momentum (or Adam's beta1) of each group, for schedules that drive it.
    fn momentums(&self) -> Option<&[f64]> {
        None
    }
    /// Advances one step; `metric` is required by reduce-on-plateau and ignored by the others.
    fn step(&mut self, metric: Option<f64>) -> Result<()>;
    /// The schedule's whole state as numbers, for checkpoints.
    fn state(&self) -> Vec<f64>;
    /// Restores [`LrSchedule::state`]; the next `lrs()` is then identical to the saved run's.
    fn load_state(&mut self, state: &[f64]) -> Result<()>;
}

/// Every schedule name [`from_table`] accepts (`"none"` — no schedule — is handled by callers).
pub const NAMES: &[&str] = &[
    "constant",
    "step",
    "multistep",
    "exponential",
    "cosine",
    "cosine_warm_restarts",
    "linear",
    "polynomial",
    "one_cycle",
    "sequential",
    "reduce_on_plateau",
];

/// Builds a schedule from a config table such as `[schedule]`: `name` plus the scheduler's
/// arguments with PyTorch's names in snake_case. `initial_lrs` are the optimizer's group lrs;
/// `initial_momentum` is the optimizer's momentum (or beta1), `None` for optimizers without one
/// (one-cycle's `cycle_momentum` then is an error, as in PyTorch).
pub fn from_table(
    context: &str,
    table: &toml::Table,
    initial_lrs: &[f64],
    initial_momentum: Option<f64>,
) -> Result<Box<dyn LrSchedule>> {
    let name = table_name(context, table)?;
    if initial_lrs.is_empty() {
        return Err(OptimError::Invalid(format!(
            "{context}: schedule `{name}` needs at least one parameter group"
        )));
    }
    if let Some(lr) = initial_lrs.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
        return Err(OptimError::invalid(
            context,
            "lr",
            lr,
            "must be a finite number >= 0",
        ));
    }
    if name == "none" {
        return Err(OptimError::Invalid(format!(
            "{context}: schedule `none` means no schedule and builds nothing; valid schedules: {}",
            NAMES.join(", ")
        )));
    }
    let mut groups = Groups::new(initial_lrs);
    let mut h = Hyper::new(format!("{context} (schedule `{name}`)"), table).ignoring(&["name"]);
    let core = build_core(&name, &mut h, &mut groups, initial_momentum, false)?;
    h.finish()?;
    Ok(Box::new(Schedule { groups, core }))
}

/// Sets every group's lr and momentum of `opt` from the schedule (momentum `None` when the
/// schedule does not drive it, so the optimizer's own applies).
pub fn apply<F: Float>(sched: &dyn LrSchedule, opt: &mut crate::Optimizer<F>) {
    opt.set_lrs(sched.lrs());
    // A schedule that does not drive momentum leaves each group's own (possibly overridden)
    // momentum alone.
    if let Some(m) = sched.momentums() {
        for (g, &mom) in m.iter().enumerate().take(opt.groups().len()) {
            opt.set_momentum(g, Some(mom));
        }
    }
}

/// PyTorch's scheduler class names for gradlab's schedules.
pub const TORCH_ALIASES: &[(&str, &str)] = &[
    ("ConstantLR", "constant"),
    ("StepLR", "step"),
    ("MultiStepLR", "multistep"),
    ("ExponentialLR", "exponential"),
    ("CosineAnnealingLR", "cosine"),
    ("CosineAnnealingWarmRestarts", "cosine_warm_restarts"),
    ("LinearLR", "linear"),
    ("PolynomialLR", "polynomial"),
    ("OneCycleLR", "one_cycle"),
    ("SequentialLR", "sequential"),
    ("ReduceLROnPlateau", "reduce_on_plateau"),
];

/// The canonical name of a schedule as a person may write it: any case, and PyTorch's class
/// names ([`TORCH_ALIASES`]: `StepLR` is `step`, `OneCycleLR` is `one_cycle`). `none` stays
/// `none`.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    if present::choices::normalize(name) == "none" {
        return Some("none");
    }
    present::choices::resolve(name, NAMES, TORCH_ALIASES)
}

fn table_name(context: &str, table: &toml::Table) -> Result<String> {
    match table.get("name") {
        Some(toml::Value::String(s)) => Ok(canonical_name(s).unwrap_or(s).to_string()),
        Some(v) => Err(OptimError::invalid(context, "name", v, "expected a string")),
        None => Err(OptimError::Missing {
            context: context.to_string(),
            field: "name".into(),
        }),
    }
}

/// Builds one scheduler on `g`, running its constructor's initial step as PyTorch does.
/// `nested` is true inside `sequential`, where plateau and sequential are not allowed.
pub(crate) fn build_core(
    name: &str,
    h: &mut Hyper<'_>,
    g: &mut Groups,
    initial_momentum: Option<f64>,
    nested: bool,
) -> Result<Box<dyn Core>> {
    match name {
        "constant" => closed::constant(h, g),
        "step" => closed::step(h, g),
        "multistep" => closed::multistep(h, g),
        "exponential" => closed::exponential(h, g),
        "cosine" => closed::cosine(h, g),
        "cosine_warm_restarts" => closed::cosine_warm_restarts(h, g),
        "linear" => closed::linear(h, g),
        "polynomial" => closed::polynomial(h, g),
        "one_cycle" => one_cycle::build(h, g, initial_momentum),
        "sequential" | "reduce_on_plateau" if nested => Err(OptimError::invalid(
            h.context(),
            "name",
            format!("{name:?}"),
            "not allowed inside `sequential` (PyTorch's SequentialLR accepts neither)",
        )),
        "sequential" => sequential::build(h, g, initial_momentum),
        "reduce_on_plateau" => plateau::build(h, g),
        _ => Err(OptimError::Unknown {
            context: h.context().to_string(),
            what: "schedule",
            name: name.to_string(),
            valid: NAMES.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

/// The parameter-group fields PyTorch's schedulers read and write (`optimizer.param_groups`).
#[derive(Clone, Debug, PartialEq)]
pub struct Groups {
    pub lr: Vec<f64>,
    pub initial_lr: Vec<f64>,
    /// `momentum` / `betas[0]`, once a scheduler has set it.
    pub momentum: Option<Vec<f64>>,
    pub max_lr: Option<Vec<f64>>,
    pub min_lr: Option<Vec<f64>>,
    pub max_momentum: Option<Vec<f64>>,
    pub base_momentum: Option<Vec<f64>>,
}

impl Groups {
    pub fn new(lrs: &[f64]) -> Groups {
        Groups {
            lr: lrs.to_vec(),
            initial_lr: lrs.to_vec(),
            momentum: None,
            max_lr: None,
            min_lr: None,
            max_momentum: None,
            base_momentum: None,
        }
    }

    pub fn len(&self) -> usize {
        self.lr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lr.is_empty()
    }

    fn save(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(&self.lr);
        out.extend_from_slice(&self.initial_lr);
        for o in [
            &self.momentum,
            &self.max_lr,
            &self.min_lr,
            &self.max_momentum,
            &self.base_momentum,
        ] {
            put_opt(out, o);
        }
    }

    fn load(r: &mut Reader<'_>) -> Result<Groups> {
        Ok(Groups {
            lr: r.vec()?,
            initial_lr: r.vec()?,
            momentum: r.opt_vec()?,
            max_lr: r.opt_vec()?,
            min_lr: r.opt_vec()?,
            max_momentum: r.opt_vec()?,
            base_momentum: r.opt_vec()?,
        })
    }
}

/// One PyTorch scheduler object working on shared [`Groups`].
pub trait Core: Send {
    fn name(&self) -> &'static str;
    /// `scheduler.step()` (or `step(metric)` for plateau).
    fn step(&mut self, g: &mut Groups, metric: Option<f64>) -> Result<()>;
    /// `scheduler._initial_step()`.
    fn initial_step(&mut self, g: &mut Groups) -> Result<()>;
    /// What `SequentialLR` does at a milestone: `_update_lr(0)` (`step(0)` in older releases):
    /// `last_epoch = 0` and the closed form where the scheduler has one.
    fn restart(&mut self, g: &mut Groups) -> Result<()>;
    /// `SequentialLR`'s undo of the constructor's step: `last_epoch -= 1`.
    fn undo(&mut self);
    fn save(&self, out: &mut Vec<f64>);
    fn load(&mut self, r: &mut Reader<'_>) -> Result<()>;
}

/// `LRScheduler`'s own fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Base {
    pub last_epoch: i64,
    pub step_count: i64,
    pub base_lrs: Vec<f64>,
}

/// The formula of a chainable scheduler (`get_lr`, and `_get_closed_form_lr` where it exists).
pub trait Rule: Send {
    fn name(&self) -> &'static str;
    /// `get_lr()`: the new lrs from the current ones in `g`; `initial` is PyTorch's `_is_initial`.
    /// May set other group fields (one-cycle's momentum).
    fn get_lr(&self, b: &Base, g: &mut Groups, initial: bool) -> Result<Vec<f64>>;
    fn closed_form(&self, _b: &Base) -> Option<Vec<f64>> {
        None
    }
}

/// An `LRScheduler` subclass that keeps the base class's `step`.
pub struct Chainable<R: Rule> {
    pub base: Base,
    pub rule: R,
}

impl<R: Rule + 'static> Chainable<R> {
    /// PyTorch's constructor with `last_epoch = -1`: `base_lrs = initial_lr`, then the initial
    /// step.
    pub fn boxed(rule: R, g: &mut Groups) -> Result<Box<dyn Core>> {
        let mut c = Chainable {
            base: Base {
                last_epoch: -1,
                step_count: 0,
                base_lrs: g.initial_lr.clone(),
            },
            rule,
        };
        c.initial_step(g)?;
        Ok(Box::new(c))
    }

    fn update(&mut self, g: &mut Groups, initial: bool) -> Result<()> {
        let saved = (self.base.last_epoch, self.base.step_count);
        self.base.step_count += 1;
        self.base.last_epoch += 1;
        match self.rule.get_lr(&self.base, g, initial) {
            Ok(v) => {
                g.lr = v;
                Ok(())
            }
            Err(e) => {
                (self.base.last_epoch, self.base.step_count) = saved;
                Err(e)
            }
        }
    }
}

impl<R: Rule + 'static> Core for Chainable<R> {
    fn name(&self) -> &'static str {
        self.rule.name()
    }
    fn step(&mut self, g: &mut Groups, _metric: Option<f64>) -> Result<()> {
        self.update(g, false)
    }
    fn initial_step(&mut self, g: &mut Groups) -> Result<()> {
        self.base.step_count = 0;
        self.update(g, true)
    }
    fn restart(&mut self, g: &mut Groups) -> Result<()> {
        let saved = self.base.last_epoch;
        self.base.last_epoch = 0;
        let v = match self.rule.closed_form(&self.base) {
            Some(v) => Ok(v),
            None => self.rule.get_lr(&self.base, g, false),
        };
        match v {
            Ok(v) => {
                g.lr = v;
                Ok(())
            }
            Err(e) => {
                self.base.last_epoch = saved;
                Err(e)
            }
        }
    }
    fn undo(&mut self) {
        self.base.last_epoch -= 1;
    }
    fn save(&self, out: &mut Vec<f64>) {
        out.push(self.base.last_epoch as f64);
        out.push(self.base.step_count as f64);
        out.extend_from_slice(&self.base.base_lrs);
    }
    fn load(&mut self, r: &mut Reader<'_>) -> Result<()> {
        self.base.last_epoch = r.int()?;
        self.base.step_count = r.int()?;
        self.base.base_lrs = r.vec()?;
        Ok(())
    }
}

/// Version tag at the front of [`LrSchedule::state`].
const STATE_VERSION: f64 = 1.0;

/// A scheduler together with the groups it drives: the [`LrSchedule`] every builder returns.
struct Schedule {
    groups: Groups,
    core: Box<dyn Core>,
}

impl Schedule {
    fn try_load(&mut self, state: &[f64]) -> Result<()> {
        let name = self.core.name();
        let mut r = Reader {
            s: state,
            pos: 0,
            n: self.groups.len(),
            name,
        };
        if r.num()? != STATE_VERSION {
            return Err(r.error("unknown state version"));
        }
        if r.int()? != self.groups.len() as i64 {
            return Err(r.error("saved with a different number of parameter groups"));
        }
        let groups = Groups::load(&mut r)?;
        self.core.load(&mut r)?;
        r.finish()?;
        self.groups = groups;
        Ok(())
    }
}

impl LrSchedule for Schedule {
    fn name(&self) -> &'static str {
        self.core.name()
    }
    fn lrs(&self) -> &[f64] {
        &self.groups.lr
    }
    fn momentums(&self) -> Option<&[f64]> {
        self.groups.momentum.as_deref()
    }
    fn step(&mut self, metric: Option<f64>) -> Result<()> {
        self.core.step(&mut self.groups, metric)
    }
    fn state(&self) -> Vec<f64> {
        let mut out = vec![STATE_VERSION, self.groups.len() as f64];
        self.groups.save(&mut out);
        self.core.save(&mut out);
        out
    }
    fn load_state(&mut self, state: &[f64]) -> Result<()> {
        let backup = self.state();
        self.try_load(state).inspect_err(|_| {
            let _ = self.try_load(&backup);
        })
    }
}

/// Reads back what [`Core::save`] wrote.
pub struct Reader<'a> {
    s: &'a [f64],
    pos: usize,
    /// Number of groups (length of every per-group vector).
    n: usize,
    name: &'static str,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> OptimError {
        OptimError::Invalid(format!(
            "schedule `{}`: saved state does not fit (at number {} of {}): {what}",
            self.name,
            self.pos,
            self.s.len()
        ))
    }
    pub fn num(&mut self) -> Result<f64> {
        let x = *self
            .s
            .get(self.pos)
            .ok_or_else(|| self.error("too short"))?;
        self.pos += 1;
        Ok(x)
    }
    pub fn int(&mut self) -> Result<i64> {
        let x = self.num()?;
        if x.fract() != 0.0 || !x.is_finite() {
            return Err(self.error(&format!("expected an integer, found {x}")));
        }
        Ok(x as i64)
    }
    pub fn vec(&mut self) -> Result<Vec<f64>> {
        (0..self.n).map(|_| self.num()).collect()
    }
    pub fn opt_vec(&mut self) -> Result<Option<Vec<f64>>> {
        match self.int()? {
            0 => Ok(None),
            1 => self.vec().map(Some),
            f => Err(self.error(&format!("expected a 0/1 flag, found {f}"))),
        }
    }
    fn finish(&self) -> Result<()> {
        if self.pos != self.s.len() {
            return Err(self.error("too long"));
        }
        Ok(())
    }
}

fn put_opt(out: &mut Vec<f64>, v: &Option<Vec<f64>>) {
    match v {
        None => out.push(0.0),
        Some(v) => {
            out.push(1.0);
            out.extend_from_slice(v);
        }
    }
}

/// A non-negative integer that must be at least `min`.
pub(crate) fn int_at_least(
    h: &mut Hyper<'_>,
    key: &'static str,
    default: Option<usize>,
    min: usize,
) -> Result<i64> {
    let x = match default {
        Some(d) => h.usize(key, d)?,
        None => h.required_usize(key)?,
    };
    if x < min {
        return Err(OptimError::invalid(
            h.context(),
            key,
            x,
            format!("must be >= {min}"),
        ));
    }
    Ok(x as i64)
}

/// A list of non-negative integers (milestones).
pub(crate) fn int_list(h: &mut Hyper<'_>, key: &'static str) -> Result<Vec<i64>> {
    let ctx = h.context().to_string();
    let v = h.raw(key).ok_or_else(|| OptimError::Missing {
        context: ctx.clone(),
        field: key.into(),
    })?;
    let bad = || OptimError::invalid(&ctx, key, v, "expected a list of non-negative integers");
    match v {
        toml::Value::Array(a) => a
            .iter()
            .map(|x| match x {
                toml::Value::Integer(i) if *i >= 0 => Ok(*i),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// A number or a list with one number per group (PyTorch's `float or list` arguments).
pub(crate) fn per_group(
    h: &mut Hyper<'_>,
    key: &'static str,
    default: Option<f64>,
    n: usize,
    ok: fn(f64) -> bool,
    reason: &str,
) -> Result<Vec<f64>> {
    let ctx = h.context().to_string();
    let v = match h.raw(key) {
        None => {
            return match default {
                Some(d) => Ok(vec![d; n]),
                None => Err(OptimError::Missing {
                    context: ctx,
                    field: key.into(),
                }),
            }
        }
        Some(v) => v,
    };
    let num = |x: &toml::Value| match x {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    };
    let xs = match v {
        toml::Value::Array(a) => {
            let xs: Option<Vec<f64>> = a.iter().map(num).collect();
            let xs = xs.ok_or_else(|| {
                OptimError::invalid(&ctx, key, v, "expected a number or a list of numbers")
            })?;
            if xs.len() != n {
                return Err(OptimError::invalid(
                    &ctx,
                    key,
                    v,
                    format!(
                        "expected one value per parameter group ({n}), got {}",
                        xs.len()
                    ),
                ));
            }
            xs
        }
        _ => vec![
            num(v).ok_or_else(|| OptimError::invalid(
                &ctx,
                key,
                v,
                "expected a number or a list of numbers"
            ))?;
            n
        ],
    };
    if xs.iter().any(|&x| !(x.is_finite() && ok(x))) {
        return Err(OptimError::invalid(&ctx, key, v, reason));
    }
    Ok(xs)
}

/// Python's `a % b` for integers (result has the sign of `b`).
pub(crate) fn py_mod(a: i64, b: i64) -> i64 {
    a.rem_euclid(b)
}

#[cfg(test)]
mod tests;
