//! A labelled image data set built from files: decoded once in parallel (fastai's
//! `verify_images` comes free), kept in memory when it fits, otherwise re-decoded per batch on
//! the loader's worker thread; item transforms (resize) and, for training, augmentation applied
//! per batch from the batch's seed.

use std::path::PathBuf;

use burn::prelude::*;
use fastburn_flex::par::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::augment::AugTransforms;
use super::dataloader::{Dataset, ImageBatch};
use super::decode::{is_grey, open_image};
use super::normalize::Normalize;
use super::transforms::{ItemTfms, Pixels};
use crate::error::{Error, Result};

/// Where the images are: decoded bytes (at their stored size), or files decoded per batch.
#[derive(Debug, Clone)]
pub enum Items {
    Memory(Vec<Pixels>),
    Files(Vec<PathBuf>),
}

/// One split of a data set: items, labels (indices into the vocab) and how to turn an item into
/// an input.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    pub items: Items,
    pub labels: Vec<usize>,
    /// The file each item came from.
    pub paths: Vec<PathBuf>,
    pub tfms: ItemTfms,
    /// Augmentation for training batches and test-time augmentation (never applied by
    /// [`Dataset::batch`], which validation uses).
    pub aug: Option<AugTransforms>,
    pub norm: Option<Normalize>,
    /// Random crops and augmentation in [`Dataset::train_batch`]: true for the training split.
    pub train: bool,
    /// A streamed file that can no longer be read is left out of its batch, with a warning,
    /// instead of making the batch an error (fastburn's `skip_bad`).
    pub skip_bad: bool,
    /// The input size every item is brought to.
    pub size: (usize, usize),
    pub device: Device,
}

/// What one decoding pass over files found.
pub(crate) struct Scan {
    /// Indices (into the paths given) of the readable files, in order.
    pub good: Vec<usize>,
    /// Unreadable files and why.
    pub bad: Vec<(PathBuf, String)>,
    /// The stored items, when they fit the memory budget.
    pub items: Option<Vec<Pixels>>,
    /// Every readable image is grey.
    pub all_grey: bool,
    /// (height, width) of each readable image as decoded.
    pub dims: Vec<(usize, usize)>,
}

/// Decode every file in parallel: which are readable, their sizes and colours, and (within
/// `max_memory` bytes) their pixels presized by `tfms` (channels: 1 for grey images, 3 for
/// colour; aligned later).
pub(crate) fn scan(paths: &[PathBuf], tfms: &ItemTfms, max_memory: usize, progress: bool) -> Scan {
    let bar = (progress && paths.len() >= 2000).then(|| {
        let bar = indicatif::ProgressBar::new(paths.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "decoding {pos}/{len} images [{bar:30}] {elapsed} (eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let used = std::sync::atomic::AtomicUsize::new(0);
    let over = std::sync::atomic::AtomicBool::new(false);
    type One = std::result::Result<(Option<Pixels>, bool, (usize, usize)), String>;
    let decoded: Vec<One> = paths
        .par_iter()
        .map(|p| {
            let got = open_image(p).map_err(|e| match e {
                Error::BadImage { reason, .. } => reason,
                e => e.to_string(),
            });
            if let Some(b) = &bar {
                b.inc(1);
            }
            let img = got?;
            let grey = is_grey(&img);
            let dims = (img.height() as usize, img.width() as usize);
            let keep = !over.load(std::sync::atomic::Ordering::Relaxed);
            let px = keep.then(|| {
                let t = ItemTfms {
                    channels: if grey { 1 } else { 3 },
                    ..tfms.clone()
                };
                t.presize(&img)
            });
            if let Some(px) = &px {
                let n = used.fetch_add(px.data.len(), std::sync::atomic::Ordering::Relaxed);
                if n + px.data.len() > max_memory {
                    over.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Ok((px, grey, dims))
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let over = over.into_inner();
    let mut scan = Scan {
        good: Vec::new(),
        bad: Vec::new(),
        items: (!over).then(Vec::new),
        all_grey: true,
        dims: Vec::new(),
    };
    for (i, d) in decoded.into_iter().enumerate() {
        match d {
            Ok((px, grey, dims)) => {
                scan.good.push(i);
                scan.all_grey &= grey;
                scan.dims.push(dims);
                if let (Some(items), Some(px)) = (scan.items.as_mut(), px) {
                    items.push(px);
                }
            }
            Err(reason) => scan.bad.push((paths[i].clone(), reason)),
        }
    }
    scan
}

/// What [`check_images`] finds for one file: `((height, width), grey)`, or why it is unreadable.
pub type ImageCheck = std::result::Result<((usize, usize), bool), String>;

/// Decode every file in parallel (nothing kept): per file its `(height, width)` and whether it
/// is grey, or why it cannot be read. What `fastburn data check` reports.
pub fn check_images(paths: &[PathBuf]) -> Vec<ImageCheck> {
    paths
        .par_iter()
        .map(|p| {
            let img = open_image(p).map_err(|e| match e {
                Error::BadImage { reason, .. } => reason,
                e => e.to_string(),
            })?;
            Ok(((img.height() as usize, img.width() as usize), is_grey(&img)))
        })
        .collect()
}

/// A grey item as three identical channels (a data set with some colour images).
pub(crate) fn to_rgb(p: Pixels) -> Pixels {
    if p.channels == 3 {
        return p;
    }
    Pixels {
        data: p.data.repeat(3),
        channels: 3,
        ..p
    }
}

/// A colour item as grey (forced to one channel): the luma of each pixel, with the weights the
/// `image` crate's grey conversion uses.
pub(crate) fn to_grey(p: Pixels) -> Pixels {
    if p.channels == 1 {
        return p;
    }
    let n = p.height * p.width;
    let data = (0..n)
        .map(|k| {
            let (r, g, b) = (
                u32::from(p.data[k]),
                u32::from(p.data[n + k]),
                u32::from(p.data[2 * n + k]),
            );
            ((2126 * r + 7152 * g + 722 * b + 5000) / 10000) as u8
        })
        .collect();
    Pixels {
        data,
        channels: 1,
        ..p
    }
}

impl ImageDataset {
    /// Item `i` cropped at random at the item size (training, with `rng`; the batch step brings
    /// a presized item to the input size), or as validation takes it, at the input size; or why
    /// its file cannot be read (a streamed item whose file changed since the data set was built).
    fn item(&self, i: usize, rng: Option<&mut StdRng>) -> Result<Pixels> {
        let stored = match &self.items {
            Items::Memory(items) => std::borrow::Cow::Borrowed(&items[i]),
            Items::Files(paths) => {
                std::borrow::Cow::Owned(self.tfms.presize(&open_image(&paths[i])?))
            }
        };
        let out = match rng {
            Some(rng) => self.tfms.finish(&stored, Some(rng)),
            None => self.tfms.to_input(self.tfms.finish(&stored, None)),
        };
        Ok(match (out.channels, self.tfms.channels) {
            (1, 3) => to_rgb(out),
            (3, 1) => to_grey(out),
            _ => out,
        })
    }

    /// The items at `indices` as floats `[n, c, h, w]` in 0..=1, augmented and normalised as
    /// asked, and the indices of the items in it: all of them, unless `skip_bad` left out a
    /// streamed file that can no longer be read.
    fn floats(&self, indices: &[usize], seed: Option<u64>) -> Result<(Vec<f32>, Vec<usize>)> {
        let (h, w) = self.size;
        let c = self.tfms.channels;
        // Random items of a presized set are larger than the input until the batch step.
        let presized = seed.is_some() && self.tfms.presizes();
        let (ih, iw) = match self.tfms.presize {
            Some(p) if presized => p,
            _ => (h, w),
        };
        let per = c * ih * iw;
        // Each item's random crop comes from the batch's seed and the item's place in it.
        let items: Vec<Result<Pixels>> = indices
            .par_iter()
            .enumerate()
            .map(|(j, &i)| {
                let mut rng =
                    seed.map(|s| StdRng::seed_from_u64(s ^ 0xA076_1D64_78BD_642F ^ j as u64));
                self.item(i, rng.as_mut())
            })
            .collect();
        let (mut kept, mut pixels, mut failed) = (Vec::new(), Vec::new(), None);
        for (&i, item) in indices.iter().zip(items) {
            match item {
                Ok(px) => {
                    kept.push(i);
                    pixels.push(px);
                }
                Err(e) if self.skip_bad => {
                    eprintln!("warning: skipping {e}");
                    failed.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        if let (true, Some(e)) = (kept.is_empty(), failed) {
            return Err(e);
        }
        let mut x = vec![0f32; kept.len() * per];
        x.par_chunks_mut(per)
            .zip(pixels.par_iter())
            .for_each(|(out, px)| {
                for (o, &p) in out.iter_mut().zip(&px.data) {
                    *o = f32::from(p) / 255.0;
                }
            });
        match (&self.aug, seed) {
            (aug, Some(seed)) if presized => {
                let none = AugTransforms::none();
                let aug = aug.as_ref().unwrap_or(&none);
                x = aug.apply_batch_to(&x, kept.len(), c, (ih, iw), (h, w), seed);
            }
            (Some(aug), Some(seed)) => aug.apply_batch(&mut x, kept.len(), c, h, w, seed),
            _ => {}
        }
        if let Some(norm) = &self.norm {
            x.par_chunks_mut(h * w).enumerate().for_each(|(k, plane)| {
                let ch = k % c;
                for v in plane {
                    *v = norm.encode(*v, ch);
                }
            });
        }
        Ok((x, kept))
    }

    fn collate(&self, indices: &[usize], seed: Option<u64>) -> Result<ImageBatch> {
        let (h, w) = self.size;
        let (x, kept) = self.floats(indices, seed)?;
        let x = Tensor::from_data(
            TensorData::new(x, [kept.len(), self.tfms.channels, h, w]),
            &self.device,
        );
        let y: Vec<i64> = kept.iter().map(|&i| self.labels[i] as i64).collect();
        let y = Tensor::from_data(TensorData::new(y, [kept.len()]), &self.device);
        Ok((x, y))
    }

    /// Every item as one validation batch (for small data sets and tests).
    pub fn all(&self) -> Result<ImageBatch> {
        self.collate(&(0..self.labels.len()).collect::<Vec<_>>(), None)
    }

    /// True when items are decoded per batch rather than held in memory.
    pub fn is_streaming(&self) -> bool {
        matches!(self.items, Items::Files(_))
    }

    /// Mean and standard deviation per channel of up to 2,000 items (evenly spread), as
    /// validation prepares them.
    pub fn stats(&self) -> Result<Normalize> {
        let n = self.labels.len();
        let take: Vec<usize> = (0..n.min(2000)).map(|i| i * n / n.min(2000)).collect();
        let (h, w) = self.size;
        let mut pixels = Vec::with_capacity(take.len() * self.tfms.channels * h * w);
        for px in take
            .par_iter()
            .map(|&i| self.item(i, None))
            .collect::<Vec<_>>()
        {
            pixels.extend(px?.data);
        }
        Ok(Normalize::from_pixels(&pixels, self.tfms.channels, h * w))
    }
}

/// A batch is an error when a streamed file can no longer be read (and `skip_bad` is off): the
/// model never trains on an image made up in its place.
impl Dataset for ImageDataset {
    type Batch = Result<ImageBatch>;
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn batch(&self, indices: &[usize]) -> Self::Batch {
        self.collate(indices, None)
    }
    fn train_batch(&self, indices: &[usize], seed: u64) -> Self::Batch {
        self.collate(indices, self.train.then_some(seed))
    }
    /// Training's random crop and augmentation, on either split.
    fn augmented_batch(&self, indices: &[usize], seed: u64) -> Self::Batch {
        self.collate(indices, Some(seed))
    }
}
