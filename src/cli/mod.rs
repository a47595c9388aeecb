//! The `fastburn` command line: the chapter's steps as commands.

mod baseline;
mod data;
mod interpret;
mod lr_find;
mod predict;
mod serve;
mod show;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::data::Config;
use crate::error::Result;

/// fastai's chapter 4 ("MNIST basics") in Rust, on Burn.
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
    /// Confusion matrix, most confused classes, top losses and result grids for a saved resnet.
    Interpret(interpret::InterpretArgs),
    /// Show an image, the mean of a folder of images, or a pixel heat-map.
    Show(show::ShowArgs),
    /// Download, locate and list the data sets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Serve a saved model over HTTP: a drawing page, POST /predict, /health, /model.
    Serve(serve::ServeArgs),
}

/// `--model NAME`: the library's `Arch` stays free of `clap`; the command line names it here.
impl clap::ValueEnum for crate::models::Arch {
    fn value_variants<'a>() -> &'a [Self] {
        &crate::models::Arch::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.about()))
    }
}

/// `--data` as every data-reading command takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArg {
    /// Data folder (MNIST_SAMPLE layout: train/3, train/7, valid/3, valid/7) or a .tgz of one.
    /// Default: MNIST_SAMPLE from the cache ($FASTBURN_HOME, ~/.fastburn), downloaded if needed
    /// from FASTBURN_DATA_URL or fastai's server.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

/// Run a parsed command line with the configuration the environment gives (resolved here, once,
/// and passed down).
pub fn run(cli: Cli) -> Result<()> {
    run_with(&Config::from_env(), cli)
}

/// Run a parsed command line with `cfg`.
pub fn run_with(cfg: &Config, cli: Cli) -> Result<()> {
    match cli.command {
        None => baseline::main_job(cfg),
        Some(Command::Baseline(args)) => baseline::run(cfg, &args),
        Some(Command::Train(args)) => train::run(cfg, &args),
        Some(Command::Predict(args)) => predict::run(cfg, &args),
        Some(Command::LrFind(args)) => lr_find::run(cfg, &args),
        Some(Command::Interpret(args)) => interpret::run(cfg, &args),
        Some(Command::Show(args)) => show::run(&args),
        Some(Command::Data(cmd)) => data::run(cfg, &cmd),
        Some(Command::Serve(args)) => serve::run(&args),
    }
}
