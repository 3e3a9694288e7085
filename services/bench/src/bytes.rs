//! (being built)

use crate::support::Output;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {}

impl Args {
    pub fn quick() -> Self {
        Self {}
    }
    pub fn full() -> Self {
        Self {}
    }
}

pub async fn run(_args: Args, _out: &Output) -> anyhow::Result<()> {
    anyhow::bail!("bytes: not built yet")
}
