//! `fastburn lr-find`: fastai's learning-rate finder on the data and model `train` would use.

use std::path::PathBuf;

use fastburn::data::Config;

use super::train::{LoaderOpts, loaders, resolve};
use crate::cli::{InputOpts, ModelOpts, SourceOpts, SplitOpts};

/// The options of `train` that shape the data and the model (not epochs, rates or saving).
#[derive(Debug, clap::Args)]
pub struct LrFindArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    #[command(flatten)]
    pub source: SourceOpts,
    #[command(flatten)]
    pub split: SplitOpts,
    #[command(flatten)]
    pub input: InputOpts,
    /// Where to save the loss-vs-learning-rate plot (.png or .svg)
    #[arg(long, value_name = "FILE", default_value = "lr_find.png")]
    pub out: PathBuf,
    /// Number of batches in the sweep (from 1e-7 to 10)
    #[arg(long, default_value_t = 100)]
    pub num_it: usize,
}

pub fn run(cfg: &Config, args: &LrFindArgs) -> anyhow::Result<()> {
    let resolved = resolve(cfg, &args.source)?;
    println!("data: {}", resolved.description);
    let device = cfg.device()?;
    device.seed(args.split.seed);
    let recipe = args.model.recipe(args.source.dataset);
    let dls = loaders(
        cfg,
        &resolved,
        &LoaderOpts {
            recipe: &recipe,
            source: &args.source,
            split: &args.split,
            input: &args.input,
            aug: None,
            saved: None,
            pretrained: false,
            progress: true,
        },
    )?;
    let found = recipe
        .learner(dls, &device)
        .lr_find(1e-7, 10.0, args.num_it)?;
    found.plot(&args.out)?;
    let (first, last) = (found.lrs.first().copied(), found.lrs.last().copied());
    println!(
        "tried {} learning rates from {:.1e} to {:.1e}",
        found.lrs.len(),
        first.unwrap_or_default(),
        last.unwrap_or_default()
    );
    println!("suggested lr (valley) {:.2e}", found.suggestion);
    let others: Vec<String> = found.suggestions.named()[1..]
        .iter()
        .map(|(name, s)| format!("{name} {:.2e}", s.lr))
        .collect();
    println!("other suggestions: {}", others.join(", "));
    println!("saved {}", args.out.display());
    Ok(())
}
