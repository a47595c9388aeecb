//! ResNet-18, -34 and -50 as torchvision builds them, with fastai's head: what
//! `vision_learner(dls, resnet18, pretrained=False)` trains, and (with torchvision's names, so
//! its ImageNet state dicts load as they are) what `pretrained=True` starts from.

use burn::module::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig};

use super::batch_norm::{batch_norm, batch_norm_add_relu, batch_norm_relu};
use super::conv::conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

use super::{FastaiHead, Model};

/// torchvision's conv init: Kaiming normal, fan-out, gain √2 (for the ReLU that follows).
fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            kernel / 2,
            kernel / 2,
            kernel / 2,
            kernel / 2,
        ))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: 2f64.sqrt(),
            fan_out_only: true,
        })
        .init(device)
}

/// The 7x7/2 stem. With one input channel it stands for fastai's 3-channel stem on three
/// identical channels: the sum of three torchvision-initialised kernels, whose standard deviation
/// is √3 times one kernel's.
fn stem(n_in: usize, width: usize, device: &Device) -> Conv2d {
    let gain = if n_in == 1 { 6f64.sqrt() } else { 2f64.sqrt() };
    Conv2dConfig::new([n_in, width], [7, 7])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain,
            fan_out_only: true,
        })
        .init(device)
}

fn bn(features: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(features).init(device)
}

/// The 1x1 convolution and BatchNorm that match a block's shortcut to its new shape.
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

/// A residual block as torchvision builds it: its `BasicBlock` (two 3x3 convolutions, ResNet-18
/// and -34) or, with `conv3`, its `Bottleneck` (1x1 down to `planes`, 3x3, 1x1 up to
/// `4 * planes`: ResNet-50). One type for both keeps torchvision's parameter names
/// (`layer1.0.conv1.weight`) and the model files of the basic ResNets as they were.
#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    /// The bottleneck's 1x1 expansion (absent in a basic block).
    pub conv3: Option<Conv2d>,
    pub bn3: Option<BatchNorm>,
    pub downsample: Option<Downsample>,
    pub relu: Relu,
}

/// Channels out of a bottleneck block for `planes` (torchvision's `Bottleneck.expansion`).
const EXPANSION: usize = 4;

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        let downsample = (stride != 1 || c_in != c_out).then(|| Downsample {
            conv: conv(c_in, c_out, 1, stride, device),
            bn: bn(c_out, device),
        });
        Self {
            conv1: conv(c_in, c_out, 3, stride, device),
            bn1: bn(c_out, device),
            conv2: conv(c_out, c_out, 3, 1, device),
            bn2: bn(c_out, device),
            conv3: None,
            bn3: None,
            downsample,
            relu: Relu::new(),
        }
    }

    /// torchvision's `Bottleneck` (v1.5: the stride on the 3x3 convolution).
    fn bottleneck(c_in: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let c_out = planes * EXPANSION;
        let downsample = (stride != 1 || c_in != c_out).then(|| Downsample {
            conv: conv(c_in, c_out, 1, stride, device),
            bn: bn(c_out, device),
        });
        Self {
            conv1: conv(c_in, planes, 1, 1, device),
            bn1: bn(planes, device),
            conv2: conv(planes, planes, 3, stride, device),
            bn2: bn(planes, device),
            conv3: Some(conv(planes, c_out, 1, 1, device)),
            bn3: Some(bn(c_out, device)),
            downsample,
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => batch_norm(&d.bn, conv2d(&d.conv, x.clone())),
            None => x.clone(),
        };
        let out = batch_norm_relu(&self.bn1, conv2d(&self.conv1, x));
        match (&self.conv3, &self.bn3) {
            (Some(conv3), Some(bn3)) => {
                let out = batch_norm_relu(&self.bn2, conv2d(&self.conv2, out));
                batch_norm_add_relu(bn3, conv2d(conv3, out), identity)
            }
            _ => batch_norm_add_relu(&self.bn2, conv2d(&self.conv2, out), identity),
        }
    }
}

/// Everything but the classifier: stem (7x7/2 conv, BatchNorm, ReLU, 3x3/2 max-pool) and four
/// stages of residual blocks; 512 feature maps out (2048 for ResNet-50).
#[derive(Module, Debug)]
pub struct ResNetBody {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub relu: Relu,
    pub maxpool: MaxPool2d,
    pub layer1: Vec<BasicBlock>,
    pub layer2: Vec<BasicBlock>,
    pub layer3: Vec<BasicBlock>,
    pub layer4: Vec<BasicBlock>,
}

/// The blocks per stage of each depth (torchvision's `layers`).
const RESNET18: [usize; 4] = [2, 2, 2, 2];
const RESNET34: [usize; 4] = [3, 4, 6, 3];

impl ResNetBody {
    /// Basic blocks, `blocks` per stage: `[2, 2, 2, 2]` for ResNet-18, `[3, 4, 6, 3]` for
    /// ResNet-34.
    pub fn new(n_in: usize, blocks: [usize; 4], device: &Device) -> Self {
        Self::with_blocks(n_in, blocks, false, 64, device)
    }

    /// torchvision's `ResNet(block, layers)` with stage widths `width`, 2x, 4x and 8x that (64
    /// in every torchvision ResNet; narrower ones make small test models with the same names),
    /// bottleneck blocks if `bottleneck` (ResNet-50: `[3, 4, 6, 3]` of them).
    pub fn with_blocks(
        n_in: usize,
        blocks: [usize; 4],
        bottleneck: bool,
        width: usize,
        device: &Device,
    ) -> Self {
        let expansion = if bottleneck { EXPANSION } else { 1 };
        let mut c_in = width;
        let mut stage = |planes: usize, n: usize, stride: usize| -> Vec<BasicBlock> {
            (0..n)
                .map(|i| {
                    let s = if i == 0 { stride } else { 1 };
                    let block = match bottleneck {
                        true => BasicBlock::bottleneck(c_in, planes, s, device),
                        false => BasicBlock::new(c_in, planes, s, device),
                    };
                    c_in = planes * expansion;
                    block
                })
                .collect()
        };
        let (layer1, layer2, layer3, layer4) = (
            stage(width, blocks[0], 1),
            stage(2 * width, blocks[1], 2),
            stage(4 * width, blocks[2], 2),
            stage(8 * width, blocks[3], 2),
        );
        Self {
            conv1: stem(n_in, width, device),
            bn1: bn(width, device),
            relu: Relu::new(),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
        }
    }

    /// The feature maps out: 512 for ResNet-18 and -34, 2048 for ResNet-50.
    pub fn n_features(&self) -> usize {
        let last = self.layer4.last().expect("a ResNet has blocks");
        match &last.conv3 {
            Some(c) => c.weight.dims()[0],
            None => last.conv2.weight.dims()[0],
        }
    }

    /// The architecture these blocks make (by torchvision's depths).
    pub fn arch(&self) -> super::Arch {
        let blocks = [
            self.layer1.len(),
            self.layer2.len(),
            self.layer3.len(),
            self.layer4.len(),
        ];
        let bottleneck = self.layer1.first().is_some_and(|b| b.conv3.is_some());
        match (blocks, bottleneck) {
            (RESNET18, false) => super::Arch::Resnet18,
            (_, false) => super::Arch::Resnet34,
            (_, true) => super::Arch::Resnet50,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self
            .maxpool
            .forward(batch_norm_relu(&self.bn1, conv2d(&self.conv1, x)));
        for block in self
            .layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
        {
            x = block.forward(x);
        }
        x
    }
}

/// A ResNet body with fastai's head.
#[derive(Module, Debug)]
pub struct ResNet {
    pub body: ResNetBody,
    pub head: FastaiHead,
}

impl Model for ResNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.body.forward(x))
    }
    fn n_out(&self) -> usize {
        self.head.lin2.weight.dims()[1]
    }
    fn arch(&self) -> Option<super::Arch> {
        Some(self.body.arch())
    }
    /// fastai's `_resnet_split`: the body, then the head, so `lr=slice(a, b)` and `freeze` act
    /// on them separately.
    fn param_groups(&self) -> Vec<String> {
        vec!["body".into(), "head".into()]
    }
    /// fastai opens grey images as RGB: three identical channels into torchvision's 3-channel
    /// stem, which acts as one channel whose kernel is the sum of the three, and each optimizer
    /// step moves that sum three times as far. The 1-channel stem takes the same steps.
    fn step_multipliers(&self) -> Vec<(String, f64)> {
        match self.body.conv1.weight.shape().dims::<4>()[1] {
            1 => vec![("body.conv1.weight".into(), 3.0)],
            _ => Vec::new(),
        }
    }
}

/// ResNet-18 for `n_in`-channel images and `n_out` classes, from scratch (`pretrained=False`).
///
/// ```
/// use burn::prelude::*;
/// use fastburn::models::{Model, resnet18, trainable_params};
/// let dev = Device::flex();
/// let net = resnet18(3, 2, &dev);
/// // torchvision's ResNet-18 without its classifier.
/// assert_eq!(trainable_params(&net.body), 11_176_512);
/// let out = net.valid().forward(Tensor::zeros([2, 3, 28, 28], &dev));
/// assert_eq!(out.dims(), [2, 2]);
/// ```
pub fn resnet18(n_in: usize, n_out: usize, device: &Device) -> ResNet {
    ResNet {
        body: ResNetDepth::Resnet18.body(n_in, 64, device),
        head: FastaiHead::new(512, n_out, device),
    }
}

/// ResNet-34: the same blocks, `[3, 4, 6, 3]` of them.
pub fn resnet34(n_in: usize, n_out: usize, device: &Device) -> ResNet {
    ResNet {
        body: ResNetDepth::Resnet34.body(n_in, 64, device),
        head: FastaiHead::new(512, n_out, device),
    }
}

/// ResNet-50: `[3, 4, 6, 3]` bottleneck blocks, 2048 features into fastai's head.
///
/// ```
/// use burn::prelude::*;
/// use fastburn::models::{resnet50, trainable_params};
/// let net = resnet50(3, 2, &Device::flex());
/// // torchvision's ResNet-50 without its classifier (2048 x 1000 + 1000).
/// assert_eq!(trainable_params(&net.body), 25_557_032 - 2_049_000);
/// ```
pub fn resnet50(n_in: usize, n_out: usize, device: &Device) -> ResNet {
    let body = ResNetDepth::Resnet50.body(n_in, 64, device);
    ResNet {
        head: FastaiHead::new(body.n_features(), n_out, device),
        body,
    }
}

/// A torchvision ResNet with its ImageNet classifier (`avgpool`, `fc`): what torchvision's
/// state dicts (`resnet18-f37072fd.pth`) hold, parameter for parameter.
#[derive(Module, Debug)]
pub struct TorchvisionResNet {
    pub body: ResNetBody,
    pub fc: burn::nn::Linear,
}

/// The torchvision ResNets fastburn builds: how many blocks each stage has, and of which kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResNetDepth {
    /// `[2, 2, 2, 2]` basic blocks.
    Resnet18,
    /// `[3, 4, 6, 3]` basic blocks.
    Resnet34,
    /// `[3, 4, 6, 3]` bottleneck blocks.
    Resnet50,
}

impl ResNetDepth {
    /// The body of this depth for `n_in` channels with stage widths `width` (64: torchvision's).
    pub fn body(self, n_in: usize, width: usize, device: &Device) -> ResNetBody {
        let (blocks, bottleneck) = match self {
            ResNetDepth::Resnet18 => (RESNET18, false),
            ResNetDepth::Resnet34 => (RESNET34, false),
            ResNetDepth::Resnet50 => (RESNET34, true),
        };
        ResNetBody::with_blocks(n_in, blocks, bottleneck, width, device)
    }
}

impl TorchvisionResNet {
    /// The network of `depth` with stage width `width` (64: torchvision's) and `n_out` classes
    /// (1000: ImageNet's), freshly initialised.
    pub fn new(depth: ResNetDepth, width: usize, n_out: usize, device: &Device) -> Self {
        let body = depth.body(3, width, device);
        Self {
            fc: burn::nn::LinearConfig::new(body.n_features(), n_out).init(device),
            body,
        }
    }

    /// A parameter's name in torchvision's state dict, from its path in this module:
    /// `body.layer1.0.downsample.conv.weight` is `layer1.0.downsample.0.weight`.
    pub fn torch_name(path: &str) -> String {
        path.strip_prefix("body.")
            .unwrap_or(path)
            .replace(".downsample.conv.", ".downsample.0.")
            .replace(".downsample.bn.", ".downsample.1.")
    }
}

impl Model for TorchvisionResNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let f = self.body.forward(x);
        let [b, c, _, _] = f.dims();
        self.fc.forward(f.mean_dim(2).mean_dim(3).reshape([b, c]))
    }
    fn n_out(&self) -> usize {
        self.fc.weight.dims()[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body as Burn's own modules compute it (`Conv2d::forward`): the reference for
    /// [`super::super::conv`]'s faster convolutions.
    fn reference_forward(body: &ResNetBody, x: Tensor<4>) -> Tensor<4> {
        let block = |b: &BasicBlock, x: Tensor<4>| {
            let identity = match &b.downsample {
                Some(d) => d.bn.forward(d.conv.forward(x.clone())),
                None => x.clone(),
            };
            let out = b.relu.forward(b.bn1.forward(b.conv1.forward(x)));
            b.relu
                .forward(b.bn2.forward(b.conv2.forward(out)) + identity)
        };
        let mut x = body
            .maxpool
            .forward(body.relu.forward(body.bn1.forward(body.conv1.forward(x))));
        for b in body
            .layer1
            .iter()
            .chain(&body.layer2)
            .chain(&body.layer3)
            .chain(&body.layer4)
        {
            x = block(b, x);
        }
        x
    }

    /// A whole ResNet-18 body on 28x28 digits, trained mode: the features and the gradients of
    /// the input and of convolution weights in every stage (stride 1 and 2, 7x7, 3x3 on 7x7 down
    /// to 1x1 maps, a 1x1 shortcut) are Burn's, up to float rounding.
    ///
    /// Every value comes from the test's own generator, not Burn's (one for the whole process,
    /// which tests running beside this one draw from too): the same inputs and weights each run.
    #[test]
    fn faster_convolutions_give_burns_features_and_gradients() {
        use burn::module::{ModuleMapper, Param};
        use rand::{Rng, SeedableRng};
        struct Fill(rand::rngs::StdRng);
        impl Fill {
            /// Uniform values of variance `2 / fan_in` (He's), so activations keep their scale.
            fn values(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
                let a = (6.0 / fan_in.max(1) as f32).sqrt();
                (0..n).map(|_| self.0.random_range(-a..a)).collect()
            }
        }
        impl ModuleMapper for Fill {
            fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let shape = p.shape();
                let n = shape.num_elements();
                let v = self.values(n, n / shape[0].max(1));
                p.map(|t| Tensor::from_data(TensorData::new(v, shape), &t.device()).require_grad())
            }
        }
        let dev = Device::flex().autodiff();
        let mut fill = Fill(rand::rngs::StdRng::seed_from_u64(5));
        let body = ResNetBody::new(1, [2, 2, 2, 2], &dev).map(&mut fill);
        let x = Tensor::<4>::from_data(
            TensorData::new(fill.values(8 * 28 * 28, 3), [8, 1, 28, 28]),
            &dev,
        );
        let r = Tensor::<4>::from_data(
            TensorData::new(fill.values(8 * 512, 3), [8, 512, 1, 1]),
            &dev,
        );
        let floats = |t: Tensor<4>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let run = |forward: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let x = x.clone().require_grad();
            let features = forward(x.clone());
            let grads = (features.clone() * r.clone()).sum().backward();
            let weights = [
                &body.conv1,
                &body.layer1[0].conv1,
                &body.layer2[0].conv1,
                &body.layer3[1].conv2,
                &body.layer4[0].conv1,
                &body.layer4[0].downsample.as_ref().unwrap().conv,
                &body.layer4[1].conv2,
            ];
            let mut out = vec![floats(features), floats(x.grad(&grads).unwrap())];
            out.extend(weights.map(|c| floats(c.weight.val().grad(&grads).unwrap())));
            out
        };
        let ours = run(&|x| body.forward(x));
        let burns = run(&|x| reference_forward(&body, x));
        for (i, (a, b)) in ours.iter().zip(&burns).enumerate() {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            let off = a
                .iter()
                .zip(b)
                .filter(|(x, y)| (*x - *y).abs() > 1e-4 * scale)
                .count();
            assert!(
                scale > 0.0 && diff <= 1e-4 * scale,
                "tensor {i}: {diff} vs scale {scale}, {off} of {} off",
                a.len()
            );
        }
    }
}
