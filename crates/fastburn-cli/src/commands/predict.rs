//! `fastburn predict`: one image through a saved model.

use std::path::PathBuf;

use anyhow::bail;
use burn::module::Module;
use fastburn::data::{Config, open_image};
use fastburn::models::load_model;

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A model file saved by `fastburn train --save`
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// An image (PNG, JPEG, GIF, BMP, WebP, TIFF), prepared as the model's validation images
    /// were (channels, size, resize method from the model file)
    pub image: PathBuf,
}

pub fn run(cfg: &Config, args: &PredictArgs) -> anyhow::Result<()> {
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
    let (class, prob) = model.predict_image(&info, &tfms.prepare(&img));
    let name = info
        .vocab
        .get(class)
        .cloned()
        .unwrap_or_else(|| class.to_string());
    println!("{}: {name} (probability {prob:.4})", args.image.display());
    Ok(())
}
