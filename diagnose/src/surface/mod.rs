//! The loss surface of a trained network along the path its training took (`gradlab landscape
//! --run DIR`): [`line`](mod@line) evaluates the loss on the straight line from the initial to
//! the final weights and beyond, [`slice`](mod@slice) a 2-D slice around the final weights in
//! filter-normalised random directions, [`trajectory`] the path training took on its top two
//! principal directions ([`pca`]) over the loss in that plane, and [`sharpness`] the extreme
//! Hessian eigenvalues at the final weights by the doctor's Lanczos.
//!
//! Runs do not store their initial weights: they are rebuilt from the run folder's
//! `config.toml` (data, model and seed), exactly as the run built them — every run is seeded, and
//! the test `diagnose/tests/surface.rs` checks the rebuilt weights against a run that could not
//! move (learning rate 0).

pub mod line;
pub mod pca;
pub mod sharpness;
pub mod slice;
pub mod trajectory;

pub use line::{interpolate, Line, LinePoint};
pub use sharpness::Sharpness;
pub use slice::Slice;
pub use trajectory::Trajectory;
