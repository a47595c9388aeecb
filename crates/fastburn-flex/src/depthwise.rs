//! Depthwise convolutions (one group per channel, as EfficientNet's and MobileNet's blocks use
//! them) computed directly, plane by plane.
//!
//! Burn's grouped convolution on Flex runs as a general convolution per group: for a depthwise
//! 3x3 on 96 channels of 48x48 maps (batch 8) forward and backward took 33 ms here (Intel Xeon,
//! 2 cores), for 4 M multiply-accumulates. A depthwise convolution has no reduction over
//! channels, so there is no matrix product to hand to a GEMM: each output plane is a weighted sum
//! of shifted copies of one input plane, which is what this computes. The backward pass is the
//! same sums transposed: the input gradient scatters each output gradient back over the taps (per
//! plane), the kernel gradient sums input x output gradient over the batch (per channel).
//!
//! Each input plane is first padded and split into its stride phases (see `Depthwise::split`),
//! so that for every tap all outputs read one contiguous run of memory: every inner loop is a
//! long unit-stride one, also for stride 2 (no strided reads or writes) and for the 3x3 and 6x6
//! maps at the end of the network (one run over the whole plane rather than a few values a row).
//! Small planes are grouped into one rayon task.

use std::sync::Arc;

use crate::par::prelude::*;
use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use crate::counters::count;
use crate::interop::{FlexAutodiff, flex_tensor, floats, plain, tracked};
use crate::simd::vectorized;

/// The shapes of one depthwise convolution.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Depthwise {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    /// Padding before the first row and column.
    top: usize,
    left: usize,
    oh: usize,
    ow: usize,
}

impl Depthwise {
    /// The geometry of `x` [n, c, h, w] convolved with a `[c, 1, kh, kw]` kernel, or `None`
    /// when the kernel is not depthwise or does not fit the padded input.
    fn new(x: [usize; 4], weight: [usize; 4], stride: [usize; 2], pad: [usize; 4]) -> Option<Self> {
        let [n, c, h, w] = x;
        let [c_out, c_in, kh, kw] = weight;
        let [top, left, bottom, right] = pad;
        let (hp, wp) = (h + top + bottom, w + left + right);
        if c_in != 1 || c_out != c || hp < kh || wp < kw || stride.contains(&0) {
            return None;
        }
        Some(Self {
            n,
            c,
            h,
            w,
            kh,
            kw,
            stride,
            top,
            left,
            oh: (hp - kh) / stride[0] + 1,
            ow: (wp - kw) / stride[1] + 1,
        })
    }

    /// Rows and columns of the padded input the output reads: `(oh - 1) · stride + k`.
    fn padded(&self) -> (usize, usize) {
        (
            (self.oh - 1) * self.stride[0] + self.kh,
            (self.ow - 1) * self.stride[1] + self.kw,
        )
    }

    /// Rows and columns of one phase plane (see [`Phases`]); one spare row, so a tap's run of
    /// `oh · wq` values never reads past the end.
    fn phase_dims(&self) -> (usize, usize) {
        let (hp, wp) = self.padded();
        (hp.div_ceil(self.stride[0]) + 1, wp.div_ceil(self.stride[1]))
    }

    /// For tap `(i, j)`: which phase it reads and where its run starts in it.
    fn tap(&self, i: usize, j: usize) -> (usize, usize) {
        let [sy, sx] = self.stride;
        let wq = self.phase_dims().1;
        ((i % sy) * sx + j % sx, (i / sy) * wq + j / sx)
    }

    /// What every plane of a call shares (see [`Plan`]).
    fn plan(&self) -> Plan {
        let [sy, sx] = self.stride;
        let (hp, _) = self.padded();
        let (hq, wq) = self.phase_dims();
        let taps = (0..self.kh)
            .flat_map(|i| (0..self.kw).map(move |j| (i, j)))
            .map(|(i, j)| {
                let (phase, at) = self.tap(i, j);
                phase * hq * wq + at
            })
            .collect();
        let rows = (self.top..hp.min(self.top + self.h))
            .map(|yy| (yy - self.top, ((yy % sy) * sx * hq + yy / sy) * wq))
            .collect();
        Plan {
            plane: hq * wq,
            phases: sy * sx * hq * wq,
            wq,
            n: self.oh * wq,
            taps,
            columns: (0..sx).map(|px| self.phase_columns(px)).collect(),
            rows,
        }
    }

    /// Planes per rayon task: at least ~16 K values, so the small late maps (3x3, 6x6) of
    /// thousands of channels are not thousands of tasks each too small to pay for itself.
    fn planes_per_task(&self) -> usize {
        (16_384 / (self.h * self.w).max(1)).max(1)
    }

    /// One input plane padded and split into its `sy · sx` stride phases (into a buffer whose
    /// other values are 0: every plane writes the same places, see [`zeroed_once`]): phase
    /// `(py, px)` holds padded rows `py, py + sy, ...` and columns `px, px + sx, ...`, each `wq`
    /// wide. Output `(oy, ox)` reads tap `(i, j)` at phase `(i % sy, j % sx)`, row `oy + i / sy`,
    /// column `ox + j / sx`: for every tap, all outputs read one contiguous run of a phase
    /// (outputs kept `wq` apart per row; the columns past `ow` are computed and dropped). So every
    /// loop below is a long unit-stride one, whatever the stride and however small the map.
    #[inline(always)]
    fn split(&self, plan: &Plan, x: &[f32], phases: &mut [f32]) {
        let sx = self.stride[1];
        let (plane, wq) = (plan.plane, plan.wq);
        for &(y, base) in &plan.rows {
            let row = &x[y * self.w..(y + 1) * self.w];
            for (px, &(first, c0)) in plan.columns.iter().enumerate() {
                let out = &mut phases[base + px * plane..][..wq];
                if sx == 1 {
                    // The row as it is, after the left padding.
                    let n = self.w.min(wq.saturating_sub(c0));
                    out[c0..c0 + n].copy_from_slice(&row[..n]);
                } else {
                    for (o, v) in out
                        .iter_mut()
                        .skip(c0)
                        .zip(row[first.min(self.w)..].iter().step_by(sx))
                    {
                        *o = *v;
                    }
                }
            }
        }
    }

    /// For phase column `px`: the first input column it holds, and that column's place in the
    /// phase (input column `x` sits at padded column `x + left = c · sx + px`). Columns a phase
    /// holds past the padded width are read only by outputs that are dropped.
    fn phase_columns(&self, px: usize) -> (usize, usize) {
        let sx = self.stride[1];
        let first = (px + sx - self.left % sx) % sx;
        (first, (first + self.left) / sx)
    }

    /// `x`'s phases into `buf.phases`.
    #[inline(always)]
    fn split_into(&self, plan: &Plan, x: &[f32], buf: &mut Buffers) {
        zeroed_once(&mut buf.phases, plan.phases);
        self.split(plan, x, &mut buf.phases);
    }

    /// The output gradient `dy` into `buf.rows`, `wq` apart per row, 0 in the dropped columns.
    #[inline(always)]
    fn rows_from(&self, plan: &Plan, dy: &[f32], buf: &mut Buffers) {
        let wq = plan.wq;
        zeroed_once(&mut buf.rows, plan.n);
        for (row, g) in buf.rows.chunks_mut(wq).zip(dy.chunks(self.ow)) {
            row[..self.ow].copy_from_slice(g);
        }
    }

    /// `out` (one output plane) = the depthwise convolution of one input plane with its kernel.
    #[inline(always)]
    fn forward_plane(&self, plan: &Plan, x: &[f32], k: &[f32], out: &mut [f32], buf: &mut Buffers) {
        let (wq, n) = (plan.wq, plan.n);
        self.split_into(plan, x, buf);
        buf.rows.clear();
        buf.rows.resize(n, 0.0);
        let (phases, rows) = (&buf.phases, &mut buf.rows);
        let run = |i: usize, j: usize| {
            let t = i * self.kw + j;
            (&phases[plan.taps[t]..][..n], k[t])
        };
        // Up to three taps of a kernel row per pass over the outputs: a third of the loads and
        // stores of one tap a pass.
        for i in 0..self.kh {
            let mut j = 0;
            while j < self.kw {
                match self.kw - j {
                    1 => {
                        let (a, wa) = run(i, j);
                        for (o, &a) in rows.iter_mut().zip(a) {
                            *o += a * wa;
                        }
                        j += 1;
                    }
                    2 => {
                        let ((a, wa), (b, wb)) = (run(i, j), run(i, j + 1));
                        for ((o, &a), &b) in rows.iter_mut().zip(a).zip(b) {
                            *o += a * wa + b * wb;
                        }
                        j += 2;
                    }
                    _ => {
                        let ((a, wa), (b, wb), (c, wc)) = (run(i, j), run(i, j + 1), run(i, j + 2));
                        for (((o, &a), &b), &c) in rows.iter_mut().zip(a).zip(b).zip(c) {
                            *o += a * wa + b * wb + c * wc;
                        }
                        j += 3;
                    }
                }
            }
        }
        for (out_row, row) in out.chunks_mut(self.ow).zip(buf.rows.chunks(wq)) {
            out_row.copy_from_slice(&row[..self.ow]);
        }
    }

    /// One plane's input gradient: each output gradient spread back over the taps, in the
    /// phases, then the phases put back together.
    #[inline(always)]
    fn input_grad_plane(
        &self,
        plan: &Plan,
        dy: &[f32],
        k: &[f32],
        dx: &mut [f32],
        buf: &mut Buffers,
    ) {
        let sx = self.stride[1];
        let (plane, wq, n) = (plan.plane, plan.wq, plan.n);
        self.rows_from(plan, dy, buf);
        buf.phases.clear();
        buf.phases.resize(plan.phases, 0.0);
        for (&at, &wv) in plan.taps.iter().zip(k) {
            let dst = &mut buf.phases[at..][..n];
            for (d, &g) in dst.iter_mut().zip(&buf.rows) {
                *d += g * wv;
            }
        }
        // A phase's columns past the padded width hold zeros (only dropped outputs, whose
        // gradients are zeros, reach them), as do the input's columns no output reads (rows no
        // output reads are not in the plan: they stay 0).
        for &(y, base) in &plan.rows {
            let dx_row = &mut dx[y * self.w..(y + 1) * self.w];
            for (px, &(first, c0)) in plan.columns.iter().enumerate() {
                let src = &buf.phases[base + px * plane..][..wq];
                let src = src.get(c0..).unwrap_or_default();
                if sx == 1 {
                    let n = self.w.min(src.len());
                    dx_row[..n].copy_from_slice(&src[..n]);
                } else {
                    let dst = dx_row[first.min(self.w)..].iter_mut().step_by(sx);
                    for (d, v) in dst.zip(src) {
                        *d = *v;
                    }
                }
            }
        }
    }

    /// Adds one plane's contribution to its channel's kernel gradient: per tap, the dot
    /// product of the output gradient with the tap's run of the input's phase. The products are
    /// summed in 8 lanes and the lanes at the end: one running scalar sum would be a chain of
    /// dependent additions the compiler may not turn into vector ones.
    #[inline(always)]
    fn kernel_grad_plane(
        &self,
        plan: &Plan,
        x: &[f32],
        dy: &[f32],
        dk: &mut [f32],
        buf: &mut Buffers,
    ) {
        self.split_into(plan, x, buf);
        self.rows_from(plan, dy, buf);
        for (&at, dk) in plan.taps.iter().zip(dk.iter_mut()) {
            *dk += dot(&buf.rows, &buf.phases[at..][..plan.n]);
        }
    }

    fn forward(&self, x: &[f32], k: &[f32]) -> Vec<f32> {
        let (plane, out_plane, taps) = (self.h * self.w, self.oh * self.ow, self.kh * self.kw);
        let plan = self.plan();
        let mut out = vec![0f32; self.n * self.c * out_plane];
        out.par_chunks_mut(out_plane)
            .enumerate()
            .with_min_len(self.planes_per_task())
            .for_each_init(Buffers::default, |buf, (p, out)| {
                let ch = p % self.c;
                let x = &x[p * plane..(p + 1) * plane];
                let k = &k[ch * taps..(ch + 1) * taps];
                vectorized(
                    #[inline(always)]
                    || self.forward_plane(&plan, x, k, out, buf),
                );
            });
        out
    }

    fn input_grad(&self, dy: &[f32], k: &[f32]) -> Vec<f32> {
        let (plane, out_plane, taps) = (self.h * self.w, self.oh * self.ow, self.kh * self.kw);
        let plan = self.plan();
        let mut dx = vec![0f32; self.n * self.c * plane];
        dx.par_chunks_mut(plane)
            .enumerate()
            .with_min_len(self.planes_per_task())
            .for_each_init(Buffers::default, |buf, (p, dx)| {
                let ch = p % self.c;
                let dy = &dy[p * out_plane..(p + 1) * out_plane];
                let k = &k[ch * taps..(ch + 1) * taps];
                vectorized(
                    #[inline(always)]
                    || self.input_grad_plane(&plan, dy, k, dx, buf),
                );
            });
        dx
    }

    fn kernel_grad(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (plane, out_plane, taps) = (self.h * self.w, self.oh * self.ow, self.kh * self.kw);
        let plan = self.plan();
        let mut dk = vec![0f32; self.c * taps];
        // A task is a channel over the whole batch.
        let per_task = (self.planes_per_task() / self.n).max(1);
        dk.par_chunks_mut(taps)
            .enumerate()
            .with_min_len(per_task)
            .for_each_init(Buffers::default, |buf, (ch, dk)| {
                for b in 0..self.n {
                    let p = b * self.c + ch;
                    let (x, dy) = (
                        &x[p * plane..(p + 1) * plane],
                        &dy[p * out_plane..(p + 1) * out_plane],
                    );
                    vectorized(
                        #[inline(always)]
                        || self.kernel_grad_plane(&plan, x, dy, dk, buf),
                    );
                }
            });
        dk
    }
}

/// What every plane of one call shares, worked out once per call: with thousands of small planes
/// (the 3x3 and 6x6 maps of thousands of channels), the integer divisions that found each tap's
/// run, done per plane and tap, took longer than the taps' arithmetic.
struct Plan {
    /// Values of one phase (`hq · wq`, [`Depthwise::phase_dims`]) and of all `sy · sx` of them.
    plane: usize,
    phases: usize,
    /// Columns of a phase.
    wq: usize,
    /// Output values `wq` apart per row: `oh · wq`.
    n: usize,
    /// Per tap `(i, j)`, row-major: where its run starts in the phases ([`Depthwise::tap`]).
    taps: Vec<usize>,
    /// Per phase column `px`: [`Depthwise::phase_columns`].
    columns: Vec<(usize, usize)>,
    /// Per input row some output reads: the row `y`, and where the phase row that holds its
    /// columns for `px = 0` starts (the one for `px` is `px · plane` further).
    rows: Vec<(usize, usize)>,
}

/// A task's scratch space, reused plane after plane.
#[derive(Default)]
struct Buffers {
    /// The input's (or the input gradient's) phases.
    phases: Vec<f32>,
    /// Output values (or gradients) `wq` apart per row.
    rows: Vec<f32>,
}

/// `v` as `len` zeros when it is not `len` long yet, else as it is. A task's buffers serve
/// planes of one geometry, and [`Depthwise::split`] and [`Depthwise::rows_from`] write the same
/// places of them for every plane: the padding and the dropped columns they never write stay
/// the zeros written here once, instead of being zeroed again for each plane (with thousands of
/// small planes, thousands of small `memset`s).
#[inline(always)]
fn zeroed_once(v: &mut Vec<f32>, len: usize) {
    if v.len() != len {
        v.clear();
        v.resize(len, 0.0);
    }
}

/// `Σ a·b` in 8 lanes.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `conv.forward(x)` for a depthwise convolution (groups = input channels = output channels,
/// no bias, no dilation, explicit padding `[top, left, bottom, right]`) of f32 tensors on Flex;
/// `None` otherwise.
pub(crate) fn depthwise(conv: &Conv2d, x: &Tensor<4>, pad: [usize; 4]) -> Option<Tensor<4>> {
    let dims = x.dims();
    if conv.groups != dims[1] || conv.bias.is_some() || conv.dilation != [1, 1] {
        return None;
    }
    let g = Depthwise::new(dims, conv.weight.dims(), conv.stride, pad)?;
    let out = if x.device().is_autodiff() {
        let (x, weight) = (tracked(x.clone())?, tracked(conv.weight.val())?);
        Tensor::from_primitive::<FlexAutodiff>(tracked_depthwise(x, weight, g))
    } else {
        let (x, weight) = (plain(x.clone())?, plain(conv.weight.val())?);
        let y = g.forward(&floats(&x), &floats(&weight));
        Tensor::from_primitive::<Flex>(flex_tensor(y, &[g.n, g.c, g.oh, g.ow]))
    };
    count(|c| c.depthwise += 1);
    Some(out)
}

fn tracked_depthwise(
    x: FloatTensor<FlexAutodiff>,
    weight: FloatTensor<FlexAutodiff>,
    g: Depthwise,
) -> FloatTensor<FlexAutodiff> {
    let y = g.forward(&floats(x.primitive()), &floats(weight.primitive()));
    let out = flex_tensor(y, &[g.n, g.c, g.oh, g.ow]);
    let (x, x_node) = x.into_parts();
    let (weight, weight_node) = weight.into_parts();
    match DepthwiseBackward
        .prepare::<NoCheckpointing>([x_node, weight_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((x, weight, Arc::new(g)), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Flex, 2> for DepthwiseBackward {
    type State = (FloatTensor<Flex>, FloatTensor<Flex>, Arc<Depthwise>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, g) = ops.state;
        let dy = floats(&grad);
        if let Some(node) = node_x {
            let dx = g.input_grad(&dy, &floats(&weight));
            grads.register::<Flex>(node.id, flex_tensor(dx, &[g.n, g.c, g.h, g.w]));
        }
        if let Some(node) = node_weight {
            let dk = g.kernel_grad(&floats(&x), &dy);
            grads.register::<Flex>(node.id, flex_tensor(dk, &[g.c, 1, g.kh, g.kw]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{floats, max_diff};
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::prelude::Device;
    use burn::tensor::Distribution;

    /// Output, input gradient and kernel gradient of `sum(f(x) * r)`.
    fn run(f: impl Fn(Tensor<4>) -> Tensor<4>, x: &Tensor<4>, conv: &Conv2d) -> [Vec<f32>; 3] {
        let x = x.clone().require_grad();
        let y = f(x.clone());
        // The same output weights in both runs, none zero or alike: cos(0), cos(1), ...
        let r = Tensor::arange(0..y.shape().num_elements() as i64, &y.device())
            .float()
            .reshape(y.dims())
            .cos();
        let grads = (y.clone() * r).sum().backward();
        [
            floats(y),
            floats(x.grad(&grads).unwrap()),
            floats(conv.weight.val().grad(&grads).unwrap()),
        ]
    }

    /// Burn's grouped convolution and this one agree on output and both gradients, for 3x3 and
    /// 5x5 kernels, strides 1 and 2, symmetric and TensorFlow-"SAME" (one more after) padding,
    /// odd and even sizes; and this one is what ran.
    #[test]
    fn depthwise_matches_burns_grouped_convolution() {
        let dev = Device::flex().autodiff();
        dev.seed(11);
        let cases = [
            // (channels, size, kernel, stride, [top, left, bottom, right])
            (4, 9, 3, 1, [1, 1, 1, 1]),
            (3, 8, 3, 2, [0, 0, 1, 1]),
            (5, 11, 5, 2, [1, 1, 2, 2]),
            (2, 7, 5, 1, [2, 2, 2, 2]),
            (3, 6, 3, 2, [1, 1, 1, 1]),
            (2, 3, 5, 1, [2, 2, 2, 2]),
            (2, 5, 3, 1, [0, 0, 0, 0]),
            // The last column and row not read by any output; padding on one side only.
            (2, 8, 3, 2, [0, 0, 0, 0]),
            (3, 6, 3, 1, [0, 1, 2, 0]),
            (2, 7, 5, 2, [2, 1, 0, 2]),
        ];
        for (c, s, k, stride, [t, l, b, r]) in cases {
            let conv = Conv2dConfig::new([c, c], [k, k])
                .with_stride([stride, stride])
                .with_groups(c)
                .with_padding(PaddingConfig2d::Explicit(t, l, b, r))
                .with_bias(false)
                .init(&dev);
            let x = Tensor::<4>::random([3, c, s, s], Distribution::Normal(0.0, 1.0), &dev);
            let before = crate::fast_paths().depthwise;
            let ours = run(
                // Through the public entry point: a grouped convolution must reach this path.
                |x| crate::conv2d(&conv, &x).expect("depthwise path"),
                &x,
                &conv,
            );
            assert_eq!(crate::fast_paths().depthwise, before + 1);
            let theirs = run(|x| conv.forward(x), &x, &conv);
            for (i, what) in ["output", "input grad", "kernel grad"].iter().enumerate() {
                assert_eq!(ours[i].len(), theirs[i].len(), "{what}");
                let d = max_diff(&ours[i], &theirs[i]);
                assert!(
                    d < 1e-4,
                    "c{c} s{s} k{k} stride{stride}: {what} differs by {d}"
                );
            }
            assert!(
                ours[2].iter().any(|g| g.abs() > 1e-3),
                "kernel grad is zero"
            );
        }
    }

    /// Inference (no autodiff) gives Burn's output too; a dense or biased convolution is not
    /// taken.
    #[test]
    fn depthwise_inference_and_refusals() {
        let dev = Device::flex();
        let conv = Conv2dConfig::new([6, 6], [3, 3])
            .with_stride([2, 2])
            .with_groups(6)
            .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
            .with_bias(false)
            .init(&dev);
        let x = Tensor::<4>::random([2, 6, 10, 10], Distribution::Normal(0.0, 1.0), &dev);
        let ours = depthwise(&conv, &x, [0, 0, 1, 1]).unwrap();
        assert!(max_diff(&floats(ours), &floats(conv.forward(x.clone()))) < 1e-5);
        let dense = Conv2dConfig::new([6, 6], [3, 3])
            .with_bias(false)
            .init(&dev);
        assert!(depthwise(&dense, &x, [0, 0, 0, 0]).is_none());
        let biased = Conv2dConfig::new([6, 6], [3, 3]).with_groups(6).init(&dev);
        assert!(depthwise(&biased, &x, [0, 0, 0, 0]).is_none());
    }
}
