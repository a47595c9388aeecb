use std::path::PathBuf;

use burn::module::Module;

use crate::data::{Config, read_gray};
use crate::error::{Error, Result};
use crate::models::load_model;

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// A model file saved by `fastburn train --save`
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// A 28x28 grey PNG
    pub image: PathBuf,
}

pub fn run(cfg: &Config, args: &PredictArgs) -> Result<()> {
    let (model, info) = load_model(&args.model, &cfg.device())?;
    let model = model.valid();
    let (pixels, h, w) = read_gray(&args.image)?;
    if (h, w) != (28, 28) {
        return Err(Error::ImageSize {
            path: args.image.clone(),
            expected: (28, 28),
            got: (h, w),
        });
    }
    let (class, prob) = model.predict_image(&info, &pixels, h, w);
    let name = info
        .vocab
        .get(class)
        .cloned()
        .unwrap_or_else(|| class.to_string());
    println!("{}: {name} (probability {prob:.4})", args.image.display());
    Ok(())
}
