use std::path::{Path, PathBuf};

use crate::data::{
    DataLoaders, DataSet, FolderOptions, ImageDataLoaders, Resolved, TensorDataset, URLs,
    resolve_data,
};
use crate::error::{Error, Result};
use crate::learner::{Learner, OptFunc, vision_learner};
use crate::loss::mnist_loss;
use crate::metrics::BATCH_ACCURACY;
use crate::models::{AnyModel, Arch, Model, resnet18, resnet34};

use super::DataArg;

/// Which data set `--data` defaults to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetName {
    /// 3s and 7s (fastai's MNIST_SAMPLE)
    MnistSample,
    /// all ten digits, 60,000 + 10,000 (fastai's MNIST, `mnist_png`)
    Mnist,
}

impl DatasetName {
    pub fn data_set(self) -> DataSet {
        match self {
            DatasetName::MnistSample => URLs::MNIST_SAMPLE,
            DatasetName::Mnist => URLs::MNIST,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Architecture
    #[arg(long, value_enum, default_value = "simple-net")]
    pub model: Arch,
    /// Epochs [default: 10 for linear, 40 for simple-net, 1 for the resnets, as the chapter]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate (the peak, with --one-cycle) [default: 1.0 linear, 0.1 otherwise]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Train with fastai's one-cycle schedule (always on for the resnets, as vision_learner
    /// is used with fit_one_cycle)
    #[arg(long)]
    pub one_cycle: bool,
    /// Batch size [default: 256 for linear and simple-net, as the chapter; 64 for the resnets]
    #[arg(long)]
    pub bs: Option<usize>,
    /// Seed for the weights and the shuffling: the same seed gives the same numbers
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Data set used when --data is not given
    #[arg(long, value_enum, default_value = "mnist-sample")]
    pub dataset: DatasetName,
    #[command(flatten)]
    pub data: DataArg,
    /// Use at most this many training images (picked evenly), for a quick run
    #[arg(long, value_name = "N")]
    pub max_train: Option<usize>,
    /// Use at most this many validation images (picked evenly)
    #[arg(long, value_name = "N")]
    pub max_valid: Option<usize>,
    /// Start from the weights of a model saved by --save (fastai's `learn.load`), e.g. to
    /// train it more with a second, gentler cycle; it must have the same architecture and classes
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Save the trained model here (written atomically)
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Print only the final accuracy: no epoch table, no progress bar
    #[arg(long, short)]
    pub quiet: bool,
    /// Normalise the resnets' inputs with the training set's mean and standard deviation (off
    /// by default, as fastai without pretrained weights; with --init, as the saved model was)
    #[arg(long)]
    pub normalize: bool,
}

impl TrainArgs {
    /// The chapter's defaults for `model`.
    pub fn defaults(model: Arch) -> Self {
        Self {
            model,
            epochs: None,
            lr: None,
            one_cycle: false,
            bs: None,
            seed: 42,
            dataset: DatasetName::MnistSample,
            data: DataArg { data: None },
            max_train: None,
            max_valid: None,
            init: None,
            save: None,
            quiet: false,
            normalize: false,
        }
    }
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let resolved = resolve_data(args.data.data.as_deref(), &args.dataset.data_set(), true)?;
    resolved.note_fallback();
    train_on(&resolved, args)
}

/// The data loaders `args` ask for: the chapter's 3-vs-7 tensors for the linear models, class
/// folders (any number of classes) for the resnets.
pub fn loaders(resolved: &Resolved, args: &TrainArgs) -> Result<DataLoaders<TensorDataset<4>>> {
    let device = crate::device();
    if args.model.is_vision() {
        // A model trained on normalised inputs goes on with inputs normalised the same way.
        let saved_normalized = match &args.init {
            Some(path) => crate::models::read_model_info(path)?.norm.is_some(),
            None => false,
        };
        let opts = FolderOptions {
            bs: args.bs.unwrap_or(64),
            seed: args.seed,
            max_train: args.max_train,
            max_valid: args.max_valid,
            normalize: args.normalize || saved_normalized,
            ..FolderOptions::default()
        };
        return ImageDataLoaders::from_folder(&resolved.path, &opts, &device);
    }
    if args.dataset == DatasetName::Mnist || args.max_train.is_some() || args.max_valid.is_some() {
        return Err(Error::Invalid(format!(
            "{} trains on MNIST_SAMPLE's 3s and 7s, as in the chapter; use --model resnet18 for \
             all ten digits or for --max-train/--max-valid",
            args.model.name()
        )));
    }
    DataLoaders::threes_and_sevens(&resolved.path, args.bs.unwrap_or(256), args.seed, &device)
}

/// Train on data already resolved (the main job resolves once for both of its steps).
pub fn train_on(resolved: &Resolved, args: &TrainArgs) -> Result<()> {
    let (epochs, lr) = match args.model {
        Arch::Linear => (args.epochs.unwrap_or(10), args.lr.unwrap_or(1.0)),
        Arch::SimpleNet => (args.epochs.unwrap_or(40), args.lr.unwrap_or(0.1)),
        Arch::Resnet18 | Arch::Resnet34 => (args.epochs.unwrap_or(1), args.lr.unwrap_or(0.1)),
    };
    if !(lr.is_finite() && lr > 0.0) || args.bs == Some(0) {
        return Err(Error::Invalid(
            "--lr must be a positive number and --bs at least 1".into(),
        ));
    }
    let one_cycle = args.one_cycle || args.model.is_vision();
    println!("data: {}", resolved.description);
    println!(
        "model: {}, {epochs} epochs, lr {lr}{}, seed {}",
        args.model.name(),
        if one_cycle { " (one-cycle)" } else { "" },
        args.seed
    );
    let device = crate::device();
    device.seed(args.seed);
    let dls = loaders(resolved, args)?;
    println!(
        "images: {} train, {} valid, classes {:?}, batch size {}",
        dls.train.dataset.x.dims()[0],
        dls.valid.dataset.x.dims()[0],
        dls.vocab,
        dls.train.bs
    );
    match args.model {
        Arch::Resnet18 => fit(
            vision_learner(dls, resnet18, &device),
            args,
            epochs,
            lr,
            one_cycle,
        ),
        Arch::Resnet34 => fit(
            vision_learner(dls, resnet34, &device),
            args,
            epochs,
            lr,
            one_cycle,
        ),
        arch => match arch.build(1, &device) {
            AnyModel::Linear(m) => fit(chapter_learner(dls, m), args, epochs, lr, one_cycle),
            AnyModel::SimpleNet(m) => fit(chapter_learner(dls, m), args, epochs, lr, one_cycle),
            AnyModel::ResNet(m) => fit(chapter_learner(dls, *m), args, epochs, lr, one_cycle),
        },
    }
}

/// The chapter's Learner: SGD, `mnist_loss`, `batch_accuracy`.
pub(super) fn chapter_learner<M: Model>(
    dls: DataLoaders<TensorDataset<4>>,
    model: M,
) -> Learner<M> {
    Learner::new(dls, model, OptFunc::SGD, mnist_loss, vec![BATCH_ACCURACY])
}

fn fit<M: Model>(
    mut learn: Learner<M>,
    args: &TrainArgs,
    epochs: usize,
    lr: f64,
    one_cycle: bool,
) -> Result<()> {
    learn.quiet(args.quiet);
    if let Some(path) = &args.init {
        start_from(&mut learn, args.model, path)?;
    }
    if one_cycle {
        learn.fit_one_cycle(epochs, lr)?;
    } else {
        learn.fit(epochs, lr)?;
    }
    if let Some(v) = learn.recorder.values.last() {
        println!("final accuracy {:.4}", v.metrics[0]);
    }
    if let Some(path) = &args.save {
        learn.save(args.model, path)?;
        println!("saved {}", path.display());
    }
    Ok(())
}

/// Load `path` into the learner's model, refusing a file trained for another architecture or
/// other classes (its weights would not fit, or its outputs would mean other labels).
fn start_from<M: Model>(learn: &mut Learner<M>, arch: Arch, path: &Path) -> Result<()> {
    let refuse = |what: String| Error::ModelFile {
        path: path.to_path_buf(),
        reason: format!(
            "{what}; pass --init a file saved by `fastburn train --save` with the same --model \
             and data"
        ),
    };
    let saved = crate::models::read_model_info(path)?;
    if saved.arch != arch {
        return Err(refuse(format!(
            "it holds a {} model, not {}",
            saved.arch.name(),
            arch.name()
        )));
    }
    if saved.vocab != learn.dls.vocab {
        return Err(refuse(format!(
            "its classes {:?} differ from the data's {:?}",
            saved.vocab, learn.dls.vocab
        )));
    }
    learn.load(path)?;
    println!("starting from {}", path.display());
    Ok(())
}
