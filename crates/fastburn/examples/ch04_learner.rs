//! fastbook chapter 4, "Creating an optimizer" and "Adding a nonlinearity", with the Learner.
//!
//! `cargo run --release --example ch04_learner [-- DATA_DIR]`
//! On MNIST_SAMPLE: a Linear learner, 10 epochs at lr 1.0 (chapter ≈0.97), then `simple_net`,
//! 40 epochs at lr 0.1 (chapter 0.9823). Plots go to `target/ch04/`.

use std::path::PathBuf;

use fastburn::data::{Config, DataLoaders, URLs};
use fastburn::prelude::*;

fn main() -> fastburn::Result<()> {
    let out = PathBuf::from("target/ch04");
    let dev = device();
    dev.seed(42);
    let arg = std::env::args().nth(1).map(PathBuf::from);
    let data = Config::from_env().resolve_data(arg.as_deref(), &URLs::MNIST_SAMPLE, true)?;
    if let Some(note) = data.fallback_note() {
        eprintln!("note: {note}");
    }

    println!(">>> dls = DataLoaders(dl, valid_dl)");
    println!(
        ">>> learn = Learner(dls, nn.Linear(28*28,1), opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)"
    );
    println!(">>> learn.fit(10, lr=1.0)");
    let dls = DataLoaders::threes_and_sevens(&data.path, 256, 42, &dev)?;
    let mut learn = Learner::new(
        dls,
        linear(28 * 28, 1, &dev),
        SGD,
        mnist_loss,
        vec![BATCH_ACCURACY],
    );
    learn.fit(10, 1.0)?;

    println!("\n>>> simple_net = nn.Sequential(nn.Linear(28*28,30), nn.ReLU(), nn.Linear(30,1))");
    println!(
        ">>> learn = Learner(dls, simple_net, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)"
    );
    println!(">>> learn.fit(40, 0.1)");
    let dls = DataLoaders::threes_and_sevens(&data.path, 256, 42, &dev)?;
    let mut learn = Learner::new(
        dls,
        simple_net(28 * 28, 30, 1, &dev),
        SGD,
        mnist_loss,
        vec![BATCH_ACCURACY],
    );
    learn.fit(40, 0.1)?;

    learn
        .recorder()
        .plot_metric("batch_accuracy", &out.join("simple_net_accuracy.png"))?;
    learn
        .recorder()
        .plot_loss(&out.join("simple_net_loss.png"))?;
    println!(
        "\n>>> plt.plot(L(learn.recorder.values).itemgot(2))   (saved {})",
        out.join("simple_net_accuracy.png").display()
    );
    let last = learn
        .recorder()
        .values
        .last()
        .map(|v| v.metrics[0])
        .unwrap_or_default();
    println!(">>> learn.recorder.values[-1][2]\n{last:.6}");
    learn.save(&out.join("simple_net.fbm"))?;
    println!("(model saved to {})", out.join("simple_net.fbm").display());
    Ok(())
}
