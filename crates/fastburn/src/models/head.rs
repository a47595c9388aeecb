//! fastai's `create_head`: the classifier a `vision_learner` puts on a body, pretrained or not.

use burn::module::Initializer;
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::prelude::*;

use super::batch_norm::batch_norm;

/// fastai's `create_head(2 * n_features, n_out)`: concat pooling (max and average), flatten,
/// then BatchNorm-Dropout(0.25)-Linear(2·n_features, 512)-ReLU and
/// BatchNorm-Dropout(0.5)-Linear(512, n_out).
#[derive(Module, Debug)]
pub struct FastaiHead {
    pub bn1: BatchNorm,
    pub drop1: Dropout,
    pub lin1: Linear,
    pub relu: Relu,
    pub bn2: BatchNorm,
    pub drop2: Dropout,
    pub lin2: Linear,
}

impl FastaiHead {
    pub fn new(n_features: usize, n_out: usize, device: &Device) -> Self {
        // fastai initialises its head with `nn.init.kaiming_normal_` (fan-in, gain √2).
        let lin = |i: usize, o: usize| {
            LinearConfig::new(i, o)
                .with_bias(false)
                .with_initializer(Initializer::KaimingNormal {
                    gain: 2f64.sqrt(),
                    fan_out_only: false,
                })
                .init(device)
        };
        // fastai's `BatchNorm` layer starts its bias at 1e-3.
        let head_bn = |n: usize| {
            let mut b = BatchNormConfig::new(n).init(device);
            b.beta = burn::module::Param::from_tensor(Tensor::full([n], 1e-3, device));
            b
        };
        Self {
            bn1: head_bn(2 * n_features),
            drop1: DropoutConfig::new(0.25).init(),
            lin1: lin(2 * n_features, 512),
            relu: Relu::new(),
            bn2: head_bn(512),
            drop2: DropoutConfig::new(0.5).init(),
            lin2: lin(512, n_out),
        }
    }

    pub fn forward(&self, features: Tensor<4>) -> Tensor<2> {
        let [b, c, h, w] = features.dims();
        let flat = features.reshape([b, c, h * w]);
        // AdaptiveConcatPool2d: max first, then average, as fastai concatenates them.
        let max = flat.clone().max_dim(2).reshape([b, c]);
        let avg = flat.mean_dim(2).reshape([b, c]);
        let x = Tensor::cat(vec![max, avg], 1);
        let x = self
            .lin1
            .forward(self.drop1.forward(batch_norm(&self.bn1, x)));
        let x = self.relu.forward(x);
        self.lin2
            .forward(self.drop2.forward(batch_norm(&self.bn2, x)))
    }
}
