//! fastai's `untar_data`: download once, cache, extract, hand back the folder.
//!
//! The cache lives in `$FASTBURN_HOME` (default `~/.fastburn`): archives in `archive/`, extracted
//! folders in `data/`. `FASTBURN_DATA_URL` names a mirror (an `http(s)://` or `file://` base URL
//! holding the same archive names) so that nothing needs the internet.

use std::path::{Path, PathBuf};

use super::archive::{extract_tgz, extract_tgz_from};
use super::download::{Expected, download, fetch_text};
use super::urls::DataSet;
use crate::error::{Error, Result};

/// The bytes of `assets/mnist_tiny.tgz`: 1,400 MNIST 3s and 7s in MNIST_SAMPLE's layout, so that
/// the main job and the tests run on a machine with no data and no network.
pub const EMBEDDED_MNIST_TINY: &[u8] = include_bytes!("../../assets/mnist_tiny.tgz");

/// Folder name of the extracted embedded sample (distinct from fastai's own `mnist_tiny`).
const EMBEDDED_FOLDER: &str = "mnist_tiny_embedded";

/// Root of fastburn's cache: `$FASTBURN_HOME`, else `~/.fastburn`.
pub fn fastburn_home() -> PathBuf {
    if let Some(home) = std::env::var_os("FASTBURN_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    std::env::home_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join(".fastburn")
}

/// Where `untar_data` keeps the extracted data set.
pub fn data_path(ds: &DataSet) -> PathBuf {
    fastburn_home().join("data").join(ds.folder)
}

/// Where `untar_data` keeps the downloaded archive.
pub fn archive_path(ds: &DataSet) -> PathBuf {
    fastburn_home().join("archive").join(ds.file_name())
}

/// Where the archive comes from: the mirror in `FASTBURN_DATA_URL`, else fastai's address.
pub fn source_url(ds: &DataSet) -> String {
    match mirror() {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), ds.file_name()),
        None => ds.url.to_string(),
    }
}

fn mirror() -> Option<String> {
    std::env::var("FASTBURN_DATA_URL")
        .ok()
        .filter(|m| !m.is_empty())
}

/// Download (once) and extract (once) a data set; returns its folder, as fastai's `untar_data`.
///
/// Official downloads are checked against fastai's size and MD5. A mirror is not held to them
/// (local copies are rebuilt files with other bytes); when the mirror has a `SHA256SUMS` file the
/// archive is checked against that instead.
///
/// ```no_run
/// use fastburn::data::{URLs, untar_data};
/// let path = untar_data(&URLs::MNIST_SAMPLE)?;
/// assert!(path.join("train").join("3").is_dir());
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn untar_data(ds: &DataSet) -> Result<PathBuf> {
    let dest = data_path(ds);
    if dest.is_dir() {
        return Ok(dest);
    }
    let archive = fetch_archive(ds)?;
    extract_tgz(&archive, dest.parent().unwrap_or(Path::new(".")), ds.folder)
}

/// Download a data set's archive into the cache (if not there yet); returns its path.
pub fn fetch_archive(ds: &DataSet) -> Result<PathBuf> {
    let archive = archive_path(ds);
    if archive.is_file() {
        return Ok(archive);
    }
    let url = source_url(ds);
    let expected = match mirror() {
        Some(base) => mirror_checksum(&base, ds.file_name()),
        None => Expected::SizeMd5 {
            size: ds.size,
            md5: ds.md5.to_string(),
        },
    };
    download(&url, &archive, &expected)?;
    Ok(archive)
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

/// Extract a local archive into the cache (no checksum: it is the user's own file) and return
/// the folder, named after the archive (`mnist_sample.tgz` → `data/mnist_sample`).
pub fn untar_local(archive: &Path) -> Result<PathBuf> {
    if !archive.is_file() {
        return Err(Error::MissingFolder {
            path: archive.to_path_buf(),
            fix: "pass an existing .tgz archive or an extracted folder".into(),
        });
    }
    let name = archive_stem(archive);
    extract_tgz(archive, &fastburn_home().join("data"), &name)
}

fn archive_stem(archive: &Path) -> String {
    let file = archive.file_name().unwrap_or_default().to_string_lossy();
    let stem = [".tar.gz", ".tgz", ".tar"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .unwrap_or(&file);
    stem.to_string()
}

/// The embedded 1,400-image sample, extracted into the cache on first use.
///
/// ```
/// let path = fastburn::data::embedded_sample()?;
/// assert!(path.join("valid").join("7").is_dir());
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn embedded_sample() -> Result<PathBuf> {
    extract_tgz_from(
        EMBEDDED_MNIST_TINY,
        Path::new("<embedded mnist_tiny.tgz>"),
        &fastburn_home().join("data"),
        EMBEDDED_FOLDER,
    )
}

/// Where a command's data comes from, and how to describe it to the user.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub path: PathBuf,
    /// `"MNIST_SAMPLE (~/.fastburn/data/mnist_sample)"`, `"embedded sample"`, ...
    pub description: String,
    /// Set when the requested data set could not be had and the embedded sample stands in.
    pub fallback_reason: Option<String>,
}

impl Resolved {
    /// Say, in one line on standard error, that the embedded sample stands in for the data set.
    pub fn note_fallback(&self) {
        if let Some(reason) = &self.fallback_reason {
            eprintln!(
                "note: MNIST_SAMPLE is not cached and could not be downloaded ({reason}); \
                 running on the embedded 1,400-image sample"
            );
        }
    }
}

/// Resolve `--data` (a folder or a `.tgz`), or else the data set through the cache, falling back
/// to the embedded sample when `allow_fallback` and the data set cannot be downloaded.
pub fn resolve_data(data: Option<&Path>, ds: &DataSet, allow_fallback: bool) -> Result<Resolved> {
    if let Some(p) = data {
        let path = if p.is_file() {
            untar_local(p)?
        } else if p.is_dir() {
            p.to_path_buf()
        } else {
            return Err(Error::MissingFolder {
                path: p.to_path_buf(),
                fix: "--data takes an extracted folder (with train/ and valid/) or a .tgz".into(),
            });
        };
        return Ok(Resolved {
            description: format!("{}", path.display()),
            path,
            fallback_reason: None,
        });
    }
    match untar_data(ds) {
        Ok(path) => Ok(Resolved {
            description: format!("{} ({})", ds.name.to_uppercase(), path.display()),
            path,
            fallback_reason: None,
        }),
        Err(e @ Error::Download { .. }) if allow_fallback => {
            let path = embedded_sample()?;
            Ok(Resolved {
                description: "embedded sample (1,400 images)".into(),
                path,
                fallback_reason: Some(e.to_string()),
            })
        }
        Err(e) => Err(e),
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
