//! BatchNorm as PyTorch runs it, and on the CPU in training fused with the ReLU that follows it
//! (`cpu_norm.rs` says why).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex, TensorMetadata};
use burn::nn::BatchNorm;
use burn::prelude::*;

use super::conv::{flex_tensor, floats, is_f32};
use super::cpu_norm::{self, Stats};

/// BatchNorm as PyTorch runs it: Burn's layer updates `running_var` with the batch's biased
/// variance, PyTorch (and so fastai) with the unbiased one (x n/(n-1), n the values per channel),
/// which is what validation then normalises with.
///
/// In training on the CPU this is one fused operation (`cpu_norm`); elsewhere it is Burn's
/// forward pass, with the update Burn queued corrected by `m * var / (n - 1)`.
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    norm(bn, x, false)
}

/// `relu(batch_norm(bn, x))`, one operation in training on the CPU.
pub fn batch_norm_relu<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    norm(bn, x, true)
}

/// `relu(batch_norm(bn, x) + residual)`, the end of a ResNet block, one operation in training on
/// the CPU.
pub fn batch_norm_add_relu<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    residual: Tensor<D>,
) -> Tensor<D> {
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    if training && let Some(out) = fused(bn, &x, true, Some(&residual)) {
        return out;
    }
    burn::tensor::activation::relu(norm(bn, x, false) + residual)
}

fn norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>, relu: bool) -> Tensor<D> {
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    let out = if !training {
        bn.forward(x)
    } else if let Some(out) = fused(bn, &x, relu, None) {
        return out;
    } else {
        burns_with_unbiased_running_var(bn, x)
    };
    if relu {
        burn::tensor::activation::relu(out)
    } else {
        out
    }
}

fn burns_with_unbiased_running_var<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let channels = x.dims()[1].max(1);
    let n = x.shape().num_elements() / channels;
    let old = bn.running_var.value_sync();
    let out = bn.forward(x);
    if n > 1 {
        // What Burn queued: (1 - m) * old + m * var_biased.
        let queued = bn.running_var.value_sync();
        let m_var = queued.clone() - old * (1.0 - bn.momentum);
        bn.running_var.update(queued + m_var / (n - 1) as f64);
    }
    out
}

type FlexAutodiff = Autodiff<Flex>;

/// The fused training op on Flex with autodiff, or `None` elsewhere.
fn fused<const D: usize>(
    bn: &BatchNorm,
    x: &Tensor<D>,
    relu: bool,
    residual: Option<&Tensor<D>>,
) -> Option<Tensor<D>> {
    let dims = x.dims();
    if D < 2 {
        return None;
    }
    let s = cpu_norm::Shape {
        n: dims[0],
        c: dims[1],
        hw: dims[2..].iter().product(),
    };
    if s.n * s.hw < 2 {
        return None;
    }
    let xp = x.clone().try_into_primitive::<FlexAutodiff>().ok()?;
    let gp = bn.gamma.val().try_into_primitive::<FlexAutodiff>().ok()?;
    let bp = bn.beta.val().try_into_primitive::<FlexAutodiff>().ok()?;
    if ![xp.primitive(), gp.primitive(), bp.primitive()]
        .iter()
        .all(|t| is_f32(t))
    {
        return None;
    }
    let rp = match residual {
        Some(r) => Some(r.clone().try_into_primitive::<FlexAutodiff>().ok()?),
        None => None,
    };
    if rp
        .as_ref()
        .is_some_and(|r| !is_f32(r.primitive()) || r.primitive().shape() != xp.primitive().shape())
    {
        return None;
    }
    let gamma = floats(gp.primitive()).into_owned();
    let (y, stats) = cpu_norm::forward(
        &floats(xp.primitive()),
        s,
        &gamma,
        &floats(bp.primitive()),
        bn.epsilon,
        relu,
        rp.as_ref().map(|r| floats(r.primitive())).as_deref(),
    );
    let y = flex_tensor(y, &dims);
    update_running_stats(bn, &stats, s, &x.device());
    let (x_inner, x_node) = xp.into_parts();
    let (_, g_node) = gp.into_parts();
    let (_, b_node) = bp.into_parts();
    let state = |y: &FloatTensor<Flex>| BnState {
        x: x_inner,
        y: relu.then(|| y.clone()),
        stats: Arc::new(stats),
        gamma: Arc::new(gamma),
        shape: s,
        dims: dims.to_vec(),
    };
    let out = match rp {
        None => match FusedBatchNormBackward
            .prepare::<NoCheckpointing>([x_node, g_node, b_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state(&y), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        },
        Some(r) => {
            let (_, r_node) = r.into_parts();
            match FusedBatchNormBackward
                .prepare::<NoCheckpointing>([x_node, g_node, b_node, r_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state(&y), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
    };
    Some(Tensor::from_primitive::<FlexAutodiff>(out))
}

/// `running = (1 - m) · running + m · batch`, with the batch's unbiased variance (PyTorch).
fn update_running_stats(bn: &BatchNorm, stats: &Stats, s: cpu_norm::Shape, device: &Device) {
    let m = (s.n * s.hw) as f32;
    let unbiased: Vec<f32> = stats.var.iter().map(|v| v * m / (m - 1.0)).collect();
    let momentum = bn.momentum;
    let blend = |running: Tensor<1>, batch: &[f32]| {
        let batch = Tensor::<1>::from_data(TensorData::new(batch.to_vec(), [s.c]), device);
        running
            .to_device(device)
            .mul_scalar(1.0 - momentum)
            .add(batch.mul_scalar(momentum))
            .detach()
    };
    bn.running_mean
        .update(blend(bn.running_mean.value_sync(), &stats.mean));
    bn.running_var
        .update(blend(bn.running_var.value_sync(), &unbiased));
}

/// What the backward pass keeps: the input, the output (for the ReLU's mask), the batch
/// statistics and γ.
#[derive(Clone, Debug)]
struct BnState {
    x: FloatTensor<Flex>,
    y: Option<FloatTensor<Flex>>,
    stats: Arc<Stats>,
    gamma: Arc<Vec<f32>>,
    shape: cpu_norm::Shape,
    dims: Vec<usize>,
}

#[derive(Debug)]
struct FusedBatchNormBackward;

/// Parents: x, γ, β, and with a residual (N = 4) the residual.
impl<const N: usize> Backward<Flex, N> for FusedBatchNormBackward {
    type State = BnState;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let mut parents = ops.parents.into_iter();
        let mut next = || parents.next().flatten();
        let (node_x, node_gamma, node_beta, node_residual) = (next(), next(), next(), next());
        let grad = grads.consume::<Flex>(&ops.node);
        let st = ops.state;
        let y = st.y.as_ref().map(floats);
        let dy = floats(&grad);
        let (dx, dgamma, dbeta) = cpu_norm::backward(
            &dy,
            &floats(&st.x),
            y.as_deref(),
            st.shape,
            &st.gamma,
            &st.stats,
        );
        let c = [st.shape.c];
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_tensor(dx, &st.dims));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex_tensor(dgamma, &c));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex_tensor(dbeta, &c));
        }
        if let (Some(node), Some(y)) = (node_residual, y.as_deref()) {
            grads.register::<Flex>(node.id, flex_tensor(cpu_norm::masked(&dy, y), &st.dims));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{floats, max_diff};
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;
    use std::sync::atomic::Ordering;

    /// Output, gradients of x, γ, β of `sum(f(bn, x) * r)`, and the running statistics after.
    /// The layer is built afresh (clones of a layer share its running statistics).
    fn run<const D: usize>(
        f: impl Fn(&BatchNorm, Tensor<D>) -> Tensor<D>,
        gamma_beta: &(Tensor<1>, Tensor<1>),
        x: &Tensor<D>,
        r: &Tensor<D>,
    ) -> [Vec<f32>; 6] {
        let dev = x.device();
        let mut bn = BatchNormConfig::new(gamma_beta.0.dims()[0]).init(&dev);
        bn.gamma = burn::module::Param::from_tensor(gamma_beta.0.clone());
        bn.beta = burn::module::Param::from_tensor(gamma_beta.1.clone());
        let x = x.clone().require_grad();
        let y = f(&bn, x.clone());
        let grads = (y.clone() * r.clone()).sum().backward();
        [
            floats(y),
            floats(x.grad(&grads).unwrap()),
            floats(bn.gamma.val().grad(&grads).unwrap()),
            floats(bn.beta.val().grad(&grads).unwrap()),
            floats(bn.running_mean.value_sync()),
            floats(bn.running_var.value_sync()),
        ]
    }

    /// PyTorch's BatchNorm (+ ReLU) written with Burn's layer: the reference.
    fn reference<const D: usize>(bn: &BatchNorm, x: Tensor<D>, relu: bool) -> Tensor<D> {
        let out = burns_with_unbiased_running_var(bn, x);
        if relu {
            burn::tensor::activation::relu(out)
        } else {
            out
        }
    }

    /// The fused op gives Burn's output, gradients and running statistics (with PyTorch's
    /// unbiased variance), with and without ReLU, on 4-D maps (7x7 and 1x1) and 2-D features,
    /// with γ and β away from their initial values; and it is the op that ran.
    #[test]
    fn fused_batch_norm_matches_burns() {
        let dev = Device::flex().autodiff();
        dev.seed(5);
        for relu in [false, true] {
            for dims in [[6, 3, 7, 7], [8, 5, 1, 1], [4, 2, 3, 5]] {
                let bn = (
                    Tensor::random([dims[1]], Distribution::Normal(1.0, 0.5), &dev),
                    Tensor::random([dims[1]], Distribution::Normal(0.0, 0.5), &dev),
                );
                let x = Tensor::<4>::random(dims, Distribution::Normal(0.5, 2.0), &dev);
                let r = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &dev);
                let before = cpu_norm::CALLS.load(Ordering::Relaxed);
                let ours = run(|bn, x| norm(bn, x, relu), &bn, &x, &r);
                assert!(
                    cpu_norm::CALLS.load(Ordering::Relaxed) > before,
                    "fused op not taken"
                );
                let theirs = run(|bn, x| reference(bn, x, relu), &bn, &x, &r);
                let what = ["output", "x grad", "gamma grad", "beta grad", "mean", "var"];
                for i in 0..6 {
                    let d = max_diff(&ours[i], &theirs[i]);
                    assert!(
                        d < 2e-4,
                        "{dims:?} relu={relu}: {} differs by {d}: {:?} vs {:?}",
                        what[i],
                        &ours[i][..2],
                        &theirs[i][..2]
                    );
                }
                if relu {
                    assert!(ours[0].contains(&0.0), "{dims:?}: ReLU clipped nothing");
                }
            }
        }
        // Features [n, c] as in fastai's head.
        let bn = (Tensor::ones([6], &dev), Tensor::zeros([6], &dev));
        let x = Tensor::<2>::random([10, 6], Distribution::Normal(0.0, 1.0), &dev);
        let r = Tensor::<2>::random([10, 6], Distribution::Normal(0.0, 1.0), &dev);
        let ours = run(|bn, x| norm(bn, x, false), &bn, &x, &r);
        let theirs = run(|bn, x| reference(bn, x, false), &bn, &x, &r);
        for i in 0..6 {
            assert!(max_diff(&ours[i], &theirs[i]) < 2e-4, "2-D: value {i}");
        }
    }

    /// The end of a ResNet block, `relu(bn(x) + residual)`, fused: Burn's output, running
    /// statistics, and gradients of x, γ, β and the residual.
    #[test]
    fn fused_residual_matches_burns() {
        let dev = Device::flex().autodiff();
        dev.seed(9);
        let dims = [5, 4, 3, 3];
        let gb = (
            Tensor::random([4], Distribution::Normal(1.0, 0.5), &dev),
            Tensor::random([4], Distribution::Normal(0.0, 0.5), &dev),
        );
        let x = Tensor::<4>::random(dims, Distribution::Normal(0.5, 2.0), &dev);
        let res = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let r = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &dev);
        let residual_grad = |fused: bool| {
            let mut bn = BatchNormConfig::new(4).init(&dev);
            bn.gamma = burn::module::Param::from_tensor(gb.0.clone());
            bn.beta = burn::module::Param::from_tensor(gb.1.clone());
            let (x, res) = (x.clone().require_grad(), res.clone());
            let y = if fused {
                batch_norm_add_relu(&bn, x.clone(), res.clone())
            } else {
                burn::tensor::activation::relu(reference(&bn, x.clone(), false) + res.clone())
            };
            let g = (y.clone() * r.clone()).sum().backward();
            let out = [
                floats(y),
                floats(x.grad(&g).unwrap()),
                floats(bn.gamma.val().grad(&g).unwrap()),
                floats(bn.beta.val().grad(&g).unwrap()),
                floats(bn.running_mean.value_sync()),
                floats(bn.running_var.value_sync()),
            ];
            (out, floats(res.grad(&g).unwrap()))
        };
        let before = cpu_norm::CALLS.load(Ordering::Relaxed);
        let (ours, ours_res) = residual_grad(true);
        assert!(cpu_norm::CALLS.load(Ordering::Relaxed) > before);
        let (theirs, theirs_res) = residual_grad(false);
        for i in 0..6 {
            assert!(max_diff(&ours[i], &theirs[i]) < 2e-4, "value {i}");
        }
        assert!(max_diff(&ours_res, &theirs_res) < 1e-5, "residual gradient");
        assert!(ours_res.contains(&0.0) && ours_res.iter().any(|g| g.abs() > 0.1));
    }

    /// Inference, and a frozen layer in training, use the running statistics (Burn's path).
    #[test]
    fn inference_uses_running_statistics() {
        let dev = Device::flex();
        let bn = BatchNormConfig::new(3).init(&dev);
        let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(3.0, 1.0), &dev);
        let expected = burn::tensor::activation::relu(bn.forward(x.clone()));
        assert!(max_diff(&floats(batch_norm_relu(&bn, x)), &floats(expected)) < 1e-6);
    }
}
