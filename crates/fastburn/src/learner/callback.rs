//! Callbacks: code that runs at fixed points of training and may change the learner (learning
//! rates, the model) and the fit in progress (the batch, the loss), as fastai's do, without
//! touching the training loop.

use std::any::Any;

use super::base::{FitState, Learner};
use crate::error::Result;
use crate::models::Model;

/// The points of training at which callbacks run, in the order they fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    BeforeFit,
    BeforeEpoch,
    BeforeTrain,
    BeforeBatch,
    /// After the loss is computed, before the backward pass (training) or the next batch.
    AfterLoss,
    /// After the backward pass, before the optimizer's step.
    BeforeStep,
    AfterStep,
    AfterBatch,
    AfterTrain,
    BeforeValidate,
    AfterValidate,
    AfterEpoch,
    AfterFit,
}

/// What a callback tells the training loop (fastai's `Cancel*Exception`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub enum Control {
    #[default]
    Continue,
    /// Skip the rest of this batch: no backward pass, no step (`CancelBatchException`).
    SkipBatch,
    /// Skip this epoch's validation (`CancelValidException`).
    SkipValidate,
    /// End this epoch now (`CancelEpochException`); the next one starts.
    CancelEpoch,
    /// Stop training now (`CancelFitException`); `after_fit` still runs.
    CancelFit,
}

/// One epoch's row of the table: what fastai's `recorder.values` holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochValues {
    pub epoch: usize,
    /// The smoothed training loss at the end of the epoch (as fastai shows it).
    pub train_loss: f32,
    pub valid_loss: f32,
    /// One value per metric, averaged over the validation set.
    pub metrics: Vec<f32>,
    pub seconds: f64,
}

impl EpochValues {
    /// The value a tracker monitors: `train_loss`, `valid_loss` or a metric's name.
    pub fn get(&self, name: &str, metric_names: &[String]) -> Option<f32> {
        match name {
            "train_loss" => Some(self.train_loss),
            "valid_loss" => Some(self.valid_loss),
            _ => {
                let i = metric_names.iter().position(|n| n == name)?;
                self.metrics.get(i).copied()
            }
        }
    }
}

/// Lets a learner find a callback of a given type in its list (`learn.cb::<Recorder>()`).
pub trait AsAny: Any {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    /// The callback's type name (keys its state in a checkpoint).
    fn type_name(&self) -> &'static str;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// Code run at each [`Event`], handed the learner (data, model, optimizer, the other callbacks)
/// and the state of the fit (the batch, its predictions and loss, where training is): it can
/// change the optimizer's hyper-parameters or the model, skip a batch or stop training. Every
/// method defaults to doing nothing.
///
/// A callback that stops training once the validation loss is below a target, and halves the
/// learning rate of every parameter group after each epoch:
///
/// ```
/// use fastburn::data::{DataLoaders, embedded_sample};
/// use fastburn::learner::{Callback, Control, FitState, Learner, SGD};
/// use fastburn::models::{Model, linear};
/// use fastburn::{loss::mnist_loss, metrics::BATCH_ACCURACY};
///
/// struct HalveAndStop(f32);
/// impl<M: Model> Callback<M> for HalveAndStop {
///     fn after_epoch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> fastburn::Result<Control> {
///         for h in &mut learn.opt.hypers {
///             h.lr /= 2.0;
///         }
///         Ok(match &fit.epoch_values {
///             Some(v) if v.valid_loss < self.0 => Control::CancelFit,
///             _ => Control::Continue,
///         })
///     }
/// }
///
/// let device = fastburn::device();
/// let dls = DataLoaders::threes_and_sevens(&embedded_sample()?, 256, 42, &device)?;
/// let mut learn = Learner::new(dls, linear(28 * 28, 1, &device), SGD, mnist_loss, vec![BATCH_ACCURACY]);
/// learn.quiet(true);
/// learn.add_cb(HalveAndStop(0.2));
/// learn.fit(20, 1.0)?;
/// assert!(learn.recorder().values.len() < 20);
/// assert_eq!(learn.opt.hypers[0].lr, 1.0 / 2f64.powi(learn.recorder().values.len() as i32));
/// # Ok::<(), fastburn::Error>(())
/// ```
#[allow(unused_variables)]
pub trait Callback<M: Model>: AsAny + Send {
    /// Callbacks run in increasing order (fastai's `order`); equal orders keep the order added.
    fn order(&self) -> i32 {
        0
    }
    fn before_fit(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn before_epoch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn before_train(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn before_batch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn after_loss(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn before_step(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn after_step(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn after_batch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn after_train(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn before_validate(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn after_validate(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn after_epoch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }
    fn after_fit(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        Ok(Control::Continue)
    }

    /// What this callback must remember across a checkpoint (a recorder's history, a tracker's
    /// best value); `None` for a callback with nothing to keep.
    fn checkpoint_state(&self) -> Option<serde_json::Value> {
        None
    }
    /// Take back what [`checkpoint_state`](Self::checkpoint_state) gave, when a run resumes
    /// (called after `before_fit`).
    fn restore_state(
        &mut self,
        state: serde_json::Value,
    ) -> std::result::Result<(), serde_json::Error> {
        Ok(())
    }

    /// Run the method for `event`.
    fn call(
        &mut self,
        event: Event,
        learn: &mut Learner<M>,
        fit: &mut FitState,
    ) -> Result<Control> {
        match event {
            Event::BeforeFit => self.before_fit(learn, fit),
            Event::BeforeEpoch => self.before_epoch(learn, fit),
            Event::BeforeTrain => self.before_train(learn, fit),
            Event::BeforeBatch => self.before_batch(learn, fit),
            Event::AfterLoss => self.after_loss(learn, fit),
            Event::BeforeStep => self.before_step(learn, fit),
            Event::AfterStep => self.after_step(learn, fit),
            Event::AfterBatch => self.after_batch(learn, fit),
            Event::AfterTrain => self.after_train(learn, fit),
            Event::BeforeValidate => self.before_validate(learn, fit),
            Event::AfterValidate => self.after_validate(learn, fit),
            Event::AfterEpoch => self.after_epoch(learn, fit),
            Event::AfterFit => self.after_fit(learn, fit),
        }
    }
}
