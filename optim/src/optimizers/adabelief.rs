//! (being written)

use crate::hyper::Hyper;
use crate::{Float, OptimError, Recipe, Result};

pub fn build<F: Float>(name: &str, _h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    Err(OptimError::Invalid(format!("optimizer `{name}` is not available yet")))
}
