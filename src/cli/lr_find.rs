use std::path::PathBuf;

use crate::data::resolve_data;
use crate::error::Result;
use crate::learner::{LrFind, vision_learner};
use crate::models::{AnyModel, Arch, resnet18, resnet34};

use super::train::{TrainArgs, chapter_learner, loaders};

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

pub fn run(args: &LrFindArgs) -> Result<()> {
    let t = &args.train;
    let resolved = resolve_data(t.data.data.as_deref(), &t.dataset.data_set(), true)?;
    resolved.note_fallback();
    println!("data: {}", resolved.description);
    let device = crate::device();
    device.seed(t.seed);
    let dls = loaders(&resolved, t)?;
    let (from, to, n) = (1e-7, 10.0, args.num_it);
    let found: LrFind = match t.model {
        Arch::Resnet18 => vision_learner(dls, resnet18, &device).lr_find(from, to, n)?,
        Arch::Resnet34 => vision_learner(dls, resnet34, &device).lr_find(from, to, n)?,
        arch => match arch.build(1, &device) {
            AnyModel::Linear(m) => chapter_learner(dls, m).lr_find(from, to, n)?,
            AnyModel::SimpleNet(m) => chapter_learner(dls, m).lr_find(from, to, n)?,
            AnyModel::ResNet(m) => chapter_learner(dls, *m).lr_find(from, to, n)?,
        },
    };
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
