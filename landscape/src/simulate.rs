//! The one simulation loop: an optimizer (with its clipping and schedule, built by
//! [`optim::build`]) takes steps on a [`Function`] from a start, and every point, loss and
//! learning rate is recorded.
//!
//! A run diverges when a loss, gradient or parameter is not finite or some |parameter| exceeds
//! [`BLOWUP`]; it then stops after that step, so `params`, `losses` and `lr` always have equal
//! lengths.

use optim::build::Tables;
use optim::{ParamStore, Params};

use crate::error::Result;
use crate::functions::Function;

/// Parameters beyond this magnitude count as divergence.
pub const BLOWUP: f64 = 1e12;

/// One optimizer to run: its table, with the clipping and schedule that go with it.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub label: String,
    /// The `optim` name.
    pub name: String,
    /// Where the optimizer table is, for errors (`[optimizer]`, `[[optimizers]] #2`).
    pub context: String,
    /// The `[optimizer]` table.
    pub table: toml::Table,
    /// Keys of `table` that are not hyperparameters.
    pub extra: &'static [&'static str],
    /// `(context, table)` of its `[clip]`.
    pub clip: Option<(String, toml::Table)>,
    /// `(context, table)` of its `[schedule]`.
    pub schedule: Option<(String, toml::Table)>,
}

/// One optimizer's trajectory.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub label: String,
    /// The `optim` name.
    pub optimizer: String,
    /// The parameters after each step.
    pub params: Vec<Vec<f64>>,
    /// The value where each step's gradient was taken.
    pub losses: Vec<f64>,
    /// The learning rate each step used.
    pub lr: Vec<f64>,
    /// The value at the last parameters.
    pub final_loss: f64,
    pub diverged: bool,
    /// The first step (1-based) whose loss or parameters were not finite.
    pub first_nonfinite_step: Option<usize>,
    /// Why a diverged run stopped.
    pub stop_reason: Option<String>,
}

fn is_bad(w: &[f64]) -> Option<&'static str> {
    if w.iter().any(|x| !x.is_finite()) {
        Some("non-finite parameters")
    } else if w.iter().any(|x| x.abs() > BLOWUP) {
        Some("|params| > 1e12")
    } else {
        None
    }
}

/// Runs `spec` on `f` from `start` for `steps` steps (or until it diverges). Errors when
/// `optim` rejects a table.
pub fn simulate(f: &Function, start: &[f64], steps: usize, spec: &RunSpec) -> Result<Run> {
    let mut params = ParamStore::single("w", start.to_vec());
    let tables = Tables {
        optimizer: (&spec.context, &spec.table),
        extra: spec.extra,
        groups: None,
        clip: spec.clip.as_ref().map(|(c, t)| (c.as_str(), t)),
        schedule: spec.schedule.as_ref().map(|(c, t)| (c.as_str(), t)),
    };
    let (mut opt, mut sched) = optim::build::build(&tables, &params)?;

    let n = start.len();
    let mut run = Run {
        label: spec.label.clone(),
        optimizer: spec.name.clone(),
        ..Default::default()
    };
    let mut g = vec![0.0; n];
    for step in 1..=steps {
        let w = params.value(0).to_vec();
        let loss = f.value(&w);
        f.grad(&w, &mut g);
        params.set_grad(0, &g);
        run.losses.push(loss);
        run.lr.push(opt.lrs()[0]);
        opt.step(&mut params)?;
        let w = params.value(0).to_vec();
        let reason = if !loss.is_finite() || g.iter().any(|x| !x.is_finite()) {
            Some("non-finite loss or gradient")
        } else {
            is_bad(&w)
        };
        if run.first_nonfinite_step.is_none()
            && (!loss.is_finite() || w.iter().any(|x| !x.is_finite()))
        {
            run.first_nonfinite_step = Some(step);
        }
        run.params.push(w);
        if let Some(r) = reason {
            run.diverged = true;
            run.stop_reason = Some(r.to_string());
            break;
        }
        if let Some(s) = &mut sched {
            s.step(Some(loss))?;
            optim::schedule::apply(&**s, &mut opt);
        }
    }
    run.final_loss = f.value(params.value(0));
    Ok(run)
}
