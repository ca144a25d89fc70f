//! The model as the exact diagonal sees it: a chain of steps read from the engine's layers
//! (their parameters, geometry and, for dropout, the step's masks), or the reason it cannot;
//! and the recursion's cost, counted before anything is computed.

use nn::{Activation, ActivationLayer, Conv, Dropout, Layer, Pool, Residual};
use optim::Param;

use super::ops::{curved, Window};

/// A linear or convolution layer: `y[o, p] = b[o] + Σ_k W[o, k]·A[k, p]`, `A` the input's
/// patches (`[kr, P]`: the input itself, `[in, P]`, for a linear layer over `P` positions).
pub(super) struct Affine {
    /// Model index of the weight (the bias, when present, follows it).
    pub param: usize,
    pub bias: bool,
    /// `W` row-major `[o, kr]` (PyTorch's `[o, c, kh, kw]` is `[o, c·kh·kw]`), and `b`.
    pub w: Vec<f64>,
    /// `Wᵀ` (`[kr, o]`) of a linear layer (empty for a convolution): the block forward's
    /// product `X Wᵀ` then runs over rows of `Wᵀ` (vectorised row updates) instead of one
    /// scalar dot product per output, each output the same sum in the same order.
    pub wt: Vec<f64>,
    pub b: Vec<f64>,
    pub o: usize,
    pub kr: usize,
    pub positions: usize,
    /// `None`: a linear layer over `[P, in]` (features last, output `[P, o]`); else the
    /// convolution's input channels and window (input `[c, H·W]`, output `[o, P]`).
    pub conv: Option<(usize, Window)>,
}

impl Affine {
    /// Strides of element `(o, p)` of an output-shaped vector.
    pub fn out_strides(&self) -> (usize, usize) {
        if self.conv.is_some() {
            (self.positions, 1)
        } else {
            (1, self.o)
        }
    }
}

pub(super) enum Node {
    Affine(Affine),
    Act(Activation),
    /// Dropout's factors for the whole batch (`[N, dim]`), as the step drew them.
    Mask(Vec<f64>),
    MaxPool {
        c: usize,
        win: Window,
    },
    AvgPool {
        c: usize,
        win: Window,
    },
    GlobalAvg {
        c: usize,
        s: usize,
    },
    /// Flatten, and dropout in evaluation: the data unchanged.
    Same,
    Residual {
        body: Vec<Step>,
        shortcut: Vec<Step>,
    },
}

/// A node with its per-example input and output sizes.
pub(super) struct Step {
    pub node: Node,
    pub inp: usize,
    pub out: usize,
}

impl Step {
    pub fn has_params(&self) -> bool {
        match &self.node {
            Node::Affine(_) => true,
            Node::Residual { body, shortcut } => body.iter().chain(shortcut).any(Step::has_params),
            _ => false,
        }
    }
}

type Why = String;

fn concrete<'a, T: 'static>(layer: &'a dyn Layer, at: &str) -> Result<&'a T, Why> {
    layer
        .as_any()
        .and_then(|a| a.downcast_ref::<T>())
        .ok_or_else(|| format!("{at} (`{}`): not the built-in layer", layer.kind()))
}

/// `(c, [h, w])` of a per-example `[C, L]` (as `H = 1`) or `[C, H, W]` shape.
fn planes(shape: &[usize], at: &str) -> Result<(usize, [usize; 2]), Why> {
    match *shape {
        [c, l] => Ok((c, [1, l])),
        [c, h, w] => Ok((c, [h, w])),
        _ => Err(format!("{at}: input shape {shape:?}")),
    }
}

/// The steps of `layers` for per-example input `in_shape`; `params` are their parameters in
/// order (values included; a residual block holds its sub-layers' values), the first at model
/// index `first`; `batch` examples (for dropout masks). Returns the steps and the output shape.
pub(super) fn chain(
    layers: &[Box<dyn Layer>],
    params: &[&Param<f32>],
    first: usize,
    in_shape: &[usize],
    batch: usize,
    at: &str,
) -> Result<(Vec<Step>, Vec<usize>), Why> {
    let mut steps = Vec::new();
    let mut shape = in_shape.to_vec();
    let mut used = 0;
    for (i, layer) in layers.iter().enumerate() {
        let at = format!("{at}{i}");
        let layer = &**layer;
        let out_shape = layer.out_shape(&shape).map_err(|e| format!("{at}: {e}"))?;
        let (inp, out) = (shape.iter().product(), out_shape.iter().product());
        let count = layer.parameters().len();
        let ps = params
            .get(used..used + count)
            .ok_or_else(|| format!("{at}: parameters do not match the layers"))?;
        let index = first + used;
        used += count;
        let f64s = |p: &Param<f32>| p.value.iter().map(|&v| v as f64).collect::<Vec<f64>>();
        let affine = |o: usize,
                      kr: usize,
                      positions: usize,
                      conv: Option<(usize, Window)>|
         -> Result<Node, Why> {
            let w = ps.first().ok_or_else(|| format!("{at}: no weight"))?;
            if w.value.len() != o * kr || ps.len() > 2 {
                return Err(format!(
                    "{at}: parameters of shapes other than [out, …], [out]"
                ));
            }
            let w = f64s(w);
            let wt = if conv.is_none() {
                let mut t = vec![0.0; w.len()];
                for (oi, row) in w.chunks_exact(kr.max(1)).enumerate() {
                    for (k, &v) in row.iter().enumerate() {
                        t[k * o + oi] = v;
                    }
                }
                t
            } else {
                Vec::new()
            };
            Ok(Node::Affine(Affine {
                param: index,
                bias: ps.len() == 2,
                w,
                wt,
                b: ps.get(1).map(|b| f64s(b)).unwrap_or_default(),
                o,
                kr,
                positions,
                conv,
            }))
        };
        let node = match layer.kind() {
            "linear" => {
                let w = ps.first().ok_or_else(|| format!("{at}: no weight"))?;
                let (o, k) = match w.shape[..] {
                    [o, k] => (o, k),
                    _ => return Err(format!("{at}: weight of shape {:?}", w.shape)),
                };
                affine(o, k, inp / k.max(1), None)?
            }
            "conv1d" | "conv2d" => {
                let cfg = concrete::<Conv>(layer, &at)?.config();
                let (c, hw) = planes(&shape, &at)?;
                let (o, ohw) = planes(&out_shape, &at)?;
                let win = Window::new(
                    hw,
                    ohw,
                    cfg.kernel_size,
                    cfg.stride,
                    cfg.padding,
                    cfg.dilation,
                );
                let kr = c * win.taps;
                affine(o, kr, win.positions, Some((c, win)))?
            }
            "max_pool1d" | "max_pool2d" | "avg_pool1d" | "avg_pool2d" => {
                let pool = concrete::<Pool>(layer, &at)?;
                let cfg = pool.config();
                let (c, hw) = planes(&shape, &at)?;
                let (_, ohw) = planes(&out_shape, &at)?;
                let s = cfg.stride.unwrap_or(cfg.kernel_size);
                let win = Window::new(hw, ohw, cfg.kernel_size, s, cfg.padding, [1, 1]);
                if pool.is_max() {
                    Node::MaxPool { c, win }
                } else {
                    Node::AvgPool { c, win }
                }
            }
            "global_avg_pool" => Node::GlobalAvg {
                c: shape[0],
                s: inp / shape[0].max(1),
            },
            "flatten" => Node::Same,
            "dropout" => match concrete::<Dropout>(layer, &at)?.mask() {
                Some(m) if m.len() == batch * inp => {
                    Node::Mask(m.iter().map(|&v| v as f64).collect())
                }
                Some(_) => return Err(format!("{at}: dropout mask of another batch")),
                None => Node::Same,
            },
            "residual" => {
                let block = concrete::<Residual>(layer, &at)?;
                let nb: usize = block.body().iter().map(|l| l.parameters().len()).sum();
                let (body, body_out) = chain(
                    block.body(),
                    &ps[..nb],
                    index,
                    &shape,
                    batch,
                    &format!("{at}.body."),
                )?;
                let (shortcut, _) = chain(
                    block.shortcut(),
                    &ps[nb..],
                    index + nb,
                    &shape,
                    batch,
                    &format!("{at}.shortcut."),
                )?;
                if body_out != out_shape {
                    return Err(format!("{at}: body output {body_out:?}"));
                }
                Node::Residual { body, shortcut }
            }
            "batchnorm1d" | "batchnorm2d" => {
                return Err(format!(
                    "{at} (`{}`): batch norm in training mode couples the examples",
                    layer.kind()
                ))
            }
            other => match layer
                .as_any()
                .and_then(|a| a.downcast_ref::<ActivationLayer>())
            {
                Some(a) => Node::Act(a.activation()),
                None => return Err(format!("{at} (`{other}`)")),
            },
        };
        if count > 0 && !matches!(node, Node::Affine(_) | Node::Residual { .. }) {
            return Err(format!("{at} (`{}`): parameters", layer.kind()));
        }
        steps.push(Step { node, inp, out });
        shape = out_shape;
    }
    if used != params.len() {
        return Err(format!("{at}: parameters do not match the layers"));
    }
    Ok((steps, shape))
}

/// Linear layers with more weights than this (1 MiB in `f64`) no longer stay in a core's L2
/// cache between the examples of the recursion, which runs one example at a time: each example
/// streams them again.
pub(super) const LARGE_WEIGHTS: usize = 1 << 17;

/// Forward multiply-adds of one example through the affine steps (what a training step's
/// forward pass costs, per example): `(linear layers, linear layers with more than
/// [`LARGE_WEIGHTS`] weights, convolutions)`.
pub(super) fn forward_cost(steps: &[Step]) -> (f64, f64, f64) {
    steps
        .iter()
        .fold((0.0, 0.0, 0.0), |(l, big, c), s| match &s.node {
            Node::Affine(a) if a.conv.is_none() => {
                let mac = (a.o * a.kr * a.positions) as f64;
                if a.o * a.kr > LARGE_WEIGHTS {
                    (l, big + mac, c)
                } else {
                    (l + mac, big, c)
                }
            }
            Node::Affine(a) => (l, big, c + (a.o * a.kr * a.positions) as f64),
            Node::Residual { body, shortcut } => {
                let (bl, bb, bc) = forward_cost(body);
                let (sl, sb, sc) = forward_cost(shortcut);
                (l + bl + sl, big + bb + sb, c + bc + sc)
            }
            _ => (l, big, c),
        })
}

/// The backward recursion's cost for one example: multiply-adds, given `r` columns and
/// whether the diagonal term `c` may be non-zero at the output of `steps`; returns the
/// columns and that flag at their input too (see the module docs: each curved activation's
/// width joins the columns at the next linear map).
pub(super) fn backward_cost(
    steps: &[Step],
    mut r: f64,
    mut curved_c: bool,
    need_in: bool,
) -> (f64, f64, bool) {
    let mut cost = 0.0;
    for (i, s) in steps.iter().enumerate().rev() {
        let need = need_in || steps[..i].iter().any(Step::has_params);
        let (inp, out) = (s.inp as f64, s.out as f64);
        match &s.node {
            Node::Affine(a) => {
                let mac = (a.o * a.kr * a.positions) as f64;
                // Per column: its weight gradient; plus the diagonal term's.
                cost += if a.positions == 1 {
                    r * out + mac
                } else {
                    (r + 1.0) * mac
                };
                if need {
                    // Each column and δ through the transpose; `c`'s columns enter sparse.
                    cost += (r + 1.0) * mac + if curved_c { out * a.kr as f64 } else { 0.0 };
                    if curved_c {
                        r += out;
                    }
                    curved_c = false;
                } else {
                    break;
                }
            }
            Node::Act(act) => {
                cost += (r + 1.0) * out;
                curved_c |= curved(*act);
            }
            Node::Mask(_) | Node::MaxPool { .. } | Node::Same => cost += (r + 1.0) * out,
            Node::AvgPool { .. } | Node::GlobalAvg { .. } => {
                if curved_c {
                    r += out;
                }
                curved_c = false;
                cost += (r + 1.0) * inp;
            }
            Node::Residual { body, shortcut } => {
                if curved_c {
                    r += out;
                }
                let (cb, rb, kb) = backward_cost(body, r, false, need);
                let (cs, rs, ks) = backward_cost(shortcut, r, false, need);
                cost += cb + cs + (rb + rs) * inp;
                r = rb + rs - r;
                curved_c = kb || ks;
            }
        }
    }
    (cost, r, curved_c)
}
