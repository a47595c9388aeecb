//! Callbacks: code that runs at fixed points of training, as fastai's do, without touching the
//! training loop itself.

/// The points of training at which callbacks run, in the order they fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    BeforeFit,
    BeforeEpoch,
    BeforeTrain,
    BeforeBatch,
    AfterBatch,
    AfterTrain,
    BeforeValidate,
    AfterValidate,
    AfterEpoch,
    AfterFit,
}

/// What a callback tells the training loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Control {
    #[default]
    Continue,
    /// Stop training now (fastai's `CancelFitException`); `after_fit` still runs.
    CancelFit,
}

/// One epoch's row of the table: what fastai's `recorder.values` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochValues {
    pub epoch: usize,
    /// The smoothed training loss at the end of the epoch (as fastai shows it).
    pub train_loss: f32,
    pub valid_loss: f32,
    /// One value per metric, averaged over the validation set.
    pub metrics: Vec<f32>,
    pub seconds: f64,
}

/// Where training stands, as callbacks see it.
#[derive(Debug, Clone, Default)]
pub struct FitState {
    pub n_epoch: usize,
    pub epoch: usize,
    /// True during the training phase of an epoch, false during validation.
    pub training: bool,
    /// Batch index within the current phase, and the number of batches in it.
    pub iter: usize,
    pub n_iter: usize,
    /// Training batches done since the start of this fit, and their total.
    pub train_iter: usize,
    pub total_train_iter: usize,
    /// Learning rate of the current batch, and momentum when a schedule moves it.
    pub lr: f64,
    pub mom: Option<f64>,
    /// The last training batch's loss, raw and exponentially smoothed (beta 0.98, debiased).
    pub loss: f32,
    pub smooth_loss: f32,
    pub metric_names: Vec<String>,
    /// Set for `AfterEpoch`: the epoch's results.
    pub epoch_values: Option<EpochValues>,
}

/// Code run at each [`Event`]. Every method defaults to doing nothing.
///
/// ```
/// use fastburn::learner::{Callback, Control, FitState};
/// /// Stops training once the validation loss is below a target.
/// struct StopAt(f32);
/// impl Callback for StopAt {
///     fn after_epoch(&mut self, s: &FitState) -> Control {
///         match &s.epoch_values {
///             Some(v) if v.valid_loss < self.0 => Control::CancelFit,
///             _ => Control::Continue,
///         }
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait Callback: Send {
    fn before_fit(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn before_epoch(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn before_train(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn before_batch(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn after_batch(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn after_train(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn before_validate(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn after_validate(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn after_epoch(&mut self, s: &FitState) -> Control {
        Control::Continue
    }
    fn after_fit(&mut self, s: &FitState) -> Control {
        Control::Continue
    }

    /// Run the method for `event`.
    fn call(&mut self, event: Event, s: &FitState) -> Control {
        match event {
            Event::BeforeFit => self.before_fit(s),
            Event::BeforeEpoch => self.before_epoch(s),
            Event::BeforeTrain => self.before_train(s),
            Event::BeforeBatch => self.before_batch(s),
            Event::AfterBatch => self.after_batch(s),
            Event::AfterTrain => self.after_train(s),
            Event::BeforeValidate => self.before_validate(s),
            Event::AfterValidate => self.after_validate(s),
            Event::AfterEpoch => self.after_epoch(s),
            Event::AfterFit => self.after_fit(s),
        }
    }
}
