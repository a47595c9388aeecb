//! The data sets the chapter uses, with fastai's own addresses and checksums.

/// A downloadable data set: where fastai publishes it and how to recognise the genuine file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSet {
    /// Short name used on the command line (`fastburn data fetch mnist_sample`).
    pub name: &'static str,
    /// Folder the archive extracts to, as fastai names it (`untar_data` returns `data/<folder>`).
    pub folder: &'static str,
    /// Official download address.
    pub url: &'static str,
    /// Byte size of the official archive.
    pub size: u64,
    /// MD5 of the official archive, as fastai's `download_checks` lists it.
    pub md5: &'static str,
}

impl DataSet {
    /// The archive's file name (the last part of its URL), also used under a mirror.
    pub fn file_name(&self) -> &'static str {
        self.url.rsplit('/').next().unwrap_or(self.url)
    }
}

/// fastai's `URLs`: the addresses of the data sets, under the names the book uses.
///
/// ```
/// use fastburn::data::URLs;
/// assert_eq!(URLs::MNIST_SAMPLE.file_name(), "mnist_sample.tgz");
/// assert_eq!(URLs::by_name("mnist").unwrap().folder, "mnist_png");
/// ```
pub struct URLs;

impl URLs {
    /// 3s and 7s only: `train/{3,7}`, `valid/{3,7}`, `labels.csv` (chapter 4's data).
    pub const MNIST_SAMPLE: DataSet = DataSet {
        name: "mnist_sample",
        folder: "mnist_sample",
        url: "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz",
        size: 3_214_948,
        md5: "2dbc7ec6f9259b583af0072c55816a88",
    };
    /// All of MNIST as PNGs: `training/<digit>`, `testing/<digit>`.
    pub const MNIST: DataSet = DataSet {
        name: "mnist",
        folder: "mnist_png",
        url: "https://s3.amazonaws.com/fast-ai-imageclas/mnist_png.tgz",
        size: 15_683_414,
        md5: "03639f83c4e3d19e0a3a53a8a997c487",
    };
    /// About 1,400 3s and 7s, for quick experiments.
    pub const MNIST_TINY: DataSet = DataSet {
        name: "mnist_tiny",
        folder: "mnist_tiny",
        url: "https://s3.amazonaws.com/fast-ai-sample/mnist_tiny.tgz",
        size: 342_207,
        md5: "56143e8f24db90d925d82a5a74141875",
    };

    /// Every data set fastburn knows.
    pub const ALL: [DataSet; 3] = [Self::MNIST_SAMPLE, Self::MNIST, Self::MNIST_TINY];

    /// Look a data set up by its short name or folder name (`mnist`, `mnist_png`, ...).
    pub fn by_name(name: &str) -> Option<DataSet> {
        let name = name.to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|d| d.name == name || d.folder == name)
    }
}
