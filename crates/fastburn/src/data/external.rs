//! fastai's `untar_data`: download once, cache, extract, hand back the folder.
//!
//! Where the cache is and which mirror to use are read from the environment once, at the top of
//! a program, into a [`Config`] that is passed down (the library reads no environment variable
//! inside). The free functions [`untar_data`], [`embedded_sample`] and [`crate::device`] are the
//! chapter's one-liners: each resolves `Config::from_env()` itself.
//!
//! The cache holds archives in `archive/` and extracted folders in `data/`. Two processes asking
//! for the same data set at once both succeed and extract it once: a file lock guards each cache
//! entry, and the operating system releases it when a process dies, so a killed run never leaves
//! a lock that blocks the next one.

use std::path::{Path, PathBuf};

use super::archive::{extract_tgz, extract_tgz_from};
use super::download::{Expected, download, fetch_text};
use super::urls::DataSet;
use crate::error::{DeviceProblem, Error, PathKind, Result};
use crate::fsutil::lock_exclusive;
use crate::models::WeightsUrl;

/// The bytes of `assets/mnist_tiny.tgz`: 1,400 MNIST 3s and 7s in MNIST_SAMPLE's layout, so that
/// the main job and the tests run on a machine with no data and no network.
pub const EMBEDDED_MNIST_TINY: &[u8] = include_bytes!("../../assets/mnist_tiny.tgz");

/// Folder name of the extracted embedded sample (distinct from fastai's own `mnist_tiny`).
const EMBEDDED_FOLDER: &str = "mnist_tiny_embedded";

/// Which device to compute on (`$FASTBURN_DEVICE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The GPU backend the build has (`cuda` before `wgpu`), else the CPU.
    #[default]
    Auto,
    /// Burn's pure-Rust CPU backend (Flex), even in a GPU build (`cpu` or `flex`).
    Cpu,
    /// Burn's wgpu backend (Vulkan, Metal, DirectX 12): needs the `wgpu` feature.
    Wgpu,
    /// Burn's CUDA backend: needs the `cuda` feature.
    Cuda,
    /// A name that is none of the above, as given.
    Unknown(String),
}

impl DeviceChoice {
    /// The choice a `$FASTBURN_DEVICE` value names (`None`: unset or empty).
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("" | "auto") => DeviceChoice::Auto,
            Some("cpu" | "flex") => DeviceChoice::Cpu,
            Some("wgpu") => DeviceChoice::Wgpu,
            Some("cuda") => DeviceChoice::Cuda,
            Some(_) => DeviceChoice::Unknown(value.unwrap_or_default().to_string()),
        }
    }

    /// The backends this build of fastburn has, by their `$FASTBURN_DEVICE` names.
    pub fn built() -> Vec<&'static str> {
        let mut v = vec!["flex"];
        if cfg!(feature = "wgpu") {
            v.push("wgpu");
        }
        if cfg!(feature = "cuda") {
            v.push("cuda");
        }
        v
    }
}

/// Everything fastburn takes from its surroundings, resolved once.
///
/// ```
/// use fastburn::data::Config;
/// let cfg = Config::at("/tmp/fastburn-doc-cache");
/// assert!(cfg.data_path(&fastburn::data::URLs::MNIST_SAMPLE).ends_with("data/mnist_sample"));
/// let sample = cfg.embedded_sample()?;
/// assert!(sample.starts_with("/tmp/fastburn-doc-cache"));
/// # Ok::<(), fastburn::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Root of the cache (`$FASTBURN_HOME`, else `~/.fastburn`).
    pub home: PathBuf,
    /// A mirror holding the archives (`$FASTBURN_DATA_URL`: `file://`, `http://`, `https://`).
    pub mirror: Option<String>,
    /// `$FASTBURN_DEVICE`: `flex` (or `cpu`), `wgpu`, `cuda`; unset, the GPU backend the build
    /// has, else Flex.
    pub device: DeviceChoice,
    /// A mirror holding model weights under their published file names
    /// (`$FASTBURN_WEIGHTS_URL`: `file://`, `http://`, `https://`), instead of torchvision's
    /// server.
    pub weights_mirror: Option<String>,
    /// PyTorch's own download cache (`$TORCH_HOME/hub/checkpoints`, else
    /// `~/.cache/torch/hub/checkpoints`): weights that PyTorch (or fastai) already fetched are
    /// read from there rather than fetched again.
    pub torch_hub: Option<PathBuf>,
}

impl Config {
    /// The configuration the environment gives: the one place fastburn reads it.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = var("FASTBURN_HOME").map(PathBuf::from).unwrap_or_else(|| {
            std::env::home_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join(".fastburn")
        });
        let device = DeviceChoice::parse(var("FASTBURN_DEVICE").as_deref());
        let torch_hub = var("TORCH_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::home_dir().map(|h| h.join(".cache/torch")))
            .map(|t| t.join("hub/checkpoints"));
        Self {
            home,
            mirror: var("FASTBURN_DATA_URL"),
            device,
            weights_mirror: var("FASTBURN_WEIGHTS_URL"),
            torch_hub,
        }
    }

    /// A cache at `home`, no mirror, the default device.
    pub fn at(home: impl Into<PathBuf>) -> Self {
        Self {
            home: home.into(),
            mirror: None,
            device: DeviceChoice::Auto,
            weights_mirror: None,
            torch_hub: None,
        }
    }

    /// The device to compute on, with autodiff so the same tensors can be trained.
    ///
    /// A backend asked for by name that this build lacks, or that finds no device (no GPU, no
    /// Vulkan driver), is an [`Error::Device`]; nothing falls back to another backend unasked.
    pub fn device(&self) -> Result<burn::prelude::Device> {
        use burn::prelude::Device;
        let asked = |problem| Error::Device {
            asked: self.device.clone(),
            built: DeviceChoice::built(),
            problem,
        };
        match &self.device {
            DeviceChoice::Cpu => Ok(Device::flex().autodiff()),
            DeviceChoice::Unknown(_) => Err(asked(DeviceProblem::Unknown)),
            DeviceChoice::Auto => {
                #[cfg(feature = "cuda")]
                return probe(Device::cuda(0)).map_err(|e| asked(DeviceProblem::NoDevice(e)));
                #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
                return wgpu_device().map_err(|e| asked(DeviceProblem::NoDevice(e)));
                #[allow(unreachable_code)]
                Ok(Device::flex().autodiff())
            }
            DeviceChoice::Wgpu => {
                #[cfg(feature = "wgpu")]
                return wgpu_device().map_err(|e| asked(DeviceProblem::NoDevice(e)));
                #[allow(unreachable_code)]
                Err(asked(DeviceProblem::NotBuilt))
            }
            DeviceChoice::Cuda => {
                #[cfg(feature = "cuda")]
                return probe(Device::cuda(0)).map_err(|e| asked(DeviceProblem::NoDevice(e)));
                #[allow(unreachable_code)]
                Err(asked(DeviceProblem::NotBuilt))
            }
        }
    }

    /// Where `untar_data` keeps the extracted data set.
    pub fn data_path(&self, ds: &DataSet) -> PathBuf {
        self.home.join("data").join(ds.folder)
    }

    /// Where `untar_data` keeps the downloaded archive.
    pub fn archive_path(&self, ds: &DataSet) -> PathBuf {
        self.home.join("archive").join(ds.file_name())
    }

    /// Where the archive comes from: the mirror, else fastai's address.
    pub fn source_url(&self, ds: &DataSet) -> String {
        match &self.mirror {
            Some(base) => in_mirror(base, ds.file_name()),
            None => ds.url.to_string(),
        }
    }

    /// Download (once) and extract (once) a data set; returns its folder, as fastai's
    /// `untar_data`.
    ///
    /// Official downloads are checked against fastai's size and MD5. A mirror is not held to
    /// them (local copies are rebuilt files with other bytes); when the mirror has a `SHA256SUMS`
    /// file the archive is checked against that instead.
    pub fn untar_data(&self, ds: &DataSet) -> Result<PathBuf> {
        let dest = self.data_path(ds);
        if dest.is_dir() {
            return Ok(dest);
        }
        let archive = self.fetch_archive(ds)?;
        extract_tgz(&archive, dest.parent().unwrap_or(Path::new(".")), ds.folder)
    }

    /// Download a data set's archive into the cache (if not there yet); returns its path.
    pub fn fetch_archive(&self, ds: &DataSet) -> Result<PathBuf> {
        let archive = self.archive_path(ds);
        download_once(&archive, || {
            let expected = match &self.mirror {
                Some(base) => mirror_checksum(base, ds.file_name()),
                None => Expected::SizeMd5 {
                    size: ds.size,
                    md5: ds.md5.to_string(),
                },
            };
            download(&self.source_url(ds), &archive, &expected)
        })
    }

    /// Where downloaded model weights are kept: `models/` in the cache, under their published
    /// file names.
    pub fn weights_path(&self, weights: &WeightsUrl) -> PathBuf {
        self.home.join("models").join(weights.file_name())
    }

    /// The ImageNet weights published at `weights` (torchvision's), as `torchvision`'s
    /// `load_state_dict_from_url` gets them: from PyTorch's cache if it has them, else from
    /// fastburn's, else downloaded (from the weights mirror if one is set) with a progress bar,
    /// checked against the SHA-256 prefix in the file name, and written whole or not at all. Two
    /// processes asking at once download once.
    ///
    /// ```no_run
    /// use fastburn::data::Config;
    /// use fastburn::models::ImageNetArch;
    /// let weights = ImageNetArch::Resnet34.weights_url().unwrap();
    /// let path = Config::from_env().fetch_weights(&weights)?;
    /// assert!(path.ends_with("resnet34-b627a593.pth"));
    /// # Ok::<(), fastburn::Error>(())
    /// ```
    pub fn fetch_weights(&self, weights: &WeightsUrl) -> Result<PathBuf> {
        if let Some(hub) = &self.torch_hub {
            let theirs = hub.join(weights.file_name());
            if theirs.is_file() {
                return Ok(theirs);
            }
        }
        let path = self.weights_path(weights);
        download_once(&path, || {
            let url = match &self.weights_mirror {
                Some(base) => in_mirror(base, weights.file_name()),
                None => weights.url.to_string(),
            };
            let expected = Expected::Sha256Prefix(weights.hash_prefix().to_string());
            download(&url, &path, &expected)
        })
        .map_err(|e| Error::WeightsUnavailable {
            file_name: weights.file_name().to_string(),
            url: weights.url.to_string(),
            cache: path.clone(),
            source: Box::new(e),
        })
    }

    /// Extract a local archive into the cache (no checksum: it is the user's own file) and
    /// return the folder, named after the archive (`mnist_sample.tgz` → `data/mnist_sample`).
    pub fn untar_local(&self, archive: &Path) -> Result<PathBuf> {
        if !archive.is_file() {
            return Err(Error::NotFound {
                path: archive.to_path_buf(),
                expected: PathKind::Archive,
            });
        }
        let name = archive_stem(archive);
        extract_tgz(archive, &self.home.join("data"), &name)
    }

    /// The embedded 1,400-image sample, extracted into the cache on first use.
    pub fn embedded_sample(&self) -> Result<PathBuf> {
        extract_tgz_from(
            EMBEDDED_MNIST_TINY,
            Path::new("<embedded mnist_tiny.tgz>"),
            &self.home.join("data"),
            EMBEDDED_FOLDER,
        )
    }

    /// The data a command works on: `data` (a folder, or a `.tgz` extracted into the cache),
    /// else the data set `ds` from the cache or its source. Only the main job's data set,
    /// MNIST_SAMPLE, falls back to the embedded sample (of the same 3s and 7s) when it cannot be
    /// downloaded and `allow_fallback` is set; any other data set must be had, or it is an error
    /// ([`Error::Unavailable`]) that names the archive.
    pub fn resolve_data(
        &self,
        data: Option<&Path>,
        ds: &DataSet,
        allow_fallback: bool,
    ) -> Result<Resolved> {
        if let Some(p) = data {
            let path = if p.is_file() {
                self.untar_local(p)?
            } else if p.is_dir() {
                p.to_path_buf()
            } else {
                return Err(Error::NotFound {
                    path: p.to_path_buf(),
                    expected: PathKind::DataSet,
                });
            };
            return Ok(Resolved {
                description: format!("{}", path.display()),
                path,
                fallback_reason: None,
            });
        }
        match self.untar_data(ds) {
            Ok(path) => Ok(Resolved {
                description: format!("{} ({})", ds.name.to_uppercase(), path.display()),
                path,
                fallback_reason: None,
            }),
            Err(e @ Error::Download { .. }) if allow_fallback && ds.folder == "mnist_sample" => {
                let path = self.embedded_sample()?;
                Ok(Resolved {
                    description: "embedded sample (1,400 images)".into(),
                    path,
                    fallback_reason: Some(e.to_string()),
                })
            }
            Err(e @ Error::Download { .. }) => Err(Error::Unavailable {
                data_set: ds.name.to_uppercase(),
                file_name: ds.file_name().to_string(),
                source: Box::new(e),
            }),
            Err(e) => Err(e),
        }
    }
}

/// Download (once) and extract (once) a data set with the environment's [`Config`].
///
/// ```no_run
/// use fastburn::data::{URLs, untar_data};
/// let path = untar_data(&URLs::MNIST_SAMPLE)?;
/// assert!(path.join("train").join("3").is_dir());
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn untar_data(ds: &DataSet) -> Result<PathBuf> {
    Config::from_env().untar_data(ds)
}

/// The embedded 1,400-image sample, extracted into the environment's cache on first use.
///
/// ```
/// let path = fastburn::data::embedded_sample()?;
/// assert!(path.join("valid").join("7").is_dir());
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn embedded_sample() -> Result<PathBuf> {
    Config::from_env().embedded_sample()
}

/// `file` in the mirror at `base`.
fn in_mirror(base: &str, file: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), file)
}

/// `path`, fetched by `fetch` unless it is there already. One fetch at a time per file, across
/// threads and processes: whoever waited for the lock finds the file there.
fn download_once(path: &Path, fetch: impl FnOnce() -> Result<()>) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let _lock = lock_exclusive(path)?;
    if !path.is_file() {
        fetch()?;
    }
    Ok(path.to_path_buf())
}

/// A mirror's `SHA256SUMS` line for `file`, if the mirror has one.
fn mirror_checksum(base: &str, file: &str) -> Expected {
    let sums = fetch_text(&format!("{}/SHA256SUMS", base.trim_end_matches('/')));
    sums.and_then(|text| {
        text.lines().find_map(|line| {
            let (hash, name) = line.split_once(char::is_whitespace)?;
            let name = name.trim().trim_start_matches('*');
            (name == file).then(|| Expected::Sha256(hash.to_string()))
        })
    })
    .unwrap_or(Expected::Unchecked)
}

fn archive_stem(archive: &Path) -> String {
    let file = archive.file_name().unwrap_or_default().to_string_lossy();
    let stem = [".tar.gz", ".tgz", ".tar"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .unwrap_or(&file);
    stem.to_string()
}

/// Where a command's data comes from, and how to describe it to the user.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub path: PathBuf,
    /// `"MNIST_SAMPLE (~/.fastburn/data/mnist_sample)"`, `"embedded sample"`, ...
    pub description: String,
    /// Set when MNIST_SAMPLE could not be had and the embedded sample stands in: why.
    pub fallback_reason: Option<String>,
}

impl Resolved {
    /// A line to tell the user that the embedded sample stands in for MNIST_SAMPLE, and why.
    pub fn fallback_note(&self) -> Option<String> {
        self.fallback_reason.as_ref().map(|reason| {
            format!(
                "MNIST_SAMPLE is not cached and could not be downloaded ({reason}); running on \
                 the embedded 1,400-image sample"
            )
        })
    }
}

/// Burn's wgpu device (with autodiff), started once per process (Burn's runtime starts once) and
/// through Burn's `init`, which answers an error rather than panicking at the first tensor. On
/// Linux it is pinned to Vulkan, the API Linux GPUs (and Mesa's lavapipe) compute on, so a
/// machine without a Vulkan driver gets wgpu's own "no adapter" words instead of a start on
/// wgpu's OpenGL fallback; elsewhere wgpu picks (Metal, DirectX 12, Vulkan).
#[cfg(feature = "wgpu")]
fn wgpu_device() -> std::result::Result<burn::prelude::Device, String> {
    use burn::tensor::wgpu::WgpuBackend;
    static DEVICE: std::sync::OnceLock<std::result::Result<burn::prelude::Device, String>> =
        std::sync::OnceLock::new();
    let api = if cfg!(target_os = "linux") {
        WgpuBackend::Vulkan
    } else {
        WgpuBackend::Auto
    };
    DEVICE
        .get_or_init(|| {
            burn::prelude::Device::wgpu_options()
                .graphics_api(api)
                .init()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map(burn::prelude::Device::autodiff)
}

/// `device` with autodiff, once it has run one small op: a GPU backend without a device (no
/// adapter, no driver) panics at its first op, and that panic becomes its message here, without
/// the panic's own report.
#[cfg(feature = "cuda")]
fn probe(device: burn::prelude::Device) -> std::result::Result<burn::prelude::Device, String> {
    use burn::prelude::*;
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::<1>::ones([1], &device).sum().into_scalar::<f32>()
    }));
    std::panic::set_hook(quiet);
    match ran {
        Ok(_) => Ok(device.autodiff()),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend failed to start".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_stems() {
        assert_eq!(
            archive_stem(Path::new("/x/mnist_sample.tgz")),
            "mnist_sample"
        );
        assert_eq!(archive_stem(Path::new("a.tar.gz")), "a");
    }
}
