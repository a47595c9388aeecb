//! Bench workload (fastburn side): the chapter's two Learners on MNIST_SAMPLE, timed around `fit`
//! only — a Linear model 10 epochs at lr 1.0, then `simple_net` 40 epochs at lr 0.1 (SGD,
//! mnist_loss, batch size 256). The pair runs `REPEATS` times (default 5), each time from seed
//! 42, so every repeat trains the same models; it prints one JSON line with each model's times.
//! Why repeats: a Linear fit takes ~0.06 s, and this shared machine sometimes runs a whole process
//! 2-3x slower; the median of several fits is what the ratio uses, on both sides.
//!
//! `cargo run --release --example bench_train -- DATA_DIR [REPEATS]`

use std::path::PathBuf;
use std::time::Instant;

use fastburn::data::{DataLoader, DataLoaders, PixelDataset};
use fastburn::prelude::*;

/// New loaders over the same images, at epoch 0 (a loader counts its epochs to reshuffle), so
/// every fit sees the batches the first did, without decoding MNIST_SAMPLE's PNGs again.
fn fresh(dls: &DataLoaders<PixelDataset>) -> DataLoaders<PixelDataset> {
    let again = |dl: &DataLoader<PixelDataset>| {
        let d = DataLoader::new(dl.dataset.clone(), dl.bs).drop_last(dl.drop_last);
        if dl.shuffle { d.shuffle(dl.seed) } else { d }
    };
    DataLoaders {
        train: again(&dls.train),
        valid: again(&dls.valid),
        vocab: dls.vocab.clone(),
        norm: dls.norm.clone(),
        item_tfms: dls.item_tfms.clone(),
        aug: dls.aug.clone(),
    }
}

fn fit<M: Model>(
    data: &DataLoaders<PixelDataset>,
    model: M,
    epochs: usize,
    lr: f64,
) -> fastburn::Result<(f64, f32)> {
    let dls = fresh(data);
    let mut learn = Learner::new(
        dls,
        model,
        fastburn::learner::SGD,
        mnist_loss,
        vec![BATCH_ACCURACY],
    );
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
    fastburn_flex::keep_freed_memory();
    fastburn_flex::par::join_thread_pool();
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: bench_train DATA_DIR"),
    );
    let repeats: usize = std::env::args()
        .nth(2)
        .map_or(5, |s| s.parse().expect("REPEATS is a number"));
    let dev = device();
    let data = DataLoaders::threes_and_sevens(&root, 256, 42, &dev)?;
    let (mut lin, mut net) = (Vec::new(), Vec::new());
    for _ in 0..repeats.max(1) {
        dev.seed(42);
        lin.push(fit(&data, linear(28 * 28, 1, &dev), 10, 1.0)?);
        net.push(fit(&data, simple_net(28 * 28, 30, 1, &dev), 40, 0.1)?);
    }
    println!(
        "{{\"linear\": {}, \"simple_net\": {}}}",
        json(&lin),
        json(&net)
    );
    Ok(())
}

/// `{"seconds": [...], "accuracy": [...]}` for one model's repeats.
fn json(runs: &[(f64, f32)]) -> String {
    let list = |v: Vec<String>| v.join(", ");
    format!(
        "{{\"seconds\": [{}], \"accuracy\": [{}]}}",
        list(runs.iter().map(|r| format!("{:.4}", r.0)).collect()),
        list(runs.iter().map(|r| format!("{:.4}", r.1)).collect())
    )
}
