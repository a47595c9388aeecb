//! fastai's `DataLoader`: batches drawn from a dataset, shuffled anew each epoch.
//!
//! Shuffling is seeded: the same seed gives the same order for the same epoch, run to run, and
//! each epoch gets a different order (the seed is mixed with the epoch number).

use std::sync::atomic::{AtomicU64, Ordering};

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::error::Result;

/// Anything a [`DataLoader`] can draw batches from.
pub trait Dataset {
    type Batch;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The items at `indices`, collated into one batch.
    fn batch(&self, indices: &[usize]) -> Self::Batch;
    /// The items at `indices` as a training batch: with the random item transforms and
    /// augmentation a dataset may have, drawn from `seed` alone (so a batch is the same whichever
    /// thread builds it, and a resumed run sees what the uninterrupted one saw). Datasets without
    /// randomness return [`batch`](Self::batch).
    fn train_batch(&self, indices: &[usize], seed: u64) -> Self::Batch {
        let _ = seed;
        self.batch(indices)
    }
    /// The items at `indices` with training's random transforms whichever split this is: the
    /// validation set as training would see it, for test-time augmentation
    /// ([`Learner::tta`](crate::learner::Learner::tta)). Datasets without randomness return
    /// [`batch`](Self::batch).
    fn augmented_batch(&self, indices: &[usize], seed: u64) -> Self::Batch {
        let _ = seed;
        self.batch(indices)
    }
}

/// A dataset shared between the training loop and the thread that prepares its next batches.
impl<T: Dataset + ?Sized> Dataset for std::sync::Arc<T> {
    type Batch = T::Batch;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn batch(&self, indices: &[usize]) -> Self::Batch {
        (**self).batch(indices)
    }
    fn train_batch(&self, indices: &[usize], seed: u64) -> Self::Batch {
        (**self).train_batch(indices, seed)
    }
    fn augmented_batch(&self, indices: &[usize], seed: u64) -> Self::Batch {
        (**self).augmented_batch(indices, seed)
    }
}

/// A batch of images `[n, channels, h, w]` and their labels: what a vision learner trains on.
pub type ImageBatch = (Tensor<4>, Tensor<1, Int>);

/// A batch a [`Learner`](crate::learner::Learner) can train on: an image batch, or the attempt
/// at one (a data set that decodes its files per batch finds a file unreadable when it changed
/// after the data set was built: the batch is then that error, never a made-up image).
pub trait IntoImageBatch {
    fn into_image_batch(self) -> Result<ImageBatch>;
}

impl IntoImageBatch for ImageBatch {
    fn into_image_batch(self) -> Result<ImageBatch> {
        Ok(self)
    }
}

impl IntoImageBatch for Result<ImageBatch> {
    fn into_image_batch(self) -> Result<ImageBatch> {
        self
    }
}

/// Any dataset of image batches (in-memory tensors, decoded files, augmented or not), behind
/// one type, so a [`Learner`](crate::learner::Learner) takes any of them.
pub type AnyImageDataset = std::sync::Arc<dyn Dataset<Batch = Result<ImageBatch>> + Send + Sync>;

/// A dataset whose batches are image batches, or attempts at them, as attempts.
struct Attempts<D>(D);

impl<D: Dataset> Dataset for Attempts<D>
where
    D::Batch: IntoImageBatch,
{
    type Batch = Result<ImageBatch>;
    fn len(&self) -> usize {
        self.0.len()
    }
    fn batch(&self, indices: &[usize]) -> Self::Batch {
        self.0.batch(indices).into_image_batch()
    }
    fn train_batch(&self, indices: &[usize], seed: u64) -> Self::Batch {
        self.0.train_batch(indices, seed).into_image_batch()
    }
    fn augmented_batch(&self, indices: &[usize], seed: u64) -> Self::Batch {
        self.0.augmented_batch(indices, seed).into_image_batch()
    }
}

/// Any in-memory list is a dataset whose batches are lists (the chapter's `DataLoader(range(15))`).
impl<T: Clone> Dataset for Vec<T> {
    type Batch = Vec<T>;
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn batch(&self, indices: &[usize]) -> Vec<T> {
        indices.iter().map(|&i| self[i].clone()).collect()
    }
}

/// Inputs and integer labels held as two tensors (the chapter's `list(zip(train_x, train_y))`).
///
/// A batch is one `select` along the first axis of each tensor: no per-item allocation.
#[derive(Debug, Clone)]
pub struct TensorDataset<const D: usize> {
    pub x: Tensor<D>,
    pub y: Tensor<1, Int>,
}

impl<const D: usize> TensorDataset<D> {
    pub fn new(x: Tensor<D>, y: Tensor<1, Int>) -> Self {
        assert_eq!(
            x.dims()[0],
            y.dims()[0],
            "inputs and labels differ in length"
        );
        Self { x, y }
    }
}

impl<const D: usize> Dataset for TensorDataset<D> {
    type Batch = (Tensor<D>, Tensor<1, Int>);
    fn len(&self) -> usize {
        self.x.dims()[0]
    }
    fn batch(&self, indices: &[usize]) -> Self::Batch {
        let n = self.len();
        let contiguous = indices.windows(2).all(|w| w[1] == w[0] + 1);
        if contiguous && !indices.is_empty() && indices[indices.len() - 1] < n {
            let r = indices[0]..indices[indices.len() - 1] + 1;
            return (
                self.x.clone().slice_dim(0, r.clone()),
                self.y.clone().slice_dim(0, r),
            );
        }
        let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let idx =
            Tensor::<1, Int>::from_data(TensorData::new(idx, [indices.len()]), &self.y.device());
        (
            self.x.clone().select(0, idx.clone()),
            self.y.clone().select(0, idx),
        )
    }
}

/// Batches of `bs` items from a dataset, optionally shuffled and with the last short batch dropped.
///
/// ```
/// use fastburn::data::DataLoader;
/// let dl = DataLoader::new((0..15).collect::<Vec<i32>>(), 5).shuffle(42);
/// let batches: Vec<Vec<i32>> = dl.iter().collect();
/// assert_eq!(batches.len(), 3);
/// let mut seen: Vec<i32> = batches.concat();
/// seen.sort();
/// assert_eq!(seen, (0..15).collect::<Vec<_>>());
/// ```
#[derive(Debug)]
pub struct DataLoader<D: Dataset> {
    pub dataset: D,
    pub bs: usize,
    pub shuffle: bool,
    pub drop_last: bool,
    pub seed: u64,
    epoch: AtomicU64,
}

impl<D: Dataset> DataLoader<D> {
    /// In order, keeping the last short batch.
    pub fn new(dataset: D, bs: usize) -> Self {
        Self {
            dataset,
            bs: bs.max(1),
            shuffle: false,
            drop_last: false,
            seed: 0,
            epoch: AtomicU64::new(0),
        }
    }

    /// Shuffle every epoch, reproducibly from `seed`.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.shuffle = true;
        self.seed = seed;
        self
    }

    /// Drop the last batch when it has fewer than `bs` items.
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// Number of batches per epoch.
    pub fn len(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.bs
        } else {
            n.div_ceil(self.bs)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The item order of epoch `epoch` (0-based).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.dataset.len()).collect();
        if self.shuffle {
            let mix = self.seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(mix));
        }
        idx
    }

    /// One epoch as lists of item indices, one list per batch; starts the next epoch like
    /// [`iter`](Self::iter). For loops that fetch each batch themselves (`dataset.batch(&idx)`).
    pub fn batch_indices(&self) -> Vec<Vec<usize>> {
        self.batch_indices_for(self.epoch.fetch_add(1, Ordering::Relaxed))
    }

    /// Epoch `epoch`'s batches as lists of item indices: the same for the same seed and epoch,
    /// whatever ran before (what the Learner uses, so a resumed run sees the same batches).
    pub fn batch_indices_for(&self, epoch: u64) -> Vec<Vec<usize>> {
        let order = self.order(epoch);
        let mut chunks: Vec<Vec<usize>> = order.chunks(self.bs).map(<[usize]>::to_vec).collect();
        if self.drop_last && chunks.last().is_some_and(|c| c.len() < self.bs) {
            chunks.pop();
        }
        chunks
    }

    /// One epoch of batches; each call starts the next epoch (and so a new shuffle), as a
    /// fastai `DataLoader` reshuffles on each pass: the chapter's loops rely on it.
    pub fn iter(&self) -> Batches<'_, D> {
        Batches {
            dl: self,
            batches: self.batch_indices().into_iter(),
        }
    }

    /// The batches of epoch `epoch`, touching no counter.
    pub fn epoch(&self, epoch: u64) -> Batches<'_, D> {
        Batches {
            dl: self,
            batches: self.batch_indices_for(epoch).into_iter(),
        }
    }

    /// The same loader over another dataset (same batch size, shuffle, seed and epoch count).
    pub fn map_dataset<E: Dataset>(self, f: impl FnOnce(D) -> E) -> DataLoader<E> {
        DataLoader {
            dataset: f(self.dataset),
            bs: self.bs,
            shuffle: self.shuffle,
            drop_last: self.drop_last,
            seed: self.seed,
            epoch: AtomicU64::new(self.epoch.load(Ordering::Relaxed)),
        }
    }
}

impl<D> DataLoaders<D>
where
    D: Dataset + Send + Sync + 'static,
    D::Batch: IntoImageBatch,
{
    /// The loaders with their datasets behind [`AnyImageDataset`].
    pub fn boxed(self) -> DataLoaders<AnyImageDataset> {
        let any = |d: D| -> AnyImageDataset { std::sync::Arc::new(Attempts(d)) };
        DataLoaders {
            train: self.train.map_dataset(any),
            valid: self.valid.map_dataset(any),
            vocab: self.vocab,
            norm: self.norm,
            item_tfms: self.item_tfms,
            aug: self.aug,
        }
    }
}

impl<'a, D: Dataset> IntoIterator for &'a DataLoader<D> {
    type Item = D::Batch;
    type IntoIter = Batches<'a, D>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The batches of one epoch, each fetched from the dataset when it is reached.
pub struct Batches<'a, D: Dataset> {
    dl: &'a DataLoader<D>,
    batches: std::vec::IntoIter<Vec<usize>>,
}

impl<D: Dataset> Iterator for Batches<'_, D> {
    type Item = D::Batch;
    fn next(&mut self) -> Option<D::Batch> {
        let idx = self.batches.next()?;
        Some(self.dl.dataset.batch(&idx))
    }
}

/// A training and a validation loader, and the class names their labels index.
#[derive(Debug)]
pub struct DataLoaders<D: Dataset> {
    pub train: DataLoader<D>,
    pub valid: DataLoader<D>,
    pub vocab: Vec<String>,
    /// Mean and standard deviation the images were normalised with (`None`: raw 0..=1 pixels).
    pub norm: Option<super::Normalize>,
    /// How a file becomes one input (channels, size, resize method): saved with a model, so
    /// `predict` and `serve` prepare an image as training did.
    pub item_tfms: super::ItemTfms,
    /// The training augmentation, if any: saved with a model, for test-time augmentation
    /// (`predict --tta`).
    pub aug: Option<super::AugTransforms>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(dl: &DataLoader<Vec<usize>>) -> Vec<usize> {
        dl.iter().flatten().collect()
    }

    #[test]
    fn every_item_once_per_epoch_new_order_each_epoch_same_per_seed() {
        let dl = DataLoader::new((0..1000).collect::<Vec<usize>>(), 64).shuffle(7);
        let (e0, e1) = (epoch(&dl), epoch(&dl));
        for e in [&e0, &e1] {
            let mut s = e.clone();
            s.sort();
            assert_eq!(s, (0..1000).collect::<Vec<_>>());
        }
        assert_ne!(e0, e1);
        let again = DataLoader::new((0..1000).collect::<Vec<usize>>(), 64).shuffle(7);
        assert_eq!(epoch(&again), e0);
        assert_eq!(epoch(&again), e1);
        let other = DataLoader::new((0..1000).collect::<Vec<usize>>(), 64).shuffle(8);
        assert_ne!(epoch(&other), e0);
    }

    #[test]
    fn batch_sizes_and_drop_last() {
        let dl = DataLoader::new((0..10).collect::<Vec<usize>>(), 4);
        let sizes: Vec<usize> = dl.iter().map(|b| b.len()).collect();
        assert_eq!((sizes, dl.len()), (vec![4, 4, 2], 3));
        let dl = dl.drop_last(true);
        let sizes: Vec<usize> = dl.iter().map(|b| b.len()).collect();
        assert_eq!((sizes, dl.len()), (vec![4, 4], 2));
        assert_eq!(
            epoch(&DataLoader::new((0..5).collect(), 2)),
            vec![0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn tensor_batches_match_their_rows() {
        let dev = Device::flex();
        let x = Tensor::<2>::from_data(
            TensorData::new((0..20).map(|v| v as f32).collect::<Vec<_>>(), [10, 2]),
            &dev,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new((0..10i64).collect::<Vec<_>>(), [10]),
            &dev,
        );
        let dl = DataLoader::new(TensorDataset::new(x, y), 3).shuffle(1);
        let mut seen = Vec::new();
        for (xb, yb) in &dl {
            let xs: Vec<f32> = xb.into_data().iter::<f32>().collect();
            let ys: Vec<i64> = yb.into_data().iter::<i64>().collect();
            for (row, label) in xs.chunks(2).zip(&ys) {
                assert_eq!(row, [2.0 * *label as f32, 2.0 * *label as f32 + 1.0]);
            }
            seen.extend(ys);
        }
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }
}
