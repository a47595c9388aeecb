use std::path::PathBuf;

use crate::data::{DataLoaders, Resolved, URLs, resolve_data};
use crate::error::{Error, Result};
use crate::learner::{Learner, OptFunc};
use crate::loss::mnist_loss;
use crate::metrics::BATCH_ACCURACY;
use crate::models::{AnyModel, Arch, Model};

use super::DataArg;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Architecture
    #[arg(long, value_enum, default_value = "simple-net")]
    pub model: Arch,
    /// Epochs [default: 10 for linear, 40 for simple-net, as the chapter]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate [default: 1.0 for linear, 0.1 for simple-net, as the chapter]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Batch size
    #[arg(long, default_value_t = 256)]
    pub bs: usize,
    /// Seed for the weights and the shuffling: the same seed gives the same numbers
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub data: DataArg,
    /// Save the trained model here (written atomically)
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Print only the final accuracy, not the epoch table
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let resolved = resolve_data(args.data.data.as_deref(), &URLs::MNIST_SAMPLE, true)?;
    super::baseline::note_fallback(&resolved);
    train_on(&resolved, args)
}

/// Train on data already resolved (the main job resolves once for both of its steps).
pub fn train_on(resolved: &Resolved, args: &TrainArgs) -> Result<()> {
    let (epochs, lr) = match args.model {
        Arch::Linear => (args.epochs.unwrap_or(10), args.lr.unwrap_or(1.0)),
        Arch::SimpleNet => (args.epochs.unwrap_or(40), args.lr.unwrap_or(0.1)),
    };
    if !(lr.is_finite() && lr > 0.0) || args.bs == 0 {
        return Err(Error::Invalid(
            "--lr must be a positive number and --bs at least 1".into(),
        ));
    }
    println!("data: {}", resolved.description);
    println!(
        "model: {}, {epochs} epochs, lr {lr}, bs {}, seed {}",
        args.model.name(),
        args.bs,
        args.seed
    );
    let device = crate::device();
    device.seed(args.seed);
    let dls = DataLoaders::threes_and_sevens(&resolved.path, args.bs, args.seed, &device)?;
    match args.model.build(1, &device) {
        AnyModel::Linear(m) => fit(dls, m, args, epochs, lr),
        AnyModel::SimpleNet(m) => fit(dls, m, args, epochs, lr),
    }
}

fn fit<M: Model>(
    dls: DataLoaders<crate::data::TensorDataset<4>>,
    model: M,
    args: &TrainArgs,
    epochs: usize,
    lr: f64,
) -> Result<()> {
    let mut learn = Learner::new(dls, model, OptFunc::SGD, mnist_loss, vec![BATCH_ACCURACY]);
    learn.quiet(args.quiet);
    learn.fit(epochs, lr)?;
    if let Some(v) = learn.recorder.values.last() {
        println!("final accuracy {:.4}", v.metrics[0]);
    }
    if let Some(path) = &args.save {
        learn.save(args.model, path)?;
        println!("saved {}", path.display());
    }
    Ok(())
}
