use std::path::PathBuf;

use crate::data::Config;
use crate::error::Result;

use super::DataArg;
use super::train::{DatasetName, TrainArgs, learner, loaders};
use crate::models::Arch;

/// The options of `train` that shape the data and the model (not epochs, rates or saving).
#[derive(Debug, clap::Args)]
pub struct LrFindArgs {
    /// Architecture
    #[arg(long, value_enum, default_value = "simple-net")]
    pub model: Arch,
    /// Batch size [default: 256 for linear and simple-net; 64 for the resnets]
    #[arg(long)]
    pub bs: Option<usize>,
    /// Seed for the weights and the shuffling
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Data set used when --data is not given
    #[arg(long, value_enum, default_value = "mnist-sample")]
    pub dataset: DatasetName,
    #[command(flatten)]
    pub data: DataArg,
    /// Use at most this many training images (picked evenly)
    #[arg(long, value_name = "N")]
    pub max_train: Option<usize>,
    /// Normalise the resnets' inputs with the training set's statistics
    #[arg(long)]
    pub normalize: bool,
    /// Resize every image to N x N or HxW (as train)
    #[arg(long, value_name = "N|HxW", value_parser = super::train::parse_size)]
    pub size: Option<(usize, usize)>,
    /// crop, squish or pad (as train)
    #[arg(long, value_name = "METHOD", default_value = "crop", value_parser = super::train::parse_method)]
    pub resize_method: crate::data::ResizeMethod,
    /// Hold out this fraction for validation (as train)
    #[arg(long, value_name = "P")]
    pub valid_pct: Option<f64>,
    /// Skip unreadable files with a warning (as train)
    #[arg(long)]
    pub skip_bad: bool,
    /// Where to save the loss-vs-learning-rate plot (.png or .svg)
    #[arg(long, value_name = "FILE", default_value = "lr_find.png")]
    pub out: PathBuf,
    /// Number of batches in the sweep (from 1e-7 to 10)
    #[arg(long, default_value_t = 100)]
    pub num_it: usize,
}

pub fn run(cfg: &Config, args: &LrFindArgs) -> Result<()> {
    let t = &TrainArgs {
        bs: args.bs,
        seed: args.seed,
        dataset: args.dataset,
        data: args.data.clone(),
        max_train: args.max_train,
        normalize: args.normalize,
        size: args.size,
        resize_method: args.resize_method,
        valid_pct: args.valid_pct,
        skip_bad: args.skip_bad,
        ..TrainArgs::defaults(args.model)
    };
    let resolved = cfg.resolve_data(t.data.data.as_deref(), &t.dataset.data_set(), true)?;
    resolved.note_fallback();
    println!("data: {}", resolved.description);
    let device = cfg.device();
    device.seed(t.seed);
    let dls = loaders(cfg, &resolved, t)?;
    let found = learner(t.arch(), dls, &device).lr_find(1e-7, 10.0, args.num_it)?;
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
