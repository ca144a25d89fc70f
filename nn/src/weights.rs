//! Weights on disk: a [`Sequential`] model's parameters and buffers as a safetensors file with
//! PyTorch's names, shapes and dtype (`F32`), so weights round-trip with PyTorch's `save_file` /
//! `load_file` of an `nn.Sequential` state dict.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::{NnError, Result, Sequential};

impl Sequential {
    /// Saves the weights and buffers (batch norm's running statistics) as safetensors with
    /// PyTorch's names, shapes and dtypes (`F32`; `I64` for the `num_batches_tracked` counters,
    /// so `load_state_dict(strict=True)` takes the file as it is), metadata `format = pt`,
    /// written durably.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let dtypes: Vec<Dtype> = (0..self.num_stored())
            .map(|i| {
                if self.is_buffer(i) && is_counter(&self.stored(i).name) {
                    Dtype::I64
                } else {
                    Dtype::F32
                }
            })
            .collect();
        let bytes: Vec<Vec<u8>> = (0..self.num_stored())
            .map(|i| {
                let v = &self.stored(i).value;
                match dtypes[i] {
                    Dtype::I64 => v.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect(),
                    _ => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                }
            })
            .collect();
        let views = (0..self.num_stored())
            .map(|i| {
                let t = self.stored(i);
                let view = TensorView::new(dtypes[i], t.shape.clone(), &bytes[i]).map_err(|e| {
                    weights_err(path.display(), format!("tensor `{}`: {e}", t.name))
                })?;
                Ok((t.name.clone(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        let data = safetensors::serialize(views, &Some(meta))
            .map_err(|e| weights_err(path.display(), format!("cannot serialise: {e}")))?;
        write_atomic(path, &data)
    }

    /// Loads weights saved by [`save`](Self::save) (or by PyTorch's `save_file` of an
    /// `nn.Sequential` state dict in f32). Every parameter must be present with its shape and
    /// no extra tensors may be; on any error the model is left unchanged. Buffers may also be
    /// `I64` (PyTorch's `num_batches_tracked`).
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| NnError::Io {
            path: path.display().to_string(),
            error,
        })?;
        self.load_bytes(&bytes, &path.display().to_string())
    }

    /// [`load`](Self::load) from the bytes of a safetensors file; `file` names it in errors.
    pub fn load_bytes(&mut self, bytes: &[u8], file: &str) -> Result<()> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| weights_err(file, format!("not a valid safetensors file: {e}")))?;
        let mut extra: Vec<String> = st
            .names()
            .into_iter()
            .filter(|&n| (0..self.num_stored()).all(|i| self.stored(i).name != *n))
            .cloned()
            .collect();
        if !extra.is_empty() {
            extra.sort();
            return Err(weights_err(
                file,
                format!("tensors not in the model: {extra:?}"),
            ));
        }
        let mut values = Vec::with_capacity(self.num_stored());
        for i in 0..self.num_stored() {
            let name = &self.stored(i).name;
            let t = st
                .tensor(name)
                .map_err(|_| weights_err(file, format!("lacks tensor `{name}`")))?;
            let want = &self.stored(i).shape;
            if t.shape() != want.as_slice() {
                return Err(weights_err(
                    file,
                    format!(
                        "tensor `{name}` has shape {:?}, the model needs {want:?}",
                        t.shape()
                    ),
                ));
            }
            let int_buffer = self.is_buffer(i) && t.dtype() == Dtype::I64;
            if t.dtype() != Dtype::F32 && !int_buffer {
                return Err(weights_err(
                    file,
                    format!("tensor `{name}` has dtype {:?}, expected F32", t.dtype()),
                ));
            }
            let decoded: Vec<f32> = if int_buffer {
                t.data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                    .collect()
            } else {
                t.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            };
            // A non-finite weight would make every output NaN (or, behind a ReLU, silently
            // wrong): refuse it before anything of the model changes.
            if let Some((k, x)) = decoded.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                return Err(weights_err(
                    file,
                    format!("tensor `{name}` holds {x} at index {k}; weights must be finite"),
                ));
            }
            values.push(decoded);
        }
        for (i, data) in values.into_iter().enumerate() {
            self.stored_mut(i).value.copy_from_slice(&data);
        }
        Ok(())
    }
}

/// PyTorch keeps batch norm's batch counter as an `int64` buffer.
fn is_counter(name: &str) -> bool {
    name == "num_batches_tracked" || name.ends_with(".num_batches_tracked")
}

fn weights_err(file: impl std::fmt::Display, msg: String) -> NnError {
    NnError::Weights {
        path: file.to_string(),
        msg,
    }
}

/// Writes `data` to `path` durably ([`durable::write`]).
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    durable::write(path, data).map_err(|error| NnError::Io {
        path: path.display().to_string(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use safetensors::{Dtype, SafeTensors};

    use crate::layers::gradcheck::random_tensor;
    use crate::BatchNormConfig;

    use crate::sequential::tests::mlp;
    use crate::{Activation, LayerConfig, LinearConfig, NnError, Sequential};
    use optim::Params;

    #[test]
    fn save_load_round_trip_and_mismatches() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let a = mlp(1);
        a.save(&p).unwrap();
        a.save(&p).unwrap(); // replaces
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
        let mut b = mlp(2);
        assert_ne!(a.value(0), b.value(0));
        b.load(&p).unwrap();
        for i in 0..a.count() {
            assert_eq!(a.value(i), b.value(i));
        }
        let bytes = std::fs::read(&p).unwrap();
        let f = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(f.tensor("0.weight").unwrap().shape(), &[16, 2]);
        assert_eq!(f.tensor("2.bias").unwrap().shape(), &[2]);

        // Wrong shape: hidden width 8.
        let mut c = Sequential::new(
            &[2],
            &[
                LayerConfig::Linear(LinearConfig::new(2, 8)),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Linear(LinearConfig::new(8, 2)),
            ],
            0,
        )
        .unwrap();
        let before = c.value(0).to_vec();
        let e = c.load(&p).unwrap_err().to_string();
        assert!(
            e.contains("`0.weight` has shape [16, 2]") && e.contains("[8, 2]"),
            "{e}"
        );
        assert_eq!(c.value(0), &before[..], "model changed by a failed load");
        // Missing and extra names.
        let mut d =
            Sequential::new(&[2], &[LayerConfig::Linear(LinearConfig::new(2, 16))], 0).unwrap();
        let e = d.load(&p).unwrap_err().to_string();
        assert!(e.contains("2.weight"), "{e}");
        let mut big = Sequential::new(
            &[2],
            &[
                LayerConfig::Linear(LinearConfig::new(2, 16)),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Linear(LinearConfig::new(16, 2)),
                LayerConfig::Activation(Activation::Relu),
                LayerConfig::Linear(LinearConfig::new(2, 2)),
            ],
            0,
        )
        .unwrap();
        let e = big.load(&p).unwrap_err().to_string();
        assert!(e.contains("lacks tensor `4.weight`"), "{e}");
        assert!(matches!(
            d.load(dir.path().join("nope")),
            Err(NnError::Io { .. })
        ));
    }

    /// A NaN or infinite weight in a file is an error naming the tensor and element, and the
    /// model is left as it was (issue 12: non-finite weights are errors).
    #[test]
    fn non_finite_weights_are_refused_and_leave_the_model_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        mlp(1).save(&p).unwrap();
        let clean = std::fs::read(&p).unwrap();
        let st = SafeTensors::deserialize(&clean).unwrap();
        let at = st.tensor("2.bias").unwrap().data().as_ptr() as usize - clean.as_ptr() as usize;
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut bytes = clean.clone();
            bytes[at + 4..at + 8].copy_from_slice(&bad.to_le_bytes());
            let mut m = mlp(2);
            let before = m.snapshot();
            let e = m
                .load_bytes(&bytes, "w.safetensors")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("w.safetensors")
                    && e.contains(&format!("tensor `2.bias` holds {bad} at index 1"))
                    && e.contains("weights must be finite"),
                "{e}"
            );
            assert_eq!(m.snapshot(), before, "model changed by a failed load");
        }
    }

    /// Regression: `num_batches_tracked` was saved as float32, which PyTorch's
    /// `load_state_dict(strict=True)` rejects for its int64 buffer.
    #[test]
    fn num_batches_tracked_is_saved_as_int64_and_loads_back() {
        let cfgs = [
            LayerConfig::Linear(LinearConfig::new(3, 4)),
            LayerConfig::BatchNorm1d(BatchNormConfig::default()),
        ];
        let mut m = Sequential::new(&[3], &cfgs, 0).unwrap();
        for _ in 0..3 {
            m.forward(&random_tensor(&[5, 3], 1), true);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        m.save(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let f = SafeTensors::deserialize(&bytes).unwrap();
        let t = f.tensor("1.num_batches_tracked").unwrap();
        assert_eq!(t.dtype(), Dtype::I64);
        assert_eq!(t.shape(), &[] as &[usize]);
        assert_eq!(i64::from_le_bytes(t.data().try_into().unwrap()), 3);
        assert_eq!(f.tensor("1.running_mean").unwrap().dtype(), Dtype::F32);
        let mut back = Sequential::new(&[3], &cfgs, 9).unwrap();
        back.load(&p).unwrap();
        assert_eq!(back.snapshot(), m.snapshot());
    }
}
