//! Named optimizers: short recipes over the transforms in [`crate::transforms`], with PyTorch's
//! names, defaults and update rules. One family per file.

use crate::hyper::Hyper;
use crate::transforms::{add_decayed_weights, scale};
use crate::{Chain, Float, OptimError, Recipe, Result, Transform};

pub mod adabelief;
pub mod adadelta;
pub mod adagrad;
pub mod adam;
pub mod adamax;
pub mod lamb;
pub mod lars;
pub mod lion;
pub mod muon;
pub mod nadam;
pub mod radam;
pub mod rmsprop;
pub mod schedule_free;
pub mod sgd;
pub mod signsgd;

/// Every optimizer name [`build`] accepts.
pub const NAMES: &[&str] = &[
    "sgd",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "radam",
    "lion",
    "lamb",
    "lars",
    "adabelief",
    "sgd_schedule_free",
    "adamw_schedule_free",
    "muon",
    "signsgd",
];

/// Checks that every `(field, value)` is finite and `>= 0` (the ranges of configs built in code,
/// which bypass [`Hyper`]'s checks); the first that is not is an error naming it under `context`.
pub(crate) fn check_non_neg(context: &str, fields: &[(&str, f64)]) -> Result<()> {
    for &(field, x) in fields {
        if !(x.is_finite() && x >= 0.0) {
            return Err(OptimError::invalid(context, field, x, "must be >= 0"));
        }
    }
    Ok(())
}

/// The links `torch.optim`'s optimizers share around their direction `core`:
/// `[scale(-1)] > [add_decayed_weights] > core > [add_decayed_weights]`, with the weight decay
/// before the core (coupled L2, PyTorch's default) or after it (decoupled, `p ← p − lr·λ·p`).
/// The decay link is always present so that parameter groups can set a weight decay; with
/// `weight_decay = 0` it does nothing. The caller appends what follows the direction (momentum,
/// the learning rate); `core` is `None` for plain SGD, whose direction is the gradient.
pub(crate) fn torch_chain<F: Float>(
    maximize: bool,
    decoupled: bool,
    core: Option<impl Transform<F> + 'static>,
) -> Result<Chain<F>> {
    let mut chain = Chain::new(vec![])?;
    if maximize {
        chain = chain.then(scale(-1.0))?;
    }
    if !decoupled {
        chain = chain.then(add_decayed_weights())?;
    }
    if let Some(core) = core {
        chain = chain.then(core)?;
    }
    if decoupled {
        chain = chain.then(add_decayed_weights())?;
    }
    Ok(chain)
}

/// The canonical name of an optimizer as a person may write it: PyTorch's class names and any
/// case (`SGD`, `AdamW`, `RMSprop`, `NAdam`) are the lowercase names of [`NAMES`].
pub fn canonical_name(name: &str) -> Option<&'static str> {
    present::choices::resolve(name, NAMES, &[])
}

/// Builds the named optimizer from its hyperparameters (any spelling [`canonical_name`]
/// accepts). Unknown names and keys, and invalid values, are errors that list what is valid.
pub fn build<F: Float>(name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    let name = canonical_name(name).unwrap_or(name);
    match name {
        "sgd" => sgd::build(name, h),
        "adagrad" => adagrad::build(name, h),
        "rmsprop" => rmsprop::build(name, h),
        "adadelta" => adadelta::build(name, h),
        "adam" | "adamw" => adam::build(name, h),
        "adamax" => adamax::build(name, h),
        "nadam" => nadam::build(name, h),
        "radam" => radam::build(name, h),
        "lion" => lion::build(name, h),
        "lamb" => lamb::build(name, h),
        "lars" => lars::build(name, h),
        "adabelief" => adabelief::build(name, h),
        "sgd_schedule_free" | "adamw_schedule_free" => schedule_free::build(name, h),
        "muon" => muon::build(name, h),
        "signsgd" => signsgd::build(name, h),
        _ => Err(OptimError::Unknown {
            context: h.context().to_string(),
            what: "optimizer",
            name: name.to_string(),
            valid: NAMES.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

/// Builds an optimizer from a config table such as `[optimizer]`: `name` plus hyperparameters.
/// Keys in `extra` (e.g. `groups`) belong to the caller and are not treated as unknown.
pub fn from_table<F: Float>(
    context: &str,
    table: &toml::Table,
    extra: &[&str],
) -> Result<Recipe<F>> {
    let name = match table.get("name") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(v) => return Err(OptimError::invalid(context, "name", v, "expected a string")),
        None => {
            return Err(OptimError::Missing {
                context: context.to_string(),
                field: "name".into(),
            })
        }
    };
    let mut h = Hyper::new(format!("{context} (optimizer `{name}`)"), table)
        .ignoring(&["name"])
        .ignoring(extra);
    let recipe = build(&name, &mut h)?;
    h.finish()?;
    Ok(recipe)
}
