//! fastai's `callback/tracker.py`: callbacks that watch a value each epoch (the validation loss,
//! a metric) and act on it — save the best model, stop early, lower the learning rate — and the
//! guard that stops a diverging run.

use std::path::PathBuf;

use super::base::{FitState, Learner};
use super::callback::{Callback, Control};
use crate::error::{Error, Result};
use crate::models::Model;

/// The best value of a monitored quantity so far, and how many epochs since it improved
/// (fastai's `TrackerCallback`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tracker {
    /// `valid_loss`, `train_loss` or a metric's name.
    pub monitor: String,
    /// True when smaller is better: losses and error rates (fastai's default `comp`).
    pub lower_is_better: bool,
    pub min_delta: f32,
    pub best: Option<f32>,
    /// Epochs since the last improvement.
    pub wait: usize,
}

impl Tracker {
    pub fn new(monitor: &str) -> Self {
        Self {
            monitor: monitor.to_string(),
            lower_is_better: monitor.contains("loss") || monitor.contains("error"),
            min_delta: 0.0,
            best: None,
            wait: 0,
        }
    }

    /// Read this epoch's value; true when it is the best so far.
    fn update<M: Model>(&mut self, learn: &Learner<M>, fit: &FitState) -> Result<bool> {
        let Some(v) = &fit.epoch_values else {
            return Ok(false);
        };
        let names = learn.metric_names();
        let value = v.get(&self.monitor, &names).ok_or_else(|| {
            let mut known = vec!["train_loss".to_string(), "valid_loss".to_string()];
            known.extend(names.iter().cloned());
            Error::UnknownValue {
                name: self.monitor.clone(),
                known,
            }
        })?;
        let better = match self.best {
            None => value.is_finite(),
            Some(best) if self.lower_is_better => value < best - self.min_delta,
            Some(best) => value > best + self.min_delta,
        };
        if better {
            self.best = Some(value);
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        Ok(better)
    }
}

macro_rules! tracker_state {
    () => {
        fn checkpoint_state(&self) -> Option<serde_json::Value> {
            serde_json::to_value(&self.tracker).ok()
        }
        fn restore_state(&mut self, state: serde_json::Value) -> serde_json::Result<()> {
            self.tracker = serde_json::from_value(state)?;
            Ok(())
        }
    };
}

/// fastai's `SaveModelCallback`: save the model to `path` whenever the monitored value is the
/// best so far, and load those best weights back at the end of training.
pub struct SaveModelCallback {
    pub tracker: Tracker,
    pub path: PathBuf,
    /// Load the best weights at the end (fastai does, unless `every_epoch`).
    pub load_best_at_end: bool,
}

impl SaveModelCallback {
    pub fn new(monitor: &str, path: impl Into<PathBuf>) -> Self {
        Self {
            tracker: Tracker::new(monitor),
            path: path.into(),
            load_best_at_end: true,
        }
    }
}

impl<M: Model> Callback<M> for SaveModelCallback {
    fn order(&self) -> i32 {
        60
    }
    fn before_fit(&mut self, _learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        self.tracker = Tracker {
            best: None,
            wait: 0,
            ..self.tracker.clone()
        };
        Ok(Control::Continue)
    }
    fn after_epoch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if self.tracker.update(learn, fit)? {
            learn.save(&self.path)?;
        }
        Ok(Control::Continue)
    }
    fn after_fit(&mut self, learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        if self.load_best_at_end && self.tracker.best.is_some() && self.path.exists() {
            learn.load(&self.path)?;
        }
        Ok(Control::Continue)
    }
    tracker_state!();
}

/// fastai's `EarlyStoppingCallback`: stop when the monitored value has not improved for
/// `patience` epochs.
pub struct EarlyStoppingCallback {
    pub tracker: Tracker,
    pub patience: usize,
}

impl EarlyStoppingCallback {
    pub fn new(monitor: &str, patience: usize) -> Self {
        Self {
            tracker: Tracker::new(monitor),
            patience,
        }
    }
}

impl<M: Model> Callback<M> for EarlyStoppingCallback {
    fn order(&self) -> i32 {
        60
    }
    fn after_epoch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        self.tracker.update(learn, fit)?;
        Ok(if self.tracker.wait >= self.patience {
            Control::CancelFit
        } else {
            Control::Continue
        })
    }
    tracker_state!();
}

/// fastai's `ReduceLROnPlateau`: divide every group's learning rate by `factor` (not below
/// `min_lr`) when the monitored value has not improved for `patience` epochs.
pub struct ReduceLROnPlateau {
    pub tracker: Tracker,
    pub patience: usize,
    pub factor: f64,
    pub min_lr: f64,
}

impl ReduceLROnPlateau {
    pub fn new(monitor: &str, patience: usize, factor: f64) -> Self {
        Self {
            tracker: Tracker::new(monitor),
            patience,
            factor,
            min_lr: 0.0,
        }
    }
}

impl<M: Model> Callback<M> for ReduceLROnPlateau {
    fn order(&self) -> i32 {
        60
    }
    fn after_epoch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        self.tracker.update(learn, fit)?;
        if self.tracker.wait >= self.patience {
            for h in &mut learn.opt.hypers {
                h.lr = (h.lr / self.factor).max(self.min_lr);
            }
            self.tracker.wait = 0;
        }
        Ok(Control::Continue)
    }
    tracker_state!();
}

/// fastai's `TerminateOnNaNCallback`: a loss that is not a finite number stops training with an
/// error naming the epoch and batch and a smaller learning rate to try, before the bad step.
#[derive(Debug, Default)]
pub struct TerminateOnNaN;

impl<M: Model> Callback<M> for TerminateOnNaN {
    fn order(&self) -> i32 {
        -10
    }
    fn after_loss(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if fit.training && !fit.loss.is_finite() {
            let lr = learn.opt.hypers.iter().map(|h| h.lr).fold(0.0, f64::max);
            return Err(Error::Diverged {
                epoch: fit.epoch,
                batch: fit.iter,
                loss: fit.loss,
                lr,
            });
        }
        Ok(Control::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::Tracker;

    #[test]
    fn losses_lower_metrics_higher() {
        assert!(Tracker::new("valid_loss").lower_is_better);
        assert!(Tracker::new("error_rate").lower_is_better);
        assert!(!Tracker::new("accuracy").lower_is_better);
    }
}
