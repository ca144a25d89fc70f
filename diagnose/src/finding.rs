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
}
