use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::data::{
    AnyImageDataset, AugTransforms, Config, DataLoaders, DataSet, Dataset, FolderOptions,
    ImageDataLoaders, ResizeMethod, Resolved, URLs, aug_transforms,
};
use crate::error::{Error, Result};
use crate::learner::{CheckpointCallback, InterruptCallback, Learner, OptFunc};
use crate::loss::{cross_entropy, mnist_loss};
use crate::metrics::{ACCURACY, BATCH_ACCURACY};
use crate::models::{AnyModel, Arch, Model};

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
    /// Architecture [default: simple-cnn for --dataset mnist (the all-digits recipe),
    /// simple-net otherwise (the chapter)]
    #[arg(long, value_enum)]
    pub model: Option<Arch>,
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
    /// No epoch table and no progress bar: the lines that say what is trained on what, then the
    /// final accuracy
    #[arg(long, short)]
    pub quiet: bool,
    /// Write a checkpoint (model, optimizer, schedule position, RNG, history) into DIR after
    /// every epoch and every --checkpoint-every minutes; Ctrl-C then finishes the batch, writes
    /// one and stops
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Minutes between checkpoints within an epoch
    #[arg(long, value_name = "MINUTES", default_value_t = 10.0)]
    pub checkpoint_every: f64,
    /// Continue the run whose checkpoint is in --checkpoint DIR (the same command otherwise);
    /// it ends exactly as the uninterrupted run would have
    #[arg(long)]
    pub resume: bool,
    /// Resize every image to N x N (or HxW, e.g. 48x64), fastai's `Resize(N)`; without it all
    /// images must have one size
    #[arg(long, value_name = "N|HxW", value_parser = parse_size)]
    pub size: Option<(usize, usize)>,
    /// How --size is reached: crop (random crops in training, the centre in validation), squish
    /// or pad (by reflection)
    #[arg(long, value_name = "METHOD", default_value = "crop", value_parser = parse_method)]
    pub resize_method: ResizeMethod,
    /// Hold out this fraction of the images for validation, at random from --seed (used anyway,
    /// at 0.2, when the folder has no train/ and valid/ folders)
    #[arg(long, value_name = "P")]
    pub valid_pct: Option<f64>,
    /// Augment training batches with fastai's aug_transforms (flip, rotate, zoom, warp,
    /// lighting); --aug digits: small rotations and zooms, no flips (a flipped digit is another
    /// symbol)
    #[arg(long, value_name = "KIND", num_args = 0..=1, default_missing_value = "photos", value_parser = ["photos", "digits"])]
    pub aug: Option<String>,
    /// Skip files that cannot be decoded, with a warning each, instead of stopping
    #[arg(long)]
    pub skip_bad: bool,
    /// Train with fastai's LabelSmoothingCrossEntropy (eps 0.1) instead of cross-entropy (on in
    /// the --dataset mnist recipe)
    #[arg(long)]
    pub label_smoothing: bool,
    /// Normalise the resnets' inputs with the training set's mean and standard deviation (off
    /// by default, as fastai without pretrained weights; with --init, as the saved model was)
    #[arg(long)]
    pub normalize: bool,
}

/// The all-digits recipe (`fastburn train --dataset mnist`): chosen by the measurements in
/// bench/README.md ("All ten digits").
/// `simple_cnn`, fastai's Adam, one cycle of 4 epochs peaking at lr 0.02, batches of 256,
/// label smoothing 0.1, no augmentation.
pub const RECIPE_EPOCHS: usize = 4;
pub const RECIPE_LR: f64 = 0.02;
pub const RECIPE_BS: usize = 256;

impl TrainArgs {
    /// The architecture: `--model`, else the data set's default.
    pub fn arch(&self) -> Arch {
        self.model.unwrap_or(match self.dataset {
            DatasetName::Mnist => Arch::SimpleCnn,
            DatasetName::MnistSample => Arch::SimpleNet,
        })
    }

    /// The chapter's defaults for `model`.
    pub fn defaults(model: Arch) -> Self {
        Self {
            model: Some(model),
            size: None,
            resize_method: ResizeMethod::Crop,
            valid_pct: None,
            aug: None,
            skip_bad: false,
            label_smoothing: false,
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
            checkpoint: None,
            checkpoint_every: 10.0,
            resume: false,
        }
    }
}

pub fn run(cfg: &Config, args: &TrainArgs) -> Result<()> {
    // Only MNIST_SAMPLE may fall back to the embedded sample (the same 3s and 7s, fewer):
    // all ten digits must never silently become two.
    let resolved = cfg.resolve_data(args.data.data.as_deref(), &args.dataset.data_set(), true)?;
    resolved.note_fallback();
    train_on(cfg, &resolved, args)
}

/// The data loaders `args` ask for: the chapter's 3-vs-7 tensors for the linear models, class
/// folders of any images (any number of classes) for the convolutional ones.
pub fn loaders(
    cfg: &Config,
    resolved: &Resolved,
    args: &TrainArgs,
) -> Result<DataLoaders<AnyImageDataset>> {
    let device = cfg.device();
    let arch = args.arch();
    if arch.is_vision() {
        // A model trained on normalised inputs goes on with inputs normalised the same way, and
        // with its channels and size.
        let saved = match &args.init {
            Some(path) => Some(crate::models::read_model_info(path)?),
            None => None,
        };
        let recipe = args.dataset == DatasetName::Mnist && args.model.is_none();
        let aug = match args.aug.as_deref() {
            Some("digits") => Some(AugTransforms::digits()),
            Some(_) => Some(aug_transforms()),
            None => None,
        };
        let opts = FolderOptions {
            bs: args.bs.unwrap_or(if recipe { RECIPE_BS } else { 64 }),
            seed: args.seed,
            max_train: args.max_train,
            max_valid: args.max_valid,
            normalize: args.normalize,
            norm: saved.as_ref().and_then(|s| s.norm.clone()),
            channels: saved.as_ref().map(|s| s.item_tfms.channels),
            size: args
                .size
                .or_else(|| saved.as_ref().and_then(|s| s.item_tfms.size)),
            method: args.resize_method,
            valid_pct: args.valid_pct,
            aug,
            skip_bad: args.skip_bad,
            progress: !args.quiet,
            ..FolderOptions::default()
        };
        return Ok(ImageDataLoaders::from_folder(&resolved.path, &opts, &device)?.boxed());
    }
    if args.dataset == DatasetName::Mnist || args.max_train.is_some() || args.max_valid.is_some() {
        return Err(Error::Invalid(format!(
            "{} trains on MNIST_SAMPLE's 3s and 7s, as in the chapter; use --model resnet18 or \
             simple-cnn for all ten digits, your own images or --max-train/--max-valid",
            arch.name()
        )));
    }
    if args.size.is_some() || args.valid_pct.is_some() || args.aug.is_some() {
        return Err(Error::Invalid(format!(
            "{} takes the chapter's 28x28 digits as they are; --size, --valid-pct and --aug are \
             for --model resnet18, resnet34 or simple-cnn",
            arch.name()
        )));
    }
    Ok(
        DataLoaders::threes_and_sevens(&resolved.path, args.bs.unwrap_or(256), args.seed, &device)?
            .boxed(),
    )
}

/// `--size`: `N` (square) or `HxW`.
pub(crate) fn parse_size(s: &str) -> std::result::Result<(usize, usize), String> {
    let n = |v: &str| {
        v.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| (1..=16_384).contains(&n))
            .ok_or_else(|| format!("{s:?} is not a size: give N (e.g. 64) or HxW (e.g. 48x64)"))
    };
    match s.split_once(['x', 'X']) {
        Some((h, w)) => Ok((n(h)?, n(w)?)),
        None => n(s).map(|v| (v, v)),
    }
}

pub(crate) fn parse_method(s: &str) -> std::result::Result<ResizeMethod, String> {
    s.parse()
}

/// The learner for `args.model` on `dls`: the chapter's (SGD, `mnist_loss`, `batch_accuracy`)
/// for the linear models, `vision_learner`'s (fastai's Adam, cross-entropy, accuracy) for the
/// resnets. Weights are drawn from the device's generator, seeded by the caller.
pub fn learner(
    arch: Arch,
    dls: DataLoaders<AnyImageDataset>,
    device: &burn::prelude::Device,
) -> Learner<AnyModel> {
    if arch.is_vision() {
        let model = arch.build_for(dls.item_tfms.channels, dls.vocab.len(), device);
        Learner::new(dls, model, OptFunc::ADAM, cross_entropy, vec![ACCURACY])
    } else {
        let model = arch.build(1, device);
        Learner::new(dls, model, OptFunc::SGD, mnist_loss, vec![BATCH_ACCURACY])
    }
}

/// Train on data already resolved (the main job resolves once for both of its steps).
pub fn train_on(cfg: &Config, resolved: &Resolved, args: &TrainArgs) -> Result<()> {
    let arch = args.arch();
    let recipe = args.dataset == DatasetName::Mnist && args.model.is_none();
    let (epochs, lr) = match arch {
        _ if recipe => (
            args.epochs.unwrap_or(RECIPE_EPOCHS),
            args.lr.unwrap_or(RECIPE_LR),
        ),
        Arch::Linear => (args.epochs.unwrap_or(10), args.lr.unwrap_or(1.0)),
        Arch::SimpleNet => (args.epochs.unwrap_or(40), args.lr.unwrap_or(0.1)),
        Arch::Resnet18 | Arch::Resnet34 => (args.epochs.unwrap_or(1), args.lr.unwrap_or(0.1)),
        Arch::SimpleCnn => (args.epochs.unwrap_or(1), args.lr.unwrap_or(0.1)),
    };
    if !(lr.is_finite() && lr > 0.0) || args.bs == Some(0) || epochs == 0 {
        return Err(Error::Invalid(
            "--lr must be a positive number, --bs and --epochs at least 1".into(),
        ));
    }
    if args.resume && args.checkpoint.is_none() {
        return Err(Error::Invalid(
            "--resume needs --checkpoint DIR (the folder the interrupted run wrote)".into(),
        ));
    }
    let one_cycle = args.one_cycle || arch.is_vision();
    println!("data: {}", resolved.description);
    println!(
        "model: {}, {epochs} epochs, lr {lr}{}{}, seed {}",
        arch.name(),
        if one_cycle { " (one-cycle)" } else { "" },
        if arch.is_vision() && (args.label_smoothing || recipe) {
            ", label smoothing 0.1"
        } else {
            ""
        },
        args.seed
    );
    let device = cfg.device();
    device.seed(args.seed);
    let data_path = resolved.path.clone();
    let dls = loaders(cfg, resolved, args)?;
    if dls.vocab.len() < 2 {
        // A model of one class is always right and learns nothing: most likely the folder's
        // layout is not what the user meant.
        return Err(Error::Invalid(format!(
            "{}: its training images have one class ({:?}); a classifier needs two or more: put \
             each class's images in a folder named after it (<class>/, or train/<class>/ and \
             valid/<class>/)",
            data_path.display(),
            dls.vocab
        )));
    }
    let (c, size) = (dls.item_tfms.channels, dls.item_tfms.size);
    println!(
        "images: {} train, {} valid, classes {:?}, batch size {}{}",
        dls.train.dataset.len(),
        dls.valid.dataset.len(),
        dls.vocab,
        dls.train.bs,
        match size {
            Some((h, w)) => format!(", {} {h}x{w}", if c == 1 { "grey" } else { "colour" }),
            None => String::new(),
        }
    );
    let mut learn = learner(arch, dls, &device);
    if arch.is_vision() && (args.label_smoothing || recipe) {
        learn.loss_func = crate::loss::label_smoothing_cross_entropy;
    }
    learn.quiet(args.quiet);
    if let Some(path) = &args.init {
        start_from(&mut learn, arch, path)?;
    }
    if let Some(dir) = &args.checkpoint {
        let path = dir.join(CHECKPOINT_FILE);
        if args.resume {
            if !path.is_file() {
                return Err(Error::MissingFolder {
                    path,
                    fix: "no checkpoint there; run the command without --resume to start".into(),
                });
            }
            learn.resume(&path)?;
            println!("resuming from {}", path.display());
        }
        let every = Duration::from_secs_f64(args.checkpoint_every * 60.0);
        learn.add_cb(CheckpointCallback::new(&path, Some(every)));
        learn.add_cb(InterruptCallback {
            flag: interrupt_flag(),
            path,
            resume_hint: "run the same command with --resume added".into(),
        });
    }
    if one_cycle {
        learn.fit_one_cycle(epochs, lr)?;
    } else {
        learn.fit(epochs, lr)?;
    }
    if let Some(v) = learn.recorder().values.last() {
        println!("final accuracy {:.4}", v.metrics[0]);
    }
    if let Some(path) = &args.save {
        learn.save(path)?;
        println!("saved {}", path.display());
    }
    Ok(())
}

/// The checkpoint's file name inside `--checkpoint DIR`.
pub const CHECKPOINT_FILE: &str = "checkpoint.fbc";

/// Set by the first Ctrl-C (the training loop then checkpoints and stops); a second Ctrl-C exits
/// at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let seen = flag.clone();
        let installed = ctrlc::set_handler(move || {
            if seen.swap(true, Ordering::SeqCst) {
                eprintln!("interrupted twice: exiting without a new checkpoint");
                std::process::exit(130);
            }
            eprintln!("interrupt: finishing this batch and writing a checkpoint (Ctrl-C again to quit now)");
        });
        if let Err(e) = installed {
            eprintln!("note: Ctrl-C will not checkpoint ({e})");
        }
        flag
    })
    .clone()
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
