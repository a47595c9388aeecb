//! The library's one error type.
//!
//! Every variant names the file (or URL) at fault and says what to do about it, so that the CLI
//! can print a single line and a library user can match on the kind of failure.

use std::path::PathBuf;

/// Everything that can go wrong with fastburn's data, files and models.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A folder the data set needs is not there.
    #[error("{}: folder not found; {fix}", path.display())]
    MissingFolder { path: PathBuf, fix: String },

    /// A folder exists but holds no images.
    #[error("{}: no images in this folder; point --data at a folder of class folders (<class>/*.jpg), optionally split into train/ and valid/", path.display())]
    EmptyFolder { path: PathBuf },

    /// A file is not an image we can decode (corrupt, truncated or another kind of file); the
    /// reason says what the bytes really are, and the fix where the caller knows one
    /// ([`Error::with_image_fix`]).
    #[error("{}: cannot read this image: {reason}", path.display())]
    BadImage { path: PathBuf, reason: String },

    /// An image's size differs from the rest of its data set.
    #[error(
        "{}: image is {}x{} but the data set's images are {}x{}; {fix}",
        path.display(), got.1, got.0, expected.1, expected.0
    )]
    ImageSize {
        path: PathBuf,
        /// (height, width) the data set uses.
        expected: (usize, usize),
        /// (height, width) of this file.
        got: (usize, usize),
        /// What to do, in the words of what was running (a command's flag, a library call).
        fix: String,
    },

    /// An archive is truncated, corrupt, or tries to write outside its destination.
    #[error("{}: bad archive ({reason}); delete it and download it again", path.display())]
    Archive { path: PathBuf, reason: String },

    /// A downloaded file's size or hash differs from the published one.
    #[error(
        "{}: checksum mismatch (expected {expected}, got {got}); the download is corrupt or not the \
         official file: delete it and retry, or use a local copy with --data or FASTBURN_DATA_URL",
        path.display()
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        got: String,
    },

    /// The download itself failed (no network, HTTP error, connection dropped).
    #[error("{url}: download failed ({reason}); {fix}")]
    Download {
        url: String,
        reason: String,
        fix: String,
    },

    /// A `labels.csv` line we cannot read.
    #[error("{}:{line}: {reason}; expected lines like `train/3/7.png,0`", path.display())]
    LabelsCsv {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// An IDX file whose header or length is wrong.
    #[error("{}: not a valid IDX file ({reason}); re-download the MNIST .gz files", path.display())]
    Idx { path: PathBuf, reason: String },

    /// A model file that is missing parts, is not a model, or is for another architecture.
    #[error("{}: cannot load model: {reason}", path.display())]
    ModelFile { path: PathBuf, reason: String },

    /// Training produced a loss that is not a finite number.
    #[error(
        "loss is {loss} at epoch {epoch}, batch {batch}: training diverged; try a lower learning \
         rate (e.g. --lr {suggested})"
    )]
    Diverged {
        epoch: usize,
        batch: usize,
        loss: f32,
        /// A learning rate ten times smaller, written short (`0.01`, `1e39`).
        suggested: String,
    },

    /// A name, option or value the caller passed is not one we know.
    #[error("{0}")]
    Invalid(String),

    /// Training was interrupted (Ctrl-C) after a checkpoint was written.
    #[error("interrupted; checkpoint saved to {}. To go on: {hint}", path.display())]
    Interrupted { path: PathBuf, hint: String },
}

impl Error {
    /// An image error with the fix that fits where it surfaced: a loader cannot know whether it
    /// runs under `train` (which can skip a file or resize), `predict`, `show` or a library
    /// call. [`ImageSize`](Error::ImageSize)'s fix is replaced; [`BadImage`](Error::BadImage)'s
    /// reason (which says what the file is, not what to do) gets the fix after it. Other errors
    /// are returned as they are.
    ///
    /// ```
    /// use fastburn::Error;
    /// let e = Error::BadImage { path: "a.jpg".into(), reason: "not an image file".into() };
    /// let e = e.with_image_fix("remove or replace the file");
    /// assert_eq!(
    ///     e.to_string(),
    ///     "a.jpg: cannot read this image: not an image file; remove or replace the file"
    /// );
    /// ```
    pub fn with_image_fix(self, fix: &str) -> Self {
        match self {
            Error::ImageSize {
                path,
                expected,
                got,
                ..
            } => Error::ImageSize {
                path,
                expected,
                got,
                fix: fix.into(),
            },
            Error::BadImage { path, reason } => Error::BadImage {
                path,
                reason: format!("{reason}; {fix}"),
            },
            e => e,
        }
    }
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
