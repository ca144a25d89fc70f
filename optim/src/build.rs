//! Building an optimizer from config tables: `[optimizer]` (a named recipe), parameter groups,
//! `[clip]` (per-tensor clipping transforms in front of the chain, global-norm clipping and
//! non-finite skipping in the driver) and `[schedule]` (with the momentum a schedule may
//! drive). Training and the landscapes build through here, so one config means one optimizer
//! everywhere.

use crate::schedule::{self, LrSchedule};
use crate::{ClipConfig, Float, GroupSpec, Optimizer, Params, Result};

/// The tables an optimizer is built from, each with the context its errors name (such as
/// `"run.toml: [clip]"`).
#[derive(Clone, Copy, Debug)]
pub struct Tables<'a> {
    /// The `[optimizer]` table: `name` and the hyperparameters.
    pub optimizer: (&'a str, &'a toml::Table),
    /// Keys of the optimizer table that the caller reads (not hyperparameters).
    pub extra: &'a [&'a str],
    /// Parameter groups (a list of tables, see [`GroupSpec`]), if any.
    pub groups: Option<(&'a str, &'a toml::Value)>,
    /// The `[clip]` table, if any.
    pub clip: Option<(&'a str, &'a toml::Table)>,
    /// The `[schedule]` table, if any; its interval and span are the caller's business.
    pub schedule: Option<(&'a str, &'a toml::Table)>,
}

impl<'a> Tables<'a> {
    /// Just an `[optimizer]` table.
    pub fn optimizer(context: &'a str, table: &'a toml::Table) -> Self {
        Tables {
            optimizer: (context, table),
            extra: &[],
            groups: None,
            clip: None,
            schedule: None,
        }
    }
}

/// A boxed learning-rate (and momentum) schedule.
pub type Schedule = Box<dyn LrSchedule>;

/// Builds the optimizer over `params` and its schedule. The schedule has already been applied
/// once: the optimizer's lrs (and scheduled momentum) are those of the first step.
pub fn build<F: Float>(
    tables: &Tables,
    params: &impl Params<F>,
) -> Result<(Optimizer<F>, Option<Schedule>)> {
    let (ctx, table) = tables.optimizer;
    let mut recipe = crate::optimizers::from_table::<F>(ctx, table, tables.extra)?;
    let mut global = None;
    if let Some((ctx, t)) = tables.clip {
        let cc = ClipConfig::from_toml(ctx, t)?;
        recipe.chain = cc.wrap(recipe.chain)?;
        global = Some(cc.global);
    }
    let groups = match tables.groups {
        Some((ctx, v)) => GroupSpec::from_toml(ctx, v)?,
        None => Vec::new(),
    };
    let mut opt = Optimizer::with_groups(recipe, params, &groups)?;
    if let Some(c) = global {
        opt.set_clipping(c)?;
    }
    let schedule = match tables.schedule {
        Some((ctx, t)) => {
            let s = schedule::from_table(ctx, t, &opt.lrs(), initial_momentum(table))?;
            schedule::apply(&*s, &mut opt);
            Some(s)
        }
        None => None,
    };
    Ok((opt, schedule))
}

/// The momentum a schedule may drive: SGD's `momentum`, Adam-style `betas[0]`, or the 0.9 the
/// Adam family uses when `betas` is not given; `None` for optimizers without one.
pub fn initial_momentum(optimizer: &toml::Table) -> Option<f64> {
    optimizer
        .get("momentum")
        .and_then(toml::Value::as_float)
        .or_else(|| optimizer.get("betas")?.as_array()?.first()?.as_float())
        .or_else(|| {
            let name = optimizer.get("name")?.as_str()?;
            matches!(name, "adam" | "adamw" | "nadam" | "radam" | "adamax").then_some(0.9)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn momentum_comes_from_the_table_or_the_adam_default() {
        assert_eq!(
            initial_momentum(&table("name = \"sgd\"\nmomentum = 0.8")),
            Some(0.8)
        );
        assert_eq!(
            initial_momentum(&table("name = \"adam\"\nbetas = [0.85, 0.99]")),
            Some(0.85)
        );
        assert_eq!(initial_momentum(&table("name = \"nadam\"")), Some(0.9));
        assert_eq!(initial_momentum(&table("name = \"sgd\"")), None);
    }

    #[test]
    fn builds_clipping_groups_and_an_applied_schedule() {
        let params = ParamStore::single("w", vec![1.0f64, 2.0]);
        let opt_t = table("name = \"adam\"\nlr = 0.1");
        let clip_t = table("max_norm = 1.0\nvalue = 0.5");
        let sched_t = table("name = \"one_cycle\"\nmax_lr = 0.1\ntotal_steps = 10");
        let groups: toml::Value = "g = [{ params = [\"w\"], lr = 0.05 }]"
            .parse::<toml::Table>()
            .unwrap()["g"]
            .clone();
        let tables = Tables {
            optimizer: ("o", &opt_t),
            extra: &[],
            groups: Some(("o groups", &groups)),
            clip: Some(("c", &clip_t)),
            schedule: Some(("s", &sched_t)),
        };
        let (opt, sched) = build::<f64>(&tables, &params).unwrap();
        assert_eq!(opt.groups().len(), 2);
        // value clipping runs in front of the chain
        assert!(
            opt.chain().describe().starts_with("clip_by_value"),
            "{}",
            opt.chain().describe()
        );
        let s = sched.expect("a schedule");
        assert_eq!(opt.lrs(), s.lrs());
        // one-cycle drives beta1 from the Adam default: it starts at max_momentum
        assert_eq!(s.momentums().map(|m| m.len()), Some(2));
    }

    #[test]
    fn errors_name_the_table_they_come_from() {
        let params = ParamStore::single("w", vec![1.0f64]);
        let opt_t = table("name = \"sgd\"\nlr = 0.1");
        let bad_clip = table("max_norm = -1.0");
        let tables = Tables {
            clip: Some(("run.toml: [clip]", &bad_clip)),
            ..Tables::optimizer("run.toml: [optimizer]", &opt_t)
        };
        let e = build::<f64>(&tables, &params).err().unwrap().to_string();
        assert!(
            e.contains("run.toml: [clip]") && e.contains("max_norm"),
            "{e}"
        );
        let sched = table("name = \"one_cycle\"\nmax_lr = 0.1\ntotal_steps = 10");
        let tables = Tables {
            schedule: Some(("run.toml: [schedule]", &sched)),
            ..Tables::optimizer("run.toml: [optimizer]", &opt_t)
        };
        let e = build::<f64>(&tables, &params).err().unwrap().to_string();
        assert!(e.contains("cycle_momentum"), "{e}");
    }
}
