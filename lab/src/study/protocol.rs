//! The tuning protocol: which settings an optimizer is run with (its defaults, or a budget of
//! trials from its search space), the run each (problem, optimizer, setting, seed) is, and, once
//! every trial of a problem × optimizer is finished, the best one re-run at every seed.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::best::{best_trial, Outcome};
use super::halton;
use super::key::{run_key, toml_to_json};
use super::model::{OptimizerSpace, Problem, Protocol, Search, Space, Study};
use crate::{LabError, Phase, Result, RunRecord, RunSpec};

/// One setting: hyperparameter → value, in the space's order.
pub(crate) type Setting = Vec<(String, toml::Value)>;

/// `x` rounded to 4 significant digits.
pub fn round_sig4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.3e}").parse().unwrap_or(x)
}

/// The `[optimizer]` table of a setting (`schedule.*` keys excluded).
pub(super) fn optimizer_table(o: &OptimizerSpace, setting: &Setting) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("name".into(), toml::Value::String(o.name.clone()));
    for (k, v) in setting {
        if !k.starts_with("schedule.") {
            t.insert(k.clone(), v.clone());
        }
    }
    t
}

fn params_of(setting: &Setting) -> BTreeMap<String, serde_json::Value> {
    setting
        .iter()
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect()
}

/// A uniform draw in [0, 1) from the top 53 bits of the next word.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl Study {
    /// The optimizer's default setting: fixed values, the first grid value, the geometric middle
    /// of a log range, the middle of a uniform range.
    pub(crate) fn default_setting(&self, o: &OptimizerSpace) -> Setting {
        o.space
            .iter()
            .map(|(k, s)| {
                let v = match s {
                    Space::Fixed(v) => v.clone(),
                    Space::Grid(g) => g[0].clone(),
                    Space::Uniform(lo, hi) => toml::Value::Float(round_sig4((lo + hi) / 2.0)),
                    Space::LogUniform(lo, hi) => toml::Value::Float(round_sig4((lo * hi).sqrt())),
                    // The range's middle, placed by `settle` once the range is known.
                    Space::LrFind { .. } => toml::Value::Float(0.5),
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// The optimizer's tuning settings (budget protocol), in trial order.
    pub(super) fn trial_settings(&self, o: &OptimizerSpace) -> Vec<Setting> {
        let trials = match self.tuning.protocol {
            Protocol::Defaults => return vec![self.default_setting(o)],
            Protocol::Budget { trials } => trials as usize,
        };
        let grid_sizes: Vec<usize> = o
            .space
            .iter()
            .filter_map(|(_, s)| match s {
                Space::Grid(g) => Some(g.len()),
                _ => None,
            })
            .collect();
        let product: usize = grid_sizes
            .iter()
            .try_fold(1usize, |a, &n| a.checked_mul(n))
            .unwrap_or(usize::MAX);
        let sampled = o.space.iter().any(|(_, s)| {
            matches!(
                s,
                Space::Uniform(..) | Space::LogUniform(..) | Space::LrFind { .. }
            )
        });
        let count = if sampled { trials } else { trials.min(product) };
        let mut h = Sha256::new();
        // Seeded by the optimizer's label: every arm of one optimizer samples the same settings.
        h.update(
            format!(
                "gradlab-study/{}/{}",
                self.tuning.sample_seed,
                o.base_label()
            )
            .as_bytes(),
        );
        let mut rng = ChaCha8Rng::from_seed(h.finalize().into());
        let search = self.tuning.search;
        let sample_seed = self.tuning.sample_seed;
        (0..count)
            .map(|t| {
                // The searched ranges' coordinates of this trial, in the space's order.
                let mut dim = 0usize;
                let mut draw = |rng: &mut ChaCha8Rng| match search {
                    Search::Random => unit(rng),
                    Search::Halton => {
                        dim += 1;
                        let i = sample_seed.saturating_add(t as u64 + 1);
                        halton::radical_inverse(i, halton::prime(dim - 1))
                    }
                };
                // Mixed-radix digits of t mod product, the first grid varying slowest.
                let mut rest = t % product.max(1);
                let mut digits = vec![0usize; grid_sizes.len()];
                for (d, &n) in digits.iter_mut().zip(&grid_sizes).rev() {
                    *d = rest % n;
                    rest /= n;
                }
                let mut gi = 0;
                o.space
                    .iter()
                    .map(|(k, s)| {
                        let v = match s {
                            Space::Fixed(v) => v.clone(),
                            Space::Grid(g) => {
                                gi += 1;
                                g[digits[gi - 1]].clone()
                            }
                            Space::Uniform(lo, hi) => {
                                let x = lo + draw(&mut rng) * (hi - lo);
                                toml::Value::Float(round_sig4(x).clamp(*lo, *hi))
                            }
                            Space::LogUniform(lo, hi) => {
                                let x = (lo.ln() + draw(&mut rng) * (hi.ln() - lo.ln())).exp();
                                toml::Value::Float(round_sig4(x).clamp(*lo, *hi))
                            }
                            // The unit coordinate, placed in the problem's range by `settle`,
                            // so every problem gets the same offsets from its suggestion.
                            Space::LrFind { .. } => toml::Value::Float(draw(&mut rng)),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .collect()
    }

    /// `setting` (from [`Study::default_setting`] or [`Study::trial_settings`]) for `problem`:
    /// each [`Space::LrFind`] key's unit coordinate `t` becomes `lo·(hi/lo)^t` in the problem's
    /// resolved range (`s·10^u` with `u = (2t − 1)·decades` around a suggestion `s`), rounded to
    /// 4 significant digits. `range` gives the range when it is not resolved (the reader's checks).
    pub(crate) fn settle_with(
        &self,
        p: &Problem,
        o: &OptimizerSpace,
        setting: &Setting,
        range: Option<(f64, f64)>,
    ) -> Result<Setting> {
        let mut out = setting.clone();
        for ((k, v), (_, s)) in out.iter_mut().zip(&o.space) {
            if !matches!(s, Space::LrFind { .. }) {
                continue;
            }
            let key = Study::lr_found_key(&p.name, &o.label);
            let (lo, hi) = match (self.lr_found.get(&key), range) {
                (Some(r), _) => (r.lo, r.hi),
                (None, Some(r)) => r,
                (None, None) => {
                    return Err(LabError::Study {
                        file: self.source.clone(),
                        message: format!(
                            "problem {:?} × optimizer {:?}: `{k} = {{ lr_find = ... }}` has no range yet (run the study, which runs lr-find first)",
                            p.name, o.label
                        ),
                    })
                }
            };
            let t = v.as_float().unwrap_or(0.5);
            let x = (lo.ln() + t * (hi.ln() - lo.ln())).exp();
            *v = toml::Value::Float(round_sig4(x).clamp(lo, hi));
        }
        Ok(out)
    }

    fn settle(&self, p: &Problem, o: &OptimizerSpace, setting: &Setting) -> Result<Setting> {
        self.settle_with(p, o, setting, None)
    }

    /// The complete run config of `problem` trained by `o` at `setting` and `seed` (with the
    /// arm's factor levels applied last); `Err` carries the override's error.
    pub(crate) fn config_table(
        &self,
        problem: &Problem,
        o: &OptimizerSpace,
        setting: &Setting,
        seed: u64,
    ) -> std::result::Result<toml::Table, String> {
        let mut t = problem.config.clone();
        t.insert("seed".into(), toml::Value::Integer(seed as i64));
        t.insert(
            "optimizer".into(),
            toml::Value::Table(optimizer_table(o, setting)),
        );
        let searched: Vec<(&str, &toml::Value)> = setting
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("schedule.").map(|k| (k, v)))
            .collect();
        if o.schedule.is_some() || !searched.is_empty() {
            let mut st = o.schedule.clone().unwrap_or_default();
            for (k, v) in searched {
                st.insert(k.to_string(), v.clone());
            }
            t.insert("schedule".into(), toml::Value::Table(st));
        }
        if let Some(arm) = &o.arm {
            train::apply_overrides(&mut t, &arm.set).map_err(|e| e.to_string())?;
        }
        Ok(t)
    }

    fn spec(
        &self,
        problem: &Problem,
        o: &OptimizerSpace,
        phase: Phase,
        trial: u32,
        seed: u64,
        setting: &Setting,
    ) -> Result<RunSpec> {
        let params = params_of(setting);
        let key = run_key(&problem.name, &o.label, &params, seed);
        let run_err = |message: String| LabError::Run {
            key: key.clone(),
            problem: problem.name.clone(),
            optimizer: o.label.clone(),
            message,
        };
        let table = self
            .config_table(problem, o, setting, seed)
            .map_err(&run_err)?;
        let config = toml::to_string(&table)
            .map_err(|e| run_err(format!("cannot write the run config as TOML: {e}")))?;
        Ok(RunSpec {
            key,
            problem: problem.name.clone(),
            optimizer: o.label.clone(),
            phase,
            trial,
            seed,
            params,
            config,
        })
    }

    /// The tuning trials of one problem × optimizer (budget), or its defaults runs.
    fn group_runs(&self, p: &Problem, o: &OptimizerSpace) -> Result<Vec<RunSpec>> {
        let mut out = Vec::new();
        match self.tuning.protocol {
            Protocol::Defaults => {
                let setting = self.settle(p, o, &self.default_setting(o))?;
                for &seed in &self.seeds {
                    out.push(self.spec(p, o, Phase::Defaults, 0, seed, &setting)?);
                }
            }
            Protocol::Budget { .. } => {
                let mut seen = HashSet::new();
                for (t, setting) in self.trial_settings(o).iter().enumerate() {
                    let setting = self.settle(p, o, setting)?;
                    let s = self.spec(p, o, Phase::Tune, t as u32, self.seeds[0], &setting)?;
                    if seen.insert(s.key.clone()) {
                        out.push(s);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The runs known before any result: every defaults run, or every tuning trial (with
    /// pruning, the first wave of each arm's trials; see [`super::prune`]).
    pub fn initial_runs(&self) -> Result<Vec<RunSpec>> {
        let mut out = Vec::new();
        for p in &self.problems {
            for o in &self.optimizers {
                let runs = self.group_runs(p, o)?;
                let prune = self.tuning.prune;
                out.extend(
                    runs.into_iter()
                        .enumerate()
                        .filter(|(i, _)| prune.wave(*i) == 0)
                        .map(|(_, r)| r),
                );
            }
        }
        Ok(out)
    }

    /// How many runs the study has before its final runs: every defaults run or tuning trial.
    pub fn tuning_run_count(&self) -> Result<usize> {
        let mut n = 0;
        for p in &self.problems {
            for o in &self.optimizers {
                n += self.group_runs(p, o)?.len();
            }
        }
        Ok(n)
    }

    /// The median rule a tuning trial `spec` is judged by, with its reference curves from
    /// `records` (the completed trials of the earlier waves of its arm, see [`super::prune`]);
    /// `None` when pruning is off, for other phases, and for the first wave. `epochs` is the
    /// trial's budget.
    pub fn prune_rule(
        &self,
        spec: &RunSpec,
        records: &[RunRecord],
        epochs: usize,
    ) -> Result<Option<super::MedianRule>> {
        let super::Prune::Median { warmup, min_trials } = self.tuning.prune else {
            return Ok(None);
        };
        let (Some(p), Some(o)) = (self.problem(&spec.problem), self.optimizer(&spec.optimizer))
        else {
            return Ok(None);
        };
        if spec.phase != Phase::Tune {
            return Ok(None);
        }
        let trials = self.group_runs(p, o)?;
        let Some(pos) = trials.iter().position(|t| t.key == spec.key) else {
            return Ok(None);
        };
        let wave = self.tuning.prune.wave(pos);
        if wave == 0 {
            return Ok(None);
        }
        let by_key: HashMap<&str, &RunRecord> =
            records.iter().map(|r| (r.spec.key.as_str(), r)).collect();
        let curves = trials
            .iter()
            .enumerate()
            .filter(|(i, _)| self.tuning.prune.wave(*i) < wave)
            .filter_map(|(_, t)| by_key.get(t.key.as_str()))
            .filter(|r| super::prune::is_reference(r))
            .map(|r| super::prune::curve(r, self.tuning.metric))
            .collect();
        Ok(Some(super::MedianRule {
            metric: self.tuning.metric,
            higher_is_better: self.tuning.higher_is_better,
            warmup,
            min_trials,
            epochs,
            curves,
        }))
    }

    /// The seeds whose runs of the chosen setting make the final statistics (budget protocol):
    /// every seed of the study except the tuning seed (the first), each once. The tuning seed's
    /// run was selected for being best at that seed, so averaging it in would bias the mean
    /// upwards (winner's curse); with a single seed the list is empty and the analysis falls
    /// back to the selected trial, flagged ([`crate::analysis::Group::selection_biased`]).
    pub fn final_seeds(&self) -> Vec<u64> {
        let tuning = self.seeds.first().copied();
        let mut seen = HashSet::new();
        self.seeds
            .iter()
            .copied()
            .filter(|&s| Some(s) != tuning && seen.insert(s))
            .collect()
    }

    /// The tuning metric of a finished trial: the last epoch's value, `None` when the run
    /// failed, diverged or did not record the metric (such trials rank last).
    pub fn trial_score(&self, record: &RunRecord) -> Option<f64> {
        Outcome::of(record, self.tuning.metric).and_then(Outcome::score)
    }

    /// The best tuning trial of `problem` × `optimizer` (its spec) once all its trials are
    /// finished (done or failed) in `records`, by the rule the analysis reports
    /// ([`best_trial`](super::best_trial)). `None` while a trial is missing, pending or
    /// running, for the defaults protocol, and for unknown names.
    pub fn best_trial(
        &self,
        problem: &str,
        optimizer: &str,
        records: &[RunRecord],
    ) -> Result<Option<RunSpec>> {
        let (Some(p), Some(o)) = (self.problem(problem), self.optimizer(optimizer)) else {
            return Ok(None);
        };
        if self.tuning.protocol == Protocol::Defaults {
            return Ok(None);
        }
        let by_key: HashMap<&str, &RunRecord> =
            records.iter().map(|r| (r.spec.key.as_str(), r)).collect();
        self.best_in(p, o, &by_key)
    }

    fn best_in(
        &self,
        p: &Problem,
        o: &OptimizerSpace,
        by_key: &HashMap<&str, &RunRecord>,
    ) -> Result<Option<RunSpec>> {
        let mut trials = Vec::new();
        let mut outcomes = Vec::new();
        for t in self.group_runs(p, o)? {
            let Some(outcome) = by_key
                .get(t.key.as_str())
                .and_then(|rec| Outcome::of(rec, self.tuning.metric))
            else {
                return Ok(None);
            };
            outcomes.push((t.trial, outcome));
            trials.push(t);
        }
        Ok(best_trial(&outcomes, self.tuning.higher_is_better).map(|i| trials.swap_remove(i)))
    }

    /// The runs that `done` makes known: for each (problem, optimizer) whose tuning trials are
    /// all finished (done or failed), the best setting at every seed but the tuning seed (phase
    /// `final`). The tuning seed's run of that setting is the selected trial itself: it was
    /// chosen for scoring best at that seed, so the analysis keeps it out of the final
    /// statistics (see [`Study::final_seeds`]). Idempotent: returns runs already stored too (the
    /// store ignores known keys).
    pub fn next_runs(&self, done: &[RunRecord]) -> Result<Vec<RunSpec>> {
        if self.tuning.protocol == Protocol::Defaults {
            return Ok(Vec::new());
        }
        let by_key: HashMap<&str, &RunRecord> =
            done.iter().map(|r| (r.spec.key.as_str(), r)).collect();
        let mut out = Vec::new();
        for p in &self.problems {
            for o in &self.optimizers {
                if !self.tuning.prune.is_none() {
                    // The next wave, once every trial of the earlier ones has finished.
                    let trials = self.group_runs(p, o)?;
                    let finished = |t: &RunSpec| {
                        by_key.get(t.key.as_str()).is_some_and(|r| {
                            matches!(r.state, crate::RunState::Done | crate::RunState::Failed)
                        })
                    };
                    if let Some(first) = trials.iter().position(|t| !finished(t)) {
                        let wave = self.tuning.prune.wave(first);
                        out.extend(
                            trials
                                .into_iter()
                                .enumerate()
                                .filter(|(i, _)| self.tuning.prune.wave(*i) <= wave)
                                .map(|(_, t)| t),
                        );
                        continue;
                    }
                }
                let Some(best) = self.best_in(p, o, &by_key)? else {
                    continue;
                };
                let setting = self.settle(p, o, &self.trial_settings(o)[best.trial as usize])?;
                for seed in self.final_seeds() {
                    out.push(self.spec(p, o, Phase::Final, best.trial, seed, &setting)?);
                }
            }
        }
        Ok(out)
    }
}
