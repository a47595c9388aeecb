//! MNIST_SAMPLE as the chapter uses it: four folders of 3s and 7s.

use std::path::Path;

use burn::prelude::*;

use super::dataloader::{DataLoader, DataLoaders, TensorDataset};
use super::images::{ImageStack, load_folder};
use super::pixel_dataset::PixelDataset;
use crate::error::Result;

/// The four image folders of an MNIST_SAMPLE-layout data set, decoded.
#[derive(Debug, Clone)]
pub struct SampleImages {
    pub train3: ImageStack,
    pub train7: ImageStack,
    pub valid3: ImageStack,
    pub valid7: ImageStack,
}

impl SampleImages {
    /// Load `train/3`, `train/7`, `valid/3`, `valid/7` under `root`.
    pub fn load(root: &Path) -> Result<Self> {
        // The chapter's layout and models take digits of one size, as MNIST_SAMPLE's 28x28.
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
        let (train, valid) = self.pixel_datasets(device)?;
        Ok((train.to_tensor_dataset(), valid.to_tensor_dataset()))
    }

    /// The same items and labels as [`datasets`](Self::datasets), held as bytes (what the
    /// Learners' loaders batch from: [`PixelDataset`] says why).
    pub fn pixel_datasets(&self, device: &Device) -> Result<(PixelDataset, PixelDataset)> {
        let make = |threes: &ImageStack, sevens: &ImageStack| -> Result<PixelDataset> {
            let both = ImageStack::concat(&[threes, sevens])?;
            let labels: Vec<i64> = std::iter::repeat_n(1, threes.len())
                .chain(std::iter::repeat_n(0, sevens.len()))
                .collect();
            PixelDataset::new(both.pixels, [1, both.height, both.width], labels, device)
        };
        Ok((
            make(&self.train3, &self.train7)?,
            make(&self.valid3, &self.valid7)?,
        ))
    }
}

impl DataLoaders<PixelDataset> {
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
        let (train, valid) = SampleImages::load(root)?.pixel_datasets(device)?;
        Ok(DataLoaders {
            train: DataLoader::new(train, bs).shuffle(seed),
            valid: DataLoader::new(valid, bs),
            vocab: vec!["7".into(), "3".into()],
            norm: None,
            item_tfms: Default::default(),
            aug: None,
        })
    }
}
