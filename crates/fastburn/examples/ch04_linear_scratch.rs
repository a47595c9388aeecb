//! fastbook chapter 4, "The MNIST loss function" to "Putting it all together": a linear model
//! trained from scratch with raw tensors, our own DataLoader and `BasicOptim`.
//!
//! `cargo run --release --example ch04_linear_scratch [-- DATA_DIR]`
//! On MNIST_SAMPLE, 20 epochs at lr 1.0 reach about 0.97 (chapter: 0.9677).

use std::path::PathBuf;

use fastburn::data::{Config, DataLoader, SampleImages, URLs};
use fastburn::learner::BasicOptim;
use fastburn::prelude::*;
use fastburn::scratch::{flatten, init_params, linear1, train_epoch, validate_epoch};

fn main() -> fastburn::Result<()> {
    let dev = device();
    dev.seed(42);
    let arg = std::env::args().nth(1).map(PathBuf::from);
    let data = Config::from_env().resolve_data(arg.as_deref(), &URLs::MNIST_SAMPLE, true)?;
    if let Some(note) = data.fallback_note() {
        eprintln!("note: {note}");
    }
    let (train, valid) = SampleImages::load(&data.path)?.datasets(&dev)?;
    let (train, valid) = (flatten(train), flatten(valid));
    println!(">>> train_x = torch.cat([stacked_threes, stacked_sevens]).view(-1, 28*28)");
    println!(
        ">>> train_x.shape,train_y.shape\n({:?}, {:?})\n",
        train.x.dims(),
        train.y.dims()
    );

    let weights = init_params([28 * 28, 1], 1.0, &dev);
    let bias = init_params([1, 1], 1.0, &dev);
    let params = vec![weights, bias];
    let preds = linear1(train.x.clone().slice_dim(0, 0..4), &params);
    println!(
        ">>> preds = linear1(train_x); preds[:4]\n{}\n",
        repr(&preds.inner())
    );

    let dl = DataLoader::new((0..15).collect::<Vec<i32>>(), 5).shuffle(42);
    println!(">>> coll = range(15); dl = DataLoader(coll, batch_size=5, shuffle=True); list(dl)");
    println!("{:?}\n", dl.iter().collect::<Vec<_>>());

    let dl = DataLoader::new(train, 256).shuffle(42);
    let valid_dl = DataLoader::new(valid, 256);
    let (xb, yb) = dl.iter().next().expect("a first batch");
    println!(
        ">>> xb,yb = first(dl); xb.shape,yb.shape\n({:?}, {:?})\n",
        xb.dims(),
        yb.dims()
    );

    let mut opt = BasicOptim::new(params, 1.0);
    println!(
        ">>> validate_epoch(linear1)\n{}\n",
        validate_epoch(&valid_dl, linear1, &opt.params)
    );
    println!(">>> opt = BasicOptim(linear_model.parameters(), lr); train_model(linear_model, 20)");
    let mut line = Vec::new();
    for _ in 0..20 {
        train_epoch(&dl, linear1, &mut opt);
        line.push(format!(
            "{:.4}",
            validate_epoch(&valid_dl, linear1, &opt.params)
        ));
    }
    println!("{}", line.join(" "));
    Ok(())
}
