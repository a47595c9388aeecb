//! Bench workload (fastburn side): the chapter's two Learners on MNIST_SAMPLE, timed around `fit`
//! only — a Linear model 10 epochs at lr 1.0, then `simple_net` 40 epochs at lr 0.1 (SGD,
//! mnist_loss, batch size 256). Prints one JSON line.
//!
//! `cargo run --release --example bench_train -- DATA_DIR`

use std::path::PathBuf;
use std::time::Instant;

use fastburn::data::DataLoaders;
use fastburn::prelude::*;

fn fit<M: Model>(
    root: &std::path::Path,
    model: M,
    epochs: usize,
    lr: f64,
) -> fastburn::Result<(f64, f32)> {
    let dls = DataLoaders::threes_and_sevens(root, 256, 42, &device())?;
    let mut learn = Learner::new(dls, model, OptFunc::SGD, mnist_loss, vec![BATCH_ACCURACY]);
    learn.quiet(true);
    let start = Instant::now();
    learn.fit(epochs, lr)?;
    let seconds = start.elapsed().as_secs_f64();
    Ok((
        seconds,
        learn.recorder().values.last().map_or(0.0, |v| v.metrics[0]),
    ))
}

fn main() -> fastburn::Result<()> {
    // The allocator setting of the `fastburn` binary, so the bench times what users run.
    fastburn::keep_freed_memory();
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: bench_train DATA_DIR"),
    );
    let dev = device();
    dev.seed(42);
    let (lin_s, lin_acc) = fit(&root, linear(28 * 28, 1, &dev), 10, 1.0)?;
    let (net_s, net_acc) = fit(&root, simple_net(28 * 28, 30, 1, &dev), 40, 0.1)?;
    println!(
        "{{\"linear\": {{\"seconds\": {lin_s:.4}, \"accuracy\": {lin_acc:.4}}}, \"simple_net\": {{\"seconds\": {net_s:.4}, \"accuracy\": {net_acc:.4}}}}}"
    );
    Ok(())
}
