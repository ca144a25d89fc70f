//! Learning-rate ranges from the range test: an optimizer's `lr = { lr_find = { decades = D } }`
//! searches log-uniformly in `[s/10^D, s·10^D]` around the suggestion `s` of
//! [`diagnose::lr_find`] on each problem.
//!
//! Before the study's first run, [`resolve`] runs lr-find once per problem × optimizer that uses
//! it: on the problem's config with the optimizer at its default setting, at the study's first
//! seed, with the default sweep (1e-7 → 10 in 100 steps), quietly, writing the sweep's run
//! folder under `<out>/lr-find/<problem>/<optimizer>/`. No clear answer takes the space's
//! `fallback = [lo, hi]`, or is an error naming the study file, the problem and the optimizer.
//! The ranges are part of the study's stored definition ([`Study::definition`]), so a resumed
//! study takes them from the store and never sweeps again (a second sweep could answer
//! differently and change the run keys); a study whose ranges are all known is returned as is.

use std::path::Path;

use diagnose::lr_find::{self, Plan, Settings};

use crate::study::{LrRange, Space, Study};
use crate::{LabError, Result, Store};

/// `study` with every [`Space::LrFind`] range known: from `study.lr_found`, else from the
/// study's stored definition in `store`, else measured (sweeps under `out/lr-find/`).
/// `progress` is told when each sweep starts.
pub fn resolve(
    study: &Study,
    store: &dyn Store,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Study> {
    let mut s = study.clone();
    if !s.uses_lr_find() {
        return Ok(s);
    }
    if let Some((_, def)) = store.studies()?.into_iter().find(|(n, _)| *n == study.name) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&def) {
            if let Some(m) = v.get("lr_found") {
                let stored: std::collections::BTreeMap<String, LrRange> =
                    serde_json::from_value(m.clone()).map_err(|e| LabError::Store {
                        store: store.describe(),
                        message: format!(
                            "study {:?}: the stored lr_find ranges are not readable: {e}",
                            study.name
                        ),
                    })?;
                for (k, r) in stored {
                    // A store is outside input: a range that could not have been found is an
                    // error, not a run at a negative or NaN learning rate.
                    let ok = r.lo.is_finite() && r.hi.is_finite() && 0.0 < r.lo && r.lo < r.hi;
                    if !ok {
                        return Err(LabError::Store {
                            store: store.describe(),
                            message: format!(
                                "study {:?}: stored lr_find range {k:?} = [{}, {}]: expected 0 < lo < hi, finite",
                                study.name, r.lo, r.hi
                            ),
                        });
                    }
                    s.lr_found.entry(k).or_insert(r);
                }
            }
        }
    }
    let err = |message: String| LabError::Study {
        file: study.source.clone(),
        message,
    };
    for p in &study.problems {
        for o in &study.optimizers {
            let Some((key, decades, fallback)) = o.space.iter().find_map(|(k, sp)| match sp {
                Space::LrFind { decades, fallback } => Some((k, *decades, *fallback)),
                _ => None,
            }) else {
                continue;
            };
            let id = Study::lr_found_key(&p.name, &o.label);
            if s.lr_found.contains_key(&id) {
                continue;
            }
            let what = format!("problem {:?} × optimizer {:?}", p.name, o.label);
            // The default setting with the range's middle at an ordinary lr: the sweep replaces
            // the lr, the other hyperparameters stay at their defaults.
            let setting = s.settle_with(p, o, &s.default_setting(o), Some((1e-3, 1e-3)))?;
            let table = s
                .config_table(p, o, &setting, s.seeds[0])
                .map_err(|e| err(format!("{what}: {e}")))?;
            let source = format!("{} [{what}, lr-find]", study.source);
            let cfg = train::RunConfig::from_table(&source, table, Path::new("."), &p.name)?;
            let dir = out.join("lr-find").join(safe(&p.name)).join(safe(&o.label));
            progress(&format!("lr-find on {what}"));
            let settings = Settings {
                plan: Plan::default(),
                seeds: vec![s.seeds[0]],
                curvature: false,
            };
            let found = lr_find::run(&cfg, &dir.join("sweep.toml"), &settings, &dir, |_| {})
                .map_err(|e| err(format!("{what}: lr-find: {e}")))?;
            // Under one_cycle lr-find sweeps the schedule's peak, while the trials set `lr`:
            // the range would land on a key the schedule then overrides.
            if found.peak.key != format!("optimizer.{key}") {
                return Err(err(format!(
                    "{what}: `{key} = {{ lr_find = ... }}`: the problem's schedule takes its peak from `{}`, which lr-find sweeps but the trials do not set; search that key with a log_uniform range instead",
                    found.peak.key
                )));
            }
            let Some(range) = range_of(&found.verdict, decades, fallback) else {
                let why = match &found.verdict {
                    lr_find::Verdict::Unclear { reasons, .. } => reasons.join("; "),
                    lr_find::Verdict::Clear { .. } => String::new(),
                };
                return Err(err(format!(
                    "{what}: `{key} = {{ lr_find = ... }}`: lr-find gives no clear answer ({why}); give `fallback = [lo, hi]` or a log_uniform range"
                )));
            };
            s.lr_found.insert(id, range);
        }
    }
    Ok(s)
}

/// The range a verdict gives: `decades` each side of a clear suggestion, else the fallback.
fn range_of(
    verdict: &lr_find::Verdict,
    decades: f64,
    fallback: Option<(f64, f64)>,
) -> Option<LrRange> {
    match (verdict.lr(), fallback) {
        (Some(lr), _) => {
            let w = 10f64.powf(decades);
            Some(LrRange {
                suggestion: Some(lr),
                lo: lr / w,
                hi: lr * w,
            })
        }
        (None, Some((lo, hi))) => Some(LrRange {
            suggestion: None,
            lo,
            hi,
        }),
        (None, None) => None,
    }
}

/// A label as one folder name (arm labels may hold `/`).
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lr_find::Verdict;

    #[test]
    fn a_clear_answer_spans_the_decades_and_no_answer_takes_the_fallback() {
        let clear = Verdict::Clear {
            lr: 0.02,
            lo: 0.01,
            hi: 0.03,
        };
        let r = range_of(&clear, 1.0, Some((1e-5, 1e-4))).unwrap();
        assert_eq!(r.suggestion, Some(0.02));
        assert!(
            (r.lo - 0.002).abs() < 1e-15 && (r.hi - 0.2).abs() < 1e-12,
            "{r:?}"
        );
        let unclear = Verdict::Unclear {
            reasons: vec!["flat".into()],
            lo: None,
            hi: None,
        };
        assert_eq!(
            range_of(&unclear, 1.0, Some((1e-4, 1e-2))),
            Some(LrRange {
                suggestion: None,
                lo: 1e-4,
                hi: 1e-2
            })
        );
        assert_eq!(range_of(&unclear, 1.0, None), None);
    }
}
