//! fastai's `CSVLogger`: the epoch table as a CSV file, rewritten atomically after each epoch so
//! that a killed run leaves a whole file.

use std::path::PathBuf;

use super::base::{FitState, Learner};
use super::callback::{Callback, Control};
use crate::error::Result;
use crate::fsutil::write_bytes_atomic;
use crate::models::Model;

/// Writes `epoch,train_loss,valid_loss,<metrics>,time` to `path`, one row per epoch.
pub struct CSVLogger {
    pub path: PathBuf,
    /// Keep the rows of earlier fits (fastai's `append=True`).
    pub append: bool,
    text: String,
}

impl CSVLogger {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            append: false,
            text: String::new(),
        }
    }
}

impl<M: Model> Callback<M> for CSVLogger {
    fn order(&self) -> i32 {
        70
    }

    fn before_fit(&mut self, learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        if !self.append || self.text.is_empty() {
            let names = learn.metric_names();
            let mut header = vec!["epoch", "train_loss", "valid_loss"];
            header.extend(names.iter().map(String::as_str));
            header.push("time");
            self.text = header.join(",") + "\n";
        }
        Ok(Control::Continue)
    }

    fn after_epoch(&mut self, _learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if let Some(v) = &fit.epoch_values {
            let mut row = vec![
                v.epoch.to_string(),
                format!("{:.6}", v.train_loss),
                format!("{:.6}", v.valid_loss),
            ];
            row.extend(v.metrics.iter().map(|m| format!("{m:.6}")));
            row.push(super::progress::format_time(v.seconds));
            self.text.push_str(&(row.join(",") + "\n"));
            write_bytes_atomic(&self.path, self.text.as_bytes())?;
        }
        Ok(Control::Continue)
    }

    fn checkpoint_state(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.text.clone()))
    }

    fn restore_state(&mut self, state: serde_json::Value) -> serde_json::Result<()> {
        let text: String = serde_json::from_value(state)?;
        if !text.starts_with("epoch,") {
            return Err(serde::de::Error::custom("not the CSV log's text"));
        }
        self.text = text;
        Ok(())
    }
}
