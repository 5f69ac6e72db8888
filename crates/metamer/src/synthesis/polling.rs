//! The pool's other threads kept polling for work while a synthesis loop runs.
//!
//! An iteration on the host backends alternates short splits over rayon's threads with
//! single-threaded stretches (Burn's graph, a tensor's read). A rayon worker that finds
//! nothing to do sleeps after a few dozen yields, and each split then waits tens of
//! microseconds for it to wake: at 512×512 a Gaussian(30) iteration put a worker to sleep
//! about 13 times, a texture-model iteration about 70 times, and a Gaussian iteration on two
//! threads took 2.22 ms where, with the worker polling, it takes 2.00 (alternating runs).
//! OpenMP, which torch runs on, keeps idle workers spinning for a while for the same reason.

use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `work` with the pool's other threads taking its splits as soon as they appear, when
/// `poll` is set and `work` starts on one of several pool threads; otherwise just runs it.
///
/// For a process that runs one synthesis at a time: a polling worker would take a core from
/// anything else sharing the pool (the study runner's parallel jobs) or the machine's cores
/// (libtorch's own threads), so callers opt in.
pub(crate) fn while_polling<R>(poll: bool, work: impl FnOnce() -> R) -> R {
    let threads = rayon::current_num_threads();
    let Some(owner) = rayon::current_thread_index().filter(|_| poll && threads > 1) else {
        return work();
    };
    let done = AtomicBool::new(false);
    rayon::in_place_scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|_| poll_until(&done, owner));
        }
        // Set however `work` ends, a panic included, so the scope's wait for the pollers ends.
        let _finished = Finished(&done);
        work()
    })
}

/// Takes the pool's pending work until `done`, yielding the core to the system when there is
/// none.
fn poll_until(done: &AtomicBool, owner: usize) {
    // The thread running the loop itself finds a poller it has not handed out yet when it
    // waits in a split; polling there would hold the loop up until the loop ended.
    if rayon::current_thread_index() == Some(owner) {
        return;
    }
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::thread::yield_now();
        }
    }
}

struct Finished<'a>(&'a AtomicBool);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// On a pool of several threads the work runs, its splits complete and the pollers stop;
    /// off the pool, or with `poll` unset, the work just runs.
    #[test]
    fn work_runs_and_pollers_stop() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a pool");
        let sum = pool.install(|| {
            while_polling(true, || {
                (0..200)
                    .map(|round| (0..1000u64).into_par_iter().map(|i| i * round).sum::<u64>())
                    .sum::<u64>()
            })
        });
        assert_eq!(sum, 499_500 * 19_900);
        assert_eq!(while_polling(true, || 7), 7);
        assert_eq!(pool.install(|| while_polling(false, || 8)), 8);
    }

    /// A panic in the work reaches the caller instead of leaving the pollers running.
    #[test]
    fn a_panic_ends_the_polling() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool");
        let result =
            pool.install(|| std::panic::catch_unwind(|| while_polling(true, || panic!("stop"))));
        assert!(result.is_err());
    }
}
