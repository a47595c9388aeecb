//! Data: fastai's `URLs` and `untar_data`, folders of PNGs, `labels.csv` and IDX files.

mod archive;
mod dataloader;
mod download;
mod external;
mod idx;
mod image_dls;
mod images;
mod labels;
mod normalize;
mod sample;
mod urls;

pub use archive::{extract_tgz, extract_tgz_from};
pub use dataloader::{Batches, DataLoader, DataLoaders, Dataset, TensorDataset};
pub use download::{Expected, download};
pub use external::{
    Config, DeviceChoice, EMBEDDED_MNIST_TINY, Resolved, embedded_sample, untar_data,
};
pub use idx::{IdxArray, mnist_idx, read_idx};
pub use image_dls::{FolderOptions, ImageDataLoaders};
pub use images::{
    ImageStack, LabeledImages, image_files, load_folder, load_images, load_images_resized,
    read_gray,
};
pub use labels::read_labels_csv;
pub use normalize::Normalize;
pub use sample::SampleImages;
pub use urls::{DataSet, URLs};
