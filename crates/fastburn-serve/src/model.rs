//! The one place the server touches the models API (`load_model`, `AnyModel::forward`,
//! `probabilities`, `ModelInfo`), so that a refactor of `models` changes this file and nothing
//! else under `serve`.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;

use fastburn::Result;
use fastburn::data::{ItemTfms, Normalize};
use fastburn::models::{AnyModel, Model, ModelInfo, load_model, probabilities};

/// The size of image a model takes: `channels x height x width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct InputSize {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// A model ready for inference, with what its file says about it.
#[derive(Debug, Clone)]
pub struct ServedModel {
    model: AnyModel,
    /// Where the forward passes run (without autodiff).
    device: Device,
    pub info: ModelInfo,
    /// Number of parameters, as Burn counts them (for `GET /model`).
    pub params: usize,
}

impl ServedModel {
    /// Load a model file for inference: on the CPU backend without autodiff (serving never needs
    /// gradients, and the autodiff graph would cost memory per request), in eval mode
    /// (`valid()`: BatchNorm on its running statistics).
    pub fn load(path: &Path) -> Result<ServedModel> {
        ServedModel::load_on(path, &Device::flex())
    }

    /// [`load`](Self::load) onto `device` (a GPU, say; without its autodiff if it has one).
    pub fn load_on(path: &Path, device: &Device) -> Result<ServedModel> {
        let device = device.clone().inner();
        let (model, info) = load_model(path, &device)?;
        Ok(ServedModel::new(model, info))
    }

    /// Serve an already built model (e.g. one just trained) on the device it is on; it is put in
    /// eval mode here.
    pub fn new(model: AnyModel, info: ModelInfo) -> ServedModel {
        let model = model.valid();
        let params = model.num_params();
        let device = model
            .devices()
            .into_iter()
            .next()
            .unwrap_or_else(Device::flex);
        ServedModel {
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

    /// How an upload becomes an input: the file's item transforms, at [`input_size`](Self::input_size).
    pub fn item_tfms(&self) -> ItemTfms {
        let size = self.input_size();
        ItemTfms {
            size: Some((size.height, size.width)),
            ..self.info.item_tfms.clone()
        }
    }

    /// Class probabilities for a batch of images (`channels * height * width` planar bytes each,
    /// 0..=255) in one forward pass, preprocessed as the model was trained: pixels / 255, then
    /// the file's normalisation if it has one. One row per image, one column per class.
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
        let x = Normalize::to_inputs(self.info.norm.as_ref(), &pixels, channels, height * width);
        let x = Tensor::<4>::from_data(
            TensorData::new(x, [images.len(), channels, height, width]),
            &self.device,
        );
        probabilities(self.model.forward(x))
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
