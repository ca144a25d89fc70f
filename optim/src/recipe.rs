//! A named optimizer: a chain plus the group-level defaults it was configured with.

use crate::{Chain, Float};

/// What a named optimizer (`adam`, `sgd`, ...) builds: its chain, and the learning rate and
/// weight decay that become the defaults of every parameter group.
pub struct Recipe<F: Float> {
    pub name: String,
    pub chain: Chain<F>,
    pub lr: f64,
    pub weight_decay: f64,
}

impl<F: Float> std::fmt::Debug for Recipe<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (lr {}, weight_decay {}): {}",
            self.name,
            self.lr,
            self.weight_decay,
            self.chain.describe()
        )
    }
}
