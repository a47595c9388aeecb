//! BatchNorm in training, optionally followed by ReLU or ReLU6, as two passes forward and two
//! backward over NCHW f32 slices.
//!
//! Why: Burn's `batch_norm_train` is built from generic tensor ops: it swaps the batch and
//! channel axes (a full copy) for each statistic, then normalises with several element-wise ops,
//! each a pass with a fresh buffer; its backward does the same again, and the ReLU after it two
//! more. Here the forward reads the input once for the per-channel sums and once to write
//! `relu(x̂·γ + β)`; the backward reads the output's gradient once for the two per-channel sums
//! and once to write the input's gradient. Work is split by image (each image holds every
//! channel), so it stays parallel from 7x7 maps down to the last 1x1 ones.
//!
//! Checked against Burn's `BatchNorm` + `Relu` (values, running statistics, gradients) in
//! `batch_norm.rs`'s tests.

use crate::cpu_conv::zeros;
use crate::par::prelude::*;

/// Shapes: `n` images of `c` channels of `hw` values each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl Shape {
    /// Values per channel over the batch.
    fn per_channel(&self) -> usize {
        self.n * self.hw
    }
}

/// Per-channel sums of `f(image, channel, offset of the plane)` over the batch, in f64. Images
/// are summed in order whatever thread computed them, so results do not depend on scheduling.
fn channel_sums<F>(s: Shape, f: F) -> Vec<[f64; 2]>
where
    F: Fn(usize, usize, usize) -> [f64; 2] + Sync,
{
    let per_image: Vec<Vec<[f64; 2]>> = (0..s.n)
        .into_par_iter()
        .map(|b| (0..s.c).map(|ch| f(b, ch, (b * s.c + ch) * s.hw)).collect())
        .collect();
    let mut sums = vec![[0.0f64; 2]; s.c];
    for image in per_image {
        for (a, v) in sums.iter_mut().zip(image) {
            a[0] += v[0];
            a[1] += v[1];
        }
    }
    sums
}

/// What the forward pass returns and the backward pass needs.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    pub mean: Vec<f32>,
    /// The batch's biased variance (what normalises; the running variance takes the unbiased).
    pub var: Vec<f32>,
    pub inv_std: Vec<f32>,
}

/// `clamp(γ · (x - mean) / sqrt(var + eps) + β, 0, cap)` with the batch's statistics, or no
/// clamp when `cap` is `None` (ReLU: `cap` = ∞, ReLU6: 6).
pub(crate) fn forward(
    x: &[f32],
    s: Shape,
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    cap: Option<f32>,
    residual: Option<&[f32]>,
) -> (Vec<f32>, Stats) {
    assert_eq!(x.len(), s.n * s.c * s.hw);
    let sums = channel_sums(s, |_, _, at| {
        let v = &x[at..at + s.hw];
        // The plane's own mean first, so the squares are of small numbers (no cancellation).
        let sum: f64 = v.iter().map(|&a| f64::from(a)).sum();
        [sum, 0.0]
    });
    let m = s.per_channel() as f64;
    let mean: Vec<f64> = sums.iter().map(|a| a[0] / m).collect();
    let sq = channel_sums(s, |_, ch, at| {
        let mu = mean[ch];
        let ss: f64 = x[at..at + s.hw]
            .iter()
            .map(|&a| {
                let d = f64::from(a) - mu;
                d * d
            })
            .sum();
        [ss, 0.0]
    });
    let var: Vec<f64> = sq.iter().map(|a| a[0] / m).collect();
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let scale: Vec<f32> = (0..s.c)
        .map(|ch| (f64::from(gamma[ch]) * inv_std[ch]) as f32)
        .collect();
    let shift: Vec<f32> = (0..s.c)
        .map(|ch| (f64::from(beta[ch]) - mean[ch] * f64::from(scale[ch])) as f32)
        .collect();
    let mut y = zeros(x.len());
    let plane = |y: &mut [f32], x: &[f32], r: Option<&[f32]>, a: f32, b: f32| match (r, cap) {
        (None, None) => y.iter_mut().zip(x).for_each(|(o, &v)| *o = v * a + b),
        (None, Some(hi)) => y
            .iter_mut()
            .zip(x)
            .for_each(|(o, &v)| *o = (v * a + b).max(0.0).min(hi)),
        (Some(r), None) => {
            for ((o, &v), &r) in y.iter_mut().zip(x).zip(r) {
                *o = v * a + b + r;
            }
        }
        (Some(r), Some(hi)) => {
            for ((o, &v), &r) in y.iter_mut().zip(x).zip(r) {
                *o = (v * a + b + r).max(0.0).min(hi);
            }
        }
    };
    let chw = s.c * s.hw;
    y.par_chunks_mut(chw).enumerate().for_each(|(i, yi)| {
        for ch in 0..s.c {
            let at = i * chw + ch * s.hw;
            plane(
                &mut yi[ch * s.hw..][..s.hw],
                &x[at..at + s.hw],
                residual.map(|r| &r[at..at + s.hw]),
                scale[ch],
                shift[ch],
            );
        }
    });
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let stats = Stats {
        mean: f32s(&mean),
        var: f32s(&var),
        inv_std: f32s(&inv_std),
    };
    (y, stats)
}

/// Whether the gradient passes a clamp to `[0, hi]` whose output is `y`: not where it clipped.
#[inline]
fn passes(y: f32, hi: f32) -> bool {
    y > 0.0 && y < hi
}

/// Gradients of the input, γ and β from the output's gradient `dy`. `y` is the forward's
/// output, needed only with a clamp (`(y, cap)`; where the clamp clipped, the gradient is 0).
/// (A residual added before the clamp has the masked `dy` as gradient: [`masked`].)
pub(crate) fn backward(
    dy: &[f32],
    x: &[f32],
    y: Option<(&[f32], f32)>,
    s: Shape,
    gamma: &[f32],
    stats: &Stats,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let len = s.n * s.c * s.hw;
    assert!(dy.len() == len && x.len() == len && y.is_none_or(|(y, _)| y.len() == len));
    // Σ g and Σ g·(x - mean) per channel, g = dy masked by the ReLU.
    let sums = channel_sums(s, |_, ch, at| {
        let mu = stats.mean[ch];
        let (dy, x) = (&dy[at..at + s.hw], &x[at..at + s.hw]);
        let (mut sg, mut sgx) = (0.0f64, 0.0f64);
        let mut add = |gi: f32, xi: f32| {
            sg += f64::from(gi);
            sgx += f64::from(gi * (xi - mu));
        };
        match y {
            Some((y, hi)) => {
                for ((&d, &xi), &yi) in dy.iter().zip(x).zip(&y[at..at + s.hw]) {
                    add(if passes(yi, hi) { d } else { 0.0 }, xi);
                }
            }
            None => dy.iter().zip(x).for_each(|(&d, &xi)| add(d, xi)),
        }
        [sg, sgx]
    });
    let m = s.per_channel() as f64;
    let dbeta: Vec<f32> = sums.iter().map(|a| a[0] as f32).collect();
    let dgamma: Vec<f32> = (0..s.c)
        .map(|ch| (sums[ch][1] * f64::from(stats.inv_std[ch])) as f32)
        .collect();
    // dx = γ·inv_std · (g - Σg/m - x̂ · Σ(g·x̂)/m), with x̂ = (x - mean)·inv_std.
    let coef: Vec<[f32; 4]> = (0..s.c)
        .map(|ch| {
            let inv = f64::from(stats.inv_std[ch]);
            let k = f64::from(gamma[ch]) * inv;
            [
                k as f32,
                (sums[ch][0] / m) as f32,
                (sums[ch][1] * inv * inv / m) as f32,
                stats.mean[ch],
            ]
        })
        .collect();
    let mut dx = zeros(len);
    dx.par_chunks_mut(s.c * s.hw)
        .enumerate()
        .for_each(|(b, dxi)| {
            for ch in 0..s.c {
                let [k, mg, mgx, mu] = coef[ch];
                let at = (b * s.c + ch) * s.hw;
                let (out, dy, x) = (
                    &mut dxi[ch * s.hw..][..s.hw],
                    &dy[at..at + s.hw],
                    &x[at..at + s.hw],
                );
                match y {
                    Some((y, hi)) => {
                        for (((o, &d), &xi), &yi) in
                            out.iter_mut().zip(dy).zip(x).zip(&y[at..at + s.hw])
                        {
                            let gi = if passes(yi, hi) { d } else { 0.0 };
                            *o = k * (gi - mg - (xi - mu) * mgx);
                        }
                    }
                    None => {
                        for ((o, &d), &xi) in out.iter_mut().zip(dy).zip(x) {
                            *o = k * (d - mg - (xi - mu) * mgx);
                        }
                    }
                }
            }
        });
    (dx, dgamma, dbeta)
}

/// `dy` where `y > 0`, else 0: the gradient through a ReLU (of a residual added before it).
pub(crate) fn masked(dy: &[f32], y: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), y.len());
    let mut out = zeros(dy.len());
    out.par_chunks_mut(1 << 14)
        .zip(dy.par_chunks(1 << 14).zip(y.par_chunks(1 << 14)))
        .for_each(|(o, (d, y))| {
            for ((o, &d), &y) in o.iter_mut().zip(d).zip(y) {
                *o = if y > 0.0 { d } else { 0.0 };
            }
        });
    out
}
