//! gradlab's data layer: loaders for IDX (gzipped or not), NPY/NPZ and CSV; the bundled datasets
//! by name; synthetic datasets; seeded shuffling, mini-batching, validation split,
//! standardisation; and augmentation of image batches.
//!
//! Every failure is a [`DataError`] naming the file (or parameter) and what is wrong; loaders
//! never panic on bad input, never allocate from a size a file claims before checking it against
//! what the file can hold and the machine's memory ([`limits`], [`memory`]), and never hand out
//! a non-finite value ([`finite`]).

pub mod augment;
pub mod bundled;
pub mod cifar;
pub mod csv;
pub mod dataset;
pub mod download;
pub mod error;
pub mod finite;
pub mod idx;
pub mod limits;
pub mod loader;
pub mod memory;
pub mod npy;
pub mod npz;
pub mod rng;
pub mod root;
pub mod synthetic;

pub use augment::{AugmentConfig, Augmenter};
pub use bundled::load;
pub use dataset::{Dataset, Split, Targets};
pub use download::{download, DATASETS_REMOTE};
pub use error::{DataError, Result};
pub use loader::{Batch, Batches, Loader, Standardizer};
pub use root::{data_root, download_root, DATASETS};
pub use synthetic::{blobs, moons, teacher_student, two_spirals};

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole pipeline on MNIST: load, carve a validation set, batch with a seeded shuffle,
    /// augment the training batches, standardise with statistics of the training part.
    #[test]
    fn mnist_pipeline() {
        let split = load("mnist-10k", None).unwrap();
        let (train, val) = split.train.validation_split(0.1, 3).unwrap();
        assert_eq!(
            (train.len(), val.len(), split.test.len()),
            (7200, 800, 2000)
        );
        let st = Standardizer::fit(&train).unwrap();
        let mut loader = Loader::new(train.len(), 128)
            .unwrap()
            .shuffled(5)
            .drop_last(true);
        let mut aug = Augmenter::new(
            AugmentConfig {
                rotate_deg: 10.0,
                shift: 2,
                flip_p: 0.0,
                noise_std: 0.05,
                fill: 0.0,
            },
            9,
        )
        .unwrap();
        let mut batch = Batch::for_dataset(&train, 128);
        let mut steps = 0;
        for (step, idx) in loader.epoch(0).enumerate() {
            batch.fill(&train, idx);
            let labels: Vec<u32> = idx.iter().map(|&i| train.labels().unwrap()[i]).collect();
            aug.apply(&mut batch, 0, step as u64).unwrap();
            st.apply_rows(&mut batch.x);
            assert_eq!(batch.shape, vec![1, 28, 28]);
            assert_eq!(batch.x.len(), 128 * 784);
            assert_eq!(batch.labels, labels);
            assert!(batch.x.iter().all(|v| v.is_finite()));
            steps += 1;
        }
        assert_eq!(steps, 7200 / 128);
    }
}
