//! `gradlab landscape` (being written).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`gradlab landscape` is not available yet")
}
