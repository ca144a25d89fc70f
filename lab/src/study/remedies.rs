//! The bundled remedies studies (`gradlab compare remedies`): each tests claims of the seed
//! articles — BatchNorm, ReLU + He initialisation and skip connections against vanishing
//! gradients; dropout, weight decay, augmentation and early stopping against overfitting;
//! gradient clipping against a too-large learning rate; mini-batch size — on the bundled data,
//! as factor studies whose levels carry the claim ([`crate::study::Level::claim`]).

use std::path::Path;

use super::Study;

/// (study name, text) of `lab/studies/remedies/*.toml`, in the order they run.
pub const REMEDIES: &[(&str, &str)] = &[
    (
        "remedies-vanishing",
        include_str!("../../studies/remedies/vanishing.toml"),
    ),
    (
        "remedies-overfitting",
        include_str!("../../studies/remedies/overfitting.toml"),
    ),
    (
        "remedies-clipping",
        include_str!("../../studies/remedies/clipping.toml"),
    ),
    (
        "remedies-batch",
        include_str!("../../studies/remedies/batch.toml"),
    ),
];

impl Study {
    /// The bundled remedies studies, read and validated (they name only bundled datasets).
    pub fn remedies() -> Vec<Study> {
        REMEDIES
            .iter()
            .map(|(name, text)| {
                Study::from_text(text, &format!("<bundled study {name}>"), Path::new("."))
                    .unwrap_or_else(|e| panic!("lab/studies/remedies: {name} is not valid: {e}"))
            })
            .collect()
    }

    /// The bundled study named `name` (the default study or a remedies study), if any.
    pub fn bundled(name: &str) -> Option<Study> {
        if name == Study::default_study().name {
            return Some(Study::default_study());
        }
        REMEDIES
            .iter()
            .any(|(n, _)| *n == name)
            .then(|| Study::remedies().into_iter().find(|s| s.name == name))
            .flatten()
    }
}
