//! `fastburn export`: a saved model in a format other programs run (ONNX).

use std::path::PathBuf;

use fastburn::models::load_model;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A model file saved by `fastburn train --save`
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The format to write
    #[arg(long, value_enum, default_value_t = Format::Onnx)]
    pub format: Format,
    /// Where to write it (written whole or not at all)
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// ONNX (opset 17): the inference graph, pixels in 0..1 in (the model's normalisation
    /// inside), `probabilities` and `logits` out, class names and input size in its metadata;
    /// for ONNX Runtime, tract, onnxruntime-web, ...
    Onnx,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    // Export reads weights, it computes nothing: the CPU, whatever FASTBURN_DEVICE says.
    let (model, info) = load_model(&args.model, &burn::prelude::Device::flex())?;
    match args.format {
        Format::Onnx => fastburn_onnx::save_onnx(&model, &info, &args.out)?,
    }
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    let t = &info.item_tfms;
    let (h, w) = match fastburn_onnx::input_size(&info) {
        Some((h, w)) => (h.to_string(), w.to_string()),
        None => ("height".into(), "width".into()),
    };
    println!(
        "wrote {} ({:.1} MB): {} for {} classes {:?}; input `{}` [batch, {}, {h}, {w}] pixels in \
         0..1 ({} resize), outputs `{}` and `{}`",
        args.out.display(),
        bytes as f64 / 1e6,
        info.arch.name(),
        info.vocab.len(),
        info.vocab,
        fastburn_onnx::INPUT,
        t.channels,
        t.method,
        fastburn_onnx::PROBABILITIES,
        fastburn_onnx::LOGITS,
    );
    Ok(())
}
