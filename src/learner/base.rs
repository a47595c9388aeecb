//! fastai's `Learner`: data, model, optimizer, loss and metrics, with `fit` running the training
//! loop and firing callbacks at each step.

use std::path::Path;
use std::time::Instant;

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::callback::{Callback, Control, EpochValues, Event, FitState};
use super::fastai_adam::MomentumHandle;
use super::optim::OptFunc;
use super::progress::{BatchBar, ProgressTable};
use super::recorder::Recorder;
use super::schedule::OneCycle;
use crate::data::{DataLoaders, Dataset, TensorDataset};
use crate::error::{Error, Result};
use crate::loss::LossFn;
use crate::metrics::Metric;
use crate::models::{Arch, Model, ModelInfo, load_into, save_model};

/// Everything needed to train a model, and the training loop.
///
/// ```
/// use fastburn::data::{DataLoaders, embedded_sample};
/// use fastburn::learner::{Learner, OptFunc};
/// use fastburn::{loss::mnist_loss, metrics::BATCH_ACCURACY, models::linear};
///
/// let device = fastburn::device();
/// let dls = DataLoaders::threes_and_sevens(&embedded_sample()?, 256, 42, &device)?;
/// let mut learn = Learner::new(dls, linear(28 * 28, 1, &device), OptFunc::SGD, mnist_loss, vec![BATCH_ACCURACY]);
/// learn.quiet(true);
/// learn.fit(3, 1.0)?;
/// assert!(learn.recorder.values[2].metrics[0] > 0.9);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub struct Learner<M: Model> {
    pub dls: DataLoaders<TensorDataset<4>>,
    pub opt_func: OptFunc,
    pub loss_func: LossFn,
    pub metrics: Vec<Metric>,
    pub recorder: Recorder,
    /// Extra callbacks, run after the recorder and before the progress table.
    pub cbs: Vec<Box<dyn Callback>>,
    /// `None` only while `fit` holds the model (so the optimizer can update it in place).
    pub(super) model: Option<M>,
    pub(super) opt: Option<(ModuleOptimizer, Option<MomentumHandle>)>,
    progress: Option<ProgressTable>,
    bar: Option<BatchBar>,
}

impl<M: Model> Learner<M> {
    pub fn new(
        dls: DataLoaders<TensorDataset<4>>,
        model: M,
        opt_func: OptFunc,
        loss_func: LossFn,
        metrics: Vec<Metric>,
    ) -> Self {
        Self {
            dls,
            opt_func,
            loss_func,
            metrics,
            recorder: Recorder::default(),
            cbs: Vec::new(),
            model: Some(model),
            opt: None,
            progress: Some(ProgressTable::stdout()),
            bar: Some(BatchBar::default()),
        }
    }

    /// The model as trained so far.
    pub fn model(&self) -> &M {
        self.model
            .as_ref()
            .expect("the model is only taken during fit")
    }

    /// Print no epoch table.
    pub fn quiet(&mut self, quiet: bool) -> &mut Self {
        self.progress = if quiet {
            None
        } else {
            Some(ProgressTable::stdout())
        };
        self
    }

    /// Print the epoch table to `out` instead of standard output.
    pub fn progress_to(&mut self, out: Box<dyn std::io::Write + Send>) -> &mut Self {
        self.progress = Some(ProgressTable::to(out));
        self
    }

    pub fn add_cb(&mut self, cb: impl Callback + 'static) -> &mut Self {
        self.cbs.push(Box::new(cb));
        self
    }

    /// Train for `n_epoch` epochs at a constant learning rate `lr`.
    pub fn fit(&mut self, n_epoch: usize, lr: f64) -> Result<()> {
        self.fit_with(n_epoch, |_| lr)
    }

    /// Train for `n_epoch` epochs with the learning rate `lr_at(pct)`, where `pct` runs from 0 at
    /// the first training batch towards 1 at the last (the basis of `fit_one_cycle`).
    pub fn fit_with(&mut self, n_epoch: usize, lr_at: impl Fn(f64) -> f64) -> Result<()> {
        self.fit_sched(n_epoch, &lr_at, None)
    }

    /// Train with fastai's one-cycle policy peaking at `lr_max` (see [`OneCycle`]); the momentum
    /// cycles too when the optimizer has one to move ([`OptFunc::FASTAI_ADAM`]).
    pub fn fit_one_cycle(&mut self, n_epoch: usize, lr_max: f64) -> Result<()> {
        let sched = OneCycle::new(lr_max);
        self.fit_sched(n_epoch, &|p| sched.lr(p), Some(&|p| sched.mom(p)))
    }

    /// Train with a learning-rate schedule and, optionally, a momentum schedule.
    pub fn fit_sched(
        &mut self,
        n_epoch: usize,
        lr_at: &dyn Fn(f64) -> f64,
        mom_at: Option<&dyn Fn(f64) -> f64>,
    ) -> Result<()> {
        let model = self.model.take().expect("fit is not re-entrant");
        let (model, result) = self.run_fit(model, n_epoch, lr_at, mom_at);
        self.model = Some(model);
        result
    }

    fn fire(&mut self, event: Event, s: &FitState) -> Control {
        let mut control = self.recorder.call(event, s);
        for cb in &mut self.cbs {
            if cb.call(event, s) == Control::CancelFit {
                control = Control::CancelFit;
            }
        }
        if let Some(p) = &mut self.progress {
            p.call(event, s);
        }
        if let Some(b) = &mut self.bar {
            b.call(event, s);
        }
        control
    }

    fn run_fit(
        &mut self,
        mut model: M,
        n_epoch: usize,
        lr_at: &dyn Fn(f64) -> f64,
        mom_at: Option<&dyn Fn(f64) -> f64>,
    ) -> (M, Result<()>) {
        let (mut opt, mom_handle) = self
            .opt
            .take()
            .unwrap_or_else(|| self.opt_func.build_with_momentum());
        let mut s = FitState {
            n_epoch,
            total_train_iter: n_epoch * self.dls.train.len(),
            metric_names: self.metrics.iter().map(|m| m.name.to_string()).collect(),
            ..Default::default()
        };
        let mut smoother = SmoothLoss::default();
        let mut result = Ok(());
        if self.fire(Event::BeforeFit, &s) == Control::Continue {
            'epochs: for epoch in 0..n_epoch {
                s.epoch = epoch;
                s.epoch_values = None;
                let start = Instant::now();
                if self.fire(Event::BeforeEpoch, &s) == Control::CancelFit {
                    break;
                }
                s.training = true;
                s.n_iter = self.dls.train.len();
                if self.fire(Event::BeforeTrain, &s) == Control::CancelFit {
                    break;
                }
                for (i, idx) in self.dls.train.batch_indices().into_iter().enumerate() {
                    s.iter = i;
                    let pct = s.train_iter as f64 / s.total_train_iter.max(1) as f64;
                    s.lr = lr_at(pct);
                    if let (Some(handle), Some(mom_at)) = (&mom_handle, mom_at) {
                        let mom = mom_at(pct);
                        handle.set(mom);
                        s.mom = Some(mom);
                    }
                    if self.fire(Event::BeforeBatch, &s) == Control::CancelFit {
                        break 'epochs;
                    }
                    let (xb, yb) = self.dls.train.dataset.batch(&idx);
                    let loss = (self.loss_func)(model.forward(xb), yb);
                    let value = loss.clone().into_scalar::<f32>();
                    if !value.is_finite() {
                        result = Err(Error::Diverged {
                            epoch,
                            batch: i,
                            loss: value,
                            suggested: short_float(s.lr / 10.0),
                        });
                        break 'epochs;
                    }
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    model = opt.step(s.lr, model, grads);
                    s.loss = value;
                    s.smooth_loss = smoother.add(value);
                    s.train_iter += 1;
                    if self.fire(Event::AfterBatch, &s) == Control::CancelFit {
                        break 'epochs;
                    }
                }
                if self.fire(Event::AfterTrain, &s) == Control::CancelFit {
                    break;
                }
                s.training = false;
                s.n_iter = self.dls.valid.len();
                if self.fire(Event::BeforeValidate, &s) == Control::CancelFit {
                    break;
                }
                let (valid_loss, metrics) = self.validate_model(&model);
                if self.fire(Event::AfterValidate, &s) == Control::CancelFit {
                    break;
                }
                s.epoch_values = Some(EpochValues {
                    epoch,
                    train_loss: s.smooth_loss,
                    valid_loss,
                    metrics,
                    seconds: start.elapsed().as_secs_f64(),
                });
                if self.fire(Event::AfterEpoch, &s) == Control::CancelFit {
                    break;
                }
            }
        }
        self.fire(Event::AfterFit, &s);
        self.opt = Some((opt, mom_handle));
        (model, result)
    }

    /// Loss and metrics over the validation set, each averaged over items.
    pub fn validate(&self) -> (f32, Vec<f32>) {
        self.validate_model(self.model())
    }

    fn validate_model(&self, model: &M) -> (f32, Vec<f32>) {
        let model = model.clone().valid();
        let (mut loss, mut n) = (0.0f64, 0usize);
        let mut metrics = vec![0.0f64; self.metrics.len()];
        for (xb, yb) in &self.dls.valid {
            let bs = yb.dims()[0];
            let out = model.forward(xb.inner());
            let yb = yb.inner();
            loss +=
                (self.loss_func)(out.clone(), yb.clone()).into_scalar::<f32>() as f64 * bs as f64;
            for (acc, m) in metrics.iter_mut().zip(&self.metrics) {
                *acc += (m.func)(out.clone(), yb.clone()).into_scalar::<f32>() as f64 * bs as f64;
            }
            n += bs;
        }
        let n = n.max(1) as f64;
        (
            (loss / n) as f32,
            metrics.into_iter().map(|m| (m / n) as f32).collect(),
        )
    }

    /// Model outputs for a batch of images, without gradients.
    pub fn predict(&self, x: Tensor<4>) -> Tensor<2> {
        self.model().clone().valid().forward(x.inner())
    }

    /// Save the model (with its architecture and the data's vocab) to `path`, atomically.
    pub fn save(&self, arch: Arch, path: &Path) -> Result<()> {
        let info = ModelInfo {
            arch,
            vocab: self.dls.vocab.clone(),
            norm: self.dls.norm,
        };
        save_model(self.model(), &info, path)
    }

    /// Replace the model's weights with those saved in `path`.
    pub fn load(&mut self, path: &Path) -> Result<ModelInfo> {
        let model = self.model.take().expect("not during fit");
        match load_into(model.clone(), path) {
            Ok((loaded, info)) => {
                self.model = Some(loaded);
                Ok(info)
            }
            Err(e) => {
                self.model = Some(model);
                Err(e)
            }
        }
    }
}

/// `0.01`, `1e39`: a learning rate as a person writes it.
fn short_float(x: f64) -> String {
    if (1e-4..1e4).contains(&x.abs()) {
        format!("{}", (x * 1e6).round() / 1e6)
    } else {
        let s = format!("{x:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        format!(
            "{}e{exp}",
            mantissa.trim_end_matches('0').trim_end_matches('.')
        )
    }
}

/// fastai's `AvgSmoothLoss`: an exponential moving average of the loss, debiased.
#[derive(Debug, Default)]
struct SmoothLoss {
    avg: f64,
    count: i32,
}

impl SmoothLoss {
    const BETA: f64 = 0.98;

    fn add(&mut self, loss: f32) -> f32 {
        self.count += 1;
        self.avg = Self::BETA * self.avg + (1.0 - Self::BETA) * loss as f64;
        (self.avg / (1.0 - Self::BETA.powi(self.count))) as f32
    }
}
