//! Data-parallel training's arithmetic, without MPI: two learners on two threads joined by a
//! [`Collective`] over shared memory (a test double for MPI, which `fastburn-cli`'s
//! `tests/mpi.rs` runs under `mpirun`) train the weights one learner trains alone.

use std::sync::{Arc, Barrier, Mutex};

use burn::prelude::*;
use fastburn::learner::{ADAM, Learner};
use fastburn::loss::cross_entropy;
use fastburn::metrics::ACCURACY;
use fastburn::models::{SimpleNet, simple_net};
use fastburn::parallel::Collective;

#[path = "common/mod.rs"]
mod common;

/// Ranks as threads: each operation is a barrier, every rank adding its values into one shared
/// buffer under a lock, a barrier, every rank reading the sum, a barrier. With two ranks each
/// sum is one addition, the same whichever rank adds first.
struct Threads {
    rank: usize,
    size: usize,
    shared: Arc<(Barrier, Mutex<Vec<f64>>)>,
}

impl Threads {
    fn group(size: usize) -> Vec<Threads> {
        let shared = Arc::new((Barrier::new(size), Mutex::new(Vec::new())));
        (0..size)
            .map(|rank| Threads {
                rank,
                size,
                shared: shared.clone(),
            })
            .collect()
    }

    /// `combine(sum, mine)` over the ranks, rank by rank, then the result on every rank.
    fn collect(&self, values: &mut [f64], combine: impl Fn(&mut f64, f64)) {
        let (barrier, acc) = &*self.shared;
        if barrier.wait().is_leader() {
            acc.lock().unwrap().clear();
        }
        barrier.wait();
        {
            let mut acc = acc.lock().unwrap();
            if acc.is_empty() {
                acc.extend_from_slice(values);
            } else {
                acc.iter_mut()
                    .zip(values.iter())
                    .for_each(|(a, &v)| combine(a, v));
            }
        }
        barrier.wait();
        values.copy_from_slice(&acc.lock().unwrap());
        barrier.wait();
    }
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_sum(&self, buckets: &mut [Vec<f32>]) -> fastburn::Result<()> {
        for b in buckets.iter_mut() {
            // f32 sums, as MPI sums f32s: each addition rounded to f32.
            let mut v: Vec<f64> = b.iter().map(|&x| x as f64).collect();
            self.collect(&mut v, |a, x| *a = (*a as f32 + x as f32) as f64);
            b.iter_mut().zip(v).for_each(|(b, v)| *b = v as f32);
        }
        Ok(())
    }
    fn all_reduce_sum_f64(&self, values: &mut [f64]) -> fastburn::Result<()> {
        self.collect(values, |a, x| *a += x);
        Ok(())
    }
    fn broadcast(&self, values: &mut [f32]) -> fastburn::Result<()> {
        let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
        if self.rank != 0 {
            v.iter_mut().for_each(|x| *x = f64::NAN);
        }
        // NaN stands for "not rank 0's": the first non-NaN value wins.
        self.collect(&mut v, |a, x| {
            if a.is_nan() {
                *a = x
            }
        });
        values.iter_mut().zip(v).for_each(|(b, v)| *b = v as f32);
        Ok(())
    }
}

/// 65 training items in batches of 16 (the last batch one item: rank 1's shard of it is empty)
/// and 17 validation items, four features, two classes.
fn learner(model: SimpleNet) -> Learner<SimpleNet> {
    let dev = Device::flex().autodiff();
    let data = |n: usize, k: usize| {
        let x: Vec<f32> = (0..n * 4)
            .map(|i| (((i + k) * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let y: Vec<i64> = (0..n)
            .map(|i| ((x[i * 4] + x[i * 4 + 1]) > 0.0) as i64)
            .collect();
        fastburn::data::TensorDataset::new(
            Tensor::from_data(TensorData::new(x, [n, 1, 2, 2]), &dev),
            Tensor::from_data(TensorData::new(y, [n]), &dev),
        )
    };
    let dls = fastburn::data::DataLoaders {
        train: fastburn::data::DataLoader::new(data(65, 0), 16).shuffle(7),
        valid: fastburn::data::DataLoader::new(data(17, 3), 16),
        vocab: vec!["a".into(), "b".into()],
        norm: None,
        item_tfms: Default::default(),
        aug: None,
    };
    let mut learn = Learner::new(dls, model, ADAM, cross_entropy, vec![ACCURACY]);
    learn.quiet(true);
    learn
}

fn model(seed: u64) -> SimpleNet {
    let dev = Device::flex().autodiff();
    dev.seed(seed);
    let m = simple_net(4, 16, 2, &dev);
    // Burn draws a parameter when first read: draw them now, from this seed.
    common::module_floats(&m);
    m
}

#[test]
fn two_ranks_train_what_one_learner_trains() {
    let mut alone = learner(model(1));
    alone.fit(3, 0.01).unwrap();

    // Rank 1 starts from other weights: rank 0's are broadcast when it joins.
    let models = [model(1), model(2)];
    let dir = tempfile::tempdir().unwrap();
    let handles: Vec<_> = Threads::group(2)
        .into_iter()
        .zip(models)
        .map(|(group, model)| {
            let path = dir.path().join(format!("rank{}.fbm", group.rank));
            std::thread::spawn(move || {
                let mut learn = learner(model);
                learn.data_parallel(Box::new(group)).unwrap();
                learn.fit(3, 0.01).unwrap();
                learn.save(&path).unwrap();
                (
                    common::module_floats(learn.model()),
                    learn.recorder().values.clone(),
                    learn.recorder().losses.clone(),
                    path.exists(),
                )
            })
        })
        .collect();
    let ranks: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let want = common::module_floats(alone.model());
    for (rank, (weights, values, losses, saved)) in ranks.iter().enumerate() {
        let diff = fastburn_flex::testing::max_diff_rows(&want, weights);
        assert!(diff < 1e-5, "rank {rank}: weights differ by {diff}");
        let table = &alone.recorder().values;
        assert_eq!(values.len(), table.len());
        for (a, b) in table.iter().zip(values) {
            assert!((a.valid_loss - b.valid_loss).abs() < 1e-5, "{a:?} vs {b:?}");
            for (x, y) in a.metrics.iter().zip(&b.metrics) {
                assert!((x - y).abs() < 1e-6, "rank {rank}: {a:?} vs {b:?}");
            }
        }
        let own = &alone.recorder().losses;
        assert_eq!(losses.len(), own.len());
        for (a, b) in own.iter().zip(losses) {
            assert!((a - b).abs() < 1e-5, "rank {rank}: loss {a} vs {b}");
        }
        // Only rank 0 writes the model.
        assert_eq!(*saved, rank == 0);
    }
    // The two ranks hold the very same weights.
    assert_eq!(ranks[0].0, ranks[1].0);
    // And training moved them.
    let start = common::module_floats(&model(1));
    assert_ne!(start, want);
}

/// BatchNorm's running statistics after a training pass, broadcast: every rank then validates
/// with rank 0's, those of its latest pass (Burn keeps that update pending until synced; a
/// broadcast that read the value before it, or let it come back, would leave rank 1 its own).
#[test]
fn broadcast_gives_every_rank_rank_0s_latest_running_statistics() {
    use burn::nn::BatchNormConfig;
    use fastburn::parallel::broadcast_model;
    let running_mean = |bn: &burn::nn::BatchNorm| -> Vec<f32> {
        bn.valid()
            .running_mean
            .value()
            .into_data()
            .iter::<f32>()
            .collect()
    };
    let handles: Vec<_> = Threads::group(2)
        .into_iter()
        .map(|group| {
            std::thread::spawn(move || {
                let dev = Device::flex().autodiff();
                // `twin` sees what `bn` sees, and tells what this rank's statistics are
                // without syncing `bn`'s.
                let [bn, twin] = [0, 1].map(|_| BatchNormConfig::new(3).init(&dev));
                // Two training passes on this rank's own data: the second's update is pending.
                for pass in 0..2 {
                    let k = (group.rank * 10 + pass) as f32;
                    let x: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37 + k).sin() + k).collect();
                    let x = Tensor::<4>::from_data(TensorData::new(x, [2, 3, 2, 2]), &dev);
                    fastburn::models::batch_norm(&bn, x.clone());
                    fastburn::models::batch_norm(&twin, x);
                }
                let own = running_mean(&twin);
                let bn = broadcast_model(bn, &group).unwrap();
                (own, running_mean(&bn))
            })
        })
        .collect();
    let ranks: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (rank0_own, rank1_own) = (&ranks[0].0, &ranks[1].0);
    assert_ne!(rank0_own, rank1_own, "the ranks saw the same data");
    assert_eq!(&ranks[0].1, rank0_own, "rank 0's statistics changed");
    assert_eq!(&ranks[1].1, rank0_own, "rank 1 kept its own statistics");
}
