//! gradlab's data layer: loaders for IDX (gzipped or not), NPY/NPZ and CSV; the bundled datasets
//! by name; synthetic datasets; seeded shuffling, mini-batching, validation split,
//! standardisation; and augmentation of image batches.
//!
//! Every failure is a [`DataError`] naming the file (or parameter) and what is wrong; loaders
//! never panic on bad input.

pub mod augment;
pub mod bundled;
pub mod csv;
pub mod dataset;
pub mod error;
pub mod idx;
pub mod loader;
pub mod npy;
pub mod npz;
pub mod rng;
pub mod synthetic;

pub use augment::{AugmentConfig, Augmenter};
pub use bundled::{data_root, load, DATASETS};
pub use dataset::{Dataset, Split, Targets};
pub use error::{DataError, Result};
pub use loader::{Batch, Batches, Loader, Standardizer};
pub use synthetic::{blobs, moons, teacher_student, two_spirals};
