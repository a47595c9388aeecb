//! fastai's Adam, which Burn's lacks in two ways that `fit_one_cycle` needs: its first moment
//! (`mom`) can be changed between steps, and weight decay is decoupled (`p *= 1 - lr*wd`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::optim::{Optimizer, RecordState, StateSink, StateSource};
use burn::prelude::*;
use burn_pack::Scalar;

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

/// `Adam(params, lr, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01)` as fastai defines it.
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

impl Optimizer for FastaiAdam {
    type State<const D: usize> = FastaiAdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
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
        let tensor = if self.wd != 0.0 {
            tensor * (1.0 - lr * self.wd)
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

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        FastaiAdamState {
            grad_avg: state.grad_avg.to_device(device),
            sqr_avg: state.sqr_avg.to_device(device),
            step: state.step,
        }
    }
}
