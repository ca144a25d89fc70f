//! What can go wrong: a config that does not say what to run, or an optimizer `optim` rejects.

#[derive(Debug, thiserror::Error)]
pub enum LandscapeError {
    /// A config that does not say what to run; the message names the table and field.
    #[error("{0}")]
    Config(String),
    /// `optim` rejected a table, or a step failed.
    #[error(transparent)]
    Optim(#[from] optim::OptimError),
}

pub type Result<T, E = LandscapeError> = std::result::Result<T, E>;
