//! fastai's Adam, which Burn's lacks in two ways that `fit_one_cycle` needs: its first moment
//! (`mom`) can be changed between steps, and weight decay is decoupled (`p *= 1 - lr*wd`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::optim::{Optimizer, RecordState, StateSink, StateSource};
use burn::prelude::*;
use burn_pack::Scalar;
use rayon::prelude::*;

/// A momentum value shared between an optimizer and the schedule that moves it.
#[derive(Debug, Clone)]
pub struct MomentumHandle(Arc<AtomicU64>);

impl MomentumHandle {
    pub fn new(mom: f64) -> Self {
        Self(Arc::new(AtomicU64::new(mom.to_bits())))
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    pub fn set(&self, mom: f64) {
        self.0.store(mom.to_bits(), Ordering::Relaxed);
    }
}

/// `Adam(params, lr, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01)` as fastai defines it, with its
/// Learner's default `wd_bn_bias=False` (no weight decay on BatchNorm parameters and biases).
/// On the CPU backend each step is one fused pass over the weights.
#[derive(Debug, Clone)]
pub struct FastaiAdam {
    pub mom: MomentumHandle,
    pub sqr_mom: f64,
    pub eps: f64,
    pub wd: f64,
}

/// Per-parameter state: the moving averages of the gradient and of its square, and the step.
#[derive(Clone)]
pub struct FastaiAdamState<const D: usize> {
    pub grad_avg: Tensor<D>,
    pub sqr_avg: Tensor<D>,
    pub step: u64,
}

impl<const D: usize> RecordState for FastaiAdamState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "grad_avg", self.grad_avg.to_data());
        out.push_tensor(prefix, "sqr_avg", self.sqr_avg.to_data());
        out.push_scalar(prefix, "step", Scalar::UInt(self.step));
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let grad_avg = Tensor::from_data(src.take_tensor(prefix, "grad_avg")?, device);
        let sqr_avg = Tensor::from_data(src.take_tensor(prefix, "sqr_avg")?, device);
        let Scalar::UInt(step) = src.take_scalar(prefix, "step")? else {
            return None;
        };
        Some(Self {
            grad_avg,
            sqr_avg,
            step,
        })
    }
}

impl FastaiAdam {
    /// fastai's `wd_bn_bias=False`: no weight decay on BatchNorm weights and biases, nor on
    /// biases. In these models those are exactly the rank-1 parameters.
    fn wd_for(&self, rank: usize) -> f64 {
        if rank == 1 { 0.0 } else { self.wd }
    }

    /// The step as tensor operations: about fourteen passes over the parameter, each its own
    /// kernel. Used where the parameters live on an accelerator, where those kernels are cheap
    /// and a round trip to the host is not.
    #[doc(hidden)]
    pub fn step_unfused<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<FastaiAdamState<D>>,
    ) -> (Tensor<D>, Option<FastaiAdamState<D>>) {
        let mom = self.mom.get();
        let (grad_avg, sqr_avg, step) = match state {
            Some(s) => (
                s.grad_avg * mom + grad.clone() * (1.0 - mom),
                s.sqr_avg * self.sqr_mom + grad.square() * (1.0 - self.sqr_mom),
                s.step + 1,
            ),
            None => (
                grad.clone() * (1.0 - mom),
                grad.square() * (1.0 - self.sqr_mom),
                1,
            ),
        };
        let debias1 = 1.0 - mom.powi(step as i32);
        let debias2 = 1.0 - self.sqr_mom.powi(step as i32);
        let wd = self.wd_for(D);
        let tensor = if wd != 0.0 {
            tensor * (1.0 - lr * wd)
        } else {
            tensor
        };
        let update = grad_avg.clone() / ((sqr_avg.clone() / debias2).sqrt() + self.eps);
        let tensor = tensor - update * (lr / debias1);
        (
            tensor,
            Some(FastaiAdamState {
                grad_avg,
                sqr_avg,
                step,
            }),
        )
    }

    /// The same step in one pass over host memory, for the CPU backend: the unfused step reads
    /// and writes the 11M parameters of a ResNet-18 fourteen times and was a third of a training
    /// step (bench/README.md). Takes f32 tensors (the caller checks).
    fn step_fused<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<FastaiAdamState<D>>,
    ) -> (Tensor<D>, FastaiAdamState<D>) {
        // `into_data` hands over the buffer without a copy when the tensor is its only owner.
        let f32s = |t: Tensor<D>| {
            t.into_data()
                .try_into_vec::<f32>()
                .expect("the caller checked that the tensor holds f32")
        };
        let device = tensor.device();
        let shape = tensor.shape();
        let mut p = f32s(tensor);
        let g = f32s(grad);
        let (mut m, mut v, step) = match state {
            Some(s) => (f32s(s.grad_avg), f32s(s.sqr_avg), s.step + 1),
            None => (vec![0.0; p.len()], vec![0.0; p.len()], 1),
        };
        let mom = self.mom.get();
        let debias1 = 1.0 - mom.powi(step as i32);
        let debias2 = 1.0 - self.sqr_mom.powi(step as i32);
        let decay = (1.0 - lr * self.wd_for(D)) as f32;
        let (mom, sqr_mom, eps) = (mom as f32, self.sqr_mom as f32, self.eps as f32);
        let (step_size, inv_debias2) = ((lr / debias1) as f32, (1.0 / debias2) as f32);
        const CHUNK: usize = 1 << 14;
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| {
                for i in 0..p.len() {
                    let gi = g[i];
                    let mi = m[i] * mom + gi * (1.0 - mom);
                    let vi = v[i] * sqr_mom + gi * gi * (1.0 - sqr_mom);
                    m[i] = mi;
                    v[i] = vi;
                    p[i] = p[i] * decay - step_size * mi / ((vi * inv_debias2).sqrt() + eps);
                }
            });
        let back = |x: Vec<f32>| Tensor::from_data(TensorData::new(x, shape.clone()), &device);
        let state = FastaiAdamState {
            grad_avg: back(m),
            sqr_avg: back(v),
            step,
        };
        (back(p), state)
    }
}

impl Optimizer for FastaiAdam {
    type State<const D: usize> = FastaiAdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let f32 = |t: &Tensor<D>| t.dtype() == burn::tensor::DType::F32;
        let state_f32 = state
            .as_ref()
            .is_none_or(|s| f32(&s.grad_avg) && f32(&s.sqr_avg));
        if tensor.device().without_autodiff() == Device::flex()
            && f32(&tensor)
            && f32(&grad)
            && state_f32
        {
            let (tensor, state) = self.step_fused(lr, tensor, grad, state);
            return (tensor, Some(state));
        }
        self.step_unfused(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        FastaiAdamState {
            grad_avg: state.grad_avg.to_device(device),
            sqr_avg: state.sqr_avg.to_device(device),
            step: state.step,
        }
    }
}
