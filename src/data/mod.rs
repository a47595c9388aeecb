//! Data: fastai's `URLs` and `untar_data`, folders of PNGs, `labels.csv` and IDX files.

mod archive;
mod dataloader;
mod download;
mod external;
mod idx;
mod image_dls;
mod images;
mod labels;
mod sample;
mod urls;

pub use archive::{extract_tgz, extract_tgz_from};
pub use dataloader::{Batches, DataLoader, DataLoaders, Dataset, TensorDataset};
pub use download::{Expected, download};
pub use external::{
    EMBEDDED_MNIST_TINY, Resolved, archive_path, data_path, embedded_sample, fastburn_home,
    fetch_archive, resolve_data, source_url, untar_data, untar_local,
};
pub use idx::{IdxArray, mnist_idx, read_idx};
pub use image_dls::{FolderOptions, ImageDataLoaders};
pub use images::{
    ImageStack, LabeledImages, image_files, load_folder, load_images, load_images_resized,
    read_gray,
};
pub use labels::read_labels_csv;
pub use sample::SampleImages;
pub use urls::{DataSet, URLs};
