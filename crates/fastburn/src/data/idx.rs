//! The classic MNIST distribution: IDX files (`train-images-idx3-ubyte.gz`, ...), gzipped or not.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::images::ImageStack;
use crate::error::{Error, IoContext, Result};

/// An unsigned-byte IDX array: its dimensions and its values, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Read an IDX file of unsigned bytes (type code 0x08), gunzipping when it ends in `.gz`.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let file = std::fs::File::open(path).at(path)?;
    let mut bytes = Vec::new();
    let read = if path.extension().is_some_and(|e| e == "gz") {
        GzDecoder::new(file).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    };
    read.map_err(|e| Error::Idx {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse_idx(&bytes).map_err(|reason| Error::Idx {
        path: path.to_path_buf(),
        reason,
    })
}

fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err("bad magic number".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "element type 0x{:02x}, only unsigned bytes (0x08) are supported",
            bytes[2]
        ));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err("header is truncated".into());
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} are too large"))?;
    if bytes.len() - header != n {
        return Err(format!(
            "{} data bytes, dimensions {:?} need {n}",
            bytes.len() - header,
            dims
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// MNIST from its IDX files in `dir`: the training set (`train = true`, 60,000 images) or the test
/// set (10,000), as images and digit labels.
pub fn mnist_idx(dir: &Path, train: bool) -> Result<(ImageStack, Vec<u8>)> {
    let prefix = if train { "train" } else { "t10k" };
    let find = |stem: &str| -> PathBuf {
        let gz = dir.join(format!("{prefix}-{stem}.gz"));
        if gz.exists() {
            gz
        } else {
            dir.join(format!("{prefix}-{stem}"))
        }
    };
    let (img_path, lbl_path) = (find("images-idx3-ubyte"), find("labels-idx1-ubyte"));
    let images = read_idx(&img_path)?;
    let labels = read_idx(&lbl_path)?;
    if images.dims.len() != 3 || labels.dims.len() != 1 || images.dims[0] != labels.dims[0] {
        return Err(Error::Idx {
            path: img_path,
            reason: format!(
                "images {:?} do not match labels {:?}",
                images.dims, labels.dims
            ),
        });
    }
    let stack = ImageStack {
        pixels: images.data,
        height: images.dims[1],
        width: images.dims[2],
        paths: Vec::new(),
    };
    Ok((stack, labels.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_and_rejects_bad_lengths() {
        let mut b = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend([1, 2, 3, 4, 5, 6]);
        let a = parse_idx(&b).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        b.pop();
        assert!(parse_idx(&b).unwrap_err().contains("need 6"));
        assert!(parse_idx(&[0, 0, 0x0d, 1]).unwrap_err().contains("0x0d"));
    }
}
