//! A saved model ready to answer: loaded without autodiff, in eval mode, with what its file says
//! about its input. `fastburn serve` (behind HTTP) and the exported web page (in WebAssembly)
//! answer with this one type, so the two cannot drift apart.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use serde_json::{Value, json};

use super::{AnyModel, ModelInfo, device_of, load_model, load_model_bytes, predict_pixels};
use crate::Result;
use crate::data::{DecodeError, ItemTfms, decode_input};

/// The size of image a model takes: `channels x height x width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct InputSize {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// A model ready for inference, with what its file says about it.
///
/// ```no_run
/// use fastburn::data::MAX_PIXELS;
/// use fastburn::models::{Predictor, prediction_json};
/// let model = Predictor::load(std::path::Path::new("mnist.fbm"))?;
/// let probs = model.predict_image(&std::fs::read("seven.png")?, MAX_PIXELS)?;
/// println!("{}", prediction_json(model.classes(), &probs)); // {"class":"7",...}
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Predictor {
    model: AnyModel,
    /// Where the forward passes run (without autodiff).
    device: Device,
    pub info: ModelInfo,
    /// Number of parameters, as Burn counts them (for `GET /model`).
    pub params: usize,
}

impl Predictor {
    /// Load a model file for inference: on the CPU backend without autodiff (inference never
    /// needs gradients, and the autodiff graph would cost memory per request), in eval mode
    /// (`valid()`: BatchNorm on its running statistics).
    pub fn load(path: &Path) -> Result<Predictor> {
        Predictor::load_on(path, &Device::flex())
    }

    /// [`load`](Self::load) onto `device` (a GPU, say; without its autodiff if it has one).
    pub fn load_on(path: &Path, device: &Device) -> Result<Predictor> {
        let (model, info) = load_model(path, &device.clone().inner())?;
        Ok(Predictor::new(model, info))
    }

    /// [`load`](Self::load) from a model file's bytes (a page fetched them); `name` is what
    /// errors call the file.
    pub fn from_bytes(bytes: &[u8], name: &Path) -> Result<Predictor> {
        let (model, info) = load_model_bytes(bytes, name, &Device::flex())?;
        Ok(Predictor::new(model, info))
    }

    /// Answer with an already built model (e.g. one just trained) on the device it is on; it is
    /// put in eval mode here.
    pub fn new(model: AnyModel, info: ModelInfo) -> Predictor {
        let model = model.valid();
        let params = model.num_params();
        let device = device_of(&model);
        Predictor {
            model,
            device,
            info,
            params,
        }
    }

    /// The image size the model takes: its file's channels and size (28x28 grey for files
    /// from before sizes were stored, and for the chapter's linear models).
    pub fn input_size(&self) -> InputSize {
        let t = &self.info.item_tfms;
        let (height, width) = t.size.unwrap_or((28, 28));
        InputSize {
            channels: t.channels,
            height,
            width,
        }
    }

    /// How an image file becomes an input: the file's item transforms, at
    /// [`input_size`](Self::input_size).
    pub fn item_tfms(&self) -> ItemTfms {
        let size = self.input_size();
        ItemTfms {
            size: Some((size.height, size.width)),
            ..self.info.item_tfms.clone()
        }
    }

    /// Class probabilities for a batch of images (`channels * height * width` planar bytes each,
    /// 0..=255, as [`decode_input`] gives them) in one forward pass, preprocessed as the model
    /// was trained: pixels / 255, then the file's normalisation if it has one. One row per
    /// image, one column per class.
    pub fn predict_batch(&self, images: &[Vec<u8>]) -> Vec<Vec<f32>> {
        if images.is_empty() {
            return Vec::new();
        }
        let InputSize {
            channels,
            height,
            width,
        } = self.input_size();
        let pixels: Vec<u8> = images.concat();
        let shape = [images.len(), channels, height, width];
        predict_pixels(
            &self.model,
            self.info.norm.as_ref(),
            &pixels,
            shape,
            &self.device,
        )
    }

    /// Class probabilities for one image file's bytes (PNG, JPEG, ...), decoded under
    /// `max_pixels` and prepared by [`item_tfms`](Self::item_tfms).
    pub fn predict_image(
        &self,
        bytes: &[u8],
        max_pixels: u64,
    ) -> std::result::Result<Vec<f32>, DecodeError> {
        let pixels = decode_input(bytes, max_pixels, &self.item_tfms())?;
        Ok(self.predict_batch(&[pixels]).swap_remove(0))
    }

    /// What the model is, as `GET /model` answers it: `{"architecture", "classes", "input":
    /// {"channels", "height", "width"}, "normalization": {"mean", "std"} or null,
    /// "parameters"}`.
    pub fn describe(&self) -> Value {
        let norm = self
            .info
            .norm
            .as_ref()
            .map(|n| json!({ "mean": n.mean, "std": n.std }));
        json!({
            "architecture": self.arch(),
            "classes": self.classes(),
            "input": self.input_size(),
            "normalization": norm,
            "parameters": self.params,
        })
    }

    /// The class names, in the model's label order (`["3", "7"]`, `["0", ..., "9"]`).
    pub fn classes(&self) -> &[String] {
        &self.info.vocab
    }

    /// The architecture's name as `fastburn train --model` spells it.
    pub fn arch(&self) -> &'static str {
        self.info.arch.name()
    }
}
