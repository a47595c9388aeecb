//! fastai's `Learner`: data, model, optimizer, loss and metrics, and one small training loop that
//! fires callbacks at each step. Everything else (schedules, recording, the progress table,
//! saving, early stopping, checkpoints) is a callback that reads and changes the learner and the
//! state of the fit in progress.

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;

use super::callback::{Callback, Control, EpochValues, Event};
use super::checkpoint::{Checkpoint, Stage};
use super::optimizer::{Optimizer, Stepper};
use super::progress::ProgressCallback;
use super::recorder::Recorder;
use super::tracker::TerminateOnNaN;
use crate::data::{AnyImageDataset, DataLoaders, Dataset, IntoImageBatch, Prefetch};
use crate::error::{Error, Result};
use crate::loss::LossFn;
use crate::metrics::Metric;
use crate::models::{Model, ModelInfo, load_into, save_model};
use crate::parallel::{Collective, all_reduce_grads, broadcast_model, shard};

/// Training batches prepared ahead of the one in use: enough to hide a slow batch, few enough
/// that memory holds a handful of batches.
const PREFETCH: usize = 3;

/// A learning rate for every parameter group, or one per group as fastai's `slice` gives them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lr {
    /// One rate for every group.
    Same(f64),
    /// fastai's `slice(start, end)`: rates spread evenly on a log scale from the first group
    /// (the body) to the last (the head).
    Slice(f64, f64),
    /// fastai's `slice(end)`: the last group (the head) at `end`, every other group at `end/10`.
    Stop(f64),
}

impl From<f64> for Lr {
    fn from(lr: f64) -> Self {
        Lr::Same(lr)
    }
}

impl Lr {
    /// The rate of each of `n` groups (fastai's `even_mults`).
    pub fn per_group(self, n: usize) -> Vec<f64> {
        match self {
            Lr::Same(lr) => vec![lr; n],
            Lr::Slice(_, end) | Lr::Stop(end) if n <= 1 => vec![end],
            Lr::Slice(start, end) => {
                let step = (end / start).powf(1.0 / (n - 1) as f64);
                (0..n).map(|i| start * step.powi(i as i32)).collect()
            }
            Lr::Stop(end) => {
                let mut lrs = vec![end / 10.0; n - 1];
                lrs.push(end);
                lrs
            }
        }
    }

    /// The largest rate (the head's).
    pub fn max(self) -> f64 {
        match self {
            Lr::Same(lr) => lr,
            Lr::Slice(a, b) => a.max(b),
            Lr::Stop(b) => b,
        }
    }
}

/// The state of the fit in progress, which every callback receives beside the learner (fastai
/// keeps these as attributes of the learner; here they live as long as one fit).
#[derive(Debug, Clone, Default)]
pub struct FitState {
    pub n_epoch: usize,
    pub epoch: usize,
    /// True during the training phase of an epoch, false during validation.
    pub training: bool,
    /// Batch index within the training phase, and the number of batches in it.
    pub iter: usize,
    pub n_iter: usize,
    /// Training batches done since the start of this fit, and their total.
    pub train_iter: usize,
    pub total_train_iter: usize,
    /// `train_iter / total_train_iter`: where schedules are.
    pub pct_train: f64,
    /// The current batch, its predictions and its loss (with its graph, until the backward pass:
    /// a callback that takes it away at `after_loss` skips the step).
    pub xb: Option<Tensor<4>>,
    pub yb: Option<Tensor<1, Int>>,
    pub pred: Option<Tensor<2>>,
    pub loss_grad: Option<Tensor<1>>,
    /// The current batch's loss, and its exponential moving average (kept by the [`Recorder`]).
    pub loss: f32,
    pub smooth_loss: f32,
    /// Set before `after_epoch`: the epoch's row of the table.
    pub epoch_values: Option<EpochValues>,
    /// Epoch shuffles drawn before this fit: the data order of this fit's epoch `e` is the
    /// loader's epoch `data_epoch + e`.
    pub data_epoch: u64,
    epoch_start: Option<Instant>,
    /// Seconds of the current epoch spent before the run was resumed.
    epoch_carried: f64,
}

impl FitState {
    /// Seconds spent in the current epoch so far (across a resume).
    pub fn epoch_seconds(&self) -> f64 {
        self.epoch_carried + self.epoch_start.map_or(0.0, |s| s.elapsed().as_secs_f64())
    }
}

/// Everything needed to train a model, and the training loop: the configuration (data, loss,
/// metrics), the model, the optimizer, and the callbacks that carry every policy.
///
/// ```
/// use fastburn::data::{DataLoaders, embedded_sample};
/// use fastburn::learner::{Learner, SGD};
/// use fastburn::{loss::mnist_loss, metrics::BATCH_ACCURACY, models::linear};
///
/// let device = fastburn::device();
/// let dls = DataLoaders::threes_and_sevens(&embedded_sample()?, 256, 42, &device)?;
/// let mut learn = Learner::new(dls, linear(28 * 28, 1, &device), SGD, mnist_loss, vec![BATCH_ACCURACY]);
/// learn.quiet(true);
/// learn.fit(3, 1.0)?;
/// assert!(learn.recorder().values[2].metrics[0] > 0.9);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub struct Learner<M: Model> {
    pub dls: DataLoaders<AnyImageDataset>,
    pub model: M,
    pub loss_func: LossFn,
    pub metrics: Vec<Metric>,
    pub opt: Optimizer,
    /// What training recorded: a callback the learner always has (fastai's `learn.recorder`).
    recorder: Recorder,
    /// The other callbacks, in the order added (a [`ProgressCallback`] and [`TerminateOnNaN`]
    /// to start). While one runs, it is out of the list and the rest are in it.
    cbs: Vec<Box<dyn Callback<M>>>,
    /// Epoch shuffles used by earlier fits, so the next fit draws new ones.
    data_epoch: u64,
    /// The checkpoint the next fit resumes from.
    pub(crate) resume: Option<(Checkpoint, std::path::PathBuf)>,
    /// Which fit this is (a plain one, or one of `fine_tune`'s), as checkpoints record it.
    pub(crate) stage: Stage,
    /// The processes this learner trains with, data-parallel ([`data_parallel`](Self::data_parallel)).
    group: Option<Box<dyn Collective>>,
}

/// Where the callbacks of a fit run from: the recorder, or the learner's list.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Recorder,
    Cb(usize),
}

/// Takes a callback's place in the list while it runs.
struct Vacant;
impl<M: Model> Callback<M> for Vacant {}

impl<M: Model> Learner<M> {
    /// fastai's `Learner(dls, model, opt_func, loss_func, metrics)`: `opt_func` is any
    /// [`Stepper`] ([`SGD`](super::SGD), [`ADAM`](super::ADAM), a user's own).
    pub fn new<D>(
        dls: DataLoaders<D>,
        model: M,
        opt_func: impl Stepper + 'static,
        loss_func: LossFn,
        metrics: Vec<Metric>,
    ) -> Self
    where
        D: Dataset + Send + Sync + 'static,
        D::Batch: IntoImageBatch,
    {
        // Burn draws a parameter's initial value when it is first used; draw them now, from the
        // generator as the caller seeded it, not from the training loop's per-batch seeds.
        force_init(&model);
        let opt = Optimizer::for_model(opt_func, &model);
        Self {
            dls: dls.boxed(),
            model,
            loss_func,
            metrics,
            opt,
            recorder: Recorder::default(),
            cbs: vec![
                Box::new(ProgressCallback::stdout()),
                Box::new(TerminateOnNaN),
            ],
            data_epoch: 0,
            resume: None,
            stage: Stage::Fit,
            group: None,
        }
    }

    /// Make this learner one rank of a data-parallel run over `group` (every rank makes the
    /// same learner, on the same data, and calls this): rank 0's weights are broadcast now, each
    /// rank then trains on its [`shard`] of every batch with the gradients summed over the ranks,
    /// and only rank 0 prints the table or writes a model or checkpoint. See [`crate::parallel`].
    pub fn data_parallel(&mut self, group: Box<dyn Collective>) -> Result<&mut Self> {
        self.model = self
            .opt
            .apply_freeze(broadcast_model(self.model.clone(), &*group)?);
        if group.rank() != 0 {
            self.remove_cbs::<ProgressCallback>();
        }
        self.group = Some(group);
        Ok(self)
    }

    /// This process's rank in a data-parallel run (0 when training alone).
    pub fn rank(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.rank())
    }

    /// The processes training this model (1 when training alone).
    pub fn world_size(&self) -> usize {
        self.group.as_ref().map_or(1, |g| g.size())
    }

    /// The data-parallel group, when there is more than this process in it.
    fn parallel(&self) -> Option<&dyn Collective> {
        self.group.as_deref().filter(|g| g.size() > 1)
    }

    /// Epoch shuffles drawn by earlier fits (the data order of the next fit's epoch `e` is that
    /// of the loader's epoch `data_epoch() + e`).
    pub fn data_epoch(&self) -> u64 {
        self.data_epoch
    }

    /// The model as trained so far.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Metric names, as the table and trackers show them.
    pub fn metric_names(&self) -> Vec<String> {
        self.metrics.iter().map(|m| m.name.to_string()).collect()
    }

    /// What training recorded (fastai's `learn.recorder`). Inside a fit, the recorder's own
    /// methods see it as `self`; every other callback reads it here.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The first callback of type `T`, if the learner has one (during a fit: every callback
    /// but the one running).
    pub fn cb<T: 'static>(&self) -> Option<&T> {
        self.cbs.iter().find_map(|c| c.as_any().downcast_ref::<T>())
    }

    pub fn cb_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.cbs
            .iter_mut()
            .find_map(|c| c.as_any_mut().downcast_mut::<T>())
    }

    /// Take the callbacks of type `T` out of the learner.
    pub fn remove_cbs<T: 'static>(&mut self) -> Vec<T> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cbs)
            .into_iter()
            .partition(|c| c.as_any().is::<T>());
        self.cbs = kept;
        taken
            .into_iter()
            .filter_map(|c| c.into_any().downcast::<T>().ok().map(|b| *b))
            .collect()
    }

    /// No epoch table and no progress bar (removes the [`ProgressCallback`]); `false` puts a
    /// fresh one printing to standard output back.
    pub fn quiet(&mut self, quiet: bool) -> &mut Self {
        self.remove_cbs::<ProgressCallback>();
        if !quiet {
            self.cbs.push(Box::new(ProgressCallback::stdout()));
        }
        self
    }

    /// Print the epoch table to `out` instead of standard output, with no progress bar.
    pub fn progress_to(&mut self, out: Box<dyn std::io::Write + Send>) -> &mut Self {
        self.remove_cbs::<ProgressCallback>();
        self.cbs.push(Box::new(ProgressCallback::to(out)));
        self
    }

    pub fn add_cb(&mut self, cb: impl Callback<M> + 'static) -> &mut Self {
        self.cbs.push(Box::new(cb));
        self
    }

    /// Train only the last parameter group (the head) and the norm layers (fastai's `freeze`).
    pub fn freeze(&mut self) {
        self.freeze_to(self.opt.groups.len().saturating_sub(1));
    }

    /// Train every parameter again (fastai's `unfreeze`).
    pub fn unfreeze(&mut self) {
        self.freeze_to(0);
    }

    /// Freeze the parameter groups before group `n` (fastai's `freeze_to`). As in fastai, the
    /// optimizer starts afresh: its moving averages were those of other trainable parameters.
    pub fn freeze_to(&mut self, n: usize) {
        self.opt.frozen_to = n;
        self.opt.clear_state();
        self.model = self.opt.apply_freeze(self.model.clone());
    }

    /// Train for `n_epoch` epochs at a constant learning rate (one, or a `Lr::Slice` per group).
    pub fn fit(&mut self, n_epoch: usize, lr: impl Into<Lr>) -> Result<()> {
        self.fit_with(n_epoch, Some(lr.into()), Vec::new())
            .map(drop)
    }

    /// fastai's `fit(n_epoch, lr, cbs=...)`: train with `cbs` added for this fit only; they are
    /// handed back afterwards (to read what they found). `lr: None` keeps the optimizer's rates.
    pub fn fit_with(
        &mut self,
        n_epoch: usize,
        lr: Option<Lr>,
        extra: Vec<Box<dyn Callback<M>>>,
    ) -> Result<Vec<Box<dyn Callback<M>>>> {
        if let Some(lr) = lr {
            let lrs = lr.per_group(self.opt.hypers.len());
            self.opt.set_lrs(&lrs);
        }
        let own = self.cbs.len();
        self.cbs.extend(extra);
        // Stable: equal orders run in the order added; the recorder among them by its order.
        let mut order: Vec<(i32, Slot)> =
            vec![(Callback::<M>::order(&self.recorder), Slot::Recorder)];
        order.extend(
            self.cbs
                .iter()
                .enumerate()
                .map(|(i, c)| (c.order(), Slot::Cb(i))),
        );
        order.sort_by_key(|&(o, _)| o);
        let order: Vec<Slot> = order.into_iter().map(|(_, s)| s).collect();
        let result = self.run_fit(n_epoch, &order);
        let extra = self.cbs.split_off(own);
        result.map(|()| extra)
    }

    /// Continue a run from a checkpoint written by a [`CheckpointCallback`](super::CheckpointCallback):
    /// the model and optimizer are loaded now; the next `fit` with the same epochs and schedule
    /// starts at the saved batch with every callback's saved state, and ends as the
    /// uninterrupted run would have.
    pub fn resume(&mut self, path: &Path) -> Result<()> {
        let ck = Checkpoint::read(path)?;
        let (model, mut opt) = ck.restore(self.model.clone(), self.opt.clone(), path)?;
        self.model = opt.apply_freeze(model);
        self.opt = opt;
        self.resume = Some((ck, path.to_path_buf()));
        Ok(())
    }

    /// Run `event` on every callback in `order`: each is taken out of its place while it runs,
    /// so it can be handed the learner with the others in it. The first error stops the event.
    fn fire(&mut self, event: Event, order: &[Slot], fit: &mut FitState) -> Result<Control> {
        let mut control = Control::Continue;
        for &slot in order {
            let result = match slot {
                Slot::Recorder => {
                    let mut rec = std::mem::take(&mut self.recorder);
                    let r = Callback::<M>::call(&mut rec, event, self, fit);
                    self.recorder = rec;
                    r
                }
                Slot::Cb(i) => {
                    let mut cb = std::mem::replace(&mut self.cbs[i], Box::new(Vacant));
                    let r = cb.call(event, self, fit);
                    self.cbs[i] = cb;
                    r
                }
            };
            control = control.max(result?);
        }
        Ok(control)
    }

    fn run_fit(&mut self, n_epoch: usize, order: &[Slot]) -> Result<()> {
        let n_train = self.dls.train.len();
        let mut fit = FitState {
            n_epoch,
            total_train_iter: n_epoch * n_train,
            data_epoch: self.data_epoch,
            ..FitState::default()
        };
        let resume = self.resume.take();
        let result = (|| -> Result<()> {
            if self.fire(Event::BeforeFit, order, &mut fit)? >= Control::CancelFit {
                return Ok(());
            }
            let mut start = (0, 0);
            if let Some((ck, path)) = &resume {
                ck.check_fits(self.stage, n_epoch, n_train, self.world_size(), path)?;
                ck.restore_callbacks(self, path)?;
                fit.data_epoch = ck.data_epoch;
                start = (ck.next.epoch, ck.next.iter);
                fit.train_iter = start.0 * n_train + start.1;
                fit.epoch_carried = ck.epoch_seconds;
                (fit.loss, fit.smooth_loss) = (ck.loss, ck.smooth_loss);
            }
            for epoch in start.0..n_epoch {
                fit.epoch = epoch;
                fit.epoch_values = None;
                fit.epoch_start = Some(Instant::now());
                if epoch != start.0 || start.1 == 0 {
                    fit.epoch_carried = 0.0;
                }
                if self.fire(Event::BeforeEpoch, order, &mut fit)? >= Control::CancelFit {
                    return Ok(());
                }
                let skip = if epoch == start.0 { start.1 } else { 0 };
                match self.train_epoch(order, &mut fit, skip)? {
                    Control::CancelFit => return Ok(()),
                    Control::CancelEpoch => continue,
                    _ => {}
                }
                if self.validate_epoch(order, &mut fit)? >= Control::CancelFit {
                    return Ok(());
                }
                if self.fire(Event::AfterEpoch, order, &mut fit)? >= Control::CancelFit {
                    return Ok(());
                }
            }
            Ok(())
        })();
        self.data_epoch = fit.data_epoch + (fit.epoch + 1).min(n_epoch) as u64;
        (fit.xb, fit.yb, fit.pred, fit.loss_grad) = (None, None, None, None);
        let after = self.fire(Event::AfterFit, order, &mut fit);
        result.and(after.map(drop))
    }

    /// The seed of training batch `batch` of data epoch `data_epoch`: its augmentation and its
    /// dropout masks.
    ///
    /// Data epochs are counted over the learner's life, not over one fit, so the fits of
    /// `fine_tune` (frozen, then unfrozen) do not draw the same dropout masks again batch for
    /// batch; a resumed run still draws what the uninterrupted run drew. In a data-parallel
    /// run each rank draws its own (rank 0 those of a run alone), so that the shards of one
    /// batch are not augmented or dropped out alike.
    fn batch_seed(&self, data_epoch: u64, batch: usize) -> u64 {
        let n = (data_epoch << 32) ^ (batch as u64 + 1);
        let seed = self.dls.train.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        seed ^ (self.rank() as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
    }

    /// The device the model's parameters are on.
    pub fn device(&self) -> Device {
        crate::models::device_of(&self.model)
    }

    /// One epoch's training batches, from batch `skip` on (a resumed run).
    fn train_epoch(&mut self, order: &[Slot], fit: &mut FitState, skip: usize) -> Result<Control> {
        fit.training = true;
        fit.n_iter = self.dls.train.len();
        let c = self.fire(Event::BeforeTrain, order, fit)?;
        if c >= Control::CancelEpoch {
            return Ok(c);
        }
        let data_epoch = fit.data_epoch + fit.epoch as u64;
        let batches = self.dls.train.batch_indices_for(data_epoch);
        let device = self.device();
        // Batches are built ahead on a worker thread (decoding, resizing, augmenting overlap the
        // step); each from its own seed, so a resumed run gets the same ones.
        // In a data-parallel run this rank builds only its shard of each batch, and weights its
        // gradients by the shard's share of the batch. A shard with no item (a last batch
        // smaller than the ranks) computes on the batch's first item with weight 0.
        let (rank, ranks) = (self.rank(), self.world_size());
        let mut weights = Vec::with_capacity(batches.len());
        // One seed per batch, for its items (on the worker) and its random layers (here).
        let mut seeds = Vec::with_capacity(batches.len());
        let jobs: Vec<(Vec<usize>, u64)> = batches
            .into_iter()
            .enumerate()
            .skip(skip)
            .map(|(i, mut idx)| {
                if ranks > 1 {
                    let part = shard(idx.len(), rank, ranks);
                    weights.push(part.len() as f32 / idx.len().max(1) as f32);
                    idx = match part.is_empty() {
                        true => idx[..1.min(idx.len())].to_vec(),
                        false => idx[part].to_vec(),
                    };
                }
                let seed = self.batch_seed(data_epoch, i);
                seeds.push(seed);
                (idx, seed)
            })
            .collect();
        let mut prepared = Prefetch::new(self.dls.train.dataset.clone(), jobs, PREFETCH);
        for i in skip..fit.n_iter {
            let Some(batch) = prepared.next() else {
                break;
            };
            let (xb, yb) = batch?;
            fit.iter = i;
            fit.pct_train = fit.train_iter as f64 / fit.total_train_iter.max(1) as f64;
            // Random layers (dropout) draw from a generator seeded per batch, so a run resumed
            // at any batch draws what the uninterrupted run drew.
            device.seed(seeds[i - skip]);
            (fit.xb, fit.yb) = (Some(xb), Some(yb));
            let weight = weights.get(i - skip).copied().unwrap_or(1.0);
            let c = self.one_batch(order, fit, weight)?;
            fit.train_iter += 1;
            let after = self.fire(Event::AfterBatch, order, fit)?;
            match c.max(after) {
                Control::CancelFit => return Ok(Control::CancelFit),
                Control::CancelEpoch => return Ok(Control::CancelEpoch),
                _ => {}
            }
        }
        self.fire(Event::AfterTrain, order, fit)
    }

    /// fastai's `_do_one_batch`: predictions, loss, backward pass, step, each followed by its event.
    /// `weight`: this rank's share of the global batch in a data-parallel run.
    fn one_batch(&mut self, order: &[Slot], fit: &mut FitState, weight: f32) -> Result<Control> {
        let c = self.fire(Event::BeforeBatch, order, fit)?;
        if c != Control::Continue {
            return Ok(c);
        }
        let (Some(xb), Some(yb)) = (fit.xb.clone(), fit.yb.clone()) else {
            return Ok(Control::SkipBatch);
        };
        let pred = self.model.forward(xb);
        let loss = (self.loss_func)(pred.clone(), yb);
        fit.loss = loss.clone().into_scalar::<f32>();
        (fit.pred, fit.loss_grad) = (Some(pred), Some(loss));
        let c = self.fire(Event::AfterLoss, order, fit)?;
        if c != Control::Continue {
            return Ok(c);
        }
        let Some(loss) = fit.loss_grad.take() else {
            return Ok(Control::SkipBatch);
        };
        let mut grads = loss.backward();
        if let Some(group) = self.parallel() {
            // The gradients (and the loss, for the recorder) of the whole batch.
            fit.loss = all_reduce_grads(&self.model, &mut grads, weight, fit.loss, group)?;
        }
        let c = self.fire(Event::BeforeStep, order, fit)?;
        if c != Control::Continue {
            return Ok(c);
        }
        // The model is moved into the step, not cloned: a clone left in `self.model` would share
        // every parameter's buffer, and the optimizer's in-place step would copy each one (47 MB,
        // on one core, every batch of a ResNet-18). `Optimizer::step` has no error path: it
        // maps each parameter to its stepped value. A panic inside it (a bug) aborts the
        // process rather than leave the learner without a model.
        let opt = &mut self.opt;
        replace_with::replace_with_or_abort(&mut self.model, |model| opt.step(model, &mut grads));
        self.fire(Event::AfterStep, order, fit)
    }

    fn validate_epoch(&mut self, order: &[Slot], fit: &mut FitState) -> Result<Control> {
        fit.training = false;
        fit.n_iter = self.dls.valid.len();
        let c = self.fire(Event::BeforeValidate, order, fit)?;
        if c >= Control::CancelEpoch {
            return Ok(c);
        }
        if let Some(group) = self.parallel() {
            // BatchNorm's running statistics are rank 0's (each rank's saw only its shards).
            self.model = self
                .opt
                .apply_freeze(broadcast_model(self.model.clone(), group)?);
        }
        let (valid_loss, metrics) = if c == Control::SkipValidate {
            (f32::NAN, vec![f32::NAN; self.metrics.len()])
        } else {
            self.validate()?
        };
        let c = self.fire(Event::AfterValidate, order, fit)?;
        fit.epoch_values = Some(EpochValues {
            epoch: fit.epoch,
            train_loss: fit.smooth_loss,
            valid_loss,
            metrics,
            seconds: fit.epoch_seconds(),
        });
        Ok(c)
    }

    /// Loss and metrics over the validation set, each averaged over items (in a data-parallel
    /// run, each rank computes its shard of every batch and the sums are reduced).
    pub fn validate(&self) -> Result<(f32, Vec<f32>)> {
        let model = self.model.clone().valid();
        let (mut loss, mut n) = (0.0f64, 0usize);
        let mut metrics = vec![0.0f64; self.metrics.len()];
        let group = self.parallel();
        let ds = &self.dls.valid.dataset;
        let batches = self.dls.valid.batch_indices_for(0).into_iter();
        for idx in batches {
            let idx = match group {
                Some(g) => &idx[shard(idx.len(), g.rank(), g.size())],
                None => &idx[..],
            };
            if idx.is_empty() {
                continue;
            }
            let (xb, yb) = ds.batch(idx)?;
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
        if let Some(g) = group {
            let mut sums: Vec<f64> = [loss, n as f64].into_iter().chain(metrics).collect();
            g.all_reduce_sum_f64(&mut sums)?;
            (loss, n) = (sums[0], sums[1] as usize);
            metrics = sums[2..].to_vec();
        }
        let n = n.max(1) as f64;
        Ok((
            (loss / n) as f32,
            metrics.into_iter().map(|m| (m / n) as f32).collect(),
        ))
    }

    /// Model outputs for a batch of images, without gradients.
    pub fn predict(&self, x: Tensor<4>) -> Tensor<2> {
        self.model.clone().valid().forward(x.inner())
    }

    /// The data's item transforms, with the size and channels of its inputs filled in when the
    /// data does not resize (so a model file always says what input it takes).
    fn input_tfms(&self) -> Result<crate::data::ItemTfms> {
        let mut tfms = self.dls.item_tfms.clone();
        let ds = &self.dls.valid.dataset;
        if tfms.size.is_none() && !ds.is_empty() {
            let [_, c, h, w] = ds.batch(&[0])?.0.dims();
            (tfms.channels, tfms.size) = (c, Some((h, w)));
        }
        Ok(tfms)
    }

    /// What a model file written by [`save`](Self::save) says about this learner's model.
    pub fn model_info(&self) -> Result<ModelInfo> {
        let arch = self.model.arch().ok_or(Error::NoArch)?;
        Ok(ModelInfo {
            arch,
            vocab: self.dls.vocab.clone(),
            norm: self.dls.norm.clone(),
            n_out: self.model.n_out(),
            item_tfms: self.input_tfms()?,
            aug: self.dls.aug.clone(),
        })
    }

    /// Save the model (with its architecture, classes and normalisation) to `path`, atomically.
    ///
    /// In a data-parallel run only rank 0 writes (as fastai's `learn.save`): every rank holds
    /// the same model.
    pub fn save(&self, path: &Path) -> Result<()> {
        if self.rank() != 0 {
            return Ok(());
        }
        save_model(&self.model, &self.model_info()?, path)
    }

    /// Replace the model's weights with those saved in `path` (fastai's `learn.load`).
    pub fn load(&mut self, path: &Path) -> Result<ModelInfo> {
        let (loaded, info) = load_into(self.model.clone(), path)?;
        self.model = self.opt.apply_freeze(loaded);
        Ok(info)
    }

    /// Run `f` with the recorder and callbacks swapped for `recorder` and `cbs`, then put the
    /// learner's own back (what `lr_find` does, so its sweep leaves no trace).
    pub(crate) fn with_callbacks<T>(
        &mut self,
        recorder: Recorder,
        cbs: Vec<Box<dyn Callback<M>>>,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let own_rec = std::mem::replace(&mut self.recorder, recorder);
        let own_cbs = std::mem::replace(&mut self.cbs, cbs);
        let out = f(self);
        self.recorder = own_rec;
        self.cbs = own_cbs;
        out
    }

    /// The callbacks' states for a checkpoint, keyed by type (and number, for a type added
    /// more than once); the recorder's under `Recorder`.
    pub(crate) fn callback_states(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let mut states: std::collections::BTreeMap<String, serde_json::Value> = keys(&self.cbs)
            .into_iter()
            .zip(&self.cbs)
            .filter_map(|(k, c)| Some((k, c.checkpoint_state()?)))
            .collect();
        if let Some(s) = Callback::<M>::checkpoint_state(&self.recorder) {
            states.insert("Recorder".into(), s);
        }
        states
    }

    /// Give each callback (and the recorder) its state from a checkpoint.
    pub(crate) fn restore_callback_states(
        &mut self,
        states: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> std::result::Result<(), (String, serde_json::Error)> {
        for (key, cb) in keys(&self.cbs).into_iter().zip(self.cbs.iter_mut()) {
            if let Some(state) = states.get(&key) {
                cb.restore_state(state.clone()).map_err(|e| (key, e))?;
            }
        }
        if let Some(state) = states.get("Recorder") {
            Callback::<M>::restore_state(&mut self.recorder, state.clone())
                .map_err(|e| ("Recorder".to_string(), e))?;
        }
        Ok(())
    }
}

/// Callback keys: the type's name, numbered when a type appears more than once.
fn keys<M: Model>(cbs: &[Box<dyn Callback<M>>]) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<&'static str, usize> = Default::default();
    cbs.iter()
        .map(|c| {
            let name = c.type_name();
            let n = seen.entry(name).or_default();
            *n += 1;
            format!("{name}#{n}")
        })
        .collect()
}

fn force_init<M: Model>(model: &M) {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
}

#[cfg(test)]
mod tests {
    use super::Lr;
    use crate::data::{DataLoader, DataLoaders, TensorDataset};
    use crate::learner::{ADAM, Callback, Control, FitState, Learner, Recorder};
    use crate::loss::cross_entropy;
    use crate::models::{Model, SimpleNet, simple_net};
    use burn::prelude::*;

    fn tiny_learner() -> Learner<SimpleNet> {
        let dev = crate::device();
        let data = |n: usize| {
            let x: Vec<f32> = (0..n * 4).map(|i| ((i * 7) % 11) as f32 / 10.0).collect();
            let y: Vec<i64> = (0..n).map(|i| (i % 2) as i64).collect();
            TensorDataset::new(
                Tensor::from_data(TensorData::new(x, [n, 1, 2, 2]), &dev),
                Tensor::from_data(TensorData::new(y, [n]), &dev),
            )
        };
        let dls = DataLoaders {
            train: DataLoader::new(data(64), 16).shuffle(1),
            valid: DataLoader::new(data(16), 16),
            vocab: vec!["a".into(), "b".into()],
            norm: None,
            item_tfms: Default::default(),
            aug: None,
        };
        let mut learn = Learner::new(dls, simple_net(4, 8, 2, &dev), ADAM, cross_entropy, vec![]);
        learn.quiet(true);
        learn
    }

    /// The Learner hands its model to the optimizer without keeping a clone, so every
    /// parameter is stepped in its own buffer: a clone would make each step copy the whole
    /// model first (47 MB per batch for a ResNet-18). The fast path's count of copies (this
    /// thread's) is checked to see a clone.
    #[test]
    fn the_step_updates_parameters_without_copying_them() {
        let dev = crate::device();
        let mut learn = tiny_learner();
        let before = learn.model.l1.weight.val().into_data();
        let paths = fastburn_flex::fast_paths();
        learn.fit(2, 0.01).unwrap();
        let after = fastburn_flex::fast_paths();
        assert_eq!(
            after.step_in_place - paths.step_in_place,
            2 * 4 * 4,
            "steps in place"
        );
        assert_eq!(
            after.step_copied, paths.step_copied,
            "a step copied parameters"
        );
        assert_ne!(learn.model.l1.weight.val().into_data(), before);

        // A clone kept alive while stepping is seen: one copy per parameter (4).
        let kept = learn.model.clone();
        let xb = Tensor::<4>::ones([2, 1, 2, 2], &dev);
        let yb = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &dev);
        let mut grads = cross_entropy(kept.forward(xb), yb).backward();
        let stepped = learn.opt.step(kept.clone(), &mut grads);
        assert_eq!(
            fastburn_flex::fast_paths().step_copied - after.step_copied,
            4
        );
        drop((kept, stepped));
    }

    /// Every callback sees the others during a fit, the recorder among them, with what they
    /// hold at that point of the fit.
    #[test]
    fn callbacks_see_the_recorder_and_each_other_during_the_fit() {
        #[derive(Default)]
        struct Counter(usize);
        impl<M: Model> Callback<M> for Counter {
            fn after_batch(
                &mut self,
                _: &mut Learner<M>,
                _: &mut FitState,
            ) -> crate::Result<Control> {
                self.0 += 1;
                Ok(Control::Continue)
            }
        }
        #[derive(Default)]
        struct Watcher(Vec<(usize, usize)>);
        impl<M: Model> Callback<M> for Watcher {
            fn order(&self) -> i32 {
                100
            }
            fn after_batch(
                &mut self,
                learn: &mut Learner<M>,
                _: &mut FitState,
            ) -> crate::Result<Control> {
                let seen = learn.cb::<Counter>().map_or(0, |c| c.0);
                self.0.push((learn.recorder().losses.len(), seen));
                Ok(Control::Continue)
            }
        }
        let mut learn = tiny_learner();
        learn.add_cb(Counter::default()).add_cb(Watcher::default());
        learn.fit(1, 0.01).unwrap();
        let seen = &learn.cb::<Watcher>().unwrap().0;
        assert_eq!(seen, &[(1, 1), (2, 2), (3, 3), (4, 4)]);
        let _: &Recorder = learn.recorder();
        assert_eq!(learn.recorder().losses.len(), 4);
    }

    #[test]
    fn slices_spread_on_a_log_scale() {
        let lrs = Lr::Slice(1e-5, 1e-3).per_group(3);
        assert!((lrs[0] - 1e-5).abs() < 1e-18 && (lrs[1] - 1e-4).abs() < 1e-15);
        assert!((lrs[2] - 1e-3).abs() < 1e-15);
        assert_eq!(Lr::Slice(1e-5, 1e-3).per_group(1), vec![1e-3]);
        // fastai's slice(1e-3) over three groups: [1e-4, 1e-4, 1e-3].
        assert_eq!(
            Lr::Stop(1e-3).per_group(3),
            vec![1e-3 / 10.0, 1e-3 / 10.0, 1e-3]
        );
        assert_eq!(Lr::Stop(1e-3).per_group(1), vec![1e-3]);
        assert_eq!(Lr::from(0.1).per_group(2), vec![0.1, 0.1]);
    }
}
