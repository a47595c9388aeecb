//! The chapter's first model, which learns nothing: call an image a 3 when it is closer, pixel by
//! pixel, to the average 3 than to the average 7.

use std::path::Path;

use burn::prelude::*;

use crate::data::SampleImages;
use crate::error::Result;

/// Mean absolute difference: the L1 norm the chapter uses (`(a-b).abs().mean()`).
pub fn l1_distance(a: Tensor<2>, b: Tensor<2>) -> f32 {
    (a - b).abs().mean().into_scalar::<f32>()
}

/// Root mean squared error (`((a-b)**2).mean().sqrt()`).
pub fn rmse_distance(a: Tensor<2>, b: Tensor<2>) -> f32 {
    (a - b).square().mean().sqrt().into_scalar::<f32>()
}

/// L1 distance from every image of a `[n, h, w]` batch to one `[h, w]` image, by broadcasting:
/// the chapter's `(a-b).abs().mean((-1,-2))`. Returns `[n]`.
///
/// ```
/// use burn::prelude::*;
/// let dev = Device::flex();
/// let batch = Tensor::<3>::ones([4, 28, 28], &dev);
/// let mean = Tensor::<2>::zeros([28, 28], &dev);
/// let d = fastburn::baseline::mnist_distance(batch, mean);
/// assert_eq!(d.dims(), [4]);
/// assert_eq!(d.into_data().try_to_vec::<f32>().unwrap(), vec![1.0; 4]);
/// ```
pub fn mnist_distance(a: Tensor<3>, b: Tensor<2>) -> Tensor<1> {
    let n = a.dims()[0];
    (a - b.unsqueeze::<3>())
        .abs()
        .mean_dims(&[1, 2])
        .reshape([n])
}

/// The two "ideal" digits: the pixel-wise mean of every training 3 and every training 7.
#[derive(Debug, Clone)]
pub struct PixelSimilarity {
    pub mean3: Tensor<2>,
    pub mean7: Tensor<2>,
}

impl PixelSimilarity {
    /// From stacks of `[n, 28, 28]` float images (the chapter's `stacked_threes.mean(0)`).
    pub fn fit(stacked_threes: Tensor<3>, stacked_sevens: Tensor<3>) -> Self {
        let mean = |t: Tensor<3>| {
            let [_, h, w] = t.dims();
            t.mean_dim(0).reshape([h, w])
        };
        Self {
            mean3: mean(stacked_threes),
            mean7: mean(stacked_sevens),
        }
    }

    /// `true` where an image is closer to the mean 3 than to the mean 7.
    pub fn is_3(&self, x: Tensor<3>) -> Tensor<1, Bool> {
        mnist_distance(x.clone(), self.mean3.clone()).lower(mnist_distance(x, self.mean7.clone()))
    }

    /// Fraction of `threes` called 3 and of `sevens` not called 3.
    pub fn accuracy(&self, threes: Tensor<3>, sevens: Tensor<3>) -> (f32, f32) {
        let acc3 = self.is_3(threes).float().mean().into_scalar::<f32>();
        let acc7 = 1.0 - self.is_3(sevens).float().mean().into_scalar::<f32>();
        (acc3, acc7)
    }
}

/// What `fastburn baseline` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineReport {
    /// Images in train/3, train/7, valid/3, valid/7.
    pub counts: [usize; 4],
    pub accuracy_3s: f32,
    pub accuracy_7s: f32,
    /// The chapter's `(accuracy_3s + accuracy_7s) / 2`.
    pub accuracy: f32,
}

/// Fit the baseline on `root/train` and measure it on `root/valid`.
///
/// ```
/// let root = fastburn::data::embedded_sample()?;
/// let report = fastburn::baseline::run_baseline(&root, &burn::prelude::Device::flex())?;
/// assert_eq!(report.counts, [350, 350, 350, 350]);
/// assert!(report.accuracy > 0.9);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn run_baseline(root: &Path, device: &Device) -> Result<BaselineReport> {
    let imgs = SampleImages::load(root)?;
    let model = PixelSimilarity::fit(imgs.train3.to_tensor(device), imgs.train7.to_tensor(device));
    let (accuracy_3s, accuracy_7s) =
        model.accuracy(imgs.valid3.to_tensor(device), imgs.valid7.to_tensor(device));
    Ok(BaselineReport {
        counts: [
            imgs.train3.len(),
            imgs.train7.len(),
            imgs.valid3.len(),
            imgs.valid7.len(),
        ],
        accuracy_3s,
        accuracy_7s,
        accuracy: (accuracy_3s + accuracy_7s) / 2.0,
    })
}
