//! A model file: fastburn's container (`crate::container`) whose header says what the model is
//! (architecture, classes, how an image becomes its input) and whose one section holds the
//! parameters as Burn's record. The header lets `predict` and `serve` rebuild the right
//! architecture and prepare images as validation did, from the file alone.

use std::path::Path;

use burn::prelude::*;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use super::{AnyModel, Arch, Model};
use crate::container;
use crate::data::{AugTransforms, ItemTfms, Normalize};
use crate::error::{Error, FileKind, Result};

/// What a model file says about its model besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub arch: Arch,
    /// Class names, indexed by the model's label (for one output: `[negative, positive]`).
    pub vocab: Vec<String>,
    /// The normalisation the inputs were trained with, if any.
    pub norm: Option<Normalize>,
    /// Outputs of the model (1 for the chapter's 3-vs-7 models, else one per class).
    pub n_out: usize,
    /// How an image becomes an input (channels, size, resize method), as validation did it.
    pub item_tfms: ItemTfms,
    /// The training augmentation, if any (for test-time augmentation, `predict --tta`).
    #[serde(default)]
    pub aug: Option<AugTransforms>,
}

impl ModelInfo {
    /// What is wrong with a header read from a file, if anything.
    fn problem(&self) -> Option<String> {
        let t = &self.item_tfms;
        if !matches!(t.channels, 1 | 3) {
            return Some(format!(
                "its inputs have {} channels (1 or 3 expected)",
                t.channels
            ));
        }
        if let Some((h, w)) = t.size
            && !((1..=65_536).contains(&h) && (1..=65_536).contains(&w))
        {
            return Some(format!("its input size {h}x{w} is out of range"));
        }
        if !(1..=1_000_000).contains(&self.n_out) {
            return Some(format!("it claims {} outputs", self.n_out));
        }
        if let Some(norm) = &self.norm
            && !norm.fits(t.channels)
        {
            return Some("its normalisation does not fit its channels".into());
        }
        None
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadFile {
        path: path.to_path_buf(),
        kind: FileKind::Model,
        reason: reason.into(),
    }
}

/// The weights as bytes (Burn's burnpack), as [`Model::record`] gives them.
pub(crate) fn record_bytes<M: Model>(model: &M) -> std::result::Result<Vec<u8>, String> {
    // BatchNorm's running statistics hold their latest update aside until synced; `valid` syncs
    // them (the clones share them), so the record has the values the next batch would use.
    let _ = model.valid();
    model
        .record()
        .into_bytes()
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}

/// Load weights written by [`record_bytes`] into `model` (of the same architecture); the error
/// says why they do not fit.
pub(crate) fn load_record_bytes<M: Model>(
    model: M,
    weights: Vec<u8>,
) -> std::result::Result<M, String> {
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(weights))
        .map_err(|e| format!("weights are truncated or corrupt: {e}"))?;
    model
        .with_record(record)
        .map_err(|e| format!("weights do not fit the architecture ({e})"))
}

/// Save `model` to `path` atomically (a crash never leaves a half-written model).
pub fn save_model<M: Model>(model: &M, info: &ModelInfo, path: &Path) -> Result<()> {
    let weights = record_bytes(model).map_err(|e| bad(path, format!("cannot record it: {e}")))?;
    container::write(path, FileKind::Model, info, &[("model", &weights)])
}

/// What a model file says it holds (architecture, classes, normalisation), read from its header
/// alone: to check a file fits before loading its weights.
///
/// ```no_run
/// let info = fastburn::models::read_model_info(std::path::Path::new("mnist_resnet18.fbm"))?;
/// assert_eq!(info.vocab.len(), 10);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn read_model_info(path: &Path) -> Result<ModelInfo> {
    let info: ModelInfo = container::read_meta(path, FileKind::Model)?;
    match info.problem() {
        Some(p) => Err(bad(path, p)),
        None => Ok(info),
    }
}

/// The header and the weights' bytes.
fn read_file(path: &Path) -> Result<(ModelInfo, Vec<u8>)> {
    let sections = container::read::<ModelInfo>(path, FileKind::Model)?;
    checked(path, sections)
}

/// The header, checked, and the weights' bytes, from what the container read.
fn checked(
    path: &Path,
    (info, mut sections): (ModelInfo, std::collections::BTreeMap<String, Vec<u8>>),
) -> Result<(ModelInfo, Vec<u8>)> {
    if let Some(p) = info.problem() {
        return Err(bad(path, p));
    }
    let weights = container::take(&mut sections, "model", path, FileKind::Model)?;
    Ok((info, weights))
}

/// Load weights saved by [`save_model`] into `model`, which must have the saved architecture.
pub fn load_into<M: Model>(model: M, path: &Path) -> Result<(M, ModelInfo)> {
    let (info, weights) = read_file(path)?;
    let model = load_record_bytes(model, weights)
        .map_err(|e| bad(path, format!("{e} (the header names {})", info.arch.name())))?;
    Ok((model, info))
}

/// Load a model file, rebuilding the architecture its header names.
///
/// ```no_run
/// let (model, info) = fastburn::models::load_model(std::path::Path::new("model.fbm"), &fastburn::device())?;
/// println!("{} with classes {:?}", info.arch.name(), info.vocab);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn load_model(path: &Path, device: &Device) -> Result<(AnyModel, ModelInfo)> {
    build_loaded(path, read_file(path)?, device)
}

/// [`load_model`] from a model file's bytes already in memory (fetched by a web page, embedded
/// in a program); `name` is what errors call the file.
///
/// ```
/// use burn::prelude::*;
/// use fastburn::data::{ItemTfms, ResizeMethod};
/// use fastburn::models::{Arch, ModelInfo, load_model_bytes, save_model};
///
/// let device = Device::flex();
/// let info = ModelInfo {
///     arch: Arch::SimpleNet,
///     vocab: vec!["3".into(), "7".into()],
///     norm: None,
///     n_out: 1,
///     item_tfms: ItemTfms::resize(1, (28, 28), ResizeMethod::Squish),
///     aug: None,
/// };
/// let path = std::env::temp_dir().join("load_model_bytes_doc.fbm");
/// save_model(&Arch::SimpleNet.build(1, &device), &info, &path)?;
/// let bytes = std::fs::read(&path)?;
/// let (_, read) = load_model_bytes(&bytes, &path, &device)?;
/// assert_eq!(read, info);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_model_bytes(
    bytes: &[u8],
    name: &Path,
    device: &Device,
) -> Result<(AnyModel, ModelInfo)> {
    let sections = container::read_bytes::<ModelInfo>(name, FileKind::Model, bytes)?;
    build_loaded(name, checked(name, sections)?, device)
}

fn build_loaded(
    path: &Path,
    (info, weights): (ModelInfo, Vec<u8>),
    device: &Device,
) -> Result<(AnyModel, ModelInfo)> {
    let model = info
        .arch
        .build_for(info.item_tfms.channels, info.n_out, device);
    let loaded = load_record_bytes(model, weights).map_err(|e| bad(path, e))?;
    Ok((loaded, info))
}
