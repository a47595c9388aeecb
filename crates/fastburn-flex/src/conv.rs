//! Convolutions on Flex: as matrix products over tiles of whole images (`cpu_conv.rs` says why
//! and how), and, with one output position (a ResNet's last stage on small images), as one
//! product over the kernel taps that touch the input. Both are Burn custom autodiff ops in
//! training, plain computations in inference.

use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use crate::counters::count;
use crate::cpu_conv::{self, Geometry};
use crate::interop::{FlexAutodiff, flex_tensor, floats, plain, tracked};
use crate::par::prelude::*;

/// `conv.forward(x)`, computed here when `x` and the kernel are f32 on Flex, with or without
/// autodiff; `None` for anything else (another backend or dtype, a bias, groups other than one
/// per channel, dilation, padding other than explicit), which Burn's `Conv2d::forward` then
/// computes. A depthwise convolution (one group per channel) is computed plane by plane
/// (`depthwise.rs`).
///
/// ```
/// use burn::nn::{PaddingConfig2d, conv::Conv2dConfig};
/// use burn::prelude::*;
/// let dev = Device::flex().autodiff();
/// let conv = Conv2dConfig::new([3, 8], [3, 3])
///     .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
///     .with_bias(false)
///     .init(&dev);
/// let x = Tensor::<4>::ones([2, 3, 7, 7], &dev);
/// let y = fastburn_flex::conv2d(&conv, &x).unwrap_or_else(|| conv.forward(x.clone()));
/// assert_eq!(y.dims(), [2, 8, 7, 7]);
/// ```
pub fn conv2d(conv: &Conv2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    let PaddingConfig2d::Explicit(top, left, bottom, right) = conv.padding else {
        return None;
    };
    let pad = [top, left, bottom, right];
    if conv.groups > 1 {
        return crate::depthwise::depthwise(conv, x, pad);
    }
    if conv.bias.is_some() || conv.dilation != [1, 1] {
        return None;
    }
    if let Some(region) = Region::single_position(conv, x.dims(), pad) {
        return single_output_position(conv, x, region);
    }
    let g = Geometry::new(x.dims(), conv.weight.dims(), conv.stride, pad)?;
    let out = if x.device().is_autodiff() {
        let (x, weight) = (tracked(x.clone())?, tracked(conv.weight.val())?);
        Tensor::from_primitive::<FlexAutodiff>(tracked_conv(x, weight, g))
    } else {
        let (x, weight) = (plain(x.clone())?, plain(conv.weight.val())?);
        let (y, _) = cpu_conv::forward(&floats(&x), &floats(&weight), &g, false);
        Tensor::from_primitive::<Flex>(flex_tensor(y, &[g.n, g.c_out, g.oh, g.ow]))
    };
    count(|c| {
        c.conv += 1;
        c.pointwise += usize::from(g.pointwise());
    });
    Some(out)
}

/// The forward pass on the autodiff graph: the output, and when a gradient is wanted, a node
/// whose backward is [`BatchedConv2dBackward`].
fn tracked_conv(
    x: FloatTensor<FlexAutodiff>,
    weight: FloatTensor<FlexAutodiff>,
    g: Geometry,
) -> FloatTensor<FlexAutodiff> {
    let (y, columns) = cpu_conv::forward(
        &floats(x.primitive()),
        &floats(weight.primitive()),
        &g,
        true,
    );
    let out = flex_tensor(y, &[g.n, g.c_out, g.oh, g.ow]);
    let (x, x_node) = x.into_parts();
    let (weight, weight_node) = weight.into_parts();
    match BatchedConv2dBackward
        .prepare::<NoCheckpointing>([x_node, weight_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((x, columns.map(Arc::new), weight, g), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// A convolution with a single output position is one matrix product over the part of the
/// kernel that overlaps the input. ResNet-18's last stage on 28x28 digits works on 1x1 maps, where
/// im2col multiplies zero padding by 8 of the 9 taps of each 3x3 kernel (and computes their
/// gradients too). Same arithmetic minus the zeros, on any backend. (Unrolling the kernel the same
/// way for the 2x2 maps of the stage before was slower here: the gather costs more than it saves.)
fn single_output_position(conv: &Conv2d, x: &Tensor<4>, r: Region) -> Option<Tensor<4>> {
    let out = if x.device().is_autodiff() {
        let (xp, wp) = (tracked(x.clone())?, tracked(conv.weight.val())?);
        Tensor::from_primitive::<FlexAutodiff>(single_position_tracked(xp, wp, r))
    } else {
        // Inference: the same product with Burn's tensor ops (on Flex).
        plain(x.clone())?;
        let ([n, c_in, h, w], c_out, [top, left]) = (r.dims, r.weight[0], r.at);
        let taps = conv
            .weight
            .val()
            .slice([0..c_out, 0..c_in, top..top + h, left..left + w])
            .reshape([c_out, c_in * h * w]);
        let out = x
            .clone()
            .reshape([n, c_in * h * w])
            .matmul(taps.transpose());
        out.reshape([n, c_out, 1, 1])
    };
    count(|c| c.single_position += 1);
    Some(out)
}

/// Where a single-output-position convolution's input meets its kernel.
#[derive(Clone, Copy, Debug)]
struct Region {
    /// The input: [n, c_in, h, w].
    dims: [usize; 4],
    /// The kernel: [c_out, c_in, kh, kw].
    weight: [usize; 4],
    /// The kernel row and column over the input's first pixel.
    at: [usize; 2],
}

impl Region {
    /// The region of a convolution (no groups, no dilation) of `x` with one output position, or
    /// `None` when it has more.
    fn single_position(conv: &Conv2d, x: [usize; 4], pad: [usize; 4]) -> Option<Region> {
        let [top, left, bottom, right] = pad;
        let [n, c_in, h, w] = x;
        let [c_out, _, kh, kw] = conv.weight.dims();
        let fits = h + top + bottom >= kh
            && w + left + right >= kw
            && (h + top + bottom - kh) / conv.stride[0] == 0
            && (w + left + right - kw) / conv.stride[1] == 0
            && top + h <= kh
            && left + w <= kw;
        fits.then_some(Region {
            dims: [n, c_in, h, w],
            weight: [c_out, c_in, kh, kw],
            at: [top, left],
        })
    }

    /// Where each tap lies in one `kh·kw` kernel plane, in the order of one `h·w` tap plane.
    fn plane_offsets(&self) -> Vec<usize> {
        let ([_, _, h, w], kw, [top, left]) = (self.dims, self.weight[3], self.at);
        (0..h * w)
            .map(|t| (top + t / w) * kw + left + t % w)
            .collect()
    }

    /// The taps that see the input, `[c_out, c_in·h·w]`, copied out of the kernel. One output
    /// channel per task, element by element: the rows are one or two floats long, where a
    /// `copy_from_slice` per row was a libc call per float.
    fn gather(&self, weight: &[f32]) -> Vec<f32> {
        let ([_, c_in, h, w], [c_out, _, kh, kw]) = (self.dims, self.weight);
        let at = self.plane_offsets();
        let mut taps = cpu_conv::zeros(c_out * c_in * h * w);
        taps.par_chunks_mut(c_in * h * w)
            .zip(weight.par_chunks(c_in * kh * kw))
            .for_each(|(taps, kernel)| {
                for (t, plane) in taps.chunks_mut(h * w).zip(kernel.chunks(kh * kw)) {
                    t.iter_mut().zip(&at).for_each(|(t, &i)| *t = plane[i]);
                }
            });
        taps
    }

    /// A full-size kernel gradient that is zero outside the taps, written by every core (it is
    /// the size of the kernel: 9.4 MB for a 512x512 3x3 layer).
    fn scatter(&self, taps: &[f32]) -> Vec<f32> {
        let ([_, c_in, h, w], [c_out, _, kh, kw]) = (self.dims, self.weight);
        let at = self.plane_offsets();
        let mut full = cpu_conv::zeros(c_out * c_in * kh * kw);
        full.par_chunks_mut(c_in * kh * kw)
            .zip(taps.par_chunks(c_in * h * w))
            .for_each(|(kernel, taps)| {
                for (plane, t) in kernel.chunks_mut(kh * kw).zip(taps.chunks(h * w)) {
                    t.iter().zip(&at).for_each(|(&t, &i)| plane[i] = t);
                }
            });
        full
    }
}

/// The single-output-position convolution on Flex with autodiff as one op: the tensor version's
/// backward filled a zero tensor of the whole kernel and wrote the taps into it with Burn's
/// generic `slice_assign` (5% of a ResNet-18 step on digits).
fn single_position_tracked(
    x: FloatTensor<FlexAutodiff>,
    weight: FloatTensor<FlexAutodiff>,
    r: Region,
) -> FloatTensor<FlexAutodiff> {
    let ([n, c_in, h, w], c_out) = (r.dims, r.weight[0]);
    let k = c_in * h * w;
    let taps = r.gather(&floats(weight.primitive()));
    let y = cpu_conv::product(
        (n, c_out, k),
        &floats(x.primitive()),
        (1, k as isize),
        &taps,
        (k as isize, 1),
        true,
    );
    let out = flex_tensor(y, &[n, c_out, 1, 1]);
    let (x, x_node) = x.into_parts();
    let (_, weight_node) = weight.into_parts();
    match SinglePositionBackward
        .prepare::<NoCheckpointing>([x_node, weight_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((x, Arc::new(taps), r), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

#[derive(Debug)]
struct SinglePositionBackward;

impl Backward<Flex, 2> for SinglePositionBackward {
    type State = (FloatTensor<Flex>, Arc<Vec<f32>>, Region);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, taps, r) = ops.state;
        let ([n, c_in, h, w], c_out) = (r.dims, r.weight[0]);
        let k = c_in * h * w;
        let dy = floats(&grad);
        if let Some(node) = node_x {
            // dX[n, k] = dY[n, c_out] · taps[c_out, k]
            let dx = cpu_conv::product(
                (n, k, c_out),
                &dy,
                (1, c_out as isize),
                &taps,
                (1, k as isize),
                true,
            );
            grads.register::<Flex>(node.id, flex_tensor(dx, &r.dims));
        }
        if let Some(node) = node_weight {
            // dtaps[c_out, k] = dYᵀ · X[n, k]
            let dtaps = cpu_conv::product(
                (c_out, k, n),
                &dy,
                (c_out as isize, 1),
                &floats(&x),
                (1, k as isize),
                true,
            );
            grads.register::<Flex>(node.id, flex_tensor(r.scatter(&dtaps), &r.weight));
        }
    }
}

/// The backward of [`tracked`]: state = the input, the forward's column matrices when kept,
/// the weight, the shapes.
#[derive(Debug)]
struct BatchedConv2dBackward;

impl Backward<Flex, 2> for BatchedConv2dBackward {
    type State = (
        FloatTensor<Flex>,
        Option<Arc<cpu_conv::Columns>>,
        FloatTensor<Flex>,
        Geometry,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, columns, weight, g) = ops.state;
        let (dx, dw) = cpu_conv::backward(
            &floats(&grad),
            &floats(&x),
            columns.as_deref(),
            &floats(&weight),
            &g,
            (node_x.is_some(), node_weight.is_some()),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, flex_tensor(dx, &[g.n, g.c_in, g.h, g.w]));
        }
        if let (Some(node), Some(dw)) = (node_weight, dw) {
            grads.register::<Flex>(node.id, flex_tensor(dw, &[g.c_out, g.c_in, g.kh, g.kw]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{floats, max_diff};
    use burn::nn::conv::Conv2dConfig;
    use burn::prelude::Device;
    use burn::tensor::{Distribution, TensorData};

    fn conv(c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
        Conv2dConfig::new([c_in, c_out], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .with_bias(false)
            .init(device)
    }

    /// The convolution on the fast path; fails the test when it was not taken.
    fn fast(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        conv2d(conv, &x).expect("the fast path was not taken")
    }

    /// Output, input gradient and weight gradient of `sum(conv(x) * r)`.
    fn run(
        f: impl Fn(&Conv2d, Tensor<4>) -> Tensor<4>,
        conv: &Conv2d,
        x: &Tensor<4>,
        r: &Tensor<4>,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = x.clone().require_grad();
        let y = f(conv, x.clone());
        let grads = (y.clone() * r.clone()).sum().backward();
        let gw = conv.weight.val().grad(&grads).unwrap();
        (floats(y), floats(x.grad(&grads).unwrap()), floats(gw))
    }

    /// Same forward values and gradients as Burn's `Conv2d::forward` for ResNet's kinds of
    /// convolution (3x3 stride 1 and 2, the 7x7/2 stem, the 1x1/2 shortcut) and the 1x1/1 ones
    /// of EfficientNet and ResNet-50 (the pointwise path), with a batch that does not split
    /// evenly between threads.
    #[test]
    fn matches_burns_conv2d_forward_and_gradients() {
        let dev = Device::flex().autodiff();
        dev.seed(7);
        let cases = [
            (3, 4, 3, 1),
            (3, 5, 3, 2),
            (2, 4, 7, 2),
            (4, 6, 1, 2),
            (4, 6, 1, 1),
        ];
        for (c_in, c_out, k, stride) in cases {
            let conv = conv(c_in, c_out, k, stride, &dev);
            let x = Tensor::<4>::random([5, c_in, 9, 9], Distribution::Normal(0.0, 1.0), &dev);
            let out = conv.forward(x.clone()).dims();
            let r = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &dev);
            let before = crate::fast_paths();
            let ours = run(fast, &conv, &x, &r);
            let after = crate::fast_paths();
            assert_eq!(after.conv, before.conv + 1, "the batched convolution ran");
            let pointwise = usize::from(k == 1 && stride == 1);
            assert_eq!(after.pointwise, before.pointwise + pointwise);
            let burns = run(|c, x| c.forward(x), &conv, &x, &r);
            let case = format!("{c_in}->{c_out} {k}x{k}/{stride}");
            assert!(max_diff(&ours.0, &burns.0) < 1e-5, "{case}: output");
            assert!(max_diff(&ours.1, &burns.1) < 1e-4, "{case}: input gradient");
            assert!(
                max_diff(&ours.2, &burns.2) < 1e-4,
                "{case}: weight gradient"
            );
            assert!(
                ours.1.iter().any(|g| g.abs() > 0.1),
                "{case}: gradient is not all zero"
            );
        }
    }

    /// The gradients against central finite differences of the loss, which is linear in each
    /// input and weight, so the difference quotient is exact up to f32 rounding.
    #[test]
    fn gradients_match_finite_differences() {
        let dev = Device::flex().autodiff();
        dev.seed(3);
        let conv = conv(2, 3, 3, 2, &dev);
        let x = Tensor::<4>::random([3, 2, 6, 6], Distribution::Normal(0.0, 1.0), &dev);
        let r = Tensor::<4>::random([3, 3, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
        let (_, gx, gw) = run(fast, &conv, &x, &r);
        // The loss by Burn's own convolution (the inputs are not tracked; the kernel is).
        let loss = |conv: &Conv2d, x: Tensor<4>| -> f64 {
            let y = conv.forward(x.inner());
            f64::from((y * r.clone().inner()).sum().into_scalar::<f32>())
        };
        let eps = 1e-2f32;
        let xs = floats(x.clone());
        for i in [0, 17, 40, 71, 100, 215] {
            let mut plus = xs.clone();
            plus[i] += eps;
            let mut minus = xs.clone();
            minus[i] -= eps;
            let at = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [3, 2, 6, 6]), &dev);
            let fd = (loss(&conv, at(plus)) - loss(&conv, at(minus))) / (2.0 * f64::from(eps));
            assert!(
                (fd - f64::from(gx[i])).abs() < 2e-3,
                "x[{i}]: {fd} vs {}",
                gx[i]
            );
        }
        let ws = floats(conv.weight.val());
        for i in [0, 9, 25, 53] {
            let with = |delta: f32| {
                let mut v = ws.clone();
                v[i] += delta;
                let mut c = conv.clone();
                c.weight = burn::module::Param::from_tensor(Tensor::from_data(
                    TensorData::new(v, [3, 2, 3, 3]),
                    &dev,
                ));
                loss(&c, x.clone())
            };
            let fd = (with(eps) - with(-eps)) / (2.0 * f64::from(eps));
            assert!(
                (fd - f64::from(gw[i])).abs() < 2e-3,
                "w[{i}]: {fd} vs {}",
                gw[i]
            );
        }
    }

    /// Convolutions with one output position (ResNet-18's last stage on digits: 3x3 kernels on
    /// 1x1 maps, the 2x2 -> 1x1 stride-2 one into it, a 7x7 stem on tiny inputs) give Burn's
    /// output and gradients, with and without autodiff.
    #[test]
    fn single_output_position_matches_burns_conv2d() {
        for dev in [Device::flex().autodiff(), Device::flex()] {
            dev.seed(11);
            let cases = [(3, 1, 1), (3, 2, 2), (3, 2, 1), (7, 2, 1), (7, 2, 2)];
            for (k, stride, size) in cases {
                let conv = conv(6, 5, k, stride, &dev);
                let x =
                    Tensor::<4>::random([4, 6, size, size], Distribution::Normal(0.0, 1.0), &dev);
                assert!(Region::single_position(&conv, x.dims(), [k / 2; 4]).is_some());
                let case = format!("{k}x{k}/{stride} on {size}x{size}");
                let expected = conv.forward(x.clone());
                let before = crate::fast_paths().single_position;
                let ours = fast(&conv, x.clone());
                assert_eq!(
                    crate::fast_paths().single_position,
                    before + 1,
                    "{case}: the single-position op ran"
                );
                assert_eq!(ours.dims(), expected.dims(), "{case}");
                assert!(
                    max_diff(&floats(ours), &floats(expected.clone())) < 1e-5,
                    "{case}: output"
                );
                if dev.is_autodiff() {
                    let r =
                        Tensor::<4>::random(expected.dims(), Distribution::Normal(0.0, 1.0), &dev);
                    let ours = run(fast, &conv, &x, &r);
                    let burns = run(|c, x| c.forward(x), &conv, &x, &r);
                    assert!(max_diff(&ours.1, &burns.1) < 1e-4, "{case}: input gradient");
                    assert!(
                        max_diff(&ours.2, &burns.2) < 1e-4,
                        "{case}: weight gradient"
                    );
                }
            }
        }
        // More than one output position keeps the general path.
        let dev = Device::flex();
        let x = Tensor::<4>::zeros([1, 6, 2, 2], &dev);
        assert!(Region::single_position(&conv(6, 5, 3, 1, &dev), x.dims(), [1; 4]).is_none());
    }

    /// Without autodiff (inference, serving) the batched convolution gives Burn's output too.
    #[test]
    fn plain_cpu_device_gives_burns_output() {
        let dev = Device::flex();
        let conv = conv(3, 4, 3, 1, &dev);
        let x = Tensor::<4>::random([2, 3, 5, 5], Distribution::Normal(0.0, 1.0), &dev);
        let ours = floats(fast(&conv, x.clone()));
        assert!(max_diff(&ours, &floats(conv.forward(x))) < 1e-5);
    }
}
