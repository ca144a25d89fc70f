//! Sizes in a run config, checked before anything is allocated: a config whose data, model or
//! batch would not fit in the machine's memory, or whose sizes overflow 64 bits, is an error
//! naming the field and value with the estimate — not an abort, a panic or the OOM killer half
//! way through. `threads` is bounded too ([`crate::config::max_threads`]).
//!
//! The estimates are deliberately rough upper bounds, computed from the config alone with
//! checked arithmetic:
//! - a synthetic dataset: its `n + n_test` examples (features and targets, f32) about three
//!   times over (generated, then cut into train and test, then split and standardised), plus a
//!   teacher network's or the blob centres' f64 weights;
//! - the model: every parameter's value, gradient and optimizer state (two slots, as Adam), an
//!   EMA copy, the early-stopping copy and the gradient accumulator when configured, and the
//!   serialised copies a checkpoint makes; buffers (BatchNorm statistics) twice;
//! - a batch: each layer's input and output per example (a convolution's unfolded input too),
//!   with their gradients for a training batch, times the batch size (each clamped to the set
//!   it reads): the larger of a training and an evaluation batch.

use nn::{Conv2dConfig, LayerConfig};

use crate::config::RunConfig;
use crate::data::Source;
use crate::{Result, TrainError};

/// Checks a synthetic dataset's size (before it is generated).
pub(crate) fn check_data(cfg: &RunConfig) -> Result<()> {
    let Source::Synthetic(name, s) = &cfg.data.source else {
        // Files and bundled sets are sized by their loaders against what the file holds.
        return Ok(());
    };
    let ctx = format!("{}: [data]", cfg.source);
    let too_large = |field: &str, value: usize| {
        TrainError::config(
            &ctx,
            field,
            value,
            "too large: the dataset's size overflows 64 bits",
        )
    };
    let examples =
        s.n.checked_add(s.n_test)
            .ok_or_else(|| too_large("n", s.n))?;
    let (features, targets, extra) = match name.as_str() {
        "blobs" => (
            s.dim,
            1,
            mul(s.centers, s.dim).ok_or_else(|| too_large("dim", s.dim))?,
        ),
        "teacher_student" => {
            let w = mul(s.hidden, s.dim)
                .and_then(|a| a.checked_add(mul(s.hidden, s.dim_out)?))
                .ok_or_else(|| too_large("hidden", s.hidden))?;
            (s.dim, s.dim_out, w)
        }
        _ => (2, 1, 0),
    };
    let per_example = features
        .checked_add(targets)
        .ok_or_else(|| too_large("dim", s.dim))?;
    let bytes = mul(examples, per_example)
        .and_then(|v| v.checked_mul(3 * 4))
        .and_then(|v| v.checked_add(extra.checked_mul(8)?))
        .ok_or_else(|| too_large("n", s.n))? as u64;
    let field = if s.n >= s.n_test { "n" } else { "n_test" };
    let value = s.n.max(s.n_test);
    fits(bytes, available_bytes(), || {
        format!(
            "{ctx}: `{field}` = {value}: generating {examples} examples of `{name}` ({features} features each) would need about {}",
            fmt_bytes(bytes)
        )
    })
}

/// A layer named for messages: its path, the field that sizes it, that field's value, and the
/// measure it was picked by (parameters, or output values per example).
type Named = (String, &'static str, usize, u64);

/// What the run's model, optimizer and batches will hold, from the config alone.
#[derive(Debug)]
pub(crate) struct Plan {
    params: u64,
    buffers: u64,
    /// Activation values per example in training (inputs, outputs and their gradients of every
    /// layer, scratch buffers).
    activations: u64,
    /// Activation values per example in evaluation (no gradients).
    forward: u64,
    /// The layer with the most parameters.
    largest: Option<Named>,
    /// The layer with the most output values per example.
    widest: Option<Named>,
    /// The output shape, `None` when a layer does not fit its input.
    out: Option<Vec<usize>>,
}

/// An overflowing size: the layer, its field and value.
struct Overflow(String, &'static str, usize);

impl From<&Named> for Overflow {
    fn from(n: &Named) -> Self {
        Overflow(n.0.clone(), n.1, n.2)
    }
}

/// Checks that the model and a batch fit in memory (before the model is built): `in_shape` is
/// the training examples' shape, `sets` the numbers of training examples and of examples in
/// the largest evaluation set (validation or test).
pub(crate) fn check_model(cfg: &RunConfig, in_shape: &[usize], sets: (usize, usize)) -> Result<()> {
    check_model_against(cfg, in_shape, sets, available_bytes())
}

fn check_model_against(
    cfg: &RunConfig,
    in_shape: &[usize],
    (train, evaluated): (usize, usize),
    available: Option<u64>,
) -> Result<()> {
    let too_large = |Overflow(at, field, v): Overflow| {
        TrainError::Config(format!(
            "{}: {at} `{field}` = {v}: too large: the model's size overflows 64 bits",
            cfg.source
        ))
    };
    let plan = plan(&cfg.model.layers, in_shape, "model.layers").map_err(too_large)?;
    let blame = |n: &Option<Named>| {
        too_large(n.as_ref().map(Overflow::from).unwrap_or(Overflow(
            "[model]".into(),
            "layers",
            cfg.model.layers.len(),
        )))
    };
    let t = &cfg.train;
    let copies = 4
        + u64::from(t.ema_decay.is_some())
        + u64::from(t.early_stopping.as_ref().is_some_and(|e| e.restore_best))
        + u64::from(t.accumulate > 1)
        + 2;
    let model_bytes = plan
        .params
        .checked_mul(copies)
        .and_then(|p| p.checked_add(plan.buffers.checked_mul(2)?))
        .and_then(|v| v.checked_mul(4))
        .ok_or_else(|| blame(&plan.largest))?;
    // The input is loaded data: its size fits in memory already.
    let input = numel(in_shape).unwrap_or(u64::MAX);
    let bytes = |rows: usize, per_example: u64| {
        input
            .checked_mul(2)
            .and_then(|i| i.checked_add(per_example))
            .and_then(|a| a.checked_mul(rows as u64))
            .and_then(|a| a.checked_mul(4))
            .ok_or_else(|| blame(&plan.widest))
    };
    let batch = cfg.data.batch_size.min(train.max(1));
    let eval = cfg.data.eval_batch_size.min(evaluated);
    let (train_bytes, eval_bytes) = (bytes(batch, plan.activations)?, bytes(eval, plan.forward)?);
    let (bfield, bvalue, rows, act_bytes) = if eval_bytes > train_bytes {
        (
            "eval_batch_size",
            cfg.data.eval_batch_size,
            eval,
            eval_bytes,
        )
    } else {
        ("batch_size", cfg.data.batch_size, batch, train_bytes)
    };
    let total = model_bytes.saturating_add(act_bytes);
    fits(total, available, || {
        let model = format!(
            "the model's {} parameters with their gradients and optimizer state need about {}",
            plan.params,
            fmt_bytes(model_bytes)
        );
        let acts = format!(
            "a batch of {rows} needs about {} of activations",
            fmt_bytes(act_bytes)
        );
        let culprit = if model_bytes >= act_bytes {
            &plan.largest
        } else {
            &plan.widest
        };
        match culprit {
            Some((at, field, v, _)) => format!(
                "{}: {at} `{field}` = {v}: {model}; {acts} ([data] `{bfield}` = {bvalue})",
                cfg.source
            ),
            None => format!(
                "{}: [data] `{bfield}` = {bvalue}: {acts}; {model}",
                cfg.source
            ),
        }
    })
}

/// An error when `needed` bytes exceed `available`; `what` says what needs them and how.
fn fits(needed: u64, available: Option<u64>, what: impl FnOnce() -> String) -> Result<()> {
    match available {
        Some(a) if needed > a => Err(TrainError::Config(format!(
            "{}, more than the {} this machine has available",
            what(),
            fmt_bytes(a)
        ))),
        _ => Ok(()),
    }
}

fn mul(a: usize, b: usize) -> Option<usize> {
    a.checked_mul(b)
}

fn numel(shape: &[usize]) -> Option<u64> {
    shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64))
}

/// Keeps in `best` whichever of it and `n` measures more.
fn keep_max(best: &mut Option<Named>, n: Option<Named>) {
    if let Some(n) = n.filter(|n| n.3 > 0) {
        if best.as_ref().is_none_or(|b| n.3 > b.3) {
            *best = Some(n);
        }
    }
}

/// Walks `layers` for per-example inputs of `in_shape` as the model will be built, summing
/// parameters, buffers and activations. A layer whose shape does not fit ends the walk: the
/// model's builder refuses it, with its own message, before building anything after it. An
/// overflow names the layer that made the size: the one with the most parameters, or the
/// widest output.
fn plan(
    layers: &[LayerConfig],
    in_shape: &[usize],
    path: &str,
) -> std::result::Result<Plan, Overflow> {
    let mut p = Plan {
        params: 0,
        buffers: 0,
        activations: 0,
        forward: 0,
        largest: None,
        widest: None,
        out: None,
    };
    let mut shape = in_shape.to_vec();
    for (i, layer) in layers.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Some(step) = layer_plan(layer, &shape, &at)? else {
            return Ok(p);
        };
        let (field, value) = step.field;
        let own = |measure| Some((at.clone(), field, value, measure));
        keep_max(&mut p.largest, step.largest.or_else(|| own(step.params)));
        let out = numel(&step.out).ok_or_else(|| Overflow(at.clone(), field, value))?;
        let input = numel(&shape).unwrap_or(u64::MAX);
        // Only a layer that grows its input is to blame for a wide output.
        keep_max(
            &mut p.widest,
            step.widest
                .or_else(|| own(if out > input { out } else { 0 })),
        );
        let over = |n: &Option<Named>| {
            n.as_ref()
                .map(Overflow::from)
                .unwrap_or(Overflow(at.clone(), field, value))
        };
        p.params = p
            .params
            .checked_add(step.params)
            .ok_or_else(|| over(&p.largest))?;
        p.buffers = p
            .buffers
            .checked_add(step.buffers)
            .ok_or_else(|| over(&p.largest))?;
        let forward = input
            .checked_add(out)
            .and_then(|io| io.checked_add(step.scratch))
            .and_then(|f| p.forward.checked_add(f))
            .ok_or_else(|| over(&p.widest))?;
        let training = input
            .checked_add(out)
            .and_then(|io| io.checked_mul(2)?.checked_add(step.scratch))
            .and_then(|t| p.activations.checked_add(t))
            .ok_or_else(|| over(&p.widest))?;
        (p.forward, p.activations) = (forward, training);
        shape = step.out;
    }
    p.out = Some(shape);
    Ok(p)
}

/// One layer's share of a [`Plan`].
struct Step {
    out: Vec<usize>,
    params: u64,
    buffers: u64,
    /// Extra activation values per example (a convolution's unfolded input).
    scratch: u64,
    /// The field that sizes the layer, for messages.
    field: (&'static str, usize),
    /// For a residual block: its inner layers with the most parameters and the widest output.
    largest: Option<Named>,
    widest: Option<Named>,
}

fn layer_plan(
    layer: &LayerConfig,
    shape: &[usize],
    at: &str,
) -> std::result::Result<Option<Step>, Overflow> {
    let over = |f: &'static str, v: usize| Overflow(at.to_string(), f, v);
    let same = |field| Step {
        out: shape.to_vec(),
        params: 0,
        buffers: 0,
        scratch: 0,
        field,
        largest: None,
        widest: None,
    };
    Ok(Some(match layer {
        LayerConfig::Linear(c) => {
            let Some(&i) = shape.last() else {
                return Ok(None);
            };
            let o = c.out_features;
            let f = ("out_features", o);
            let params = (i as u64)
                .checked_mul(o as u64)
                .and_then(|w| w.checked_add(if c.bias { o as u64 } else { 0 }))
                .ok_or_else(|| over(f.0, f.1))?;
            let mut out = shape.to_vec();
            *out.last_mut().unwrap() = o;
            Step {
                out,
                params,
                buffers: 0,
                scratch: 0,
                field: f,
                largest: None,
                widest: None,
            }
        }
        LayerConfig::Conv2d(c) => match conv(c, shape, false, at)? {
            Some(s) => s,
            None => return Ok(None),
        },
        LayerConfig::Conv1d(c) => {
            let c2 = Conv2dConfig {
                in_channels: c.in_channels,
                out_channels: c.out_channels,
                kernel_size: [1, c.kernel_size],
                stride: [1, c.stride],
                padding: [0, c.padding],
                dilation: [1, c.dilation],
                bias: c.bias,
            };
            match conv(&c2, shape, true, at)? {
                Some(s) => s,
                None => return Ok(None),
            }
        }
        LayerConfig::MaxPool2d(c) | LayerConfig::AvgPool2d(c) => {
            let &[ch, h, w] = shape else {
                return Ok(None);
            };
            let s = c.stride.unwrap_or(c.kernel_size);
            let f = ("kernel_size", c.kernel_size[0].max(c.kernel_size[1]));
            let ho = out_len(h, c.kernel_size[0], s[0], c.padding[0], 1)
                .map_err(|field| over(field, f.1))?;
            let wo = out_len(w, c.kernel_size[1], s[1], c.padding[1], 1)
                .map_err(|field| over(field, f.1))?;
            let (Some(ho), Some(wo)) = (ho, wo) else {
                return Ok(None);
            };
            Step {
                out: vec![ch, ho, wo],
                ..same(f)
            }
        }
        LayerConfig::MaxPool1d(c) | LayerConfig::AvgPool1d(c) => {
            let &[ch, l] = shape else {
                return Ok(None);
            };
            let f = ("kernel_size", c.kernel_size);
            let s = c.stride.unwrap_or(c.kernel_size);
            let Some(lo) =
                out_len(l, c.kernel_size, s, c.padding, 1).map_err(|field| over(field, f.1))?
            else {
                return Ok(None);
            };
            Step {
                out: vec![ch, lo],
                ..same(f)
            }
        }
        LayerConfig::GlobalAvgPool => match shape.first() {
            Some(&c) if shape.len() >= 2 => Step {
                out: vec![c],
                ..same(("type", 0))
            },
            _ => return Ok(None),
        },
        LayerConfig::Flatten(c) => {
            // Dimensions count the batch as 0.
            let ndim = shape.len() as isize + 1;
            let end = if c.end_dim < 0 {
                ndim + c.end_dim
            } else {
                c.end_dim
            };
            if c.start_dim == 0 || end < c.start_dim as isize || end >= ndim {
                return Ok(None);
            }
            let (s, e) = (c.start_dim - 1, end as usize - 1);
            let merged = numel(&shape[s..=e]).ok_or_else(|| over("start_dim", c.start_dim))?;
            let mut out = shape[..s].to_vec();
            out.push(usize::try_from(merged).map_err(|_| over("start_dim", c.start_dim))?);
            out.extend_from_slice(&shape[e + 1..]);
            Step {
                out,
                ..same(("start_dim", c.start_dim))
            }
        }
        LayerConfig::BatchNorm1d(c) | LayerConfig::BatchNorm2d(c) => {
            let Some(&ch) = shape.first() else {
                return Ok(None);
            };
            let f = ("num_features", ch);
            Step {
                params: if c.affine { 2 * ch as u64 } else { 0 },
                buffers: if c.track_running_stats {
                    2 * ch as u64
                } else {
                    0
                },
                ..same(f)
            }
        }
        LayerConfig::Residual(r) => {
            let body = plan(&r.body, shape, &format!("{at}.body"))?;
            let short = match &r.shortcut {
                Some(s) => plan(s, shape, &format!("{at}.shortcut"))?,
                None => plan(&[], shape, "")?,
            };
            let (Some(out), Some(_)) = (body.out, short.out) else {
                return Ok(None);
            };
            let f = ("body", r.body.len());
            let sum = |a: u64, b: u64| a.checked_add(b).ok_or_else(|| over(f.0, f.1));
            let (mut largest, mut widest) = (body.largest, body.widest);
            keep_max(&mut largest, short.largest);
            keep_max(&mut widest, short.widest);
            Step {
                out,
                params: sum(body.params, short.params)?,
                buffers: sum(body.buffers, short.buffers)?,
                scratch: sum(body.activations, short.activations)?,
                field: f,
                largest,
                widest,
            }
        }
        LayerConfig::Activation(_) => same(("type", 0)),
        LayerConfig::Dropout(_) => Step {
            // The mask.
            scratch: numel(shape).unwrap_or(0),
            ..same(("p", 0))
        },
    }))
}

/// A convolution's step; `one_d` inputs are `[C, L]`.
fn conv(
    c: &Conv2dConfig,
    shape: &[usize],
    one_d: bool,
    at: &str,
) -> std::result::Result<Option<Step>, Overflow> {
    let over = |f: &'static str, v: usize| Overflow(at.to_string(), f, v);
    let (ch, h, w) = match (one_d, shape) {
        (true, &[c, l]) => (c, 1, l),
        (false, &[c, h, w]) => (c, h, w),
        _ => return Ok(None),
    };
    let o = c.out_channels;
    let k = c.kernel_size[0].max(c.kernel_size[1]);
    let f = ("out_channels", o);
    let taps = mul(c.kernel_size[0], c.kernel_size[1]).ok_or_else(|| over("kernel_size", k))?;
    let rows = mul(ch, taps).ok_or_else(|| over("kernel_size", k))? as u64;
    let params = rows
        .checked_mul(o as u64)
        .and_then(|p| p.checked_add(if c.bias { o as u64 } else { 0 }))
        .ok_or_else(|| over(f.0, f.1))?;
    let field_value = |field: &'static str| match field {
        "padding" => c.padding[0].max(c.padding[1]),
        "dilation" => c.dilation[0].max(c.dilation[1]),
        _ => k,
    };
    let ho = out_len(
        h,
        c.kernel_size[0],
        c.stride[0],
        c.padding[0],
        c.dilation[0],
    )
    .map_err(|field| over(field, field_value(field)))?;
    let wo = out_len(
        w,
        c.kernel_size[1],
        c.stride[1],
        c.padding[1],
        c.dilation[1],
    )
    .map_err(|field| over(field, field_value(field)))?;
    let (Some(ho), Some(wo)) = (ho, wo) else {
        return Ok(None);
    };
    let plane = mul(ho, wo).ok_or_else(|| over("kernel_size", k))? as u64;
    let scratch = rows
        .checked_mul(plane)
        .ok_or_else(|| over("kernel_size", k))?;
    let out = if one_d { vec![o, wo] } else { vec![o, ho, wo] };
    Ok(Some(Step {
        out,
        params,
        buffers: 0,
        scratch,
        field: f,
        largest: None,
        widest: None,
    }))
}

/// A convolution's or pool's output length (nn's rule, with checked arithmetic): `Ok(None)` when
/// the window does not fit (the builder refuses it), `Err(field)` when the sizes overflow.
fn out_len(
    len: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
) -> std::result::Result<Option<usize>, &'static str> {
    if k == 0 || s == 0 || d == 0 {
        return Ok(None);
    }
    let span = d
        .checked_mul(k - 1)
        .and_then(|x| x.checked_add(1))
        .ok_or("dilation")?;
    let padded = p
        .checked_mul(2)
        .and_then(|x| x.checked_add(len))
        .ok_or("padding")?;
    Ok((padded >= span).then(|| (padded - span) / s + 1))
}

/// Bytes of memory this process can still allocate (Linux: `MemAvailable`); `None` where it
/// cannot be read, and then only the overflow checks apply.
fn available_bytes() -> Option<u64> {
    data::memory::available_bytes()
}

pub(crate) use present::fmt_bytes;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(sets: &[&str]) -> Result<RunConfig> {
        let mut t: toml::Table = r#"
            [data]
            dataset = "moons"
            batch_size = 32
            [[model.layers]]
            type = "linear"
            out_features = 64
            [[model.layers]]
            type = "relu"
            [[model.layers]]
            type = "linear"
            out_features = 2
            [optimizer]
            name = "sgd"
            lr = 0.1
            [train]
            epochs = 1
        "#
        .parse()
        .unwrap();
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        crate::apply_overrides(&mut t, &sets)?;
        RunConfig::from_table("run.toml", t, Path::new("."), "run")
    }

    #[test]
    fn plan_counts_parameters_and_names_the_largest_layer() {
        let c = cfg(&[]).unwrap();
        let p = plan(&c.model.layers, &[2], "model.layers").ok().unwrap();
        assert_eq!(p.params, 2 * 64 + 64 + 64 * 2 + 2);
        let (at, field, v, n) = p.largest.unwrap();
        assert_eq!(
            (at.as_str(), field, v, n),
            ("model.layers[0]", "out_features", 64, 192)
        );
        // A small model and batches of 1000 fit in 16 MiB; a 1 KiB machine refuses them.
        check_model_against(&c, &[2], (1000, 1000), Some(16 << 20)).unwrap();
        let e = check_model_against(&c, &[2], (1000, 1000), Some(1024))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("more than the 1.0 KiB this machine has available"),
            "{e}"
        );
    }

    #[test]
    fn a_conv_net_plans_like_the_built_model() {
        let c = cfg(&[
            "model.layers=[{type=\"conv2d\", out_channels=8, kernel_size=3, padding=1}, {type=\"maxpool2d\", kernel_size=2}, {type=\"residual\", body=[{type=\"conv2d\", out_channels=8, kernel_size=3, padding=1}]}, {type=\"batchnorm2d\"}, {type=\"flatten\"}, {type=\"linear\", out_features=10}]",
        ])
        .unwrap();
        let p = plan(&c.model.layers, &[1, 28, 28], "model.layers")
            .ok()
            .unwrap();
        let built = c.model.build(&[1, 28, 28], 0).unwrap();
        assert_eq!(p.params, built.num_parameters() as u64);
        assert_eq!(p.buffers, 16);
    }

    #[test]
    fn overflowing_layer_sizes_name_the_field() {
        for (set, want) in [
            (
                "model.layers.0.out_features=4611686018427387904",
                "model.layers[0] `out_features` = 4611686018427387904: too large",
            ),
            (
                "model.layers=[{type=\"conv1d\", out_channels=2, kernel_size=3, padding=9223372036854775807}]",
                "model.layers[0] `padding` = 9223372036854775807: too large",
            ),
        ] {
            let c = cfg(&[set]).unwrap();
            let e = check_model_against(&c, &[2, 5], (10, 10), None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{set}: {e}");
        }
    }
}
