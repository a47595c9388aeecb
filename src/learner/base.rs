//! fastai's `Learner`: data, model, optimizer, loss and metrics, and one small training loop that
//! fires callbacks at each step. Everything else (schedules, recording, the progress table,
//! saving, early stopping, checkpoints) is a callback that reads and changes the learner.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;

use super::callback::{Callback, Control, EpochValues, Event};
use super::checkpoint::{Checkpoint, Position};
use super::optimizer::{OptFunc, Optimizer};
use super::progress::ProgressCallback;
use super::recorder::Recorder;
use super::tracker::TerminateOnNaN;
use crate::data::{AnyImageDataset, DataLoaders, Dataset, ImageBatch, Prefetch};

/// Training batches prepared ahead of the one in use: enough to hide a slow batch, few enough
/// that memory holds a handful of batches.
const PREFETCH: usize = 3;
use crate::error::{Error, Result};
use crate::loss::LossFn;
use crate::metrics::Metric;
use crate::models::{Model, ModelInfo, load_into, save_model};

/// A learning rate for every parameter group, or fastai's `slice(start, end)`: rates spread
/// evenly on a log scale from the first group (the body) to the last (the head).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lr {
    Same(f64),
    Slice(f64, f64),
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
            Lr::Slice(_, end) if n <= 1 => vec![end],
            Lr::Slice(start, end) => {
                let step = (end / start).powf(1.0 / (n - 1) as f64);
                (0..n).map(|i| start * step.powi(i as i32)).collect()
            }
        }
    }

    /// The largest rate (the head's).
    pub fn max(self) -> f64 {
        match self {
            Lr::Same(lr) => lr,
            Lr::Slice(a, b) => a.max(b),
        }
    }
}

/// Everything needed to train a model, and the training loop.
///
/// The fields below `cbs` are the state of the fit in progress, as fastai's learner attributes:
/// callbacks read and change them.
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
/// assert!(learn.recorder().values[2].metrics[0] > 0.9);
/// # Ok::<(), fastburn::Error>(())
/// ```
pub struct Learner<M: Model> {
    pub dls: DataLoaders<AnyImageDataset>,
    pub model: M,
    pub loss_func: LossFn,
    pub metrics: Vec<Metric>,
    pub opt: Optimizer,
    /// The callbacks, run in their `order` (a [`Recorder`], a [`ProgressCallback`] and
    /// [`TerminateOnNaN`] to start).
    /// Taken out of the learner while `fit` runs them.
    pub cbs: Vec<Box<dyn Callback<M>>>,

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
    /// The current batch, its predictions and its loss.
    pub xb: Option<Tensor<4>>,
    pub yb: Option<Tensor<1, Int>>,
    pub pred: Option<Tensor<2>>,
    pub loss_grad: Option<Tensor<1>>,
    /// The current batch's loss, and its exponential moving average (kept by the [`Recorder`]).
    pub loss: f32,
    pub smooth_loss: f32,
    /// Set before `after_epoch`: the epoch's row of the table.
    pub epoch_values: Option<EpochValues>,
    /// Metric names, as the table and trackers show them.
    pub metric_names: Vec<String>,
    /// Set by a callback to have a checkpoint written here at the next batch or epoch end.
    pub checkpoint_due: Option<PathBuf>,

    /// Epoch shuffles used by earlier fits, so the next fit draws new ones.
    data_epoch: u64,
    resume: Option<Checkpoint>,
    epoch_start: Option<Instant>,
    epoch_carried: f64,
}

impl<M: Model> Learner<M> {
    pub fn new<D: Dataset<Batch = ImageBatch> + Send + Sync + 'static>(
        dls: DataLoaders<D>,
        model: M,
        opt_func: OptFunc,
        loss_func: LossFn,
        metrics: Vec<Metric>,
    ) -> Self {
        let (groups, step_mults) = (model.param_groups(), model.step_multipliers());
        // Burn draws a parameter's initial value when it is first used; draw them now, from the
        // generator as the caller seeded it, not from the training loop's per-batch seeds.
        force_init(&model);
        let metric_names = metrics.iter().map(|m| m.name.to_string()).collect();
        Self {
            dls: dls.boxed(),
            model,
            loss_func,
            metrics,
            opt: Optimizer::new(opt_func, groups).with_step_mults(step_mults),
            cbs: vec![
                Box::new(Recorder::default()),
                Box::new(ProgressCallback::stdout()),
                Box::new(TerminateOnNaN),
            ],
            n_epoch: 0,
            epoch: 0,
            training: false,
            iter: 0,
            n_iter: 0,
            train_iter: 0,
            total_train_iter: 0,
            pct_train: 0.0,
            xb: None,
            yb: None,
            pred: None,
            loss_grad: None,
            loss: 0.0,
            smooth_loss: 0.0,
            epoch_values: None,
            metric_names,
            checkpoint_due: None,
            data_epoch: 0,
            resume: None,
            epoch_start: None,
            epoch_carried: 0.0,
        }
    }

    /// Epoch shuffles drawn by earlier fits (the data order of this fit's epoch `e` is that of
    /// the loader's epoch `data_epoch() + e`).
    pub fn data_epoch(&self) -> u64 {
        self.data_epoch
    }

    /// The model as trained so far.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The first callback of type `T`, if the learner has one.
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

    /// What training recorded (fastai's `learn.recorder`); empty while `fit` runs.
    pub fn recorder(&self) -> &Recorder {
        static EMPTY: std::sync::OnceLock<Recorder> = std::sync::OnceLock::new();
        self.cb::<Recorder>()
            .unwrap_or_else(|| EMPTY.get_or_init(Recorder::default))
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

    /// Freeze the parameter groups before group `n` (fastai's `freeze_to`).
    pub fn freeze_to(&mut self, n: usize) {
        self.opt.frozen_to = n;
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
        let mut list = std::mem::take(&mut self.cbs);
        list.extend(extra);
        // Stable: equal orders run in the order added.
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.sort_by_key(|&i| list[i].order());
        let mut running = Running { list, order };
        let result = self.run_fit(n_epoch, &mut running);
        let extra = running.list.split_off(own);
        self.cbs = running.list;
        result.map(|()| extra)
    }

    /// Continue a run from a checkpoint written by a [`CheckpointCallback`](super::CheckpointCallback):
    /// the model and optimizer are loaded now; the next `fit` with the same epochs and schedule
    /// starts at the saved batch with every callback's saved state, and ends as the
    /// uninterrupted run would have.
    pub fn resume(&mut self, path: &Path) -> Result<()> {
        let ck = Checkpoint::read(path)?;
        self.model = ck.load_model(self.model.clone(), path)?;
        self.opt
            .load_state_bytes(&ck.opt_state)
            .map_err(|e| Error::ModelFile {
                path: path.to_path_buf(),
                reason: format!("{e}; delete the checkpoint and train from the start"),
            })?;
        self.model = self.opt.apply_freeze(self.model.clone());
        self.resume = Some(ck);
        Ok(())
    }

    fn fire(&mut self, event: Event, cbs: &mut Running<M>) -> Result<Control> {
        let mut control = Control::Continue;
        let mut failed = None;
        for &i in &cbs.order {
            match cbs.list[i].call(event, self) {
                Ok(c) => control = control.max(c),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // A checkpoint asked for (by Ctrl-C, say) is written even when a callback stops the run.
        let next = match event {
            Event::AfterBatch if self.training => Some(Position {
                epoch: self.epoch,
                iter: self.iter + 1,
            }),
            Event::AfterEpoch => Some(Position {
                epoch: self.epoch + 1,
                iter: 0,
            }),
            _ => None,
        };
        if let (Some(next), Some(path)) = (next, self.checkpoint_due.clone()) {
            self.checkpoint_due = None;
            self.write_checkpoint(&path, next, &cbs.list)?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(control),
        }
    }

    fn write_checkpoint(
        &mut self,
        path: &Path,
        next: Position,
        cbs: &[Box<dyn Callback<M>>],
    ) -> Result<()> {
        let elapsed = if next.iter == 0 {
            0.0
        } else {
            self.epoch_seconds()
        };
        Checkpoint::capture(self, next, elapsed, cbs)?.write(path)
    }

    fn epoch_seconds(&self) -> f64 {
        self.epoch_carried + self.epoch_start.map_or(0.0, |s| s.elapsed().as_secs_f64())
    }

    fn run_fit(&mut self, n_epoch: usize, cbs: &mut Running<M>) -> Result<()> {
        let n_train = self.dls.train.len();
        self.n_epoch = n_epoch;
        self.total_train_iter = n_epoch * n_train;
        self.train_iter = 0;
        self.epoch_values = None;
        let resume = self.resume.take();
        let mut start = Position { epoch: 0, iter: 0 };
        let result = (|| -> Result<()> {
            if self.fire(Event::BeforeFit, cbs)? >= Control::CancelFit {
                return Ok(());
            }
            if let Some(ck) = &resume {
                ck.check_fits(n_epoch, n_train)?;
                ck.restore_callbacks(&mut cbs.list)?;
                self.data_epoch = ck.data_epoch;
                start = ck.next;
                self.train_iter = start.epoch * n_train + start.iter;
                self.epoch_carried = ck.epoch_seconds;
                (self.loss, self.smooth_loss) = (ck.loss, ck.smooth_loss);
            }
            for epoch in start.epoch..n_epoch {
                self.epoch = epoch;
                self.epoch_values = None;
                self.epoch_start = Some(Instant::now());
                if epoch != start.epoch || start.iter == 0 {
                    self.epoch_carried = 0.0;
                }
                let c = self.fire(Event::BeforeEpoch, cbs)?;
                if c >= Control::CancelFit {
                    return Ok(());
                }
                let skip = if epoch == start.epoch { start.iter } else { 0 };
                match self.train_epoch(cbs, skip)? {
                    Control::CancelFit => return Ok(()),
                    Control::CancelEpoch => continue,
                    _ => {}
                }
                if self.validate_epoch(cbs)? >= Control::CancelFit {
                    return Ok(());
                }
                if self.fire(Event::AfterEpoch, cbs)? >= Control::CancelFit {
                    return Ok(());
                }
            }
            Ok(())
        })();
        self.data_epoch += (self.epoch + 1).min(n_epoch) as u64;
        self.xb = None;
        self.yb = None;
        self.pred = None;
        self.loss_grad = None;
        let after = self.fire(Event::AfterFit, cbs);
        result.and(after.map(drop))
    }

    /// The seed of training batch number `train_iter` (counted over the whole fit): its
    /// augmentation and its dropout masks.
    fn batch_seed(&self, train_iter: usize) -> u64 {
        self.dls.train.seed ^ (train_iter as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// The device the model's parameters are on.
    pub fn device(&self) -> burn::prelude::Device {
        self.model
            .devices()
            .into_iter()
            .next()
            .unwrap_or_else(burn::prelude::Device::flex)
    }

    /// One epoch's training batches, from batch `skip` on (a resumed run).
    fn train_epoch(&mut self, cbs: &mut Running<M>, skip: usize) -> Result<Control> {
        self.training = true;
        self.n_iter = self.dls.train.len();
        let c = self.fire(Event::BeforeTrain, cbs)?;
        if c >= Control::CancelEpoch {
            return Ok(c);
        }
        let batches = self
            .dls
            .train
            .batch_indices_for(self.data_epoch + self.epoch as u64);
        let device = self.device();
        // Batches are built ahead on a worker thread (decoding, resizing, augmenting overlap the
        // step); each from its own seed, so a resumed run gets the same ones.
        let jobs: Vec<(Vec<usize>, u64)> = batches
            .into_iter()
            .enumerate()
            .skip(skip)
            .map(|(i, idx)| (idx, self.batch_seed(self.train_iter + i - skip)))
            .collect();
        let mut prepared = Prefetch::new(self.dls.train.dataset.clone(), jobs, PREFETCH);
        for i in skip..self.n_iter {
            let Some((xb, yb)) = prepared.next() else {
                break;
            };
            self.iter = i;
            self.pct_train = self.train_iter as f64 / self.total_train_iter.max(1) as f64;
            // Random layers (dropout) draw from a generator seeded per batch, so a run resumed
            // at any batch draws what the uninterrupted run drew.
            device.seed(self.batch_seed(self.train_iter));
            (self.xb, self.yb) = (Some(xb), Some(yb));
            let c = self.one_batch(cbs)?;
            self.train_iter += 1;
            let after = self.fire(Event::AfterBatch, cbs)?;
            match c.max(after) {
                Control::CancelFit => return Ok(Control::CancelFit),
                Control::CancelEpoch => return Ok(Control::CancelEpoch),
                _ => {}
            }
        }
        let c = self.fire(Event::AfterTrain, cbs)?;
        Ok(c)
    }

    /// fastai's `_do_one_batch`: predictions, loss, backward pass, step, each followed by its event.
    fn one_batch(&mut self, cbs: &mut Running<M>) -> Result<Control> {
        let c = self.fire(Event::BeforeBatch, cbs)?;
        if c != Control::Continue {
            return Ok(c);
        }
        let (Some(xb), Some(yb)) = (self.xb.clone(), self.yb.clone()) else {
            return Ok(Control::SkipBatch);
        };
        let pred = self.model.forward(xb);
        let loss = (self.loss_func)(pred.clone(), yb);
        self.loss = loss.clone().into_scalar::<f32>();
        (self.pred, self.loss_grad) = (Some(pred), Some(loss));
        let c = self.fire(Event::AfterLoss, cbs)?;
        if c != Control::Continue {
            return Ok(c);
        }
        let Some(loss) = self.loss_grad.take() else {
            return Ok(Control::SkipBatch);
        };
        let mut grads = loss.backward();
        let c = self.fire(Event::BeforeStep, cbs)?;
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
        self.fire(Event::AfterStep, cbs)
    }

    fn validate_epoch(&mut self, cbs: &mut Running<M>) -> Result<Control> {
        self.training = false;
        self.n_iter = self.dls.valid.len();
        let c = self.fire(Event::BeforeValidate, cbs)?;
        if c >= Control::CancelEpoch {
            return Ok(c);
        }
        let (valid_loss, metrics) = if c == Control::SkipValidate {
            (f32::NAN, vec![f32::NAN; self.metrics.len()])
        } else {
            self.validate()
        };
        let c = self.fire(Event::AfterValidate, cbs)?;
        self.epoch_values = Some(EpochValues {
            epoch: self.epoch,
            train_loss: self.smooth_loss,
            valid_loss,
            metrics,
            seconds: self.epoch_seconds(),
        });
        Ok(c)
    }

    /// Loss and metrics over the validation set, each averaged over items.
    pub fn validate(&self) -> (f32, Vec<f32>) {
        let model = self.model.clone().valid();
        let (mut loss, mut n) = (0.0f64, 0usize);
        let mut metrics = vec![0.0f64; self.metrics.len()];
        for (xb, yb) in self.dls.valid.epoch(0) {
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
        self.model.clone().valid().forward(x.inner())
    }

    /// The data's item transforms, with the size and channels of its inputs filled in when the
    /// data does not resize (so a model file always says what input it takes).
    fn input_tfms(&self) -> crate::data::ItemTfms {
        let mut tfms = self.dls.item_tfms.clone();
        let ds = &self.dls.valid.dataset;
        if tfms.size.is_none() && !ds.is_empty() {
            let [_, c, h, w] = ds.batch(&[0]).0.dims();
            (tfms.channels, tfms.size) = (c, Some((h, w)));
        }
        tfms
    }

    /// What a model file written by [`save`](Self::save) says about this learner's model.
    pub fn model_info(&self) -> Result<ModelInfo> {
        let arch = self.model.arch().ok_or_else(|| {
            Error::Invalid("this model has no architecture name a model file can hold".into())
        })?;
        Ok(ModelInfo {
            arch,
            vocab: self.dls.vocab.clone(),
            norm: self.dls.norm.clone(),
            n_out: self.model.n_out(),
            item_tfms: self.input_tfms(),
        })
    }

    /// Save the model (with its architecture, classes and normalisation) to `path`, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_model(&self.model, &self.model_info()?, path)
    }

    /// Replace the model's weights with those saved in `path` (fastai's `learn.load`).
    pub fn load(&mut self, path: &Path) -> Result<ModelInfo> {
        let (loaded, info) = load_into(self.model.clone(), path)?;
        self.model = self.opt.apply_freeze(loaded);
        Ok(info)
    }
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

/// The callbacks of a fit in the order they were added (which keys their checkpoint state), and
/// the order they run in.
struct Running<M: Model> {
    list: Vec<Box<dyn Callback<M>>>,
    order: Vec<usize>,
}

/// `0.01`, `1e39`: a learning rate as a person writes it.
pub(crate) fn short_float(x: f64) -> String {
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

#[cfg(test)]
mod tests {
    use super::Lr;
    use crate::data::{DataLoader, DataLoaders, TensorDataset};
    use crate::learner::{Learner, OptFunc};
    use crate::loss::cross_entropy;
    use crate::models::{Model, simple_net};
    use burn::prelude::*;

    /// The Learner hands its model to the optimizer without keeping a clone, so every
    /// parameter is stepped in its own buffer: a clone would make each step copy the whole
    /// model first (47 MB per batch for a ResNet-18). The counter is checked to see a clone.
    #[test]
    fn the_step_updates_parameters_without_copying_them() {
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
        };
        let mut learn = Learner::new(
            dls,
            simple_net(4, 8, 2, &dev),
            OptFunc::ADAM,
            cross_entropy,
            vec![],
        );
        learn.quiet(true);
        let before = learn.model.l1.weight.val().into_data();
        learn.fit(2, 0.01).unwrap();
        assert_eq!(learn.opt.copied_steps, 0, "a step copied parameters");
        assert_ne!(learn.model.l1.weight.val().into_data(), before);

        // A clone kept alive while stepping is seen: one copy per parameter (4).
        let kept = learn.model.clone();
        let xb = Tensor::<4>::ones([2, 1, 2, 2], &dev);
        let yb = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &dev);
        let mut grads = cross_entropy(kept.forward(xb), yb).backward();
        let stepped = learn.opt.step(kept.clone(), &mut grads);
        assert_eq!(learn.opt.copied_steps, 4);
        drop((kept, stepped));
    }

    #[test]
    fn slices_spread_on_a_log_scale() {
        let lrs = Lr::Slice(1e-5, 1e-3).per_group(3);
        assert!((lrs[0] - 1e-5).abs() < 1e-18 && (lrs[1] - 1e-4).abs() < 1e-15);
        assert!((lrs[2] - 1e-3).abs() < 1e-15);
        assert_eq!(Lr::Slice(1e-5, 1e-3).per_group(1), vec![1e-3]);
        assert_eq!(Lr::from(0.1).per_group(2), vec![0.1, 0.1]);
    }
}
