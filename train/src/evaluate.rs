//! Evaluation: the mean loss (and accuracy) of a model over a dataset, in evaluation mode.

use nn::{Sequential, Tensor};

use crate::observe::Loss;
use crate::{Result, TrainError};

pub(crate) fn count_correct(logits: &Tensor, labels: &[usize]) -> u64 {
    let c = logits.per_example();
    let mut n = 0;
    for (row, &l) in logits.data.chunks_exact(c).zip(labels) {
        let mut best = 0;
        for (j, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = j;
            }
        }
        n += u64::from(best == l);
    }
    n
}

/// Mean loss (and accuracy for classification) of `model` in evaluation mode over `data`.
pub(crate) fn evaluate(
    model: &mut Sequential,
    x: &mut Tensor,
    loss: &mut Loss,
    data: &data::Dataset,
    batch_size: usize,
) -> Result<(f64, Option<f64>)> {
    let f = data.features();
    let mut target = Tensor::default();
    let mut labels = Vec::new();
    let (mut total, mut correct) = (0.0f64, 0u64);
    let n = data.len();
    // A batch larger than the set is the whole set.
    let batch_size = batch_size.clamp(1, n.max(1));
    let mut start = 0;
    while start < n {
        let end = (start + batch_size).min(n);
        let mut shape = vec![end - start];
        shape.extend_from_slice(&data.shape);
        x.resize(&shape);
        x.data.copy_from_slice(&data.x[start * f..end * f]);
        let y = model.forward_mut(x, false);
        let l = match loss {
            Loss::CrossEntropy(ce) => {
                labels.clear();
                labels.extend(
                    data.labels().expect("class targets")[start..end]
                        .iter()
                        .map(|&l| l as usize),
                );
                correct += count_correct(y, &labels);
                ce.forward(y, &labels)?
            }
            Loss::Mse(mse) => {
                let data::Targets::Values { values, dim } = &data.targets else {
                    return Err(TrainError::Config(format!(
                        "dataset `{}` has class labels; the mse loss needs value targets",
                        data.name
                    )));
                };
                target.resize(&y.shape);
                target.data.copy_from_slice(&values[start * dim..end * dim]);
                mse.forward(y, &target)?
            }
        };
        total += l as f64 * (end - start) as f64;
        start = end;
    }
    let classify = matches!(loss, Loss::CrossEntropy(_));
    Ok((
        total / n.max(1) as f64,
        classify.then(|| correct as f64 / n.max(1) as f64),
    ))
}
