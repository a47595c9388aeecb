//! fastai's `ImageDataLoaders` and a small, typed `DataBlock`: which files (`get_items`), their
//! labels (`get_y`), which are for validation (`splitter`), how each becomes an input
//! (`item_tfms`: channels and `Resize`) and how training batches are augmented (`batch_tfms`).
//!
//! A data set of grey images (MNIST) stays one channel: fastai opens it as three identical
//! channels, which carry the same information at three times the first convolution's cost.
//! Colour stays colour.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::augment::AugTransforms;
use super::dataloader::{DataLoader, DataLoaders};
use super::image_dataset::{ImageDataset, Items, scan, to_grey, to_rgb};
use super::normalize::Normalize;
use super::transforms::{ItemTfms, ResizeMethod};
use crate::error::{Error, IoContext, PathKind, Result};

/// How the loaders are built (fastai's keyword arguments to `from_folder`).
#[derive(Debug, Clone)]
pub struct FolderOptions {
    /// Batch size (fastai's default: 64).
    pub bs: usize,
    /// Seed of the training shuffle, the random split and the augmentation.
    pub seed: u64,
    /// Resize every image to `(height, width)` (fastai's `item_tfms=Resize(size)`); without it
    /// all images must share one size.
    pub size: Option<(usize, usize)>,
    /// How [`size`](Self::size) is reached.
    pub method: ResizeMethod,
    /// Presizing (fastbook chapter 5): resize items to this larger size first (by `method`),
    /// and bring each batch to `size` with one resampling: training crops at random (down to
    /// `aug`'s `min_scale` of the area) and augments, validation takes the centre. fastai's
    /// `item_tfms=Resize(460), batch_tfms=aug_transforms(size=224, min_scale=0.75)` is
    /// `presize: Some((460, 460)), size: Some((224, 224)), aug: Some(aug_transforms().min_scale(0.75))`.
    /// Needs `size`, and must not be smaller.
    pub presize: Option<(usize, usize)>,
    /// Hold out this fraction of the images, picked at random from `seed` (fastai's
    /// `valid_pct`). Used when set, and at 0.2 when the folder has no train/valid split.
    pub valid_pct: Option<f64>,
    /// Augment training batches (fastai's `batch_tfms=aug_transforms()`).
    pub aug: Option<AugTransforms>,
    /// Normalise with the training set's pixel mean and standard deviation. Off by default, as in
    /// fastai, whose `vision_learner` adds `Normalize` only for pretrained weights: from scratch,
    /// raw 0..=1 pixels keep the background (0) equal to the stem convolution's zero padding.
    /// Measured here on MNIST_SAMPLE, `fit_one_cycle(1, 0.1)`, seeds 42, 1, 2, 3, 4: accuracy
    /// 0.9963 on average without, 0.9937 with (bench/README.md).
    pub normalize: bool,
    /// Normalise with these statistics (a model file's) instead of the training set's.
    pub norm: Option<Normalize>,
    /// 1 (grey) or 3 (RGB) channels; by default 1 when every image is grey, else 3.
    pub channels: Option<usize>,
    /// Use at most this many training / validation images, picked evenly (for quick runs).
    pub max_train: Option<usize>,
    pub max_valid: Option<usize>,
    /// Skip files that cannot be decoded, with a warning each (fastai's `verify_images`), rather
    /// than stop with an error naming the first.
    pub skip_bad: bool,
    /// Keep decoded images in memory up to this many bytes; a larger data set is decoded per
    /// batch on the loader's worker thread instead (memory then holds a few batches).
    pub max_memory: usize,
    /// A progress bar while decoding a large folder (on stderr).
    pub progress: bool,
}

impl Default for FolderOptions {
    fn default() -> Self {
        Self {
            bs: 64,
            seed: 42,
            size: None,
            method: ResizeMethod::Crop,
            presize: None,
            valid_pct: None,
            aug: None,
            normalize: false,
            norm: None,
            channels: None,
            max_train: None,
            max_valid: None,
            skip_bad: false,
            max_memory: 2 << 30,
            progress: false,
        }
    }
}

/// Which items are for validation (fastai's splitters).
#[derive(Clone)]
pub enum Splitter {
    /// fastai's `GrandparentSplitter`: items under `<source>/<train>/` train, those under
    /// `<source>/<valid>/` validate.
    Grandparent { train: PathBuf, valid: PathBuf },
    /// fastai's `RandomSplitter(valid_pct, seed)`.
    Random { valid_pct: f64, seed: u64 },
    /// fastai's `FuncSplitter`: true for a validation item.
    Func(Arc<dyn Fn(&Path) -> bool + Send + Sync>),
}

impl std::fmt::Debug for Splitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Splitter::Grandparent { train, valid } => {
                write!(f, "Grandparent({}, {})", train.display(), valid.display())
            }
            Splitter::Random { valid_pct, seed } => write!(f, "Random({valid_pct}, {seed})"),
            Splitter::Func(_) => f.write_str("Func(..)"),
        }
    }
}

type GetItems = Arc<dyn Fn(&Path) -> Result<Vec<PathBuf>> + Send + Sync>;
type GetY = Arc<dyn Fn(&Path) -> Result<String> + Send + Sync>;

/// fastai's `DataBlock(blocks=(ImageBlock, CategoryBlock), get_items, get_y, splitter,
/// item_tfms, batch_tfms)`, typed: images in, one category out.
///
/// ```
/// use fastburn::data::{DataBlock, FolderOptions, Splitter, get_image_files, parent_label};
/// let block = DataBlock {
///     get_items: std::sync::Arc::new(get_image_files),
///     get_y: std::sync::Arc::new(parent_label),
///     splitter: Splitter::Random { valid_pct: 0.25, seed: 42 },
/// };
/// let root = fastburn::data::embedded_sample()?.join("valid");
/// let dls = block.dataloaders(&root, &FolderOptions::default(), &fastburn::device())?;
/// assert_eq!(dls.vocab, ["3", "7"]);
/// assert_eq!(dls.train.dataset.labels.len() + dls.valid.dataset.labels.len(), 700);
/// # Ok::<(), fastburn::Error>(())
/// ```
#[derive(Clone)]
pub struct DataBlock {
    pub get_items: GetItems,
    pub get_y: GetY,
    pub splitter: Splitter,
}

/// File extensions taken as images (fastai's `image_extensions`, the formats fastburn decodes).
pub const IMAGE_EXTENSIONS: [&str; 9] = [
    "png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff", "jfif",
];

/// Every image file under `dir`, recursively, sorted (fastai's `get_image_files`): files with an
/// image extension, any case; hidden files and folders skipped.
pub fn get_image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::NotFound {
            path: dir.to_path_buf(),
            expected: PathKind::Folder,
        });
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).at(&d)? {
            let entry = entry.at(&d)?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().at(&path)?;
            if kind.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The name of the folder holding the file (fastai's `parent_label`).
pub fn parent_label(path: &Path) -> Result<String> {
    path.parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Unlabelled {
            path: path.to_path_buf(),
            reason: "no parent folder to name its class".into(),
        })
}

/// Keep at most `max` of `items`, evenly spaced (deterministic).
fn thin<T: Clone>(items: Vec<T>, max: Option<usize>) -> Vec<T> {
    let n = items.len();
    match max.filter(|&m| m < n) {
        Some(max) => (0..max).map(|i| items[i * n / max].clone()).collect(),
        None => items,
    }
}

impl DataBlock {
    /// The training and validation items, split.
    fn split(&self, source: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
        let items = (self.get_items)(source)?;
        if items.is_empty() {
            return Err(Error::EmptyFolder {
                path: source.to_path_buf(),
            });
        }
        Ok(match &self.splitter {
            Splitter::Grandparent { train, valid } => {
                let (t, v) = (source.join(train), source.join(valid));
                let train: Vec<_> = items
                    .iter()
                    .filter(|p| p.starts_with(&t))
                    .cloned()
                    .collect();
                let valid: Vec<_> = items
                    .iter()
                    .filter(|p| p.starts_with(&v))
                    .cloned()
                    .collect();
                (train, valid)
            }
            Splitter::Random { valid_pct, seed } => {
                let mut order: Vec<usize> = (0..items.len()).collect();
                order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(*seed));
                let n_valid = ((items.len() as f64 * valid_pct).round() as usize)
                    .clamp(1, items.len().saturating_sub(1).max(1));
                let mut is_valid = vec![false; items.len()];
                for &i in &order[..n_valid] {
                    is_valid[i] = true;
                }
                let (mut train, mut valid) = (Vec::new(), Vec::new());
                for (p, v) in items.into_iter().zip(is_valid) {
                    if v { valid.push(p) } else { train.push(p) }
                }
                (train, valid)
            }
            Splitter::Func(f) => items.into_iter().partition(|p| !f(p)),
        })
    }

    /// Build the loaders: split, label, decode (in parallel, verifying every file), transform.
    pub fn dataloaders(
        &self,
        source: &Path,
        opts: &FolderOptions,
        device: &Device,
    ) -> Result<DataLoaders<ImageDataset>> {
        if let Some(p) = opts.presize {
            let ok = opts.size.is_some_and(|s| p.0 >= s.0 && p.1 >= s.1);
            if !ok {
                return Err(Error::OutOfRange {
                    name: "presize",
                    value: format!("{}x{}", p.0, p.1),
                    expected: "at least `size`, which must be set with it",
                });
            }
        }
        let (train, valid) = self.split(source)?;
        let (train, valid) = (thin(train, opts.max_train), thin(valid, opts.max_valid));
        for (paths, what) in [(&train, "training"), (&valid, "validation")] {
            if paths.is_empty() {
                return Err(Error::EmptySplit {
                    path: source.to_path_buf(),
                    split: what.into(),
                });
            }
        }
        let all: Vec<PathBuf> = train.iter().chain(&valid).cloned().collect();
        let presize = ItemTfms {
            channels: 1,
            size: opts.size,
            method: opts.method,
            presize: opts.presize,
        };
        let found = scan(&all, &presize, opts.max_memory, opts.progress);
        if let Some((path, reason)) = found.bad.first() {
            if !opts.skip_bad {
                return Err(Error::BadImages {
                    path: path.clone(),
                    reason: reason.clone(),
                    others: found.bad.len() - 1,
                });
            }
            for (path, reason) in &found.bad {
                eprintln!("warning: skipping {}: {reason}", path.display());
            }
        }
        let channels = opts.channels.unwrap_or(if found.all_grey { 1 } else { 3 });
        let size = match opts.size {
            Some(s) => s,
            None => {
                let first = found.dims[0];
                if let Some(k) = found.dims.iter().position(|&d| d != first) {
                    return Err(Error::ImageSize {
                        path: all[found.good[k]].clone(),
                        expected: first,
                        got: found.dims[k],
                    });
                }
                first
            }
        };
        let tfms = ItemTfms {
            channels,
            size: Some(size),
            method: opts.method,
            presize: opts.presize,
        };
        // Labels: the training vocab, sorted; a validation label must be in it.
        let n_train = train.len();
        let mut ys = Vec::with_capacity(found.good.len());
        for &i in &found.good {
            ys.push((self.get_y)(&all[i])?);
        }
        let vocab: Vec<String> = ys
            .iter()
            .zip(&found.good)
            .filter(|(_, i)| **i < n_train)
            .map(|(y, _)| y.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index: HashMap<&str, usize> = vocab
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_str(), i))
            .collect();
        let mut labels = Vec::with_capacity(ys.len());
        for (y, &i) in ys.iter().zip(&found.good) {
            labels.push(
                *index
                    .get(y.as_str())
                    .ok_or_else(|| Error::ClassWithoutTraining {
                        path: all[i].clone(),
                        class: y.clone(),
                    })?,
            );
        }
        let items = found.items.map(|v| {
            v.into_iter()
                .map(|p| {
                    if channels == 3 {
                        to_rgb(p)
                    } else if p.channels == 3 {
                        to_grey(p)
                    } else {
                        p
                    }
                })
                .collect::<Vec<_>>()
        });
        let good_paths: Vec<PathBuf> = found.good.iter().map(|&i| all[i].clone()).collect();
        let split_at = found.good.partition_point(|&i| i < n_train);
        let part = |range: std::ops::Range<usize>, train: bool| ImageDataset {
            items: match items.as_ref() {
                Some(v) => Items::Memory(v[range.clone()].to_vec()),
                None => Items::Files(good_paths[range.clone()].to_vec()),
            },
            labels: labels[range.clone()].to_vec(),
            paths: good_paths[range].to_vec(),
            tfms: tfms.clone(),
            // Validation keeps it for test-time augmentation (`Learner::tta`).
            aug: opts.aug.clone(),
            norm: None,
            train,
            skip_bad: opts.skip_bad,
            size,
            device: device.clone(),
        };
        let mut train_ds = part(0..split_at, true);
        let mut valid_ds = part(split_at..found.good.len(), false);
        drop(items);
        let norm = match (&opts.norm, opts.normalize) {
            (Some(norm), _) => Some(norm.clone()),
            (None, true) => Some(train_ds.stats()?),
            (None, false) => None,
        };
        train_ds.norm = norm.clone();
        valid_ds.norm = norm.clone();
        let n = train_ds.labels.len();
        Ok(DataLoaders {
            // fastai drops the last, short training batch: a batch of a few images gives
            // BatchNorm noisy statistics. Kept when it is the only batch.
            train: DataLoader::new(train_ds, opts.bs)
                .shuffle(opts.seed)
                .drop_last(n > opts.bs),
            valid: DataLoader::new(valid_ds, opts.bs),
            vocab,
            norm,
            item_tfms: tfms,
            aug: opts.aug.clone(),
        })
    }
}

const TRAIN_NAMES: [&str; 2] = ["train", "training"];
const VALID_NAMES: [&str; 3] = ["valid", "testing", "test"];

fn find_split(root: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| root.join(n)).find(|p| p.is_dir())
}

/// fastai's `ImageDataLoaders`.
pub struct ImageDataLoaders;

impl ImageDataLoaders {
    /// Class folders, labelled by folder name (vocab sorted), split by `train/` and `valid/`
    /// folders (also `training/`, `testing/`, `test/`) or, when `valid_pct` is set or there are no
    /// such folders, at random (20% by default).
    ///
    /// ```
    /// use fastburn::data::{Dataset, FolderOptions, ImageDataLoaders, embedded_sample};
    /// let dls = ImageDataLoaders::from_folder(&embedded_sample()?, &FolderOptions::default(), &fastburn::device())?;
    /// assert_eq!(dls.vocab, ["3", "7"]);
    /// assert_eq!(dls.train.dataset.len(), 700);
    /// assert_eq!(dls.train.dataset.batch(&[0, 1])?.0.dims(), [2, 1, 28, 28]);
    /// assert_eq!(dls.norm, None); // pixels / 255, as fastai without pretrained weights
    ///
    /// let opts = FolderOptions { normalize: true, ..FolderOptions::default() };
    /// let dls = ImageDataLoaders::from_folder(&embedded_sample()?, &opts, &fastburn::device())?;
    /// let norm = dls.norm.unwrap();
    /// assert!(norm.mean[0] > 0.1 && norm.mean[0] < 0.2 && norm.std[0] > 0.25 && norm.std[0] < 0.4);
    /// # Ok::<(), fastburn::Error>(())
    /// ```
    pub fn from_folder(
        root: &Path,
        opts: &FolderOptions,
        device: &Device,
    ) -> Result<DataLoaders<ImageDataset>> {
        if !root.is_dir() {
            return Err(Error::NotFound {
                path: root.to_path_buf(),
                expected: PathKind::Folder,
            });
        }
        let (train, valid) = (
            find_split(root, &TRAIN_NAMES),
            find_split(root, &VALID_NAMES),
        );
        let block = match (train, valid, opts.valid_pct) {
            (Some(t), Some(v), None) => {
                // The split folders' names (train/valid, training/testing, ...).
                let name = |p: &Path| p.file_name().map(PathBuf::from).unwrap_or_default();
                let (train, valid) = (name(&t), name(&v));
                let (t, v) = (train.clone(), valid.clone());
                DataBlock {
                    get_items: Arc::new(move |root: &Path| {
                        let mut items = get_image_files(&root.join(&t))?;
                        items.extend(get_image_files(&root.join(&v))?);
                        Ok(items)
                    }),
                    get_y: Arc::new(parent_label),
                    splitter: Splitter::Grandparent { train, valid },
                }
            }
            // A train/ folder and a fraction: split the training images.
            (Some(t), _, pct) => {
                return Self::random_split(&t, pct.unwrap_or(0.2), opts, device);
            }
            (None, _, pct) => return Self::random_split(root, pct.unwrap_or(0.2), opts, device),
        };
        block.dataloaders(root, opts, device)
    }

    fn random_split(
        root: &Path,
        valid_pct: f64,
        opts: &FolderOptions,
        device: &Device,
    ) -> Result<DataLoaders<ImageDataset>> {
        if !(0.0..1.0).contains(&valid_pct) || valid_pct == 0.0 {
            return Err(Error::OutOfRange {
                name: "valid_pct",
                value: valid_pct.to_string(),
                expected: "between 0 and 1 (0.2 holds out a fifth)",
            });
        }
        DataBlock {
            get_items: Arc::new(get_image_files),
            get_y: Arc::new(parent_label),
            splitter: Splitter::Random {
                valid_pct,
                seed: opts.seed,
            },
        }
        .dataloaders(root, opts, device)
    }

    /// Labels from a CSV file of `name,label` rows (a header row is skipped), names relative to
    /// `root` (fastai's `from_csv`); split at random by `valid_pct` (0.2 by default).
    pub fn from_csv(
        root: &Path,
        csv: &Path,
        opts: &FolderOptions,
        device: &Device,
    ) -> Result<DataLoaders<ImageDataset>> {
        let rows = super::labels::read_labels_csv(&root.join(csv))?;
        let labels: HashMap<PathBuf, String> = rows
            .iter()
            .map(|(n, l)| (root.join(n), l.clone()))
            .collect();
        let items: Vec<PathBuf> = rows.iter().map(|(n, _)| root.join(n)).collect();
        DataBlock {
            get_items: Arc::new(move |_: &Path| Ok(items.clone())),
            get_y: Arc::new(move |p: &Path| {
                labels.get(p).cloned().ok_or_else(|| Error::Unlabelled {
                    path: p.to_path_buf(),
                    reason: "not listed in the CSV".into(),
                })
            }),
            splitter: Splitter::Random {
                valid_pct: opts.valid_pct.unwrap_or(0.2),
                seed: opts.seed,
            },
        }
        .dataloaders(root, opts, device)
    }
}

impl DataLoaders<ImageDataset> {
    /// The loaders as a pretrained body needs them (fastai's `vision_learner(pretrained=True)`):
    /// grey images as three identical channels (the body's stem takes RGB), and normalised with
    /// `stats` (the statistics the body was trained with) unless a normalisation is already set.
    ///
    /// ```
    /// use fastburn::data::{Dataset, FolderOptions, ImageDataLoaders, embedded_sample};
    /// use fastburn::models::imagenet_stats;
    /// let dls = ImageDataLoaders::from_folder(&embedded_sample()?, &FolderOptions::default(), &fastburn::device())?;
    /// assert_eq!(dls.item_tfms.channels, 1);
    /// let dls = dls.for_pretrained(imagenet_stats());
    /// assert_eq!((dls.item_tfms.channels, dls.norm), (3, Some(imagenet_stats())));
    /// assert_eq!(dls.valid.dataset.batch(&[0])?.0.dims(), [1, 3, 28, 28]);
    /// # Ok::<(), fastburn::Error>(())
    /// ```
    pub fn for_pretrained(mut self, stats: Normalize) -> Self {
        if self.item_tfms.channels == 1 {
            self.item_tfms.channels = 3;
            for ds in [&mut self.train.dataset, &mut self.valid.dataset] {
                ds.tfms.channels = 3;
                if let Items::Memory(items) = &mut ds.items {
                    for item in items.iter_mut() {
                        *item = to_rgb(std::mem::take(item));
                    }
                }
            }
        }
        if self.norm.is_none() {
            self.norm = Some(stats);
            self.train.dataset.norm = self.norm.clone();
            self.valid.dataset.norm = self.norm.clone();
        }
        self
    }
}
