use std::path::PathBuf;

use burn::prelude::*;

use crate::data::read_gray;
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

pub fn run(args: &PredictArgs) -> Result<()> {
    let device = crate::device();
    let (model, info) = load_model(&args.model, &device)?;
    let (pixels, h, w) = read_gray(&args.image)?;
    if (h, w) != (28, 28) {
        return Err(Error::ImageSize {
            path: args.image.clone(),
            expected: (28, 28),
            got: (h, w),
        });
    }
    let (mean, std) = info.norm.unwrap_or((0.0, 1.0));
    let x: Vec<f32> = pixels
        .iter()
        .map(|&p| (p as f32 / 255.0 - mean) / std)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [1, 1, 28, 28]), &device.clone().inner());
    let out: Vec<f32> = model.forward(x).into_data().iter::<f32>().collect();
    let (class, prob) = if out.len() == 1 && !info.arch.is_vision() {
        // One output: the sigmoid is the probability of label 1.
        let p = 1.0 / (1.0 + (-out[0]).exp());
        if p > 0.5 { (1, p) } else { (0, 1.0 - p) }
    } else {
        let max = out.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = out.iter().map(|o| (o - max).exp()).collect();
        let sum: f32 = exps.iter().sum();
        let (i, e) = exps
            .iter()
            .enumerate()
            .fold((0, 0.0), |b, (i, &e)| if e > b.1 { (i, e) } else { b });
        (i, e / sum)
    };
    let name = info
        .vocab
        .get(class)
        .cloned()
        .unwrap_or_else(|| class.to_string());
    println!("{}: {name} (probability {prob:.4})", args.image.display());
    Ok(())
}
