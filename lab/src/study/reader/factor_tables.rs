//! Reading a study's `[[factors]]` and `design`, and checking every level's config before any
//! run (the factors themselves and how they expand into arms: [`crate::study::factors`]).

use std::path::Path;

use super::{show, Reader};
use crate::study::model::{Arm, Design, Factor, Level, OptimizerSpace, Study};
use crate::Result;

const FACTOR_KEYS: &[&str] = &["name", "levels"];
const LEVEL_KEYS: &[&str] = &["name", "set", "claim"];
/// Keys a level may not set: the study sets them per run.
const RESERVED: &[&str] = &["seed", "optimizer.name", "log.dir", "train.threads"];

impl Reader {
    /// The top-level `[[factors]]` and `design` of a study file.
    pub(super) fn factors(&self, top: &toml::Table) -> Result<(Vec<Factor>, Design)> {
        let design = match top.get("design") {
            None => Design::Factorial,
            Some(toml::Value::String(s)) if s == "factorial" => Design::Factorial,
            Some(toml::Value::String(s)) if s == "ablation" => Design::Ablation,
            Some(v) => {
                return Err(self.bad(
                    "design",
                    show(v),
                    &present::choices::hint(v.as_str().unwrap_or(""), &["factorial", "ablation"]),
                ))
            }
        };
        let list = match top.get("factors") {
            None => {
                if top.contains_key("design") {
                    return Err(self.err("`design` needs [[factors]] to combine"));
                }
                return Ok((Vec::new(), design));
            }
            Some(toml::Value::Array(a)) if !a.is_empty() => a,
            Some(v) => {
                return Err(self.bad(
                    "factors",
                    show(v),
                    "expected one or more [[factors]] tables",
                ))
            }
        };
        let mut factors: Vec<Factor> = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let field = format!("factors[{i}]");
            let t = v
                .as_table()
                .ok_or_else(|| self.bad(&field, show(v), "expected a [[factors]] table"))?;
            self.check_keys(&field, t, FACTOR_KEYS)?;
            let name = match t.get("name") {
                Some(v) => self.name(&format!("{field}.name"), v)?,
                None => return Err(self.err(format!("{field}: missing `name`"))),
            };
            if factors.iter().any(|f| f.name == name) {
                return Err(self.bad(
                    &format!("{field}.name"),
                    format!("{name:?}"),
                    "duplicate factor name",
                ));
            }
            let levels = match t.get("levels") {
                Some(toml::Value::Array(a)) if a.len() >= 2 => a,
                Some(v) => {
                    return Err(self.bad(
                        &format!("{field}.levels"),
                        show(v),
                        "expected at least two levels, e.g. [{ name = \"off\", set = [] }, { name = \"on\", set = [\"model.normalization=batchnorm\"] }]",
                    ))
                }
                None => return Err(self.err(format!("{field} ({name}): missing `levels`"))),
            };
            let mut parsed: Vec<Level> = Vec::new();
            for (j, lv) in levels.iter().enumerate() {
                let lf = format!("{field}.levels[{j}]");
                let lt = lv.as_table().ok_or_else(|| {
                    self.bad(
                        &lf,
                        show(lv),
                        "expected { name = \"...\", set = [\"key=value\", ...] }",
                    )
                })?;
                self.check_keys(&lf, lt, LEVEL_KEYS)?;
                let lname = match lt.get("name") {
                    Some(v) => self.name(&format!("{lf}.name"), v)?,
                    None => return Err(self.err(format!("{lf}: missing `name`"))),
                };
                if parsed.iter().any(|l| l.name == lname) {
                    return Err(self.bad(
                        &format!("{lf}.name"),
                        format!("{lname:?}"),
                        "duplicate level name",
                    ));
                }
                let set: Vec<String> = match lt.get("set") {
                    None => Vec::new(),
                    Some(toml::Value::Array(a)) if a.iter().all(|x| x.is_str()) => a
                        .iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect(),
                    Some(v) => {
                        return Err(self.bad(
                            &format!("{lf}.set"),
                            show(v),
                            "expected a list of \"key=value\" strings",
                        ))
                    }
                };
                for (k, o) in set.iter().enumerate() {
                    let key = o.split_once('=').map(|(k, _)| k.trim());
                    match key {
                        None => {
                            return Err(self.bad(
                                &format!("{lf}.set[{k}]"),
                                format!("{o:?}"),
                                "expected key=value (e.g. \"model.dropout=0.2\")",
                            ))
                        }
                        Some(key) if RESERVED.contains(&key) => return Err(self.bad(
                            &format!("{lf}.set[{k}]"),
                            format!("{o:?}"),
                            "the study sets this key per run (seeds, optimizers); vary it there",
                        )),
                        Some(_) => {}
                    }
                }
                let claim = match lt.get("claim") {
                    None => None,
                    Some(toml::Value::String(c)) if !c.trim().is_empty() => {
                        Some(c.trim().to_string())
                    }
                    Some(v) => {
                        return Err(self.bad(
                            &format!("{lf}.claim"),
                            show(v),
                            "expected a sentence",
                        ))
                    }
                };
                if claim.is_some() && j == 0 {
                    return Err(self.err(format!(
                        "{lf}.claim: the first level is the reference the others are measured against; put the claim on the level that should beat it"
                    )));
                }
                parsed.push(Level {
                    name: lname,
                    set,
                    claim,
                });
            }
            factors.push(Factor {
                name,
                levels: parsed,
            });
        }
        Ok((factors, design))
    }

    /// Builds every level of every factor alone into a run config on every problem (with the
    /// first optimizer at its default setting) and checks it, so that a mistake names its
    /// factor and level; and refuses a level that sets a key an optimizer searches.
    pub(super) fn validate_levels(&self, s: &Study) -> Result<()> {
        for (i, f) in s.factors.iter().enumerate() {
            for (j, level) in f.levels.iter().enumerate() {
                let at = format!(
                    "factors[{i}] ({}) level `{}` (levels[{j}])",
                    f.name, level.name
                );
                for o in &s.optimizers {
                    for entry in &level.set {
                        let key = entry.split_once('=').map_or("", |(k, _)| k.trim());
                        if let Some(k) = key.strip_prefix("optimizer.") {
                            if o.space.iter().any(|(sk, _)| sk == k) {
                                return Err(self.err(format!(
                                    "{at}: sets optimizer.{k}, which optimizer `{}` searches or fixes in its own entry; set it in one place",
                                    o.label
                                )));
                            }
                        }
                    }
                }
                let Some(o) = s.optimizers.first() else {
                    continue;
                };
                let arm = OptimizerSpace {
                    arm: Some(Arm {
                        optimizer: o.label.clone(),
                        levels: vec![(f.name.clone(), level.name.clone())],
                        set: level.set.clone(),
                    }),
                    ..o.clone()
                };
                for (pi, p) in s.problems.iter().enumerate() {
                    let table = s
                        .config_table(p, &arm, &s.default_setting(o), s.seeds[0])
                        .map_err(|e| self.err(format!("{at}: {e}")))?;
                    let source = format!("{at} on problems[{pi}] ({})", p.name);
                    train::RunConfig::from_table(&source, table, Path::new("."), &p.name)
                        .map_err(|e| self.err(e.to_string()))?;
                }
            }
        }
        Ok(())
    }
}
