//! fastai's `ClassificationInterpretation`: where the model is wrong, and how sure it was.

use std::path::Path;

use super::base::Learner;
use burn::prelude::*;

use crate::data::{DataLoader, Dataset, IntoImageBatch, Normalize};
use crate::error::Result;
use crate::models::{Model, probabilities};
use crate::show::{Picture, save_confusion_matrix, save_image_grid};

/// Predictions of a learner over its validation set.
#[derive(Debug, Clone)]
pub struct ClassificationInterpretation {
    pub vocab: Vec<String>,
    /// Probability of each class, per item.
    pub probs: Vec<Vec<f32>>,
    pub preds: Vec<usize>,
    pub targets: Vec<usize>,
    /// Cross-entropy of each item: `-ln(probs[target])`.
    pub losses: Vec<f32>,
    images: Vec<Picture>,
}

/// A batch of inputs as pictures, back in 0..=1 (undoing the normalisation).
fn pictures(x: Tensor<4>, norm: Option<&Normalize>) -> Vec<Picture> {
    let [n, c, h, w] = x.dims();
    let all: Vec<f32> = x.inner().into_data().iter::<f32>().collect();
    let per = c * h * w;
    (0..n)
        .map(|i| {
            let values = all[i * per..(i + 1) * per]
                .iter()
                .enumerate()
                .map(|(k, &v)| norm.map_or(v, |n| n.decode(v, k / (h * w))))
                .collect();
            Picture::from_planar(values, c, h, w)
        })
        .collect()
}

impl ClassificationInterpretation {
    /// Run the learner's model over its validation set.
    pub fn from_learner<M: Model>(learn: &Learner<M>) -> Result<Self> {
        let model = learn.model().clone().valid();
        let (mut probs, mut targets, mut images) = (Vec::new(), Vec::new(), Vec::new());
        for batch in learn.dls.valid.epoch(0) {
            let (xb, yb) = batch?;
            images.extend(pictures(xb.clone(), learn.dls.norm.as_ref()));
            probs.extend(probabilities(model.forward(xb.inner())));
            targets.extend(yb.inner().into_data().iter::<i64>().map(|t| t as usize));
        }
        let mut interp = Self {
            vocab: learn.dls.vocab.clone(),
            probs: Vec::new(),
            preds: Vec::new(),
            targets,
            losses: Vec::new(),
            images,
        };
        interp.set_probs(probs);
        Ok(interp)
    }

    /// As [`from_learner`](Self::from_learner), judged by test-time augmentation's predictions
    /// ([`Learner::tta`]`(n, beta)`).
    pub fn from_learner_tta<M: Model>(learn: &Learner<M>, n: usize, beta: f64) -> Result<Self> {
        let mut interp = Self::from_learner(learn)?;
        interp.set_probs(learn.tta(n, beta)?.probs);
        Ok(interp)
    }

    /// Take these probabilities, and the predictions and losses that follow from them.
    fn set_probs(&mut self, probs: Vec<Vec<f32>>) {
        self.preds = probs
            .iter()
            .map(|p| {
                p.iter()
                    .enumerate()
                    .fold(0, |best, (i, &v)| if v > p[best] { i } else { best })
            })
            .collect();
        self.losses = probs
            .iter()
            .zip(&self.targets)
            .map(|(p, &t)| -p.get(t).copied().unwrap_or(0.0).max(1e-12).ln())
            .collect();
        self.probs = probs;
    }

    /// Counts of (actual, predicted) pairs: rows are the actual class, columns the prediction.
    pub fn confusion_matrix(&self) -> Vec<Vec<usize>> {
        let n = self.vocab.len().max(2);
        let mut m = vec![vec![0; n]; n];
        for (&t, &p) in self.targets.iter().zip(&self.preds) {
            m[t][p] += 1;
        }
        m
    }

    /// The confusion matrix as a text table.
    pub fn confusion_text(&self) -> String {
        let m = self.confusion_matrix();
        let width = m
            .iter()
            .flatten()
            .map(|v| v.to_string().len())
            .max()
            .unwrap_or(1)
            .max(4)
            + 1;
        let name = |i: usize| self.vocab.get(i).cloned().unwrap_or_else(|| i.to_string());
        let mut out = format!("{:>8}{}\n", "actual\\", " predicted");
        out.push_str(&format!("{:>8}", ""));
        for j in 0..m.len() {
            out.push_str(&format!("{:>width$}", name(j)));
        }
        out.push('\n');
        for (i, row) in m.iter().enumerate() {
            out.push_str(&format!("{:>8}", name(i)));
            for v in row {
                out.push_str(&format!("{v:>width$}"));
            }
            out.push('\n');
        }
        out
    }

    /// The confusion matrix as a shaded PNG (rows actual, columns predicted, in vocab order).
    pub fn plot_confusion_matrix(&self, path: &Path) -> Result<()> {
        save_confusion_matrix(&self.confusion_matrix(), &self.vocab, path)
    }

    /// `(actual, predicted, count)` for the off-diagonal cells with at least `min_val` items,
    /// largest first (fastai's `most_confused`).
    pub fn most_confused(&self, min_val: usize) -> Vec<(String, String, usize)> {
        let m = self.confusion_matrix();
        let mut out: Vec<(String, String, usize)> = Vec::new();
        for (i, row) in m.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if i != j && v >= min_val.max(1) {
                    out.push((self.vocab[i].clone(), self.vocab[j].clone(), v));
                }
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.2));
        out
    }

    /// Indices of the `k` items with the largest loss.
    pub fn top_losses(&self, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.losses.len()).collect();
        idx.sort_by(|&a, &b| self.losses[b].total_cmp(&self.losses[a]));
        idx.truncate(k);
        idx
    }

    /// The `k` worst items as a grid, captioned `predicted/actual` and `loss / probability` of the
    /// prediction (fastai's `plot_top_losses`).
    pub fn plot_top_losses(&self, k: usize, path: &Path) -> Result<()> {
        let items: Vec<(Picture, String)> = self
            .top_losses(k)
            .into_iter()
            .map(|i| {
                let (p, t) = (self.preds[i], self.targets[i]);
                let caption = format!(
                    "{}/{}\n{:.2} / {:.2}",
                    self.vocab[p], self.vocab[t], self.losses[i], self.probs[i][p]
                );
                (self.images[i].clone(), caption)
            })
            .collect();
        let title = "Top losses: predicted/actual, loss / probability";
        save_image_grid(&items, 3, title, path)
    }

    /// The first `n` validation items captioned `predicted/actual` (fastai's `show_results`).
    pub fn show_results(&self, n: usize, path: &Path) -> Result<()> {
        let items: Vec<(Picture, String)> = (0..n.min(self.preds.len()))
            .map(|i| {
                let mark = if self.preds[i] == self.targets[i] {
                    ""
                } else {
                    "  WRONG"
                };
                let caption = format!(
                    "{}/{}{mark}",
                    self.vocab[self.preds[i]], self.vocab[self.targets[i]]
                );
                (self.images[i].clone(), caption)
            })
            .collect();
        save_image_grid(&items, 3, "Results: predicted/actual", path)
    }
}

/// The first `n` items of a shuffled training epoch with their labels, as training sees them:
/// cropped and augmented (fastai's `show_batch`).
pub fn show_batch<D>(
    dl: &DataLoader<D>,
    vocab: &[String],
    norm: Option<&Normalize>,
    n: usize,
    path: &Path,
) -> Result<()>
where
    D: Dataset,
    D::Batch: IntoImageBatch,
{
    let order: Vec<usize> = dl.order(0).into_iter().take(n).collect();
    let (x, y) = dl
        .dataset
        .train_batch(&order, dl.seed ^ 0x9E37_79B9_7F4A_7C15)
        .into_image_batch()?;
    let labels: Vec<i64> = y.inner().into_data().iter::<i64>().collect();
    let items: Vec<(Picture, String)> = pictures(x, norm)
        .into_iter()
        .zip(&labels)
        .map(|(g, &l)| (g, vocab.get(l as usize).cloned().unwrap_or_default()))
        .collect();
    save_image_grid(&items, 3, "A training batch: label", path)
}
