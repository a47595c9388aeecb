//! Bench workload: the all-digits recipe (`simple_cnn`, one-cycle) on full MNIST from IDX files,
//! one line per epoch with its time, to choose the recipe's width, batch size and epochs.
//!
//! `cargo run --release --example bench_mnist -- IDX_DIR EPOCHS LR BS [SEED] [LAYERS]`
//! LAYERS: `32/1,32/2,64/1,64/2,128/1` (width/stride, the default).

use std::time::Instant;

use fastburn::data::{DataLoader, DataLoaders, TensorDataset, mnist_idx};
use fastburn::learner::{ADAM, Learner};
use fastburn::models::{SIMPLE_CNN_LAYERS, simple_cnn_with};
use fastburn::prelude::*;

fn split(dir: &std::path::Path, train: bool, dev: &Device) -> fastburn::Result<TensorDataset<4>> {
    let (s, labels) = mnist_idx(dir, train)?;
    let x: Vec<f32> = s.pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let n = s.len();
    let x = Tensor::from_data(TensorData::new(x, [n, 1, 28, 28]), dev);
    let y: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Ok(TensorDataset::new(
        x,
        Tensor::from_data(TensorData::new(y, [n]), dev),
    ))
}

fn main() -> fastburn::Result<()> {
    // The allocator setting of the `fastburn` binary, so the bench times what users run.
    fastburn_flex::keep_freed_memory();
    fastburn_flex::par::join_thread_pool();
    let a: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&a[1]);
    let epochs: usize = a[2].parse().unwrap();
    let lr: f64 = a[3].parse().unwrap();
    let bs: usize = a[4].parse().unwrap();
    let seed: u64 = a.get(5).map_or(42, |s| s.parse().unwrap());
    let layers: Vec<(usize, usize)> = match a.get(6) {
        Some(l) => l
            .split(',')
            .map(|p| {
                let (w, s) = p.split_once('/').unwrap();
                (w.parse().unwrap(), s.parse().unwrap())
            })
            .collect(),
        None => SIMPLE_CNN_LAYERS.to_vec(),
    };
    let dev = device();
    dev.seed(seed);
    let t0 = Instant::now();
    let dls = DataLoaders {
        train: DataLoader::new(split(&dir, true, &dev)?, bs)
            .shuffle(seed)
            .drop_last(true),
        valid: DataLoader::new(split(&dir, false, &dev)?, 1000),
        vocab: (0..10).map(|d| d.to_string()).collect(),
        norm: None,
        item_tfms: Default::default(),
        aug: None,
    };
    println!("load {:.1}s", t0.elapsed().as_secs_f64());
    let model = simple_cnn_with(1, 10, &layers, &dev);
    // LOSS=ls: fastai's LabelSmoothingCrossEntropy.
    let loss = match std::env::var("LOSS").as_deref() {
        Ok("ls") => fastburn::loss::label_smoothing_cross_entropy,
        _ => cross_entropy,
    };
    let mut learn = Learner::new(dls, model, ADAM, loss, vec![ACCURACY]);
    learn.fit_one_cycle(epochs, lr)?;
    println!("total {:.1}s", t0.elapsed().as_secs_f64());
    Ok(())
}
