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

/// What `lr_find` saw: the learning rates tried, the smoothed loss at each, and fastai's four
/// suggestions.
#[derive(Debug, Clone)]
pub struct LrFind {
    pub lrs: Vec<f64>,
    pub losses: Vec<f32>,
    /// fastai's default suggestion (`valley`): a rate inside the longest stretch of falling loss.
    pub suggestion: f64,
    /// All four of fastai 2.8's suggestion functions, each with the point it marks on the plot.
    pub suggestions: Suggestions,
}

/// A suggested learning rate and the point (rate, loss) fastai marks for it on the plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Suggestion {
    pub lr: f64,
    pub mark: (f64, f64),
}

/// fastai 2.8's suggestion functions (`valley`, `slide`, `minimum`, `steep` in
/// `callback/schedule.py`), computed as `learn.lr_find(suggest_funcs=(valley, slide, minimum,
/// steep))` does: on the sweep without its first `num_it / 10` points and its last 5, and before
/// the first NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Suggestions {
    /// The longest valley: two thirds of the way down the longest decreasing run (the default).
    pub valley: Suggestion,
    /// The interval slide rule: the lowest rate past which the loss gradient stops changing.
    pub slide: Suggestion,
    /// A tenth of the rate at the lowest loss (marked at that rate).
    pub minimum: Suggestion,
    /// Where the loss falls fastest against log rate.
    pub steep: Suggestion,
}

impl Suggestions {
    /// The four from a sweep of `num_it` batches (fastai's 100 by default), or `None` when too
    /// little of it is left to judge (the sweep diverged at once).
    ///
    /// ```
    /// use fastburn::learner::Suggestions;
    /// // Flat, falling from point 20 to 79, then diverging.
    /// let lrs: Vec<f64> = (0..100).map(|i| 1e-7 * 10f64.powf(i as f64 * 0.08)).collect();
    /// let losses: Vec<f32> = (0..100)
    ///     .map(|i| match i { 0..20 => 1.0, 20..80 => 1.0 - (i - 20) as f32 * 0.01, _ => 2.0 })
    ///     .collect();
    /// let s = Suggestions::new(&lrs, &losses, 100).unwrap();
    /// assert!(s.valley.lr > lrs[20] && s.valley.lr < lrs[79]);
    /// assert_eq!(s.minimum.mark.0, lrs[79]);
    /// assert_eq!(s.minimum.lr, lrs[79] / 10.0);
    /// ```
    pub fn new(lrs: &[f64], losses: &[f32], num_it: usize) -> Option<Suggestions> {
        let n_all = losses.len().min(lrs.len());
        let start = num_it / 10;
        // Python's `[num_it//10:-5]`, then cut at the first NaN.
        let mut end = n_all.saturating_sub(5);
        if end < start + 2 {
            return None;
        }
        if let Some(nan) = losses[start..end].iter().position(|l| l.is_nan()) {
            end = start + nan;
        }
        if end < start + 2 {
            return None;
        }
        let (lrs, losses) = (&lrs[start..end], &losses[start..end]);
        Some(Suggestions {
            valley: valley_of(lrs, losses),
            slide: slide(lrs, losses),
            minimum: minimum(lrs, losses),
            steep: steep(lrs, losses),
        })
    }

    /// Each with fastai's name, in fastai's order.
    pub fn named(&self) -> [(&'static str, Suggestion); 4] {
        [
            ("valley", self.valley),
            ("slide", self.slide),
            ("minimum", self.minimum),
            ("steep", self.steep),
        ]
    }
}

/// fastai's `valley` on a whole sweep of `lrs.len()` batches (see [`Suggestions::new`]): the
/// longest decreasing run of `losses`, and a rate two thirds of the way down it.
pub fn valley(lrs: &[f64], losses: &[f32]) -> f64 {
    match Suggestions::new(lrs, losses, lrs.len()) {
        Some(s) => s.valley.lr,
        None => lrs.first().copied().unwrap_or(1e-3),
    }
}

fn valley_of(lrs: &[f64], losses: &[f32]) -> Suggestion {
    let n = losses.len();
    let mut lds = vec![1usize; n];
    // Signed: fastai's `max_end - lds[max_end]` is -1 when the descent starts at the first point,
    // and Python then indexes from the end.
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
    let idx = idx.rem_euclid(n as isize) as usize;
    Suggestion {
        lr: lrs[idx],
        mark: (lrs[idx], losses[idx] as f64),
    }
}

/// numpy's `gradient` with unit spacing: central differences inside, one-sided at the ends.
fn gradient(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    (0..n)
        .map(|i| match i {
            0 => v[1] - v[0],
            i if i == n - 1 => v[n - 1] - v[n - 2],
            i => (v[i + 1] - v[i - 1]) / 2.0,
        })
        .collect()
}

/// fastai's `slide` (`lr_diff=15, thresh=.005, adjust_value=1.`): walk a window of 15 points
/// down from the end while the loss gradient at its two ends differs by more than `thresh`.
fn slide(lrs: &[f64], losses: &[f32]) -> Suggestion {
    let (lr_diff, thresh) = (15isize, 0.005);
    let losses: Vec<f64> = losses.iter().map(|&l| l as f64).collect();
    let n = losses.len() as isize;
    let grad = gradient(&losses);
    // Python's negative indices.
    let at = |i: isize| (n + i).rem_euclid(n) as usize;
    let mut r = -1isize;
    let mut l = r - lr_diff;
    let mut local_min_lr = lrs[at(l)];
    while l >= -n && (grad[at(r)] - grad[at(l)]).abs() > thresh {
        local_min_lr = lrs[at(l)];
        r -= 1;
        l -= 1;
    }
    Suggestion {
        lr: local_min_lr,
        mark: (local_min_lr, interp_log(local_min_lr, lrs, &losses)),
    }
}

/// numpy's `interp(log10(x), log10(lrs), losses)`.
fn interp_log(x: f64, lrs: &[f64], losses: &[f64]) -> f64 {
    let x = x.log10();
    let xs: Vec<f64> = lrs.iter().map(|l| l.log10()).collect();
    let n = xs.len();
    if x <= xs[0] {
        return losses[0];
    }
    if x >= xs[n - 1] {
        return losses[n - 1];
    }
    let i = xs.partition_point(|&v| v <= x).clamp(1, n - 1);
    let (x0, x1) = (xs[i - 1], xs[i]);
    let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
    losses[i - 1] + t * (losses[i] - losses[i - 1])
}

/// The point whose rate is nearest `lr` (fastai's `min(range(len(lrs)), key=...)`: the first on
/// a tie).
fn nearest(lrs: &[f64], lr: f64) -> usize {
    (0..lrs.len()).fold(0, |b, i| {
        if (lrs[i] - lr).abs() < (lrs[b] - lr).abs() {
            i
        } else {
            b
        }
    })
}

/// fastai's `minimum`: a tenth of the rate at the lowest loss.
fn minimum(lrs: &[f64], losses: &[f32]) -> Suggestion {
    let best = (0..losses.len()).fold(0, |b, i| if losses[i] < losses[b] { i } else { b });
    let lr_min = lrs[best];
    Suggestion {
        lr: lr_min / 10.0,
        mark: (lr_min, losses[nearest(lrs, lr_min)] as f64),
    }
}

/// fastai's `steep`: the rate where the loss falls fastest against the log of the rate.
fn steep(lrs: &[f64], losses: &[f32]) -> Suggestion {
    let grads: Vec<f64> = (1..losses.len())
        .map(|i| (losses[i] as f64 - losses[i - 1] as f64) / (lrs[i].ln() - lrs[i - 1].ln()))
        .collect();
    let best = (0..grads.len()).fold(0, |b, i| if grads[i] < grads[b] { i } else { b });
    let lr = lrs[best];
    Suggestion {
        lr,
        mark: (lr, losses[nearest(lrs, lr)] as f64),
    }
}

impl LrFind {
    /// Loss against learning rate on a log scale, with fastai's four suggestions marked (as
    /// `learn.lr_find(suggest_funcs=(valley, slide, minimum, steep))` plots them).
    pub fn plot(&self, path: &Path) -> Result<()> {
        let curve = self
            .lrs
            .iter()
            .zip(&self.losses)
            .map(|(&l, &v)| (l, v as f64))
            .collect();
        let mut series = vec![Series::line("", curve)];
        for (name, s) in self.suggestions.named() {
            series.push(Series {
                name: format!("{name}: {:.2e}", s.lr),
                points: vec![s.mark],
                mark: Mark::Points,
            });
        }
        let panel = Panel {
            title: format!("lr_find: valley at {:.2e}", self.suggestion),
            x_label: "learning rate".into(),
            y_label: "loss".into(),
            series,
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
        let suggestions = Suggestions::new(&found.lrs, &found.losses, num_it).ok_or(
            crate::Error::SweepTooShort {
                points: found.losses.len(),
                needed: num_it / 10 + 7,
            },
        )?;
        Ok(LrFind {
            lrs: found.lrs,
            losses: found.losses,
            suggestion: suggestions.valley.lr,
            suggestions,
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
