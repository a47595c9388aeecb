//! Data: fastai's `URLs` and `untar_data`, folders of images of any common format, `DataBlock`,
//! item transforms, augmentation, a prefetching loader, `labels.csv` and IDX files.

mod archive;
mod augment;
mod dataloader;
mod decode;
mod download;
mod external;
mod idx;
mod image_dataset;
mod image_dls;
mod images;
mod labels;
mod normalize;
mod pixel_dataset;
mod prefetch;
mod sample;
mod transforms;
mod upload;
mod urls;

pub use archive::{extract_tgz, extract_tgz_from};
pub use augment::{AugTransforms, PadMode, aug_transforms, item_rng, warp};
pub use dataloader::{
    AnyImageDataset, Batches, DataLoader, DataLoaders, Dataset, ImageBatch, IntoImageBatch,
    TensorDataset,
};
pub use decode::{
    IMAGE_FORMATS, decode_image, decode_oriented, describe_format, is_grey, open_image, planar,
};
pub use download::{Expected, download};
pub use external::{
    Config, DeviceChoice, EMBEDDED_MNIST_TINY, Resolved, embedded_sample, untar_data,
};
pub use idx::{IdxArray, mnist_idx, read_idx};
pub use image_dataset::{ImageCheck, ImageDataset, Items, check_images};
pub use image_dls::{
    DataBlock, FolderOptions, IMAGE_EXTENSIONS, ImageDataLoaders, Splitter, get_image_files,
    parent_label,
};
pub use images::{
    ImageStack, LabeledImages, image_files, load_folder, load_images, load_images_resized,
    read_gray,
};
pub use labels::read_labels_csv;
pub use normalize::Normalize;
pub use pixel_dataset::PixelDataset;
pub use prefetch::Prefetch;
pub use sample::SampleImages;
pub use transforms::{ItemTfms, Pixels, ResizeMethod};
pub use upload::{DecodeError, MAX_PIXELS, decode_gray, decode_input};
pub use urls::{DataSet, URLs};
