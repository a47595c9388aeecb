//! # fastburn
//!
//! fastai's way of doing deep learning, in Rust, on [Burn](https://burn.dev): fastbook chapter 4,
//! "MNIST basics", from pixels to a trained model, layered as fastai is.
//!
//! - [`data`]: `untar_data(&URLs::MNIST_SAMPLE)`, folders of PNGs, `labels.csv`, IDX files.
//! - [`show`]: tensors printed like PyTorch, images, heat-maps, terminal rendering.
//! - [`baseline`]: the pixel-similarity model (mean 3 vs mean 7).
//! - [`scratch`]: the chapter's from-scratch SGD: `init_params`, `linear1`, `train_epoch`, ...
//! - [`learner`]: fastai's `Learner`, callbacks, `Recorder`, the epoch table, optimizers.
//! - [`parallel`]: data-parallel training over several processes (MPI with the `mpi` feature).
//! - [`models`], [`loss`], [`metrics`]: `linear`, `simple_net`; `mnist_loss`, cross-entropy;
//!   `batch_accuracy`, `accuracy`.
//!
//! ```
//! use fastburn::prelude::*;
//! let path = fastburn::data::embedded_sample()?;           // or untar_data(&URLs::MNIST_SAMPLE)?
//! let threes = image_files(&path.join("train").join("3"))?;
//! let im3 = load_images(&threes[1..2])?.to_tensor_u8(&device());
//! println!("{}", repr(&im3.slice([0..1, 4..10, 4..10])));
//! # Ok::<(), fastburn::Error>(())
//! ```

pub mod baseline;
mod container;
pub mod data;
pub mod error;
pub mod fsutil;
pub mod learner;
pub mod loss;
pub mod metrics;
pub mod models;
pub mod parallel;
pub mod scratch;
pub mod show;

pub use error::{Error, Result};

use burn::prelude::Device;

/// The device fastburn computes on, with autodiff so the same tensors can be trained: Burn's
/// pure-Rust CPU backend (Flex), or the GPU when built with the `cuda` or `wgpu` feature;
/// `$FASTBURN_DEVICE` (`flex`, `wgpu`, `cuda`) chooses among the backends the build has. The
/// chapter's one-liner for `data::Config::from_env().device()`.
///
/// # Panics
///
/// When `$FASTBURN_DEVICE` names a backend this build lacks or that finds no device, with the
/// message of the [`Error::Device`] that [`data::Config::device`] returns instead.
pub fn device() -> Device {
    data::Config::from_env()
        .device()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What most programs need, in one import.
pub mod prelude {
    pub use crate::baseline::{PixelSimilarity, mnist_distance};
    pub use crate::data::{
        ImageStack, LabeledImages, URLs, image_files, load_folder, load_images, untar_data,
    };
    pub use crate::device;
    pub use crate::learner::{ADAM, Learner, SGD};
    pub use crate::loss::{cross_entropy, mnist_loss, sigmoid};
    pub use crate::metrics::{ACCURACY, BATCH_ACCURACY, ERROR_RATE, accuracy, batch_accuracy};
    pub use crate::models::{Model, linear, simple_net};
    pub use crate::show::{Gray, repr, show_image};
    pub use burn::prelude::*;
}
