//! The metrics a run logs per epoch, and what each one means: its name in configs, logs and
//! stores, whether larger values are better, its label for people and whether it is an accuracy
//! (a fraction shown in %).
//!
//! Accuracies are better when higher, losses when lower. Every reader of a metric name (early
//! stopping, the lab's tuning metric and targets, its analysis and the study report) goes
//! through [`Metric::from_name`]: a name that is not one of [`METRICS`] is not a metric, so it
//! has no direction at all rather than a guessed one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A per-epoch metric. Serialises as its name (`val_accuracy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    TrainLoss,
    TrainAccuracy,
    ValLoss,
    ValAccuracy,
    TestLoss,
    /// What a study compares when it can.
    #[default]
    TestAccuracy,
}

/// Every metric, in the order of [`METRICS`].
const ALL: [Metric; 6] = [
    Metric::TrainLoss,
    Metric::TrainAccuracy,
    Metric::ValLoss,
    Metric::ValAccuracy,
    Metric::TestLoss,
    Metric::TestAccuracy,
];

/// The names of the metrics (what a monitor, a tuning metric or a target may name).
pub const METRICS: &[&str] = &[
    ALL[0].as_str(),
    ALL[1].as_str(),
    ALL[2].as_str(),
    ALL[3].as_str(),
    ALL[4].as_str(),
    ALL[5].as_str(),
];

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 6] = ALL;

    /// The name in configs, logs and stores (`val_accuracy`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Metric::TrainLoss => "train_loss",
            Metric::TrainAccuracy => "train_accuracy",
            Metric::ValLoss => "val_loss",
            Metric::ValAccuracy => "val_accuracy",
            Metric::TestLoss => "test_loss",
            Metric::TestAccuracy => "test_accuracy",
        }
    }

    /// The metric called `name`; `None` for any other name.
    pub fn from_name(name: &str) -> Option<Metric> {
        ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// An accuracy: a fraction, shown to people in %.
    pub fn is_accuracy(self) -> bool {
        matches!(
            self,
            Metric::TrainAccuracy | Metric::ValAccuracy | Metric::TestAccuracy
        )
    }

    /// Larger values are better (accuracies); smaller ones for losses.
    pub fn higher_is_better(self) -> bool {
        self.is_accuracy()
    }

    /// Measured on the validation split (a run needs `data.validation_split` to have it).
    pub fn is_validation(self) -> bool {
        matches!(self, Metric::ValLoss | Metric::ValAccuracy)
    }

    /// The name for people: `test accuracy`, `validation loss`, `train loss`.
    pub fn label(self) -> &'static str {
        match self {
            Metric::TrainLoss => "train loss",
            Metric::TrainAccuracy => "train accuracy",
            Metric::ValLoss => "validation loss",
            Metric::ValAccuracy => "validation accuracy",
            Metric::TestLoss => "test loss",
            Metric::TestAccuracy => "test accuracy",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Metric {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialise_as_names() {
        assert_eq!(METRICS.len(), Metric::ALL.len());
        for (m, name) in Metric::ALL.into_iter().zip(METRICS) {
            assert_eq!(m.as_str(), *name);
            assert_eq!(Metric::from_name(name), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), *name);
            assert_eq!(serde_json::from_value::<Metric>((*name).into()).unwrap(), m);
            assert_eq!(m.to_string(), *name);
        }
        assert!(serde_json::from_value::<Metric>("accuracy".into()).is_err());
    }

    #[test]
    fn accuracies_are_better_higher_and_losses_lower() {
        for m in Metric::ALL {
            let acc = m.as_str().ends_with("accuracy");
            assert_eq!(m.is_accuracy(), acc, "{m}");
            assert_eq!(m.higher_is_better(), acc, "{m}");
            assert_eq!(m.higher_is_better(), !m.as_str().contains("loss"), "{m}");
        }
        assert!(Metric::ValLoss.is_validation() && !Metric::TestAccuracy.is_validation());
    }

    /// The rules this type replaced disagreed outside the six names (`!contains("loss")` called
    /// `grad_norm` and `lr` higher-is-better, `ends_with("accuracy")` lower-is-better; `contains`
    /// and `ends_with("accuracy")` split on `accuracy_top5`): no such name is a metric.
    #[test]
    fn other_names_are_not_metrics() {
        for name in [
            "grad_norm",
            "lr",
            "accuracy_top5",
            "loss",
            "accuracy",
            "val_acc",
            "Test_Accuracy",
            "",
        ] {
            assert_eq!(Metric::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn labels_for_people() {
        let labels: Vec<&str> = Metric::ALL.into_iter().map(Metric::label).collect();
        assert_eq!(
            labels,
            [
                "train loss",
                "train accuracy",
                "validation loss",
                "validation accuracy",
                "test loss",
                "test accuracy"
            ]
        );
        assert_eq!(Metric::default(), Metric::TestAccuracy);
    }
}
