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
use crate::simd::vectorized;

/// Shapes: `n` images of `c` channels of `hw` values each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl Shape {
    /// The shape of a tensor `[n, c, ...]` (the rest flattened into `hw`); `None` below 2-D.
    pub fn of(dims: &[usize]) -> Option<Self> {
        match dims {
            [n, c, rest @ ..] => Some(Self {
                n: *n,
                c: *c,
                hw: rest.iter().product(),
            }),
            _ => None,
        }
    }

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
        .map(|b| {
            vectorized(
                #[inline(always)]
                || {
                    let mut image = Vec::with_capacity(s.c);
                    for ch in 0..s.c {
                        image.push(f(b, ch, (b * s.c + ch) * s.hw));
                    }
                    image
                },
            )
        })
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

/// `Σ f(v)` in f64, in 8 lanes added up at the end. One running sum is a chain of dependent
/// additions, one every ~4 cycles, which the compiler may not reorder into vector ones: over the
/// ~10 M values a BatchNorm layer sees per EfficientNet-Lite0 step, such chains were a tenth of
/// the step.
#[inline(always)]
fn sum_lanes(v: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let chunks = v.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&a| f(a)).sum();
    let mut lanes = [0f64; 8];
    for c in chunks {
        for l in 0..8 {
            lanes[l] += f(c[l]);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// One plane's `[Σ g, Σ g·(x - mean)]`, g = `dy` where the clamp `(y, hi)` passed it (all of
/// `dy` without one), in 8 lanes as [`sum_lanes`].
#[inline(always)]
fn gradient_sums(dy: &[f32], x: &[f32], y: Option<(&[f32], f32)>, mean: f32) -> [f64; 2] {
    // Plain loops over arrays, no closure holding the lanes: a closure's `&mut` kept them in
    // memory, and each addition waited on the store before it (scalar, not vector, additions).
    let (mut sg, mut sgx) = ([0f64; 8], [0f64; 8]);
    let body = dy.len() / 8 * 8;
    let (mut tg, mut tgx) = (0f64, 0f64);
    match y {
        Some((y, hi)) => {
            let chunks = dy[..body]
                .chunks_exact(8)
                .zip(x[..body].chunks_exact(8))
                .zip(y[..body].chunks_exact(8));
            for ((d, xs), ys) in chunks {
                for l in 0..8 {
                    let g = gated(d[l], ys[l], hi);
                    sg[l] += f64::from(g);
                    sgx[l] += f64::from(g * (xs[l] - mean));
                }
            }
            for i in body..dy.len() {
                let g = gated(dy[i], y[i], hi);
                tg += f64::from(g);
                tgx += f64::from(g * (x[i] - mean));
            }
        }
        None => {
            for (d, xs) in dy[..body].chunks_exact(8).zip(x[..body].chunks_exact(8)) {
                for l in 0..8 {
                    sg[l] += f64::from(d[l]);
                    sgx[l] += f64::from(d[l] * (xs[l] - mean));
                }
            }
            for i in body..dy.len() {
                tg += f64::from(dy[i]);
                tgx += f64::from(dy[i] * (x[i] - mean));
            }
        }
    }
    [sg.iter().sum::<f64>() + tg, sgx.iter().sum::<f64>() + tgx]
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
    // The mean first, then the squares about it: squares of small numbers (no cancellation).
    let sums = channel_sums(
        s,
        #[inline(always)]
        |_, _, at| [sum_lanes(&x[at..at + s.hw], f64::from), 0.0],
    );
    let m = s.per_channel() as f64;
    let mean: Vec<f64> = sums.iter().map(|a| a[0] / m).collect();
    let sq = channel_sums(
        s,
        #[inline(always)]
        |_, ch, at| {
            let mu = mean[ch];
            let ss = sum_lanes(
                &x[at..at + s.hw],
                #[inline(always)]
                |a| {
                    let d = f64::from(a) - mu;
                    d * d
                },
            );
            [ss, 0.0]
        },
    );
    let var: Vec<f64> = sq.iter().map(|a| a[0] / m).collect();
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let scale: Vec<f32> = (0..s.c)
        .map(|ch| (f64::from(gamma[ch]) * inv_std[ch]) as f32)
        .collect();
    let shift: Vec<f32> = (0..s.c)
        .map(|ch| (f64::from(beta[ch]) - mean[ch] * f64::from(scale[ch])) as f32)
        .collect();
    let y = normalized(x, s, (&scale, &shift), cap, residual);
    let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let stats = Stats {
        mean: f32s(&mean),
        var: f32s(&var),
        inv_std: f32s(&inv_std),
    };
    (y, stats)
}

/// BatchNorm in inference with its activation, in one pass: `clamp(x · scale + shift, 0, cap)`
/// per channel, the running statistics, γ and β folded into `scale` and `shift`.
pub(crate) fn inference(
    x: &[f32],
    s: Shape,
    scale: &[f32],
    shift: &[f32],
    cap: Option<f32>,
) -> Vec<f32> {
    assert_eq!(x.len(), s.n * s.c * s.hw);
    assert_eq!((scale.len(), shift.len()), (s.c, s.c));
    normalized(x, s, (scale, shift), cap, None)
}

/// `clamp(x · scale + shift (+ residual), 0, cap)` per channel, images in parallel.
fn normalized(
    x: &[f32],
    s: Shape,
    (scale, shift): (&[f32], &[f32]),
    cap: Option<f32>,
    residual: Option<&[f32]>,
) -> Vec<f32> {
    let mut y = zeros(x.len());
    let chw = s.c * s.hw;
    y.par_chunks_mut(chw).enumerate().for_each(|(i, yi)| {
        vectorized(
            #[inline(always)]
            || {
                for ch in 0..s.c {
                    let at = i * chw + ch * s.hw;
                    normalized_plane(
                        &mut yi[ch * s.hw..][..s.hw],
                        &x[at..at + s.hw],
                        residual.map(|r| &r[at..at + s.hw]),
                        (scale[ch], shift[ch]),
                        cap,
                    );
                }
            },
        )
    });
    y
}

/// One plane of the forward's output: `clamp(x·a + b (+ r), 0, cap)`.
#[inline(always)]
fn normalized_plane(
    y: &mut [f32],
    x: &[f32],
    r: Option<&[f32]>,
    (a, b): (f32, f32),
    cap: Option<f32>,
) {
    match (r, cap) {
        (None, None) => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = v * a + b;
            }
        }
        (None, Some(hi)) => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = (v * a + b).max(0.0).min(hi);
            }
        }
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
    }
}

/// `g` where the clamp to `[0, hi]` whose output is `y` passed the gradient, else 0 (where it
/// clipped): the gradient through the clamp.
#[inline(always)]
fn gated(g: f32, y: f32, hi: f32) -> f32 {
    // A bit mask, not a branch or a select of values: written as `if`, the loops that sum it
    // compiled to scalar compares and jumps (the profile's hottest BatchNorm loop); as a mask
    // they are vector ones. The same bits as the `if` (`g & 0` is +0.0).
    let passes = (y > 0.0) & (y < hi);
    f32::from_bits(g.to_bits() & u32::from(passes).wrapping_neg())
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
    let sums = channel_sums(
        s,
        #[inline(always)]
        |_, ch, at| {
            let (dy, x) = (&dy[at..at + s.hw], &x[at..at + s.hw]);
            let y = y.map(|(y, hi)| (&y[at..at + s.hw], hi));
            gradient_sums(dy, x, y, stats.mean[ch])
        },
    );
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
            vectorized(
                #[inline(always)]
                || {
                    for ch in 0..s.c {
                        let at = (b * s.c + ch) * s.hw;
                        input_grad_plane(
                            &mut dxi[ch * s.hw..][..s.hw],
                            &dy[at..at + s.hw],
                            &x[at..at + s.hw],
                            y.map(|(y, hi)| (&y[at..at + s.hw], hi)),
                            coef[ch],
                        );
                    }
                },
            )
        });
    (dx, dgamma, dbeta)
}

/// One plane of the input's gradient, `k · (g - mg - (x - mean) · mgx)` with `[k, mg, mgx, mean]`
/// its channel's coefficients and g = `dy` where the clamp `(y, hi)` passed it.
#[inline(always)]
fn input_grad_plane(
    out: &mut [f32],
    dy: &[f32],
    x: &[f32],
    y: Option<(&[f32], f32)>,
    [k, mg, mgx, mu]: [f32; 4],
) {
    match y {
        Some((y, hi)) => {
            for (((o, &d), &xi), &yi) in out.iter_mut().zip(dy).zip(x).zip(y) {
                let gi = gated(d, yi, hi);
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

/// `dy` where `y > 0`, else 0: the gradient through a ReLU (of a residual added before it).
pub(crate) fn masked(dy: &[f32], y: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), y.len());
    let mut out = zeros(dy.len());
    out.par_chunks_mut(1 << 14)
        .zip(dy.par_chunks(1 << 14).zip(y.par_chunks(1 << 14)))
        .for_each(|(o, (d, y))| {
            vectorized(
                #[inline(always)]
                || {
                    for ((o, &d), &y) in o.iter_mut().zip(d).zip(y) {
                        *o = if y > 0.0 { d } else { 0.0 };
                    }
                },
            )
        });
    out
}
