//! fastai's learning-rate finder: train briefly with an exponentially growing learning rate and
//! watch where the loss falls fastest.

use std::path::Path;

use burn::optim::GradientsParams;

use super::base::Learner;
use crate::data::Dataset;
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

impl<M: Model> Learner<M> {
    /// Sweep the learning rate from `start_lr` to `end_lr` over `num_it` training batches
    /// (fastai: 1e-7, 10, 100), stopping early once the loss is 4 times its best. Works on a copy:
    /// the learner's model and optimizer are as they were.
    pub fn lr_find(&mut self, start_lr: f64, end_lr: f64, num_it: usize) -> Result<LrFind> {
        let mut model = self.model().clone();
        let (mut opt, _) = self.opt_func.build_with_momentum();
        let (mut lrs, mut losses) = (Vec::new(), Vec::new());
        let (mut avg, mut best) = (0.0f64, f32::INFINITY);
        'sweep: loop {
            for idx in self.dls.train.batch_indices() {
                let i = lrs.len();
                if i >= num_it {
                    break 'sweep;
                }
                let lr = start_lr * (end_lr / start_lr).powf(i as f64 / num_it as f64);
                let (xb, yb) = self.dls.train.dataset.batch(&idx);
                let loss = (self.loss_func)(model.forward(xb), yb);
                let value = loss.clone().into_scalar::<f32>();
                avg = 0.98 * avg + 0.02 * value as f64;
                let smooth = (avg / (1.0 - 0.98f64.powi(i as i32 + 1))) as f32;
                if !smooth.is_finite() || smooth > 4.0 * best {
                    break 'sweep;
                }
                best = best.min(smooth);
                lrs.push(lr);
                losses.push(smooth);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = opt.step(lr, model, grads);
            }
            if self.dls.train.is_empty() {
                break;
            }
        }
        let suggestion = valley(&lrs, &losses);
        Ok(LrFind {
            lrs,
            losses,
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
