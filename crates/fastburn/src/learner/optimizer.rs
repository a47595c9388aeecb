//! fastai's `Optimizer`: parameters split into groups, each group with its own hyper-parameters
//! (learning rate, momentum, ...) that callbacks change between steps, an update rule, and the
//! state the rule keeps per parameter (moving averages), by the parameter's path in the model, so
//! that a checkpoint can save it and another process read it back.
//!
//! The rule is open: [`Stepper`] is a trait (fastai's steppers, candle's `Optimizer`), and
//! [`Sgd`], [`Adam`] and a user's own rule are peers. On the CPU each parameter's update runs on
//! the parameter's own buffer ([`fastburn_flex::step_in_place`]), split over the cores.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use fastburn_flex::par::prelude::*;
use serde::{Deserialize, Serialize};

use crate::models::Model;

/// The hyper-parameters of one parameter group (fastai's `opt.hypers[i]`): what schedules and
/// callbacks change between steps. A rule reads the ones it uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hypers {
    pub lr: f64,
    /// Momentum (Adam's first-moment coefficient, beta1).
    pub mom: f64,
    /// The second-moment coefficient (Adam's beta2, RMSProp's alpha).
    pub sqr_mom: f64,
    pub eps: f64,
    /// Decoupled weight decay.
    pub wd: f64,
}

/// What one update of one parameter is given besides its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    /// The group's hyper-parameters, weight decay zeroed for norm layers and biases (fastai's
    /// `wd_bn_bias=False`).
    pub hypers: Hypers,
    /// A factor on the step, not on the weight decay (see [`Model::step_multipliers`]).
    pub mult: f64,
    /// The steps this parameter has taken, this one included (Adam's bias correction).
    pub step: u64,
}

/// An update rule: how a parameter moves given its gradient, its group's hyper-parameters and
/// the buffers the rule keeps for it.
///
/// The rule is element-wise (every rule fastai ships is): [`Optimizer`] hands it the parameter
/// in chunks, on several cores for large parameters, with the matching chunks of the gradient
/// and of the buffers.
///
/// A user's rule, RMSProp without momentum (fastai's `rms_prop_step`):
///
/// ```
/// use fastburn::learner::{Hypers, Stepper, Update};
///
/// #[derive(Debug)]
/// struct RmsProp;
///
/// impl Stepper for RmsProp {
///     fn name(&self) -> &str {
///         "rmsprop"
///     }
///     fn hypers(&self, lr: f64) -> Hypers {
///         Hypers { lr, mom: 0.0, sqr_mom: 0.99, eps: 1e-8, wd: 0.0 }
///     }
///     fn buffers(&self) -> usize {
///         1
///     }
///     fn step(&self, p: &mut [f32], g: &[f32], bufs: &mut [&mut [f32]], u: &Update) {
///         let h = &u.hypers;
///         let (a, lr, eps) = (h.sqr_mom as f32, (h.lr * u.mult) as f32, h.eps as f32);
///         for ((p, g), v) in p.iter_mut().zip(g).zip(bufs[0].iter_mut()) {
///             *v = a * *v + (1.0 - a) * g * g;
///             *p -= lr * g / (v.sqrt() + eps);
///         }
///     }
/// }
/// ```
pub trait Stepper: Send + Sync + std::fmt::Debug {
    /// The rule's name, kept in checkpoints: a run resumes only with the rule it trained with.
    fn name(&self) -> &str;

    /// The hyper-parameters of a parameter group at learning rate `lr` (the rule's defaults).
    fn hypers(&self, lr: f64) -> Hypers;

    /// How many buffers the size of the parameter the rule keeps (moving averages); each starts
    /// at zero.
    fn buffers(&self) -> usize {
        0
    }

    /// Update `p` in place: `g` its gradient, `bufs` the rule's buffers (as many as
    /// [`buffers`](Self::buffers)), `u` the hyper-parameters and where the parameter is.
    fn step(&self, p: &mut [f32], g: &[f32], bufs: &mut [&mut [f32]], u: &Update);
}

/// A rule chosen at run time (`Box<dyn Stepper>`) is a rule.
impl<S: Stepper + ?Sized> Stepper for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn hypers(&self, lr: f64) -> Hypers {
        (**self).hypers(lr)
    }
    fn buffers(&self) -> usize {
        (**self).buffers()
    }
    fn step(&self, p: &mut [f32], g: &[f32], bufs: &mut [&mut [f32]], u: &Update) {
        (**self).step(p, g, bufs, u)
    }
}

/// fastai's `SGD(mom, wd)`: decoupled weight decay `p *= 1 - lr*wd`, then `p -= lr*g`, or with
/// momentum `m = mom*m + g; p -= lr*m`.
///
/// Whether there is momentum is decided here, as fastai's `SGD` picks `sgd_step` for `mom=0`: a
/// schedule that then moves `mom` (one-cycle) changes nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    pub mom: f64,
    pub wd: f64,
}

/// Plain SGD, fastai's `SGD` as the chapter uses it (`p -= lr * p.grad`).
pub const SGD: Sgd = Sgd { mom: 0.0, wd: 0.0 };

impl Default for Sgd {
    fn default() -> Self {
        SGD
    }
}

impl Stepper for Sgd {
    fn name(&self) -> &str {
        "sgd"
    }

    fn hypers(&self, lr: f64) -> Hypers {
        Hypers {
            lr,
            mom: self.mom,
            sqr_mom: 0.0,
            eps: 0.0,
            wd: self.wd,
        }
    }

    fn buffers(&self) -> usize {
        usize::from(self.mom != 0.0)
    }

    fn step(&self, p: &mut [f32], g: &[f32], bufs: &mut [&mut [f32]], u: &Update) {
        let h = &u.hypers;
        let decay = (1.0 - h.lr * h.wd) as f32;
        let lr = (h.lr * u.mult) as f32;
        match bufs {
            [m] => {
                let mom = h.mom as f32;
                for ((p, m), g) in p.iter_mut().zip(m.iter_mut()).zip(g) {
                    *m = *m * mom + g;
                    *p = *p * decay - *m * lr;
                }
            }
            _ => {
                for (p, g) in p.iter_mut().zip(g) {
                    *p = *p * decay - g * lr;
                }
            }
        }
    }
}

/// fastai's `Adam(mom, sqr_mom, eps, wd)` with decoupled weight decay and bias correction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    pub mom: f64,
    pub sqr_mom: f64,
    pub eps: f64,
    pub wd: f64,
}

/// fastai's `Adam` with its defaults (`mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01`): what
/// `vision_learner` trains with.
pub const ADAM: Adam = Adam {
    mom: 0.9,
    sqr_mom: 0.99,
    eps: 1e-5,
    wd: 0.01,
};

impl Default for Adam {
    fn default() -> Self {
        ADAM
    }
}

impl Stepper for Adam {
    fn name(&self) -> &str {
        "adam"
    }

    fn hypers(&self, lr: f64) -> Hypers {
        Hypers {
            lr,
            mom: self.mom,
            sqr_mom: self.sqr_mom,
            eps: self.eps,
            wd: self.wd,
        }
    }

    fn buffers(&self) -> usize {
        2
    }

    fn step(&self, p: &mut [f32], g: &[f32], bufs: &mut [&mut [f32]], u: &Update) {
        let [m, v] = bufs else {
            return;
        };
        let h = &u.hypers;
        let decay = (1.0 - h.lr * h.wd) as f32;
        let debias1 = 1.0 - h.mom.powi(u.step as i32);
        let debias2 = 1.0 - h.sqr_mom.powi(u.step as i32);
        let (mom, sqr_mom, eps) = (h.mom as f32, h.sqr_mom as f32, h.eps as f32);
        let (step_size, inv_debias2) = ((h.lr * u.mult / debias1) as f32, (1.0 / debias2) as f32);
        // Iterators over the four slices, not indices: no bounds checks, so the loop vectorises.
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let mi = *m * mom + g * (1.0 - mom);
            let vi = *v * sqr_mom + g * g * (1.0 - sqr_mom);
            *m = mi;
            *v = vi;
            *p = *p * decay - step_size * mi / ((vi * inv_debias2).sqrt() + eps);
        }
    }
}

/// What the optimizer knows of one parameter, resolved once from the model when the optimizer
/// is built (not on every step).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    /// Its parameter group.
    pub group: usize,
    /// A norm layer's parameter or a bias (fastai's `norm_bias_params`): no weight decay
    /// (`wd_bn_bias=False`).
    pub norm_or_bias: bool,
    /// A norm layer's parameter: it keeps training in frozen groups (fastai's `train_bn=True`,
    /// which, unlike the weight decay rule, leaves biases frozen).
    pub norm: bool,
    /// A running statistic (BatchNorm's mean and variance): a buffer, never stepped or trained.
    pub running_stat: bool,
    /// The factor on its steps ([`Model::step_multipliers`]).
    pub mult: f64,
}

/// One parameter's state: the rule's buffers and the steps taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamState {
    pub step: u64,
    pub buffers: Vec<Vec<f32>>,
}

/// What an optimizer's state is besides its buffers: saved in a checkpoint's header (the buffers
/// go beside the model's tensors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerRecord {
    /// The rule's [`name`](Stepper::name).
    pub rule: String,
    pub hypers: Vec<Hypers>,
    pub frozen_to: usize,
    /// Steps taken by each parameter (by path) that has state.
    pub steps: BTreeMap<String, u64>,
}

/// Why an optimizer's saved state does not fit this optimizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateMismatch {
    #[error("it was saved by the {saved} optimizer, this one is {this}")]
    Rule { saved: String, this: String },
    #[error("it has {saved} parameter groups, the model {this}")]
    Groups { saved: usize, this: usize },
    #[error("the buffers of {path} are missing or of another size")]
    Buffers { path: String },
}

/// fastai's `Optimizer` over a model's parameters.
///
/// Groups are given by path prefixes ([`Model::param_groups`]): a ResNet's body is group 0 and
/// its head group 1, so `lr = slice(1e-5, 1e-3)` trains the body slower than the head, and
/// [`freeze`](super::Learner::freeze) keeps the body still.
///
/// ```
/// use fastburn::learner::{ADAM, Optimizer};
/// let mut opt = Optimizer::new(ADAM, vec!["body".into(), "head".into()]);
/// opt.set_lrs(&[1e-4, 1e-3]);
/// opt.set_mom(0.85);
/// assert_eq!((opt.hypers[0].lr, opt.hypers[1].lr, opt.hypers[1].mom), (1e-4, 1e-3, 0.85));
/// ```
#[derive(Debug, Clone)]
pub struct Optimizer {
    rule: Arc<dyn Stepper>,
    /// One entry per parameter group.
    pub hypers: Vec<Hypers>,
    /// The path prefix of each group; a parameter belongs to the last group whose prefix its
    /// path starts with (group 0 when none does).
    pub groups: Vec<String>,
    /// Groups before this one are frozen (only their norm layers and biases train).
    pub frozen_to: usize,
    params: BTreeMap<String, ParamInfo>,
    state: BTreeMap<String, ParamState>,
}

impl Optimizer {
    /// An optimizer with `rule` over parameter groups given by path prefixes. It learns each
    /// parameter's facts (group, norm layer or bias, running statistic) the first time it steps
    /// or freezes it, from the module tree; [`for_model`](Self::for_model) learns them all at once,
    /// with the model's step multipliers.
    pub fn new(rule: impl Stepper + 'static, groups: Vec<String>) -> Self {
        let groups = if groups.is_empty() {
            vec![String::new()]
        } else {
            groups
        };
        Self {
            hypers: vec![rule.hypers(1e-3); groups.len()],
            rule: Arc::new(rule),
            groups,
            frozen_to: 0,
            params: BTreeMap::new(),
            state: BTreeMap::new(),
        }
    }

    /// An optimizer with `rule` over `model`'s parameter groups, every parameter's facts
    /// (group, norm layer or bias, running statistic, step multiplier) resolved now.
    pub fn for_model<M: Model>(rule: impl Stepper + 'static, model: &M) -> Self {
        let mut opt = Self::new(rule, model.param_groups());
        let mut walk = Resolve {
            opt: &mut opt,
            at: Where::default(),
        };
        model.visit(&mut walk);
        for (path, mult) in model.step_multipliers() {
            if let Some(info) = opt.params.get_mut(&path) {
                info.mult = mult;
            }
        }
        opt
    }

    /// The rule's name.
    pub fn rule(&self) -> &str {
        self.rule.name()
    }

    /// The group a parameter at `path` belongs to.
    pub fn group_of(&self, path: &str) -> usize {
        self.groups
            .iter()
            .rposition(|g| path.starts_with(g.as_str()))
            .unwrap_or(0)
    }

    /// What the optimizer knows of the parameter at `path`, if it has met it.
    pub fn param_info(&self, path: &str) -> Option<&ParamInfo> {
        self.params.get(path)
    }

    /// The facts of the parameter `at` a place in the module tree: resolved the first time, then
    /// read back.
    fn info_at(&mut self, at: &Where) -> ParamInfo {
        let path = at.path.join(".");
        if let Some(info) = self.params.get(&path) {
            return info.clone();
        }
        let norm = is_norm(at.kinds.last().map(String::as_str));
        let info = ParamInfo {
            group: self.group_of(&path),
            norm_or_bias: norm || at.path.last().is_some_and(|p| p == "bias"),
            norm,
            running_stat: is_running_stat(&at.path),
            mult: 1.0,
        };
        self.params.insert(path, info.clone());
        info
    }

    /// One learning rate per group (`lrs.len()` must be the number of groups, or 1 for all).
    pub fn set_lrs(&mut self, lrs: &[f64]) {
        for (i, h) in self.hypers.iter_mut().enumerate() {
            h.lr = lrs[i.min(lrs.len().saturating_sub(1))];
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
    /// norm layers train (fastai's `train_bn=True`), and the others need no gradient at all (none
    /// is computed or stored for them).
    pub fn apply_freeze<M: Module>(&mut self, model: M) -> M {
        let mut mapper = FreezeMapper {
            opt: self,
            at: Where::default(),
        };
        model.map(&mut mapper)
    }

    /// The state as a record and the buffers by name (`<path>#<i>`), for a checkpoint.
    pub fn save_state(&self) -> (OptimizerRecord, Vec<(String, &[f32])>) {
        let record = OptimizerRecord {
            rule: self.rule.name().to_string(),
            hypers: self.hypers.clone(),
            frozen_to: self.frozen_to,
            steps: self
                .state
                .iter()
                .map(|(p, s)| (p.clone(), s.step))
                .collect(),
        };
        let buffers = self
            .state
            .iter()
            .flat_map(|(path, s)| {
                s.buffers
                    .iter()
                    .enumerate()
                    .map(move |(i, b)| (format!("{path}#{i}"), b.as_slice()))
            })
            .collect();
        (record, buffers)
    }

    /// Take back what [`save_state`](Self::save_state) gave; `buffers` maps its names to values.
    pub fn load_state(
        &mut self,
        record: OptimizerRecord,
        buffers: &mut BTreeMap<String, Vec<f32>>,
    ) -> std::result::Result<(), StateMismatch> {
        if record.rule != self.rule.name() {
            return Err(StateMismatch::Rule {
                saved: record.rule,
                this: self.rule.name().to_string(),
            });
        }
        if record.hypers.len() != self.hypers.len() {
            return Err(StateMismatch::Groups {
                saved: record.hypers.len(),
                this: self.hypers.len(),
            });
        }
        let mut state = BTreeMap::new();
        for (path, step) in record.steps {
            let bufs: Option<Vec<Vec<f32>>> = (0..self.rule.buffers())
                .map(|i| buffers.remove(&format!("{path}#{i}")))
                .collect();
            match bufs {
                Some(bufs) if bufs.iter().all(|b| b.len() == bufs[0].len()) => {
                    state.insert(
                        path,
                        ParamState {
                            step,
                            buffers: bufs,
                        },
                    );
                }
                _ => return Err(StateMismatch::Buffers { path }),
            }
        }
        self.hypers = record.hypers;
        self.frozen_to = record.frozen_to;
        self.state = state;
        Ok(())
    }
}

/// A parameter of fewer than four chunks is stepped on the calling thread: handing work to the
/// thread pool is a round trip between threads (wake a worker, wait on a latch, ~20 µs here),
/// more than the update of `simple_net`'s 23,520 weights costs (7% of its training time was
/// that wait).
const CHUNK: usize = 1 << 14;

/// One parameter's update, in place, in chunks spread over the cores for large parameters.
fn step_param(
    rule: &dyn Stepper,
    h: &Hypers,
    mult: f64,
    p: &mut [f32],
    g: &[f32],
    s: &mut ParamState,
) {
    // The rules zip their slices, which would stop at the shortest.
    assert_eq!(
        p.len(),
        g.len(),
        "a gradient of another shape than its parameter"
    );
    let n_buf = rule.buffers();
    if s.buffers.len() != n_buf || s.buffers.iter().any(|b| b.len() != p.len()) {
        s.buffers = vec![vec![0.0; p.len()]; n_buf];
    }
    s.step += 1;
    let u = Update {
        hypers: *h,
        mult,
        step: s.step,
    };
    if p.len() < 4 * CHUNK {
        let mut bufs: Vec<&mut [f32]> = s.buffers.iter_mut().map(Vec::as_mut_slice).collect();
        rule.step(p, g, &mut bufs, &u);
        return;
    }
    // Chunk `k` of the parameter, of its gradient and of each buffer, stepped on its own.
    type Job<'a> = (&'a mut [f32], &'a [f32], Vec<&'a mut [f32]>);
    let mut bufs: Vec<std::slice::ChunksMut<'_, f32>> =
        s.buffers.iter_mut().map(|b| b.chunks_mut(CHUNK)).collect();
    let jobs: Vec<Job<'_>> = p
        .chunks_mut(CHUNK)
        .zip(g.chunks(CHUNK))
        .map(|(p, g)| {
            let b = bufs.iter_mut().filter_map(Iterator::next).collect();
            (p, g, b)
        })
        .collect();
    jobs.into_par_iter()
        .for_each(|(p, g, mut b)| rule.step(p, g, &mut b, &u));
}

/// A parameter of a norm layer (by its module's type), as fastai's `norm_types`.
fn is_norm(container: Option<&str>) -> bool {
    container.is_some_and(|k| {
        [
            "BatchNorm",
            "LayerNorm",
            "GroupNorm",
            "InstanceNorm",
            "RmsNorm",
        ]
        .iter()
        .any(|n| k.ends_with(n))
    })
}

fn is_running_stat(path: &[String]) -> bool {
    path.last()
        .is_some_and(|n| n == "running_mean" || n == "running_var")
}

/// Where a walk is in the module tree: field names and their containers' types.
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
}

/// Resolves every parameter's [`ParamInfo`] at once.
struct Resolve<'a> {
    opt: &'a mut Optimizer,
    at: Where,
}

impl ModuleVisitor for Resolve<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.at.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.at.exit();
    }

    fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
        self.opt.info_at(&self.at);
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
        let info = self.opt.info_at(&self.at);
        if info.running_stat || (info.group < self.opt.frozen_to && !info.norm) {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let mut h = self.opt.hypers[info.group.min(self.opt.hypers.len() - 1)];
        if info.norm_or_bias {
            h.wd = 0.0;
        }
        let require_grad = tensor.is_require_grad();
        let device = tensor.device();
        let shape = tensor.shape();
        let rule = self.opt.rule.clone();
        let state = self.opt.state.entry(self.at.path.join(".")).or_default();
        // On the CPU the step runs on the parameter's own buffer and reads the gradient where it
        // lies; elsewhere (GPUs) through host vectors.
        let updated = match fastburn_flex::step_in_place(tensor.inner(), &grad, |p, g| {
            step_param(&*rule, &h, info.mult, p, g, state)
        }) {
            Ok(updated) => updated,
            Err(inner) => {
                let mut p = host_f32(inner);
                step_param(&*rule, &h, info.mult, &mut p, &host_f32(grad), state);
                Tensor::<D>::from_data(TensorData::new(p, shape), &device.without_autodiff())
            }
        };
        let mut updated = Tensor::from_inner(updated);
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// A tensor's values as f32 on the host.
fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    let data = t.into_data();
    if data.dtype() != burn::tensor::DType::F32 {
        return data.convert::<f32>().iter::<f32>().collect();
    }
    data.iter::<f32>().collect()
}

struct FreezeMapper<'a> {
    opt: &'a mut Optimizer,
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
        let info = self.opt.info_at(&self.at);
        // Running statistics are buffers: they never take gradients.
        if info.running_stat {
            return param;
        }
        let trainable = info.group >= self.opt.frozen_to || info.norm;
        param.set_require_grad(trainable)
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

    fn stepped(
        rule: &dyn Stepper,
        h: &Hypers,
        mult: f64,
        p: &mut [f32],
        g: &[f32],
        s: &mut ParamState,
    ) {
        step_param(rule, h, mult, p, g, s);
    }

    #[test]
    fn adam_matches_its_formula_and_sgd_momentum_accumulates() {
        let h = ADAM.hypers(0.01);
        let grads = [0.5, -0.25, 1.0];
        let (mut p, mut s) = (vec![2.0f32], ParamState::default());
        for &g in &grads {
            stepped(&ADAM, &h, 1.0, &mut p, &[g as f32], &mut s);
        }
        let want = adam_reference(2.0, &grads, &h);
        assert!((p[0] as f64 - want).abs() < 1e-6, "{} vs {want}", p[0]);
        assert_eq!(s.step, 3);
        // A step multiplier scales the step, not the weight decay.
        let (mut q, mut s) = (vec![2.0f32], ParamState::default());
        stepped(&ADAM, &h, 3.0, &mut q, &[0.5], &mut s);
        let one_step = 0.01 / (0.5f64 / 0.5 + 1e-5); // Adam's first step: lr * g/|g|
        let want = 2.0 * (1.0 - 0.01 * 0.01) - 3.0 * one_step;
        assert!((q[0] as f64 - want).abs() < 1e-5, "{} vs {want}", q[0]);

        let sgd = Sgd { mom: 0.9, wd: 0.0 };
        let h = sgd.hypers(0.1);
        let (mut p, mut s) = (vec![1.0f32], ParamState::default());
        stepped(&sgd, &h, 1.0, &mut p, &[1.0], &mut s);
        stepped(&sgd, &h, 1.0, &mut p, &[1.0], &mut s);
        // m = 1, then 1.9: p = 1 - 0.1 - 0.19
        assert!((p[0] - 0.71).abs() < 1e-6);
        // Plain SGD ignores a scheduled momentum, as fastai's sgd_step.
        let mut h = SGD.hypers(0.5);
        h.mom = 0.95;
        let (mut p, mut s) = (vec![1.0f32], ParamState::default());
        stepped(&SGD, &h, 1.0, &mut p, &[1.0], &mut s);
        stepped(&SGD, &h, 1.0, &mut p, &[1.0], &mut s);
        assert_eq!(p[0], 0.0);
        assert!(s.buffers.is_empty(), "plain SGD keeps no buffer");
    }

    /// A parameter of four chunks or more is stepped on the cores, a small one on the calling
    /// thread: both give each element exactly what stepping it alone gives.
    #[test]
    fn chunked_and_single_thread_steps_agree_elementwise() {
        let n = 5 * CHUNK + 5;
        let sgd_mom = Sgd { mom: 0.9, wd: 0.01 };
        let rules: [&dyn Stepper; 3] = [&SGD, &sgd_mom, &ADAM];
        for rule in rules {
            let h = rule.hypers(0.05);
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
                stepped(rule, &h, 2.0, &mut big, &grad(t), &mut s);
            }
            for i in [0, 1, CHUNK, n / 2, n - 1] {
                let (mut one, mut s1) = (vec![p0[i]], ParamState::default());
                for t in 0..3 {
                    stepped(rule, &h, 2.0, &mut one, &[grad(t)[i]], &mut s1);
                }
                assert_eq!(one[0], big[i], "{rule:?} element {i}");
                assert_ne!(one[0], p0[i], "{rule:?} element {i} did not move");
            }
        }
    }

    #[test]
    fn state_round_trips_and_refuses_what_does_not_fit() {
        let mut opt = Optimizer::new(ADAM, vec!["body".into(), "head".into()]);
        opt.set_lrs(&[0.1, 0.2]);
        opt.frozen_to = 1;
        opt.state.insert(
            "head.w".into(),
            ParamState {
                step: 7,
                buffers: vec![vec![1.5, -2.0], vec![0.25, 3.0]],
            },
        );
        let (record, buffers) = opt.save_state();
        let owned = || -> BTreeMap<String, Vec<f32>> {
            buffers
                .iter()
                .map(|(n, b)| (n.clone(), b.to_vec()))
                .collect()
        };
        let mut back = Optimizer::new(ADAM, vec!["body".into(), "head".into()]);
        back.load_state(record.clone(), &mut owned()).unwrap();
        assert_eq!(back.hypers, opt.hypers);
        assert_eq!(back.state, opt.state);
        assert_eq!(back.frozen_to, 1);
        // Another rule, another number of groups, a missing buffer: refused, state untouched.
        let mut sgd = Optimizer::new(SGD, vec!["body".into(), "head".into()]);
        assert!(matches!(
            sgd.load_state(record.clone(), &mut owned()),
            Err(StateMismatch::Rule { .. })
        ));
        let mut one_group = Optimizer::new(ADAM, vec![]);
        assert!(matches!(
            one_group.load_state(record.clone(), &mut owned()),
            Err(StateMismatch::Groups { .. })
        ));
        let mut missing = owned();
        missing.remove("head.w#1");
        let mut fresh = Optimizer::new(ADAM, vec!["body".into(), "head".into()]);
        assert!(matches!(
            fresh.load_state(record, &mut missing),
            Err(StateMismatch::Buffers { .. })
        ));
        assert!(fresh.state.is_empty());
    }

    #[test]
    fn groups_by_path_prefix_and_facts_by_container() {
        let opt = Optimizer::new(SGD, vec!["body".into(), "head".into()]);
        assert_eq!(opt.group_of("body.layer1.0.conv1.weight"), 0);
        assert_eq!(opt.group_of("head.lin2.bias"), 1);
        assert_eq!(opt.group_of("other"), 0);
        let path = |p: &str| vec!["head".to_string(), p.to_string()];
        assert!(is_norm(Some("Struct:BatchNorm")));
        assert!(!is_norm(Some("Struct:Linear")));
        assert!(is_running_stat(&path("running_var")));
    }
}
