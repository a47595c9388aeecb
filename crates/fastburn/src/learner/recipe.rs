//! How fastburn trains an architecture when nothing else is said, decided in one place: the
//! command line, the benches and a library user start from the same numbers.

use burn::prelude::*;

use super::base::Learner;
use super::optimizer::{ADAM, SGD, Stepper};
use super::schedule::FINE_TUNE_LR;
use crate::data::{AnyImageDataset, DataLoaders};
use crate::error::Result;
use crate::loss::{LossFn, cross_entropy, label_smoothing_cross_entropy, mnist_loss};
use crate::metrics::{ACCURACY, BATCH_ACCURACY, Metric};
use crate::models::{AnyModel, Arch};

/// A training recipe: epochs, learning rate, batch size and schedule, with the optimizer, loss
/// and metric that go with the architecture.
///
/// - The chapter's linear models (`linear`, `simple-net`): fastai's `SGD`, `mnist_loss`,
///   `batch_accuracy`, a constant rate (1.0 for 10 epochs, 0.1 for 40), batches of 256.
/// - The convolutional models: fastai's `vision_learner` (Adam, cross-entropy, accuracy) with
///   `fit_one_cycle(1, 0.1)` on batches of 64, as the chapter trains its ResNet.
/// - All ten MNIST digits ([`Recipe::all_digits`]): `simple_cnn`, one cycle of 4 epochs peaking at
///   0.02, batches of 256, label smoothing 0.1 (chosen by the measurements in bench/README.md).
/// - EfficientNet-Lite0 from scratch: `fit_one_cycle(1)` at fastai's default rate (1e-3) on
///   batches of 64.
/// - A pretrained body ([`Recipe::pretrained`]): fastai's `fine_tune(1)` (base rate 2e-3) on
///   batches of 64, as fastbook trains one.
///
/// ```
/// use fastburn::learner::Recipe;
/// use fastburn::models::Arch;
/// let r = Recipe::for_arch(Arch::SimpleNet);
/// assert_eq!((r.epochs, r.lr, r.bs, r.one_cycle), (40, 0.1, 256, false));
/// let r = Recipe { epochs: 2, ..Recipe::for_arch(Arch::Resnet18) };
/// assert_eq!((r.epochs, r.lr, r.bs, r.one_cycle), (2, 0.1, 64, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipe {
    pub arch: Arch,
    pub epochs: usize,
    /// The learning rate (the peak, with one cycle).
    pub lr: f64,
    pub bs: usize,
    /// fastai's one-cycle schedule (`fit_one_cycle`) rather than a constant rate (`fit`).
    pub one_cycle: bool,
    /// fastai's `LabelSmoothingCrossEntropy` (eps 0.1) instead of cross-entropy (convolutional
    /// models only).
    pub label_smoothing: bool,
    /// fastai's `fine_tune(epochs, lr)` (one epoch with the body frozen, then `epochs` of
    /// everything) rather than one fit: for a pretrained body.
    pub fine_tune: bool,
}

impl Recipe {
    /// The chapter's recipe for `arch`.
    pub fn for_arch(arch: Arch) -> Recipe {
        let (epochs, lr, bs) = match arch {
            Arch::Linear => (10, 1.0, 256),
            Arch::SimpleNet => (40, 0.1, 256),
            Arch::Resnet18 | Arch::Resnet34 | Arch::Resnet50 | Arch::SimpleCnn => (1, 0.1, 64),
            Arch::EfficientNetLite0 => (1, 1e-3, 64),
        };
        Recipe {
            arch,
            epochs,
            lr,
            bs,
            one_cycle: arch.is_vision(),
            label_smoothing: false,
            fine_tune: false,
        }
    }

    /// The recipe for `arch`'s body from pretrained weights: fastai's `fine_tune(1, 2e-3)`.
    ///
    /// ```
    /// use fastburn::learner::Recipe;
    /// use fastburn::models::Arch;
    /// let r = Recipe::pretrained(Arch::EfficientNetLite0);
    /// assert_eq!((r.epochs, r.lr, r.bs, r.fine_tune), (1, 2e-3, 64, true));
    /// ```
    pub fn pretrained(arch: Arch) -> Recipe {
        Recipe {
            epochs: 1,
            lr: FINE_TUNE_LR,
            fine_tune: true,
            ..Recipe::for_arch(arch)
        }
    }

    /// The all-digits recipe: what the command line runs on all ten MNIST digits.
    pub fn all_digits() -> Recipe {
        Recipe {
            arch: Arch::SimpleCnn,
            epochs: 4,
            lr: 0.02,
            bs: 256,
            one_cycle: true,
            label_smoothing: true,
            fine_tune: false,
        }
    }

    /// The optimizer the architecture trains with.
    pub fn opt_func(&self) -> Box<dyn Stepper> {
        if self.arch.is_vision() {
            Box::new(ADAM)
        } else {
            Box::new(SGD)
        }
    }

    /// The loss: `mnist_loss` for the chapter's one-output models, (label-smoothed)
    /// cross-entropy for the convolutional ones.
    pub fn loss_func(&self) -> LossFn {
        match (self.arch.is_vision(), self.label_smoothing) {
            (false, _) => mnist_loss,
            (true, false) => cross_entropy,
            (true, true) => label_smoothing_cross_entropy,
        }
    }

    /// The metric the table shows.
    pub fn metric(&self) -> Metric {
        if self.arch.is_vision() {
            ACCURACY
        } else {
            BATCH_ACCURACY
        }
    }

    /// A learner for a new model of the recipe's architecture on `dls`: one output for the
    /// chapter's models, one per class for the others, taking the data's channels. Weights are
    /// drawn from the device's generator, seeded by the caller.
    pub fn learner(&self, dls: DataLoaders<AnyImageDataset>, device: &Device) -> Learner<AnyModel> {
        let model = if self.arch.is_vision() {
            self.arch
                .build_for(dls.item_tfms.channels, dls.vocab.len(), device)
        } else {
            self.arch.build(1, device)
        };
        self.learner_for(dls, model)
    }

    /// A learner for `model` (of the recipe's architecture, as loaded from a file) on `dls`.
    pub fn learner_for(
        &self,
        dls: DataLoaders<AnyImageDataset>,
        model: AnyModel,
    ) -> Learner<AnyModel> {
        Learner::new(
            dls,
            model,
            self.opt_func(),
            self.loss_func(),
            vec![self.metric()],
        )
    }

    /// Train `learn` as the recipe says: `fine_tune(epochs, lr)`, `fit_one_cycle(epochs, lr)` or
    /// `fit(epochs, lr)`.
    pub fn fit(&self, learn: &mut Learner<AnyModel>) -> Result<()> {
        if self.fine_tune {
            learn.fine_tune(self.epochs, self.lr)
        } else if self.one_cycle {
            learn.fit_one_cycle(self.epochs, self.lr)
        } else {
            learn.fit(self.epochs, self.lr)
        }
    }
}
