//! Data-parallel training: several processes train one model, each on its shard of every batch,
//! their gradients summed before each step (what PyTorch's `DistributedDataParallel` does, and
//! fastai's `distrib_ctx` under `accelerate`/`torchrun`).
//!
//! fastburn does not move bytes between processes itself: a [`Collective`] does, and the one
//! fastburn ships is MPI's (`parallel::Mpi`, cargo feature `mpi`), the engine clusters already run,
//! launched by `mpirun` or Slurm's `srun`. [`Learner::data_parallel`](crate::learner::Learner::data_parallel)
//! makes a learner one rank of such a group:
//!
//! - rank 0's weights are broadcast, so every rank starts from the same model;
//! - each rank takes its [`shard`] of every global batch (the batch size and learning rate are
//!   those of one process), and its gradients, weighted by its share of the batch, are summed
//!   over the ranks with one all-reduce per bucket of [`BUCKET_FLOATS`] values;
//! - every rank then takes the same step, so the weights stay equal without being sent again;
//! - BatchNorm normalises with each rank's own batch statistics (PyTorch DDP's default), and its
//!   running statistics are rank 0's, broadcast before each validation;
//! - validation is sharded the same way and its sums reduced, so every rank sees the same table;
//! - only rank 0 prints the table and writes files (model, checkpoints), as in fastai.
//!
//! Without the feature, or under one process, nothing of this runs.

use std::ops::Range;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

use crate::error::Result;

#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "mpi")]
pub use self::mpi::{Mpi, MpiWorld};

/// Values per all-reduce: PyTorch DDP's default bucket (`bucket_cap_mb=25`) of f32s. A ResNet-18's
/// gradients (11.7M values) go in two buckets, every reduction started before the first is
/// waited on.
pub const BUCKET_FLOATS: usize = 25 * 1024 * 1024 / 4;

/// The collective operations data-parallel training needs from the processes of one job. Every
/// rank calls each operation in the same order with buffers of the same lengths.
///
/// `Mpi` (feature `mpi`) implements it with MPI; a test can implement it over threads. A group
/// of one, the smallest implementation:
///
/// ```
/// use fastburn::data::{DataLoaders, embedded_sample};
/// use fastburn::learner::{Learner, SGD};
/// use fastburn::parallel::Collective;
/// use fastburn::{loss::mnist_loss, metrics::BATCH_ACCURACY, models::linear};
///
/// struct Alone;
/// impl Collective for Alone {
///     fn rank(&self) -> usize { 0 }
///     fn size(&self) -> usize { 1 }
///     fn all_reduce_sum(&self, _: &mut [Vec<f32>]) -> fastburn::Result<()> { Ok(()) }
///     fn all_reduce_sum_f64(&self, _: &mut [f64]) -> fastburn::Result<()> { Ok(()) }
///     fn broadcast(&self, _: &mut [f32]) -> fastburn::Result<()> { Ok(()) }
/// }
///
/// let device = fastburn::device();
/// let dls = DataLoaders::threes_and_sevens(&embedded_sample()?, 256, 42, &device)?;
/// let model = linear(28 * 28, 1, &device);
/// let mut learn = Learner::new(dls, model, SGD, mnist_loss, vec![BATCH_ACCURACY]);
/// learn.quiet(true).data_parallel(Box::new(Alone))?;
/// assert_eq!((learn.rank(), learn.world_size()), (0, 1));
/// learn.fit(1, 1.0)?;
/// # Ok::<(), fastburn::Error>(())
/// ```
pub trait Collective {
    /// This process's number, 0 to `size() - 1`.
    fn rank(&self) -> usize;

    /// The number of processes.
    fn size(&self) -> usize;

    /// Sum each bucket element-wise over every rank, in place; every bucket's reduction is
    /// started before any is waited on.
    fn all_reduce_sum(&self, buckets: &mut [Vec<f32>]) -> Result<()>;

    /// Sum `values` element-wise over every rank, in place (validation's sums and counts).
    fn all_reduce_sum_f64(&self, values: &mut [f64]) -> Result<()>;

    /// Rank 0's `values` on every rank.
    fn broadcast(&self, values: &mut [f32]) -> Result<()>;
}

/// The contiguous part of `len` items that `rank` of `size` takes: sizes differ by at most one,
/// the larger shards first, so rank 0's is never empty when there is an item at all.
///
/// ```
/// use fastburn::parallel::shard;
/// assert_eq!((shard(5, 0, 2), shard(5, 1, 2)), (0..3, 3..5));
/// assert_eq!((shard(1, 0, 2), shard(1, 1, 2)), (0..1, 1..1));
/// ```
pub fn shard(len: usize, rank: usize, size: usize) -> Range<usize> {
    let size = size.max(1);
    let (base, extra) = (len / size, len % size);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// Every floating-point parameter and buffer of `model` (BatchNorm's running statistics among
/// them) as rank 0 has it.
pub fn broadcast_model<M: Module>(model: M, group: &dyn Collective) -> Result<M> {
    // Burn keeps a training pass's update of a running statistic pending (per thread) until it
    // is synced: a visitor reads the value before it, and the next `valid()` would put the
    // pending one back over what is scattered here. `valid()` syncs every running statistic of
    // `model` in place (they are shared); the copy it returns is not needed.
    drop(model.valid());
    let mut values = Vec::new();
    model.visit(&mut Gather(&mut values));
    group.broadcast(&mut values)?;
    if group.rank() == 0 {
        return Ok(model);
    }
    Ok(model.map(&mut Scatter {
        values: &values,
        at: 0,
    }))
}

/// Sum every trainable parameter's gradient in `grads`, weighted by `weight` (this rank's share
/// of the global batch), over the ranks, and put the sums back: each rank then holds the
/// gradient of the global batch's mean loss. `loss` (this rank's mean loss) rides along in the
/// last bucket; the global batch's mean loss is returned.
///
/// A parameter that took no gradient on this rank counts as zeros, so a rank whose shard is
/// empty (`weight` 0) still takes part.
pub fn all_reduce_grads<M: Module>(
    model: &M,
    grads: &mut Gradients,
    weight: f32,
    loss: f32,
    group: &dyn Collective,
) -> Result<f32> {
    let mut pack = Pack {
        grads,
        weight,
        buckets: vec![Vec::new()],
    };
    model.visit(&mut pack);
    let mut buckets = pack.buckets;
    buckets
        .last_mut()
        .expect("one bucket at least")
        .push(loss * weight);
    group.all_reduce_sum(&mut buckets)?;
    let loss = buckets
        .last_mut()
        .and_then(Vec::pop)
        .expect("the loss was pushed");
    model.visit(&mut Unpack {
        grads,
        buckets: &buckets,
        at: (0, 0),
    });
    Ok(loss)
}

/// Collects every float parameter's values, in the module's visiting order.
struct Gather<'a>(&'a mut Vec<f32>);

impl ModuleVisitor for Gather<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.extend(host(param.val()));
    }
}

/// Sets every float parameter's values from `values`, in the order [`Gather`] took them.
struct Scatter<'a> {
    values: &'a [f32],
    at: usize,
}

impl ModuleMapper for Scatter<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let values = self.values[self.at..self.at + n].to_vec();
        self.at += n;
        let device = tensor.device();
        let mut t = Tensor::<D>::from_data(TensorData::new(values, shape), &device);
        if tensor.is_require_grad() {
            t = t.require_grad();
        }
        Param::from_mapped_value(id, t, mapper)
    }
}

/// Packs the weighted gradients of the trainable parameters into buckets.
struct Pack<'a> {
    grads: &'a Gradients,
    weight: f32,
    buckets: Vec<Vec<f32>>,
}

impl ModuleVisitor for Pack<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        if !t.is_require_grad() {
            return;
        }
        let n = t.shape().num_elements();
        let mut g = match t.grad(self.grads) {
            Some(g) => host(g),
            None => vec![0.0; n],
        };
        if self.weight != 1.0 {
            g.iter_mut().for_each(|v| *v *= self.weight);
        }
        let last = self.buckets.last_mut().expect("one bucket at least");
        if !last.is_empty() && last.len() + n > BUCKET_FLOATS {
            self.buckets.push(g);
        } else {
            last.extend(g);
        }
    }
}

/// Puts the summed gradients back, parameter by parameter, in [`Pack`]'s order.
struct Unpack<'a> {
    grads: &'a mut Gradients,
    buckets: &'a [Vec<f32>],
    /// (bucket, offset) of the next parameter's values.
    at: (usize, usize),
}

impl ModuleVisitor for Unpack<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        if !t.is_require_grad() {
            return;
        }
        let shape = t.shape();
        let n = shape.num_elements();
        let (mut b, mut off) = self.at;
        if off > 0 && off + n > self.buckets[b].len() {
            (b, off) = (b + 1, 0);
        }
        let values = self.buckets[b][off..off + n].to_vec();
        self.at = (b, off + n);
        let device = t.device().without_autodiff();
        t.grad_replace(
            self.grads,
            Tensor::<D>::from_data(TensorData::new(values, shape), &device),
        );
    }
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    let data = t.into_data();
    if data.dtype() != burn::tensor::DType::F32 {
        return data.convert::<f32>().iter::<f32>().collect();
    }
    data.iter::<f32>().collect()
}

#[cfg(test)]
mod tests {
    use super::shard;

    #[test]
    fn shards_cover_every_item_once_in_order() {
        for len in 0..40 {
            for size in 1..6 {
                let parts: Vec<_> = (0..size).map(|r| shard(len, r, size)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[size - 1].end, len);
                for w in parts.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(w[0].len() >= w[1].len() && w[0].len() - w[1].len() <= 1);
                }
            }
        }
    }
}
