//! Findings: what the doctor concluded, over which steps, on what evidence, with which remedies.

use serde::{Deserialize, Serialize};

/// The problems (and the healthy end state) the doctor can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    VanishingGradients,
    ExplodingGradients,
    SaddleOrPlateau,
    LrTooHigh,
    LrTooLow,
    DeadUnits,
    SymmetryNotBroken,
    Underfitting,
    Overfitting,
    Diverged,
    Converged,
}

impl Kind {
    /// The JSON name (`vanishing_gradients`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VanishingGradients => "vanishing_gradients",
            Kind::ExplodingGradients => "exploding_gradients",
            Kind::SaddleOrPlateau => "saddle_or_plateau",
            Kind::LrTooHigh => "lr_too_high",
            Kind::LrTooLow => "lr_too_low",
            Kind::DeadUnits => "dead_units",
            Kind::SymmetryNotBroken => "symmetry_not_broken",
            Kind::Underfitting => "underfitting",
            Kind::Overfitting => "overfitting",
            Kind::Diverged => "diverged",
            Kind::Converged => "converged",
        }
    }

    /// The kind whose JSON name is `name`; `None` for any other name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// What the kind means, in plain words (one sentence for a report's reader).
    pub fn meaning(self) -> &'static str {
        match self {
            Kind::VanishingGradients => {
                "Gradients of the early layers shrank towards zero, so those layers barely learned."
            }
            Kind::ExplodingGradients => {
                "Gradient norms grew by orders of magnitude; updates were erratic and may blow up."
            }
            Kind::SaddleOrPlateau => {
                "The loss stalled for a long stretch with small gradients: a plateau or saddle region."
            }
            Kind::LrTooHigh => {
                "The loss oscillated or jumped upwards: the learning rate was larger than the problem tolerates."
            }
            Kind::LrTooLow => {
                "The loss fell very slowly and steadily: a larger learning rate would likely train faster."
            }
            Kind::DeadUnits => "Many ReLU units never activated, shrinking the network's capacity.",
            Kind::SymmetryNotBroken => {
                "Units in a layer stayed identical to each other: initialisation did not break symmetry."
            }
            Kind::Underfitting => {
                "Training loss stayed high: the model did not fit even the training data."
            }
            Kind::Overfitting => {
                "Validation loss rose while training loss kept falling: the model memorised the training set."
            }
            Kind::Diverged => "The loss became infinite or NaN: training broke down.",
            Kind::Converged => "The loss settled: training reached a stable end point.",
        }
    }

    /// Every kind.
    pub const ALL: [Kind; 11] = [
        Kind::VanishingGradients,
        Kind::ExplodingGradients,
        Kind::SaddleOrPlateau,
        Kind::LrTooHigh,
        Kind::LrTooLow,
        Kind::DeadUnits,
        Kind::SymmetryNotBroken,
        Kind::Underfitting,
        Kind::Overfitting,
        Kind::Diverged,
        Kind::Converged,
    ];
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A remedy to try, with the config change that applies it where there is one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Remedy {
    /// What to do, in plain words ("use He (kaiming) initialisation").
    pub action: String,
    /// Why it fits this situation.
    pub why: String,
    /// A config change that applies it (`--set` style), when one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// One piece of evidence: a named reading and what it shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The reading (`grad_norm ratio first/last layer`).
    pub what: String,
    pub value: f64,
    /// How to read it ("below 1e-3: the first layer barely learns").
    pub note: String,
}

/// A conclusion of the doctor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: Kind,
    pub first_step: u64,
    pub last_step: u64,
    /// 0–1.
    pub confidence: f64,
    /// What the confidence rests on: which readings set it and what raised it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub basis: String,
    /// One sentence for people.
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// Ranked: the most fitting first.
    pub remedies: Vec<Remedy>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_with_their_json_names() {
        for k in Kind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn kinds_read_back_from_their_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.as_str()), Some(k));
            assert!(k.meaning().ends_with('.'), "{k}");
        }
        assert_eq!(Kind::from_name("lr too high"), None);
        assert_eq!(Kind::from_name(""), None);
    }
}
