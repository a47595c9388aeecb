//! Data parallelism that compiles away: with the `parallel` feature (on by default) this is
//! rayon's; without it (the WebAssembly page, which has one thread and no rayon) the same method
//! names run std's sequential iterators, so a kernel is written once.
//!
//! Why not a crate: `maybe-rayon` (rav1e's) covers `into_par_iter` and `par_chunks_exact` only,
//! not the slice, zip and `for_each_init` methods fastburn's kernels and data loading use.
//! Only what those call sites use is here; a new rayon method there fails to compile without
//! `parallel` (CI builds the page without it), which is how this stays complete.

#[cfg(feature = "parallel")]
pub use rayon::prelude;

/// The threads a parallel loop here spreads over: rayon's pool, or 1 without `parallel`.
pub fn current_num_threads() -> usize {
    #[cfg(feature = "parallel")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "parallel"))]
    1
}

/// Makes the calling thread one of the threads of rayon's global pool (its first), for a program
/// that trains on this thread.
///
/// A parallel loop started by a thread outside the pool hands all of its work to the pool and
/// sleeps until the pool wakes it: two thread switches for each of the thousands of parallel
/// loops in a training step (58,000 switches in 4 s of `fine_tune(3)` of EfficientNet-Lite0 here),
/// and on a 2-core machine one thread more than cores. From a thread of the pool the loop runs its
/// first half on that thread while another takes the rest, as OpenMP's master thread does in
/// PyTorch's loops (7,000 switches, the same run about 7% faster: bench/README.md).
///
/// Call it at the top of a program that trains, before anything uses rayon (the `fastburn`
/// binary does for its training commands). Answers whether it took effect: not when rayon's
/// global pool exists already, nor when the pool would have one thread (one CPU, or
/// `RAYON_NUM_THREADS=1`): the calling thread runs rayon's work only while it waits in a parallel
/// loop, so another thread's loops need a thread of rayon's own. Without the `parallel` feature
/// (WebAssembly's one thread), nothing to join: false.
///
/// ```
/// // A doc test runs in its own process: nothing used rayon before this line.
/// assert!(fastburn_flex::par::join_thread_pool() || fastburn_flex::par::current_num_threads() == 1);
/// ```
pub fn join_thread_pool() -> bool {
    #[cfg(feature = "parallel")]
    {
        // rayon's own default: RAYON_NUM_THREADS when set to a number above 0, else the CPUs.
        let threads = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        threads >= 2
            && rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .use_current_thread()
                .build_global()
                .is_ok()
    }
    #[cfg(not(feature = "parallel"))]
    false
}

/// rayon's method names over std's sequential iterators.
#[cfg(not(feature = "parallel"))]
pub mod prelude {
    /// `into_par_iter` is `into_iter`.
    pub trait IntoParallelIterator: IntoIterator + Sized {
        fn into_par_iter(self) -> Self::IntoIter {
            self.into_iter()
        }
    }
    impl<I: IntoIterator> IntoParallelIterator for I {}

    /// `par_iter`, `par_chunks` on a slice.
    pub trait ParallelSlice<T> {
        fn par_iter(&self) -> std::slice::Iter<'_, T>;
        fn par_chunks(&self, size: usize) -> std::slice::Chunks<'_, T>;
    }
    impl<T> ParallelSlice<T> for [T] {
        fn par_iter(&self) -> std::slice::Iter<'_, T> {
            self.iter()
        }
        fn par_chunks(&self, size: usize) -> std::slice::Chunks<'_, T> {
            self.chunks(size)
        }
    }

    /// `par_iter_mut`, `par_chunks_mut` on a slice.
    pub trait ParallelSliceMut<T> {
        fn par_iter_mut(&mut self) -> std::slice::IterMut<'_, T>;
        fn par_chunks_mut(&mut self, size: usize) -> std::slice::ChunksMut<'_, T>;
    }
    impl<T> ParallelSliceMut<T> for [T] {
        fn par_iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
            self.iter_mut()
        }
        fn par_chunks_mut(&mut self, size: usize) -> std::slice::ChunksMut<'_, T> {
            self.chunks_mut(size)
        }
    }

    /// rayon's iterator methods that std lacks: a minimum task length means nothing on one
    /// thread, and `for_each_init` makes its scratch value once.
    pub trait ParallelIterator: Iterator + Sized {
        fn with_min_len(self, _len: usize) -> Self {
            self
        }
        fn for_each_init<T, I, F>(self, init: I, mut f: F)
        where
            I: FnOnce() -> T,
            F: FnMut(&mut T, Self::Item),
        {
            let mut scratch = init();
            self.for_each(|item| f(&mut scratch, item));
        }
    }
    impl<I: Iterator> ParallelIterator for I {}
}

#[cfg(test)]
mod tests {
    use super::prelude::*;

    /// The same loop gives the same values with or without threads (this test runs in both
    /// builds: `cargo test -p fastburn-flex` and `--no-default-features`).
    #[test]
    fn the_loops_kernels_write_compute_the_sequential_result() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let mut y = vec![0.0f32; 1000];
        y.par_chunks_mut(64)
            .zip(x.par_chunks(64))
            .enumerate()
            .with_min_len(2)
            .for_each_init(Vec::new, |buf: &mut Vec<f32>, (k, (o, i))| {
                buf.clear();
                buf.extend(i.iter().map(|v| v * 2.0 + k as f32));
                o.copy_from_slice(buf);
            });
        let want: Vec<f32> = (0..1000)
            .map(|i| i as f32 * 2.0 + (i / 64) as f32)
            .collect();
        assert_eq!(y, want);
        let sum: f32 = x.par_iter().sum();
        assert_eq!(sum, 499_500.0);
        let squares: Vec<usize> = (0..5usize).into_par_iter().map(|i| i * i).collect();
        assert_eq!(squares, [0, 1, 4, 9, 16]);
    }
}
