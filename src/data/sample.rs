//! MNIST_SAMPLE as the chapter uses it: four folders of 3s and 7s.

use std::path::Path;

use burn::prelude::*;

use super::dataloader::{DataLoader, DataLoaders, TensorDataset};
use super::images::{ImageStack, load_folder};
use crate::error::Result;

/// The four image folders of an MNIST_SAMPLE-layout data set, decoded.
pub struct SampleImages {
    pub train3: ImageStack,
    pub train7: ImageStack,
    pub valid3: ImageStack,
    pub valid7: ImageStack,
}

impl SampleImages {
    /// Load `train/3`, `train/7`, `valid/3`, `valid/7` under `root`.
    pub fn load(root: &Path) -> Result<Self> {
        let load = |split: &str, digit: &str| load_folder(&root.join(split).join(digit));
        Ok(Self {
            train3: load("train", "3")?,
            train7: load("train", "7")?,
            valid3: load("valid", "3")?,
            valid7: load("valid", "7")?,
        })
    }

    /// The chapter's `train_x`/`train_y`: 3s then 7s as `[n, 1, 28, 28]` floats in 0..=1, labelled
    /// 1 for a 3 and 0 for a 7 (`tensor([1]*len(threes) + [0]*len(sevens))`).
    pub fn datasets(&self, device: &Device) -> Result<(TensorDataset<4>, TensorDataset<4>)> {
        let make = |threes: &ImageStack, sevens: &ImageStack| -> Result<TensorDataset<4>> {
            let both = ImageStack::concat(&[threes, sevens])?;
            let [n, h, w] = [both.len(), both.height, both.width];
            let x = both.to_tensor(device).reshape([n, 1, h, w]);
            let labels: Vec<i64> = std::iter::repeat_n(1, threes.len())
                .chain(std::iter::repeat_n(0, sevens.len()))
                .collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
            Ok(TensorDataset::new(x, y))
        };
        Ok((
            make(&self.train3, &self.train7)?,
            make(&self.valid3, &self.valid7)?,
        ))
    }
}

impl DataLoaders<TensorDataset<4>> {
    /// MNIST_SAMPLE for the chapter's binary models: training batches of `bs` shuffled from
    /// `seed`, validation in order; label 1 is a 3 (vocab `["7", "3"]`).
    ///
    /// ```
    /// use fastburn::data::{DataLoaders, embedded_sample};
    /// let dls = DataLoaders::threes_and_sevens(&embedded_sample()?, 256, 42, &fastburn::device())?;
    /// assert_eq!((dls.train.len(), dls.valid.len()), (3, 3));
    /// assert_eq!(dls.vocab, ["7", "3"]);
    /// # Ok::<(), fastburn::Error>(())
    /// ```
    pub fn threes_and_sevens(root: &Path, bs: usize, seed: u64, device: &Device) -> Result<Self> {
        let (train, valid) = SampleImages::load(root)?.datasets(device)?;
        Ok(DataLoaders {
            train: DataLoader::new(train, bs).shuffle(seed),
            valid: DataLoader::new(valid, bs),
            vocab: vec!["7".into(), "3".into()],
            norm: None,
            item_tfms: Default::default(),
        })
    }
}
