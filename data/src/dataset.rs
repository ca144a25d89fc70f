//! In-memory datasets: row-major `f32` examples with a per-example shape, plus targets.

use crate::error::{DataError, Result};
use crate::finite;

/// What a dataset predicts.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Classification: one label in `0..num_classes` per example.
    Classes {
        labels: Vec<u32>,
        num_classes: usize,
    },
    /// Regression: `dim` values per example, row-major `[n, dim]`.
    Values { values: Vec<f32>, dim: usize },
}

impl Targets {
    /// Number of examples these targets describe.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values { values, dim } => {
                if *dim == 0 {
                    0
                } else {
                    values.len() / dim
                }
            }
        }
    }

    /// True when there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels, when this is a classification set.
    pub fn labels(&self) -> Option<&[u32]> {
        match self {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Values { .. } => None,
        }
    }

    /// Number of classes, when this is a classification set.
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            Targets::Classes { num_classes, .. } => Some(*num_classes),
            Targets::Values { .. } => None,
        }
    }

    /// Targets of the examples at `indices`, in that order.
    pub fn gather(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Classes {
                labels,
                num_classes,
            } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                num_classes: *num_classes,
            },
            Targets::Values { values, dim } => {
                let mut out = Vec::with_capacity(indices.len() * dim);
                for &i in indices {
                    out.extend_from_slice(&values[i * dim..(i + 1) * dim]);
                }
                Targets::Values {
                    values: out,
                    dim: *dim,
                }
            }
        }
    }
}

/// A dataset held in memory: `x` is row-major `[n, shape...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Where it came from (a file, a dataset name or a generator), used in messages.
    pub name: String,
    /// Examples, row-major, `len() * features()` values.
    pub x: Vec<f32>,
    /// Shape of one example, e.g. `[784]`, `[40]` or `[1, 28, 28]`.
    pub shape: Vec<usize>,
    /// One target per example.
    pub targets: Targets,
}

/// A train/test pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}

impl Dataset {
    /// Builds a dataset, checking that `x`, `shape` and `targets` agree, labels are in range and
    /// every value is finite ([`crate::finite`]).
    pub fn new(
        name: impl Into<String>,
        x: Vec<f32>,
        shape: Vec<usize>,
        targets: Targets,
    ) -> Result<Dataset> {
        let name = name.into();
        let features = crate::limits::product(&name, "example shape", &shape)?;
        if features == 0 {
            return Err(DataError::shape(
                name,
                format!("example shape {shape:?} has no features"),
            ));
        }
        if !x.len().is_multiple_of(features) {
            return Err(DataError::shape(
                name,
                format!(
                    "{} values are not a whole number of examples of shape {shape:?}",
                    x.len()
                ),
            ));
        }
        let n = x.len() / features;
        match &targets {
            Targets::Classes {
                labels,
                num_classes,
            } => {
                if labels.len() != n {
                    return Err(DataError::shape(
                        name,
                        format!("{n} examples but {} labels", labels.len()),
                    ));
                }
                if let Some((index, &label)) = labels
                    .iter()
                    .enumerate()
                    .find(|(_, &l)| l as usize >= *num_classes)
                {
                    return Err(DataError::LabelOutOfRange {
                        file: name,
                        index,
                        label: label as i64,
                        num_classes: *num_classes,
                    });
                }
            }
            Targets::Values { values, dim } => {
                if *dim == 0 || values.len() != n * dim {
                    return Err(DataError::shape(
                        name,
                        format!(
                            "{n} examples need {n}×{dim} target values, found {}",
                            values.len()
                        ),
                    ));
                }
            }
        }
        finite::check(&name, &x, features, |i| finite::show_f64(x[i] as f64))?;
        if let Targets::Values { values, dim } = &targets {
            finite::check(&format!("{name} (targets)"), values, *dim, |i| {
                finite::show_f64(values[i] as f64)
            })?;
        }
        Ok(Dataset {
            name,
            x,
            shape,
            targets,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.x.len() / self.features()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Values per example (product of `shape`).
    pub fn features(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of classes (None for regression).
    pub fn num_classes(&self) -> Option<usize> {
        self.targets.num_classes()
    }

    /// Labels (None for regression).
    pub fn labels(&self) -> Option<&[u32]> {
        self.targets.labels()
    }

    /// The `i`-th example's values.
    pub fn example(&self, i: usize) -> &[f32] {
        let f = self.features();
        &self.x[i * f..(i + 1) * f]
    }

    /// The same data with a flat per-example shape `[features]`.
    pub fn flattened(mut self) -> Dataset {
        self.shape = vec![self.features()];
        self
    }

    /// A new dataset of the examples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let f = self.features();
        let mut x = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            x.extend_from_slice(&self.x[i * f..(i + 1) * f]);
        }
        Dataset {
            name: self.name.clone(),
            x,
            shape: self.shape.clone(),
            targets: self.targets.gather(indices),
        }
    }

    /// Count of examples per class (None for regression).
    pub fn class_counts(&self) -> Option<Vec<usize>> {
        let labels = self.labels()?;
        let mut counts = vec![0; self.num_classes()?];
        for &l in labels {
            counts[l as usize] += 1;
        }
        Some(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Dataset {
        Dataset::new(
            "toy",
            (0..12).map(|v| v as f32).collect(),
            vec![3],
            Targets::Classes {
                labels: vec![0, 1, 2, 1],
                num_classes: 3,
            },
        )
        .unwrap()
    }

    #[test]
    fn shapes_and_subset() {
        let d = toy();
        assert_eq!(d.len(), 4);
        assert_eq!(d.features(), 3);
        assert_eq!(d.example(2), &[6.0, 7.0, 8.0]);
        let s = d.subset(&[3, 0]);
        assert_eq!(s.x, vec![9.0, 10.0, 11.0, 0.0, 1.0, 2.0]);
        assert_eq!(s.labels().unwrap(), &[1, 0]);
        assert_eq!(d.class_counts().unwrap(), vec![1, 2, 1]);
    }

    #[test]
    fn inconsistent_inputs_are_errors() {
        let e = Dataset::new(
            "toy",
            vec![0.0; 12],
            vec![3],
            Targets::Classes {
                labels: vec![0, 1, 2],
                num_classes: 3,
            },
        )
        .unwrap_err();
        assert!(matches!(e, DataError::ShapeMismatch { .. }), "{e}");
        assert!(e.to_string().contains("4 examples but 3 labels"), "{e}");
        let e = Dataset::new(
            "toy",
            vec![0.0; 12],
            vec![3],
            Targets::Classes {
                labels: vec![0, 1, 3, 1],
                num_classes: 3,
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                DataError::LabelOutOfRange {
                    index: 2,
                    label: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = Dataset::new(
            "toy",
            vec![0.0; 10],
            vec![3],
            Targets::Values {
                values: vec![0.0; 3],
                dim: 1,
            },
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("toy: shape mismatch"), "{e}");
    }

    /// Every dataset, however built, holds finite values only.
    #[test]
    fn dataset_with_a_non_finite_value_is_an_error() {
        let mut x = vec![0.0; 12];
        x[7] = f32::NAN;
        let e = Dataset::new(
            "toy",
            x,
            vec![3],
            Targets::Classes {
                labels: vec![0; 4],
                num_classes: 1,
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "toy: non-finite value NaN at row 2, column 1"
        );
        let e = Dataset::new(
            "toy",
            vec![0.0; 4],
            vec![2],
            Targets::Values {
                values: vec![0.0, 1.0, f32::INFINITY, 2.0],
                dim: 2,
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "toy (targets): non-finite value inf at row 1, column 0"
        );
    }
}
