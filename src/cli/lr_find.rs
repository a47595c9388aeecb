use std::path::PathBuf;

use crate::data::Config;
use crate::error::Result;

use super::train::{TrainArgs, learner, loaders};

#[derive(Debug, clap::Args)]
pub struct LrFindArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Where to save the loss-vs-learning-rate plot (.png or .svg)
    #[arg(long, value_name = "FILE", default_value = "lr_find.png")]
    pub out: PathBuf,
    /// Number of batches in the sweep (from 1e-7 to 10)
    #[arg(long, default_value_t = 100)]
    pub num_it: usize,
}

pub fn run(cfg: &Config, args: &LrFindArgs) -> Result<()> {
    let t = &args.train;
    let resolved = cfg.resolve_data(t.data.data.as_deref(), &t.dataset.data_set(), true)?;
    resolved.note_fallback();
    println!("data: {}", resolved.description);
    let device = cfg.device();
    device.seed(t.seed);
    let dls = loaders(cfg, &resolved, t)?;
    let found = learner(t.model, dls, &device).lr_find(1e-7, 10.0, args.num_it)?;
    found.plot(&args.out)?;
    let (first, last) = (found.lrs.first().copied(), found.lrs.last().copied());
    println!(
        "tried {} learning rates from {:.1e} to {:.1e}",
        found.lrs.len(),
        first.unwrap_or_default(),
        last.unwrap_or_default()
    );
    println!("suggested lr (valley) {:.2e}", found.suggestion);
    println!("saved {}", args.out.display());
    Ok(())
}
