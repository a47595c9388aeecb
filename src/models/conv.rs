//! ResNet's convolutions, computed faster on the CPU than `Conv2d::forward`, with the same
//! parameters, record and results.
//!
//! - Burn's Flex backend computes a convolution's input gradient as a transposed convolution and
//!   runs it on one thread when its output is under 256 K values: for ResNet-18 on 28x28 digits
//!   at batch 64, every layer. That was the largest serial part of a training step
//!   (bench/README.md). A custom autodiff op (Burn's backend-extension API) runs the same Burn
//!   kernels on slices of the batch in parallel, and the weight gradient alongside: the numbers
//!   are Burn's, only the scheduling differs.
//! - A convolution with one output position (the last stage's 1x1 maps) is one matrix product
//!   over the kernel taps that touch the input, instead of im2col over mostly zero padding.
//!
//! Other backends (GPUs) and inference without autodiff use Burn's convolution, apart from the
//! second point, which is the same arithmetic on any backend.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, Slice, TensorMetadata};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

/// Autodiff on Flex, as `Device::flex().autodiff()` builds it (no gradient checkpointing).
type FlexAutodiff = Autodiff<Flex>;

/// `conv.forward(x)`, computed as the module documentation says.
pub(crate) fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let PaddingConfig2d::Explicit(top, left, bottom, right) = conv.padding else {
        return conv.forward(x);
    };
    if conv.bias.is_some() {
        return conv.forward(x);
    }
    if let Some(out) = single_output_position(conv, &x, [top, left, bottom, right]) {
        return out;
    }
    let weight = conv.weight.val();
    let (Ok(x_ad), Ok(weight_ad)) = (
        x.clone().try_into_primitive::<FlexAutodiff>(),
        weight.try_into_primitive::<FlexAutodiff>(),
    ) else {
        return conv.forward(x);
    };
    let options = ConvOptions::new_with_padding(
        conv.stride,
        [(top, bottom), (left, right)],
        conv.dilation,
        conv.groups,
    );
    let out = match ParallelConv2dBackward
        .prepare::<NoCheckpointing>([x_ad.node(), weight_ad.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x_ad);
            let weight_state = prep.checkpoint(&weight_ad);
            let out = Flex::conv2d(
                x_ad.into_primitive(),
                weight_ad.into_primitive(),
                None,
                options.clone(),
            );
            prep.finish((x_state, weight_state, options), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(Flex::conv2d(
            x_ad.into_primitive(),
            weight_ad.into_primitive(),
            None,
            options,
        )),
    };
    Tensor::from_primitive::<FlexAutodiff>(out)
}

/// A convolution with a single output position is one matrix product over the part of the
/// kernel that overlaps the input. ResNet-18's last stage on 28x28 digits works on 1x1 maps, where
/// im2col multiplies zero padding by 8 of the 9 taps of each 3x3 kernel (and computes their
/// gradients too). Same arithmetic minus the zeros, on any backend. (Unrolling the kernel the same
/// way for the 2x2 maps of the stage before was slower here: the gather costs more than it saves.)
fn single_output_position(conv: &Conv2d, x: &Tensor<4>, pad: [usize; 4]) -> Option<Tensor<4>> {
    let [top, left, bottom, right] = pad;
    let [n, c_in, h, w] = x.dims();
    let [c_out, _, kh, kw] = conv.weight.dims();
    let fits = conv.groups == 1
        && conv.dilation == [1, 1]
        && h + top + bottom >= kh
        && w + left + right >= kw
        && (h + top + bottom - kh) / conv.stride[0] == 0
        && (w + left + right - kw) / conv.stride[1] == 0
        && top + h <= kh
        && left + w <= kw;
    if !fits {
        return None;
    }
    let taps = conv
        .weight
        .val()
        .slice([0..c_out, 0..c_in, top..top + h, left..left + w])
        .reshape([c_out, c_in * h * w]);
    let out = x
        .clone()
        .reshape([n, c_in * h * w])
        .matmul(taps.transpose());
    Some(out.reshape([n, c_out, 1, 1]))
}

#[derive(Debug)]
struct ParallelConv2dBackward;

impl Backward<Flex, 2> for ParallelConv2dBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, weight_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<Flex>>(x_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<Flex>>(weight_state);

        let (x_grad, weight_grad) = rayon::join(
            || {
                node_x.is_some().then(|| {
                    x_grad_by_batch_slices(x.clone(), weight.clone(), grad.clone(), &options)
                })
            },
            || {
                node_weight.is_some().then(|| {
                    Flex::conv2d_weight_backward(
                        x.clone(),
                        weight.clone(),
                        grad.clone(),
                        options.clone(),
                    )
                })
            },
        );
        if let (Some(node), Some(g)) = (node_x, x_grad) {
            grads.register::<Flex>(node.id, g);
        }
        if let (Some(node), Some(g)) = (node_weight, weight_grad) {
            grads.register::<Flex>(node.id, g);
        }
    }
}

/// Burn's input gradient, one slice of the batch per thread (images do not interact in it).
fn x_grad_by_batch_slices(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    grad: FloatTensor<Flex>,
    options: &ConvOptions<2>,
) -> FloatTensor<Flex> {
    let batch = x.shape()[0];
    let parts = rayon::current_num_threads().min(batch);
    if parts <= 1 {
        return Flex::conv2d_x_backward(x, weight, grad, options.clone());
    }
    let chunk = batch.div_ceil(parts);
    let slices: Vec<_> = (0..batch)
        .step_by(chunk)
        .map(|start| Slice::from(start..(start + chunk).min(batch)))
        .collect();
    let parts: Vec<_> = slices
        .into_par_iter()
        .map(|rows| {
            Flex::conv2d_x_backward(
                Flex::float_slice(x.clone(), &[rows]),
                weight.clone(),
                Flex::float_slice(grad.clone(), &[rows]),
                options.clone(),
            )
        })
        .collect();
    Flex::float_cat(parts, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::prelude::Device;
    use burn::tensor::{Distribution, TensorData};

    fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn conv(c_in: usize, c_out: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
        Conv2dConfig::new([c_in, c_out], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .with_bias(false)
            .init(device)
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
    /// convolution (3x3 stride 1 and 2, the 7x7/2 stem, the 1x1/2 shortcut), with a batch that
    /// does not split evenly between threads.
    #[test]
    fn matches_burns_conv2d_forward_and_gradients() {
        let dev = Device::flex().autodiff();
        dev.seed(7);
        for (c_in, c_out, k, stride) in [(3, 4, 3, 1), (3, 5, 3, 2), (2, 4, 7, 2), (4, 6, 1, 2)] {
            let conv = conv(c_in, c_out, k, stride, &dev);
            let x = Tensor::<4>::random([5, c_in, 9, 9], Distribution::Normal(0.0, 1.0), &dev);
            let out = conv.forward(x.clone()).dims();
            let r = Tensor::<4>::random(out, Distribution::Normal(0.0, 1.0), &dev);
            let ours = run(conv2d, &conv, &x, &r);
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
        let (_, gx, gw) = run(conv2d, &conv, &x, &r);
        let loss = |conv: &Conv2d, x: Tensor<4>| -> f64 {
            let y = conv2d(conv, x.inner());
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
                assert!(single_output_position(&conv, &x, [k / 2; 4]).is_some());
                let case = format!("{k}x{k}/{stride} on {size}x{size}");
                let expected = conv.forward(x.clone());
                let ours = conv2d(&conv, x.clone());
                assert_eq!(ours.dims(), expected.dims(), "{case}");
                assert!(
                    max_diff(&floats(ours), &floats(expected.clone())) < 1e-5,
                    "{case}: output"
                );
                if dev.is_autodiff() {
                    let r =
                        Tensor::<4>::random(expected.dims(), Distribution::Normal(0.0, 1.0), &dev);
                    let ours = run(conv2d, &conv, &x, &r);
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
        assert!(single_output_position(&conv(6, 5, 3, 1, &dev), &x, [1; 4]).is_none());
    }

    /// Without autodiff (inference) it is Burn's convolution.
    #[test]
    fn plain_cpu_device_gives_burns_output() {
        let dev = Device::flex();
        let conv = conv(3, 4, 3, 1, &dev);
        let x = Tensor::<4>::random([2, 3, 5, 5], Distribution::Normal(0.0, 1.0), &dev);
        assert!(max_diff(&floats(conv2d(&conv, x.clone())), &floats(conv.forward(x))) < 1e-6);
    }
}
