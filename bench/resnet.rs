//! Bench workload (fastburn side): ResNet-18 on MNIST_SAMPLE.
//!
//! `cargo run --release --example bench_resnet -- DATA_DIR [steps|epoch [SEED [DATA_SEED]]|bn-check [SEED]]`
//! - `steps`: where a training step's time goes (data, forward, backward, optimizer), conv and
//!   BatchNorm layers alone, and the achieved GFLOP/s;
//! - `epoch`: `vision_learner(dls, resnet18).fit_one_cycle(1, 0.1)`, timed, with its accuracy
//!   (`DATA_SEED`: batch order and dropout from another seed than the initial weights);
//! - `bn-check`: that epoch's accuracy with BatchNorm's running statistics as trained and
//!   re-estimated at the final weights.
//!
//! Prints one JSON line.

use std::path::PathBuf;
use std::time::Instant;

use burn::nn::BatchNormConfig;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::Distribution;
use fastburn::data::{Dataset, FolderOptions, ImageDataLoaders};
use fastburn::learner::{ADAM, Learner, Optimizer, SGD, Sgd, Stepper, vision_learner};
use fastburn::models::{ResNet, resnet18};
use fastburn::prelude::*;

/// Multiply-accumulates of one forward pass of ResNet-18 (`n_in` channels, `size`² input).
fn resnet18_macs(n_in: usize, size: usize) -> f64 {
    let out = |s: usize, stride: usize| s.div_ceil(stride);
    let conv =
        |s: usize, c_in: usize, c_out: usize, k: usize| (s * s * c_in * c_out * k * k) as f64;
    let mut s = out(size, 2);
    let mut macs = conv(s, n_in, 64, 7);
    s = out(s, 2); // max-pool
    let mut c = 64;
    for (i, c_out) in [64usize, 128, 256, 512].into_iter().enumerate() {
        let stride = if i == 0 { 1 } else { 2 };
        let s_out = out(s, stride);
        macs += conv(s_out, c, c_out, 3) + conv(s_out, c_out, c_out, 3); // block 1
        if stride != 1 || c != c_out {
            macs += conv(s_out, c, c_out, 1);
        }
        macs += 2.0 * conv(s_out, c_out, c_out, 3); // block 2
        (s, c) = (s_out, c_out);
    }
    macs + (1024 * 512 + 512 * 2) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn steps(root: &std::path::Path) -> fastburn::Result<String> {
    let dev = device();
    dev.seed(42);
    let bs = 64;
    let opts = FolderOptions {
        bs,
        max_train: Some(bs * 12),
        max_valid: Some(bs),
        ..FolderOptions::default()
    };
    let dls = ImageDataLoaders::from_folder(root, &opts, &dev)?;
    let mut model = resnet18(1, 2, &dev);
    let mut opt = Optimizer::for_model(ADAM, &model);
    opt.set_lrs(&[1e-3]);
    let (mut data, mut fwd, mut bwd, mut optim, mut total) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (i, idx) in dls.train.batch_indices().into_iter().enumerate() {
        let t0 = Instant::now();
        let (xb, yb) = dls.train.dataset.batch(&idx)?;
        let _ = xb.clone().slice_dim(0, 0..1).into_data();
        let t1 = Instant::now();
        let loss = cross_entropy(model.forward(xb), yb);
        let _ = loss.clone().into_scalar::<f32>();
        let t2 = Instant::now();
        let mut grads = loss.backward();
        let t3 = Instant::now();
        model = opt.step(model, &mut grads);
        let _ = model.head.lin2.weight.val().into_data();
        let t4 = Instant::now();
        if i >= 2 {
            data.push((t1 - t0).as_secs_f64());
            fwd.push((t2 - t1).as_secs_f64());
            bwd.push((t3 - t2).as_secs_f64());
            optim.push((t4 - t3).as_secs_f64());
            total.push((t4 - t0).as_secs_f64());
        }
    }
    // One layer1-sized conv (64->64, 3x3, 7x7 maps) and one BatchNorm on the same activations,
    // forward and backward, for the share of each kind of layer.
    let x = Tensor::<4>::random([bs, 64, 7, 7], Distribution::Default, &dev).require_grad();
    let conv = Conv2dConfig::new([64, 64], [3, 3])
        .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&dev);
    let bn = BatchNormConfig::new(64).init(&dev);
    let time = |f: &dyn Fn() -> Tensor<4>| {
        median(
            (0..7)
                .map(|_| {
                    let t = Instant::now();
                    let _ = f().sum().backward();
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let conv_s = time(&|| conv.forward(x.clone()));
    let bn_s = time(&|| bn.forward(x.clone()));
    // The optimizer step alone, for fastai's Adam, SGD with momentum and plain SGD.
    let idx: Vec<usize> = (0..bs).collect();
    let (xb, yb) = dls.train.dataset.batch(&idx)?;
    let mut opt_times = Vec::new();
    let rules: [Box<dyn Stepper>; 3] = [
        Box::new(ADAM),
        Box::new(Sgd { mom: 0.9, wd: 0.0 }),
        Box::new(SGD),
    ];
    for opt_func in rules {
        let mut opt = Optimizer::for_model(opt_func, &model);
        opt.set_lrs(&[1e-4]);
        let mut times = Vec::new();
        for _ in 0..4 {
            let mut grads = cross_entropy(model.forward(xb.clone()), yb.clone()).backward();
            let t = Instant::now();
            model = opt.step(model, &mut grads);
            let _ = model.head.lin2.weight.val().into_data();
            times.push(t.elapsed().as_secs_f64());
        }
        opt_times.push(median(times[1..].to_vec()));
    }
    let step = median(total);
    let flops = 3.0 * 2.0 * resnet18_macs(1, 28) * bs as f64;
    Ok(format!(
        "{{\"kernels\": \"{}\", \"bs\": {bs}, \"fastai_adam_s\": {:.4}, \"sgd_mom_s\": {:.4}, \"sgd_s\": {:.4}, \"step_s\": {step:.4}, \"data_s\": {:.4}, \"forward_s\": {:.4}, \"backward_s\": {:.4}, \"optimizer_s\": {:.4}, \"gflops\": {:.2}, \"conv64_s\": {conv_s:.5}, \"bn64_s\": {bn_s:.5}, \"macs_per_image\": {:.0}}}",
        fastburn_flex::simd_level(),
        opt_times[0],
        opt_times[1],
        opt_times[2],
        median(data),
        median(fwd),
        median(bwd),
        median(optim),
        flops / step / 1e9,
        resnet18_macs(1, 28)
    ))
}

/// `vision_learner(dls, resnet18).fit_one_cycle(1, 0.1)` on `root`, and its seconds: the initial
/// weights drawn from `seed`, the batch order and dropout masks from `data_seed` (the same seed
/// for both in a plain run; apart, they tell which of the two a seed's result follows).
fn one_cycle(
    root: &std::path::Path,
    seed: u64,
    data_seed: u64,
) -> fastburn::Result<(Learner<ResNet>, f64)> {
    let dev = device();
    dev.seed(seed);
    let opts = FolderOptions {
        seed: data_seed,
        ..FolderOptions::default()
    };
    let dls = ImageDataLoaders::from_folder(root, &opts, &dev)?;
    let mut learn = vision_learner(dls, resnet18, &dev);
    learn.quiet(true);
    let start = Instant::now();
    learn.fit_one_cycle(1, 0.1)?;
    Ok((learn, start.elapsed().as_secs_f64()))
}

fn epoch(root: &std::path::Path, seed: u64, data_seed: u64) -> fastburn::Result<String> {
    let (learn, seconds) = one_cycle(root, seed, data_seed)?;
    let v = learn.recorder().values.last().expect("one epoch");
    Ok(format!(
        "{{\"seed\": {seed}, \"data_seed\": {data_seed}, \"seconds\": {seconds:.2}, \"accuracy\": {:.4}, \"train_loss\": {:.4}, \"valid_loss\": {:.4}}}",
        v.metrics[0], v.train_loss, v.valid_loss
    ))
}

/// Whether a seed's accuracy is held back by BatchNorm's running statistics: the epoch of
/// `epoch`, its accuracy with the statistics as training left them (a moving average over the
/// last ~10 batches, taken while the weights still moved), then with them re-estimated at the
/// final weights (80 training-mode forward passes, no steps: 0.9^80 of the old value remains).
fn bn_check(root: &std::path::Path, seed: u64) -> fastburn::Result<String> {
    let (learn, _) = one_cycle(root, seed, seed)?;
    let (loss_as_trained, acc) = learn.validate()?;
    let batches: Vec<_> = learn.dls.train.epoch(1).take(80).collect();
    for batch in batches {
        let (xb, _) = batch?;
        let _ = learn.model.forward(xb).into_data();
    }
    let (loss_refreshed, acc_refreshed) = learn.validate()?;
    Ok(format!(
        "{{\"seed\": {seed}, \"accuracy\": {:.4}, \"valid_loss\": {loss_as_trained:.4}, \"accuracy_refreshed_bn\": {:.4}, \"valid_loss_refreshed_bn\": {loss_refreshed:.4}}}",
        acc[0], acc_refreshed[0]
    ))
}

fn main() -> fastburn::Result<()> {
    // The allocator setting of the `fastburn` binary, so the bench times what users run.
    fastburn_flex::keep_freed_memory();
    fastburn_flex::par::join_thread_pool();
    let root =
        PathBuf::from(std::env::args().nth(1).expect(
            "usage: bench_resnet DATA_DIR [steps|epoch [SEED [DATA_SEED]]|bn-check [SEED]]",
        ));
    let seed = std::env::args()
        .nth(3)
        .map_or(42, |s| s.parse().expect("SEED is a number"));
    let json = match std::env::args().nth(2).as_deref() {
        Some("epoch") => {
            let data_seed = std::env::args()
                .nth(4)
                .map_or(seed, |s| s.parse().expect("DATA_SEED is a number"));
            epoch(&root, seed, data_seed)?
        }
        Some("bn-check") => bn_check(&root, seed)?,
        _ => steps(&root)?,
    };
    println!("{json}");
    Ok(())
}
