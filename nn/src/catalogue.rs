//! The layer catalogue: [`LayerConfig`], every layer a model can be built from (what a training
//! config lists), each built for the shape its predecessor outputs, and [`ResidualConfig`], the
//! block whose branches are themselves lists of layer configs.

use crate::layer::Layer;
use crate::layers::{
    Activation, ActivationLayer, BatchNorm, BatchNormConfig, Conv, Conv1dConfig, Conv2dConfig,
    Dropout, DropoutConfig, Flatten, FlattenConfig, GlobalAvgPool, Linear, LinearConfig, Pool,
    Pool1dConfig, Pool2dConfig, Residual,
};
use crate::{NnError, Result, Rng};

/// The layers other than activations, by their `type` name in a run config.
const STRUCTURAL_TYPES: [&str; 13] = [
    "linear",
    "conv1d",
    "conv2d",
    "maxpool1d",
    "maxpool2d",
    "avgpool1d",
    "avgpool2d",
    "global_avg_pool",
    "flatten",
    "batchnorm1d",
    "batchnorm2d",
    "dropout",
    "residual",
];

/// The activation layers' `type` names ([`Activation::name`]), each a
/// [`LayerConfig::Activation`]; also what a model edit's `activation = …` may choose.
pub const ACTIVATION_TYPES: &[&str] = &ACTIVATIONS;

const ACTIVATIONS: [&str; 8] = [
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "elu",
    "gelu",
    "silu",
    "softplus",
];

/// Every layer `type` name a run config may give, in the config's spelling (lower case); each
/// maps to a [`LayerConfig`] variant (activations to [`LayerConfig::Activation`]).
pub const LAYER_TYPES: &[&str] = &LAYERS;

const LAYERS: [&str; STRUCTURAL_TYPES.len() + ACTIVATIONS.len()] = {
    let mut all = [""; STRUCTURAL_TYPES.len() + ACTIVATIONS.len()];
    let mut i = 0;
    while i < STRUCTURAL_TYPES.len() {
        all[i] = STRUCTURAL_TYPES[i];
        i += 1;
    }
    let mut j = 0;
    while j < ACTIVATIONS.len() {
        all[i + j] = ACTIVATIONS[j];
        j += 1;
    }
    all
};

/// One layer of a [`Sequential`](crate::Sequential) model.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerConfig {
    Linear(LinearConfig),
    Activation(Activation),
    Flatten(FlattenConfig),
    Dropout(DropoutConfig),
    /// PyTorch's `BatchNorm1d`: per-example `[C]` or `[C, L]`.
    BatchNorm1d(BatchNormConfig),
    /// PyTorch's `BatchNorm2d`: per-example `[C, H, W]`.
    BatchNorm2d(BatchNormConfig),
    /// A residual block `body(x) + shortcut(x)`.
    Residual(ResidualConfig),
    Conv2d(Conv2dConfig),
    Conv1d(Conv1dConfig),
    MaxPool2d(Pool2dConfig),
    MaxPool1d(Pool1dConfig),
    AvgPool2d(Pool2dConfig),
    AvgPool1d(Pool1dConfig),
    GlobalAvgPool,
}

impl LayerConfig {
    /// Builds the layer for per-example input shape `in_shape`, drawing its initial values (or
    /// its dropout generator) from `rng`.
    pub fn build(&self, in_shape: &[usize], rng: &mut Rng) -> Result<Box<dyn Layer>> {
        Ok(match self {
            LayerConfig::Linear(c) => {
                let i = *in_shape.last().ok_or_else(|| {
                    NnError::Shape("linear needs an input with at least one dimension".into())
                })?;
                match c.in_features {
                    // A linear layer reads the last dimension (PyTorch's semantics); on an image
                    // or sequence that is rarely what was meant.
                    Some(want) if want != i && in_shape.len() > 1 => {
                        let flat: usize = in_shape.iter().product();
                        return Err(NnError::Shape(format!(
                            "linear: in_features = {want} but the input is {in_shape:?} per example, and a linear layer reads its last dimension ({i} features); {}",
                            if flat == want {
                                format!("add a `flatten` layer before it (its output has {flat} features)")
                            } else {
                                format!("a `flatten` layer before it would give {flat} features")
                            }
                        )));
                    }
                    _ => Box::new(Linear::new(c, i, rng)?),
                }
            }
            LayerConfig::Activation(a) => Box::new(ActivationLayer::new(*a)?),
            LayerConfig::Flatten(c) => Box::new(Flatten::new(*c)?),
            LayerConfig::Dropout(c) => Box::new(Dropout::new(*c, rng.fork())?),
            LayerConfig::BatchNorm1d(c) => Box::new(BatchNorm::new(c, 1, in_shape)?),
            LayerConfig::BatchNorm2d(c) => Box::new(BatchNorm::new(c, 2, in_shape)?),
            LayerConfig::Residual(c) => Box::new(c.build(in_shape, rng)?),
            LayerConfig::Conv2d(c) => Box::new(Conv::new_2d(c, channels(in_shape)?, rng)?),
            LayerConfig::Conv1d(c) => Box::new(Conv::new_1d(c, channels(in_shape)?, rng)?),
            LayerConfig::MaxPool2d(c) => Box::new(Pool::max_2d(c)?),
            LayerConfig::MaxPool1d(c) => Box::new(Pool::max_1d(c)?),
            LayerConfig::AvgPool2d(c) => Box::new(Pool::avg_2d(c)?),
            LayerConfig::AvgPool1d(c) => Box::new(Pool::avg_1d(c)?),
            LayerConfig::GlobalAvgPool => Box::new(GlobalAvgPool::new()),
        })
    }
}

/// Channels of a per-example `[C, …]` input shape.
fn channels(in_shape: &[usize]) -> Result<usize> {
    in_shape
        .first()
        .copied()
        .ok_or_else(|| NnError::Shape("a convolution needs a [C, …] input".into()))
}

/// Builds `configs` in order for per-example input `in_shape`, each layer's input shape the
/// previous one's output, drawing from `rng`; a build error names the layer as `{what} {index}`.
pub(crate) fn build_chain(
    configs: &[LayerConfig],
    in_shape: &[usize],
    rng: &mut Rng,
    what: &str,
) -> Result<Vec<Box<dyn Layer>>> {
    let mut shape = in_shape.to_vec();
    let mut layers = Vec::with_capacity(configs.len());
    for (i, c) in configs.iter().enumerate() {
        let layer = c
            .build(&shape, rng)
            .map_err(|e| NnError::Invalid(format!("{what} {i}: {e}")))?;
        shape = layer.out_shape(&shape)?;
        layers.push(layer);
    }
    Ok(layers)
}

/// Configuration of a [`Residual`] block.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualConfig {
    /// The residual branch (at least one layer).
    pub body: Vec<LayerConfig>,
    /// The shortcut branch; `None` is the identity (the body must keep the input shape).
    pub shortcut: Option<Vec<LayerConfig>>,
}

impl ResidualConfig {
    /// Builds the block for per-example input `in_shape`, body first, then the shortcut, each
    /// sub-layer drawing from `rng`.
    pub fn build(&self, in_shape: &[usize], rng: &mut Rng) -> Result<Residual> {
        if self.body.is_empty() {
            // The block refuses an empty body before anything is built.
            return Residual::new(Vec::new(), Vec::new(), in_shape);
        }
        let body = build_chain(&self.body, in_shape, rng, "residual body layer")?;
        let shortcut = build_chain(
            self.shortcut.as_deref().unwrap_or(&[]),
            in_shape,
            rng,
            "residual shortcut layer",
        )?;
        Residual::new(body, shortcut, in_shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activation_types_are_the_activations_names() {
        // An exhaustive match: a new variant fails to compile here until it is listed.
        let name = |a: &Activation| match a {
            Activation::Relu
            | Activation::LeakyRelu { .. }
            | Activation::Sigmoid
            | Activation::Tanh
            | Activation::Elu { .. }
            | Activation::Gelu
            | Activation::Silu
            | Activation::Softplus { .. } => a.name(),
        };
        let all = [
            Activation::Relu,
            Activation::LeakyRelu {
                negative_slope: 0.01,
            },
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Elu { alpha: 1.0 },
            Activation::Gelu,
            Activation::Silu,
            Activation::softplus(),
        ];
        let names: Vec<&str> = all.iter().map(name).collect();
        assert_eq!(names, ACTIVATION_TYPES);
        assert_eq!(
            LAYER_TYPES.len(),
            STRUCTURAL_TYPES.len() + ACTIVATION_TYPES.len()
        );
        assert_eq!(&LAYER_TYPES[STRUCTURAL_TYPES.len()..], ACTIVATION_TYPES);
        let mut sorted = LAYER_TYPES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), LAYER_TYPES.len(), "a type listed twice");
    }
}
