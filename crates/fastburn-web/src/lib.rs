//! A fastburn model in the browser: the page that `fastburn serve` shows, with the forward pass
//! run here, in WebAssembly, instead of behind `POST /predict`.
//!
//! `fastburn export --model M.fbm --format web DIR` writes this crate, built for
//! `wasm32-unknown-unknown` and bound to JavaScript by wasm-bindgen, beside the page and the
//! model file; the page loads the model's bytes, makes a [`WebModel`] and asks it what
//! `GET /model` and `POST /predict` answer on a server, in the same JSON. Nothing else of
//! fastburn is here: no server, no downloads, no threads; the forward pass runs on the page's one
//! thread (fastburn and Burn without their `parallel`/`rayon` features: no rayon is compiled in).
//!
//! The same code runs natively, which is how `cargo test` checks it:
//!
//! ```no_run
//! let bytes = std::fs::read("mnist.fbm").unwrap();
//! let model = fastburn_web::WebModel::from_bytes(&bytes).unwrap();
//! let answer = model.predict(&std::fs::read("seven.png").unwrap()).unwrap();
//! println!("{answer}"); // {"class":"7","probability":0.99,"probabilities":{"3":0.01,"7":0.99}}
//! ```

use serde_json::Value;
use wasm_bindgen::prelude::*;

use fastburn::data::MAX_PIXELS;
use fastburn::models::{ModelInfo, Predictor, prediction_json};

/// A model loaded for inference in the page: the library's [`Predictor`] (the type `serve`
/// answers with), on Flex without autodiff, in eval mode.
#[wasm_bindgen]
pub struct WebModel(Predictor);

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
        self.0.describe().to_string()
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
        Predictor::from_bytes(bytes, std::path::Path::new("model.fbm")).map(WebModel)
    }

    /// The class probabilities for one image, in the model's class order; `serve`'s default
    /// pixel limit applies (a small file may claim a huge image).
    pub fn probabilities(&self, image: &[u8]) -> Result<Vec<f32>, String> {
        self.0
            .predict_image(image, MAX_PIXELS)
            .map_err(|e| e.to_string())
    }

    /// [`predict_json`](Self::predict_json)'s answer as a JSON value.
    pub fn predict(&self, image: &[u8]) -> Result<Value, String> {
        let probs = self.probabilities(image)?;
        Ok(prediction_json(self.0.classes(), &probs))
    }

    /// What the model file says about itself.
    pub fn info(&self) -> &ModelInfo {
        &self.0.info
    }
}
