//! fastbook chapter 4, "Stochastic gradient descent": gradients, and the "speed" fit end to end.
//!
//! `cargo run --release --example ch04_sgd`
//! Plots go to `target/ch04/`.

use std::path::PathBuf;

use burn::tensor::Distribution;
use fastburn::loss::mse_loss;
use fastburn::prelude::*;
use fastburn::show::{Panel, Series, plot_function, save_plot};

/// `a*(t**2) + (b*t) + c`
fn f(t: Tensor<1>, params: &Tensor<1>) -> Tensor<1> {
    let p = |i: usize| params.clone().slice_dim(0, i..i + 1);
    t.clone().square() * p(0) + t * p(1) + p(2)
}

fn points(t: &Tensor<1>, y: &Tensor<1>) -> Vec<(f64, f64)> {
    let t: Vec<f32> = t.to_data().iter::<f32>().collect();
    let y: Vec<f32> = y.to_data().iter::<f32>().collect();
    t.iter()
        .zip(&y)
        .map(|(&a, &b)| (a as f64, b as f64))
        .collect()
}

fn main() -> fastburn::Result<()> {
    let out = PathBuf::from("target/ch04");
    let dev = device();
    dev.seed(42);

    plot_function(
        |x| x * x,
        "f(x) = x²",
        -2.0,
        2.0,
        &out.join("quadratic.png"),
    )?;
    println!(
        ">>> plot_function(f, 'x', 'x**2')   (saved {})\n",
        out.join("quadratic.png").display()
    );

    let xt = Tensor::<1>::from_floats([3.0f32], &dev).require_grad();
    let yt = xt.clone().square().sum();
    println!(
        ">>> xt = tensor(3.).requires_grad_(); yt = f(xt); yt\n{}",
        repr(&yt.clone().inner())
    );
    let grads = yt.backward();
    println!(
        ">>> yt.backward(); xt.grad\n{}\n",
        repr(&xt.grad(&grads).expect("xt has a gradient"))
    );

    let xt = Tensor::<1>::from_floats([3.0f32, 4.0, 10.0], &dev).require_grad();
    let grads = xt.clone().square().sum().backward();
    println!(">>> xt = tensor([3.,4.,10.]).requires_grad_(); f(xt).backward(); xt.grad");
    println!("{}\n", repr(&xt.grad(&grads).expect("xt has a gradient")));

    // The roller coaster: speed measured over 20 seconds.
    let time = Tensor::<1, Int>::arange(0..20, &dev).float();
    let noise = Tensor::<1>::random([20], Distribution::Normal(0.0, 1.0), &dev);
    let speed = noise * 3.0 + (time.clone() - 9.5).square() * 0.75 + 1.0;
    println!(
        ">>> time = torch.arange(0,20).float(); speed = torch.randn(20)*3 + 0.75*(time-9.5)**2 + 1"
    );
    println!("{}\n", repr(&speed));

    let mut params = Tensor::<1>::random([3], Distribution::Normal(0.0, 1.0), &dev).require_grad();
    let orig_params = params.clone().inner();
    let lr = 1e-5;
    let preds = f(time.clone(), &params);
    println!(
        ">>> loss = mse(preds, speed)\n{}\n",
        repr(&mse_loss(preds.clone(), speed.clone()).inner())
    );
    let show_preds = |title: &str, preds: &Tensor<1>| Panel {
        title: title.into(),
        x_label: "time".into(),
        y_label: "speed".into(),
        series: vec![
            Series::points("speed", points(&time, &speed)),
            Series::points("preds", points(&time, preds)),
        ],
        log_x: false,
    };
    save_plot(
        &[show_preds("initial parameters", &preds.inner())],
        1,
        &out.join("speed_initial.png"),
    )?;

    // `apply_step`: predict, measure the loss, step the parameters against the gradient.
    let apply_step = |params: &mut Tensor<1>| -> (f32, Tensor<1>) {
        let preds = f(time.clone(), params);
        let loss = mse_loss(preds.clone(), speed.clone());
        let grads = loss.backward();
        let g = params.grad(&grads).expect("params has a gradient");
        *params = (params.clone().inner() - g * lr).autodiff().require_grad();
        (loss.into_scalar::<f32>(), preds.inner())
    };
    println!(">>> for i in range(10): apply_step(params)");
    for _ in 0..10 {
        println!("{:.4}", apply_step(&mut params).0);
    }
    params = orig_params.autodiff().require_grad();
    let panels: Vec<Panel> = (0..4)
        .map(|i| show_preds(&format!("step {i}"), &apply_step(&mut params).1))
        .collect();
    save_plot(&panels, 4, &out.join("speed_steps.png"))?;
    println!(
        "\n>>> _,axs = plt.subplots(1,4); for ax in axs: show_preds(apply_step(params, False), ax)\n(saved {} and {})",
        out.join("speed_initial.png").display(),
        out.join("speed_steps.png").display()
    );

    plot_function(
        |x| 1.0 / (1.0 + (-x).exp()),
        "Sigmoid",
        -4.0,
        4.0,
        &out.join("sigmoid.png"),
    )?;
    plot_function(|x| x.max(0.0), "ReLU", -2.1, 2.1, &out.join("relu.png"))?;
    println!(
        "\n>>> plot_function(torch.sigmoid, title='Sigmoid', min=-4, max=4)   (saved {})",
        out.join("sigmoid.png").display()
    );
    println!(
        ">>> plot_function(F.relu)   (saved {})",
        out.join("relu.png").display()
    );
    Ok(())
}
