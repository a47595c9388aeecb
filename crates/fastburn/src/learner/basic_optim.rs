//! The chapter's `BasicOptim`, over raw parameter tensors rather than a module.

use burn::prelude::*;
use burn::tensor::Gradients;

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
