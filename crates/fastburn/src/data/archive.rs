//! Extracting a `.tgz` safely: into a temporary folder first, renamed into place only when every
//! entry came out whole, and refusing entries that would land outside the destination.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::{Error, IoContext, Result};

/// Extract the gzipped tar `archive` into `parent/<name>` and return that folder.
///
/// An archive holding one top-level folder (as fastai's do) has that folder's content moved to
/// `parent/<name>`; otherwise its whole content goes there. If `parent/<name>` already exists it
/// is returned untouched. Entries with absolute paths, `..`, or links pointing outside the archive
/// are refused, as are truncated or corrupt archives; in every error case nothing is left behind.
///
/// ```no_run
/// let dir = fastburn::data::extract_tgz(
///     std::path::Path::new("mnist_sample.tgz"),
///     std::path::Path::new("/tmp/data"),
///     "mnist_sample",
/// )?;
/// assert!(dir.join("labels.csv").exists());
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn extract_tgz(archive: &Path, parent: &Path, name: &str) -> Result<PathBuf> {
    let file = std::fs::File::open(archive).at(archive)?;
    extract_tgz_from(file, archive, parent, name)
}

/// [`extract_tgz`] from any reader; `label` names the archive in errors.
pub fn extract_tgz_from(
    reader: impl Read,
    label: &Path,
    parent: &Path,
    name: &str,
) -> Result<PathBuf> {
    let dest = parent.join(name);
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::create_dir_all(parent).at(parent)?;
    // One extraction at a time per destination; whoever waited finds it done.
    let _lock = crate::fsutil::lock_exclusive(&dest)?;
    if dest.is_dir() {
        return Ok(dest);
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}-extracting-"))
        .tempdir_in(parent)
        .at(parent)?;
    let bad = |reason: String| Error::Archive {
        path: label.to_path_buf(),
        reason,
    };

    let mut tar = tar::Archive::new(GzDecoder::new(reader));
    let entries = tar.entries().map_err(|e| bad(e.to_string()))?;
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(truncation_hint(e)))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        check_relative(&path).map_err(|why| bad(format!("entry {}: {why}", path.display())))?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| bad(e.to_string()))?
                .unwrap_or_default()
                .into_owned();
            // A symlink resolves from its own folder, a hard link from the archive's root.
            let base = if kind.is_symlink() {
                path.parent().unwrap_or(Path::new("")).to_path_buf()
            } else {
                PathBuf::new()
            };
            check_relative(&base.join(&target)).map_err(|why| {
                bad(format!(
                    "link {} -> {}: {why}",
                    path.display(),
                    target.display()
                ))
            })?;
        } else if !(kind.is_file() || kind.is_dir() || kind.is_pax_global_extensions()) {
            return Err(bad(format!(
                "entry {}: unsupported entry type {kind:?}",
                path.display()
            )));
        }
        let unpacked = entry
            .unpack_in(tmp.path())
            .map_err(|e| bad(format!("entry {}: {}", path.display(), truncation_hint(e))))?;
        if !unpacked {
            return Err(bad(format!(
                "entry {} escapes the destination",
                path.display()
            )));
        }
        count += 1;
    }
    if count == 0 {
        return Err(bad("archive is empty".into()));
    }

    let content = single_top_folder(tmp.path())?.unwrap_or_else(|| tmp.path().to_path_buf());
    match std::fs::rename(&content, &dest) {
        Ok(()) => Ok(dest),
        // Another process extracted the same archive meanwhile: theirs is as good as ours.
        Err(_) if dest.is_dir() => Ok(dest),
        Err(e) => Err(e).at(&dest),
    }
}

/// The path must stay inside the destination: relative, and never climbing above its start.
fn check_relative(path: &Path) -> std::result::Result<(), &'static str> {
    let mut depth = 0i64;
    for c in path.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err("`..` escapes the destination");
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute path escapes the destination");
            }
        }
    }
    Ok(())
}

/// The one folder at the top of an extracted archive, if that is all there is.
fn single_top_folder(dir: &Path) -> Result<Option<PathBuf>> {
    let mut top = Vec::new();
    for e in std::fs::read_dir(dir).at(dir)? {
        top.push(e.at(dir)?.path());
        if top.len() > 1 {
            return Ok(None);
        }
    }
    Ok(top.pop().filter(|p| p.is_dir()))
}

fn truncation_hint(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "archive is truncated".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::check_relative;
    use std::path::Path;

    #[test]
    fn paths_that_escape_are_refused() {
        assert!(check_relative(Path::new("a/b/c.png")).is_ok());
        assert!(check_relative(Path::new("./a/../b")).is_ok());
        assert!(check_relative(Path::new("a/../../etc/passwd")).is_err());
        assert!(check_relative(Path::new("/etc/passwd")).is_err());
        assert!(check_relative(Path::new("..")).is_err());
    }
}
