use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::Model;

/// One linear layer on the flattened image: the chapter's `nn.Linear(28*28, 1)`.
#[derive(Module, Debug)]
pub struct LinearModel {
    pub linear: Linear,
}

/// `nn.Linear(n_in, n_out)` on flattened images, initialised as PyTorch does.
///
/// ```
/// use burn::prelude::*;
/// use fastburn::models::{Model, linear};
/// let m = linear(28 * 28, 1, &Device::flex());
/// assert_eq!(m.forward(Tensor::zeros([2, 1, 28, 28], &Device::flex())).dims(), [2, 1]);
/// ```
pub fn linear(n_in: usize, n_out: usize, device: &Device) -> LinearModel {
    LinearModel {
        linear: LinearConfig::new(n_in, n_out).init(device),
    }
}

impl Model for LinearModel {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.linear.forward(x.flatten(1, 3))
    }
    fn n_out(&self) -> usize {
        self.linear.weight.dims()[1]
    }
    fn arch(&self) -> Option<super::Arch> {
        Some(super::Arch::Linear)
    }
}
