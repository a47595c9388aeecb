//! A small convolutional net for small images (digits): fastai's chapter-13 `simple_cnn` idea
//! (stacks of convolution, BatchNorm, ReLU, downsampling by stride) with 3x3 kernels, a second
//! convolution at each resolution and fastai's concat-pool head. It is what the all-digits
//! recipe ([`Recipe::all_digits`](crate::learner::Recipe::all_digits)) trains: ~9 M multiply-adds
//! a digit (ResNet-18: ~0.6 G), 99.5% on MNIST in 3 epochs (docs/speed.md, "All ten digits").

use burn::module::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

use super::Model;
use super::batch_norm::batch_norm_relu;
use super::conv::conv2d;

/// Convolution (3x3, no bias), BatchNorm, ReLU: fastai's `ConvLayer`.
#[derive(Module, Debug)]
pub struct ConvLayer {
    pub conv: Conv2d,
    pub bn: BatchNorm,
    pub relu: Relu,
}

impl ConvLayer {
    pub fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .with_initializer(Initializer::KaimingNormal {
                    gain: 2f64.sqrt(),
                    fan_out_only: false,
                })
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
            relu: Relu::new(),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_relu(&self.bn, conv2d(&self.conv, x))
    }
}

/// The layers, then concat pooling (max and average over the last map) and one linear layer.
#[derive(Module, Debug)]
pub struct SimpleCnn {
    pub layers: Vec<ConvLayer>,
    pub head: Linear,
}

/// The widths of [`simple_cnn`]'s layers and their strides.
pub const SIMPLE_CNN_LAYERS: [(usize, usize); 4] = [(32, 2), (64, 1), (64, 2), (128, 1)];

/// A `simple_cnn` for `n_in`-channel images and `n_out` classes: 3x3 convolutions with
/// [`SIMPLE_CNN_LAYERS`]' widths and strides (28 → 14 → 7 for digits), concat pooling, linear.
///
/// The first layer downsamples at once: a digit loses nothing at 14x14 with 32 channels, and
/// the 28x28 maps were half the step's time for a tenth of its arithmetic (bench/README.md).
///
/// ```
/// use burn::prelude::*;
/// use fastburn::models::{Model, simple_cnn};
/// let dev = Device::flex();
/// let net = simple_cnn(1, 10, &dev);
/// let out = net.valid().forward(Tensor::zeros([2, 1, 28, 28], &dev));
/// assert_eq!(out.dims(), [2, 10]);
/// ```
pub fn simple_cnn(n_in: usize, n_out: usize, device: &Device) -> SimpleCnn {
    simple_cnn_with(n_in, n_out, &SIMPLE_CNN_LAYERS, device)
}

/// [`simple_cnn`] with other `(width, stride)` layers.
pub fn simple_cnn_with(
    n_in: usize,
    n_out: usize,
    layers: &[(usize, usize)],
    device: &Device,
) -> SimpleCnn {
    let mut c = n_in;
    let layers: Vec<ConvLayer> = layers
        .iter()
        .map(|&(w, s)| {
            let l = ConvLayer::new(c, w, s, device);
            c = w;
            l
        })
        .collect();
    SimpleCnn {
        layers,
        head: LinearConfig::new(2 * c, n_out).init(device),
    }
}

impl Model for SimpleCnn {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for l in &self.layers {
            x = l.forward(x);
        }
        let [b, c, h, w] = x.dims();
        let flat = x.reshape([b, c, h * w]);
        let max = flat.clone().max_dim(2).reshape([b, c]);
        let avg = flat.mean_dim(2).reshape([b, c]);
        self.head.forward(Tensor::cat(vec![max, avg], 1))
    }
    fn n_out(&self) -> usize {
        self.head.weight.dims()[1]
    }
    fn arch(&self) -> Option<super::Arch> {
        Some(super::Arch::SimpleCnn)
    }
}
