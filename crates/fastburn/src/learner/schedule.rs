//! Hyper-parameter schedules (fastai's `callback/schedule.py`): cosine pieces, the one-cycle
//! policy, and `ParamScheduler`, the callback that sets each batch's hyper-parameters.

use std::f64::consts::PI;
use std::sync::Arc;

use super::base::{FitState, Learner, Lr};
use super::callback::{Callback, Control};
use super::checkpoint::Stage;
use crate::error::Result;
use crate::models::Model;

/// A hyper-parameter's value as a function of training progress (0 at the first batch of the
/// fit, towards 1 at its last).
pub type Sched = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

/// Which hyper-parameter a schedule moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hyper {
    Lr,
    Mom,
}

/// fastai's `ParamScheduler`: before each training batch, set each scheduled hyper-parameter of
/// each parameter group from its schedule.
///
/// ```
/// use std::sync::Arc;
/// use fastburn::learner::{Hyper, ParamScheduler, Sched};
/// // A linear warm-up of the learning rate to 0.1 over the whole fit.
/// let warm: Sched = Arc::new(|pct| 0.1 * pct);
/// let sched = ParamScheduler::new().with(Hyper::Lr, vec![warm]);
/// assert_eq!(sched.scheds.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct ParamScheduler {
    /// Each hyper-parameter's schedules: one per parameter group, or one for all.
    pub scheds: Vec<(Hyper, Vec<Sched>)>,
}

impl ParamScheduler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, hyper: Hyper, scheds: Vec<Sched>) -> Self {
        self.scheds.push((hyper, scheds));
        self
    }

    /// The one-cycle policy for learning rates peaking at `lr_maxes` (one per group).
    pub fn one_cycle(cycle: OneCycle, lr_maxes: &[f64]) -> Self {
        let lrs = lr_maxes
            .iter()
            .map(|&lr_max| {
                let c = OneCycle { lr_max, ..cycle };
                Arc::new(move |p| c.lr(p)) as Sched
            })
            .collect();
        let mom: Sched = Arc::new(move |p| cycle.mom(p));
        Self::new().with(Hyper::Lr, lrs).with(Hyper::Mom, vec![mom])
    }
}

impl<M: Model> Callback<M> for ParamScheduler {
    // Before the recorder, so it records the values this batch used.
    fn order(&self) -> i32 {
        10
    }

    fn before_batch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if !fit.training {
            return Ok(Control::Continue);
        }
        let pct = fit.pct_train;
        for (hyper, scheds) in &self.scheds {
            if scheds.is_empty() {
                continue;
            }
            for (g, h) in learn.opt.hypers.iter_mut().enumerate() {
                let v = scheds[g.min(scheds.len() - 1)](pct);
                match hyper {
                    Hyper::Lr => h.lr = v,
                    Hyper::Mom => h.mom = v,
                }
            }
        }
        Ok(Control::Continue)
    }
}

impl<M: Model> Learner<M> {
    /// Train with fastai's one-cycle policy peaking at `lr_max` (one rate, or `Lr::Slice` for
    /// discriminative rates across parameter groups); the momentum cycles the other way.
    pub fn fit_one_cycle(&mut self, n_epoch: usize, lr_max: impl Into<Lr>) -> Result<()> {
        self.fit_one_cycle_with(n_epoch, lr_max, OneCycle::new(0.0))
    }

    /// [`fit_one_cycle`](Self::fit_one_cycle) with other `div`, `div_final`, `pct_start` or
    /// `moms` (`cycle.lr_max` is ignored: the rates come from `lr_max`).
    pub fn fit_one_cycle_with(
        &mut self,
        n_epoch: usize,
        lr_max: impl Into<Lr>,
        cycle: OneCycle,
    ) -> Result<()> {
        let lrs = lr_max.into().per_group(self.opt.hypers.len());
        let sched = ParamScheduler::one_cycle(cycle, &lrs);
        self.fit_with(n_epoch, None, vec![Box::new(sched)])
            .map(drop)
    }
}

/// fastai's `fine_tune` settings besides the epochs and the base rate, with its defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FineTune {
    /// Epochs with the body frozen, before `epochs` of training everything.
    pub freeze_epochs: usize,
    /// The body's rate is the head's divided by this once unfrozen.
    pub lr_mult: f64,
    /// The warm-up's share of the unfrozen cycle.
    pub pct_start: f64,
    /// The unfrozen cycle starts at its peak rate divided by this.
    pub div: f64,
}

impl Default for FineTune {
    fn default() -> Self {
        Self {
            freeze_epochs: 1,
            lr_mult: 100.0,
            pct_start: 0.3,
            div: 5.0,
        }
    }
}

/// fastai's default `base_lr` for [`Learner::fine_tune`].
pub const FINE_TUNE_LR: f64 = 2e-3;

impl<M: Model> Learner<M> {
    /// fastai's `fine_tune(epochs, base_lr)` for a pretrained body: train the head (and the
    /// body's norm layers) for one epoch, then everything for `epochs`, the body slower.
    ///
    /// The body was trained on another task: its features are good, the new head is random, and
    /// large gradients through a random head would spoil the body. So, exactly as fastai:
    /// `freeze()`, `fit_one_cycle(1, slice(base_lr), pct_start=0.99)`, `base_lr /= 2`,
    /// `unfreeze()`, `fit_one_cycle(epochs, slice(base_lr/100, base_lr), pct_start=0.3, div=5)`.
    pub fn fine_tune(&mut self, epochs: usize, base_lr: f64) -> Result<()> {
        self.fine_tune_with(epochs, base_lr, FineTune::default())
    }

    /// [`fine_tune`](Self::fine_tune) with other settings.
    pub fn fine_tune_with(&mut self, epochs: usize, base_lr: f64, ft: FineTune) -> Result<()> {
        // A run resumed from a checkpoint goes on in the fit that wrote it: `resume` restored the
        // optimizer as it was (frozen or not, with its moving averages), which freezing or
        // unfreezing again would clear.
        let resumed = self.resume.as_ref().map(|(ck, _)| ck.stage);
        let result = (|| {
            if resumed != Some(Stage::Unfrozen) {
                if resumed.is_none() {
                    self.freeze();
                }
                if ft.freeze_epochs > 0 || resumed.is_some() {
                    let frozen = OneCycle {
                        pct_start: 0.99,
                        ..OneCycle::new(base_lr)
                    };
                    self.stage = Stage::Frozen;
                    self.fit_one_cycle_with(ft.freeze_epochs, Lr::Stop(base_lr), frozen)?;
                }
                self.unfreeze();
            }
            let base_lr = base_lr / 2.0;
            let unfrozen = OneCycle {
                pct_start: ft.pct_start,
                div: ft.div,
                ..OneCycle::new(base_lr)
            };
            self.stage = Stage::Unfrozen;
            self.fit_one_cycle_with(epochs, Lr::Slice(base_lr / ft.lr_mult, base_lr), unfrozen)
        })();
        self.stage = Stage::Fit;
        result
    }
}

/// Cosine from `start` to `end` as `pos` goes from 0 to 1 (fastai's `SchedCos`).
pub fn sched_cos(start: f64, end: f64, pos: f64) -> f64 {
    start + (1.0 + (PI * (1.0 - pos)).cos()) * (end - start) / 2.0
}

/// Cosine from `start` to `middle` over the first `pct` of training, then to `end`
/// (fastai's `combined_cos`).
pub fn combined_cos(pct: f64, start: f64, middle: f64, end: f64, pos: f64) -> f64 {
    if pos < pct {
        sched_cos(start, middle, pos / pct)
    } else {
        sched_cos(middle, end, (pos - pct) / (1.0 - pct))
    }
}

/// The one-cycle policy with fastai's defaults: the learning rate warms up from `lr_max/25` to
/// `lr_max` over the first 25% of the batches, then anneals to `lr_max/1e5`; momentum moves the
/// other way, 0.95 → 0.85 → 0.95.
///
/// ```
/// use fastburn::learner::OneCycle;
/// let s = OneCycle::new(0.1);
/// assert!((s.lr(0.0) - 0.004).abs() < 1e-12);
/// assert!((s.lr(0.25) - 0.1).abs() < 1e-12);
/// assert!((s.mom(0.25) - 0.85).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneCycle {
    pub lr_max: f64,
    pub div: f64,
    pub div_final: f64,
    pub pct_start: f64,
    pub moms: (f64, f64, f64),
}

impl OneCycle {
    pub fn new(lr_max: f64) -> Self {
        Self {
            lr_max,
            div: 25.0,
            div_final: 1e5,
            pct_start: 0.25,
            moms: (0.95, 0.85, 0.95),
        }
    }

    /// Learning rate at `pct` (0 at the first batch, towards 1 at the last).
    pub fn lr(&self, pct: f64) -> f64 {
        combined_cos(
            self.pct_start,
            self.lr_max / self.div,
            self.lr_max,
            self.lr_max / self.div_final,
            pct,
        )
    }

    /// Momentum (Adam's first-moment coefficient) at `pct`.
    pub fn mom(&self, pct: f64) -> f64 {
        combined_cos(self.pct_start, self.moms.0, self.moms.1, self.moms.2, pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_matches_fastai_at_known_points() {
        let s = OneCycle::new(0.1);
        // Start, peak, end of the warm-up and of the annealing.
        assert!((s.lr(0.0) - 0.1 / 25.0).abs() < 1e-12);
        assert!((s.lr(0.25) - 0.1).abs() < 1e-12);
        assert!((s.lr(1.0) - 0.1 / 1e5).abs() < 1e-12);
        // Half-way through each phase the cosine is half-way between its ends.
        assert!((s.lr(0.125) - (0.004 + 0.1) / 2.0).abs() < 1e-12);
        assert!((s.lr(0.625) - (0.1 + 1e-6) / 2.0).abs() < 1e-12);
        // fastai: combined_cos(0.25, 0.95, 0.85, 0.95).
        assert!((s.mom(0.0) - 0.95).abs() < 1e-12);
        assert!((s.mom(0.25) - 0.85).abs() < 1e-12);
        assert!((s.mom(0.625) - 0.90).abs() < 1e-12);
        assert!((s.mom(1.0) - 0.95).abs() < 1e-12);
        // Monotone within each phase.
        let lrs: Vec<f64> = (0..=100).map(|i| s.lr(i as f64 / 100.0)).collect();
        assert!(lrs[..25].windows(2).all(|w| w[0] < w[1]));
        assert!(lrs[25..].windows(2).all(|w| w[0] > w[1]));
    }
}
