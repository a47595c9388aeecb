//! fastbook chapter 4, "First try: pixel similarity", step by step.
//!
//! `cargo run --release --example ch04_pixel_similarity [-- DATA_DIR]`
//! On MNIST_SAMPLE this prints the chapter's 0.9168 / 0.9854 / 0.9511. Pictures go to `target/ch04/`.

use std::path::PathBuf;

use fastburn::baseline::{PixelSimilarity, l1_distance, mnist_distance, rmse_distance};
use fastburn::data::{Config, SampleImages, URLs};
use fastburn::prelude::*;

fn main() -> fastburn::Result<()> {
    let out = PathBuf::from("target/ch04");
    let dev = device();
    let arg = std::env::args().nth(1).map(PathBuf::from);
    let data = Config::from_env().resolve_data(arg.as_deref(), &URLs::MNIST_SAMPLE, true)?;
    if let Some(note) = data.fallback_note() {
        eprintln!("note: {note}");
    }
    let imgs = SampleImages::load(&data.path)?;

    println!(
        ">>> len(three_tensors),len(seven_tensors)\n({}, {})\n",
        imgs.train3.len(),
        imgs.train7.len()
    );

    let stacked_threes = imgs.train3.to_tensor(&dev);
    let stacked_sevens = imgs.train7.to_tensor(&dev);
    println!(">>> stacked_threes.shape\n{:?}\n", stacked_threes.dims());
    println!(
        ">>> len(stacked_threes.shape), stacked_threes.ndim\n({}, {})\n",
        stacked_threes.dims().len(),
        stacked_threes.dims().len()
    );

    let model = PixelSimilarity::fit(stacked_threes.clone(), stacked_sevens);
    let (mean3, mean7) = (model.mean3.clone(), model.mean7.clone());
    show_image(&Gray::from_tensor(&mean3), &out.join("mean3.png"), 8)?;
    show_image(&Gray::from_tensor(&mean7), &out.join("mean7.png"), 8)?;
    println!(
        ">>> mean3 = stacked_threes.mean(0); show_image(mean3)\n(saved {} and {})\n",
        out.join("mean3.png").display(),
        out.join("mean7.png").display()
    );
    print!(
        "{}",
        fastburn::show::render_ascii(&Gray::from_tensor(&mean3))
    );

    let a_3 = stacked_threes.clone().slice_dim(0, 1..2).reshape([28, 28]);
    let d3 = (
        l1_distance(a_3.clone(), mean3.clone()),
        rmse_distance(a_3.clone(), mean3.clone()),
    );
    let d7 = (
        l1_distance(a_3.clone(), mean7.clone()),
        rmse_distance(a_3.clone(), mean7.clone()),
    );
    println!(
        "\n>>> dist_3_abs, dist_3_sqr\n(tensor({:.4}), tensor({:.4}))\n",
        d3.0, d3.1
    );
    println!(
        ">>> dist_7_abs, dist_7_sqr\n(tensor({:.4}), tensor({:.4}))\n",
        d7.0, d7.1
    );

    let tns = Tensor::<2, Int>::from_data([[1, 2, 3], [4, 5, 6]], &dev);
    println!(">>> tns = tensor([[1,2,3],[4,5,6]])\n{}\n", repr(&tns));
    println!(
        ">>> tns[1]\n{}\n",
        repr(&tns.clone().slice_dim(0, 1..2).reshape([3]))
    );
    println!(
        ">>> tns[:,1]\n{}\n",
        repr(&tns.clone().slice([0..2, 1..2]).reshape([2]))
    );
    println!(
        ">>> tns[1,1:3]\n{}\n",
        repr(&tns.clone().slice([1..2, 1..3]).reshape([2]))
    );
    println!(">>> tns+1\n{}\n", repr(&(tns.clone() + 1)));
    println!(">>> tns*1.5\n{}\n", repr(&(tns.float() * 1.5)));

    let valid_3_tens = imgs.valid3.to_tensor(&dev);
    let valid_7_tens = imgs.valid7.to_tensor(&dev);
    println!(
        ">>> valid_3_tens.shape,valid_7_tens.shape\n({:?}, {:?})\n",
        valid_3_tens.dims(),
        valid_7_tens.dims()
    );

    println!(
        ">>> mnist_distance(a_3, mean3)\n{}\n",
        repr(&mnist_distance(a_3.clone().unsqueeze::<3>(), mean3.clone()))
    );
    let valid_3_dist = mnist_distance(valid_3_tens.clone(), mean3.clone());
    println!(
        ">>> valid_3_dist, valid_3_dist.shape\n({}, {:?})\n",
        repr(&valid_3_dist),
        valid_3_dist.dims()
    );
    println!(
        ">>> tensor([1,2,3]) + tensor(1)\n{}\n",
        repr(&(Tensor::<1, Int>::from_data([1, 2, 3], &dev) + 1))
    );
    println!(
        ">>> (valid_3_tens-mean3).shape\n{:?}\n",
        (valid_3_tens.clone() - mean3.clone().unsqueeze::<3>()).dims()
    );

    let one = model.is_3(a_3.unsqueeze::<3>());
    println!(
        ">>> is_3(a_3), is_3(a_3).float()\n({}, {})\n",
        repr(&one),
        repr(&one.clone().float())
    );
    println!(
        ">>> is_3(valid_3_tens)\n{}\n",
        repr(&model.is_3(valid_3_tens.clone()))
    );

    let (acc3, acc7) = model.accuracy(valid_3_tens, valid_7_tens);
    println!(">>> accuracy_3s,accuracy_7s,(accuracy_3s+accuracy_7s)/2");
    println!(
        "(tensor({acc3:.4}), tensor({acc7:.4}), tensor({:.4}))",
        (acc3 + acc7) / 2.0
    );
    Ok(())
}
