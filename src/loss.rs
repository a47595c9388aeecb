//! Loss functions, named as in the chapter and in PyTorch.
//!
//! Learner losses take the model's raw outputs `[batch, n_out]` and integer labels `[batch]`.

use burn::prelude::*;
use burn::tensor::activation;

/// A loss the [`Learner`](crate::learner::Learner) can train with.
pub type LossFn = fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1>;

/// `1 / (1 + e^-x)`: squashes any number into 0..1.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    activation::sigmoid(x)
}

/// The chapter's loss for one output: how far the sigmoid of the prediction is from the label
/// (`torch.where(targets==1, 1-predictions, predictions).mean()`).
///
/// ```
/// use burn::prelude::*;
/// let dev = Device::flex();
/// let preds = Tensor::<2>::from_floats([[0.9f32], [0.4], [-0.2]], &dev);
/// let trgts = Tensor::<1, Int>::from_data([1, 0, 1], &dev);
/// let loss = fastburn::loss::mnist_loss(preds, trgts).into_scalar::<f32>();
/// let s = |x: f32| 1.0 / (1.0 + (-x).exp());
/// let want = ((1.0 - s(0.9)) + s(0.4) + (1.0 - s(-0.2))) / 3.0;
/// assert!((loss - want).abs() < 1e-6);
/// ```
pub fn mnist_loss(predictions: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, _] = predictions.dims();
    let p = sigmoid(predictions);
    let is_one = targets.reshape([b, 1]).equal_elem(1);
    p.clone().mask_where(is_one, p.neg() + 1.0).mean()
}

/// Binary cross-entropy on logits, computed stably through `log_sigmoid`.
pub fn bce_with_logits(predictions: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, _] = predictions.dims();
    let y = targets.reshape([b, 1]).float();
    let pos = activation::log_sigmoid(predictions.clone());
    let neg = activation::log_sigmoid(predictions.neg());
    (y.clone() * pos + (y.neg() + 1.0) * neg).mean().neg()
}

/// Cross-entropy of logits `[batch, classes]` against class indices (`F.cross_entropy`).
pub fn cross_entropy(predictions: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, _] = predictions.dims();
    activation::log_softmax(predictions, 1)
        .gather(1, targets.reshape([b, 1]))
        .mean()
        .neg()
}

/// Mean absolute error (`F.l1_loss`).
pub fn l1_loss<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<1> {
    (a - b).abs().mean()
}

/// Mean squared error (`F.mse_loss`).
pub fn mse_loss<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<1> {
    (a - b).square().mean()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_and_bce_match_hand_computed_values() {
        let dev = Device::flex();
        let logits = Tensor::<2>::from_floats([[2.0f32, 0.0, -1.0], [0.5, 0.5, 3.0]], &dev);
        let y = Tensor::<1, Int>::from_data([0, 2], &dev);
        let lse = |v: &[f32]| v.iter().map(|x| x.exp()).sum::<f32>().ln();
        let want = ((lse(&[2.0, 0.0, -1.0]) - 2.0) + (lse(&[0.5, 0.5, 3.0]) - 3.0)) / 2.0;
        let got = cross_entropy(logits, y).into_scalar::<f32>();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");

        let x = Tensor::<2>::from_floats([[1.5f32], [-0.5]], &dev);
        let y = Tensor::<1, Int>::from_data([1, 0], &dev);
        let s = |v: f32| 1.0 / (1.0 + (-v).exp());
        let want = -((s(1.5)).ln() + (1.0 - s(-0.5)).ln()) / 2.0;
        let got = bce_with_logits(x, y).into_scalar::<f32>();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
}
