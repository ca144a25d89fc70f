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

/// The largest [`Layer::min_train_batch`] along `layers` for inputs of `in_shape`, and the
/// index of the first layer that needs more than one example (shapes as [`chain_shape`]
/// checks them; the walk ends at a layer whose shape fails).
pub(crate) fn chain_min_train_batch(
    layers: &[Box<dyn Layer>],
    in_shape: &[usize],
) -> (usize, Option<usize>) {
    let mut shape = in_shape.to_vec();
    let (mut need, mut first) = (1, None);
    for (i, l) in layers.iter().enumerate() {
        let k = l.min_train_batch(&shape);
        if k > need {
            need = k;
            first = first.or(Some(i));
        }
        match l.out_shape(&shape) {
            Ok(s) => shape = s,
            Err(_) => break,
        }
    }
    (need, first)
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

/// The R-forward pass (see [`rop`](crate::rop)) through `layers`, each on the previous one's
/// `R{y}`; `v` holds the chain's parameter directions in layer order. `None` is a zero `R{·}`.
pub(crate) fn forward_r_chain<'a>(
    layers: &'a mut [Box<dyn Layer>],
    rx: Option<&Tensor>,
    v: &[Vec<f32>],
) -> Result<Option<&'a Tensor>> {
    let (first, rest) = layers.split_first_mut().expect("non-empty");
    let (vf, vr) = v.split_at(first.parameters().len());
    let ry = first.forward_r(rx, vf)?;
    if rest.is_empty() {
        Ok(ry)
    } else {
        forward_r_chain(rest, ry, vr)
    }
}

/// The R-backward pass through `layers`, last to first, adding each layer's part of `H v` to
/// its slots of `hv` (laid out as `v`). Returns `(dx, R{dx})` of the first layer when
/// `need_dx`; otherwise layers in front of the first one with parameters are skipped, that one
/// runs without its input-side results, and the answer is `None`.
pub(crate) fn backward_r_chain<'a>(
    layers: &'a mut [Box<dyn Layer>],
    dy: &Tensor,
    rdy: &Tensor,
    v: &[Vec<f32>],
    hv: &mut [Vec<f32>],
    need_dx: bool,
) -> Result<Option<(&'a Tensor, &'a Tensor)>> {
    if need_dx {
        return backward_r_rec(layers, dy, rdy, v, hv, true).map(Some);
    }
    match layers.iter().position(|l| !l.parameters().is_empty()) {
        Some(first) => {
            backward_r_rec(&mut layers[first..], dy, rdy, v, hv, false)?;
            Ok(None)
        }
        None => Ok(None),
    }
}

fn backward_r_rec<'a>(
    layers: &'a mut [Box<dyn Layer>],
    dy: &Tensor,
    rdy: &Tensor,
    v: &[Vec<f32>],
    hv: &mut [Vec<f32>],
    need_first_dx: bool,
) -> Result<(&'a Tensor, &'a Tensor)> {
    let (last, rest) = layers.split_last_mut().expect("non-empty");
    let k = v.len() - last.parameters().len();
    let (vr, vl) = v.split_at(k);
    let (hr, hl) = hv.split_at_mut(k);
    let (dx, rdx) = last.backward_r(dy, rdy, vl, hl, need_first_dx || !rest.is_empty())?;
    if rest.is_empty() {
        Ok((dx, rdx))
    } else {
        backward_r_rec(rest, dx, rdx, vr, hr, need_first_dx)
    }
}
