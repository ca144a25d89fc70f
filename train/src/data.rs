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
//! standardize = false        # per-feature mean/std of the training part
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

use std::path::{Path, PathBuf};

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
        label_column: usize,
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
    pub standardize: bool,
    pub subset: Option<usize>,
    pub augment: Option<AugmentConfig>,
    /// Fetch a downloadable dataset (mnist, fashion-mnist, cifar10) when it is not on disk.
    pub download: bool,
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
                Source::Csv {
                    train: path,
                    test,
                    label_column: h.usize("label_column", 0)?,
                }
            } else if path.is_dir() {
                Source::Idx(path)
            } else {
                return Err(TrainError::Config(format!(
                    "{ctx}: `dataset` = {name:?}: not a bundled dataset ({}), a synthetic one ({}), an .npz/.csv file or an IDX directory",
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
        let standardize = h.bool("standardize", false)?;
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
        let Split { train, test } = self.load(seed)?;
        let (mut train, mut test) = (train, test);
        if let Some(shape) = &self.input_shape {
            train = reshape(train, shape)?;
            test = reshape(test, shape)?;
        }
        if let Some(n) = self.subset {
            if n < train.len() {
                let idx: Vec<usize> = (0..n).collect();
                train = train.subset(&idx);
            }
        }
        let (train, mut val) = match self.validation_split {
            Some(f) => {
                let (t, v) = train.validation_split(f, seed ^ 0x005E_ED0F_5A11)?;
                (t, Some(v))
            }
            None => (train, None),
        };
        let standardizer = if self.standardize {
            let st = Standardizer::fit(&train)?;
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

    fn load(&self, seed: u64) -> Result<Split> {
        Ok(match &self.source {
            Source::Bundled(name) => {
                if self.download && data::DATASETS_REMOTE.contains(&name.as_str()) {
                    data::download(name, None, true)?;
                }
                data::load(name, None)?
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
                let tr = data::csv::read(train, *label_column)?;
                let te = match test {
                    Some(p) => data::csv::read(p, *label_column)?,
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
        })
    }
}

fn reshape(mut d: Dataset, shape: &[usize]) -> Result<Dataset> {
    let want: usize = shape.iter().product();
    if want != d.features() {
        return Err(TrainError::Config(format!(
            "[data] `input_shape` = {shape:?} holds {want} values per example but dataset `{}` has {} (shape {:?})",
            d.name,
            d.features(),
            d.shape
        )));
    }
    d.shape = shape.to_vec();
    Ok(d)
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

    /// A downloadable dataset that is not on disk (and `download` off) says how to get it.
    #[test]
    fn missing_download_says_how_to_get_it() {
        let c = cfg("dataset = \"cifar10\"").unwrap();
        assert!(!c.download);
        if let Err(e) = c.prepare(0) {
            let e = e.to_string();
            assert!(e.contains("gradlab data download cifar10") && e.contains("download = true"), "{e}");
        }
        assert!(cfg("dataset = \"mnist\"\ndownload = true").unwrap().download);
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
