//! fastai's `Learner.tta` (fastbook chapter 5): predict the validation set several times with
//! training's random crops and augmentation, and blend their average with the plain prediction.
//! A model that has seen the object from many crops and angles is less thrown by one view of it.

use image::DynamicImage;

use super::base::Learner;
use crate::data::{Dataset, ImageDataset, Items};
use crate::error::Result;
use crate::models::{Model, ModelInfo, argmax, device_of, probabilities};

/// Class probabilities per item and each item's target (fastai's `preds, targs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Preds {
    pub probs: Vec<Vec<f32>>,
    pub targets: Vec<usize>,
}

impl Preds {
    /// Each item's most probable class (the first of equals).
    pub fn classes(&self) -> Vec<usize> {
        self.probs.iter().map(|p| argmax(p)).collect()
    }

    /// The fraction of items whose most probable class is their target (fastai's
    /// `accuracy(preds, targs)`).
    pub fn accuracy(&self) -> f32 {
        let right = self
            .classes()
            .iter()
            .zip(&self.targets)
            .filter(|(p, t)| p == t)
            .count();
        right as f32 / self.targets.len().max(1) as f32
    }
}

/// `beta · mean(augmented) + (1 − beta) · plain`, per item and class (fastai's blend).
fn blend(plain: &mut [Vec<f32>], augmented: &[Vec<Vec<f32>>], beta: f64) {
    let (beta, n) = (beta as f32, augmented.len() as f32);
    for (i, p) in plain.iter_mut().enumerate() {
        for (k, v) in p.iter_mut().enumerate() {
            let mean = augmented.iter().map(|pass| pass[i][k]).sum::<f32>() / n;
            *v = beta * mean + (1.0 - beta) * *v;
        }
    }
}

/// The seed of augmented pass `pass`, batch `batch`: each pass sees other crops.
fn pass_seed(seed: u64, pass: usize, batch: usize) -> u64 {
    seed ^ 0x7474_6100_0000_0000 ^ ((pass as u64 + 1) << 32) ^ batch as u64
}

impl<M: Model> Learner<M> {
    /// fastai's `learn.get_preds()`: class probabilities over the validation set (softmax, or
    /// the sigmoid for one output), with the targets.
    pub fn get_preds(&self) -> Result<Preds> {
        self.preds(None)
    }

    /// fastai's `learn.tta(n=4, beta=0.25)`: the validation set predicted `n` more times with
    /// training's random crop and augmentation (the validation images as training would see
    /// them), their mean blended with the plain prediction as `beta · mean + (1 − beta) ·
    /// plain`. Reproducible: each pass's crops come from the data's seed.
    ///
    /// ```
    /// use fastburn::data::{FolderOptions, ImageDataLoaders, aug_transforms, embedded_sample};
    /// use fastburn::learner::vision_learner;
    /// use fastburn::models::resnet18;
    /// let dev = fastburn::device();
    /// let opts = FolderOptions {
    ///     aug: Some(aug_transforms()),
    ///     max_train: Some(64),
    ///     max_valid: Some(16),
    ///     ..FolderOptions::default()
    /// };
    /// let dls = ImageDataLoaders::from_folder(&embedded_sample()?, &opts, &dev)?;
    /// let learn = vision_learner(dls, resnet18, &dev);
    /// let preds = learn.tta(4, 0.25)?;
    /// assert_eq!((preds.probs.len(), preds.probs[0].len()), (16, 2));
    /// println!("accuracy with TTA {}", preds.accuracy());
    /// # Ok::<(), fastburn::Error>(())
    /// ```
    pub fn tta(&self, n: usize, beta: f64) -> Result<Preds> {
        let mut preds = self.preds(None)?;
        if n > 0 {
            let passes = (0..n)
                .map(|pass| Ok(self.preds(Some(pass))?.probs))
                .collect::<Result<Vec<_>>>()?;
            blend(&mut preds.probs, &passes, beta);
        }
        Ok(preds)
    }

    /// Predictions over the validation set: plain, or augmented pass `pass`.
    fn preds(&self, pass: Option<usize>) -> Result<Preds> {
        let model = self.model.clone().valid();
        let dl = &self.dls.valid;
        let (mut probs, mut targets) = (Vec::new(), Vec::new());
        for (b, idx) in dl.batch_indices_for(0).into_iter().enumerate() {
            let (xb, yb) = match pass {
                None => dl.dataset.batch(&idx)?,
                Some(p) => dl
                    .dataset
                    .augmented_batch(&idx, pass_seed(self.dls.train.seed, p, b))?,
            };
            probs.extend(probabilities(model.forward(xb.inner())));
            targets.extend(yb.inner().into_data().iter::<i64>().map(|t| t as usize));
        }
        Ok(Preds { probs, targets })
    }
}

/// Test-time augmentation of one image for a saved model (`fastburn predict --tta`): the class
/// probabilities of the image as validation prepares it, blended as [`Learner::tta`] does with
/// the mean over `n` versions of it with training's random crop and augmentation (the model
/// file's `aug`). Call on a [`valid`](burn::module::Module::valid) model.
pub fn predict_tta<M: Model>(
    model: &M,
    info: &ModelInfo,
    img: &DynamicImage,
    n: usize,
    beta: f64,
    seed: u64,
) -> Result<Vec<f32>> {
    let device = device_of(model);
    let tfms = info.item_tfms.clone();
    let size = tfms.out_dims(img.height() as usize, img.width() as usize);
    let ds = ImageDataset {
        items: Items::Memory(vec![tfms.presize(img)]),
        labels: vec![0],
        paths: vec![],
        tfms,
        aug: info.aug.clone(),
        norm: info.norm.clone(),
        train: false,
        skip_bad: false,
        size,
        device,
    };
    let (x, _) = ds.batch(&[0])?;
    let mut probs = probabilities(model.forward(x));
    if n > 0 {
        let (x, _) = ds.augmented_batch(&vec![0; n], seed)?;
        let passes: Vec<Vec<Vec<f32>>> = probabilities(model.forward(x))
            .into_iter()
            .map(|p| vec![p])
            .collect();
        blend(&mut probs, &passes, beta);
    }
    Ok(probs.swap_remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_is_fastais() {
        // fastai: preds = aug_preds.mean(0) * beta + preds * (1 - beta).
        let mut plain = vec![vec![0.8, 0.2], vec![0.4, 0.6]];
        let passes = vec![
            vec![vec![0.6, 0.4], vec![0.2, 0.8]],
            vec![vec![0.2, 0.8], vec![0.4, 0.6]],
        ];
        blend(&mut plain, &passes, 0.25);
        let want = [
            [0.25 * 0.4 + 0.75 * 0.8, 0.25 * 0.6 + 0.75 * 0.2],
            [0.25 * 0.3 + 0.75 * 0.4, 0.25 * 0.7 + 0.75 * 0.6],
        ];
        for (g, w) in plain.iter().zip(want) {
            for (a, b) in g.iter().zip(w) {
                assert!((a - b).abs() < 1e-6, "{plain:?}");
            }
        }
        let preds = Preds {
            probs: plain,
            targets: vec![0, 0],
        };
        assert_eq!(preds.classes(), [0, 1]);
        assert_eq!(preds.accuracy(), 0.5);
    }
}
