use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;

use super::Model;

/// Two linear layers with a ReLU between: the chapter's first neural network.
#[derive(Module, Debug)]
pub struct SimpleNet {
    pub l1: Linear,
    pub act: Relu,
    pub l2: Linear,
}

/// `nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))`.
///
/// ```
/// use burn::module::Module;
/// use burn::prelude::*;
/// let net = fastburn::models::simple_net(28 * 28, 30, 1, &Device::flex());
/// assert_eq!(net.num_params(), 784 * 30 + 30 + 30 + 1);
/// ```
pub fn simple_net(n_in: usize, hidden: usize, n_out: usize, device: &Device) -> SimpleNet {
    SimpleNet {
        l1: LinearConfig::new(n_in, hidden).init(device),
        act: Relu::new(),
        l2: LinearConfig::new(hidden, n_out).init(device),
    }
}

impl Model for SimpleNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.act.forward(self.l1.forward(x.flatten(1, 3)));
        self.l2.forward(x)
    }
    fn n_out(&self) -> usize {
        self.l2.weight.dims()[1]
    }
    fn arch(&self) -> Option<super::Arch> {
        Some(super::Arch::SimpleNet)
    }
}
