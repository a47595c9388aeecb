//! fastburn's one file format, for model files and checkpoints alike:
//!
//! ```text
//! fastburn/2\n                      magic and format version
//! u64 little-endian                 length of the header
//! header                            JSON (serde): {"kind": "model", "sections": [["model", N], ...], "meta": {...}}
//! section bytes                     one after the other, as the header lists them
//! ```
//!
//! Sections are Burn's records (burnpack): the model's parameters, and in a checkpoint the
//! optimizer's buffers. Files are written atomically (a temporary file renamed into place), so a
//! crash never leaves half of one.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, FileKind, IoContext, Result};
use crate::fsutil::write_atomic;

const MAGIC: &[u8] = b"fastburn/2\n";

/// How the first formats began (`fastburn-model 1`, `fastburn-checkpoint 1`): recognised only to
/// say so.
const OLD_MAGIC: &[u8] = b"fastburn-";

/// More than any header needs (thousands of class names, a checkpoint's callback states).
const MAX_HEADER: u64 = 64 << 20;

#[derive(Serialize, serde::Deserialize)]
struct Header<M> {
    kind: String,
    sections: Vec<(String, u64)>,
    meta: M,
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Model => "model",
        FileKind::Checkpoint => "checkpoint",
        FileKind::PyTorch => "pytorch",
    }
}

fn bad(path: &Path, kind: FileKind, reason: impl Into<String>) -> Error {
    Error::BadFile {
        path: path.to_path_buf(),
        kind,
        reason: reason.into(),
    }
}

/// Write a file of `kind` with `meta` in its header and `sections` after it.
pub(crate) fn write<M: Serialize>(
    path: &Path,
    kind: FileKind,
    meta: &M,
    sections: &[(&str, &[u8])],
) -> Result<()> {
    let header = Header {
        kind: kind_name(kind).to_string(),
        sections: sections
            .iter()
            .map(|(name, bytes)| (name.to_string(), bytes.len() as u64))
            .collect(),
        meta,
    };
    let header = serde_json::to_vec(&header)
        .map_err(|e| bad(path, kind, format!("cannot write its header: {e}")))?;
    write_atomic(path, |w| {
        use std::io::Write;
        w.write_all(MAGIC).at(path)?;
        w.write_all(&(header.len() as u64).to_le_bytes()).at(path)?;
        w.write_all(&header).at(path)?;
        for (_, bytes) in sections {
            w.write_all(bytes).at(path)?;
        }
        Ok(())
    })
}

/// The header of a file of `kind` and where its sections start, from the start of the file.
fn read_header<M: DeserializeOwned>(
    path: &Path,
    kind: FileKind,
    r: &mut impl Read,
) -> Result<(Header<M>, u64)> {
    let mut magic = vec![0u8; MAGIC.len()];
    let not_one = || {
        bad(
            path,
            kind,
            format!("not a fastburn {} file", kind_name(kind)),
        )
    };
    r.read_exact(&mut magic).map_err(|_| not_one())?;
    if magic != MAGIC {
        // Another version of this format (`fastburn/3\n`, ...): a newer fastburn wrote it.
        if let Some(version) = magic
            .strip_prefix(b"fastburn/")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim_end().parse::<u32>().ok())
        {
            return Err(bad(
                path,
                kind,
                format!(
                    "written in file format {version}; this fastburn reads format {}",
                    std::str::from_utf8(&MAGIC[9..]).unwrap_or("?").trim_end()
                ),
            ));
        }
        if magic.starts_with(OLD_MAGIC) {
            return Err(bad(
                path,
                kind,
                "written by an earlier fastburn, in a format this one no longer reads",
            ));
        }
        return Err(not_one());
    }
    let mut len = [0u8; 8];
    r.read_exact(&mut len)
        .map_err(|_| bad(path, kind, "truncated in its header"))?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEADER {
        return Err(bad(path, kind, format!("its header claims {len} bytes")));
    }
    let mut header = Vec::new();
    r.take(len).read_to_end(&mut header).at(path)?;
    if header.len() as u64 != len {
        return Err(bad(path, kind, "truncated in its header"));
    }
    let header: Header<M> = serde_json::from_slice(&header)
        .map_err(|e| bad(path, kind, format!("its header is not readable ({e})")))?;
    if header.kind != kind_name(kind) {
        return Err(bad(
            path,
            kind,
            format!(
                "it is a fastburn {} file, not a {}",
                header.kind,
                kind_name(kind)
            ),
        ));
    }
    Ok((header, (MAGIC.len() + 8) as u64 + len))
}

/// Only the header's `meta` (without reading the sections: a model's weights are megabytes).
pub(crate) fn read_meta<M: DeserializeOwned>(path: &Path, kind: FileKind) -> Result<M> {
    let file = std::fs::File::open(path).at(path)?;
    let (header, _) = read_header(path, kind, &mut std::io::BufReader::new(file))?;
    Ok(header.meta)
}

/// The header's `meta` and every section by name.
pub(crate) fn read<M: DeserializeOwned>(
    path: &Path,
    kind: FileKind,
) -> Result<(M, BTreeMap<String, Vec<u8>>)> {
    let bytes = std::fs::read(path).at(path)?;
    read_bytes(path, kind, &bytes)
}

/// [`read`] of a file's bytes already in memory (`path` names it in errors).
pub(crate) fn read_bytes<M: DeserializeOwned>(
    path: &Path,
    kind: FileKind,
    bytes: &[u8],
) -> Result<(M, BTreeMap<String, Vec<u8>>)> {
    let (header, start) = read_header::<M>(path, kind, &mut &bytes[..])?;
    let mut at = start as usize;
    let mut sections = BTreeMap::new();
    for (name, len) in header.sections {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| at.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad(path, kind, format!("truncated in its {name} section")))?;
        sections.insert(name, bytes[at..end].to_vec());
        at = end;
    }
    if at != bytes.len() {
        return Err(bad(path, kind, "it has bytes after its last section"));
    }
    Ok((header.meta, sections))
}

/// The named section, or an error naming it.
pub(crate) fn take(
    sections: &mut BTreeMap<String, Vec<u8>>,
    name: &str,
    path: &Path,
    kind: FileKind,
) -> Result<Vec<u8>> {
    sections
        .remove(name)
        .ok_or_else(|| bad(path, kind, format!("it has no {name} section")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_every_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let meta = vec!["a,b".to_string(), "c\nd".to_string()];
        write(
            &path,
            FileKind::Model,
            &meta,
            &[("model", b"weights"), ("x", b"")],
        )
        .unwrap();
        let (back, mut sections) = read::<Vec<String>>(&path, FileKind::Model).unwrap();
        assert_eq!(back, meta);
        assert_eq!(
            take(&mut sections, "model", &path, FileKind::Model).unwrap(),
            b"weights"
        );
        assert_eq!(
            read_meta::<Vec<String>>(&path, FileKind::Model).unwrap(),
            meta
        );
        // A model file is not a checkpoint.
        let e = read::<Vec<String>>(&path, FileKind::Checkpoint).unwrap_err();
        assert!(e.to_string().contains("not a checkpoint"), "{e}");
        let bytes = std::fs::read(&path).unwrap();
        for cut in 0..bytes.len() {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(
                read::<Vec<String>>(&path, FileKind::Model).is_err(),
                "cut at {cut}"
            );
        }
        std::fs::write(&path, b"fastburn-model 1\narch=linear\n\n").unwrap();
        let e = read::<Vec<String>>(&path, FileKind::Model).unwrap_err();
        assert!(e.to_string().contains("earlier fastburn"), "{e}");
    }
}
