//! Study files: problems, optimizers with search spaces, seeds and a tuning protocol.
//!
//! A study is a TOML file. Every key is checked strictly: an unknown key is an error that lists
//! the valid ones, and every error names the file, the field (`optimizers[3].lr`, indices count
//! from 0) and the bad value. Each problem × optimizer pair is turned into a complete run config
//! and checked (`train::RunConfig::from_table`, the optimizer and its schedule are built) when
//! the study is read, so a misspelt hyperparameter fails before any run starts.
//!
//! ```toml
//! name = "my-study"            # letters, digits, `-`, `_`, `.`
//! seeds = [0, 1, 2]            # default [0]; the first tunes, the others measure the finals
//!
//! [tuning]                     # leave out for protocol = "defaults"
//! protocol = "budget"          # the default here; or "defaults": one setting at every seed
//! trials = 6                   # settings per optimizer (budget; default 6)
//! metric = "val_accuracy"      # last epoch's value picks the best trial (default val_accuracy)
//! mode = "max"                 # optional: inferred (accuracy: max, loss: min)
//! sample_seed = 0              # which random settings are drawn
//! search = "random"            # or "halton": quasi-random, evenly spread ranges
//! prune = "none"               # or "median": stop trials worse than the median (see [`prune`]),
//!                              # then prune_warmup = 2 (epochs never pruned) and
//!                              # prune_min_trials = 3 (completed trials needed; the wave size)
//!
//! [[problems]]
//! name = "mnist1d_mlp"
//! config = "../examples/train/mnist1d_mlp.toml"   # a run config, relative to the study file
//! set = ["train.epochs=15"]                        # optional overrides (like --set)
//! target = { metric = "test_accuracy", value = 0.55 }  # optional: "reached" for speed tables
//!
//! [[problems]]                 # ... or the run config's sections inline
//! name = "digits_mlp"
//! target = { metric = "test_accuracy", value = 0.95 }
//! [problems.data]
//! dataset = "digits"
//! batch_size = 32
//! validation_split = 0.1
//! standardize = true
//! [[problems.model.layers]]
//! type = "flatten"
//! [[problems.model.layers]]
//! type = "linear"
//! out_features = 10
//! [problems.train]
//! epochs = 15
//!
//! [[optimizers]]
//! label = "momentum"           # unique; defaults to `name`
//! name = "sgd"                 # the [optimizer] name gradlab trains with
//! lr = { log_uniform = [1e-3, 1.0] }
//! momentum = 0.9               # a fixed value
//! [optimizers.schedule]        # optional: replaces the problem's [schedule] for this optimizer
//! name = "cosine"
//!
//! [[optimizers]]
//! name = "adamw"
//! lr = { log_uniform = [1e-5, 1e-2] }
//! betas = { grid = [[0.9, 0.999], [0.9, 0.99]] }
//! weight_decay = { uniform = [0.0, 0.1] }
//! ```
//!
//! A hyperparameter (or a `[optimizers.schedule]` key, named `schedule.KEY` in the run's
//! parameters) is a fixed value, `{ grid = [...] }`, `{ uniform = [lo, hi] }` or
//! `{ log_uniform = [lo, hi] }` (lo > 0). An optimizer's `lr` may also be
//! `{ lr_find = { decades = 1, fallback = [lo, hi] } }`: log-uniform within `decades` (0 < d ≤ 4)
//! of the learning-rate range test's suggestion on each problem, measured before the first run
//! and stored with the study (see [`crate::lr_range`]); `fallback` is the range where the test
//! gives no clear answer.
//!
//! Problem sections: `config` (a run config file) or the inline sections `data`, `model`,
//! `train`, `clip`, `schedule`, `log`, not both; a file's `[optimizer]` and `seed` are replaced
//! per run. Relative dataset and `model.init` paths resolve against the study file's folder
//! (inline) or the config file's folder.
//!
//! Settings. *Defaults*: fixed values, the first grid value, the geometric middle of a
//! log-uniform range, the middle of a uniform range; run at every seed (phase `defaults`).
//! *Budget*: `trials` settings per optimizer at the first seed (phase `tune`): grids walk their
//! cartesian product in order (cycling when ranges are searched too; otherwise at most the
//! product's size), ranges are sampled from a ChaCha8 stream seeded by (`sample_seed`, label),
//! so every problem gets the same settings; with `search = "halton"` they are the Halton points
//! `sample_seed + 1`, `sample_seed + 2`, … (one prime base per searched range, in the space's
//! order; see [`halton`]), deterministic like the random draws, so run keys and resuming hold.
//! Sampled floats are rounded to 4 significant digits.
//! When all trials of a problem × optimizer are finished, the best one ([`best_trial`]: the best
//! score, then trials without the metric, then diverged, then failed ones; ties go to the earlier
//! trial; the analysis reports the same trial as chosen) is re-run at every other seed (phase
//! `final`). The final statistics come from those seeds only: the trial at the tuning seed was
//! selected for being best there, so it is not averaged in (with a single seed it is all there
//! is, and the report says its numbers are biased by the selection). For an unbiased estimate
//! over n seeds, list n + 1 seeds.
//!
//! Factors (`[[factors]]`, `design`): see [`factors`]; a study with factors has one arm per
//! optimizer × level combination, each tuned and re-run like an optimizer.
//!
//! Modules: `model` (what a study is), `factors` (factors, designs, arms), `reader` (the study file), `key` (run keys),
//! `protocol` (settings, runs and the re-runs of the best trial), `best` (which trial is best),
//! `prune` (the median stopping rule and its waves).

mod best;
pub mod factors;
pub mod halton;
mod key;
mod model;
mod protocol;
pub mod prune;
mod reader;
mod remedies;

pub use best::{best_trial, Outcome};
pub use factors::{Arm, Design, Factor, Level};
pub use key::{run_key, toml_to_json};
pub use model::{LrRange, OptimizerSpace, Problem, Protocol, Search, Space, Study, Tuning};
pub use protocol::round_sig4;
pub use prune::{MedianRule, Prune};
pub use reader::{DEFAULT_SOURCE, DEFAULT_STUDY};
pub use remedies::REMEDIES;
