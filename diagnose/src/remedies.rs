//! The remedies the doctor suggests, the one place their words live: for each problem what to
//! try (most fitting first), why it fits that problem, and the config change that applies it
//! (`key = value`, several joined by `; `; the report prints them as `--set` flags). Detectors
//! attach [`for_run`] of their problem to a finding (a run that diverged with a finite loss gets
//! the first three of [`DIVERGED`]).
//!
//! A change is complete: applied alone to the run's config, it makes the whole change its action
//! describes (ReLU *and* He initialisation together; architecture changes through the model
//! edits of `train::edits`, such as `model.normalization = "batchnorm"`; a schedule replaces the
//! run's whole `[schedule]`). `diagnose/tests/remedies.rs` applies the first remedy of every
//! problem in `examples/problems/` alone and checks that the finding is gone; `gradlab diagnose
//! --verify` does the same on the user's own run ([`crate::verify`]).
//!
//! A change of the learning rate is relative to the run's own ([`Change::LrTimes`]): its
//! config names a value only when the run's learning rate was read.

use crate::finding::{Kind, Remedy};

/// The config change that applies a remedy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// No setting of a run config applies it on its own (an architecture change, a procedure).
    None,
    /// These settings (`key = value`, several joined by `; `).
    Set(&'static str),
    /// The run's learning rate times this factor.
    LrTimes(f64),
}

/// A remedy as the catalogue writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    /// What to do, in plain words.
    pub action: &'static str,
    /// Why it fits the problem it is listed under.
    pub why: &'static str,
    pub change: Change,
}

impl Entry {
    /// The remedy for a run whose base learning rate is `lr` (when it was read).
    pub fn remedy(&self, lr: Option<f64>) -> Remedy {
        Remedy {
            action: self.action.into(),
            why: self.why.into(),
            config: match self.change {
                Change::None => None,
                Change::Set(s) => Some(s.into()),
                Change::LrTimes(factor) => lr.map(|lr| lr_setting(lr * factor)),
            },
        }
    }
}

/// The setting of a learning rate, its value as people read it (`optimizer.lr = 0.01`).
pub fn lr_setting(lr: f64) -> String {
    format!("optimizer.lr = {}", present::fmt_num(lr))
}

/// The remedies of `kind`, most fitting first (none for `converged`).
pub fn of(kind: Kind) -> &'static [Entry] {
    match kind {
        Kind::Diverged => &DIVERGED,
        Kind::LrTooHigh => &LR_TOO_HIGH,
        Kind::ExplodingGradients => &EXPLODING_GRADIENTS,
        Kind::VanishingGradients => &VANISHING_GRADIENTS,
        Kind::DeadUnits => &DEAD_UNITS,
        Kind::SymmetryNotBroken => &SYMMETRY_NOT_BROKEN,
        Kind::LrTooLow => &LR_TOO_LOW,
        Kind::SaddleOrPlateau => &SADDLE_OR_PLATEAU,
        Kind::Underfitting => &UNDERFITTING,
        Kind::Overfitting => &OVERFITTING,
        Kind::Converged => &[],
        Kind::BatchNoiseScale => &BATCH_NOISE_SCALE,
    }
}

/// [`of`] as a finding's remedies, for a run whose base learning rate is `lr`.
pub fn for_run(kind: Kind, lr: Option<f64>) -> Vec<Remedy> {
    of(kind).iter().map(|e| e.remedy(lr)).collect()
}

/// Bounds every step whatever the gradient's size.
const CLIP: Change = Change::Set("clip.max_norm = 1.0");
/// A linear warm-up over the first 200 steps from a tenth of the learning rate, in place of the
/// run's schedule (a whole table, so that no key of another schedule is left behind).
const WARMUP: Change = Change::Set(
    "schedule = { name = \"linear\", start_factor = 0.1, total_iters = 200, interval = \"step\" }",
);
/// Cosine annealing to zero over the whole run (`t_max` defaults to the run's length).
const COSINE: Change = Change::Set("schedule = { name = \"cosine\" }");
const KAIMING: Change = Change::Set("model.weight_init = \"kaiming_normal\"");
const RELU_KAIMING: Change =
    Change::Set("model.activation = \"relu\"; model.weight_init = \"kaiming_normal\"");
const BATCHNORM: Change = Change::Set("model.normalization = \"batchnorm\"");
/// Adam at its usual learning rate, in place of the run's optimizer (a whole table: SGD's
/// `momentum` or `nesterov` would be unknown to Adam, and SGD's learning rate is not Adam's).
const ADAM: Change = Change::Set("optimizer = { name = \"adam\", lr = 0.001 }");

/// For a diverged run.
pub const DIVERGED: [Entry; 4] = [
    Entry {
        action: "lower the learning rate tenfold",
        why: "a step too large for the curvature throws the weights out of the basin",
        change: Change::LrTimes(0.1),
    },
    Entry {
        action: "lower the learning rate 100×",
        why: "a run that blows up is often more than tenfold off; trying both brackets the scale",
        change: Change::LrTimes(0.01),
    },
    Entry {
        action: "clip the gradient norm",
        why: "bounds every step, so one large gradient cannot blow the weights up",
        change: CLIP,
    },
    Entry {
        action: "warm the learning rate up over 200 steps (in place of the run's schedule)",
        why: "the first steps, at the largest curvature, are taken with a small step",
        change: WARMUP,
    },
];

/// For a learning rate too high.
pub const LR_TOO_HIGH: [Entry; 4] = [
    Entry {
        action: "lower the learning rate tenfold",
        why: "brings the sharpness back under the optimizer's stability threshold (2/lr for plain SGD), where steps descend",
        change: Change::LrTimes(0.1),
    },
    Entry {
        action: "warm the learning rate up over 200 steps (in place of the run's schedule)",
        why: "curvature is largest early; a warm-up lets the net reach flatter regions first",
        change: WARMUP,
    },
    Entry {
        action: "clip the gradient norm",
        why: "caps the occasional huge step",
        change: CLIP,
    },
    Entry {
        action: "decay the learning rate to zero over the run (cosine)",
        why: "large steps early, small steps to settle",
        change: COSINE,
    },
];

/// For exploding gradients that grew over the steps (the detector puts
/// [`EXPLODING_THROUGH_DEPTH`] first when they grow layer by layer).
pub const EXPLODING_GRADIENTS: [Entry; 4] = [
    Entry {
        action: "clip the gradient norm",
        why: "bounds the update whatever the gradient's size",
        change: CLIP,
    },
    Entry {
        action: "lower the learning rate tenfold",
        why: "a smaller step keeps the weights where gradients are moderate",
        change: Change::LrTimes(0.1),
    },
    EXPLODING_THROUGH_DEPTH[0],
    EXPLODING_THROUGH_DEPTH[1],
];

/// For gradients (and activations) that grow layer by layer: the initialisation's scale
/// compounds with depth, so the remedies change the scale, not the step.
pub const EXPLODING_THROUGH_DEPTH: [Entry; 2] = [
    Entry {
        action: "use He (kaiming) initialisation",
        why: "scales each layer's weights by √(2/fan_in), so the signal and the gradient keep their size from layer to layer",
        change: KAIMING,
    },
    Entry {
        action: "add BatchNorm after each hidden linear/conv layer",
        why: "re-normalises activations so their scale cannot compound with depth",
        change: BATCHNORM,
    },
];

/// For vanishing gradients. Residual connections first: they keep the activation and the
/// learning rate, so nothing else about the run has to change with them (on
/// `examples/problems/vanishing_gradients.toml`, ReLU with He initialisation at the same
/// learning rate diverges, while the residual net trains); where no block keeps its width the
/// edit changes nothing and the report drops it ([`crate::run::fit`]).
pub const VANISHING_GRADIENTS: [Entry; 4] = [
    Entry {
        action: "add residual (skip) connections around every hidden block that keeps its width",
        why: "the identity path carries the gradient past every block",
        change: Change::Set("model.residual = true"),
    },
    Entry {
        action: "add BatchNorm after each hidden linear/conv layer",
        why: "keeps pre-activations out of the saturated tails",
        change: BATCHNORM,
    },
    Entry {
        action: "use ReLU with He (kaiming) initialisation",
        why: "ReLU's derivative is 1 where active and He init keeps the gradient's scale through depth (a deeper signal may then need a lower learning rate)",
        change: RELU_KAIMING,
    },
    Entry {
        action: "use Xavier initialisation for sigmoid/tanh nets",
        why: "scales weights to keep the activations' variance across layers",
        change: Change::Set("model.weight_init = \"xavier_normal\""),
    },
];

/// For dead units.
pub const DEAD_UNITS: [Entry; 4] = [
    Entry {
        action: "initialise biases at zero",
        why: "a large negative bias switches units off before training starts",
        change: Change::Set("model.bias_init = \"zeros\""),
    },
    Entry {
        action: "use Leaky ReLU",
        why: "a small negative slope keeps a gradient flowing through inactive units",
        change: Change::Set("model.activation = \"leaky_relu\""),
    },
    Entry {
        action: "lower the learning rate to 0.3×",
        why: "large steps knock units into the region where they never fire",
        change: Change::LrTimes(0.3),
    },
    Entry {
        action: "use He (kaiming) initialisation",
        why: "starts pre-activations centred with the right scale",
        change: KAIMING,
    },
];

/// For symmetry not broken.
pub const SYMMETRY_NOT_BROKEN: [Entry; 2] = [
    Entry {
        action: "initialise weights randomly",
        why: "random weights give each unit a different gradient, so they learn different features",
        change: KAIMING,
    },
    Entry {
        action: "use PyTorch's default initialisation",
        why: "remove the zero / constant weight_init override",
        change: Change::Set("model.weight_init = \"default\""),
    },
];

/// For a learning rate too low.
pub const LR_TOO_LOW: [Entry; 3] = [
    Entry {
        action: "raise the learning rate tenfold",
        why: "the descent is unbent, so larger steps are safe",
        change: Change::LrTimes(10.0),
    },
    Entry {
        action: "find the learning rate with a range test: `gradlab lr-find FILE`",
        why: "sweeps lr upward for a few hundred steps; take ~1/10 of where the loss blows up",
        change: Change::None,
    },
    Entry {
        action: "use Adam at lr 0.001 (in place of the run's optimizer)",
        why: "adaptive steps are far less sensitive to the base learning rate",
        change: ADAM,
    },
];

/// For a saddle point or plateau.
pub const SADDLE_OR_PLATEAU: [Entry; 3] = [
    Entry {
        action: "use a variance-preserving random initialisation",
        why: "starting away from the symmetric, near-zero point avoids the saddle at the origin",
        change: Change::Set("model.weight_init = \"orthogonal\""),
    },
    Entry {
        action: "use Adam at lr 0.001 (in place of the run's optimizer)",
        why: "its momentum builds speed along the shallow escape direction, and its per-weight scaling enlarges the tiny gradients there",
        change: ADAM,
    },
    Entry {
        action: "raise the learning rate 3×",
        why: "larger steps cross the flat region faster",
        change: Change::LrTimes(3.0),
    },
];

/// For underfitting.
pub const UNDERFITTING: [Entry; 3] = [
    Entry {
        action: "make every hidden layer 8× wider",
        why: "the model lacks the capacity to represent the data",
        change: Change::Set("model.width_factor = 8"),
    },
    Entry {
        action: "decay the learning rate to zero over the run (cosine)",
        why: "a smaller final step lets the loss settle lower",
        change: COSINE,
    },
    Entry {
        action: "remove regularisation (weight decay and dropout)",
        why: "weight decay and dropout pull against fitting",
        change: Change::Set("optimizer.weight_decay = 0; model.dropout = 0"),
    },
];

/// For overfitting.
pub const OVERFITTING: [Entry; 5] = [
    Entry {
        action: "stop early on the validation loss",
        why: "keeps the weights of the best validation epoch",
        change: Change::Set("train.early_stopping.monitor = \"val_loss\""),
    },
    Entry {
        action: "add weight decay",
        why: "penalises the large weights memorisation needs",
        change: Change::Set("optimizer.weight_decay = 0.0005"),
    },
    Entry {
        action: "add dropout (p = 0.3) after every hidden activation",
        why: "noise in the hidden units prevents co-adapted memorisation",
        change: Change::Set("model.dropout = 0.3"),
    },
    Entry {
        action: "augment the data with input noise (std 0.05)",
        why: "more distinct examples make memorising harder than generalising",
        change: Change::Set("data.augment.noise_std = 0.05"),
    },
    Entry {
        action: "halve every hidden layer's width",
        why: "fewer parameters, less capacity to memorise",
        change: Change::Set("model.width_factor = 0.5"),
    },
];

/// For a batch far from the gradient noise scale; the detector fills in the size
/// ([`batch_size_setting`]).
pub const BATCH_NOISE_SCALE: [Entry; 1] = [Entry {
    action: "set the batch size to about the gradient noise scale",
    why: "near the noise scale each example still buys progress and steps are not wasted on noise (McCandlish et al. 2018)",
    change: Change::None,
}];

/// The setting of a batch size (`data.batch_size = 64`).
pub fn batch_size_setting(b: usize) -> String {
    format!("data.batch_size = {b}")
}

/// A remedy's config change (`key = value`, several joined by `; `) as command-line flags that
/// survive a shell: `--set key=value`, quoted when the value needs it.
pub fn set_flags(config: &str) -> String {
    config
        .split("; ")
        .map(|a| {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            let (k, v) = (k.trim(), v.trim());
            // A bare word needs no TOML quotes: `--set` reads an unparsable value as a string.
            let bare = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
            match bare {
                Some(w)
                    if w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    format!("--set {k}={w}")
                }
                _ if v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_+".contains(c)) =>
                {
                    format!("--set {k}={v}")
                }
                _ => format!("--set '{k}={v}'"),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_has_remedies_and_the_lr_follows_the_run() {
        for k in Kind::ALL {
            assert_eq!(of(k).is_empty(), k == Kind::Converged, "{k}");
        }
        let r = for_run(Kind::LrTooLow, Some(0.1));
        assert_eq!(r[0].config.as_deref(), Some("optimizer.lr = 1"));
        assert_eq!(for_run(Kind::LrTooLow, None)[0].config, None);
        assert_eq!(
            for_run(Kind::Diverged, None)[2].config.as_deref(),
            Some("clip.max_norm = 1.0")
        );
    }

    /// A sigmoid MLP with equal hidden widths, a validation split, SGD with momentum and no
    /// schedule: every change of the catalogue has something to change here.
    const RUN: &str = r#"
seed = 0
[data]
dataset = "digits"
validation_split = 0.2
[model]
weight_init = "normal"
init_std = 0.05
bias_init = "constant"
bias_value = -1.0
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "sigmoid"
[[model.layers]]
type = "linear"
out_features = 16
[[model.layers]]
type = "sigmoid"
[[model.layers]]
type = "linear"
out_features = 10
[optimizer]
name = "sgd"
lr = 0.1
momentum = 0.9
weight_decay = 0.01
[train]
epochs = 3
"#;

    /// Every config change is complete: applied alone to a run it reads, and the run it
    /// describes differs from the one before (a key that did nothing would not).
    #[test]
    fn every_change_applies_alone_and_changes_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, RUN).unwrap();
        let subject = crate::Subject::new(&path, Vec::new());
        let base = subject.config(&[]).unwrap();
        for k in Kind::ALL {
            for e in of(k) {
                let Some(change) = e.remedy(Some(0.1)).config else {
                    continue;
                };
                let c = subject
                    .config(&crate::run::overrides(&change))
                    .unwrap_or_else(|err| panic!("{k}: `{change}` does not apply: {err}"));
                assert!(
                    !crate::run::same_run(&base, &c),
                    "{k}: `{change}` changes nothing"
                );
            }
        }
        // The changes the issue names, checked in the model they build.
        let layers = |change: &str| -> Vec<String> {
            let c = subject.config(&crate::run::overrides(change)).unwrap();
            c.model.layers.iter().map(|l| format!("{l:?}")).collect()
        };
        let relu = layers(match VANISHING_GRADIENTS[2].change {
            Change::Set(s) => s,
            _ => unreachable!(),
        });
        assert!(
            relu.iter().any(|l| l.contains("Relu")) && !relu.iter().any(|l| l.contains("Sigmoid"))
        );
        let c = subject
            .config(&crate::run::overrides(
                "model.activation = \"relu\"; model.weight_init = \"kaiming_normal\"",
            ))
            .unwrap();
        assert!(c
            .model
            .inits
            .iter()
            .flatten()
            .all(|i| i.weight == "kaiming_normal"));
        assert!(layers("model.normalization = \"batchnorm\"")
            .iter()
            .any(|l| l.contains("BatchNorm")));
        assert!(layers("model.residual = true")
            .iter()
            .any(|l| l.contains("Residual")));
    }
}
