//! fastai's `Recorder`: what happened during training, kept for plots and for reading back.

use std::path::Path;

use super::callback::{Callback, Control, EpochValues, FitState};
use crate::error::{Error, Result};
use crate::show::{Panel, Series, save_plot};

/// Losses per batch and results per epoch, across every `fit` of a learner.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub metric_names: Vec<String>,
    /// One row per epoch: fastai's `learn.recorder.values`.
    pub values: Vec<EpochValues>,
    /// Smoothed training loss after each batch: fastai's `learn.recorder.losses`.
    pub losses: Vec<f32>,
    /// Learning rate of each training batch: fastai's `learn.recorder.lrs`.
    pub lrs: Vec<f64>,
    /// Momentum of each training batch, when scheduled: fastai's `learn.recorder.moms`.
    pub moms: Vec<f64>,
}

impl Callback for Recorder {
    fn before_fit(&mut self, s: &FitState) -> Control {
        self.metric_names = s.metric_names.clone();
        Control::Continue
    }

    fn after_batch(&mut self, s: &FitState) -> Control {
        if s.training {
            self.losses.push(s.smooth_loss);
            self.lrs.push(s.lr);
            if let Some(m) = s.mom {
                self.moms.push(m);
            }
        }
        Control::Continue
    }

    fn after_epoch(&mut self, s: &FitState) -> Control {
        if let Some(v) = &s.epoch_values {
            self.values.push(v.clone());
        }
        Control::Continue
    }
}

impl Recorder {
    /// The named metric's value after each epoch (the chapter's `L(learn.recorder.values).itemgot(2)`).
    pub fn metric(&self, name: &str) -> Option<Vec<f32>> {
        let i = self.metric_names.iter().position(|n| n == name)?;
        Some(self.values.iter().map(|v| v.metrics[i]).collect())
    }

    /// Training loss per batch and validation loss per epoch (`learn.recorder.plot_loss()`).
    pub fn plot_loss(&self, path: &Path) -> Result<()> {
        let per_epoch = self.losses.len() as f64 / self.values.len().max(1) as f64;
        let train = self
            .losses
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as f64, l as f64))
            .collect();
        let valid = self
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1) as f64 * per_epoch - 1.0, v.valid_loss as f64))
            .collect();
        let panel = Panel {
            title: "loss".into(),
            x_label: "batch".into(),
            y_label: "loss".into(),
            series: vec![Series::line("train", train), Series::line("valid", valid)],
            log_x: false,
        };
        save_plot(&[panel], 1, path)
    }

    /// Learning rate (and momentum, when scheduled) per batch (`learn.recorder.plot_sched()`).
    pub fn plot_sched(&self, path: &Path) -> Result<()> {
        let series = |v: &[f64]| v.iter().enumerate().map(|(i, &x)| (i as f64, x)).collect();
        let mut panels = vec![Panel {
            title: "learning rate".into(),
            x_label: "batch".into(),
            y_label: "lr".into(),
            series: vec![Series::line("", series(&self.lrs))],
            log_x: false,
        }];
        if !self.moms.is_empty() {
            panels.push(Panel {
                title: "momentum".into(),
                x_label: "batch".into(),
                y_label: "mom".into(),
                series: vec![Series::line("", series(&self.moms))],
                log_x: false,
            });
        }
        let cols = panels.len();
        save_plot(&panels, cols, path)
    }

    /// One metric over epochs (the chapter's `plt.plot(L(learn.recorder.values).itemgot(2))`).
    pub fn plot_metric(&self, name: &str, path: &Path) -> Result<()> {
        let values = self
            .metric(name)
            .ok_or_else(|| Error::Invalid(format!("no metric named {name:?} was recorded")))?;
        let points = values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v as f64))
            .collect();
        let panel = Panel {
            title: name.into(),
            x_label: "epoch".into(),
            y_label: name.into(),
            series: vec![Series::line("", points)],
            log_x: false,
        };
        save_plot(&[panel], 1, path)
    }
}
