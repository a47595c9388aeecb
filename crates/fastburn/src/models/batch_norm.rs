//! BatchNorm as PyTorch runs it, and on the CPU fused with the ReLU or ReLU6 (and residual add)
//! that follows it: in training `fastburn_flex::batch_norm`, in inference (validation,
//! prediction) `fastburn_flex::batch_norm_inference`.

use burn::nn::BatchNorm;
use burn::prelude::*;
use fastburn_flex::Activation;

/// BatchNorm as PyTorch runs it: Burn's layer updates `running_var` with the batch's biased
/// variance, PyTorch (and so fastai) with the unbiased one (x n/(n-1), n the values per channel),
/// which is what validation then normalises with.
///
/// On the CPU this is one fused operation ([`fastburn_flex::batch_norm`] in training,
/// [`fastburn_flex::batch_norm_inference`] in inference); elsewhere it is Burn's forward pass,
/// with the update Burn queued corrected by `m * var / (n - 1)`.
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    norm(bn, x, Activation::Identity)
}

/// `relu(batch_norm(bn, x))`, one operation in training on the CPU.
pub fn batch_norm_relu<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    norm(bn, x, Activation::Relu)
}

/// `relu6(batch_norm(bn, x))` (`clamp(.., 0, 6)`, EfficientNet-Lite's activation), one operation
/// in training on the CPU.
pub fn batch_norm_relu6<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    norm(bn, x, Activation::Relu6)
}

/// `relu(batch_norm(bn, x) + residual)`, the end of a ResNet block, one operation in training on
/// the CPU.
pub fn batch_norm_add_relu<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    residual: Tensor<D>,
) -> Tensor<D> {
    if let Some(out) = fastburn_flex::batch_norm(bn, &x, Activation::Relu, Some(&residual)) {
        return out;
    }
    burn::tensor::activation::relu(norm(bn, x, Activation::Identity) + residual)
}

fn norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>, act: Activation) -> Tensor<D> {
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    let out = if !training {
        if let Some(out) = fastburn_flex::batch_norm_inference(bn, &x, act) {
            return out;
        }
        bn.forward(x)
    } else if let Some(out) = fastburn_flex::batch_norm(bn, &x, act, None) {
        return out;
    } else {
        burns_with_unbiased_running_var(bn, x)
    };
    activate(out, act)
}

/// `act` with Burn's ops (what the fused op does after normalising).
fn activate<const D: usize>(x: Tensor<D>, act: Activation) -> Tensor<D> {
    match act {
        Activation::Identity => x,
        Activation::Relu => burn::tensor::activation::relu(x),
        Activation::Relu6 => x.clamp(0.0, 6.0),
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;
    use fastburn_flex::testing::{floats, max_diff};

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

    /// PyTorch's BatchNorm (+ activation) written with Burn's layer and ops: the reference.
    fn reference<const D: usize>(bn: &BatchNorm, x: Tensor<D>, act: Activation) -> Tensor<D> {
        activate(burns_with_unbiased_running_var(bn, x), act)
    }

    /// The fused op gives Burn's output, gradients and running statistics (with PyTorch's
    /// unbiased variance), with no activation, ReLU and ReLU6, on 4-D maps (7x7 and 1x1) and
    /// 2-D features, with γ and β away from their initial values; and it is the op that ran.
    #[test]
    fn fused_batch_norm_matches_burns() {
        let dev = Device::flex().autodiff();
        dev.seed(5);
        for act in [Activation::Identity, Activation::Relu, Activation::Relu6] {
            let relu = act != Activation::Identity;
            for dims in [[6, 3, 7, 7], [8, 5, 1, 1], [4, 2, 3, 5]] {
                // Wide enough that ReLU6 clips at both ends.
                let bn = (
                    Tensor::random([dims[1]], Distribution::Normal(4.0, 0.5), &dev),
                    Tensor::random([dims[1]], Distribution::Normal(1.0, 0.5), &dev),
                );
                let x = Tensor::<4>::random(dims, Distribution::Normal(0.5, 2.0), &dev);
                let r = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &dev);
                let before = fastburn_flex::fast_paths().norm;
                let ours = run(|bn, x| norm(bn, x, act), &bn, &x, &r);
                assert_eq!(
                    fastburn_flex::fast_paths().norm,
                    before + 1,
                    "fused op not taken"
                );
                let theirs = run(|bn, x| reference(bn, x, act), &bn, &x, &r);
                let what = ["output", "x grad", "gamma grad", "beta grad", "mean", "var"];
                for i in 0..6 {
                    let d = max_diff(&ours[i], &theirs[i]);
                    assert!(
                        d < 2e-4,
                        "{dims:?} {act:?}: {} differs by {d}: {:?} vs {:?}",
                        what[i],
                        &ours[i][..2],
                        &theirs[i][..2]
                    );
                }
                if relu {
                    assert!(ours[0].contains(&0.0), "{dims:?}: {act:?} clipped nothing");
                }
                if act == Activation::Relu6 {
                    assert!(
                        ours[0].contains(&6.0),
                        "{dims:?}: ReLU6 clipped nothing at 6"
                    );
                }
            }
        }
        // Features [n, c] as in fastai's head.
        let bn = (Tensor::ones([6], &dev), Tensor::zeros([6], &dev));
        let x = Tensor::<2>::random([10, 6], Distribution::Normal(0.0, 1.0), &dev);
        let r = Tensor::<2>::random([10, 6], Distribution::Normal(0.0, 1.0), &dev);
        let ours = run(|bn, x| norm(bn, x, Activation::Identity), &bn, &x, &r);
        let theirs = run(|bn, x| reference(bn, x, Activation::Identity), &bn, &x, &r);
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
                burn::tensor::activation::relu(
                    reference(&bn, x.clone(), Activation::Identity) + res.clone(),
                )
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
        let before = fastburn_flex::fast_paths().norm;
        let (ours, ours_res) = residual_grad(true);
        assert_eq!(fastburn_flex::fast_paths().norm, before + 1);
        let (theirs, theirs_res) = residual_grad(false);
        for i in 0..6 {
            assert!(max_diff(&ours[i], &theirs[i]) < 2e-4, "value {i}");
        }
        assert!(max_diff(&ours_res, &theirs_res) < 1e-5, "residual gradient");
        assert!(ours_res.contains(&0.0) && ours_res.iter().any(|g| g.abs() > 0.1));
    }

    /// Inference on `x` (no autodiff) is Burn's layer and activation, computed in one pass:
    /// the outputs within 1e-5, and the count of that pass up by one.
    fn inference_matches<const D: usize>(
        bn: &BatchNorm,
        x: Tensor<D>,
        act: Activation,
    ) -> Vec<f32> {
        let expected = floats(activate(bn.forward(x.clone()), act));
        let before = fastburn_flex::fast_paths().norm_inference;
        let ours = floats(norm(bn, x, act));
        let count = fastburn_flex::fast_paths().norm_inference;
        assert_eq!(
            count,
            before + 1,
            "{act:?} D={D}: the one pass was not taken"
        );
        let d = max_diff(&ours, &expected);
        assert!(d < 1e-5, "{act:?} D={D}: differs from Burn's by {d}");
        ours
    }

    /// Inference runs on the running statistics in one pass
    /// ([`fastburn_flex::batch_norm_inference`]) and gives Burn's layer and activation, for no
    /// activation, ReLU and ReLU6, on maps and 2-D features, with γ, β and the running
    /// statistics away from their initial values.
    #[test]
    fn inference_is_burns_layer_on_the_running_statistics() {
        let train = Device::flex().autodiff();
        train.seed(4);
        let normal =
            |dims: [usize; 1], mean| Tensor::random(dims, Distribution::Normal(mean, 0.5), &train);
        for act in [Activation::Identity, Activation::Relu, Activation::Relu6] {
            let mut bn = BatchNormConfig::new(4).init(&train);
            bn.gamma = burn::module::Param::from_tensor(normal([4], 3.0));
            bn.beta = burn::module::Param::from_tensor(normal([4], 1.0));
            // Two training batches move the running statistics off 0 and 1 (fixed values: the
            // device's generator is shared with the tests running beside this one).
            let xb = (Tensor::<1, Int>::arange(0..24, &train).float() * 0.37).sin() * 3.0 + 5.0;
            for _ in 0..2 {
                let _ = norm(&bn, xb.clone().reshape([6, 4]), Activation::Identity);
            }
            let bn = bn.valid();
            let (mean, var) = (
                floats(bn.running_mean.value()),
                floats(bn.running_var.value()),
            );
            assert!(mean.iter().all(|m| *m > 0.5), "running mean {mean:?}");
            assert!(var.iter().all(|v| *v > 1.5), "running var {var:?}");
            let dev = Device::flex();
            let maps = Tensor::<4>::random([3, 4, 5, 5], Distribution::Normal(2.0, 3.0), &dev);
            let ours = inference_matches(&bn, maps, act);
            if act == Activation::Relu6 {
                assert!(
                    ours.contains(&0.0) && ours.contains(&6.0),
                    "ReLU6 clipped nothing"
                );
            }
            let features = Tensor::<2>::random([6, 4], Distribution::Normal(2.0, 3.0), &dev);
            inference_matches(&bn, features, act);
        }
    }
}
