//! Seeded shuffling, mini-batching into reused buffers, validation split and standardisation.
//!
//! ```
//! use data::{Batch, Loader};
//! let train = data::moons(100, 0.1, 0).unwrap();
//! let mut loader = Loader::new(train.len(), 32).unwrap().shuffled(7).drop_last(true);
//! let mut batch = Batch::for_dataset(&train, 32);
//! for epoch in 0..2 {
//!     for indices in loader.epoch(epoch) {
//!         batch.fill(&train, indices); // no allocation once the buffers have grown
//!         assert_eq!(batch.len(), 32);
//!     }
//! }
//! ```

use crate::dataset::{Dataset, Split, Targets};
use crate::error::{DataError, Result};
use crate::rng::{permutation, rng};

/// Yields the example indices of each mini-batch of an epoch.
///
/// With a seed, epoch `e`'s order is a permutation drawn from ChaCha8 seeded by `seed` on stream
/// `e`: a pure function of `(seed, epoch)`, whatever epochs were drawn before. Without one the
/// order is `0..n`.
#[derive(Debug, Clone)]
pub struct Loader {
    batch_size: usize,
    drop_last: bool,
    seed: Option<u64>,
    order: Vec<usize>,
}

impl Loader {
    /// A loader over `n` examples in batches of `batch_size`, unshuffled, keeping a short last
    /// batch.
    pub fn new(n: usize, batch_size: usize) -> Result<Loader> {
        if batch_size == 0 {
            return Err(DataError::arg("batch_size", 0, "must be at least 1"));
        }
        Ok(Loader {
            batch_size,
            drop_last: false,
            seed: None,
            order: (0..n).collect(),
        })
    }

    /// Shuffles each epoch with `seed`.
    pub fn shuffled(mut self, seed: u64) -> Loader {
        self.seed = Some(seed);
        self
    }

    /// Drops the last batch of an epoch when it is shorter than `batch_size`.
    pub fn drop_last(mut self, drop: bool) -> Loader {
        self.drop_last = drop;
        self
    }

    /// Examples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.order.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The batches of epoch `epoch` (reorders in place: no allocation).
    pub fn epoch(&mut self, epoch: u64) -> Batches<'_> {
        match self.seed {
            Some(seed) => permutation(&mut rng(seed, epoch), &mut self.order),
            None => self.order.iter_mut().enumerate().for_each(|(i, o)| *o = i),
        }
        let count = self.num_batches();
        Batches {
            order: &self.order,
            batch_size: self.batch_size,
            next: 0,
            count,
        }
    }
}

/// Iterator over one epoch's batches of indices.
#[derive(Debug)]
pub struct Batches<'a> {
    order: &'a [usize],
    batch_size: usize,
    next: usize,
    count: usize,
}

impl<'a> Iterator for Batches<'a> {
    type Item = &'a [usize];

    fn next(&mut self) -> Option<&'a [usize]> {
        if self.next >= self.count {
            return None;
        }
        let start = self.next * self.batch_size;
        let end = (start + self.batch_size).min(self.order.len());
        self.next += 1;
        Some(&self.order[start..end])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let r = self.count - self.next;
        (r, Some(r))
    }
}

impl ExactSizeIterator for Batches<'_> {}

/// A gathered mini-batch; its buffers are reused by every [`Batch::fill`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Examples, row-major `[len, shape...]`.
    pub x: Vec<f32>,
    /// Labels (classification), `len` of them.
    pub labels: Vec<u32>,
    /// Targets (regression), row-major `[len, dim]`.
    pub values: Vec<f32>,
    /// Shape of one example.
    pub shape: Vec<usize>,
    len: usize,
}

impl Batch {
    /// An empty batch with room for `batch_size` examples of `data`.
    pub fn for_dataset(data: &Dataset, batch_size: usize) -> Batch {
        let (labels, values) = match &data.targets {
            Targets::Classes { .. } => (Vec::with_capacity(batch_size), Vec::new()),
            Targets::Values { dim, .. } => (Vec::new(), Vec::with_capacity(batch_size * dim)),
        };
        Batch {
            x: Vec::with_capacity(batch_size * data.features()),
            labels,
            values,
            shape: data.shape.clone(),
            len: 0,
        }
    }

    /// Number of examples in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the batch holds no example.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Values per example.
    pub fn features(&self) -> usize {
        self.shape.iter().product()
    }

    /// Copies the examples `indices` of `data` into this batch, reusing its buffers.
    pub fn fill(&mut self, data: &Dataset, indices: &[usize]) {
        let f = data.features();
        if self.shape != data.shape {
            self.shape.clear();
            self.shape.extend_from_slice(&data.shape);
        }
        self.x.clear();
        self.labels.clear();
        self.values.clear();
        for &i in indices {
            self.x.extend_from_slice(&data.x[i * f..(i + 1) * f]);
        }
        match &data.targets {
            Targets::Classes { labels, .. } => {
                self.labels.extend(indices.iter().map(|&i| labels[i]))
            }
            Targets::Values { values, dim } => {
                for &i in indices {
                    self.values
                        .extend_from_slice(&values[i * dim..(i + 1) * dim]);
                }
            }
        }
        self.len = indices.len();
    }
}

impl Dataset {
    /// Carves a validation set of `round(fraction · n)` examples (at least one) out of this
    /// dataset, chosen by a permutation seeded with `seed`; returns `(train, validation)`, each
    /// keeping the original order of its examples.
    pub fn validation_split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(DataError::arg("fraction", fraction, "must be in (0, 1)"));
        }
        let n = self.len();
        let n_val = ((fraction * n as f64).round() as usize).max(1);
        if n_val >= n {
            return Err(DataError::arg(
                "fraction",
                fraction,
                format!("leaves no training example out of {n}"),
            ));
        }
        let mut order = vec![0; n];
        permutation(&mut rng(seed, u64::MAX), &mut order);
        let (val, train) = order.split_at_mut(n_val);
        val.sort_unstable();
        train.sort_unstable();
        let mut t = self.subset(train);
        let mut v = self.subset(val);
        t.name = format!("{}/train", self.name);
        v.name = format!("{}/validation", self.name);
        Ok((t, v))
    }

    /// Like [`Dataset::validation_split`], but stratified: each class gives
    /// `round(fraction · count)` of its examples (keeping at least one in training), so the
    /// validation set has the class proportions of the whole. Needs class labels.
    pub fn stratified_split(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(DataError::arg("fraction", fraction, "must be in (0, 1)"));
        }
        let (Some(labels), Some(k)) = (self.labels(), self.num_classes()) else {
            return Err(DataError::shape(
                &self.name,
                "a stratified split needs class labels (this is a regression set)",
            ));
        };
        let mut order = vec![0; self.len()];
        permutation(&mut rng(seed, u64::MAX - 1), &mut order);
        let counts = self.class_counts().unwrap_or_default();
        let quota: Vec<usize> = counts
            .iter()
            .map(|&m| ((fraction * m as f64).round() as usize).min(m.saturating_sub(1)))
            .collect();
        let mut taken = vec![0usize; k];
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for i in order {
            let c = labels[i] as usize;
            if taken[c] < quota[c] {
                taken[c] += 1;
                val.push(i);
            } else {
                train.push(i);
            }
        }
        if val.is_empty() {
            return Err(DataError::arg(
                "fraction",
                fraction,
                format!("selects no validation example from class counts {counts:?}"),
            ));
        }
        val.sort_unstable();
        train.sort_unstable();
        let mut t = self.subset(&train);
        let mut v = self.subset(&val);
        t.name = format!("{}/train", self.name);
        v.name = format!("{}/validation", self.name);
        Ok((t, v))
    }
}

/// Per-feature standardisation `(x - mean) / std`, fitted on a training set.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Per-feature mean.
    pub mean: Vec<f32>,
    /// Per-feature population standard deviation; a constant feature gets 1.
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits means and standard deviations (population, as scikit-learn's StandardScaler) of
    /// every feature of `data`, accumulated in f64.
    pub fn fit(data: &Dataset) -> Result<Standardizer> {
        let n = data.len();
        if n == 0 {
            return Err(DataError::shape(
                &data.name,
                "cannot fit a standardizer on no examples",
            ));
        }
        let f = data.features();
        let mut mean = vec![0.0f64; f];
        for row in data.x.chunks_exact(f) {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0.0f64; f];
        for row in data.x.chunks_exact(f) {
            var.iter_mut()
                .zip(row.iter().zip(&mean))
                .for_each(|(s, (&v, &m))| *s += (v as f64 - m).powi(2));
        }
        Ok(Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var
                .iter()
                .map(|&s| {
                    let sd = (s / n as f64).sqrt();
                    if sd > 0.0 {
                        sd as f32
                    } else {
                        1.0
                    }
                })
                .collect(),
        })
    }

    /// Standardises `data` in place; its feature count must match the fitted one.
    pub fn apply(&self, data: &mut Dataset) -> Result<()> {
        if data.features() != self.mean.len() {
            return Err(DataError::shape(
                &data.name,
                format!(
                    "{} features, the standardizer was fitted on {}",
                    data.features(),
                    self.mean.len()
                ),
            ));
        }
        self.apply_rows(&mut data.x);
        Ok(())
    }

    /// Standardises rows of features in place (e.g. a [`Batch`]'s `x`).
    pub fn apply_rows(&self, x: &mut [f32]) {
        for row in x.chunks_exact_mut(self.mean.len()) {
            row.iter_mut()
                .zip(self.mean.iter().zip(&self.std))
                .for_each(|(v, (&m, &s))| *v = (*v - m) / s);
        }
    }

    /// Undoes [`Standardizer::apply_rows`].
    pub fn invert_rows(&self, x: &mut [f32]) {
        for row in x.chunks_exact_mut(self.mean.len()) {
            row.iter_mut()
                .zip(self.mean.iter().zip(&self.std))
                .for_each(|(v, (&m, &s))| *v = *v * s + m);
        }
    }
}

impl Split {
    /// Fits a [`Standardizer`] on the training set and applies it to both sets.
    pub fn standardize(&mut self) -> Result<Standardizer> {
        let s = Standardizer::fit(&self.train)?;
        s.apply(&mut self.train)?;
        s.apply(&mut self.test)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Dataset {
        Dataset::new(
            "ramp",
            (0..2 * n).map(|v| v as f32).collect(),
            vec![2],
            Targets::Classes {
                labels: (0..n as u32).map(|i| i % 3).collect(),
                num_classes: 3,
            },
        )
        .unwrap()
    }

    fn epoch_order(l: &mut Loader, e: u64) -> Vec<Vec<usize>> {
        l.epoch(e).map(|b| b.to_vec()).collect()
    }

    #[test]
    fn batches_cover_each_example_once() {
        let mut l = Loader::new(10, 4).unwrap();
        assert_eq!(l.num_batches(), 3);
        assert_eq!(
            epoch_order(&mut l, 0),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
        );
        let mut l = Loader::new(10, 4).unwrap().drop_last(true).shuffled(3);
        assert_eq!(l.num_batches(), 2);
        let b = epoch_order(&mut l, 0);
        assert_eq!(b.len(), 2);
        assert!(b.iter().all(|b| b.len() == 4));
        let mut l = Loader::new(10, 3).unwrap().shuffled(3);
        let mut all: Vec<usize> = epoch_order(&mut l, 5).concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(l.epoch(0).len(), 4);
        assert!(Loader::new(10, 0).is_err());
    }

    #[test]
    fn shuffle_is_a_function_of_seed_and_epoch() {
        let mut a = Loader::new(50, 8).unwrap().shuffled(11);
        let mut b = Loader::new(50, 8).unwrap().shuffled(11);
        let a0 = epoch_order(&mut a, 0);
        let a1 = epoch_order(&mut a, 1);
        // b draws epoch 1 first: same as a's epoch 1 regardless of history.
        assert_eq!(epoch_order(&mut b, 1), a1);
        assert_eq!(epoch_order(&mut b, 0), a0);
        assert_ne!(a0, a1);
        let mut c = Loader::new(50, 8).unwrap().shuffled(12);
        assert_ne!(epoch_order(&mut c, 0), a0);
    }

    #[test]
    fn batch_buffers_are_reused() {
        let d = ramp(10);
        let mut l = Loader::new(10, 4).unwrap().shuffled(1);
        let mut batch = Batch::for_dataset(&d, 4);
        let ptr = batch.x.as_ptr();
        let lptr = batch.labels.as_ptr();
        let mut seen = 0;
        for e in 0..3 {
            for idx in l.epoch(e) {
                batch.fill(&d, idx);
                assert_eq!(batch.len(), idx.len());
                for (k, &i) in idx.iter().enumerate() {
                    assert_eq!(&batch.x[2 * k..2 * k + 2], d.example(i));
                    assert_eq!(batch.labels[k], (i % 3) as u32);
                }
                assert_eq!(batch.x.as_ptr(), ptr);
                assert_eq!(batch.labels.as_ptr(), lptr);
                seen += idx.len();
            }
        }
        assert_eq!(seen, 30);
        // Regression targets.
        let t = crate::teacher_student(6, 3, 4, 2, 0.0, 0).unwrap();
        let mut b = Batch::for_dataset(&t, 2);
        b.fill(&t, &[5, 1]);
        let Targets::Values { values, .. } = &t.targets else {
            unreachable!()
        };
        assert_eq!(b.values, [&values[10..12], &values[2..4]].concat());
        assert!(b.labels.is_empty());
    }

    #[test]
    fn validation_split_partitions() {
        let d = ramp(20);
        let (t, v) = d.validation_split(0.25, 4).unwrap();
        assert_eq!((t.len(), v.len()), (15, 5));
        let mut firsts: Vec<f32> = t.x.chunks(2).chain(v.x.chunks(2)).map(|r| r[0]).collect();
        firsts.sort_by(f32::total_cmp);
        assert_eq!(firsts, (0..20).map(|i| 2.0 * i as f32).collect::<Vec<_>>());
        assert_eq!(d.validation_split(0.25, 4).unwrap(), (t.clone(), v.clone()));
        assert_ne!(d.validation_split(0.25, 5).unwrap().1, v);
        assert!(d.validation_split(0.0, 0).is_err());
        assert!(d.validation_split(1.0, 0).is_err());
        assert_eq!(d.validation_split(0.001, 0).unwrap().1.len(), 1);
    }

    #[test]
    fn stratified_split_keeps_proportions() {
        let d = crate::load("digits", None).unwrap().train;
        let (t, v) = d.stratified_split(0.2, 1).unwrap();
        assert_eq!(t.len() + v.len(), d.len());
        let all = d.class_counts().unwrap();
        for (c, (&vc, &ac)) in v.class_counts().unwrap().iter().zip(&all).enumerate() {
            assert_eq!(vc, (0.2 * ac as f64).round() as usize, "class {c}");
        }
        assert_eq!(d.stratified_split(0.2, 1).unwrap().1, v);
        assert_ne!(d.stratified_split(0.2, 2).unwrap().1, v);
        let reg = crate::teacher_student(10, 2, 3, 1, 0.0, 0).unwrap();
        assert!(reg.stratified_split(0.2, 0).is_err());
        assert!(ramp(3).stratified_split(0.1, 0).is_err());
    }

    #[test]
    fn standardizer() {
        let mut s = Split {
            train: Dataset::new(
                "tr",
                vec![1.0, 5.0, 3.0, 5.0],
                vec![2],
                Targets::Values {
                    values: vec![0.0, 0.0],
                    dim: 1,
                },
            )
            .unwrap(),
            test: Dataset::new(
                "te",
                vec![4.0, 7.0],
                vec![2],
                Targets::Values {
                    values: vec![0.0],
                    dim: 1,
                },
            )
            .unwrap(),
        };
        let st = s.standardize().unwrap();
        assert_eq!(st.mean, vec![2.0, 5.0]);
        assert_eq!(st.std, vec![1.0, 1.0]); // feature 1 is constant: std 0 → 1
        assert_eq!(s.train.x, vec![-1.0, 0.0, 1.0, 0.0]);
        assert_eq!(s.test.x, vec![2.0, 2.0]);
        let mut x = s.test.x.clone();
        st.invert_rows(&mut x);
        assert_eq!(x, vec![4.0, 7.0]);
        assert!(st.apply(&mut ramp(2)).is_ok());
        let mut wrong = crate::blobs(4, 2, 3, 1.0, 0).unwrap();
        assert!(st
            .apply(&mut wrong)
            .unwrap_err()
            .to_string()
            .contains("3 features"));
        // On real data: standardized train has mean 0, std 1 per non-constant feature.
        let mut d = crate::load("digits", None).unwrap();
        let st = d.standardize().unwrap();
        let n = d.train.len() as f64;
        for j in 0..64 {
            let col: Vec<f64> = d
                .train
                .x
                .iter()
                .skip(j)
                .step_by(64)
                .map(|&v| v as f64)
                .collect();
            let m = col.iter().sum::<f64>() / n;
            let sd = (col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt();
            assert!(m.abs() < 1e-5, "{j} {m}");
            assert!(
                (sd - 1.0).abs() < 1e-4 || (st.std[j] == 1.0 && sd == 0.0),
                "{j} {sd}"
            );
        }
    }
}
