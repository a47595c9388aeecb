//! The chapter's model written from scratch: raw parameter tensors, `linear1`, a hand-written
//! training loop. Everything the [`Learner`](crate::learner::Learner) later does for you, spelled
//! out so it can be read beside the book.

use burn::prelude::*;
use burn::tensor::{Distribution, Gradients};

use crate::data::{DataLoader, TensorDataset};
use crate::learner::BasicOptim;
use crate::loss::mnist_loss;
use crate::metrics::batch_accuracy;

/// `(torch.randn(size)*std).requires_grad_()`: random parameters that will receive gradients.
///
/// Burn draws from the device's generator: call `device.seed(n)` first for the same numbers.
pub fn init_params(shape: [usize; 2], std: f64, device: &Device) -> Tensor<2> {
    Tensor::<2>::random(shape, Distribution::Normal(0.0, std), device).require_grad()
}

/// `xb@weights + bias`, with `params = [weights [784, 1], bias [1, 1]]`.
pub fn linear1(xb: Tensor<2>, params: &[Tensor<2>]) -> Tensor<2> {
    xb.matmul(params[0].clone()) + params[1].clone()
}

/// The chapter's flattened data: images as rows of 784 pixels (`train_x.view(-1, 28*28)`).
pub fn flatten(ds: TensorDataset<4>) -> TensorDataset<2> {
    let [n, c, h, w] = ds.x.dims();
    TensorDataset::new(ds.x.reshape([n, c * h * w]), ds.y)
}

/// A model as the chapter writes one: a function of the inputs and the parameters.
pub type ScratchModel = fn(Tensor<2>, &[Tensor<2>]) -> Tensor<2>;

/// `calc_grad`: the loss of one batch, and its gradients with respect to the parameters.
pub fn calc_grad(
    xb: Tensor<2>,
    yb: Tensor<1, Int>,
    model: ScratchModel,
    params: &[Tensor<2>],
) -> Gradients {
    let preds = model(xb, params);
    mnist_loss(preds, yb).backward()
}

/// `train_epoch`: one pass over the training batches, stepping the optimizer after each.
pub fn train_epoch(dl: &DataLoader<TensorDataset<2>>, model: ScratchModel, opt: &mut BasicOptim) {
    for (xb, yb) in dl {
        let grads = calc_grad(xb, yb, model, &opt.params);
        opt.step(&grads);
    }
}

/// `validate_epoch`: the mean of the batch accuracies over the validation set, rounded to 4
/// decimals as the chapter prints it.
pub fn validate_epoch(
    dl: &DataLoader<TensorDataset<2>>,
    model: ScratchModel,
    params: &[Tensor<2>],
) -> f32 {
    let params: Vec<Tensor<2>> = params.iter().map(|p| p.clone().inner()).collect();
    let accs: Vec<f32> = dl
        .iter()
        .map(|(xb, yb)| batch_accuracy(model(xb.inner(), &params), yb.inner()).into_scalar::<f32>())
        .collect();
    let mean = accs.iter().sum::<f32>() / accs.len().max(1) as f32;
    (mean * 10_000.0).round() / 10_000.0
}
