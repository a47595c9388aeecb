//! EfficientNet-Lite0 as the `efficientnet-lite-pytorch` package builds it (lukemelas'
//! EfficientNet-PyTorch with TensorFlow's Lite changes): a 3x3/2 stem, sixteen mobile inverted
//! bottleneck blocks (1x1 expansion, depthwise kxk, 1x1 projection, a shortcut where the shape
//! allows), a 1x1 head to 1280 channels, average pooling, dropout 0.2 and a linear classifier;
//! ReLU6 throughout, no squeeze-and-excitation, BatchNorm with eps 1e-3 and PyTorch momentum 0.01.
//!
//! Its convolutions pad as TensorFlow's "SAME" does, computed once for the nominal 224x224 input
//! (the package's `Conv2dStaticSamePadding`): a stride-2 convolution pads less before than after,
//! and the padding stays the same whatever size the input has, as it does in PyTorch.
//!
//! The field names are the package's (`_conv_stem`, `_blocks.3._depthwise_conv`, ...), so its
//! state dict loads by name ([`EfficientNetLite::load_state_dict`]).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;

use super::batch_norm::{batch_norm, batch_norm_relu6};
use super::conv::conv2d;
use super::{FastaiHead, Model};

/// The nominal input size the "SAME" paddings are computed for.
pub const LITE0_IMAGE_SIZE: usize = 224;

/// TensorFlow's "SAME" padding for a `k`-wide kernel with stride `s` on an input `size` wide:
/// (before, after).
fn same_padding(size: usize, k: usize, s: usize) -> (usize, usize) {
    let out = size.div_ceil(s);
    let pad = ((out - 1) * s + k).saturating_sub(size);
    (pad / 2, pad - pad / 2)
}

/// A convolution without bias, padded as "SAME" for a square input `size` wide.
fn conv(
    c_in: usize,
    c_out: usize,
    k: usize,
    s: usize,
    groups: usize,
    size: usize,
    device: &Device,
) -> Conv2d {
    let (before, after) = same_padding(size, k, s);
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([s, s])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(before, before, after, after))
        .with_bias(false)
        .init(device)
}

fn bn(features: usize, device: &Device) -> BatchNorm {
    // The package's BatchNorm2d(momentum=1-0.99, eps=1e-3).
    BatchNormConfig::new(features)
        .with_momentum(0.01)
        .with_epsilon(1e-3)
        .init(device)
}

/// One mobile inverted bottleneck block (the package's `MBConvBlock` without squeeze-and-
/// excitation).
#[derive(Module, Debug)]
pub struct MBConvBlock {
    /// The 1x1 expansion (absent when the expansion ratio is 1).
    pub _expand_conv: Option<Conv2d>,
    pub _bn0: Option<BatchNorm>,
    pub _depthwise_conv: Conv2d,
    pub _bn1: BatchNorm,
    pub _project_conv: Conv2d,
    pub _bn2: BatchNorm,
    /// Input and output have one shape: the block adds its input back.
    pub skip: bool,
    /// The probability with which training drops the block's residual branch for an image
    /// (drop connect, as the package: `0.2 * index / blocks`).
    pub drop_connect: f64,
}

impl MBConvBlock {
    fn forward(&self, inputs: Tensor<4>) -> Tensor<4> {
        let mut x = inputs.clone();
        if let (Some(c), Some(b)) = (&self._expand_conv, &self._bn0) {
            x = batch_norm_relu6(b, conv2d(c, x));
        }
        x = batch_norm_relu6(&self._bn1, conv2d(&self._depthwise_conv, x));
        x = batch_norm(&self._bn2, conv2d(&self._project_conv, x));
        if !self.skip {
            return x;
        }
        let training = x.device().is_autodiff();
        if training && self.drop_connect > 0.0 {
            // Each image keeps its branch with probability `keep`, scaled by 1/keep.
            let keep = 1.0 - self.drop_connect;
            let n = x.dims()[0];
            let mask = Tensor::<4>::random(
                [n, 1, 1, 1],
                burn::tensor::Distribution::Uniform(0.0, 1.0),
                &x.device(),
            )
            .add_scalar(keep)
            .floor()
            .div_scalar(keep);
            x = x * mask;
        }
        x + inputs
    }
}

/// EfficientNet-Lite0, with its ImageNet classifier or another number of outputs: the
/// package's network, field for field, so its state dict loads as it is.
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    pub _conv_stem: Conv2d,
    pub _bn0: BatchNorm,
    pub _blocks: Vec<MBConvBlock>,
    pub _conv_head: Conv2d,
    pub _bn1: BatchNorm,
    pub _dropout: Dropout,
    pub _fc: Linear,
}

/// EfficientNet-Lite0 cut before its pooling layer (fastai's `create_body`): what a pretrained
/// learner keeps of the ImageNet network, with the package's field names.
#[derive(Module, Debug)]
pub struct EfficientNetLiteBody {
    pub _conv_stem: Conv2d,
    pub _bn0: BatchNorm,
    pub _blocks: Vec<MBConvBlock>,
    pub _conv_head: Conv2d,
    pub _bn1: BatchNorm,
}

/// The features of the body's layers (the package's `extract_features`).
fn features(
    stem: &Conv2d,
    bn0: &BatchNorm,
    blocks: &[MBConvBlock],
    head: &Conv2d,
    bn1: &BatchNorm,
    x: Tensor<4>,
) -> Tensor<4> {
    let mut x = batch_norm_relu6(bn0, conv2d(stem, x));
    for block in blocks {
        x = block.forward(x);
    }
    batch_norm_relu6(bn1, conv2d(head, x))
}

/// The channels of the body's output.
pub const LITE0_FEATURES: usize = 1280;

/// EfficientNet-Lite0's stages: (repeats, kernel, stride, expansion, input channels, output
/// channels), the package's `r1_k3_s11_e1_i32_o16`, ...
const LITE0_STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

impl EfficientNetLiteBody {
    /// EfficientNet-Lite0's body for `n_in`-channel images (3 for its ImageNet weights), freshly
    /// initialised.
    pub fn lite0(n_in: usize, device: &Device) -> Self {
        let mut size = LITE0_IMAGE_SIZE;
        let _conv_stem = conv(n_in, 32, 3, 2, 1, size, device);
        size = size.div_ceil(2);
        let total: usize = LITE0_STAGES.iter().map(|s| s.0).sum();
        let mut _blocks = Vec::with_capacity(total);
        for (repeats, k, stride, expand, c_in, c_out) in LITE0_STAGES {
            for r in 0..repeats {
                let (c_in, s) = if r == 0 { (c_in, stride) } else { (c_out, 1) };
                let mid = c_in * expand;
                let (_expand_conv, _bn0) = if expand == 1 {
                    (None, None)
                } else {
                    (
                        Some(conv(c_in, mid, 1, 1, 1, size, device)),
                        Some(bn(mid, device)),
                    )
                };
                let index = _blocks.len();
                _blocks.push(MBConvBlock {
                    _expand_conv,
                    _bn0,
                    _depthwise_conv: conv(mid, mid, k, s, mid, size, device),
                    _bn1: bn(mid, device),
                    _project_conv: conv(mid, c_out, 1, 1, 1, size.div_ceil(s), device),
                    _bn2: bn(c_out, device),
                    skip: s == 1 && c_in == c_out,
                    drop_connect: 0.2 * index as f64 / total as f64,
                });
                size = size.div_ceil(s);
            }
        }
        Self {
            _conv_stem,
            _bn0: bn(32, device),
            _blocks,
            _conv_head: conv(320, LITE0_FEATURES, 1, 1, 1, size, device),
            _bn1: bn(LITE0_FEATURES, device),
        }
    }

    /// The feature maps before pooling: [`LITE0_FEATURES`] channels.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        features(
            &self._conv_stem,
            &self._bn0,
            &self._blocks,
            &self._conv_head,
            &self._bn1,
            x,
        )
    }
}

impl EfficientNetLite {
    /// EfficientNet-Lite0 with `n_out` outputs (1000 for ImageNet), freshly initialised.
    pub fn lite0(n_out: usize, device: &Device) -> Self {
        let body = EfficientNetLiteBody::lite0(3, device);
        Self {
            _conv_stem: body._conv_stem,
            _bn0: body._bn0,
            _blocks: body._blocks,
            _conv_head: body._conv_head,
            _bn1: body._bn1,
            _dropout: DropoutConfig::new(0.2).init(),
            _fc: LinearConfig::new(LITE0_FEATURES, n_out).init(device),
        }
    }

    /// The feature maps before pooling (the package's `extract_features`): 1280 channels.
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        features(
            &self._conv_stem,
            &self._bn0,
            &self._blocks,
            &self._conv_head,
            &self._bn1,
            x,
        )
    }

    /// The network without its pooling and classifier (fastai's `create_body`), its weights kept.
    pub fn into_body(self) -> EfficientNetLiteBody {
        EfficientNetLiteBody {
            _conv_stem: self._conv_stem,
            _bn0: self._bn0,
            _blocks: self._blocks,
            _conv_head: self._conv_head,
            _bn1: self._bn1,
        }
    }
}

impl Model for EfficientNetLite {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let f = self.features(x);
        let [b, c, _, _] = f.dims();
        let pooled = f.mean_dim(2).mean_dim(3).reshape([b, c]);
        self._fc.forward(self._dropout.forward(pooled))
    }
    fn n_out(&self) -> usize {
        self._fc.weight.dims()[1]
    }
}

/// EfficientNet-Lite0's body with fastai's head: what `vision_learner(dls, arch)` trains, from
/// ImageNet weights ([`ImageNetArch::pretrained`](super::ImageNetArch::pretrained)) or from
/// scratch ([`efficientnet_lite0`]).
#[derive(Module, Debug)]
pub struct EfficientNet {
    pub body: EfficientNetLiteBody,
    pub head: FastaiHead,
}

impl Model for EfficientNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.body.forward(x))
    }
    fn n_out(&self) -> usize {
        self.head.lin2.weight.dims()[1]
    }
    fn arch(&self) -> Option<super::Arch> {
        Some(super::Arch::EfficientNetLite0)
    }
    /// The body, then the head (fastai's `default_split` for a body and a head).
    fn param_groups(&self) -> Vec<String> {
        vec!["body".into(), "head".into()]
    }
}

/// EfficientNet-Lite0's body (for `n_in`-channel images) with fastai's head for `n_out` classes,
/// from scratch (`pretrained=False`).
///
/// ```
/// use burn::prelude::*;
/// use fastburn::models::{Model, efficientnet_lite0, trainable_params};
/// let dev = Device::flex();
/// let net = efficientnet_lite0(3, 4, &dev);
/// // The package's 4,652,008 parameters without its classifier (1280 x 1000 + 1000).
/// assert_eq!(trainable_params(&net.body), 4_652_008 - 1_281_000);
/// let out = net.valid().forward(Tensor::zeros([2, 3, 64, 64], &dev));
/// assert_eq!(out.dims(), [2, 4]);
/// ```
pub fn efficientnet_lite0(n_in: usize, n_out: usize, device: &Device) -> EfficientNet {
    EfficientNet {
        body: EfficientNetLiteBody::lite0(n_in, device),
        head: FastaiHead::new(LITE0_FEATURES, n_out, device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_is_tensorflows() {
        // Stride 1 pads (k-1)/2 on each side; stride 2 on an even size pads one less before.
        assert_eq!(same_padding(224, 3, 1), (1, 1));
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(56, 5, 2), (1, 2));
        assert_eq!(same_padding(14, 5, 1), (2, 2));
        assert_eq!(same_padding(7, 1, 1), (0, 0));
    }

    #[test]
    fn lite0_has_the_packages_shape() {
        let dev = Device::flex();
        let net = EfficientNetLite::lite0(1000, &dev);
        assert_eq!(net._blocks.len(), 16);
        assert_eq!(super::super::trainable_params(&net), 4_652_008);
        let out = net.forward(Tensor::zeros([1, 3, 224, 224], &dev));
        assert_eq!(out.dims(), [1, 1000]);
    }
}
