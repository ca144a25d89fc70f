//! Exponential moving average (EMA) of a model's weights, for evaluation.
//!
//! Semantics are PyTorch's `torch.optim.swa_utils.AveragedModel` with
//! `multi_avg_fn = get_ema_multi_avg_fn(decay)`:
//!
//! ```text
//! first update:   ema ← p                                (a copy)
//! later updates:  ema ← ema.lerp(p, 1 − decay_t)          = ema + (1 − decay_t)·(p − ema)
//! ```
//!
//! with `decay_t = decay`, or with `warmup` (the TensorFlow `ExponentialMovingAverage` /
//! early-timm `num_updates` rule) `decay_t = min(decay, (1 + n)/(10 + n))`, where `n` is the
//! number of models averaged before this update (AveragedModel's `n_averaged`, which counts the
//! initial copy: the second update uses `n = 1`).
//!
//! `lerp` follows PyTorch's kernel exactly, including its two forms: for a weight `w = 1 −
//! decay_t` with `|w| < 0.5` it computes `ema + w·(p − ema)`, otherwise `p − (p − ema)·(1 − w)`,
//! with `w` rounded to the parameter dtype first as PyTorch does.
//!
//! Use [`Ema::swap_into`] to evaluate with the averaged weights (and again to swap back), or
//! [`Ema::copy_into`] to overwrite the model's weights. [`Ema::to_bytes`]/[`Ema::save`] store the
//! averages and the update counter in safetensors (one tensor per parameter, named by the
//! parameter, plus metadata `format` = `"gradlab.ema"`, `version`, `dtype`, `updates`, `decay`,
//! `warmup` and `params`, the names in order).

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;
use serde_json::Value;

use crate::checkpoint::{num, parse_u64, real, serialize, write_atomic};
use crate::{Float, OptimError, Params, Result};

const FORMAT: &str = "gradlab.ema";
const VERSION: &str = "1";

/// An exponential moving average of parameters (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Ema<F> {
    decay: f64,
    warmup: bool,
    updates: u64,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    bufs: Vec<Vec<F>>,
}

impl<F: Float> Default for Ema<F> {
    /// `decay = 0.999`, no warmup.
    fn default() -> Self {
        Ema::new(0.999).expect("valid default decay")
    }
}

impl<F: Float> Ema<F> {
    /// An empty average with the given decay (`0 ≤ decay ≤ 1`); the first [`Ema::update`] copies.
    pub fn new(decay: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&decay) {
            return Err(OptimError::invalid(
                "ema",
                "decay",
                decay,
                "must be in [0, 1]",
            ));
        }
        Ok(Ema {
            decay,
            warmup: false,
            updates: 0,
            names: Vec::new(),
            shapes: Vec::new(),
            bufs: Vec::new(),
        })
    }

    /// Turns the `min(decay, (1 + n)/(10 + n))` warmup on or off (builder style).
    pub fn with_warmup(mut self, warmup: bool) -> Self {
        self.warmup = warmup;
        self
    }

    pub fn decay(&self) -> f64 {
        self.decay
    }
    pub fn warmup(&self) -> bool {
        self.warmup
    }
    /// Number of models averaged so far (AveragedModel's `n_averaged`; 0 before any update).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The decay the next update will use.
    pub fn current_decay(&self) -> f64 {
        if self.warmup {
            let n = self.updates as f64;
            self.decay.min((1.0 + n) / (10.0 + n))
        } else {
            self.decay
        }
    }

    /// Folds the current parameter values into the average.
    pub fn update(&mut self, params: &impl Params<F>) -> Result<()> {
        if self.updates == 0 {
            self.names = (0..params.count())
                .map(|i| params.name(i).to_string())
                .collect();
            self.shapes = (0..params.count())
                .map(|i| params.shape(i).to_vec())
                .collect();
            self.bufs = (0..params.count())
                .map(|i| params.value(i).to_vec())
                .collect();
            self.updates = 1;
            return Ok(());
        }
        self.check(params)?;
        let w = F::of(1.0 - self.current_decay());
        let small = w.abs() < F::of(0.5);
        let one_minus_w = F::one() - w;
        for (i, e) in self.bufs.iter_mut().enumerate() {
            let p = params.value(i);
            if small {
                e.iter_mut()
                    .zip(p)
                    .for_each(|(e, &p)| *e = *e + w * (p - *e));
            } else {
                e.iter_mut()
                    .zip(p)
                    .for_each(|(e, &p)| *e = p - (p - *e) * one_minus_w);
            }
        }
        self.updates += 1;
        Ok(())
    }

    /// The averaged values of parameter `i` (`None` before the first update).
    pub fn averaged(&self, i: usize) -> Option<&[F]> {
        self.bufs.get(i).map(Vec::as_slice)
    }

    /// The averaged values of the parameter named `name`.
    pub fn averaged_by_name(&self, name: &str) -> Option<&[F]> {
        let i = self.names.iter().position(|n| n == name)?;
        self.averaged(i)
    }

    /// Exchanges the model's weights with the averages: call it before evaluating, and again
    /// afterwards to put the training weights back.
    pub fn swap_into(&mut self, params: &mut impl Params<F>) -> Result<()> {
        self.ready()?;
        self.check(params)?;
        for (i, e) in self.bufs.iter_mut().enumerate() {
            params.value_grad_mut(i).0.swap_with_slice(e);
        }
        Ok(())
    }

    /// Overwrites the model's weights with the averages.
    pub fn copy_into(&self, params: &mut impl Params<F>) -> Result<()> {
        self.ready()?;
        self.check(params)?;
        for (i, e) in self.bufs.iter().enumerate() {
            params.value_grad_mut(i).0.copy_from_slice(e);
        }
        Ok(())
    }

    fn ready(&self) -> Result<()> {
        if self.updates == 0 {
            return Err(OptimError::Invalid(
                "ema: no average yet (call update at least once)".into(),
            ));
        }
        Ok(())
    }

    fn check(&self, params: &impl Params<F>) -> Result<()> {
        if params.count() != self.bufs.len() {
            return Err(OptimError::StateMismatch(format!(
                "ema averages {} parameters, got {}",
                self.bufs.len(),
                params.count()
            )));
        }
        for (i, (name, e)) in self.names.iter().zip(&self.bufs).enumerate() {
            if params.name(i) != name || params.value(i).len() != e.len() {
                return Err(OptimError::StateMismatch(format!(
                    "ema parameter {i} is `{name}` with {} elements, got `{}` with {}",
                    e.len(),
                    params.name(i),
                    params.value(i).len()
                )));
            }
        }
        Ok(())
    }

    /// The averages and counter as a safetensors file in memory (see the module docs).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let data = self
            .bufs
            .iter()
            .zip(&self.shapes)
            .map(|(b, s)| {
                let mut bytes = Vec::with_capacity(b.len() * F::BYTES);
                b.iter().for_each(|&x| x.write_le(&mut bytes));
                (F::DTYPE, s.clone(), bytes)
            })
            .collect();
        let meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("version".to_string(), VERSION.to_string()),
            ("dtype".to_string(), format!("{:?}", F::DTYPE)),
            ("updates".to_string(), self.updates.to_string()),
            ("decay".to_string(), num(self.decay)),
            ("warmup".to_string(), self.warmup.to_string()),
            (
                "params".to_string(),
                Value::from(self.names.clone()).to_string(),
            ),
        ]);
        serialize(self.names.clone(), data, meta)
    }

    /// Restores the averages and counter from [`Ema::to_bytes`]. `decay` and `warmup` are
    /// configuration and keep this `Ema`'s values; the parameter list comes from the file and is
    /// checked against the model at the next update or swap.
    pub fn from_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let bad = |m: String| OptimError::Invalid(format!("ema state: {m}"));
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
        let empty = HashMap::new();
        let meta = header.metadata().as_ref().unwrap_or(&empty);
        let get = |k: &str| {
            meta.get(k)
                .map(String::as_str)
                .ok_or_else(|| bad(format!("metadata lacks `{k}`")))
        };
        let format = meta.get("format").map(String::as_str).unwrap_or("");
        if format != FORMAT {
            return Err(bad(format!(
                "metadata `format` = {format:?}, expected {FORMAT:?}"
            )));
        }
        let version = get("version")?;
        if version != VERSION {
            return Err(bad(format!(
                "unsupported version {version:?} (this build reads {VERSION:?})"
            )));
        }
        let dtype = get("dtype")?;
        let want = format!("{:?}", F::DTYPE);
        if dtype != want {
            return Err(OptimError::StateMismatch(format!(
                "ema state holds {dtype} values, expected {want}"
            )));
        }
        let updates = parse_u64(get("updates")?, "updates")?;
        // Read for validation only (decay is configuration).
        real(&Value::String(get("decay")?.to_string()), "decay")?;
        let names: Vec<String> = serde_json::from_str(get("params")?)
            .map_err(|e| bad(format!("metadata `params` is not a list of names: {e}")))?;
        let infos = header.tensors();
        if infos.len() != names.len() {
            return Err(bad(format!(
                "{} tensors for {} parameter names",
                infos.len(),
                names.len()
            )));
        }
        let mut shapes = Vec::with_capacity(names.len());
        let mut bufs = Vec::with_capacity(names.len());
        for n in &names {
            let info = infos
                .get(n)
                .ok_or_else(|| bad(format!("lacks the tensor of parameter `{n}`")))?;
            if info.dtype != F::DTYPE {
                return Err(bad(format!(
                    "tensor `{n}` has dtype {:?}, expected {want}",
                    info.dtype
                )));
            }
            let view = file
                .tensor(n)
                .map_err(|e| bad(format!("tensor `{n}`: {e}")))?;
            shapes.push(info.shape.clone());
            bufs.push(view.data().chunks_exact(F::BYTES).map(F::read_le).collect());
        }
        self.updates = updates;
        self.names = names;
        self.shapes = shapes;
        self.bufs = bufs;
        Ok(())
    }

    /// Saves [`Ema::to_bytes`] to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self
            .to_bytes()
            .map_err(|e| OptimError::file(path, e.to_string()))?;
        write_atomic(path, &bytes)
    }

    /// Restores a file written by [`Ema::save`].
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bytes =
            std::fs::read(path).map_err(|e| OptimError::file(path, format!("cannot read: {e}")))?;
        self.from_bytes(&bytes)
            .map_err(|e| OptimError::file(path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Param, ParamStore};

    fn store(w: Vec<f64>, b: Vec<f64>) -> ParamStore<f64> {
        ParamStore::new(vec![Param::new("w", &[2], w), Param::new("b", &[1], b)])
    }

    #[test]
    fn first_update_copies_then_lerps() {
        let mut ema = Ema::<f64>::new(0.9).unwrap();
        assert!(ema.averaged(0).is_none());
        let mut p = store(vec![1.0, 2.0], vec![-1.0]);
        ema.update(&p).unwrap();
        assert_eq!(ema.averaged(0).unwrap(), &[1.0, 2.0]);
        assert_eq!(ema.updates(), 1);
        p.params[0].value = vec![3.0, 0.0];
        p.params[1].value = vec![1.0];
        ema.update(&p).unwrap();
        // ema + 0.1·(p − ema), with w = 1 − 0.9 rounded as PyTorch does.
        let w = 1.0 - 0.9;
        assert_eq!(ema.averaged(0).unwrap(), &[1.0 + w * 2.0, 2.0 + w * -2.0]);
        assert_eq!(ema.averaged_by_name("b").unwrap(), &[-1.0 + w * 2.0]);
        assert!((ema.averaged(0).unwrap()[0] - 1.2).abs() < 1e-15);
        // Third update: ema = 1.2 + 0.1·(5 − 1.2) = 1.58.
        p.params[0].value = vec![5.0, 0.0];
        ema.update(&p).unwrap();
        assert!((ema.averaged(0).unwrap()[0] - 1.58).abs() < 1e-14);
        assert!((ema.averaged(0).unwrap()[1] - 1.62).abs() < 1e-14);
        assert_eq!(ema.updates(), 3);
    }

    #[test]
    fn large_weight_uses_pytorch_second_lerp_form() {
        // decay 0.25 → w = 0.75 ≥ 0.5: p − (p − ema)·(1 − w).
        let mut ema = Ema::<f64>::new(0.25).unwrap();
        let mut p = ParamStore::single("x", vec![1.0]);
        ema.update(&p).unwrap();
        p.params[0].value = vec![0.1];
        ema.update(&p).unwrap();
        let expected: f64 = 0.1 - (0.1 - 1.0) * (1.0 - 0.75);
        assert_eq!(ema.averaged(0).unwrap()[0].to_bits(), expected.to_bits());
        assert!((expected - 0.325).abs() < 1e-15);
    }

    #[test]
    fn warmup_decay_schedule() {
        let mut ema = Ema::<f64>::new(0.999).unwrap().with_warmup(true);
        let mut p = ParamStore::single("x", vec![0.0]);
        ema.update(&p).unwrap(); // copy: ema = 0
        assert_eq!(ema.current_decay(), 2.0 / 11.0);
        p.params[0].value = vec![11.0];
        ema.update(&p).unwrap(); // ema = 0 + (9/11)·11 = 9
        assert!((ema.averaged(0).unwrap()[0] - 9.0).abs() < 1e-14);
        assert_eq!(ema.current_decay(), 3.0 / 12.0);
        p.params[0].value = vec![13.0];
        ema.update(&p).unwrap(); // w = 0.75 → 13 − 4·0.25 = 12
        assert!((ema.averaged(0).unwrap()[0] - 12.0).abs() < 1e-14);
        // Long after warmup the cap is the configured decay.
        ema.updates = 1_000_000;
        assert_eq!(ema.current_decay(), 0.999);
        // Off: always the decay.
        assert_eq!(Ema::<f64>::default().current_decay(), 0.999);
    }

    #[test]
    fn f32_matches_hand_values() {
        let mut ema = Ema::<f32>::new(0.5).unwrap();
        let mut p = ParamStore::single("x", vec![2.0f32, -4.0]);
        ema.update(&p).unwrap();
        p.params[0].value = vec![4.0, 0.0];
        ema.update(&p).unwrap();
        assert_eq!(ema.averaged(0).unwrap(), &[3.0f32, -2.0]);
    }

    #[test]
    fn swap_and_copy() {
        let mut ema = Ema::<f64>::new(0.5).unwrap();
        let mut p = store(vec![1.0, 2.0], vec![3.0]);
        assert!(ema
            .swap_into(&mut p)
            .unwrap_err()
            .to_string()
            .contains("no average yet"));
        ema.update(&p).unwrap();
        p.params[0].value = vec![3.0, 4.0];
        p.params[1].value = vec![5.0];
        ema.update(&p).unwrap(); // ema = [2, 3], [4]
        ema.swap_into(&mut p).unwrap();
        assert_eq!(p.params[0].value, vec![2.0, 3.0]);
        assert_eq!(p.params[1].value, vec![4.0]);
        assert_eq!(ema.averaged(0).unwrap(), &[3.0, 4.0]);
        ema.swap_into(&mut p).unwrap();
        assert_eq!(p.params[0].value, vec![3.0, 4.0]);
        assert_eq!(ema.averaged(0).unwrap(), &[2.0, 3.0]);
        ema.copy_into(&mut p).unwrap();
        assert_eq!(p.params[0].value, vec![2.0, 3.0]);
        assert_eq!(p.params[1].value, vec![4.0]);
        // A different model is refused.
        let mut other = ParamStore::single("w", vec![0.0, 0.0]);
        let e = ema.update(&other).unwrap_err().to_string();
        assert!(e.contains("2 parameters, got 1"), "{e}");
        let e = ema.copy_into(&mut other).unwrap_err().to_string();
        assert!(e.contains("2 parameters"), "{e}");
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let mut a = Ema::<f64>::new(0.9).unwrap().with_warmup(true);
        let mut p = ParamStore::new(vec![Param::new("m.w", &[2, 2], vec![1.0, 2.0, 3.0, 4.0])]);
        a.update(&p).unwrap();
        p.params[0].value = vec![0.3, -0.7, 1.1, 9.0];
        a.update(&p).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ema.safetensors");
        a.save(&path).unwrap();
        let mut b = Ema::<f64>::new(0.9).unwrap().with_warmup(true);
        b.load(&path).unwrap();
        assert_eq!(a, b);
        p.params[0].value = vec![-2.0, 0.1, 0.2, 0.3];
        a.update(&p).unwrap();
        b.update(&p).unwrap();
        let bits = |e: &Ema<f64>| {
            e.averaged(0)
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&a), bits(&b));
        assert_eq!(b.updates(), 3);
        // Wrong dtype and wrong format are named.
        let mut c = Ema::<f32>::new(0.9).unwrap();
        let e = c
            .from_bytes(&a.to_bytes().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("F64") && e.contains("F32"), "{e}");
        let e = c.load(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("cannot read"), "{e}");
    }

    #[test]
    fn invalid_decay_is_rejected() {
        let e = Ema::<f64>::new(1.5).unwrap_err().to_string();
        assert!(e.contains("decay") && e.contains("1.5"), "{e}");
    }
}
