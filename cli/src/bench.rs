//! `gradlab bench` (being written).

#[derive(clap::Subcommand)]
pub enum What {
    /// Optimizer update throughput against a STREAM-style triad.
    Optimizers,
}

pub fn run(_what: What) -> anyhow::Result<()> {
    anyhow::bail!("`gradlab bench` is not available yet")
}
