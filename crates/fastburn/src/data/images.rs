//! Folders of PNGs into tensors: the chapter's `(path/'train'/'3').ls().sorted()` and
//! `torch.stack([tensor(Image.open(o)) for o in threes])`, decoded in parallel.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::{DType, TensorCreationOptions};
use fastburn_flex::par::prelude::*;

use crate::error::{Error, IoContext, PathKind, Result};

/// Grey images of one size, stored row-major as bytes, with the files they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageStack {
    /// `n * height * width` pixel values, 0 (black) to 255 (white).
    pub pixels: Vec<u8>,
    pub height: usize,
    pub width: usize,
    /// One path per image, in stack order (empty for images that never were files, e.g. IDX).
    pub paths: Vec<PathBuf>,
}

impl ImageStack {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len() / (self.height * self.width).max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The `i`-th image's pixels.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.height * self.width;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The stack as a `[n, height, width]` tensor of `u8`, as `tensor(Image.open(..))` gives.
    pub fn to_tensor_u8(&self, device: &Device) -> Tensor<3, Int> {
        let data = TensorData::new(self.pixels.clone(), [self.len(), self.height, self.width]);
        Tensor::from_data(
            data,
            TensorCreationOptions::new(device.clone()).with_dtype(DType::U8),
        )
    }

    /// The stack as `[n, height, width]` floats in 0..=1: the chapter's `.float()/255`.
    pub fn to_tensor(&self, device: &Device) -> Tensor<3> {
        let mut floats = vec![0f32; self.pixels.len()];
        super::pixel_dataset::bytes_to_unit(&self.pixels, &mut floats);
        Tensor::from_data(
            TensorData::new(floats, [self.len(), self.height, self.width]),
            device,
        )
    }

    /// Concatenate stacks of the same image size (e.g. the 3s then the 7s).
    pub fn concat(stacks: &[&ImageStack]) -> Result<ImageStack> {
        let first = stacks.first().ok_or_else(|| Error::Shape {
            what: "image stacks to concatenate",
            expected: "at least one".into(),
            got: "none".into(),
        })?;
        let mut out = ImageStack {
            pixels: Vec::new(),
            height: first.height,
            width: first.width,
            paths: Vec::new(),
        };
        for s in stacks {
            if (s.height, s.width) != (out.height, out.width) {
                return Err(Error::ImageSize {
                    path: s.paths.first().cloned().unwrap_or_default(),
                    expected: (out.height, out.width),
                    got: (s.height, s.width),
                });
            }
            out.pixels.extend_from_slice(&s.pixels);
            out.paths.extend(s.paths.iter().cloned());
        }
        Ok(out)
    }
}

/// The image files in `dir`, sorted by name as fastai's `.ls().sorted()` does.
///
/// Hidden files (`.DS_Store`, ...) are skipped; every other file is taken to be an image and is
/// checked when decoded, so a stray file is reported rather than silently ignored.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::NotFound {
            path: dir.to_path_buf(),
            expected: PathKind::Folder,
        });
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type().at(entry.path())?.is_file() {
            files.push(entry.path());
        }
    }
    if files.is_empty() {
        return Err(Error::EmptyFolder {
            path: dir.to_path_buf(),
        });
    }
    files.sort();
    Ok(files)
}

/// Decode one image (any format [`open_image`](super::open_image) reads) as 8-bit grey;
/// returns `(pixels, height, width)`.
pub fn read_gray(path: &Path) -> Result<(Vec<u8>, usize, usize)> {
    let gray = super::decode::open_image(path)?.into_luma8();
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    Ok((gray.into_raw(), h, w))
}

/// Decode `paths` in parallel into one stack; every image must have the first one's size.
pub fn load_images(paths: &[PathBuf]) -> Result<ImageStack> {
    decode_all(paths, None)
}

/// Decode `paths` in parallel, resizing each to `(height, width)` (bilinear), for data sets whose
/// images differ in size.
pub fn load_images_resized(paths: &[PathBuf], size: (usize, usize)) -> Result<ImageStack> {
    decode_all(paths, Some(size))
}

/// Decode in parallel; without `resize`, every image must have the first one's size.
fn decode_all(paths: &[PathBuf], resize: Option<(usize, usize)>) -> Result<ImageStack> {
    let first = paths.first().ok_or_else(|| Error::Shape {
        what: "image paths",
        expected: "at least one".into(),
        got: "none".into(),
    })?;
    let (height, width) = match resize {
        Some(size) => size,
        None => {
            let (_, h, w) = read_gray(first)?;
            (h, w)
        }
    };
    let decoded: Vec<Vec<u8>> = paths
        .par_iter()
        .map(|p| {
            let (px, h, w) = read_gray(p)?;
            if (h, w) == (height, width) {
                return Ok(px);
            }
            if resize.is_none() {
                return Err(Error::ImageSize {
                    path: p.clone(),
                    expected: (height, width),
                    got: (h, w),
                });
            }
            let img = image::GrayImage::from_raw(w as u32, h as u32, px).ok_or_else(|| {
                Error::BadImage {
                    path: p.clone(),
                    reason: "pixel buffer does not match its size".into(),
                }
            })?;
            let filter = image::imageops::FilterType::Triangle;
            Ok(image::imageops::resize(&img, width as u32, height as u32, filter).into_raw())
        })
        .collect::<Result<_>>()?;
    Ok(ImageStack {
        pixels: decoded.concat(),
        height,
        width,
        paths: paths.to_vec(),
    })
}

/// Every image in `dir`, in sorted order.
///
/// ```
/// let root = fastburn::data::embedded_sample()?;
/// let threes = fastburn::data::load_folder(&root.join("train").join("3"))?;
/// assert_eq!((threes.len(), threes.height, threes.width), (350, 28, 28));
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn load_folder(dir: &Path) -> Result<ImageStack> {
    load_images(&image_files(dir)?)
}

/// Images with class labels: a class-per-folder split (`train/3`, `train/7`) or a `labels.csv`.
#[derive(Debug, Clone)]
pub struct LabeledImages {
    pub images: ImageStack,
    /// Index into `vocab` for each image.
    pub labels: Vec<usize>,
    /// Class names in sorted order (fastai's `dls.vocab`).
    pub vocab: Vec<String>,
}

impl LabeledImages {
    /// Load `split/<class>/*` with the classes (sub-folder names) in sorted order.
    pub fn from_folder(split: &Path) -> Result<Self> {
        Self::from_folder_sized(split, None)
    }

    /// [`from_folder`](Self::from_folder), resizing every image to `(height, width)` if given.
    pub fn from_folder_sized(split: &Path, size: Option<(usize, usize)>) -> Result<Self> {
        if !split.is_dir() {
            return Err(Error::NotFound {
                path: split.to_path_buf(),
                expected: PathKind::Folder,
            });
        }
        let mut vocab = Vec::new();
        for entry in std::fs::read_dir(split).at(split)? {
            let entry = entry.at(split)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().at(entry.path())?.is_dir() && !name.starts_with('.') {
                vocab.push(name);
            }
        }
        if vocab.is_empty() {
            return Err(Error::EmptyFolder {
                path: split.to_path_buf(),
            });
        }
        vocab.sort();
        let mut paths = Vec::new();
        let mut labels = Vec::new();
        for (i, class) in vocab.iter().enumerate() {
            let files = image_files(&split.join(class))?;
            labels.extend(std::iter::repeat_n(i, files.len()));
            paths.extend(files);
        }
        let images = match size {
            Some(size) => load_images_resized(&paths, size)?,
            None => load_images(&paths)?,
        };
        Ok(Self {
            images,
            labels,
            vocab,
        })
    }

    /// Load the images that `labels.csv` (in `root`) lists under `prefix` (`"train/"`, `"valid/"`).
    pub fn from_labels_csv(root: &Path, prefix: &str) -> Result<Self> {
        let rows = super::labels::read_labels_csv(&root.join("labels.csv"))?;
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .collect();
        if rows.is_empty() {
            return Err(Error::EmptySplit {
                path: root.join("labels.csv"),
                split: prefix.trim_end_matches('/').to_string(),
            });
        }
        let mut vocab: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
        vocab.sort();
        vocab.dedup();
        let labels = rows
            .iter()
            .map(|(_, l)| vocab.binary_search(l).unwrap_or_default())
            .collect();
        let paths: Vec<PathBuf> = rows.iter().map(|(name, _)| root.join(name)).collect();
        Ok(Self {
            images: load_images(&paths)?,
            labels,
            vocab,
        })
    }

    /// Labels as a `[n]` int tensor.
    pub fn labels_tensor(&self, device: &Device) -> Tensor<1, Int> {
        let labels: Vec<i64> = self.labels.iter().map(|&l| l as i64).collect();
        Tensor::from_data(TensorData::new(labels, [self.labels.len()]), device)
    }
}
