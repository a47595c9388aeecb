//! Optimizers: Burn's SGD and Adam behind fastai's `opt_func`, and the chapter's `BasicOptim`.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, Optimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::Gradients;

use super::fastai_adam::{FastaiAdam, MomentumHandle};

/// Which optimizer a [`Learner`](super::Learner) builds (fastai's `opt_func`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptFunc {
    /// SGD with momentum (PyTorch's: no dampening) and L2 weight decay.
    Sgd { momentum: f64, weight_decay: f32 },
    /// Adam with L2 weight decay.
    Adam {
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
    /// fastai's own Adam (decoupled weight decay, momentum that `fit_one_cycle` can move):
    /// what `vision_learner` trains with.
    FastaiAdam {
        mom: f64,
        sqr_mom: f64,
        eps: f64,
        wd: f64,
    },
    /// The chapter's `BasicOptim`: `p -= p.grad * lr`, nothing else.
    Basic,
}

impl OptFunc {
    /// Plain SGD, fastai's `SGD` as the chapter uses it.
    pub const SGD: OptFunc = OptFunc::Sgd {
        momentum: 0.0,
        weight_decay: 0.0,
    };
    /// Adam with fastai's defaults for the moments (0.9, 0.99) and epsilon (1e-5).
    pub const ADAM: OptFunc = OptFunc::Adam {
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-5,
        weight_decay: 0.0,
    };

    /// fastai's `Adam` with its defaults (`mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01`).
    pub const FASTAI_ADAM: OptFunc = OptFunc::FastaiAdam {
        mom: 0.9,
        sqr_mom: 0.99,
        eps: 1e-5,
        wd: 0.01,
    };

    /// Build the optimizer (fresh state).
    pub fn build(&self) -> ModuleOptimizer {
        self.build_with_momentum().0
    }

    /// Build the optimizer, with a handle to its momentum when a schedule can move it.
    pub fn build_with_momentum(&self) -> (ModuleOptimizer, Option<MomentumHandle>) {
        if let OptFunc::FastaiAdam {
            mom,
            sqr_mom,
            eps,
            wd,
        } = *self
        {
            let handle = MomentumHandle::new(mom);
            let adam = FastaiAdam {
                mom: handle.clone(),
                sqr_mom,
                eps,
                wd,
            };
            return (ModuleOptimizer::from(adam), Some(handle));
        }
        let optim = match *self {
            OptFunc::Sgd {
                momentum,
                weight_decay,
            } => {
                let mut cfg = SgdConfig::new();
                if momentum > 0.0 {
                    cfg = cfg.with_momentum(Some(
                        MomentumConfig::new()
                            .with_momentum(momentum)
                            .with_dampening(0.0),
                    ));
                }
                if weight_decay > 0.0 {
                    cfg = cfg.with_weight_decay(Some(WeightDecayConfig::new(weight_decay)));
                }
                cfg.init()
            }
            OptFunc::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                let mut cfg = AdamConfig::new()
                    .with_beta_1(beta1)
                    .with_beta_2(beta2)
                    .with_epsilon(eps);
                if weight_decay > 0.0 {
                    cfg = cfg.with_weight_decay(Some(WeightDecayConfig::new(weight_decay)));
                }
                cfg.init()
            }
            OptFunc::Basic | OptFunc::FastaiAdam { .. } => ModuleOptimizer::from(BasicStep),
        };
        (optim, None)
    }
}

/// `BasicOptim`'s update rule as a Burn optimizer, so a Learner can use it too.
#[derive(Debug, Clone, Copy)]
pub struct BasicStep;

impl Optimizer for BasicStep {
    type State<const D: usize> = ();

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        _state: Option<()>,
    ) -> (Tensor<D>, Option<()>) {
        (tensor - grad * lr, None)
    }

    fn to_device<const D: usize>(state: (), _device: &Device) {
        state
    }
}

/// The chapter's `BasicOptim` over raw parameter tensors: `step` moves each parameter against its
/// gradient. There is no `zero_grad`: Burn's `backward` returns fresh gradients every time instead
/// of adding into the parameters, so there is nothing to reset.
///
/// ```
/// use burn::prelude::*;
/// use fastburn::learner::BasicOptim;
/// let dev = fastburn::device();
/// let w = Tensor::<2>::from_floats([[3.0f32]], &dev).require_grad();
/// let mut opt = BasicOptim::new(vec![w], 0.1);
/// let grads = opt.params[0].clone().square().sum().backward(); // d(w²)/dw = 6
/// opt.step(&grads);
/// let w = opt.params[0].clone().into_scalar::<f32>();
/// assert!((w - 2.4).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct BasicOptim {
    pub params: Vec<Tensor<2>>,
    pub lr: f64,
}

impl BasicOptim {
    pub fn new(params: Vec<Tensor<2>>, lr: f64) -> Self {
        Self { params, lr }
    }

    /// `p.data -= p.grad.data * lr` for every parameter that has a gradient.
    pub fn step(&mut self, grads: &Gradients) {
        for p in &mut self.params {
            if let Some(g) = p.grad(grads) {
                let updated = p.clone().inner() - g * self.lr;
                *p = updated.autodiff().require_grad();
            }
        }
    }
}
