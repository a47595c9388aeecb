//! A fastburn model in the browser: the page that `fastburn serve` shows, with the forward pass
//! run here, in WebAssembly, instead of behind `POST /predict`.
//!
//! `fastburn export --model M.fbm --format web DIR` writes this crate, built for
//! `wasm32-unknown-unknown` and bound to JavaScript by wasm-bindgen, beside the page and the
//! model file; the page loads the model's bytes, makes a [`WebModel`] and asks it what
//! `GET /model` and `POST /predict` answer on a server, in the same JSON. Nothing else of
//! fastburn is here: no server, no downloads; the forward pass runs on the page's one thread
//! (rayon is compiled in, through fastburn and Burn, but has no threads to spread over).
//!
//! The same code runs natively, which is how `cargo test` checks it:
//!
//! ```no_run
//! let bytes = std::fs::read("mnist.fbm").unwrap();
//! let model = fastburn_web::WebModel::from_bytes(&bytes).unwrap();
//! let answer = model.predict(&std::fs::read("seven.png").unwrap()).unwrap();
//! println!("{answer}"); // {"class":"7","probability":0.99,"probabilities":{"3":0.01,"7":0.99}}
//! ```

use burn::module::Module;
use burn::prelude::*;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

use fastburn::data::{ItemTfms, MAX_PIXELS, Normalize, decode_input};
use fastburn::models::{
    AnyModel, Model, ModelInfo, load_model_bytes, prediction_json, probabilities,
};

/// A model loaded for inference in the page: in eval mode, on Flex without autodiff.
#[wasm_bindgen]
pub struct WebModel {
    model: AnyModel,
    info: ModelInfo,
    device: Device,
    params: usize,
}

#[wasm_bindgen]
impl WebModel {
    /// The model from a `.fbm` file's bytes; the error says what is wrong with the file.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<WebModel, JsError> {
        WebModel::from_bytes(bytes).map_err(|e| JsError::new(&e.to_string()))
    }

    /// What `GET /model` answers: `{"architecture", "classes", "input": {"channels", "height",
    /// "width"}, "normalization", "parameters"}`, as JSON.
    #[wasm_bindgen(js_name = modelJson)]
    pub fn model_json(&self) -> String {
        let (channels, (height, width)) = self.input();
        let norm = self
            .info
            .norm
            .as_ref()
            .map(|n| json!({ "mean": n.mean, "std": n.std }));
        json!({
            "architecture": self.info.arch.name(),
            "classes": self.info.vocab,
            "input": { "channels": channels, "height": height, "width": width },
            "normalization": norm,
            "parameters": self.params,
        })
        .to_string()
    }

    /// What `POST /predict` answers for one image (PNG, JPEG, ... bytes):
    /// `{"class", "probability", "probabilities": {class: p}}`, as JSON; an image that cannot be
    /// read is an error saying why.
    #[wasm_bindgen(js_name = predictJson)]
    pub fn predict_json(&self, image: &[u8]) -> Result<String, JsError> {
        self.predict(image)
            .map(|v| v.to_string())
            .map_err(|e| JsError::new(&e))
    }
}

impl WebModel {
    /// [`new`](Self::new) for Rust callers, with fastburn's own error.
    pub fn from_bytes(bytes: &[u8]) -> fastburn::Result<WebModel> {
        let device = Device::flex();
        let (model, info) = load_model_bytes(bytes, std::path::Path::new("model.fbm"), &device)?;
        let model = model.valid();
        let params = model.num_params();
        Ok(WebModel {
            model,
            info,
            device,
            params,
        })
    }

    /// The input's channels and (height, width): the file's (28x28 for files from before sizes
    /// were stored, as `serve` reads them).
    fn input(&self) -> (usize, (usize, usize)) {
        let t = &self.info.item_tfms;
        (t.channels, t.size.unwrap_or((28, 28)))
    }

    /// The class probabilities for one image, in the model's class order.
    pub fn probabilities(&self, image: &[u8]) -> Result<Vec<f32>, String> {
        let (channels, (height, width)) = self.input();
        let tfms = ItemTfms {
            size: Some((height, width)),
            ..self.info.item_tfms.clone()
        };
        // The limit `serve` has by default: a small file may claim a huge image.
        let pixels = decode_input(image, MAX_PIXELS, &tfms).map_err(|e| e.to_string())?;
        let x = Normalize::to_inputs(self.info.norm.as_ref(), &pixels, channels, height * width);
        let x = Tensor::<4>::from_data(
            TensorData::new(x, [1, channels, height, width]),
            &self.device,
        );
        Ok(probabilities(self.model.forward(x)).swap_remove(0))
    }

    /// [`predict_json`](Self::predict_json)'s answer as a JSON value.
    pub fn predict(&self, image: &[u8]) -> Result<Value, String> {
        let probs = self.probabilities(image)?;
        Ok(prediction_json(&self.info.vocab, &probs))
    }

    /// What the model file says about itself.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }
}
