//! Running a chain of layers, each on the previous one's output: the shape inference and the
//! forward and backward passes shared by [`Sequential`](crate::Sequential) and the branches of a
//! [`Residual`](crate::Residual) block.

use crate::layer::Layer;
use crate::{NnError, Result, Tensor};

/// The output shape of `layers` for per-example input `in_shape`; an error names the layer as
/// `{what} {index} ({kind})`.
pub(crate) fn chain_shape(
    layers: &[Box<dyn Layer>],
    in_shape: &[usize],
    what: &str,
) -> Result<Vec<usize>> {
    let mut shape = in_shape.to_vec();
    for (j, l) in layers.iter().enumerate() {
        shape = l
            .out_shape(&shape)
            .map_err(|e| NnError::Shape(format!("{what} {j} ({}): {e}", l.kind())))?;
    }
    Ok(shape)
}

/// Runs `layers` in order, each on the previous one's output.
pub(crate) fn forward_chain<'a>(
    layers: &'a mut [Box<dyn Layer>],
    x: &Tensor,
    train: bool,
) -> &'a Tensor {
    let (first, rest) = layers.split_first_mut().expect("non-empty");
    let y = first.forward(x, train);
    if rest.is_empty() {
        y
    } else {
        forward_chain(rest, y, train)
    }
}

/// The backward pass through `layers`, last to first.
pub(crate) fn backward_chain<'a>(layers: &'a mut [Box<dyn Layer>], dy: &Tensor) -> &'a Tensor {
    let (last, rest) = layers.split_last_mut().expect("non-empty");
    let dx = last.backward(dy);
    if rest.is_empty() {
        dx
    } else {
        backward_chain(rest, dx)
    }
}

/// The backward pass through `layers` when the first one's input gradient is not needed: it
/// runs [`Layer::backward_params`].
pub(crate) fn backward_params_chain(layers: &mut [Box<dyn Layer>], dy: &Tensor) {
    let (last, rest) = layers.split_last_mut().expect("non-empty");
    if rest.is_empty() {
        last.backward_params(dy);
    } else {
        backward_params_chain(rest, last.backward(dy));
    }
}

/// [`backward_chain`] with [`Layer::backward_with_stats`] at every layer.
pub(crate) fn backward_with_stats_chain<'a>(
    layers: &'a mut [Box<dyn Layer>],
    dy: &Tensor,
    sq_norms: &mut [f32],
) -> Result<&'a Tensor> {
    let (last, rest) = layers.split_last_mut().expect("non-empty");
    let dx = last.backward_with_stats(dy, sq_norms)?;
    if rest.is_empty() {
        Ok(dx)
    } else {
        backward_with_stats_chain(rest, dx, sq_norms)
    }
}
