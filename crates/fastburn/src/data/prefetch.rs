//! Batches prepared ahead on a worker thread while the model trains on the current one: decoding,
//! resizing and augmenting overlap the training step, and at most `depth` finished batches wait
//! in a bounded queue, so memory holds a few batches, not the data set.

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use super::dataloader::Dataset;

/// An iterator over batches built on a worker thread (fastai's `DataLoader` workers).
///
/// ```
/// use std::sync::Arc;
/// use fastburn::data::Prefetch;
/// let data: Arc<Vec<u32>> = Arc::new((0..10).collect());
/// let jobs = vec![(vec![0, 1], 0), (vec![5, 9], 1)];
/// let batches: Vec<Vec<u32>> = Prefetch::new(data, jobs, 2).collect();
/// assert_eq!(batches, [vec![0, 1], vec![5, 9]]);
/// ```
pub struct Prefetch<B> {
    rx: Option<Receiver<B>>,
    worker: Option<JoinHandle<()>>,
}

impl<B: Send + 'static> Prefetch<B> {
    /// Build `jobs` (item indices and the batch's seed, for [`Dataset::train_batch`]) in order on
    /// one worker thread, keeping at most `depth` ready (at least 1).
    pub fn new<D>(dataset: D, jobs: Vec<(Vec<usize>, u64)>, depth: usize) -> Self
    where
        D: Dataset<Batch = B> + Send + 'static,
    {
        let (tx, rx) = sync_channel(depth.max(1));
        let worker = std::thread::Builder::new()
            .name("fastburn-prefetch".into())
            .spawn(move || {
                for (idx, seed) in jobs {
                    // The receiver is gone (the epoch was cancelled): stop.
                    if tx.send(dataset.train_batch(&idx, seed)).is_err() {
                        return;
                    }
                }
            })
            .expect("cannot start the data-loading thread");
        Self {
            rx: Some(rx),
            worker: Some(worker),
        }
    }
}

impl<B> Iterator for Prefetch<B> {
    type Item = B;
    fn next(&mut self) -> Option<B> {
        let got = self.rx.as_ref()?.recv().ok();
        if got.is_none() {
            // The worker ended: surface a panic in it rather than a silently short epoch.
            if let Some(w) = self.worker.take()
                && let Err(panic) = w.join()
            {
                std::panic::resume_unwind(panic);
            }
        }
        got
    }
}

impl<B> Drop for Prefetch<B> {
    fn drop(&mut self) {
        // Close the queue first so a worker blocked on a full queue wakes up and stops.
        drop(self.rx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A batch that counts how many batches exist at once.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    struct Counting {
        live: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
        len: usize,
    }
    impl Dataset for Counting {
        type Batch = Counted;
        fn len(&self) -> usize {
            self.len
        }
        fn batch(&self, _: &[usize]) -> Counted {
            let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            Counted(self.live.clone())
        }
    }

    /// A data set of 10x more batches than the queue holds, consumed slowly: the batches alive
    /// at once never exceed the queue, the one being built and the one being used.
    #[test]
    fn memory_stays_bounded_by_the_queue() {
        let (live, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let depth = 3;
        let n_batches = 10 * depth;
        let data = Counting {
            live: live.clone(),
            peak: peak.clone(),
            len: n_batches,
        };
        let jobs = (0..n_batches).map(|i| (vec![i], i as u64)).collect();
        let mut seen = 0;
        for b in Prefetch::new(data, jobs, depth) {
            std::thread::sleep(std::time::Duration::from_millis(2));
            seen += 1;
            drop(b);
        }
        assert_eq!(seen, n_batches);
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= depth + 2, "{peak} batches alive at once");
        assert!(peak >= 2, "the worker never ran ahead ({peak})");
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }

    /// Dropping the iterator early stops the worker (a cancelled epoch leaves no thread behind).
    #[test]
    fn dropping_early_stops_the_worker() {
        let (live, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let data = Counting {
            live: live.clone(),
            peak,
            len: 1000,
        };
        let jobs = (0..1000).map(|i| (vec![i], 0)).collect();
        let mut it = Prefetch::new(data, jobs, 2);
        let _ = it.next();
        drop(it);
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}
