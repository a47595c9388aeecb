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

/// fastai's `LabelSmoothingCrossEntropy(eps)`: the target is `1 - eps` on the true class plus
/// `eps` spread evenly over all classes, `-(1-eps) log p_y - eps/K sum_k log p_k`. The model is
/// never pushed to infinite confidence, which regularises short schedules.
pub fn label_smoothing_cross_entropy_eps(
    predictions: Tensor<2>,
    targets: Tensor<1, Int>,
    eps: f64,
) -> Tensor<1> {
    let [b, _] = predictions.dims();
    let log_p = activation::log_softmax(predictions, 1);
    let nll = log_p
        .clone()
        .gather(1, targets.reshape([b, 1]))
        .mean()
        .neg();
    let spread = log_p.mean().neg();
    nll * (1.0 - eps) + spread * eps
}

/// [`label_smoothing_cross_entropy_eps`] with fastai's default `eps = 0.1`.
pub fn label_smoothing_cross_entropy(predictions: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    label_smoothing_cross_entropy_eps(predictions, targets, 0.1)
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
    fn label_smoothing_matches_its_formula_and_is_cross_entropy_at_zero() {
        let dev = Device::flex();
        let logits = Tensor::<2>::from_floats([[2.0f32, 0.0, -1.0], [0.5, 0.5, 3.0]], &dev);
        let y = Tensor::<1, Int>::from_ints([0, 1], &dev);
        let ce = cross_entropy(logits.clone(), y.clone()).into_scalar::<f32>();
        let at0 = label_smoothing_cross_entropy_eps(logits.clone(), y.clone(), 0.0);
        assert!((at0.into_scalar::<f32>() - ce).abs() < 1e-6);
        // By hand: log-softmax of each row, then (1-eps) * nll + eps * mean(-log p).
        let lse = |r: [f64; 3]| r.iter().map(|v| v.exp()).sum::<f64>().ln();
        let rows = [[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]];
        let (mut nll, mut spread) = (0.0, 0.0);
        for (r, t) in rows.iter().zip([0usize, 1]) {
            let l = lse(*r);
            nll += (l - r[t]) / 2.0;
            spread += r.iter().map(|v| l - v).sum::<f64>() / 3.0 / 2.0;
        }
        let want = 0.9 * nll + 0.1 * spread;
        let got = label_smoothing_cross_entropy(logits, y).into_scalar::<f32>() as f64;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

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
