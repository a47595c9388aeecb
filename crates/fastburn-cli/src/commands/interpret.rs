//! `fastburn interpret`: fastai's `ClassificationInterpretation` for a saved model.

use std::path::PathBuf;

use anyhow::bail;
use fastburn::data::{Config, FolderOptions, ImageDataLoaders};
use fastburn::learner::{ClassificationInterpretation, Learner, Recipe, show_batch};
use fastburn::models::{Model, load_model};

use crate::cli::SplitOpts;
use crate::commands::predict::{TTA_BETA, TTA_N};

#[derive(Debug, clap::Args)]
pub struct InterpretArgs {
    /// A model file saved by `fastburn train --save`
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The data set folder (class folders, with train/ and valid/, or training/ and testing/)
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Folder for the pictures: confusion_matrix.png, top_losses.png, show_batch.png, show_results.png
    #[arg(long, value_name = "DIR", default_value = "interpret")]
    pub out: PathBuf,
    #[command(flatten)]
    pub split: SplitOpts,
    /// Test-time augmentation (fastai's `learn.tta`): judge the model by its predictions blended
    /// with those of 4 versions of each validation image with the training crop and augmentation
    #[arg(long)]
    pub tta: bool,
}

pub fn run(cfg: &Config, args: &InterpretArgs) -> anyhow::Result<()> {
    let device = cfg.device()?;
    let (model, info) = load_model(&args.model, &device)?;
    if !info.arch.is_vision() {
        bail!(
            "{}: interpret takes a convolutional model (resnet18, resnet34, simple-cnn); this one \
             is {}, and the linear models are judged by `fastburn train`'s table",
            args.model.display(),
            info.arch.name()
        );
    }
    let opts = FolderOptions {
        max_valid: args.split.max_valid,
        seed: args.split.seed,
        valid_pct: args.split.valid_pct,
        // Few training images: only show_batch reads them.
        max_train: Some(64),
        // Inputs as the model was trained on them.
        norm: info.norm.clone(),
        channels: Some(info.item_tfms.channels),
        size: info.item_tfms.size,
        method: info.item_tfms.method,
        presize: info.item_tfms.presize,
        aug: info.aug.clone(),
        skip_bad: args.split.skip_bad,
        ..FolderOptions::default()
    };
    let dls = ImageDataLoaders::from_folder(&args.data, &opts, &device)?;
    if dls.vocab != info.vocab {
        return Err(fastburn::Error::ClassesDiffer {
            path: args.model.clone(),
            model: info.vocab,
            data: dls.vocab,
        }
        .into());
    }
    let learn = Recipe::for_arch(info.arch).learner_for(dls.boxed(), model);
    report(&learn, args)
}

fn report<M: Model>(learn: &Learner<M>, args: &InterpretArgs) -> anyhow::Result<()> {
    let interp = match args.tta {
        true => ClassificationInterpretation::from_learner_tta(learn, TTA_N, TTA_BETA)?,
        false => ClassificationInterpretation::from_learner(learn)?,
    };
    let right = interp
        .preds
        .iter()
        .zip(&interp.targets)
        .filter(|(p, t)| p == t)
        .count();
    println!(
        "valid accuracy {:.4} ({right}/{}){}",
        right as f64 / interp.preds.len().max(1) as f64,
        interp.preds.len(),
        if args.tta { ", with TTA" } else { "" }
    );
    println!("confusion matrix:\n{}", interp.confusion_text());
    let confused = interp.most_confused(1);
    if !confused.is_empty() {
        println!("most confused (actual, predicted, count):");
        for (a, p, n) in confused.iter().take(10) {
            println!("  {a} {p} {n}");
        }
    }
    std::fs::create_dir_all(&args.out).map_err(|source| fastburn::Error::Io {
        path: args.out.clone(),
        source,
    })?;
    let out = |name: &str| args.out.join(name);
    interp.plot_confusion_matrix(&out("confusion_matrix.png"))?;
    interp.plot_top_losses(9, &out("top_losses.png"))?;
    interp.show_results(9, &out("show_results.png"))?;
    show_batch(
        &learn.dls.train,
        &learn.dls.vocab,
        learn.dls.norm.as_ref(),
        9,
        &out("show_batch.png"),
    )?;
    println!(
        "saved confusion_matrix.png, top_losses.png, show_results.png, show_batch.png in {}",
        args.out.display()
    );
    Ok(())
}
