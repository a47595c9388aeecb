//! fastai's `vision_learner`: a ResNet with a fresh head, cross-entropy, accuracy and Adam.

use burn::prelude::*;

use super::base::Learner;
use super::optimizer::ADAM;
use crate::data::{DataLoaders, Dataset, IntoImageBatch};
use crate::loss::cross_entropy;
use crate::metrics::ACCURACY;
use crate::models::ResNet;

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
