//! The command line's shape: the commands, and the option groups they share (clap `flatten`), so
//! an option means the same thing, with the same default, wherever it appears.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use fastburn::data::{DataSet, ResizeMethod, URLs};
use fastburn::learner::Recipe;
use fastburn::models::Arch;

use crate::commands::{baseline, data, export, interpret, lr_find, predict, serve, show, train};

/// fastai's way of deep learning in Rust, on Burn: fastbook chapter 4 ("MNIST basics"), all ten
/// digits, your own images.
///
/// With no command, runs the main job: the pixel-similarity baseline, then `simple_net` trained
/// for 40 epochs, on MNIST_SAMPLE (downloaded or cached), or on the embedded 1,400-image sample
/// when MNIST_SAMPLE cannot be had.
#[derive(Debug, Parser)]
#[command(name = "fastburn", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pixel similarity: call an image a 3 if it is closer to the mean 3 than to the mean 7.
    Baseline(baseline::BaselineArgs),
    /// Train a model (on MNIST_SAMPLE's 3s and 7s, all ten MNIST digits, or your own folder) and
    /// print fastai's epoch table.
    Train(train::TrainArgs),
    /// Classify one image (PNG, JPEG, ...) with a saved model, prepared as its validation images
    /// were.
    Predict(predict::PredictArgs),
    /// Sweep the learning rate and suggest one (fastai's lr_find); saves the plot.
    LrFind(lr_find::LrFindArgs),
    /// Confusion matrix, most confused classes, top losses and result grids for a saved model.
    Interpret(interpret::InterpretArgs),
    /// Show an image, the mean of a folder of images, or a pixel heat-map.
    Show(show::ShowArgs),
    /// Download, locate, list and check data sets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Serve a saved model over HTTP: a drawing page, POST /predict, /health, /model.
    Serve(serve::ServeArgs),
    /// Write a saved model as ONNX (for the runtimes of phones, browsers, C#, Java and C++), or
    /// as a static web page that runs it in the browser.
    Export(export::ExportArgs),
}

impl Command {
    /// Whether the command trains (and so gains from keeping freed buffers for the next step).
    pub fn trains(command: Option<&Command>) -> bool {
        matches!(command, None | Some(Command::Train(_) | Command::LrFind(_)))
    }
}

/// `--model NAME`: the library's `Arch` stays free of `clap`; the command line names it here,
/// with each architecture's one-line description in `--help`.
pub fn arch_parser() -> impl TypedValueParser<Value = Arch> {
    let names = Arch::ALL.map(|a| PossibleValue::new(a.name()).help(a.about()));
    PossibleValuesParser::new(names).try_map(|name| Arch::from_name(&name).ok_or("unknown"))
}

/// `--data` as every data-reading command takes it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DataArg {
    /// Data folder (MNIST_SAMPLE layout: train/3, train/7, valid/3, valid/7, or any folder of
    /// class folders) or a .tgz of one. Default: MNIST_SAMPLE (or the --dataset asked for) from
    /// the cache ($FASTBURN_HOME, ~/.fastburn), downloaded if needed from FASTBURN_DATA_URL or
    /// fastai's server.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

/// The seed when none is given: the chapter's.
pub const DEFAULT_SEED: u64 = 42;

/// Which data set `--data` defaults to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DatasetName {
    /// 3s and 7s (fastai's MNIST_SAMPLE)
    #[default]
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

/// What a model trains on (train, lr-find).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceOpts {
    #[command(flatten)]
    pub data: DataArg,
    /// Data set used when --data is not given
    #[arg(long, value_enum, default_value_t = DatasetName::default())]
    pub dataset: DatasetName,
    /// Use at most this many training images (picked evenly), for a quick run
    #[arg(long, value_name = "N")]
    pub max_train: Option<usize>,
}

/// How a folder is split and read (train, lr-find, interpret).
#[derive(Debug, Clone, clap::Args)]
pub struct SplitOpts {
    /// Seed for the weights, the shuffling and a random validation split: the same seed gives
    /// the same numbers and holds out the same images
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Hold out this fraction of the images for validation, at random from --seed (used anyway,
    /// at 0.2, when the folder has no train/ and valid/ folders)
    #[arg(long, value_name = "P")]
    pub valid_pct: Option<f64>,
    /// Use at most this many validation images (picked evenly)
    #[arg(long, value_name = "N")]
    pub max_valid: Option<usize>,
    /// Skip files that cannot be decoded, with a warning each, instead of stopping
    #[arg(long)]
    pub skip_bad: bool,
}

impl Default for SplitOpts {
    fn default() -> Self {
        SplitOpts {
            seed: DEFAULT_SEED,
            valid_pct: None,
            max_valid: None,
            skip_bad: false,
        }
    }
}

/// How an image becomes an input (train, lr-find).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InputOpts {
    /// Resize every image to N x N (or HxW, e.g. 48x64), fastai's `Resize(N)`; without it all
    /// images must have one size
    #[arg(long, value_name = "N|HxW", value_parser = parse_size)]
    pub size: Option<(usize, usize)>,
    /// How --size is reached: crop (random crops in training, the centre in validation), squish
    /// or pad (by reflection)
    #[arg(long, value_name = "METHOD", default_value_t = ResizeMethod::default(), value_parser = parse_method)]
    pub resize_method: ResizeMethod,
    /// Presizing (fastbook chapter 5): resize images to this larger size first, then bring each
    /// batch to --size in one step (training: a random crop and the augmentation; validation:
    /// the centre), fastai's `item_tfms=Resize(460), batch_tfms=aug_transforms(size=224)`
    #[arg(long, value_name = "N|HxW", value_parser = parse_size, requires = "size")]
    pub presize: Option<(usize, usize)>,
    /// With --presize, training's random crops take from this fraction of an image's area up to
    /// all of it, fastai's `aug_transforms(min_scale=0.75)`
    #[arg(long, value_name = "F", requires = "presize", value_parser = parse_min_scale)]
    pub min_scale: Option<f32>,
    /// Normalise the convolutional models' inputs with the training set's mean and standard
    /// deviation (off by default, as fastai without pretrained weights; with --init, as the
    /// saved model was)
    #[arg(long)]
    pub normalize: bool,
}

/// Which model, and its batches (train, lr-find).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ModelOpts {
    /// Architecture [default: simple-cnn for --dataset mnist (the all-digits recipe),
    /// simple-net otherwise (the chapter)]
    #[arg(long, value_parser = arch_parser())]
    pub model: Option<Arch>,
    /// Batch size [default: the recipe's, listed below]
    #[arg(long)]
    pub bs: Option<usize>,
}

impl ModelOpts {
    /// The recipe these options start from: the all-digits recipe for `--dataset mnist` without
    /// `--model`, else the architecture's (simple-net by default), with `--bs` applied.
    pub fn recipe(&self, dataset: DatasetName) -> Recipe {
        let base = match (self.model, dataset) {
            (None, DatasetName::Mnist) => Recipe::all_digits(),
            (model, _) => Recipe::for_arch(model.unwrap_or(Arch::SimpleNet)),
        };
        Recipe {
            bs: self.bs.unwrap_or(base.bs),
            ..base
        }
    }
}

/// The recipes' defaults, for `--help`: generated from the library's [`Recipe`], the one place
/// they are decided.
pub fn recipes_help() -> String {
    let mut text = String::from("Defaults (the recipe of each --model):\n");
    let row = |name: &str, r: Recipe| {
        format!(
            "  {name:<22} {}{} epoch(s), lr {}, batch size {}{}{}\n",
            if r.fine_tune {
                "fine-tune: 1 frozen + "
            } else {
                ""
            },
            r.epochs,
            r.lr,
            r.bs,
            if r.one_cycle && !r.fine_tune {
                ", one-cycle"
            } else {
                ""
            },
            if r.label_smoothing {
                ", label smoothing 0.1"
            } else {
                ""
            }
        )
    };
    for arch in Arch::ALL {
        text.push_str(&row(arch.name(), Recipe::for_arch(arch)));
    }
    text.push_str(&row("--dataset mnist", Recipe::all_digits()));
    text.push_str(&row(
        "--pretrained [FILE]",
        Recipe::pretrained(Arch::EfficientNetLite0),
    ));
    text
}

/// `--min-scale`: a fraction of an image's area, above 0 and at most 1.
pub fn parse_min_scale(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a fraction of the area: give a number in (0, 1], e.g. 0.75"
        )),
    }
}

/// `--size`: `N` (square) or `HxW`.
pub fn parse_size(s: &str) -> Result<(usize, usize), String> {
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

pub fn parse_method(s: &str) -> Result<ResizeMethod, String> {
    s.parse()
}

/// Run a parsed command line with the configuration the environment gives (resolved here, once,
/// and passed down).
pub fn run(command: Option<&Command>) -> anyhow::Result<()> {
    let cfg = fastburn::data::Config::from_env();
    // The device first: a FASTBURN_DEVICE that cannot be had stops the command before it
    // downloads or reads anything.
    if !matches!(
        command,
        Some(Command::Show(_) | Command::Data(_) | Command::Export(_))
    ) {
        cfg.device()?;
    }
    match command {
        None => baseline::main_job(&cfg),
        Some(Command::Baseline(args)) => baseline::run(&cfg, args),
        Some(Command::Train(args)) => train::run(&cfg, args),
        Some(Command::Predict(args)) => predict::run(&cfg, args),
        Some(Command::LrFind(args)) => lr_find::run(&cfg, args),
        Some(Command::Interpret(args)) => interpret::run(&cfg, args),
        Some(Command::Show(args)) => show::run(args),
        Some(Command::Data(cmd)) => data::run(&cfg, cmd),
        Some(Command::Serve(args)) => serve::run(&cfg, args),
        Some(Command::Export(args)) => export::run(args),
    }
}

/// The command-line reference (docs/cli.md): every command's `--help`, as the binary prints it.
#[cfg(test)]
fn reference() -> String {
    use clap::CommandFactory;
    /// What `fastburn <path> --help` prints.
    fn help(path: &[String]) -> String {
        let args = std::iter::once("fastburn".to_string())
            .chain(path.iter().cloned())
            .chain(std::iter::once("--help".to_string()));
        match Cli::command().try_get_matches_from(args) {
            Err(e) => e.render().to_string(),
            Ok(_) => String::new(),
        }
    }
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut String) {
        let name = std::iter::once("fastburn".to_string())
            .chain(path.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "## `{name}`\n\n```text\n{}\n```\n\n",
            help(&path).trim_end()
        ));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut next = path.clone();
            next.push(sub.get_name().to_string());
            walk(sub, next, out);
        }
    }
    let mut out = String::from(
        "# Command-line reference\n\nEvery command's `--help`, as `fastburn` prints it. Generated \
         from the binary's own definitions: `cargo test -p fastburn-cli cli_reference` fails when \
         this page is out of date, and `FASTBURN_BLESS=1` with the same command rewrites it.\n\n",
    );
    walk(&Cli::command(), Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/cli.md is the binary's help, so it cannot drift from what the commands take.
    #[test]
    fn cli_reference_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
        let want = reference();
        if std::env::var_os("FASTBURN_BLESS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/cli.md is out of date: run `FASTBURN_BLESS=1 cargo test -p fastburn-cli cli_reference`"
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("64"), Ok((64, 64)));
        assert_eq!(parse_size("48x64"), Ok((48, 64)));
        assert!(parse_size("0").is_err() && parse_size("big").is_err());
    }

    #[test]
    fn the_defaults_come_from_the_library_recipes() {
        let opts = ModelOpts::default();
        assert_eq!(
            opts.recipe(DatasetName::MnistSample),
            Recipe::for_arch(Arch::SimpleNet)
        );
        assert_eq!(opts.recipe(DatasetName::Mnist), Recipe::all_digits());
        let resnet = ModelOpts {
            model: Some(Arch::Resnet18),
            bs: Some(32),
        };
        assert_eq!(resnet.recipe(DatasetName::Mnist).bs, 32);
        assert_eq!(resnet.recipe(DatasetName::Mnist).arch, Arch::Resnet18);
        let help = recipes_help();
        assert!(
            help.contains("simple-net") && help.contains("40 epoch(s), lr 0.1"),
            "{help}"
        );
    }
}
