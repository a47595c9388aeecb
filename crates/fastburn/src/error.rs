//! The library's one error type.
//!
//! Every variant states a fact — the file, URL or value at fault, and what was expected of it —
//! and carries the parts as fields, so a program can match on them. What to do about it depends on
//! what was running (a command's option, a library call), so the library gives no advice: the
//! `fastburn` command line adds its own, in one place.

use std::path::PathBuf;

/// Everything that can go wrong with fastburn's data, files, models and training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A path that was asked for does not exist, or is not what it must be.
    #[error("{}: {} not found", path.display(), expected.noun())]
    NotFound { path: PathBuf, expected: PathKind },

    /// A folder that should hold images holds none.
    #[error("{}: no images in this folder", path.display())]
    EmptyFolder { path: PathBuf },

    /// A data set has no images for one of its splits (`"training"`, `"validation"`, `"valid"`).
    #[error("{}: no {split} images", path.display())]
    EmptySplit { path: PathBuf, split: String },

    /// A classifier was asked for, but the training images hold fewer than two classes.
    #[error("{}: its training images hold {} ({classes:?}); a classifier needs two or more", path.display(), match classes.len() {
        0 => "no class".to_string(),
        1 => "one class".to_string(),
        n => format!("{n} classes"),
    })]
    TooFewClasses { path: PathBuf, classes: Vec<String> },

    /// A class has validation images but no training images.
    #[error("{}: class {class:?} has no training images", path.display())]
    ClassWithoutTraining { path: PathBuf, class: String },

    /// An image's label cannot be found (no parent folder, not listed in a CSV).
    #[error("{}: no label for this image ({reason})", path.display())]
    Unlabelled { path: PathBuf, reason: String },

    /// A file is not an image we can decode (corrupt, truncated or another kind of file); the
    /// reason says what the bytes really are.
    #[error("{}: cannot read this image: {reason}", path.display())]
    BadImage { path: PathBuf, reason: String },

    /// Building a data set found unreadable image files: the first, why, and how many more.
    #[error("{}: cannot read this image: {reason}{}", path.display(), match others {
        0 => String::new(),
        n => format!(" (and {n} more unreadable files)"),
    })]
    BadImages {
        path: PathBuf,
        reason: String,
        /// Unreadable files besides this one.
        others: usize,
    },

    /// An image's size differs from the rest of its data set (or from what a model takes).
    #[error(
        "{}: image is {}x{} (width x height) but {}x{} was expected",
        path.display(), got.1, got.0, expected.1, expected.0
    )]
    ImageSize {
        path: PathBuf,
        /// (height, width) the data set or model uses.
        expected: (usize, usize),
        /// (height, width) of this file.
        got: (usize, usize),
    },

    /// An archive is truncated, corrupt, or tries to write outside its destination.
    #[error("{}: bad archive ({reason})", path.display())]
    Archive { path: PathBuf, reason: String },

    /// A downloaded file's size or hash differs from the published one.
    #[error(
        "{}: checksum mismatch (expected {expected}, got {got}): the download is corrupt or not \
         the official file",
        path.display()
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        got: String,
    },

    /// A download failed: no network, an HTTP error, a dropped connection, a missing mirror file.
    #[error("{url}: download failed ({fault})")]
    Download { url: String, fault: DownloadFault },

    /// A named data set is not cached and could not be fetched.
    #[error("{data_set} is not cached and could not be fetched: {source}")]
    Unavailable {
        /// fastai's name for it (`MNIST_SAMPLE`).
        data_set: String,
        /// The archive that would provide it (`mnist_sample.tgz`).
        file_name: String,
        #[source]
        source: Box<Error>,
    },

    /// The compute device asked for (`$FASTBURN_DEVICE`, or the GPU a GPU build picks) cannot be
    /// had.
    #[error("{}", device_message(asked, built, problem))]
    Device {
        asked: crate::data::DeviceChoice,
        /// The backends this build has (`flex`, and `wgpu`/`cuda` when built with them).
        built: Vec<&'static str>,
        problem: DeviceProblem,
    },

    /// Published model weights are not cached and could not be fetched.
    #[error("{file_name} is not cached ({}) and could not be fetched: {source}", cache.display())]
    WeightsUnavailable {
        /// The published file name (`resnet18-f37072fd.pth`).
        file_name: String,
        /// Where it is published.
        url: String,
        /// Where fastburn would keep it.
        cache: PathBuf,
        #[source]
        source: Box<Error>,
    },

    /// A `labels.csv` line we cannot read.
    #[error("{}:{line}: {reason}; expected lines like `train/3/7.png,0`", path.display())]
    LabelsCsv {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// An IDX file whose header or length is wrong.
    #[error("{}: not a valid IDX file ({reason})", path.display())]
    Idx { path: PathBuf, reason: String },

    /// A model file, checkpoint or weights file that is missing parts, is not what it claims, or
    /// does not fit the model it is loaded into.
    #[error("{}: cannot load {}: {reason}", path.display(), kind.noun())]
    BadFile {
        path: PathBuf,
        kind: FileKind,
        reason: String,
    },

    /// A saved model is of another architecture than the one asked for.
    #[error("{}: holds a {saved} model, not {wanted}", path.display())]
    ArchMismatch {
        path: PathBuf,
        saved: String,
        wanted: String,
    },

    /// A saved model's classes are not the data's.
    #[error("{}: the model's classes {model:?} differ from the data's {data:?}", path.display())]
    ClassesDiffer {
        path: PathBuf,
        model: Vec<String>,
        data: Vec<String>,
    },

    /// A checkpoint was written by a run of another length: it can only continue that run.
    #[error(
        "{}: written by a run of {} epochs of {} batches, this one has {} of {}",
        path.display(), saved.0, saved.1, now.0, now.1
    )]
    CheckpointMismatch {
        path: PathBuf,
        /// (epochs, batches per epoch) of the run that wrote it.
        saved: (usize, usize),
        /// (epochs, batches per epoch) of this run.
        now: (usize, usize),
    },

    /// A checkpoint was written in another kind of fit (a plain fit, or one of `fine_tune`'s
    /// two): it can only continue that run.
    #[error("{}: written in {saved}, not in {now}", path.display())]
    CheckpointStage {
        path: PathBuf,
        saved: &'static str,
        now: &'static str,
    },

    /// A checkpoint was written by a data-parallel run of another number of processes: its
    /// batches were split another way, so only that many can continue it.
    #[error("{}: written by a run of {saved} process(es), this one has {now}", path.display())]
    CheckpointRanks {
        path: PathBuf,
        saved: usize,
        now: usize,
    },

    /// A collective operation between the processes of a data-parallel run failed.
    #[error("{op}: {reason}")]
    Collective { op: &'static str, reason: String },

    /// Training produced a loss that is not a finite number.
    #[error("loss is {loss} at epoch {epoch}, batch {batch}: training diverged")]
    Diverged {
        epoch: usize,
        batch: usize,
        loss: f32,
        /// The learning rate (the largest of the groups') the run had.
        lr: f64,
    },

    /// `lr_find` stopped (its loss grew 4-fold or was not a number) before it had enough points
    /// to suggest a rate from: fastai leaves out the first tenth of the sweep and its last 5.
    #[error(
        "lr_find recorded {points} losses before it stopped; a suggestion needs at least {needed}"
    )]
    SweepTooShort { points: usize, needed: usize },

    /// Training was interrupted (Ctrl-C) after a checkpoint was written.
    #[error("interrupted; checkpoint saved to {}", path.display())]
    Interrupted { path: PathBuf },

    /// A value passed in is out of its range.
    #[error("{name} = {value}: must be {expected}")]
    OutOfRange {
        /// The parameter's name in the library (`valid_pct`, `lr`).
        name: &'static str,
        value: String,
        expected: &'static str,
    },

    /// Data that does not have the shape an operation needs (a caller's mistake: a crop outside
    /// its image, pixels that are not whole images, no items at all).
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// What was given (`"crop"`, `"pixel bytes"`, `"image paths"`).
        what: &'static str,
        expected: String,
        got: String,
    },

    /// A metric or monitored value that the learner does not record.
    #[error("no value named {name:?} is recorded (there are {known:?})")]
    UnknownValue { name: String, known: Vec<String> },

    /// A model that has no architecture name a model file can hold (a user's own `Model`).
    #[error("this model has no architecture a model file can name")]
    NoArch,

    /// A picture could not be drawn or encoded.
    #[error("{}: cannot draw: {reason}", path.display())]
    Draw { path: PathBuf, reason: String },
}

/// What a missing path should have been.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A folder of images or of class folders.
    Folder,
    /// A data set: an extracted folder or a `.tgz`.
    DataSet,
    /// A `.tgz` archive.
    Archive,
    /// A file (an image, a model, a checkpoint).
    File,
    /// A checkpoint to resume from.
    Checkpoint,
}

impl PathKind {
    fn noun(self) -> &'static str {
        match self {
            PathKind::Folder => "folder",
            PathKind::DataSet => "data set (folder or .tgz)",
            PathKind::Archive => "archive",
            PathKind::File => "file",
            PathKind::Checkpoint => "checkpoint",
        }
    }
}

/// What kind of file a [`Error::BadFile`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A fastburn model file (`.fbm`).
    Model,
    /// A fastburn training checkpoint.
    Checkpoint,
    /// PyTorch weights (`.pth`, `.pt`, or a wheel holding one).
    PyTorch,
}

impl FileKind {
    fn noun(self) -> &'static str {
        match self {
            FileKind::Model => "model",
            FileKind::Checkpoint => "checkpoint",
            FileKind::PyTorch => "PyTorch weights",
        }
    }
}

/// How a download failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadFault {
    /// The server could not be reached or answered with an error.
    #[error("{0}")]
    Unreachable(String),
    /// The connection dropped part way.
    #[error("connection dropped after {after} bytes: {reason}")]
    Dropped { after: u64, reason: String },
    /// Fewer bytes arrived than the server announced.
    #[error("got {got} of {expected} bytes")]
    Short { got: u64, expected: u64 },
    /// A `file://` mirror does not hold the file.
    #[error("{}: {reason}", path.display())]
    MirrorFile { path: PathBuf, reason: String },
}

/// `Result` with fastburn's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}

/// Why a [`Error::Device`] could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceProblem {
    /// The name is none of fastburn's backends.
    Unknown,
    /// This build was made without that backend.
    NotBuilt,
    /// The backend is built but found no device to run on; its own words.
    NoDevice(String),
}

fn device_message(
    asked: &crate::data::DeviceChoice,
    built: &[&'static str],
    problem: &DeviceProblem,
) -> String {
    use crate::data::DeviceChoice;
    let name = match asked {
        DeviceChoice::Auto => "auto",
        DeviceChoice::Cpu => "flex",
        DeviceChoice::Wgpu => "wgpu",
        DeviceChoice::Cuda => "cuda",
        DeviceChoice::Unknown(s) => s,
    };
    match problem {
        DeviceProblem::Unknown => {
            format!("FASTBURN_DEVICE={name}: not a backend (fastburn has flex, wgpu and cuda)")
        }
        DeviceProblem::NotBuilt => format!(
            "FASTBURN_DEVICE={name}: this fastburn was built without the {name} backend (it has {})",
            built.join(", ")
        ),
        DeviceProblem::NoDevice(detail) => {
            let detail = detail.lines().next().unwrap_or_default();
            match asked {
                DeviceChoice::Auto => {
                    format!(
                        "the GPU backend this fastburn was built with found no device: {detail}"
                    )
                }
                _ => {
                    format!("FASTBURN_DEVICE={name}: the {name} backend found no device: {detail}")
                }
            }
        }
    }
}
