//! `par::join_thread_pool` in a process of its own (a test binary's one test: rayon's global pool
//! can be built once per process, before anything uses it).

#[cfg(feature = "parallel")]
#[test]
fn the_training_thread_becomes_the_pools_first_and_runs_its_share() {
    use fastburn_flex::par::prelude::*;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        // One thread: joining would leave other threads' loops no thread of rayon's own.
        assert!(!fastburn_flex::par::join_thread_pool());
        return;
    }
    // SAFETY: the test's only thread that reads the environment runs now, alone.
    unsafe { std::env::remove_var("RAYON_NUM_THREADS") };
    assert_eq!(rayon::current_thread_index(), None, "not a pool thread yet");
    assert!(fastburn_flex::par::join_thread_pool());
    assert_eq!(rayon::current_thread_index(), Some(0));
    assert_eq!(rayon::current_num_threads(), cpus);
    // A parallel loop started here runs part of its work on this thread, not all on others.
    let on_this_thread: usize = (0..64)
        .into_par_iter()
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            usize::from(rayon::current_thread_index() == Some(0))
        })
        .sum();
    assert!(
        on_this_thread > 0,
        "the loop ran entirely on the other threads"
    );
    // Once built, the pool stays: a second call takes no effect.
    assert!(!fastburn_flex::par::join_thread_pool());
}
