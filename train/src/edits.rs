//! Model edits: whole-model changes written as one `[model]` key instead of by hand, layer by
//! layer. They are what the doctor's remedies apply (`--set model.activation=relu`) and what a
//! study's factors vary (normalisation on/off, activation, dropout, skip connections), so both
//! say the same change the same way.
//!
//! | key | effect |
//! |---|---|
//! | `activation = "relu"` | every activation layer (also inside residual blocks) becomes this one, with its default parameters |
//! | `normalization = "batchnorm"` | a BatchNorm after every hidden linear or convolution (1d after linear and conv1d, 2d after conv2d), before its activation, as Ioffe & Szegedy place it; the output layer gets none |
//! | `normalization = "none"` | every BatchNorm removed |
//! | `dropout = p` | a Dropout(p) after every hidden activation (an existing one takes `p`); `0` removes them |
//! | `residual = true` | every hidden block whose output has its input's size (a linear of equal in and out width, or a conv2d keeping channels and spatial size) with the layers that follow it up to the next linear or conv (normalisation, activation, dropout) becomes a residual block `x + body(x)` |
//! | `width_factor = k` | every hidden linear's `out_features` and convolution's `out_channels` (also inside residual blocks) times `k` (`k > 0`, rounded, at least 1): `4` makes the model wider, `0.5` narrower; the input widths after the model's first linear/conv (`in_features`, `in_channels`, `num_features`) are then inferred from the layer before |
//!
//! "Hidden" is every linear or convolution but the last one (the output layer). Edits apply in
//! the order of the table (activation, normalization, dropout, residual, width_factor), to the layers as
//! written, before the model is read; the saved `config.toml` keeps the keys, so a run is
//! reproduced by its config. A model-wide `weight_init` reaches top-level layers only: layers an
//! edit moves into residual blocks keep PyTorch's initialisation (the `residual` edit refuses a
//! block whose layer has its own `weight_init`, rather than drop it silently).

use nn::catalogue::ACTIVATION_TYPES;
use toml::{Table, Value};

use crate::{Result, TrainError};

/// The edit keys, in the order they apply.
pub const EDIT_KEYS: &[&str] = &[
    "activation",
    "normalization",
    "dropout",
    "residual",
    "width_factor",
];

const NORMALIZATIONS: &[&str] = &["batchnorm", "none"];

/// Applies and removes the edit keys of `[model]` (`ctx` names it in errors), rewriting
/// `layers`. A table without edit keys is left as it is.
pub fn apply(ctx: &str, model: &mut Table) -> Result<()> {
    let edits: Vec<(&str, Value)> = EDIT_KEYS
        .iter()
        .filter_map(|k| model.remove(*k).map(|v| (*k, v)))
        .collect();
    if edits.is_empty() {
        return Ok(());
    }
    let Some(Value::Array(layers)) = model.get_mut("layers") else {
        // The model reader names a missing or malformed list.
        return Ok(());
    };
    for (key, v) in edits {
        match key {
            "activation" => {
                let name = v
                    .as_str()
                    .and_then(|s| present::choices::resolve(s, ACTIVATION_TYPES, &[]))
                    .ok_or_else(|| {
                        let typed = v.as_str().unwrap_or_default();
                        TrainError::config(
                            ctx,
                            "activation",
                            &v,
                            &present::choices::hint(typed, ACTIVATION_TYPES),
                        )
                    })?;
                swap_activations(layers, name);
            }
            "normalization" => {
                let kind = v
                    .as_str()
                    .and_then(|s| present::choices::resolve(s, NORMALIZATIONS, &[]))
                    .ok_or_else(|| {
                        let typed = v.as_str().unwrap_or_default();
                        TrainError::config(
                            ctx,
                            "normalization",
                            &v,
                            &present::choices::hint(typed, NORMALIZATIONS),
                        )
                    })?;
                if kind == "none" {
                    remove_kind(layers, &["batchnorm1d", "batchnorm2d"]);
                } else {
                    insert_batchnorm(layers);
                }
            }
            "dropout" => {
                let p = v
                    .as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .filter(|p| (0.0..1.0).contains(p))
                    .ok_or_else(|| {
                        TrainError::config(ctx, "dropout", &v, "expected a probability in [0, 1)")
                    })?;
                if p == 0.0 {
                    remove_kind(layers, &["dropout"]);
                } else {
                    set_dropout(layers, p);
                }
            }
            "residual" => match v {
                Value::Boolean(true) => wrap_residual(ctx, layers)?,
                Value::Boolean(false) => {}
                v => {
                    return Err(TrainError::config(
                        ctx,
                        "residual",
                        &v,
                        "expected true or false",
                    ))
                }
            },
            "width_factor" => {
                let k = v
                    .as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .filter(|k| k.is_finite() && *k > 0.0)
                    .ok_or_else(|| {
                        TrainError::config(
                            ctx,
                            "width_factor",
                            &v,
                            "expected a number > 0 (2 doubles every hidden width)",
                        )
                    })?;
                let out = output_layer(layers);
                let mut first = true;
                scale_widths(layers, k, out, &mut first);
            }
            _ => unreachable!("EDIT_KEYS"),
        }
    }
    Ok(())
}

/// A layer's type in canonical spelling (`Linear` → `linear`), or "" when it has none.
fn kind(layer: &Value) -> String {
    layer
        .get("type")
        .and_then(Value::as_str)
        .and_then(|t| present::choices::resolve(t, nn::catalogue::LAYER_TYPES, &[]))
        .unwrap_or_default()
        .to_string()
}

fn is_activation(k: &str) -> bool {
    ACTIVATION_TYPES.contains(&k)
}

fn is_weighted(k: &str) -> bool {
    matches!(k, "linear" | "conv1d" | "conv2d")
}

fn layer(ty: &str) -> Value {
    let mut t = Table::new();
    t.insert("type".into(), Value::String(ty.into()));
    Value::Table(t)
}

/// The layer lists inside a residual block (`body`, `shortcut`).
fn nested(layer: &mut Value) -> Vec<&mut Vec<Value>> {
    let Some(t) = layer.as_table_mut() else {
        return Vec::new();
    };
    t.iter_mut()
        .filter(|(k, _)| *k == "body" || *k == "shortcut")
        .filter_map(|(_, v)| v.as_array_mut())
        .collect()
}

fn swap_activations(layers: &mut [Value], name: &str) {
    for l in layers.iter_mut() {
        if is_activation(&kind(l)) {
            *l = layer(name);
        } else {
            for inner in nested(l) {
                swap_activations(inner, name);
            }
        }
    }
}

fn remove_kind(layers: &mut Vec<Value>, kinds: &[&str]) {
    layers.retain(|l| !kinds.contains(&kind(l).as_str()));
    for l in layers.iter_mut() {
        for inner in nested(l) {
            remove_kind(inner, kinds);
        }
    }
}

/// Index of the last linear/conv at the top level (the output layer), if any.
fn output_layer(layers: &[Value]) -> Option<usize> {
    layers.iter().rposition(|l| is_weighted(&kind(l)))
}

fn insert_batchnorm(layers: &mut Vec<Value>) {
    let mut i = 0;
    while i < layers.len() {
        // Recomputed: insertions move the output layer.
        let out = output_layer(layers);
        let k = kind(&layers[i]);
        if k == "residual" {
            for inner in nested(&mut layers[i]) {
                // Every weighted layer of a residual branch is hidden.
                insert_batchnorm_all(inner);
            }
        } else if is_weighted(&k) && Some(i) != out {
            let bn = if k == "conv2d" {
                "batchnorm2d"
            } else {
                "batchnorm1d"
            };
            let next_is_bn = layers
                .get(i + 1)
                .is_some_and(|n| kind(n).starts_with("batchnorm"));
            if !next_is_bn {
                layers.insert(i + 1, layer(bn));
                i += 1;
            }
        }
        i += 1;
    }
}

fn insert_batchnorm_all(layers: &mut Vec<Value>) {
    let mut i = 0;
    while i < layers.len() {
        let k = kind(&layers[i]);
        if is_weighted(&k)
            && !layers
                .get(i + 1)
                .is_some_and(|n| kind(n).starts_with("batchnorm"))
        {
            let bn = if k == "conv2d" {
                "batchnorm2d"
            } else {
                "batchnorm1d"
            };
            layers.insert(i + 1, layer(bn));
            i += 1;
        }
        i += 1;
    }
}

fn set_dropout(layers: &mut Vec<Value>, p: f64) {
    let mut i = 0;
    while i < layers.len() {
        // Recomputed: insertions move the output layer.
        let out = output_layer(layers);
        let k = kind(&layers[i]);
        // An activation before the output layer is a hidden one.
        if is_activation(&k) && out.is_some_and(|o| i < o) {
            match layers.get_mut(i + 1) {
                Some(next) if kind(next) == "dropout" => {
                    if let Some(t) = next.as_table_mut() {
                        t.insert("p".into(), Value::Float(p));
                    }
                }
                _ => {
                    let mut d = layer("dropout");
                    if let Some(t) = d.as_table_mut() {
                        t.insert("p".into(), Value::Float(p));
                    }
                    layers.insert(i + 1, d);
                }
            }
            i += 1;
        }
        i += 1;
    }
}

/// `(width in, width out)` of a weighted layer as far as the config says: the input is the
/// previous weighted layer's output unless `in_features`/`in_channels` is given.
fn widths(l: &Value, prev_out: Option<i64>) -> (Option<i64>, Option<i64>) {
    let get = |k: &str| l.get(k).and_then(Value::as_integer);
    match kind(l).as_str() {
        "linear" => (get("in_features").or(prev_out), get("out_features")),
        "conv1d" | "conv2d" => (get("in_channels").or(prev_out), get("out_channels")),
        _ => (None, None),
    }
}

/// Whether a conv2d keeps the spatial size: stride 1 and `padding = dilation·(k − 1)/2` with an
/// odd kernel, for scalar or `[h, w]` values.
fn keeps_size(l: &Value) -> bool {
    let pair = |k: &str, d: i64| -> Option<[i64; 2]> {
        match l.get(k) {
            None => Some([d, d]),
            Some(Value::Integer(i)) => Some([*i, *i]),
            Some(Value::Array(a)) if a.len() == 2 => Some([a[0].as_integer()?, a[1].as_integer()?]),
            _ => None,
        }
    };
    let (Some(k), Some(s), Some(p), Some(d)) = (
        pair("kernel_size", 1),
        pair("stride", 1),
        pair("padding", 0),
        pair("dilation", 1),
    ) else {
        return false;
    };
    (0..2).all(|j| s[j] == 1 && k[j] % 2 == 1 && p[j] == d[j] * (k[j] - 1) / 2)
}

/// Scales the hidden widths of `layers` by `k` (the layer at index `out` is the output layer,
/// `None` inside residual blocks); `first` is true until the model's first weighted layer is
/// passed, whose input width is the data's.
fn scale_widths(layers: &mut [Value], k: f64, out: Option<usize>, first: &mut bool) {
    for (i, l) in layers.iter_mut().enumerate() {
        let kl = kind(l);
        if kl == "residual" {
            for inner in nested(l) {
                // A branch starts from the block's input: each sees the same `first`.
                let mut f = *first;
                scale_widths(inner, k, None, &mut f);
            }
            *first = false;
            continue;
        }
        let Some(t) = l.as_table_mut() else { continue };
        let weighted = is_weighted(&kl);
        if !*first || !weighted {
            // The layer before changed width: let the engine infer this input.
            for key in ["in_features", "in_channels", "num_features"] {
                t.remove(key);
            }
        }
        if weighted {
            *first = false;
            if Some(i) != out {
                let key = if kl == "linear" {
                    "out_features"
                } else {
                    "out_channels"
                };
                if let Some(w) = t.get(key).and_then(Value::as_integer) {
                    let scaled = ((w as f64) * k).round().max(1.0) as i64;
                    t.insert(key.into(), Value::Integer(scaled));
                }
            }
        }
    }
}

fn wrap_residual(ctx: &str, layers: &mut Vec<Value>) -> Result<()> {
    let out = output_layer(layers);
    // Find every block first, then wrap from the last, so earlier indices stay valid.
    let mut blocks = Vec::new();
    let mut prev_out = None;
    for (i, l) in layers.iter().enumerate() {
        let k = kind(l);
        if !is_weighted(&k) {
            continue;
        }
        let (w_in, w_out) = widths(l, prev_out);
        prev_out = w_out;
        let same = w_in.is_some() && w_in == w_out && (k != "conv2d" || keeps_size(l));
        if Some(i) == out || !same || k == "conv1d" {
            continue;
        }
        // The block: this layer and what follows it up to the next layer that is weighted,
        // already residual, or changes the shape.
        let end = (i + 1..layers.len())
            .find(|&j| {
                let kj = kind(&layers[j]);
                is_weighted(&kj) || kj == "residual" || kj == "flatten" || kj.contains("pool")
            })
            .unwrap_or(layers.len());
        if let Some(j) = (i..end).find(|&j| {
            layers[j]
                .as_table()
                .is_some_and(|t| t.keys().any(|k| k.ends_with("_init")))
        }) {
            return Err(TrainError::Config(format!(
                "{ctx}: `residual` = true would move model.layers[{j}] into a residual block, \
                 whose layers take no weight_init/bias_init of their own; remove it from that \
                 layer (a model-wide weight_init does not reach residual blocks either) or \
                 write the block by hand"
            )));
        }
        blocks.push((i, end));
    }
    for &(i, end) in blocks.iter().rev() {
        let body: Vec<Value> = layers.drain(i..end).collect();
        let mut block = Table::new();
        block.insert("type".into(), Value::String("residual".into()));
        block.insert("body".into(), Value::Array(body));
        layers.insert(i, Value::Table(block));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(src: &str) -> Table {
        src.parse::<Table>().unwrap()["model"]
            .as_table()
            .unwrap()
            .clone()
    }

    fn types(layers: &Value) -> Vec<String> {
        layers
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let k = kind(l);
                if k == "residual" {
                    format!("residual[{}]", types(&l["body"]).join(","))
                } else {
                    k
                }
            })
            .collect()
    }

    const MLP: &str = r#"
[model]
[[model.layers]]
type = "flatten"
[[model.layers]]
type = "linear"
out_features = 32
[[model.layers]]
type = "sigmoid"
[[model.layers]]
type = "linear"
out_features = 32
[[model.layers]]
type = "sigmoid"
[[model.layers]]
type = "linear"
out_features = 32
[[model.layers]]
type = "Sigmoid"
[[model.layers]]
type = "linear"
out_features = 10
"#;

    fn edited(sets: &[(&str, Value)]) -> Vec<String> {
        let mut m = model(MLP);
        for (k, v) in sets {
            m.insert(k.to_string(), v.clone());
        }
        apply("m.toml: [model]", &mut m).unwrap();
        assert!(
            EDIT_KEYS.iter().all(|k| !m.contains_key(*k)),
            "edit keys are consumed"
        );
        types(&m["layers"])
    }

    #[test]
    fn activation_swaps_every_activation() {
        assert_eq!(
            edited(&[("activation", Value::String("ReLU".into()))]),
            ["flatten", "linear", "relu", "linear", "relu", "linear", "relu", "linear"]
        );
    }

    #[test]
    fn batchnorm_after_each_hidden_layer_and_none_removes_it() {
        let with = edited(&[("normalization", Value::String("batchnorm".into()))]);
        assert_eq!(
            with,
            [
                "flatten",
                "linear",
                "batchnorm1d",
                "sigmoid",
                "linear",
                "batchnorm1d",
                "sigmoid",
                "linear",
                "batchnorm1d",
                "sigmoid",
                "linear"
            ]
        );
        // Idempotent, and "none" undoes it.
        let mut m = model(MLP);
        m.insert("normalization".into(), Value::String("batchnorm".into()));
        apply("c", &mut m).unwrap();
        m.insert("normalization".into(), Value::String("batchnorm".into()));
        apply("c", &mut m).unwrap();
        assert_eq!(types(&m["layers"]), with);
        m.insert("normalization".into(), Value::String("none".into()));
        apply("c", &mut m).unwrap();
        assert_eq!(types(&m["layers"]), types(&model(MLP)["layers"]));
    }

    #[test]
    fn dropout_after_hidden_activations() {
        let t = edited(&[("dropout", Value::Float(0.3))]);
        assert_eq!(
            t,
            [
                "flatten", "linear", "sigmoid", "dropout", "linear", "sigmoid", "dropout",
                "linear", "sigmoid", "dropout", "linear"
            ]
        );
        assert_eq!(
            edited(&[("dropout", Value::Integer(0))]),
            types(&model(MLP)["layers"])
        );
    }

    #[test]
    fn residual_wraps_blocks_that_keep_their_width() {
        // The first linear maps the (unknown) input width to 32: not wrapped; the next two keep
        // 32 and become blocks; the output layer stays.
        assert_eq!(
            edited(&[("residual", Value::Boolean(true))]),
            [
                "flatten",
                "linear",
                "sigmoid",
                "residual[linear,sigmoid]",
                "residual[linear,sigmoid]",
                "linear"
            ]
        );
        // With BatchNorm and ReLU first, as the doctor's remedies chain them.
        assert_eq!(
            edited(&[
                ("activation", Value::String("relu".into())),
                ("normalization", Value::String("batchnorm".into())),
                ("residual", Value::Boolean(true)),
            ]),
            [
                "flatten",
                "linear",
                "batchnorm1d",
                "relu",
                "residual[linear,batchnorm1d,relu]",
                "residual[linear,batchnorm1d,relu]",
                "linear"
            ]
        );
    }

    /// `(type, out width)` of the top-level layers, residual bodies flattened in.
    fn widths_of(layers: &Value) -> Vec<(String, Option<i64>)> {
        let mut v = Vec::new();
        for l in layers.as_array().unwrap() {
            if kind(l) == "residual" {
                v.extend(widths_of(&l["body"]));
            } else {
                let w = ["out_features", "out_channels"]
                    .iter()
                    .find_map(|k| l.get(*k).and_then(Value::as_integer));
                v.push((kind(l), w));
            }
        }
        v
    }

    #[test]
    fn width_factor_scales_hidden_widths_and_drops_stale_input_widths() {
        let src = MLP.replacen(
            "type = \"linear\"\nout_features = 32\n",
            "type = \"linear\"\nin_features = 64\nout_features = 32\n",
            1,
        );
        let src = src.replacen(
            "type = \"sigmoid\"\n",
            "type = \"sigmoid\"\n[[model.layers]]\ntype = \"batchnorm1d\"\nnum_features = 32\n",
            1,
        );
        for (k, want) in [
            (Value::Integer(4), 128),
            (Value::Float(0.5), 16),
            (Value::Float(0.001), 1),
        ] {
            let mut m = model(&src);
            m.insert("width_factor".into(), k);
            m.insert("residual".into(), Value::Boolean(true));
            apply("c", &mut m).unwrap();
            let w: Vec<Option<i64>> = widths_of(&m["layers"])
                .into_iter()
                .filter(|(t, _)| t == "linear")
                .map(|x| x.1)
                .collect();
            assert_eq!(w, [Some(want), Some(want), Some(want), Some(10)]);
            let layers = m["layers"].as_array().unwrap();
            // The data's width stays; the batch norm's is inferred again.
            assert_eq!(layers[1]["in_features"].as_integer(), Some(64));
            assert!(layers[3].get("num_features").is_none(), "{:?}", layers[3]);
        }
        // The edited model builds and runs: widths agree layer to layer.
        let mut m = model(&src);
        m.insert("width_factor".into(), Value::Float(1.5));
        m.insert("residual".into(), Value::Boolean(true));
        let cfg =
            crate::model::ModelConfig::from_table("c", &m, std::path::Path::new(".")).unwrap();
        let mut net = cfg.build(&[64], 0).unwrap();
        let x = nn::Tensor::zeros(&[2, 64]);
        assert_eq!(net.forward(&x, false).shape, [2, 10]);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (k, v, want) in [
            (
                "activation",
                Value::String("relu6".into()),
                "did you mean `relu`?",
            ),
            (
                "normalization",
                Value::String("layernorm".into()),
                "valid: batchnorm, none",
            ),
            ("dropout", Value::Float(1.0), "probability"),
            ("residual", Value::String("yes".into()), "true or false"),
            ("width_factor", Value::Float(0.0), "> 0"),
        ] {
            let mut m = model(MLP);
            m.insert(k.into(), v);
            let e = apply("m.toml: [model]", &mut m).unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(want), "{e}");
        }
        let mut m = model(&MLP.replacen(
            "out_features = 32\n",
            "out_features = 32\nweight_init = \"kaiming_normal\"\n",
            2,
        ));
        m.insert("residual".into(), Value::Boolean(true));
        let e = apply("m.toml: [model]", &mut m).unwrap_err().to_string();
        assert!(
            e.contains("model.layers[3]") && e.contains("weight_init"),
            "{e}"
        );
    }
}
