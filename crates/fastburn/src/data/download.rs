//! Fetching an archive: over HTTP(S) or from a `file://` mirror, with a progress bar, checked
//! against its published size and hash, written to disk only once it is whole and verified.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::error::{DownloadFault, Error, IoContext, Result};
use crate::fsutil::write_atomic;

/// What a downloaded file must match to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// fastai's published byte size and MD5 (official downloads).
    SizeMd5 { size: u64, md5: String },
    /// A SHA-256 from a mirror's `SHA256SUMS` file.
    Sha256(String),
    /// The first hex digits of the SHA-256, as PyTorch publishes weights
    /// (`resnet18-f37072fd.pth`) and its hub checks them.
    Sha256Prefix(String),
    /// Nothing to check against (a mirror without `SHA256SUMS`).
    Unchecked,
}

/// Download `url` (`http://`, `https://` or `file://`) to `dest`, showing a progress bar on a
/// terminal. The file appears at `dest` only after the whole body arrived and matched `expected`;
/// on any failure `dest` is left as it was.
///
/// ```no_run
/// use fastburn::data::{download, Expected};
/// download(
///     "file:///data/mirror/mnist_sample.tgz",
///     std::path::Path::new("/tmp/mnist_sample.tgz"),
///     &Expected::Unchecked,
/// )?;
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn download(url: &str, dest: &Path, expected: &Expected) -> Result<()> {
    let (mut reader, len) = open_url(url)?;
    let bar = progress_bar(len, dest);
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut total = 0u64;
    write_atomic(dest, |w| {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(|e| Error::Download {
                url: url.to_string(),
                fault: DownloadFault::Dropped {
                    after: total,
                    reason: e.to_string(),
                },
            })?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            sha.update(&buf[..n]);
            w.write_all(&buf[..n]).at(dest)?;
            total += n as u64;
            bar.set_position(total);
        }
        if let Some(len) = len
            && total != len
        {
            return Err(Error::Download {
                url: url.to_string(),
                fault: DownloadFault::Short {
                    got: total,
                    expected: len,
                },
            });
        }
        verify(
            dest,
            expected,
            total,
            &hex(&md5.finalize()),
            &hex(&sha.finalize()),
        )
    })
    .inspect_err(|_| bar.abandon())?;
    bar.finish_and_clear();
    Ok(())
}

/// Compare what arrived with what was published.
fn verify(path: &Path, expected: &Expected, size: u64, md5: &str, sha256: &str) -> Result<()> {
    let mismatch = |expected: String, got: String| Error::Checksum {
        path: path.to_path_buf(),
        expected,
        got,
    };
    match expected {
        Expected::SizeMd5 {
            size: want,
            md5: want_md5,
        } => {
            if size != *want {
                return Err(mismatch(format!("{want} bytes"), format!("{size} bytes")));
            }
            if !md5.eq_ignore_ascii_case(want_md5) {
                return Err(mismatch(format!("MD5 {want_md5}"), format!("MD5 {md5}")));
            }
        }
        Expected::Sha256(want) if !sha256.eq_ignore_ascii_case(want) => {
            return Err(mismatch(
                format!("SHA-256 {want}"),
                format!("SHA-256 {sha256}"),
            ));
        }
        Expected::Sha256Prefix(want)
            if want.is_empty()
                || !sha256
                    .get(..want.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(want)) =>
        {
            return Err(mismatch(
                format!("a SHA-256 starting {want}"),
                format!("SHA-256 {sha256}"),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Open a URL for reading; returns the body and its length when known.
fn open_url(url: &str) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    if let Some(path) = file_url_path(url) {
        let file = std::fs::File::open(&path).map_err(|e| Error::Download {
            url: url.to_string(),
            fault: DownloadFault::MirrorFile {
                path: path.clone(),
                reason: e.to_string(),
            },
        })?;
        let len = file.metadata().ok().map(|m| m.len());
        return Ok((Box::new(file), len));
    }
    http_get(url)
}

/// An http(s) URL's body and its length when known.
#[cfg(feature = "http")]
fn http_get(url: &str) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(15)))
        .timeout_recv_body(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| Error::Download {
        url: url.to_string(),
        fault: DownloadFault::Unreachable(e.to_string()),
    })?;
    let body = response.into_body();
    let len = body.content_length();
    Ok((Box::new(body.into_reader()), len))
}

#[cfg(not(feature = "http"))]
fn http_get(url: &str) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    Err(Error::Download {
        url: url.to_string(),
        fault: DownloadFault::Unreachable(
            "this build of fastburn has no HTTP client (its feature `http` is off)".into(),
        ),
    })
}

/// Read a small text file (a mirror's `SHA256SUMS`) from a URL; `None` if it is not there.
pub(crate) fn fetch_text(url: &str) -> Option<String> {
    let (reader, _) = open_url(url).ok()?;
    let mut text = String::new();
    reader.take(1 << 20).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The local path of a `file://` URL.
pub(crate) fn file_url_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("file://").map(PathBuf::from)
}

fn progress_bar(len: Option<u64>, dest: &Path) -> ProgressBar {
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::no_length(),
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    bar.set_message(format!("downloading {name}"));
    bar
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_and_size_are_enforced() {
        let p = Path::new("x.tgz");
        let ok = Expected::SizeMd5 {
            size: 3,
            md5: "900150983cd24fb0d6963f7d28e17f72".into(), // md5("abc")
        };
        let md5 = hex(&Md5::digest(b"abc"));
        assert!(verify(p, &ok, 3, &md5, "").is_ok());
        let err = verify(p, &ok, 4, &md5, "").unwrap_err().to_string();
        assert!(err.contains("4 bytes") && err.contains("x.tgz"), "{err}");
        let bad = Expected::SizeMd5 {
            size: 3,
            md5: "00".repeat(16),
        };
        assert!(matches!(
            verify(p, &bad, 3, &md5, ""),
            Err(Error::Checksum { .. })
        ));
    }

    #[test]
    fn file_urls_map_to_paths() {
        assert_eq!(
            file_url_path("file:///a/b.tgz"),
            Some(PathBuf::from("/a/b.tgz"))
        );
        assert_eq!(file_url_path("https://x/b.tgz"), None);
    }
}
