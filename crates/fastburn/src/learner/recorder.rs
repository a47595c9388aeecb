//! fastai's `Recorder`: what happened during training, kept for plots and for reading back.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::base::{FitState, Learner};
use super::callback::{Callback, Control, EpochValues};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::show::{Panel, Series, save_plot};

/// Losses per batch and results per epoch of the last `fit` (fastai resets it at each fit), and
/// the smoothed training loss the table shows (fastai's `AvgSmoothLoss`, kept here as fastai's
/// recorder keeps it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Recorder {
    pub metric_names: Vec<String>,
    /// One row per epoch: fastai's `learn.recorder.values`.
    pub values: Vec<EpochValues>,
    /// Smoothed training loss after each batch: fastai's `learn.recorder.losses`.
    pub losses: Vec<f32>,
    /// Learning rate of each training batch (the last parameter group's): `learn.recorder.lrs`.
    pub lrs: Vec<f64>,
    /// Momentum of each training batch: fastai's `learn.recorder.moms`.
    pub moms: Vec<f64>,
    smooth: SmoothLoss,
}

/// fastai's `AvgSmoothLoss`: an exponential moving average of the loss, debiased.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmoothLoss {
    avg: f64,
    count: i32,
}

impl SmoothLoss {
    const BETA: f64 = 0.98;

    pub fn add(&mut self, loss: f32) -> f32 {
        self.count += 1;
        self.avg = Self::BETA * self.avg + (1.0 - Self::BETA) * loss as f64;
        (self.avg / (1.0 - Self::BETA.powi(self.count))) as f32
    }
}

impl<M: Model> Callback<M> for Recorder {
    // fastai's Recorder order: after the schedulers have set this batch's hyper-parameters.
    fn order(&self) -> i32 {
        50
    }

    fn before_fit(&mut self, learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        *self = Recorder {
            metric_names: learn.metric_names().clone(),
            ..Recorder::default()
        };
        Ok(Control::Continue)
    }

    fn after_batch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if fit.training {
            fit.smooth_loss = self.smooth.add(fit.loss);
            self.losses.push(fit.smooth_loss);
            if let Some(h) = learn.opt.hypers.last() {
                self.lrs.push(h.lr);
                self.moms.push(h.mom);
            }
        }
        Ok(Control::Continue)
    }

    fn after_epoch(&mut self, _learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if let Some(v) = &fit.epoch_values {
            self.values.push(v.clone());
        }
        Ok(Control::Continue)
    }

    fn checkpoint_state(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    fn restore_state(&mut self, state: serde_json::Value) -> serde_json::Result<()> {
        *self = serde_json::from_value(state)?;
        Ok(())
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
        let values = self.metric(name).ok_or_else(|| Error::UnknownValue {
            name: name.into(),
            known: self.metric_names.clone(),
        })?;
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
