//! fastai's learning-rate finder: train briefly with an exponentially growing learning rate and
//! watch where the loss falls fastest.

use std::path::Path;

use super::base::{FitState, Learner};
use super::callback::{Callback, Control};
use super::optimizer::Optimizer;
use super::recorder::Recorder;
use crate::error::Result;
use crate::models::Model;
use crate::show::{Mark, Panel, Series, save_plot};

/// What `lr_find` saw: the learning rates tried, the smoothed loss at each, and a suggestion.
#[derive(Debug, Clone)]
pub struct LrFind {
    pub lrs: Vec<f64>,
    pub losses: Vec<f32>,
    /// fastai's default suggestion (`valley`): a rate inside the longest stretch of falling loss.
    pub suggestion: f64,
}

/// fastai's `valley`: the longest decreasing run of `losses`, and a rate two thirds of the way
/// down it (skipping the first 10% and last 5 points, as fastai does).
pub fn valley(lrs: &[f64], losses: &[f32]) -> f64 {
    let n_all = losses.len();
    let start = n_all / 10;
    let end = n_all.saturating_sub(5).max(start + 1).min(n_all);
    let (lrs, losses) = (&lrs[start..end], &losses[start..end]);
    let n = losses.len();
    if n < 2 {
        return lrs.first().copied().unwrap_or(1e-3);
    }
    let mut lds = vec![1usize; n];
    // Signed: fastai's `max_end - lds[max_end]` is -1 when the descent starts at the first point.
    let (mut max_start, mut max_end) = (0isize, 0usize);
    for i in 1..n {
        for j in 0..i {
            if losses[i] < losses[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[max_end] < lds[i] {
                max_end = i;
                max_start = max_end as isize - lds[max_end] as isize;
            }
        }
    }
    let sections = (max_end as isize - max_start) as f64 / 3.0;
    let idx = max_start + sections as isize + (sections / 2.0) as isize;
    lrs[idx.clamp(0, n as isize - 1) as usize]
}

impl LrFind {
    /// Loss against learning rate on a log scale, with the suggestion marked.
    pub fn plot(&self, path: &Path) -> Result<()> {
        let curve = self
            .lrs
            .iter()
            .zip(&self.losses)
            .map(|(&l, &v)| (l, v as f64))
            .collect();
        let at = self
            .lrs
            .iter()
            .position(|&l| l >= self.suggestion)
            .unwrap_or(0);
        let mark = vec![(
            self.suggestion,
            self.losses.get(at).copied().unwrap_or(0.0) as f64,
        )];
        let panel = Panel {
            title: format!("lr_find: valley at {:.2e}", self.suggestion),
            x_label: "learning rate".into(),
            y_label: "loss".into(),
            series: vec![
                Series::line("", curve),
                Series {
                    name: "valley".into(),
                    points: mark,
                    mark: Mark::Points,
                },
            ],
            log_x: true,
        };
        save_plot(&[panel], 1, path)
    }
}

/// fastai's `LRFinder`: raise the learning rate exponentially from `start_lr` to `end_lr` over
/// `num_it` training batches, record the smoothed loss, and stop once it is 4 times its best.
/// Afterwards the model and optimizer are put back as they were before the sweep.
pub struct LRFinder<M: Model> {
    pub start_lr: f64,
    pub end_lr: f64,
    pub num_it: usize,
    pub lrs: Vec<f64>,
    pub losses: Vec<f32>,
    best: f32,
    saved: Option<(M, Optimizer)>,
}

impl<M: Model> LRFinder<M> {
    pub fn new(start_lr: f64, end_lr: f64, num_it: usize) -> Self {
        Self {
            start_lr,
            end_lr,
            num_it,
            lrs: Vec::new(),
            losses: Vec::new(),
            best: f32::INFINITY,
            saved: None,
        }
    }
}

impl<M: Model> Callback<M> for LRFinder<M> {
    // After the recorder, which smooths the loss this reads.
    fn order(&self) -> i32 {
        60
    }

    fn before_fit(&mut self, learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        self.saved = Some((learn.model.clone(), learn.opt.clone()));
        Ok(Control::Continue)
    }

    fn before_batch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        let pos = fit.train_iter as f64 / self.num_it as f64;
        let lr = self.start_lr * (self.end_lr / self.start_lr).powf(pos);
        let lrs = vec![lr; learn.opt.hypers.len()];
        learn.opt.set_lrs(&lrs);
        Ok(Control::Continue)
    }

    fn after_batch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        let smooth = fit.smooth_loss;
        if !smooth.is_finite() || smooth > 4.0 * self.best {
            return Ok(Control::CancelFit);
        }
        self.best = self.best.min(smooth);
        self.lrs.push(learn.opt.hypers.last().map_or(0.0, |h| h.lr));
        self.losses.push(smooth);
        if fit.train_iter >= self.num_it {
            return Ok(Control::CancelFit);
        }
        Ok(Control::Continue)
    }

    fn before_validate(&mut self, _learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        Ok(Control::SkipValidate)
    }

    fn after_fit(&mut self, learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        if let Some((model, opt)) = self.saved.take() {
            learn.model = model;
            learn.opt = opt;
        }
        Ok(Control::Continue)
    }
}

impl<M: Model> Learner<M> {
    /// Sweep the learning rate from `start_lr` to `end_lr` over `num_it` training batches
    /// (fastai: 1e-7, 10, 100), stopping early once the loss is 4 times its best. The model,
    /// optimizer and callbacks are as they were afterwards; no table is printed.
    pub fn lr_find(&mut self, start_lr: f64, end_lr: f64, num_it: usize) -> Result<LrFind> {
        let n_epoch = num_it.div_ceil(self.dls.train.len().max(1)).max(1);
        let finder = LRFinder::<M>::new(start_lr, end_lr, num_it);
        // The sweep runs with a fresh recorder and the finder alone: the learner's own
        // callbacks (its table, trackers, checkpoints) and history are put back afterwards.
        let found = self.with_callbacks(Recorder::default(), vec![Box::new(finder)], |learn| {
            learn.fit_with(n_epoch, None, Vec::new())?;
            let finder = learn.remove_cbs::<LRFinder<M>>().pop();
            Ok::<_, crate::Error>(finder)
        })?;
        let Some(found) = found else {
            unreachable!("the finder is in the list the sweep ran with")
        };
        let suggestion = valley(&found.lrs, &found.losses);
        Ok(LrFind {
            lrs: found.lrs,
            losses: found.losses,
            suggestion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::valley;

    #[test]
    fn valley_picks_inside_the_longest_descent() {
        // Flat, then falling steadily from index 20 to 79, then blowing up.
        let lrs: Vec<f64> = (0..100)
            .map(|i| 1e-7 * 10f64.powf(i as f64 * 8.0 / 100.0))
            .collect();
        let losses: Vec<f32> = (0..100)
            .map(|i| match i {
                0..20 => 1.0,
                20..80 => 1.0 - (i - 20) as f32 * 0.01,
                _ => 0.4 + (i - 79) as f32 * 0.5,
            })
            .collect();
        let s = valley(&lrs, &losses);
        let at = lrs.iter().position(|&l| l == s).unwrap();
        assert!((20..80).contains(&at), "index {at}");
        // A descent from the very first point (fastai's index -1 case) stays in range.
        let falling: Vec<f32> = (0..30).map(|i| 1.0 - i as f32 * 0.01).collect();
        let lrs: Vec<f64> = (0..30).map(|i| i as f64).collect();
        assert!(valley(&lrs, &falling) < 30.0);
    }
}
