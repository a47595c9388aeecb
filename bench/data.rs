//! Bench: does loading + augmenting keep up with training? The time to build one training batch
//! (decode, resize, crop, augment, normalise, collate) against one training step of the model
//! that consumes it, for photos (ResNet-18, 3x64x64, streamed from JPEG files or held in memory)
//! and for digits (simple_cnn, 28x28 grey, `--aug digits`). The goal: data under 10% of a step.
//!
//! `cargo run --release --example bench_data`
//!
//! Prints the CPU (lscpu's model and SIMD flags) and one JSON line per case.

use std::path::Path;
use std::time::Instant;

use fastburn::data::{AugTransforms, Dataset, FolderOptions, ImageDataLoaders, aug_transforms};
use fastburn::learner::{ADAM, Optimizer};
use fastburn::models::{Model, resnet18, simple_cnn};
use fastburn::prelude::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `n` photo-like JPEGs of 160x120 in two classes under `root/train` and `root/valid`.
fn photos(root: &Path, n: usize) {
    for (split, count) in [("train", n), ("valid", 16)] {
        for (class, tint) in [("red", [220u8, 60, 40]), ("blue", [40, 80, 220])] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count / 2 {
                let img = image::RgbImage::from_fn(160, 120, |x, y| {
                    let t = ((x * 7 + y * 13 + i as u32 * 31) % 97) as u8;
                    image::Rgb(tint.map(|c| c.saturating_sub(t)))
                });
                img.save(dir.join(format!("{i}.jpg"))).unwrap();
            }
        }
    }
}

/// Median seconds to build a training batch of `bs` items (several seeds, so several batches).
fn batch_time<D: Dataset>(ds: &D, bs: usize) -> f64 {
    let n = ds.len();
    let times = (0..7u64)
        .map(|k| {
            let idx: Vec<usize> = (0..bs).map(|i| (i * 7 + k as usize * 13) % n).collect();
            let t = Instant::now();
            let b = ds.train_batch(&idx, k);
            drop(b);
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// Median seconds of a training step (forward, backward, Adam) of `model` on batches from `ds`.
fn step_time<M: Model, D: Dataset<Batch = fastburn::Result<(Tensor<4>, Tensor<1, Int>)>>>(
    mut model: M,
    ds: &D,
    bs: usize,
) -> f64 {
    let mut opt = Optimizer::for_model(ADAM, &model);
    opt.set_lrs(&[1e-3]);
    let times = (0..7)
        .map(|k| {
            let idx: Vec<usize> = (0..bs).map(|i| (i + k * bs) % ds.len()).collect();
            let Ok((x, y)) = ds.batch(&idx) else {
                panic!("the bench's images were written by the bench and stay readable")
            };
            let t = Instant::now();
            let loss = cross_entropy(model.forward(x), y);
            let mut grads = loss.backward();
            model = opt.step(model.clone(), &mut grads);
            let _ = loss.into_scalar::<f32>();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

fn cpu() -> String {
    let out = std::process::Command::new("lscpu").output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let flags: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("Flags:"))
        .unwrap_or_default()
        .split_whitespace()
        .filter(|f| f.starts_with("avx") || f.starts_with("fma") || f.starts_with("sse4"))
        .collect();
    format!("{} | {}", field("Model name:"), flags.join(" "))
}

fn main() -> fastburn::Result<()> {
    // The allocator setting of the `fastburn` binary, so the bench times what users run.
    fastburn_flex::keep_freed_memory();
    fastburn_flex::par::join_thread_pool();
    println!("cpu: {}", cpu());
    let dev = device();
    dev.seed(42);
    let dir = tempfile::tempdir().unwrap();
    photos(dir.path(), 256);
    let bs = 64;
    for (what, max_memory) in [
        ("photos streamed from JPEG", 0),
        ("photos in memory", 2 << 30),
    ] {
        let opts = FolderOptions {
            size: Some((64, 64)),
            aug: Some(aug_transforms()),
            max_memory,
            bs,
            ..FolderOptions::default()
        };
        let dls = ImageDataLoaders::from_folder(dir.path(), &opts, &dev)?;
        let data = batch_time(&dls.train.dataset, bs);
        let step = step_time(resnet18(3, 2, &dev), &dls.train.dataset, bs);
        println!(
            "{{\"case\": \"{what}, 3x64x64, resnet18, bs {bs}\", \"batch_s\": {data:.4}, \"step_s\": {step:.4}, \"data_share\": {:.3}}}",
            data / step
        );
    }
    let sample = fastburn::data::embedded_sample()?;
    let bs = 256;
    let opts = FolderOptions {
        aug: Some(AugTransforms::digits()),
        bs,
        ..FolderOptions::default()
    };
    let dls = ImageDataLoaders::from_folder(&sample, &opts, &dev)?;
    let data = batch_time(&dls.train.dataset, bs);
    let step = step_time(simple_cnn(1, 2, &dev), &dls.train.dataset, bs);
    println!(
        "{{\"case\": \"digits in memory, 1x28x28, simple_cnn, --aug digits, bs {bs}\", \"batch_s\": {data:.4}, \"step_s\": {step:.4}, \"data_share\": {:.3}}}",
        data / step
    );
    Ok(())
}
