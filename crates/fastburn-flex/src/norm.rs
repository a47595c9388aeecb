//! Training BatchNorm on Flex as one fused op, with the ReLU or ReLU6 (and a ResNet block's
//! residual add) that follows it: two passes over the activations forward and two backward, where Burn's
//! layer swaps axes and copies for each statistic and runs each formula as its own pass
//! (`cpu_norm.rs` has the kernels). Inference BatchNorm with its activation is one pass.

use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::nn::BatchNorm;
use burn::prelude::*;

use crate::counters::count;
use crate::cpu_norm::{self, Stats};
use crate::interop::{FlexAutodiff, flex_tensor, floats, plain, tracked};

/// The activation that follows the normalisation in the same op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// None: BatchNorm alone.
    Identity,
    /// `max(0, y)`.
    Relu,
    /// `min(max(0, y), 6)` (MobileNet's and EfficientNet-Lite's).
    Relu6,
}

impl Activation {
    /// The upper end of the clamp to `[0, cap]`, or `None` for no clamp.
    fn cap(self) -> Option<f32> {
        match self {
            Activation::Identity => None,
            Activation::Relu => Some(f32::INFINITY),
            Activation::Relu6 => Some(6.0),
        }
    }
}

/// `bn` in training on `x` as one op: PyTorch's BatchNorm (batch statistics; the running
/// statistics updated with the unbiased variance), then `act`, and with a `residual`
/// `relu(bn(x) + residual)` (a ResNet block's end; `act` must then be `Relu`). `None` unless
/// `x`, γ, β (and the residual) are f32 on Flex with autodiff; the caller then runs Burn's layer.
///
/// ```
/// use burn::nn::BatchNormConfig;
/// use burn::prelude::*;
/// use fastburn_flex::Activation;
/// let dev = Device::flex().autodiff();
/// let bn = BatchNormConfig::new(3).init(&dev);
/// let x = Tensor::<4>::random([4, 3, 5, 5], burn::tensor::Distribution::Default, &dev);
/// let y = fastburn_flex::batch_norm(&bn, &x, Activation::Relu6, None).expect("f32 on Flex with autodiff");
/// assert!(y.clone().min().into_scalar::<f32>() >= 0.0);
/// assert!(y.max().into_scalar::<f32>() <= 6.0);
/// ```
pub fn batch_norm<const D: usize>(
    bn: &BatchNorm,
    x: &Tensor<D>,
    act: Activation,
    residual: Option<&Tensor<D>>,
) -> Option<Tensor<D>> {
    let dims = x.dims();
    if residual.is_some() && act != Activation::Relu {
        return None;
    }
    let s = cpu_norm::Shape::of(&dims)?;
    if s.n * s.hw < 2 {
        return None;
    }
    if !x.device().is_autodiff() || !bn.training.is_enabled() {
        return None;
    }
    let xp = tracked(x.clone())?;
    let gp = tracked(bn.gamma.val())?;
    let bp = tracked(bn.beta.val())?;
    let rp = match residual {
        Some(r) if r.dims() == dims => Some(tracked(r.clone())?),
        Some(_) => return None,
        None => None,
    };
    let gamma = floats(gp.primitive()).into_owned();
    let (y, stats) = cpu_norm::forward(
        &floats(xp.primitive()),
        s,
        &gamma,
        &floats(bp.primitive()),
        bn.epsilon,
        act.cap(),
        rp.as_ref().map(|r| floats(r.primitive())).as_deref(),
    );
    let y = flex_tensor(y, &dims);
    update_running_stats(bn, &stats, s, &x.device());
    let (x_inner, x_node) = xp.into_parts();
    let (_, g_node) = gp.into_parts();
    let (_, b_node) = bp.into_parts();
    let state = |y: &FloatTensor<Flex>| BnState {
        x: x_inner,
        y: act.cap().map(|cap| (y.clone(), cap)),
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
    count(|c| c.norm += 1);
    Some(Tensor::from_primitive::<FlexAutodiff>(out))
}

/// `bn` in inference (its running statistics) on `x`, then `act`, as one pass over the
/// activations, where Burn's layer and a separate clamp make several (validation and
/// prediction run every BatchNorm this way). `None` unless `x` and `bn`'s tensors are f32 on
/// Flex without autodiff; the caller then runs Burn's layer.
///
/// ```
/// use burn::nn::BatchNormConfig;
/// use burn::prelude::*;
/// use fastburn_flex::Activation;
/// let dev = Device::flex();
/// let bn = BatchNormConfig::new(3).init(&dev);
/// let x = Tensor::<4>::random([2, 3, 4, 4], burn::tensor::Distribution::Default, &dev);
/// let y = fastburn_flex::batch_norm_inference(&bn, &x, Activation::Relu6).expect("f32 on Flex");
/// assert_eq!(y.dims(), [2, 3, 4, 4]);
/// ```
pub fn batch_norm_inference<const D: usize>(
    bn: &BatchNorm,
    x: &Tensor<D>,
    act: Activation,
) -> Option<Tensor<D>> {
    let dims = x.dims();
    let s = cpu_norm::Shape::of(&dims)?;
    let xp = plain(x.clone())?;
    let [gamma, beta, mean, var] = [
        bn.gamma.val(),
        bn.beta.val(),
        bn.running_mean.value(),
        bn.running_var.value(),
    ]
    .map(|t| plain(t).map(|p| floats(&p).into_owned()));
    let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);
    if [&gamma, &beta, &mean, &var].iter().any(|v| v.len() != s.c) {
        return None;
    }
    // Folded in f64: γ / sqrt(var + eps) and β - mean · that, each rounded once.
    let scale: Vec<f64> = (0..s.c)
        .map(|c| f64::from(gamma[c]) / (f64::from(var[c]) + bn.epsilon).sqrt())
        .collect();
    let shift: Vec<f32> = (0..s.c)
        .map(|c| (f64::from(beta[c]) - f64::from(mean[c]) * scale[c]) as f32)
        .collect();
    let scale: Vec<f32> = scale.iter().map(|&a| a as f32).collect();
    let y = cpu_norm::inference(&floats(&xp), s, &scale, &shift, act.cap());
    count(|c| c.norm_inference += 1);
    Some(Tensor::from_primitive::<Flex>(flex_tensor(y, &dims)))
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

/// What the backward pass keeps: the input, the output and the clamp's top (for the
/// activation's mask), the batch statistics and γ.
#[derive(Clone, Debug)]
struct BnState {
    x: FloatTensor<Flex>,
    y: Option<(FloatTensor<Flex>, f32)>,
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
        let y = st.y.as_ref().map(|(y, cap)| (floats(y), *cap));
        let dy = floats(&grad);
        let (dx, dgamma, dbeta) = cpu_norm::backward(
            &dy,
            &floats(&st.x),
            y.as_ref().map(|(y, cap)| (&y[..], *cap)),
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
        if let (Some(node), Some((y, _))) = (node_residual, y.as_ref()) {
            grads.register::<Flex>(node.id, flex_tensor(cpu_norm::masked(&dy, y), &st.dims));
        }
    }
}
