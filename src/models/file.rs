//! A model file: a short text header (format version, architecture, classes) followed by the
//! parameters in Burn's record format (burnpack). The header lets `fastburn predict` rebuild the
//! right architecture from the file alone.

use std::path::Path;

use burn::prelude::*;
use burn::store::ModuleRecord;

use super::{AnyModel, Arch, Model};
use crate::data::{ItemTfms, Normalize, ResizeMethod};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_bytes_atomic;

const MAGIC: &str = "fastburn-model 1\n";

/// What a model file says about its model besides the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub arch: Arch,
    /// Class names, indexed by the model's label (for one output: `[negative, positive]`).
    pub vocab: Vec<String>,
    /// The normalisation the inputs were trained with, if any.
    pub norm: Option<Normalize>,
    /// Outputs of the model (1 for the chapter's 3-vs-7 models, else one per class).
    pub n_out: usize,
    /// How an image becomes an input (channels, size, resize method), as validation did it.
    /// Files from before this was stored: 1 channel, 28x28 (the digits they were trained on).
    pub item_tfms: ItemTfms,
}

/// The weights as bytes (Burn's burnpack). An [`AnyModel`] is written as the model inside it, so
/// files do not depend on how the model was held.
pub(crate) fn record_bytes<M: Model>(model: &M) -> Result<Vec<u8>> {
    let err = |e: String| Error::Invalid(format!("cannot serialise model: {e}"));
    // BatchNorm's running statistics hold their latest update aside until synced; `valid` syncs
    // them (the clones share them), so the record has the values the next batch would use.
    let _ = model.valid();
    let any: &dyn std::any::Any = model;
    match any.downcast_ref::<AnyModel>() {
        Some(AnyModel::Linear(m)) => m.clone().into_record().into_bytes(),
        Some(AnyModel::SimpleNet(m)) => m.clone().into_record().into_bytes(),
        Some(AnyModel::ResNet(m)) => m.clone().into_record().into_bytes(),
        Some(AnyModel::SimpleCnn(m)) => m.clone().into_record().into_bytes(),
        None => model.clone().into_record().into_bytes(),
    }
    .map(|b| b.to_vec())
    .map_err(|e| err(e.to_string()))
}

/// Load weights written by [`record_bytes`] into `model` (of the same architecture).
pub(crate) fn load_record_bytes<M: Model>(model: M, weights: Vec<u8>, path: &Path) -> Result<M> {
    let boxed: Box<dyn std::any::Any> = Box::new(model);
    let model = match boxed.downcast::<AnyModel>() {
        Ok(any) => {
            let loaded = match *any {
                AnyModel::Linear(m) => AnyModel::Linear(apply(m, weights, path)?),
                AnyModel::SimpleNet(m) => AnyModel::SimpleNet(apply(m, weights, path)?),
                AnyModel::ResNet(m) => AnyModel::ResNet(apply(m, weights, path)?),
                AnyModel::SimpleCnn(m) => AnyModel::SimpleCnn(apply(m, weights, path)?),
            };
            Box::new(loaded) as Box<dyn std::any::Any>
        }
        Err(other) => match other.downcast::<M>() {
            Ok(m) => return apply(*m, weights, path),
            Err(_) => return Err(bad(path, "internal: model type mismatch")),
        },
    };
    model
        .downcast::<M>()
        .map(|m| *m)
        .map_err(|_| bad(path, "internal: model type mismatch"))
}

/// Save `model` to `path` atomically (a crash never leaves a half-written model).
pub fn save_model<M: Model>(model: &M, info: &ModelInfo, path: &Path) -> Result<()> {
    let weights =
        record_bytes(model).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut header = format!(
        "{MAGIC}arch={}\nvocab={}\nn_out={}\n",
        info.arch.name(),
        info.vocab.join(","),
        info.n_out
    );
    if let Some(norm) = &info.norm {
        header.push_str(&format!("norm={norm}\n"));
    }
    let t = &info.item_tfms;
    header.push_str(&format!("channels={}\n", t.channels));
    if let Some((h, w)) = t.size {
        header.push_str(&format!("size={h}x{w}\nresize={}\n", t.method));
    }
    header.push('\n');
    let mut bytes = header.into_bytes();
    bytes.extend_from_slice(&weights);
    write_bytes_atomic(path, &bytes)
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::ModelFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Split a model file into its header and its weight bytes.
fn read_file(path: &Path) -> Result<(ModelInfo, Vec<u8>)> {
    let mut bytes = std::fs::read(path).at(path)?;
    let (info, weights_at) = parse_header(path, &bytes)?;
    Ok((info, bytes.split_off(weights_at)))
}

/// The header at the start of `bytes`, and where the weights begin.
fn parse_header(path: &Path, bytes: &[u8]) -> Result<(ModelInfo, usize)> {
    let rest = bytes.strip_prefix(MAGIC.as_bytes()).ok_or_else(|| {
        bad(
            path,
            "not a fastburn model file (save one with `fastburn train --save`)",
        )
    })?;
    let end = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or_else(|| bad(path, "header is truncated"))?;
    let header = std::str::from_utf8(&rest[..end]).map_err(|_| bad(path, "header is not text"))?;
    let (mut arch, mut vocab, mut norm, mut n_out) = (None, Vec::new(), None, None);
    let mut item_tfms = ItemTfms {
        size: Some((28, 28)),
        ..ItemTfms::default()
    };
    for line in header.lines() {
        match line.split_once('=') {
            Some(("arch", a)) => {
                arch = Some(
                    Arch::from_name(a)
                        .ok_or_else(|| bad(path, format!("unknown architecture {a:?}")))?,
                )
            }
            Some(("vocab", v)) => vocab = v.split(',').map(str::to_string).collect(),
            Some(("norm", v)) => {
                let parsed = v.parse::<Normalize>();
                norm = Some(parsed.map_err(|e| bad(path, format!("bad norm line {v:?}: {e}")))?);
            }
            Some(("channels", v)) => {
                item_tfms.channels = match v {
                    "1" => 1,
                    "3" => 3,
                    _ => return Err(bad(path, format!("bad channels line {v:?}"))),
                }
            }
            Some(("size", v)) => {
                let parsed = v
                    .split_once('x')
                    .and_then(|(h, w)| Some((h.parse::<usize>().ok()?, w.parse::<usize>().ok()?)))
                    .filter(|&(h, w)| (1..=65_536).contains(&h) && (1..=65_536).contains(&w));
                item_tfms.size =
                    Some(parsed.ok_or_else(|| bad(path, format!("bad size line {v:?}")))?);
            }
            Some(("resize", v)) => {
                item_tfms.method = v
                    .parse::<ResizeMethod>()
                    .map_err(|e| bad(path, format!("bad resize line: {e}")))?;
            }
            Some(("n_out", v)) => {
                let n = v
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| (1..=1_000_000).contains(&n));
                n_out = Some(n.ok_or_else(|| bad(path, format!("bad n_out line {v:?}")))?);
            }
            _ => {}
        }
    }
    let arch = arch.ok_or_else(|| bad(path, "header names no architecture"))?;
    // Files from before `n_out` was stored: the chapter's binary models have one output, the
    // vision models one per class.
    let n_out = n_out.unwrap_or(if arch.is_vision() || vocab.len() > 2 {
        vocab.len()
    } else {
        1
    });
    let info = ModelInfo {
        arch,
        vocab,
        norm,
        n_out,
        item_tfms,
    };
    Ok((info, MAGIC.len() + end + 2))
}

/// What a model file says it holds (architecture, classes, normalisation), read from its header:
/// to check a file fits before loading its weights.
///
/// ```no_run
/// let info = fastburn::models::read_model_info(std::path::Path::new("mnist_resnet18.fbm"))?;
/// assert_eq!(info.vocab.len(), 10);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn read_model_info(path: &Path) -> Result<ModelInfo> {
    use std::io::Read;
    // The header is a few lines; the weights after it are megabytes, not read here.
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_HEADER).read_to_end(&mut head))
        .at(path)?;
    Ok(parse_header(path, &head)?.0)
}

/// More than any header needs (a vocab of thousands of class names).
const MAX_HEADER: u64 = 1 << 20;

/// Load weights saved by [`save_model`] into `model`, which must have the saved architecture.
pub fn load_into<M: Model>(model: M, path: &Path) -> Result<(M, ModelInfo)> {
    let (info, weights) = read_file(path)?;
    let model = load_record_bytes(model, weights, path).map_err(|e| match e {
        Error::ModelFile { path, reason } => Error::ModelFile {
            path,
            reason: format!("{reason} (the header names {})", info.arch.name()),
        },
        e => e,
    })?;
    Ok((model, info))
}

fn apply<M: Module>(model: M, weights: Vec<u8>, path: &Path) -> Result<M> {
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(weights))
        .map_err(|e| bad(path, format!("weights are truncated or corrupt: {e}")))?;
    model
        .try_load_record(record)
        .map_err(|e| bad(path, format!("weights do not fit the architecture ({e})")))
}

/// Load a model file, rebuilding the architecture its header names.
///
/// ```no_run
/// let (model, info) = fastburn::models::load_model(std::path::Path::new("model.fbm"), &fastburn::device())?;
/// println!("{} with classes {:?}", info.arch.name(), info.vocab);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn load_model(path: &Path, device: &Device) -> Result<(AnyModel, ModelInfo)> {
    let (info, weights) = read_file(path)?;
    let model = info
        .arch
        .build_for(info.item_tfms.channels, info.n_out, device);
    let loaded = load_record_bytes(model, weights, path)?;
    Ok((loaded, info))
}
