//! fastai's `Optimizer`: parameters split into groups, each group with its own hyper-parameters
//! (learning rate, momentum, ...) that callbacks change between steps, and the per-parameter
//! state (moving averages) kept by the parameter's path in the model, so it can be saved in a
//! checkpoint and read back by another process.
//!
//! The steps are fastai's `SGD` and `Adam` (decoupled weight decay, no decay on norm layers and
//! biases: `wd_bn_bias=False`) and the chapter's `BasicOptim`. On the CPU each parameter's
//! update is one fused pass over host memory, split over the cores.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Which update rule a [`Learner`](super::Learner) trains with (fastai's `opt_func`), with its
/// default hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptFunc {
    /// fastai's `SGD(mom, wd)`: `p *= 1 - lr*wd`, then `p -= lr*g`, or with momentum
    /// (`mom > 0` when built) `m = mom*m + g; p -= lr*m`.
    Sgd { mom: f64, wd: f64 },
    /// fastai's `Adam(mom, sqr_mom, eps, wd)` with decoupled weight decay.
    Adam {
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
    pub const SGD: OptFunc = OptFunc::Sgd { mom: 0.0, wd: 0.0 };
    /// fastai's `Adam` with its defaults (`mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01`): what
    /// `vision_learner` trains with.
    pub const ADAM: OptFunc = OptFunc::Adam {
        mom: 0.9,
        sqr_mom: 0.99,
        eps: 1e-5,
        wd: 0.01,
    };

    /// The default hyper-parameters of one parameter group.
    pub fn hypers(&self, lr: f64) -> Hypers {
        let (mom, sqr_mom, eps, wd) = match *self {
            OptFunc::Sgd { mom, wd } => (mom, 0.0, 0.0, wd),
            OptFunc::Adam {
                mom,
                sqr_mom,
                eps,
                wd,
            } => (mom, sqr_mom, eps, wd),
            OptFunc::Basic => (0.0, 0.0, 0.0, 0.0),
        };
        Hypers {
            lr,
            mom,
            sqr_mom,
            eps,
            wd,
        }
    }
}

/// The hyper-parameters of one parameter group (fastai's `opt.hypers[i]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hypers {
    pub lr: f64,
    /// Momentum (Adam's first-moment coefficient, beta1).
    pub mom: f64,
    /// Adam's second-moment coefficient (beta2).
    pub sqr_mom: f64,
    pub eps: f64,
    /// Decoupled weight decay.
    pub wd: f64,
}

/// One parameter's state: moving averages of the gradient and of its square, and the steps taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamState {
    pub grad_avg: Vec<f32>,
    pub sqr_avg: Vec<f32>,
    pub step: u64,
}

/// fastai's `Optimizer` over a model's parameters.
///
/// Groups are given by path prefixes ([`Model::param_groups`](crate::models::Model::param_groups)):
/// a ResNet's body is group 0 and its head group 1, so `lr = slice(1e-5, 1e-3)` trains the body
/// slower than the head, and [`freeze`](super::Learner::freeze) keeps the body still.
///
/// ```
/// use fastburn::learner::{OptFunc, Optimizer};
/// let mut opt = Optimizer::new(OptFunc::ADAM, vec!["body".into(), "head".into()]);
/// opt.set_lrs(&[1e-4, 1e-3]);
/// opt.set_mom(0.85);
/// assert_eq!((opt.hypers[0].lr, opt.hypers[1].lr, opt.hypers[1].mom), (1e-4, 1e-3, 0.85));
/// ```
#[derive(Debug, Clone)]
pub struct Optimizer {
    pub opt_func: OptFunc,
    /// One entry per parameter group.
    pub hypers: Vec<Hypers>,
    /// The path prefix of each group; a parameter belongs to the last group whose prefix its
    /// path starts with (group 0 when none does).
    pub groups: Vec<String>,
    /// Groups before this one are frozen (their non-norm parameters are not trained).
    pub frozen_to: usize,
    /// Parameters (by path) whose steps are scaled (`Model::step_multipliers`).
    pub step_mults: Vec<(String, f64)>,
    state: BTreeMap<String, ParamState>,
    /// Parameter updates that had to copy the parameter first, because a clone of the model
    /// shared its buffer: each costs a copy of the parameter, and the Learner is built to cause
    /// none (a test counts them).
    pub(crate) copied_steps: usize,
}

impl Optimizer {
    pub fn new(opt_func: OptFunc, groups: Vec<String>) -> Self {
        let groups = if groups.is_empty() {
            vec![String::new()]
        } else {
            groups
        };
        Self {
            opt_func,
            hypers: vec![opt_func.hypers(1e-3); groups.len()],
            groups,
            frozen_to: 0,
            step_mults: Vec::new(),
            state: BTreeMap::new(),
            copied_steps: 0,
        }
    }

    /// Scale the steps of these parameters (by path; see `Model::step_multipliers`).
    pub fn with_step_mults(mut self, mults: Vec<(String, f64)>) -> Self {
        self.step_mults = mults;
        self
    }

    /// The group a parameter at `path` belongs to.
    pub fn group_of(&self, path: &str) -> usize {
        self.groups
            .iter()
            .rposition(|g| path.starts_with(g.as_str()))
            .unwrap_or(0)
    }

    /// One learning rate per group (`lrs.len()` must be the number of groups, or 1 for all).
    pub fn set_lrs(&mut self, lrs: &[f64]) {
        for (i, h) in self.hypers.iter_mut().enumerate() {
            h.lr = lrs[i.min(lrs.len() - 1)];
        }
    }

    pub fn set_mom(&mut self, mom: f64) {
        for h in &mut self.hypers {
            h.mom = mom;
        }
    }

    /// Forget the moving averages (fastai's `reset_opt=True`).
    pub fn clear_state(&mut self) {
        self.state.clear();
    }

    /// The state of the parameter at `path`, if it has taken a step.
    pub fn state(&self, path: &str) -> Option<&ParamState> {
        self.state.get(path)
    }

    /// One step on every parameter of `model` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, model: M, grads: &mut Gradients) -> M {
        let mut mapper = StepMapper {
            opt: self,
            grads,
            at: Where::default(),
        };
        model.map(&mut mapper)
    }

    /// Mark parameters as trainable or not after a change of `frozen_to`: in frozen groups only
    /// norm layers train (fastai's `train_bn=True`), and the others need no gradient at all.
    pub fn apply_freeze<M: Module>(&self, model: M) -> M {
        let mut mapper = FreezeMapper {
            opt: self,
            at: Where::default(),
        };
        model.map(&mut mapper)
    }

    /// The state as bytes, for a checkpoint (hyper-parameters and every parameter's averages).
    pub fn state_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u64(&mut out, self.hypers.len() as u64);
        for h in &self.hypers {
            for v in [h.lr, h.mom, h.sqr_mom, h.eps, h.wd] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        put_u64(&mut out, self.frozen_to as u64);
        put_u64(&mut out, self.state.len() as u64);
        for (path, s) in &self.state {
            put_u64(&mut out, path.len() as u64);
            out.extend_from_slice(path.as_bytes());
            put_u64(&mut out, s.step);
            for v in [&s.grad_avg, &s.sqr_avg] {
                put_u64(&mut out, v.len() as u64);
                for x in v {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        out
    }

    /// Read back what [`state_bytes`](Self::state_bytes) wrote.
    pub fn load_state_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let bad = || Error::Invalid("optimizer state is truncated or corrupt".into());
        let mut r = Reader { bytes, at: 0 };
        let n = r.u64().ok_or_else(bad)? as usize;
        if n != self.hypers.len() {
            return Err(Error::Invalid(format!(
                "optimizer state has {n} parameter groups, the model {}",
                self.hypers.len()
            )));
        }
        let mut hypers = Vec::with_capacity(n);
        for _ in 0..n {
            let mut v = [0f64; 5];
            for x in &mut v {
                *x = f64::from_bits(r.u64().ok_or_else(bad)?);
            }
            hypers.push(Hypers {
                lr: v[0],
                mom: v[1],
                sqr_mom: v[2],
                eps: v[3],
                wd: v[4],
            });
        }
        let frozen_to = r.u64().ok_or_else(bad)? as usize;
        let count = r.u64().ok_or_else(bad)?;
        let mut state = BTreeMap::new();
        for _ in 0..count {
            let len = r.u64().ok_or_else(bad)? as usize;
            let path =
                String::from_utf8(r.take(len).ok_or_else(bad)?.to_vec()).map_err(|_| bad())?;
            let step = r.u64().ok_or_else(bad)?;
            let mut avgs = [Vec::new(), Vec::new()];
            for v in &mut avgs {
                let len = r.u64().ok_or_else(bad)? as usize;
                let raw = r
                    .take(len.checked_mul(4).ok_or_else(bad)?)
                    .ok_or_else(bad)?;
                *v = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
            }
            let [grad_avg, sqr_avg] = avgs;
            state.insert(
                path,
                ParamState {
                    grad_avg,
                    sqr_avg,
                    step,
                },
            );
        }
        if r.at != bytes.len() {
            return Err(bad());
        }
        (self.hypers, self.frozen_to, self.state) = (hypers, frozen_to, state);
        Ok(())
    }
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// fastai's `norm_bias_params`: parameters of norm layers, and biases, get no weight decay and
/// keep training in frozen groups.
fn is_norm_or_bias(path: &[String], kinds: &[String]) -> bool {
    let norm = kinds.last().is_some_and(|k| {
        [
            "BatchNorm",
            "LayerNorm",
            "GroupNorm",
            "InstanceNorm",
            "RmsNorm",
        ]
        .iter()
        .any(|n| k.ends_with(n))
    });
    norm || path.last().is_some_and(|p| p == "bias")
}

/// Where a mapper is in the module tree: field names and their containers' types.
#[derive(Default)]
struct Where {
    path: Vec<String>,
    kinds: Vec<String>,
}

impl Where {
    fn enter(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.kinds.push(container_type.to_string());
    }
    fn exit(&mut self) {
        self.path.pop();
        self.kinds.pop();
    }
    fn joined(&self) -> String {
        self.path.join(".")
    }
    fn norm_or_bias(&self) -> bool {
        is_norm_or_bias(&self.path, &self.kinds)
    }
}

struct StepMapper<'a> {
    opt: &'a mut Optimizer,
    grads: &'a mut Gradients,
    at: Where,
}

impl ModuleMapper for StepMapper<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.at.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.at.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = tensor.grad_remove(self.grads) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let path = self.at.joined();
        let group = self.opt.group_of(&path);
        let norm_or_bias = self.at.norm_or_bias();
        if group < self.opt.frozen_to && !norm_or_bias {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let mut h = self.opt.hypers[group];
        if norm_or_bias {
            h.wd = 0.0;
        }
        let require_grad = tensor.is_require_grad();
        let device = tensor.device();
        let shape = tensor.shape();
        let mult = self
            .opt
            .step_mults
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(1.0, |m| m.1);
        let (opt_func, state) = (self.opt.opt_func, self.opt.state.entry(path).or_default());
        let inner = tensor.inner();
        let mut copied = false;
        // On the CPU the step runs on the parameter's own buffer (copied only if shared) and reads
        // the gradient where it lies; elsewhere (GPUs) through host vectors.
        let updated = match crate::models::step_flex_in_place(inner, &grad, |p, g| {
            step_in_place(opt_func, &h, mult, p, g, state)
        }) {
            Ok((updated, was_copied)) => {
                copied = was_copied;
                updated
            }
            Err(inner) => {
                let f32s = |t: Tensor<D>| -> Vec<f32> {
                    let data = t.into_data();
                    if data.dtype() != burn::tensor::DType::F32 {
                        return data.convert::<f32>().iter::<f32>().collect();
                    }
                    data.try_into_vec::<f32>()
                        .expect("an f32 tensor's values are f32")
                };
                let mut p = f32s(inner);
                let g = f32s(grad);
                step_in_place(opt_func, &h, mult, &mut p, &g, state);
                Tensor::<D>::from_data(TensorData::new(p, shape), &device.without_autodiff())
            }
        };
        self.opt.copied_steps += usize::from(copied);
        let mut updated = Tensor::from_inner(updated);
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

struct FreezeMapper<'a> {
    opt: &'a Optimizer,
    at: Where,
}

impl ModuleMapper for FreezeMapper<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.at.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.at.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        // Running statistics are buffers: they never take gradients.
        if self
            .at
            .path
            .last()
            .is_some_and(|n| n == "running_mean" || n == "running_var")
        {
            return param;
        }
        let group = self.opt.group_of(&self.at.joined());
        let trainable = group >= self.opt.frozen_to || self.at.norm_or_bias();
        param.set_require_grad(trainable)
    }
}

/// One parameter's update, in place, in chunks spread over the cores. `mult` scales the step
/// (not the weight decay) of parameters that stand for several (see `Model::step_multipliers`).
///
/// A parameter of fewer than four chunks is updated on the calling thread: handing work to the
/// thread pool is a round trip between threads (wake a worker, wait on a latch, ~20 µs here),
/// more than the update of `simple_net`'s 23,520 weights costs (7% of its training time was
/// that wait).
fn step_in_place(
    opt: OptFunc,
    h: &Hypers,
    mult: f64,
    p: &mut [f32],
    g: &[f32],
    s: &mut ParamState,
) {
    const CHUNK: usize = 1 << 14;
    // The loops below zip the slices, which would stop at the shorter one.
    assert_eq!(
        p.len(),
        g.len(),
        "a gradient of another shape than its parameter"
    );
    let parallel = p.len() >= 4 * CHUNK;
    s.step += 1;
    let decay = (1.0 - h.lr * h.wd) as f32;
    let lr = h.lr * mult;
    match opt {
        // The chapter's `BasicOptim` (`p -= lr * g`, no weight decay) and SGD without momentum
        // (momentum is decided when the optimizer is built, as fastai's `SGD` picks `sgd_step`
        // for `mom=0`: a schedule that moves `mom` then changes nothing) are one update.
        OptFunc::Basic | OptFunc::Sgd { mom: 0.0, .. } => {
            let decay = if matches!(opt, OptFunc::Basic) {
                1.0
            } else {
                decay
            };
            let lr = lr as f32;
            let f = |p: &mut [f32], g: &[f32]| {
                for (p, g) in p.iter_mut().zip(g) {
                    *p = *p * decay - g * lr;
                }
            };
            if parallel {
                p.par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .for_each(|(p, g)| f(p, g));
            } else {
                f(p, g);
            }
        }
        OptFunc::Sgd { .. } => {
            let lr = lr as f32;
            if s.grad_avg.len() != p.len() {
                s.grad_avg = vec![0.0; p.len()];
            }
            let mom = h.mom as f32;
            let f = |p: &mut [f32], m: &mut [f32], g: &[f32]| {
                for ((p, m), g) in p.iter_mut().zip(m).zip(g) {
                    *m = *m * mom + g;
                    *p = *p * decay - *m * lr;
                }
            };
            if parallel {
                p.par_chunks_mut(CHUNK)
                    .zip(s.grad_avg.par_chunks_mut(CHUNK))
                    .zip(g.par_chunks(CHUNK))
                    .for_each(|((p, m), g)| f(p, m, g));
            } else {
                f(p, &mut s.grad_avg, g);
            }
        }
        OptFunc::Adam { .. } => {
            if s.grad_avg.len() != p.len() || s.sqr_avg.len() != p.len() {
                s.grad_avg = vec![0.0; p.len()];
                s.sqr_avg = vec![0.0; p.len()];
            }
            let debias1 = 1.0 - h.mom.powi(s.step as i32);
            let debias2 = 1.0 - h.sqr_mom.powi(s.step as i32);
            let (mom, sqr_mom, eps) = (h.mom as f32, h.sqr_mom as f32, h.eps as f32);
            let (step_size, inv_debias2) = ((lr / debias1) as f32, (1.0 / debias2) as f32);
            // Iterators over the four slices, not indices: no bounds checks in the loop, so it
            // compiles to SIMD.
            let f = |p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]| {
                for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
                    let mi = *m * mom + g * (1.0 - mom);
                    let vi = *v * sqr_mom + g * g * (1.0 - sqr_mom);
                    *m = mi;
                    *v = vi;
                    *p = *p * decay - step_size * mi / ((vi * inv_debias2).sqrt() + eps);
                }
            };
            if parallel {
                p.par_chunks_mut(CHUNK)
                    .zip(s.grad_avg.par_chunks_mut(CHUNK))
                    .zip(s.sqr_avg.par_chunks_mut(CHUNK))
                    .zip(g.par_chunks(CHUNK))
                    .for_each(|(((p, m), v), g)| f(p, m, v, g));
            } else {
                f(p, &mut s.grad_avg, &mut s.sqr_avg, g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fastai's Adam written out with f64 scalars, step by step.
    fn adam_reference(p0: f64, grads: &[f64], h: &Hypers) -> f64 {
        let (mut p, mut m, mut v) = (p0, 0.0, 0.0);
        for (i, &g) in grads.iter().enumerate() {
            let step = (i + 1) as i32;
            p *= 1.0 - h.lr * h.wd;
            m = m * h.mom + g * (1.0 - h.mom);
            v = v * h.sqr_mom + g * g * (1.0 - h.sqr_mom);
            let (d1, d2) = (1.0 - h.mom.powi(step), 1.0 - h.sqr_mom.powi(step));
            p -= h.lr / d1 * m / ((v / d2).sqrt() + h.eps);
        }
        p
    }

    #[test]
    fn adam_matches_its_formula_and_sgd_momentum_accumulates() {
        let h = OptFunc::ADAM.hypers(0.01);
        let grads = [0.5, -0.25, 1.0];
        let (mut p, mut s) = (vec![2.0f32], ParamState::default());
        for &g in &grads {
            step_in_place(OptFunc::ADAM, &h, 1.0, &mut p, &[g as f32], &mut s);
        }
        let want = adam_reference(2.0, &grads, &h);
        assert!((p[0] as f64 - want).abs() < 1e-6, "{} vs {want}", p[0]);
        assert_eq!(s.step, 3);
        // A step multiplier scales the step, not the weight decay.
        let (mut q, mut s) = (vec![2.0f32], ParamState::default());
        step_in_place(OptFunc::ADAM, &h, 3.0, &mut q, &[0.5], &mut s);
        let one_step = 0.01 / (0.5f64 / 0.5 + 1e-5); // Adam's first step: lr * g/|g|
        let want = 2.0 * (1.0 - 0.01 * 0.01) - 3.0 * one_step;
        assert!((q[0] as f64 - want).abs() < 1e-5, "{} vs {want}", q[0]);

        let sgd = OptFunc::Sgd { mom: 0.9, wd: 0.0 };
        let h = sgd.hypers(0.1);
        let (mut p, mut s) = (vec![1.0f32], ParamState::default());
        step_in_place(sgd, &h, 1.0, &mut p, &[1.0], &mut s);
        step_in_place(sgd, &h, 1.0, &mut p, &[1.0], &mut s);
        // m = 1, then 1.9: p = 1 - 0.1 - 0.19
        assert!((p[0] - 0.71).abs() < 1e-6);
        // Plain SGD ignores a scheduled momentum, as fastai's sgd_step.
        let mut h = OptFunc::SGD.hypers(0.5);
        h.mom = 0.95;
        let (mut p, mut s) = (vec![1.0f32], ParamState::default());
        step_in_place(OptFunc::SGD, &h, 1.0, &mut p, &[1.0], &mut s);
        step_in_place(OptFunc::SGD, &h, 1.0, &mut p, &[1.0], &mut s);
        assert_eq!(p[0], 0.0);
    }

    /// A parameter of four chunks or more is stepped on the cores, a small one on the calling thread:
    /// both give each element exactly what stepping it alone gives.
    #[test]
    fn chunked_and_single_thread_steps_agree_elementwise() {
        let n = 5 * (1 << 14) + 5;
        let sgd_mom = OptFunc::Sgd { mom: 0.9, wd: 0.01 };
        let wd_adam = OptFunc::Adam {
            mom: 0.9,
            sqr_mom: 0.99,
            eps: 1e-5,
            wd: 0.01,
        };
        for opt in [OptFunc::Basic, OptFunc::SGD, sgd_mom, wd_adam] {
            let h = opt.hypers(0.05);
            let p0: Vec<f32> = (0..n)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let grad = |t: usize| -> Vec<f32> {
                (0..n)
                    .map(|i| ((i * 13 + t * 7) % 29) as f32 / 14.0 - 1.0)
                    .collect()
            };
            let (mut big, mut s) = (p0.clone(), ParamState::default());
            for t in 0..3 {
                step_in_place(opt, &h, 2.0, &mut big, &grad(t), &mut s);
            }
            for i in [0, 1, 1 << 14, n / 2, n - 1] {
                let (mut one, mut s1) = (vec![p0[i]], ParamState::default());
                for t in 0..3 {
                    step_in_place(opt, &h, 2.0, &mut one, &[grad(t)[i]], &mut s1);
                }
                assert_eq!(one[0], big[i], "{opt:?} element {i}");
                assert_ne!(one[0], p0[i], "{opt:?} element {i} did not move");
            }
        }
    }

    #[test]
    fn state_bytes_round_trip_and_refuse_garbage() {
        let mut opt = Optimizer::new(OptFunc::ADAM, vec!["body".into(), "head".into()]);
        opt.set_lrs(&[0.1, 0.2]);
        opt.frozen_to = 1;
        opt.state.insert(
            "head.w".into(),
            ParamState {
                grad_avg: vec![1.5, -2.0],
                sqr_avg: vec![0.25, 3.0],
                step: 7,
            },
        );
        let bytes = opt.state_bytes();
        let mut back = Optimizer::new(OptFunc::ADAM, vec!["body".into(), "head".into()]);
        back.load_state_bytes(&bytes).unwrap();
        assert_eq!(back.hypers, opt.hypers);
        assert_eq!(back.state, opt.state);
        assert_eq!(back.frozen_to, 1);
        for cut in [0, 7, bytes.len() - 1] {
            assert!(back.load_state_bytes(&bytes[..cut]).is_err());
        }
        let mut one_group = Optimizer::new(OptFunc::ADAM, vec![]);
        assert!(one_group.load_state_bytes(&bytes).is_err());
    }

    #[test]
    fn groups_by_path_prefix() {
        let opt = Optimizer::new(OptFunc::SGD, vec!["body".into(), "head".into()]);
        assert_eq!(opt.group_of("body.layer1.0.conv1.weight"), 0);
        assert_eq!(opt.group_of("head.lin2.bias"), 1);
        assert_eq!(opt.group_of("other"), 0);
        let kinds = |k: &str| vec!["Struct:ResNet".to_string(), k.to_string()];
        let path = |p: &str| vec!["head".to_string(), p.to_string()];
        assert!(is_norm_or_bias(&path("weight"), &kinds("Struct:BatchNorm")));
        assert!(is_norm_or_bias(&path("bias"), &kinds("Struct:Linear")));
        assert!(!is_norm_or_bias(&path("weight"), &kinds("Struct:Linear")));
    }
}
