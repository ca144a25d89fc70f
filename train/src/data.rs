//! `[data]`: which dataset, how it is split, batched, standardised and augmented.
//!
//! ```toml
//! [data]
//! dataset = "mnist-10k"      # bundled name, synthetic name, or a path (.npz, IDX dir, .csv)
//! download = false           # fetch mnist / fashion-mnist / cifar10 if not on disk
//! batch_size = 128
//! shuffle = true
//! validation_split = 0.1     # carved from the training set (seeded)
//! input_shape = [1, 28, 28]  # per-example reshape
//! standardize = false        # true / "feature": per-feature mean/std of the training part;
//!                            # "channel": one mean/std per channel (images, with augment)
//! subset = 1000              # use only the first N training examples
//! [data.augment]             # training batches only
//! noise_std = 0.05
//! rotate_deg = 10
//! shift = 2
//! flip_p = 0.5
//! ```
//! Synthetic sets (`two_spirals`, `moons`, `blobs`, `teacher_student`) take `n` (training
//! examples, default 1000), `n_test` (default 500), `noise`, and for blobs `centers`, `dim`,
//! `std`; for teacher–student `dim_in`, `hidden`, `dim_out`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use data::{AugmentConfig, Augmenter, Dataset, Split, Standardizer};
use optim::{Check, Hyper};

use crate::{Result, TrainError};

const SYNTHETIC: &[&str] = &["two_spirals", "moons", "blobs", "teacher_student"];

/// Parameters of a synthetic dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticConfig {
    pub n: usize,
    pub n_test: usize,
    pub noise: f64,
    pub centers: usize,
    pub dim: usize,
    pub std: f64,
    pub hidden: usize,
    pub dim_out: usize,
}

/// Where the examples come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Bundled(String),
    Synthetic(String, SyntheticConfig),
    /// An `.npz` file with `x`, `y`, `x_test`, `y_test`.
    Npz(PathBuf),
    /// A directory with MNIST-style IDX files (`train-images-idx3-ubyte[.gz]`, …).
    Idx(PathBuf),
    /// CSV files: training set, optional test set, the label column.
    Csv {
        train: PathBuf,
        test: Option<PathBuf>,
        label_column: data::csv::Column,
    },
}

/// The `[data]` section.
#[derive(Clone, Debug, PartialEq)]
pub struct DataConfig {
    pub source: Source,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub shuffle: bool,
    pub drop_last: bool,
    pub validation_split: Option<f64>,
    pub input_shape: Option<Vec<usize>>,
    pub standardize: Standardize,
    pub subset: Option<usize>,
    pub augment: Option<AugmentConfig>,
    /// Fetch a downloadable dataset (mnist, fashion-mnist, cifar10) when it is not on disk.
    pub download: bool,
}

/// `[data] standardize`: how inputs are standardised with the training part's statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standardize {
    /// `false`: inputs as loaded.
    Off,
    /// `true` or `"feature"`: a mean and std per feature (scikit-learn's StandardScaler).
    Feature,
    /// `"channel"`: a mean and std per channel of `[C, ...]` examples over all its positions
    /// (torchvision's `Normalize`); one pair for 1-D examples. Unlike per-feature statistics it
    /// stays well-behaved under shifts and rotations, which move ink onto pixels that are
    /// (almost) always blank in the training set and whose tiny std would blow it up.
    Channel,
}

/// The datasets of a run, ready to batch.
pub struct Prepared {
    pub train: Dataset,
    pub val: Option<Dataset>,
    pub test: Option<Dataset>,
    /// Applied to training batches after augmentation (val/test are standardised up front).
    pub standardizer: Option<Standardizer>,
    pub augmenter: Option<Augmenter>,
}

impl DataConfig {
    pub fn from_table(source: &str, t: &toml::Table, base_dir: &Path) -> Result<DataConfig> {
        let ctx = format!("{source}: [data]");
        let mut h = Hyper::new(&ctx, t).ignoring(&["augment"]);
        let name = match h.raw("dataset") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(v) => return Err(TrainError::config(&ctx, "dataset", v, "expected a name or a path")),
            None => {
                return Err(TrainError::Config(format!(
                    "{ctx}: missing `dataset` (bundled: {}; synthetic: {}; or a path to .npz, .csv or an IDX directory)",
                    data::DATASETS.join(", "),
                    SYNTHETIC.join(", ")
                )))
            }
        };
        let download = h.bool("download", false)?;
        let src = if data::DATASETS.contains(&name.as_str())
            || data::DATASETS_REMOTE.contains(&name.as_str())
        {
            Source::Bundled(name)
        } else if SYNTHETIC.contains(&name.as_str()) {
            let s = SyntheticConfig {
                n: h.usize("n", 1000)?,
                n_test: h.usize("n_test", 500)?,
                noise: h.f64(
                    "noise",
                    if name == "blobs" { 0.0 } else { 0.1 },
                    Check::NonNeg,
                )?,
                centers: h.usize("centers", 3)?,
                dim: h.usize("dim", 2)?,
                std: h.f64("std", 1.0, Check::Positive)?,
                hidden: h.usize("hidden", 32)?,
                dim_out: h.usize("dim_out", 1)?,
            };
            Source::Synthetic(name, s)
        } else {
            let path = base_dir.join(&name);
            let lower = name.to_ascii_lowercase();
            if lower.ends_with(".npz") {
                Source::Npz(path)
            } else if lower.ends_with(".csv") {
                let test = match h.raw("test") {
                    None => None,
                    Some(toml::Value::String(s)) => Some(base_dir.join(s)),
                    Some(v) => {
                        return Err(TrainError::config(&ctx, "test", v, "expected a CSV path"))
                    }
                };
                let label_column = match h.raw("label_column") {
                    None => data::csv::Column::Index(0),
                    Some(toml::Value::Integer(i)) => data::csv::Column::from_int(*i),
                    Some(toml::Value::String(name)) => data::csv::Column::Name(name.clone()),
                    Some(v) => return Err(TrainError::config(
                        &ctx,
                        "label_column",
                        v,
                        "expected a column number (0 is the first, -1 the last) or a header name",
                    )),
                };
                Source::Csv {
                    train: path,
                    test,
                    label_column,
                }
            } else if path.is_dir() {
                Source::Idx(path)
            } else {
                let known: Vec<&str> = data::DATASETS.iter().chain(SYNTHETIC).copied().collect();
                let close = present::choices::nearest(&name, &known)
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                return Err(TrainError::Config(format!(
                    "{ctx}: `dataset` = {name:?}: {close}not a bundled dataset ({}), a synthetic one ({}), an .npz/.csv file or an IDX directory",
                    data::DATASETS.join(", "),
                    SYNTHETIC.join(", ")
                )));
            }
        };
        let batch_size = h.usize("batch_size", 64)?;
        if batch_size == 0 {
            return Err(TrainError::config(&ctx, "batch_size", 0, "must be >= 1"));
        }
        let eval_batch_size = h.usize("eval_batch_size", 1000)?.max(1);
        let shuffle = h.bool("shuffle", true)?;
        let drop_last = h.bool("drop_last", false)?;
        let validation_split = h.opt_f64("validation_split", Check::Unit)?;
        if validation_split == Some(0.0) {
            return Err(TrainError::config(
                &ctx,
                "validation_split",
                0,
                "must be in (0, 1) (leave it out for no validation set)",
            ));
        }
        let input_shape = match h.raw("input_shape") {
            None => None,
            Some(toml::Value::Array(a)) if !a.is_empty() => Some(
                a.iter()
                    .map(|v| match v {
                        toml::Value::Integer(i) if *i >= 1 => Ok(*i as usize),
                        _ => Err(TrainError::config(
                            &ctx,
                            "input_shape",
                            toml::Value::Array(a.clone()),
                            "expected a list of integers >= 1",
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(v) => {
                return Err(TrainError::config(
                    &ctx,
                    "input_shape",
                    v,
                    "expected a list such as [1, 28, 28]",
                ))
            }
        };
        let standardize = match h.raw("standardize") {
            None | Some(toml::Value::Boolean(false)) => Standardize::Off,
            Some(toml::Value::Boolean(true)) => Standardize::Feature,
            Some(toml::Value::String(s)) if s == "feature" => Standardize::Feature,
            Some(toml::Value::String(s)) if s == "channel" => Standardize::Channel,
            Some(v) => {
                return Err(TrainError::config(
                    &ctx,
                    "standardize",
                    v,
                    "expected true, false, \"feature\" or \"channel\"",
                ))
            }
        };
        let subset = match h.raw("subset") {
            None => None,
            Some(toml::Value::Integer(i)) if *i >= 1 => Some(*i as usize),
            Some(v) => {
                return Err(TrainError::config(
                    &ctx,
                    "subset",
                    v,
                    "expected an integer >= 1",
                ))
            }
        };
        h.finish()?;
        let augment = match t.get("augment") {
            None => None,
            Some(toml::Value::Table(a)) => {
                let ctx = format!("{source}: [data.augment]");
                let mut h = Hyper::new(&ctx, a);
                let c = AugmentConfig {
                    noise_std: h.f64("noise_std", 0.0, Check::NonNeg)? as f32,
                    rotate_deg: h.f64("rotate_deg", 0.0, Check::NonNeg)? as f32,
                    shift: h.usize("shift", 0)?,
                    flip_p: h.f64("flip_p", 0.0, Check::UnitClosed)?,
                    fill: h.f64("fill", 0.0, Check::Any)? as f32,
                };
                h.finish()?;
                // The augmenter's own bounds (rotate_deg ≤ 180, …), read here so that the
                // error names the section before anything is loaded.
                data::Augmenter::new(c, 0)
                    .map_err(|e| TrainError::Config(format!("{ctx}: {e}")))?;
                Some(c)
            }
            Some(v) => {
                return Err(TrainError::config(
                    &ctx,
                    "augment",
                    v,
                    "expected a [data.augment] table",
                ))
            }
        };
        Ok(DataConfig {
            source: src,
            batch_size,
            eval_batch_size,
            shuffle,
            drop_last,
            validation_split,
            input_shape,
            standardize,
            subset,
            augment,
            download,
        })
    }

    /// Loads and prepares the datasets; `seed` drives the validation split, synthetic data and
    /// augmentation.
    pub fn prepare(&self, seed: u64) -> Result<Prepared> {
        // A bundled dataset is the process's kept copy: the subset and the split below read it,
        // and only what a run keeps is copied.
        let src = self.load(seed)?;
        if let Some(shape) = &self.input_shape {
            check_reshape(&src.train, shape)?;
            check_reshape(&src.test, shape)?;
        }
        let mut test = src.test.clone();
        let mut train = Cow::Borrowed(&src.train);
        if let Some(n) = self.subset {
            if n < train.len() {
                let idx: Vec<usize> = (0..n).collect();
                train = Cow::Owned(train.subset(&idx));
            }
        }
        let (mut train, mut val) = match self.validation_split {
            Some(f) => {
                let n = train.len();
                let (t, v) = train
                    .validation_split(f, seed ^ 0x005E_ED0F_5A11)
                    .map_err(|e| {
                        TrainError::Config(format!(
                            "[data] `validation_split` = {f} of {n} training example(s): {e}"
                        ))
                    })?;
                (t, Some(v))
            }
            None => (train.into_owned(), None),
        };
        if let Some(shape) = &self.input_shape {
            for d in [Some(&mut train), val.as_mut(), Some(&mut test)]
                .into_iter()
                .flatten()
            {
                d.shape = shape.clone();
            }
        }
        let fitted = match self.standardize {
            Standardize::Off => None,
            Standardize::Feature => Some(Standardizer::fit(&train)?),
            Standardize::Channel => Some(fit_per_channel(&train)?),
        };
        let standardizer = if let Some(st) = fitted {
            if let Some(v) = &mut val {
                st.apply(v)?;
            }
            st.apply(&mut test)?;
            Some(st)
        } else {
            None
        };
        let augmenter = match &self.augment {
            Some(c) => Some(Augmenter::new(*c, seed ^ 0xA06_3E47)?),
            None => None,
        };
        Ok(Prepared {
            train,
            val,
            test: (!test.is_empty()).then_some(test),
            standardizer,
            augmenter,
        })
    }

    fn load(&self, seed: u64) -> Result<Arc<Split>> {
        Ok(Arc::new(match &self.source {
            Source::Bundled(name) => {
                if self.download && data::DATASETS_REMOTE.contains(&name.as_str()) {
                    data::download(name, None, true)?;
                }
                return Ok(data::bundled::load_shared(name, None)?);
            }
            Source::Npz(path) => {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                data::bundled::npz_split(path, &name, None)?
            }
            Source::Idx(dir) => idx_dir(dir)?,
            Source::Csv {
                train,
                test,
                label_column,
            } => {
                let tr = data::csv::read_by(train, label_column)?;
                let te = match test {
                    Some(p) => data::csv::read_by(p, label_column)?,
                    None => tr.subset(&[]),
                };
                Split {
                    train: tr,
                    test: te,
                }
            }
            Source::Synthetic(name, s) => {
                let make = |n: usize, seed: u64| -> data::Result<Dataset> {
                    match name.as_str() {
                        "two_spirals" => data::two_spirals(n, s.noise, seed),
                        "moons" => data::moons(n, s.noise, seed),
                        "blobs" => data::blobs(n, s.centers, s.dim, s.std, seed),
                        _ => data::teacher_student(n, s.dim, s.hidden, s.dim_out, s.noise, seed),
                    }
                };
                // Teacher–student draws its teacher from the seed, so train and test must share
                // it: generate both sets at once and cut.
                let all = make(s.n + s.n_test, seed)?;
                let train: Vec<usize> = (0..s.n).collect();
                let test: Vec<usize> = (s.n..s.n + s.n_test).collect();
                Split {
                    train: all.subset(&train),
                    test: all.subset(&test),
                }
            }
        }))
    }
}

/// A [`Standardizer`] whose per-feature mean and std are those of each feature's channel: the
/// first axis of `[C, ...]` examples, all features of 1-D examples. Population std in f64; a
/// constant channel gets 1.
fn fit_per_channel(d: &Dataset) -> Result<Standardizer> {
    let f = d.features();
    if d.is_empty() || f == 0 {
        return Err(TrainError::Config(format!(
            "[data] standardize: dataset `{}` has no training examples to fit on",
            d.name
        )));
    }
    let channels = if d.shape.len() >= 2 { d.shape[0] } else { 1 };
    let per = f / channels;
    let (mut mean, mut std) = (vec![0.0f32; f], vec![1.0f32; f]);
    for c in 0..channels {
        let values =
            d.x.chunks_exact(f)
                .flat_map(|row| &row[c * per..(c + 1) * per]);
        let count = (d.len() * per) as f64;
        let m = values.clone().map(|&v| v as f64).sum::<f64>() / count;
        let var = values.map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / count;
        let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
        mean[c * per..(c + 1) * per].fill(m as f32);
        std[c * per..(c + 1) * per].fill(sd as f32);
    }
    Ok(Standardizer { mean, std })
}

/// Checks that `shape` holds as many values as an example of `d`.
fn check_reshape(d: &Dataset, shape: &[usize]) -> Result<()> {
    let Some(want) = shape.iter().try_fold(1usize, |a, &x| a.checked_mul(x)) else {
        return Err(TrainError::Config(format!(
            "[data] `input_shape` = {shape:?}: too large: its size overflows 64 bits (dataset `{}` has {} values per example)",
            d.name,
            d.features()
        )));
    };
    if want != d.features() {
        return Err(TrainError::Config(format!(
            "[data] `input_shape` = {shape:?} holds {want} values per example but dataset `{}` has {} (shape {:?})",
            d.name,
            d.features(),
            d.shape
        )));
    }
    Ok(())
}

/// MNIST-style IDX files in `dir`, gzipped or not.
fn idx_dir(dir: &Path) -> Result<Split> {
    let find = |stem: &str| -> Result<PathBuf> {
        for name in [format!("{stem}.gz"), stem.to_string()] {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
        Err(TrainError::file(
            dir,
            format!("no `{stem}` (or `{stem}.gz`) in this IDX directory"),
        ))
    };
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pair = |prefix: &str| -> Result<Dataset> {
        let img = find(&format!("{prefix}-images-idx3-ubyte"))?;
        let lab = find(&format!("{prefix}-labels-idx1-ubyte"))?;
        Ok(data::bundled::read_idx_pair(&img, &lab, &name, 10)?)
    };
    Ok(Split {
        train: pair("train")?,
        test: pair("t10k")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(src: &str) -> Result<DataConfig> {
        DataConfig::from_table("run.toml", &src.parse().unwrap(), Path::new("."))
    }

    #[test]
    fn bundled_with_validation_and_subset() {
        let c =
            cfg("dataset = \"digits\"\nvalidation_split = 0.2\nsubset = 500\nstandardize = true")
                .unwrap();
        let p = c.prepare(1).unwrap();
        assert_eq!(p.train.len() + p.val.as_ref().unwrap().len(), 500);
        assert_eq!(p.val.as_ref().unwrap().len(), 100);
        assert_eq!(p.test.as_ref().unwrap().len(), 360);
        assert_eq!(p.train.shape, vec![1, 8, 8]);
        // Test features are standardised with the training part's statistics.
        let st = p.standardizer.unwrap();
        assert_eq!(st.mean.len(), 64);
    }

    /// Regression: per-pixel standardisation plus shifts made the digits CNN crawl (val 91%
    /// instead of ~100%), because shifted ink lands on border pixels whose training std is
    /// tiny. `standardize = "channel"` uses one mean/std per channel instead.
    #[test]
    fn per_pixel_standardize_blows_up_shifted_ink_use_channel() {
        let c = cfg("dataset = \"digits\"\nstandardize = \"channel\"").unwrap();
        assert_eq!(c.standardize, Standardize::Channel);
        let raw = cfg("dataset = \"digits\"").unwrap().prepare(0).unwrap();
        let p = c.prepare(0).unwrap();
        let st = p.standardizer.as_ref().unwrap();
        // One pair for the single channel: the mean and std of every training pixel value.
        let n = raw.train.x.len() as f64;
        let m = raw.train.x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let sd = (raw
            .train
            .x
            .iter()
            .map(|&v| (v as f64 - m).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        assert!(st.mean.iter().all(|&x| (x as f64 - m).abs() < 1e-5), "{m}");
        assert!(st.std.iter().all(|&x| (x as f64 - sd).abs() < 1e-5), "{sd}");
        // The test set is standardised with it, so a 16 (full ink) anywhere maps to the same value.
        let t = p.test.as_ref().unwrap();
        let top = ((16.0 - m) / sd) as f32;
        let max = t.x.iter().cloned().fold(f32::MIN, f32::max);
        assert!((max - top).abs() < 1e-4, "{max} vs {top}");
        // Per-feature std of a nearly blank corner pixel is tiny: the value of full ink there
        // is many times larger than under per-channel statistics.
        let pf = cfg("dataset = \"digits\"\nstandardize = \"feature\"").unwrap();
        let stf = pf.prepare(0).unwrap().standardizer.unwrap();
        let worst = (0..64)
            .map(|i| (16.0 - stf.mean[i]) / stf.std[i])
            .fold(f32::MIN, f32::max);
        assert!(worst > 10.0 * top, "{worst} vs {top}");
        // Two channels of different scale each get their own statistics: [2, 2] examples
        // (1, 3 | 10, 30) and (3, 5 | 50, 70): channel 0 holds 1, 3, 3, 5 (mean 3, std √2),
        // channel 1 holds 10, 30, 50, 70 (mean 40, std √500).
        let two = Dataset::new(
            "two",
            vec![1.0, 3.0, 10.0, 30.0, 3.0, 5.0, 50.0, 70.0],
            vec![2, 2],
            data::Targets::Values {
                values: vec![0.0, 0.0],
                dim: 1,
            },
        )
        .unwrap();
        let st = fit_per_channel(&two).unwrap();
        assert_eq!(st.mean, [3.0, 3.0, 40.0, 40.0]);
        let (s0, s1) = (2f32.sqrt(), 500f32.sqrt());
        assert!(st
            .std
            .iter()
            .zip([s0, s0, s1, s1])
            .all(|(a, b)| (a - b).abs() < 1e-5));
        let e = cfg("dataset = \"digits\"\nstandardize = \"pixel\"").unwrap_err();
        assert!(e.to_string().contains("`standardize` = \"pixel\""), "{e}");
    }

    #[test]
    fn synthetic_and_reshape() {
        let c = cfg(
            "dataset = \"teacher_student\"\nn = 50\nn_test = 20\ndim = 4\ninput_shape = [2, 2]",
        )
        .unwrap();
        let p = c.prepare(0).unwrap();
        assert_eq!((p.train.len(), p.test.as_ref().unwrap().len()), (50, 20));
        assert_eq!(p.train.shape, vec![2, 2]);
        let e = cfg("dataset = \"moons\"\ninput_shape = [3]")
            .unwrap()
            .prepare(0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("input_shape") && e.contains("[3]"), "{e}");
    }

    /// The augmenter's bounds are checked when the config is read (naming the section), not
    /// first when the data is prepared.
    #[test]
    fn augmentation_bounds_are_config_errors() {
        for (aug, want) in [
            ("rotate_deg = 200.0", "rotate_deg = 200"),
            ("flip_p = 2.0", "`flip_p` = 2"),
            ("noise_std = -1.0", "`noise_std` = -1"),
        ] {
            let e = cfg(&format!("dataset = \"digits\"\n[augment]\n{aug}")).unwrap_err();
            let e = e.to_string();
            assert!(
                e.contains("[data.augment]") && e.contains(want),
                "{aug}: {e}"
            );
        }
    }

    /// A validation split that leaves no training example names `validation_split` (the data
    /// crate's argument is called `fraction`).
    #[test]
    fn a_split_that_leaves_no_training_example_names_the_field() {
        let e = cfg("dataset = \"digits\"\nsubset = 1\nvalidation_split = 0.1")
            .unwrap()
            .prepare(0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("`validation_split` = 0.1 of 1 training example"),
            "{e}"
        );
    }

    #[test]
    fn an_input_shape_whose_size_overflows_is_an_error_not_a_panic() {
        let e = cfg("dataset = \"moons\"\ninput_shape = [4294967296, 4294967296, 2]")
            .unwrap()
            .prepare(0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("`input_shape`") && e.contains("too large"),
            "{e}"
        );
    }

    /// A downloadable dataset that is not on disk (and `download` off) says how to get it.
    #[test]
    fn missing_download_says_how_to_get_it() {
        let c = cfg("dataset = \"cifar10\"").unwrap();
        assert!(!c.download);
        if let Err(e) = c.prepare(0) {
            let e = e.to_string();
            assert!(
                e.contains("gradlab data download cifar10") && e.contains("download = true"),
                "{e}"
            );
        }
        assert!(
            cfg("dataset = \"mnist\"\ndownload = true")
                .unwrap()
                .download
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (src, want) in [
            ("dataset = \"cifar\"", "`dataset` = \"cifar\""),
            ("dataset = \"digits\"\nbatch_size = 0", "batch_size"),
            (
                "dataset = \"digits\"\nvalidation_split = 1.5",
                "validation_split",
            ),
            ("dataset = \"digits\"\nbatchsize = 3", "`batchsize`"),
            ("dataset = \"digits\"\n[augment]\nrotate = 3", "`rotate`"),
            ("batch_size = 3", "missing `dataset`"),
        ] {
            let e = cfg(src).unwrap_err().to_string();
            assert!(e.contains(want) && e.starts_with("run.toml"), "{src}: {e}");
        }
        let e = cfg("dataset = \"missing.npz\"")
            .unwrap()
            .prepare(0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("missing.npz"), "{e}");
    }
}
