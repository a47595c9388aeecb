//! Metrics: numbers for people, printed in the epoch table (the loss is for the optimizer).

use burn::prelude::*;

use crate::loss::sigmoid;

/// A named metric: outputs `[batch, n_out]` and labels `[batch]` to a 1-element tensor.
#[derive(Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub func: fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1>,
}

impl std::fmt::Debug for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The chapter's accuracy for one output: a prediction above 0.5 after the sigmoid means "1".
pub fn batch_accuracy(xb: Tensor<2>, yb: Tensor<1, Int>) -> Tensor<1> {
    let [b, _] = xb.dims();
    let preds = sigmoid(xb).greater_elem(0.5);
    let correct = preds.equal(yb.reshape([b, 1]).equal_elem(1));
    correct.float().mean()
}

/// Fraction of rows whose largest output is the label's (fastai's `accuracy`).
pub fn accuracy(inp: Tensor<2>, targ: Tensor<1, Int>) -> Tensor<1> {
    let [b, _] = inp.dims();
    inp.argmax(1).reshape([b]).equal(targ).float().mean()
}

/// `1 - accuracy`.
pub fn error_rate(inp: Tensor<2>, targ: Tensor<1, Int>) -> Tensor<1> {
    accuracy(inp, targ).neg() + 1.0
}

pub const BATCH_ACCURACY: Metric = Metric {
    name: "batch_accuracy",
    func: batch_accuracy,
};
pub const ACCURACY: Metric = Metric {
    name: "accuracy",
    func: accuracy,
};
pub const ERROR_RATE: Metric = Metric {
    name: "error_rate",
    func: error_rate,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracies_count_correct_rows() {
        let dev = Device::flex();
        let logits = Tensor::<2>::from_floats([[2.0f32], [-1.0], [0.3], [-0.3]], &dev);
        let y = Tensor::<1, Int>::from_data([1, 0, 0, 0], &dev);
        assert_eq!(batch_accuracy(logits, y).into_scalar::<f32>(), 0.75);
        let logits = Tensor::<2>::from_floats([[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7]], &dev);
        let y = Tensor::<1, Int>::from_data([1, 1, 1], &dev);
        let acc = accuracy(logits.clone(), y.clone()).into_scalar::<f32>();
        assert!((acc - 2.0 / 3.0).abs() < 1e-6);
        assert!((error_rate(logits, y).into_scalar::<f32>() - 1.0 / 3.0).abs() < 1e-6);
    }
}
