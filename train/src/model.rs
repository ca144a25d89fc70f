//! `[model]`: the layer list of a run config, read into `nn` layer configs with PyTorch's
//! constructor argument names, and the initialisation overrides applied after the model is built.
//!
//! ```toml
//! [model]
//! init = "weights.safetensors"   # optional: every weight from a file (PyTorch names/layouts)
//! weight_init = "kaiming_normal" # optional: override PyTorch's default for every linear/conv
//! [[model.layers]]
//! type = "conv2d"
//! out_channels = 32
//! kernel_size = 3
//! padding = 1
//! [[model.layers]]
//! type = "relu"
//! [[model.layers]]
//! type = "residual"
//! body = [{ type = "linear", out_features = 64 }, { type = "relu" }]
//! ```
//!
//! Initialisation keys (per layer, or on `[model]` for every linear/conv layer): `weight_init`
//! (`default`, `zeros`, `constant`, `uniform`, `normal`, `xavier_uniform`, `xavier_normal`,
//! `kaiming_uniform`, `kaiming_normal`, `lecun_normal`, `orthogonal`), `init_std`, `init_mean`,
//! `init_a`, `init_b`, `init_value`, `init_gain`, `init_mode` (`fan_in`/`fan_out`),
//! `init_nonlinearity`, and `bias_init` (`default`, `zeros`, `constant`) with `bias_value`.

use nn::{
    Activation, BatchNormConfig, Conv1dConfig, Conv2dConfig, DropoutConfig, FanMode, FlattenConfig,
    LayerConfig, LinearConfig, Nonlinearity, Pool1dConfig, Pool2dConfig, ResidualConfig, Rng,
    Sequential,
};
use optim::{Check, Hyper};

use crate::{Result, TrainError};

/// Every layer `type` a config may name (the engine's catalogue).
pub use nn::catalogue::LAYER_TYPES;

const INIT_KEYS: &[&str] = &[
    "weight_init",
    "init_std",
    "init_mean",
    "init_a",
    "init_b",
    "init_value",
    "init_gain",
    "init_mode",
    "init_nonlinearity",
    "bias_init",
    "bias_value",
];

/// How to initialise a layer's weight (and bias) instead of PyTorch's default.
#[derive(Clone, Debug, PartialEq)]
pub struct InitSpec {
    pub weight: String,
    pub std: f64,
    pub mean: f64,
    pub a: f64,
    pub b: f64,
    pub value: f64,
    pub gain: Option<f64>,
    pub mode: FanMode,
    pub nonlinearity: Nonlinearity,
    pub bias: String,
    pub bias_value: f64,
}

impl InitSpec {
    fn is_default(&self) -> bool {
        self.weight == "default" && self.bias == "default"
    }
}

/// The `[model]` section.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub layers: Vec<LayerConfig>,
    /// Per top-level layer: an initialisation override (`None` = PyTorch's default).
    pub inits: Vec<Option<InitSpec>>,
    /// Initial weights to load (safetensors with PyTorch names).
    pub init_file: Option<std::path::PathBuf>,
}

impl ModelConfig {
    /// Reads `[model]` from `table`; `context` (the file name) prefixes errors. Relative `init`
    /// paths are resolved against `base_dir`.
    pub fn from_table(
        context: &str,
        table: &toml::Table,
        base_dir: &std::path::Path,
    ) -> Result<ModelConfig> {
        let ctx = format!("{context}: [model]");
        let mut edited = table.clone();
        crate::edits::apply(&ctx, &mut edited)?;
        let table = &edited;
        for key in table.keys() {
            if !["layers", "init"].contains(&key.as_str()) && !INIT_KEYS.contains(&key.as_str()) {
                let mut valid = vec!["layers", "init"];
                valid.extend_from_slice(INIT_KEYS);
                valid.extend_from_slice(crate::edits::EDIT_KEYS);
                return Err(TrainError::Config(format!(
                    "{ctx}: unknown key `{key}` ({})",
                    present::choices::hint(key, &valid)
                )));
            }
        }
        let model_init = {
            let mut h = Hyper::new(&ctx, table).ignoring(&["layers", "init"]);
            let spec = read_init(&mut h)?;
            h.finish()?;
            spec
        };
        let init_file = match table.get("init") {
            None => None,
            Some(toml::Value::String(s)) => Some(base_dir.join(s)),
            Some(v) => return Err(TrainError::config(&ctx, "init", v, "expected a file path")),
        };
        let list = match table.get("layers") {
            Some(toml::Value::Array(a)) if !a.is_empty() => a,
            Some(v) => {
                return Err(TrainError::config(
                    &ctx,
                    "layers",
                    v,
                    "expected a non-empty list of [[model.layers]] tables",
                ))
            }
            None => {
                return Err(TrainError::Config(format!(
                    "{ctx}: missing `layers` (add [[model.layers]] tables with a `type`)"
                )))
            }
        };
        let mut layers = Vec::new();
        let mut inits = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let lctx = format!("{context}: model.layers[{i}]");
            let (layer, init) = read_layer(&lctx, v)?;
            let parametrised = matches!(
                layer,
                LayerConfig::Linear(_) | LayerConfig::Conv1d(_) | LayerConfig::Conv2d(_)
            );
            let init = init.or_else(|| parametrised.then(|| model_init.clone()).flatten());
            layers.push(layer);
            inits.push(init);
        }
        Ok(ModelConfig {
            layers,
            inits,
            init_file,
        })
    }

    /// Builds the model for per-example inputs of `in_shape`, initialised from `seed` (then
    /// the overrides, then the `init` file).
    pub fn build(&self, in_shape: &[usize], seed: u64) -> Result<Sequential> {
        let mut model = Sequential::new(in_shape, &self.layers, seed)?;
        // A generator apart from the layers' own, so that adding an override to one layer does
        // not change the others' default draws.
        let mut rng = Rng::new(seed ^ 0x1A17_5EED);
        for (i, spec) in self.inits.iter().enumerate() {
            let Some(spec) = spec else { continue };
            let layer = &mut model.layers_mut()[i];
            for p in layer.parameters_mut() {
                // The model has qualified the names with the layer's position (`3.weight`).
                let local = p.name.rsplit('.').next().unwrap_or_default();
                if local == "weight" {
                    apply_weight_init(spec, &mut p.value, &p.shape, &mut rng)
                        .map_err(|e| TrainError::Config(format!("model.layers[{i}]: {e}")))?;
                } else if local == "bias" {
                    match spec.bias.as_str() {
                        "zeros" => nn::init::zeros(&mut p.value),
                        "constant" => nn::init::constant(&mut p.value, spec.bias_value as f32),
                        _ => {}
                    }
                }
            }
        }
        if let Some(path) = &self.init_file {
            model.load(path)?;
        }
        Ok(model)
    }
}

fn apply_weight_init(
    s: &InitSpec,
    w: &mut [f32],
    shape: &[usize],
    rng: &mut Rng,
) -> nn::Result<()> {
    use nn::init;
    let gain = |default: f64| s.gain.unwrap_or(default);
    let nl = match s.nonlinearity {
        Nonlinearity::LeakyRelu(_) => Nonlinearity::LeakyRelu(s.a),
        other => other,
    };
    match s.weight.as_str() {
        "default" => {}
        "zeros" => init::zeros(w),
        "constant" => init::constant(w, s.value as f32),
        "uniform" => init::uniform(w, s.a, s.b, rng),
        "normal" => init::normal(w, s.mean, s.std, rng),
        "xavier_uniform" => init::xavier_uniform(w, shape, gain(1.0), rng)?,
        "xavier_normal" => init::xavier_normal(w, shape, gain(1.0), rng)?,
        "kaiming_uniform" => init::kaiming_uniform(w, shape, s.a, s.mode, nl, rng)?,
        "kaiming_normal" => init::kaiming_normal(w, shape, s.a, s.mode, nl, rng)?,
        "lecun_normal" => init::lecun_normal(w, shape, rng)?,
        "orthogonal" => init::orthogonal(w, shape, gain(1.0), rng)?,
        other => unreachable!("validated init `{other}`"),
    }
    Ok(())
}

const WEIGHT_INITS: &[&str] = &[
    "default",
    "zeros",
    "constant",
    "uniform",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "lecun_normal",
    "orthogonal",
];

/// Reads the initialisation keys; `None` when none is given.
fn read_init(h: &mut Hyper<'_>) -> Result<Option<InitSpec>> {
    let weight = h.choice("weight_init", "default", WEIGHT_INITS)?;
    let spec = InitSpec {
        std: h.f64("init_std", 1.0, Check::NonNeg)?,
        mean: h.f64("init_mean", 0.0, Check::Any)?,
        a: h.f64("init_a", 0.0, Check::Any)?,
        b: h.f64("init_b", 1.0, Check::Any)?,
        value: h.f64("init_value", 0.0, Check::Any)?,
        gain: h.opt_f64("init_gain", Check::Positive)?,
        mode: match h
            .choice("init_mode", "fan_in", &["fan_in", "fan_out"])?
            .as_str()
        {
            "fan_out" => FanMode::FanOut,
            _ => FanMode::FanIn,
        },
        nonlinearity: {
            let s = h.choice(
                "init_nonlinearity",
                "leaky_relu",
                &["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"],
            )?;
            nonlinearity(&s)
        },
        bias: h.choice("bias_init", "default", &["default", "zeros", "constant"])?,
        bias_value: h.f64("bias_value", 0.0, Check::Any)?,
        weight,
    };
    Ok((!spec.is_default()).then_some(spec))
}

fn nonlinearity(s: &str) -> Nonlinearity {
    match s {
        "linear" => Nonlinearity::Linear,
        "sigmoid" => Nonlinearity::Sigmoid,
        "tanh" => Nonlinearity::Tanh,
        "relu" => Nonlinearity::Relu,
        "selu" => Nonlinearity::Selu,
        // The slope is `init_a`, filled in when the spec is applied.
        _ => Nonlinearity::LeakyRelu(0.0),
    }
}

/// One `[[model.layers]]` entry.
fn read_layer(ctx: &str, v: &toml::Value) -> Result<(LayerConfig, Option<InitSpec>)> {
    let t = v
        .as_table()
        .ok_or_else(|| TrainError::config(ctx, "layer", v, "expected a table with a `type`"))?;
    let ty = match t.get("type") {
        Some(toml::Value::String(s)) => {
            present::choices::resolve(s, LAYER_TYPES, &[]).ok_or_else(|| {
                TrainError::Config(format!(
                    "{ctx}: unknown layer type `{s}` ({})",
                    present::choices::hint(s, LAYER_TYPES)
                ))
            })?
        }
        Some(v) => return Err(TrainError::config(ctx, "type", v, "expected a string")),
        None => {
            return Err(TrainError::Config(format!(
                "{ctx}: missing `type` (one of {})",
                LAYER_TYPES.join(", ")
            )))
        }
    };
    let lctx = format!("{ctx} ({ty})");
    let mut h = Hyper::new(lctx.clone(), t).ignoring(&["type"]);
    let mut init = None;
    let layer = match ty {
        "linear" => {
            let c = LinearConfig {
                in_features: opt_usize(&mut h, "in_features")?,
                out_features: h.required_usize("out_features")?,
                bias: h.bool("bias", true)?,
            };
            init = read_init(&mut h)?;
            LayerConfig::Linear(c)
        }
        "conv2d" => {
            let mut c = Conv2dConfig {
                in_channels: opt_usize(&mut h, "in_channels")?,
                out_channels: h.required_usize("out_channels")?,
                kernel_size: pair(&mut h, &lctx, "kernel_size", None)?,
                stride: pair(&mut h, &lctx, "stride", Some(1))?,
                padding: pair(&mut h, &lctx, "padding", Some(0))?,
                dilation: pair(&mut h, &lctx, "dilation", Some(1))?,
                bias: true,
            };
            c.bias = h.bool("bias", true)?;
            init = read_init(&mut h)?;
            LayerConfig::Conv2d(c)
        }
        "conv1d" => {
            let c = Conv1dConfig {
                in_channels: opt_usize(&mut h, "in_channels")?,
                out_channels: h.required_usize("out_channels")?,
                kernel_size: h.required_usize("kernel_size")?,
                stride: h.usize("stride", 1)?,
                padding: h.usize("padding", 0)?,
                dilation: h.usize("dilation", 1)?,
                bias: h.bool("bias", true)?,
            };
            init = read_init(&mut h)?;
            LayerConfig::Conv1d(c)
        }
        "maxpool2d" | "avgpool2d" => {
            let kernel_size = pair(&mut h, &lctx, "kernel_size", None)?;
            let stride = match h.raw("stride") {
                None => None,
                Some(_) => Some(pair(&mut h, &lctx, "stride", None)?),
            };
            let c = Pool2dConfig {
                kernel_size,
                stride,
                padding: pair(&mut h, &lctx, "padding", Some(0))?,
            };
            if ty == "maxpool2d" {
                LayerConfig::MaxPool2d(c)
            } else {
                LayerConfig::AvgPool2d(c)
            }
        }
        "maxpool1d" | "avgpool1d" => {
            let c = Pool1dConfig {
                kernel_size: h.required_usize("kernel_size")?,
                stride: opt_usize(&mut h, "stride")?,
                padding: h.usize("padding", 0)?,
            };
            if ty == "maxpool1d" {
                LayerConfig::MaxPool1d(c)
            } else {
                LayerConfig::AvgPool1d(c)
            }
        }
        "global_avg_pool" => LayerConfig::GlobalAvgPool,
        "flatten" => {
            let start_dim = h.usize("start_dim", 1)?;
            let end_dim = h.f64("end_dim", -1.0, Check::Any)?;
            if start_dim == 0 {
                return Err(TrainError::config(
                    &lctx,
                    "start_dim",
                    0,
                    "must be >= 1 (dimension 0 is the batch)",
                ));
            }
            LayerConfig::Flatten(FlattenConfig {
                start_dim,
                end_dim: end_dim as isize,
            })
        }
        "batchnorm1d" | "batchnorm2d" => {
            let d = BatchNormConfig::default();
            let momentum = match h.raw("momentum") {
                Some(toml::Value::String(s)) if s == "none" => None,
                _ => Some(h.f64("momentum", d.momentum.unwrap_or(0.1), Check::UnitClosed)?),
            };
            let c = BatchNormConfig {
                num_features: opt_usize(&mut h, "num_features")?,
                eps: h.f64("eps", d.eps, Check::Positive)?,
                momentum,
                affine: h.bool("affine", d.affine)?,
                track_running_stats: h.bool("track_running_stats", d.track_running_stats)?,
            };
            if ty == "batchnorm1d" {
                LayerConfig::BatchNorm1d(c)
            } else {
                LayerConfig::BatchNorm2d(c)
            }
        }
        "dropout" => LayerConfig::Dropout(DropoutConfig {
            p: h.f64("p", 0.5, Check::UnitClosed)? as f32,
        }),
        "residual" => {
            let body = sub_layers(&lctx, h.raw("body"), "body")?.ok_or_else(|| {
                TrainError::Config(format!(
                    "{lctx}: missing `body` (a list of layer tables, e.g. body = [{{ type = \"linear\", out_features = 64 }}])"
                ))
            })?;
            let shortcut = sub_layers(&lctx, h.raw("shortcut"), "shortcut")?;
            LayerConfig::Residual(ResidualConfig { body, shortcut })
        }
        "relu" => LayerConfig::Activation(Activation::Relu),
        "sigmoid" => LayerConfig::Activation(Activation::Sigmoid),
        "tanh" => LayerConfig::Activation(Activation::Tanh),
        "gelu" => {
            let approx = h.choice("approximate", "none", &["none"])?;
            debug_assert_eq!(approx, "none");
            LayerConfig::Activation(Activation::Gelu)
        }
        "silu" => LayerConfig::Activation(Activation::Silu),
        "leaky_relu" => LayerConfig::Activation(Activation::LeakyRelu {
            negative_slope: h.f64("negative_slope", 0.01, Check::Any)? as f32,
        }),
        "elu" => LayerConfig::Activation(Activation::Elu {
            alpha: h.f64("alpha", 1.0, Check::Any)? as f32,
        }),
        "softplus" => LayerConfig::Activation(Activation::Softplus {
            beta: h.f64("beta", 1.0, Check::Positive)? as f32,
            threshold: h.f64("threshold", 20.0, Check::Any)? as f32,
        }),
        other => {
            return Err(TrainError::Config(format!(
                "{ctx}: unknown layer type `{other}` ({})",
                present::choices::hint(other, LAYER_TYPES)
            )))
        }
    };
    h.finish()?;
    Ok((layer, init))
}

fn sub_layers(ctx: &str, v: Option<&toml::Value>, key: &str) -> Result<Option<Vec<LayerConfig>>> {
    let Some(v) = v else { return Ok(None) };
    let list = v.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        TrainError::config(ctx, key, v, "expected a non-empty list of layer tables")
    })?;
    let mut out = Vec::new();
    for (j, item) in list.iter().enumerate() {
        let (layer, init) = read_layer(&format!("{ctx}.{key}[{j}]"), item)?;
        if init.is_some() {
            return Err(TrainError::Config(format!(
                "{ctx}.{key}[{j}]: initialisation overrides are not supported inside residual blocks"
            )));
        }
        out.push(layer);
    }
    Ok(Some(out))
}

fn opt_usize(h: &mut Hyper<'_>, key: &'static str) -> Result<Option<usize>> {
    match h.raw(key) {
        None => Ok(None),
        Some(toml::Value::Integer(i)) if *i >= 1 => Ok(Some(*i as usize)),
        Some(v) => Err(TrainError::config(
            h.context(),
            key,
            v,
            "expected an integer >= 1",
        )),
    }
}

/// An `int` or `[int, int]` argument (PyTorch's `_pair`).
fn pair(
    h: &mut Hyper<'_>,
    ctx: &str,
    key: &'static str,
    default: Option<usize>,
) -> Result<[usize; 2]> {
    let bad = |v: &toml::Value| {
        TrainError::config(ctx, key, v, "expected an integer >= 0 or a pair [h, w]")
    };
    let one = |v: &toml::Value| match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(*i as usize),
        _ => Err(bad(v)),
    };
    match h.raw(key) {
        None => default
            .map(|d| [d, d])
            .ok_or_else(|| TrainError::Config(format!("{ctx}: missing required field `{key}`"))),
        Some(v @ toml::Value::Array(a)) => {
            if a.len() != 2 {
                return Err(bad(v));
            }
            Ok([one(&a[0])?, one(&a[1])?])
        }
        Some(v) => {
            let x = one(v)?;
            Ok([x, x])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(src: &str) -> Result<ModelConfig> {
        let t: toml::Table = src.parse().unwrap();
        ModelConfig::from_table("run.toml", &t, std::path::Path::new("."))
    }

    #[test]
    fn reads_pytorch_argument_names_and_infers_sizes() {
        let m = model(
            r#"
            [[layers]]
            type = "conv2d"
            out_channels = 4
            kernel_size = 3
            padding = [1, 1]
            [[layers]]
            type = "batchnorm2d"
            momentum = 0.2
            [[layers]]
            type = "relu"
            [[layers]]
            type = "maxpool2d"
            kernel_size = 2
            [[layers]]
            type = "flatten"
            [[layers]]
            type = "dropout"
            p = 0.25
            [[layers]]
            type = "residual"
            body = [{ type = "linear", out_features = 16 }, { type = "tanh" }]
            shortcut = [{ type = "linear", out_features = 16, bias = false }]
            [[layers]]
            type = "leaky_relu"
            negative_slope = 0.2
            [[layers]]
            type = "linear"
            out_features = 3
            "#,
        )
        .unwrap();
        let net = m.build(&[1, 6, 6], 0).unwrap();
        assert_eq!(net.out_shape(), &[3]);
        let names: Vec<&str> = (0..optim::Params::<f32>::count(&net))
            .map(|i| optim::Params::<f32>::name(&net, i))
            .collect();
        assert_eq!(
            names,
            [
                "0.weight",
                "0.bias",
                "1.weight",
                "1.bias",
                "6.body.0.weight",
                "6.body.0.bias",
                "6.shortcut.0.weight",
                "8.weight",
                "8.bias"
            ]
        );
        assert_eq!(optim::Params::<f32>::shape(&net, 0), &[4, 1, 3, 3]);
        assert_eq!(optim::Params::<f32>::shape(&net, 4), &[16, 36]);
        match &m.layers[1] {
            LayerConfig::BatchNorm2d(c) => assert_eq!(c.momentum, Some(0.2)),
            l => panic!("{l:?}"),
        }
    }

    #[test]
    fn bad_layers_name_the_field_and_value() {
        let cases = [
            ("[[layers]]\ntype = \"dense\"", "unknown layer type `dense`"),
            (
                "[[layers]]\ntype = \"linear\"\nout_feature = 3",
                "missing required field `out_features`",
            ),
            (
                "[[layers]]\ntype = \"linear\"\nout_features = 3\nbais = true",
                "`bais`",
            ),
            ("[[layers]]\ntype = \"dropout\"\np = 1.5", "`p` = 1.5"),
            (
                "[[layers]]\ntype = \"conv2d\"\nout_channels = 2\nkernel_size = [3]",
                "kernel_size",
            ),
            ("[[layers]]\nout_features = 2", "missing `type`"),
            ("layers = []", "non-empty"),
            (
                "weight_init = \"glorot\"\n[[layers]]\ntype = \"relu\"",
                "weight_init",
            ),
        ];
        for (src, want) in cases {
            let e = model(src).unwrap_err().to_string();
            assert!(e.contains(want), "{src:?}: {e}");
            assert!(e.starts_with("run.toml"), "{e}");
        }
    }

    #[test]
    fn init_overrides() {
        let m = model(
            r#"
            weight_init = "zeros"
            bias_init = "constant"
            bias_value = 0.5
            [[layers]]
            type = "linear"
            out_features = 4
            [[layers]]
            type = "linear"
            out_features = 2
            weight_init = "normal"
            init_std = 0.01
            "#,
        )
        .unwrap();
        let net = m.build(&[3], 0).unwrap();
        let v = |i| optim::Params::<f32>::value(&net, i).to_vec();
        assert!(v(0).iter().all(|&x| x == 0.0));
        assert!(v(1).iter().all(|&x| x == 0.5));
        let w = v(2);
        let std = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
        assert!(std > 0.0 && std < 0.05, "{std}");
        // The layer's own bias keeps PyTorch's default: only the model-level spec sets 0.5.
        assert!(v(3).iter().any(|&x| x != 0.5));
    }
}
