//! The remedies the doctor suggests, the one place their words live: for each problem what to
//! try (most fitting first), why it fits that problem, and the config change that applies it
//! (`key = value`, several joined by `; `; the report prints them as `--set` flags). Detectors
//! attach [`for_run`] of their problem to a finding (a run that diverged with a finite loss gets
//! the first two of [`DIVERGED`]).
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
    }
}

/// [`of`] as a finding's remedies, for a run whose base learning rate is `lr`.
pub fn for_run(kind: Kind, lr: Option<f64>) -> Vec<Remedy> {
    of(kind).iter().map(|e| e.remedy(lr)).collect()
}

/// Bounds every step whatever the gradient's size.
const CLIP: Change = Change::Set("clip.max_norm = 1.0");
/// A linear warm-up over the first 200 steps from a tenth of the learning rate.
const WARMUP: Change = Change::Set(
    "schedule.name = \"linear\"; schedule.start_factor = 0.1; schedule.total_iters = 200; schedule.interval = \"step\"",
);
const COSINE: Change = Change::Set("schedule.name = \"cosine\"");
const KAIMING: Change = Change::Set("model.weight_init = \"kaiming_normal\"");
const ADAM: Change = Change::Set("optimizer.name = \"adam\"");

/// For a diverged run.
pub const DIVERGED: [Entry; 3] = [
    Entry {
        action: "lower the learning rate tenfold",
        why: "a step too large for the curvature throws the weights out of the basin",
        change: Change::LrTimes(0.1),
    },
    Entry {
        action: "clip the gradient norm",
        why: "bounds every step, so one large gradient cannot blow the weights up",
        change: CLIP,
    },
    Entry {
        action: "warm the learning rate up",
        why: "the first steps, at the largest curvature, are taken with a small step",
        change: WARMUP,
    },
];

/// For a learning rate too high.
pub const LR_TOO_HIGH: [Entry; 4] = [
    Entry {
        action: "lower the learning rate tenfold",
        why: "brings lr·λmax back below 2, where steps descend",
        change: Change::LrTimes(0.1),
    },
    Entry {
        action: "warm the learning rate up",
        why: "curvature is largest early; a warm-up lets the net reach flatter regions first",
        change: WARMUP,
    },
    Entry {
        action: "clip the gradient norm",
        why: "caps the occasional huge step",
        change: CLIP,
    },
    Entry {
        action: "decay the learning rate",
        why: "large steps early, small steps to settle",
        change: COSINE,
    },
];

/// For exploding gradients.
pub const EXPLODING_GRADIENTS: [Entry; 4] = [
    Entry {
        action: "clip the gradient norm",
        why: "bounds the update whatever the gradient's size",
        change: CLIP,
    },
    Entry {
        action: "lower the learning rate",
        why: "a smaller step keeps the weights where gradients are moderate",
        change: Change::LrTimes(0.1),
    },
    Entry {
        action: "use a variance-preserving initialisation",
        why: "keeps the gradient's scale from layer to layer",
        change: KAIMING,
    },
    Entry {
        action: "add BatchNorm after each linear/conv layer",
        why: "re-normalises activations so their scale cannot compound with depth",
        change: Change::None,
    },
];

/// For vanishing gradients.
pub const VANISHING_GRADIENTS: [Entry; 4] = [
    Entry {
        action: "use ReLU with He (kaiming) initialisation",
        why: "ReLU's derivative is 1 where active and He init keeps the gradient's scale through depth",
        change: KAIMING,
    },
    Entry {
        action: "add BatchNorm after each linear layer",
        why: "keeps pre-activations out of the saturated tails",
        change: Change::None,
    },
    Entry {
        action: "add residual (skip) connections",
        why: "the identity path carries the gradient past every block",
        change: Change::None,
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
        action: "use Leaky ReLU (or ELU/GELU)",
        why: "a small negative slope keeps a gradient flowing through inactive units",
        change: Change::None,
    },
    Entry {
        action: "lower the learning rate",
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
        action: "find the learning rate with a range test",
        why: "sweep lr upward for a few hundred steps and take ~1/10 of where the loss blows up",
        change: Change::None,
    },
    Entry {
        action: "use Adam",
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
        action: "use momentum or Adam",
        why: "momentum builds speed along the shallow escape direction",
        change: ADAM,
    },
    Entry {
        action: "raise the learning rate",
        why: "larger steps cross the flat region faster",
        change: Change::LrTimes(3.0),
    },
];

/// For underfitting.
pub const UNDERFITTING: [Entry; 3] = [
    Entry {
        action: "make the model larger (wider or deeper)",
        why: "the model lacks the capacity to represent the data",
        change: Change::Set("model.layers.0.out_features = 64"),
    },
    Entry {
        action: "train longer with a decaying learning rate",
        why: "a smaller final step lets the loss settle lower",
        change: COSINE,
    },
    Entry {
        action: "reduce regularisation",
        why: "weight decay and dropout pull against fitting",
        change: Change::Set("optimizer.weight_decay = 0"),
    },
];

/// For overfitting.
pub const OVERFITTING: [Entry; 5] = [
    Entry {
        action: "stop early",
        why: "keeps the weights of the best validation epoch",
        change: Change::Set("train.early_stopping.monitor = \"val_loss\""),
    },
    Entry {
        action: "add weight decay",
        why: "penalises the large weights memorisation needs",
        change: Change::Set("optimizer.weight_decay = 0.0005"),
    },
    Entry {
        action: "add dropout",
        why: "noise in the hidden units prevents co-adapted memorisation",
        change: Change::None,
    },
    Entry {
        action: "get more data or augment it",
        why: "more distinct examples make memorising harder than generalising",
        change: Change::Set("data.augment.noise_std = 0.05"),
    },
    Entry {
        action: "use a smaller model",
        why: "fewer parameters, less capacity to memorise",
        change: Change::None,
    },
];

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
            for_run(Kind::Diverged, None)[1].config.as_deref(),
            Some("clip.max_norm = 1.0")
        );
    }
}
