//! Writing files so that a crash or an error never leaves a half-written one behind.

use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Write `path` through a temporary file in the same folder, renamed into place only when `fill`
/// succeeds; on error the temporary file is removed and `path` is untouched.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> Result<()>,
{
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).at(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".fastburn-").suffix(".part");
    // Temporary files are private (0600); the finished file should be an ordinary one.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let tmp = builder.tempfile_in(dir).at(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file());
        fill(&mut w)?;
        w.flush().at(path)?;
    }
    tmp.as_file().sync_all().at(path)?;
    tmp.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}

/// [`write_atomic`] for bytes already in memory.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).at(path))
}

/// Hold an exclusive lock for `path` until the returned file is dropped: one process at a time
/// fills a cache entry. The lock file lives in the system's temporary folder, named by a hash of
/// `path`, so the cache holds only finished entries. The operating system drops the lock when its
/// process dies, so a killed process never leaves a lock that blocks others.
pub fn lock_exclusive(path: &Path) -> Result<std::fs::File> {
    use sha2::Digest;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).at(dir)?;
    let canonical = std::fs::canonicalize(dir)
        .at(dir)?
        .join(path.file_name().unwrap_or_default());
    let hash = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let name: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    let locks = std::env::temp_dir().join("fastburn-locks");
    std::fs::create_dir_all(&locks).at(&locks)?;
    let lock_path = locks.join(format!("{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .at(&lock_path)?;
    file.lock().at(&lock_path)?;
    Ok(file)
}
