// SPDX-License-Identifier: GPL-2.0

//! The deferred-free queue and the threads that zero it.
//!
//! A release appends its buffer's blocks to the queue in O(1) and wakes no
//! thread. The worker thread (`rsystem_heap-zero`, nice 19, freezable)
//! zeroes queued blocks one at a time, newest first, and pools them
//! ([`Heap::zero_one`]). While the heap is in use it looks at the queue
//! every [`POLL_MS`]; after [`PARK_AFTER_POLLS`] empty looks it *parks*
//! and sleeps until woken: by the kick a release into a parked worker arms,
//! or by an allocation that misses the 1 MiB pool while blocks are queued.
//! Why releases do not wake it is in `tools/bench/README.md`.
//!
//! When the backlog reaches [`HELP_PAGES`], the worker wakes the helpers
//! (`rsystem_heap-help`, `SCHED_IDLE`: they take only a CPU nothing else
//! wants), which zero beside it until the queue is empty.
//!
//! The queue's lock is a spinlock held for a list operation only, O(1): a
//! release counts its blocks as reclaimable before it takes the lock, and
//! splices them in under it. The worker parks under it, so a release either
//! sees it parked or the worker sees the release's blocks before it parks.
//!
//! The threads are freezable: they freeze in their waits, and between two
//! blocks while they zero a backlog ([`Heap::freeze_point`]), so that a
//! suspend waits for one block's zeroing at most, not for the backlog.

use kernel::new_condvar;
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::atomic::{
    Atomic,
    Full,
    Relaxed, //
};
use kernel::sync::{
    Arc,
    CondVar,
    SpinLock, //
};
use kernel::time::msecs_to_jiffies;

use super::stats::Stats;
use super::Heap;
use crate::kapi::pages::{
    PageBlock,
    PageList,
    ReclaimableList, //
};
use crate::kapi::task::{
    try_to_freeze,
    KThread,
    Nice,
    Policy,
    ThisThread, //
};

/// While the heap is in use, the worker looks for releases this
/// often (milliseconds)...
const POLL_MS: u32 = 5;
/// ...until this many looks in a row found nothing (about 100 ms).
const PARK_AFTER_POLLS: u32 = 20;
/// A backlog of this many pages (8 MiB) or more wakes the helper threads.
const HELP_PAGES: usize = 2048;
/// At most this many helper threads zero alongside the worker thread.
const MAX_HELPERS: u32 = 3;

/// Blocks counted as reclaimable while a queue's lock was held, by any
/// heap of this module (KUnit).
#[cfg(CONFIG_KUNIT = "y")]
static COUNTED_UNDER_LOCK: Atomic<usize> = Atomic::new(0);

/// What the queue's lock protects.
#[pin_data]
struct State {
    #[pin]
    blocks: ReclaimableList,
    /// The threads are asked to exit.
    stopping: bool,
    /// The worker sleeps until woken: a release must arm its kick.
    parked: bool,
}

/// The blocks released and waiting to be zeroed.
#[pin_data]
pub(crate) struct FreeQueue {
    #[pin]
    state: SpinLock<State>,
    /// Wakes the worker.
    #[pin]
    worker_wake: CondVar,
    /// Wakes the helpers when the backlog reaches [`HELP_PAGES`].
    #[pin]
    helpers_wake: CondVar,
    /// Pages queued. Raised under the lock right after an append, so 0
    /// means empty (or an append under way, whose blocks the worker
    /// zeroes): an empty queue is not locked.
    pages: Atomic<usize>,
    /// Blocks the threads have taken off the queue and not yet pooled,
    /// plus one while the worker replaces owed blocks. Who reads `pages`
    /// and then this as 0 saw the threads idle.
    pub(super) zeroing: Atomic<usize>,
}

impl FreeQueue {
    /// An empty queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            state <- new_spinlock!(pin_init!(State {
                blocks <- ReclaimableList::new(),
                stopping: false,
                parked: false,
            })),
            worker_wake <- new_condvar!(),
            helpers_wake <- new_condvar!(),
            pages: Atomic::new(0),
            zeroing: Atomic::new(0),
        })
    }

    /// Appends `blocks`, `pages` pages in all. The blocks are counted as
    /// reclaimable (one node counter update each) before the lock is
    /// taken; under it, the append is O(1) however many blocks there are.
    /// Returns whether the worker was parked, and clears that, so that
    /// later releases do not arm the kick again before it runs.
    pub(crate) fn append(&self, blocks: Pin<&mut PageList>, pages: usize) -> bool {
        pin_init::stack_pin_init!(let counted = ReclaimableList::new());
        counted.as_mut().append(blocks);
        let mut guard = self.state.lock();
        #[cfg(CONFIG_KUNIT = "y")]
        let before = crate::kapi::test_counters::reclaimable_counted_blocks();
        let state = guard.as_mut().project();
        state.blocks.splice(counted);
        self.pages.fetch_add(pages, Relaxed);
        #[cfg(CONFIG_KUNIT = "y")]
        COUNTED_UNDER_LOCK.fetch_add(
            crate::kapi::test_counters::reclaimable_counted_blocks() - before,
            Relaxed,
        );
        // Read and cleared under the lock the worker parks under: a worker
        // that parked before this append is kicked, one that would park
        // after it sees the blocks first.
        core::mem::take(state.parked)
    }

    /// Takes the block that `pop` takes off the queue, under the lock, and
    /// uncounts it after the lock is dropped.
    pub(crate) fn pop_with(
        &self,
        pop: impl FnOnce(Pin<&mut ReclaimableList>) -> Option<PageBlock>,
    ) -> Option<PageBlock> {
        let block = pop(self.state.lock().as_mut().project().blocks)?;
        self.pages.fetch_sub(block.nr_pages(), Relaxed);
        Some(block)
    }

    /// Takes the block at the head (the oldest release) if it has order
    /// `order`. An empty queue is not locked.
    pub(crate) fn pop_head_of_order(&self, order: u32) -> Option<PageBlock> {
        if self.queued() == 0 {
            return None;
        }
        self.pop_with(|blocks| {
            if blocks.head_order() != Some(order) {
                return None;
            }
            blocks.pop()
        })
    }

    /// Returns the pages waiting.
    pub(crate) fn queued(&self) -> usize {
        self.pages.load(Relaxed)
    }

    /// Wakes the worker if it sleeps.
    pub(crate) fn wake_worker(&self) {
        self.worker_wake.notify_one();
    }

    /// Asks the worker and the helpers to exit (each [`KThread`] does as it
    /// drops).
    fn stop(&self) {
        *self.state.lock().as_mut().project().stopping = true;
        self.worker_wake.notify_all();
        self.helpers_wake.notify_all();
    }

    /// Returns whether the worker is parked.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(super) fn parked(&self) -> bool {
        self.state.lock().parked
    }

    /// Marks the worker parked, as it does before it sleeps.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(super) fn set_parked(&self) {
        *self.state.lock().as_mut().project().parked = true;
    }
}

impl Heap {
    /// A zeroing thread's step: zeroes the newest queued block and pools
    /// it. Returns its number of pages, or `None` when the queue is empty.
    ///
    /// Newest first: the latest releases are the sizes the workload of the
    /// moment recycles, and a backlog that an earlier workload left waits
    /// behind them instead of starving their pools. Allocations take from
    /// the other end ([`Heap::take`]), so the two do not contend for one
    /// block.
    pub(crate) fn zero_one(&self) -> Option<usize> {
        // Counted before the pop and until the block is pooled (see
        // `FreeQueue::zeroing`).
        self.queue.zeroing.fetch_add(1, Full);
        let pages = self
            .queue
            .pop_with(ReclaimableList::pop_last)
            .map(|mut block| {
                let pages = block.nr_pages();
                block.zero();
                self.put_zeroed(block);
                pages
            });
        self.queue.zeroing.fetch_sub(1, Full);
        pages
    }

    /// A zeroing thread's freeze point, outside any lock: if the system is
    /// suspending, freezes until it resumes, and counts the freeze with the
    /// backlog it left queued.
    fn freeze_point(&self) {
        let backlog = self.queued();
        if try_to_freeze() {
            Stats::add(&self.stats.freezes, 1);
            self.stats.freeze_backlog.store(backlog, Relaxed);
        }
    }

    /// Zeroes queued blocks until the queue is empty, with a freeze point
    /// after each. The worker wakes the helpers while the backlog is at
    /// least [`HELP_PAGES`]; a helper counts the pages it zeroes.
    fn zero_backlog(&self, worker: bool) {
        loop {
            if worker && self.queued() >= HELP_PAGES {
                self.queue.helpers_wake.notify_all();
            }
            let Some(pages) = self.zero_one() else {
                return;
            };
            if !worker {
                Stats::add(&self.stats.helped_pages, pages);
            }
            self.freeze_point();
        }
    }

    /// The worker thread: zeroes queued blocks until asked to stop, waking
    /// the helpers while the backlog is at least [`HELP_PAGES`]. When the
    /// queue is empty it keeps the small reserve, replaces owed blocks,
    /// looks again every [`POLL_MS`], and parks after [`PARK_AFTER_POLLS`]
    /// empty looks.
    fn worker(&self, _: &ThisThread) {
        loop {
            self.zero_backlog(true);
            self.top_up_small_pool();
            self.replace_owed_blocks();
            if !self.wait_for_blocks() {
                return;
            }
        }
    }

    /// The worker's wait: returns `true` once blocks are queued, `false`
    /// when asked to stop. The looks' waits are not freezable (the kernel
    /// has no freezable timed wait on a condition variable), so after each
    /// the lock is dropped at a freeze point; the parked wait is freezable.
    fn wait_for_blocks(&self) -> bool {
        let mut polls = 0;
        loop {
            let mut state = self.queue.state.lock();
            if state.stopping {
                return false;
            }
            if state.blocks.len() > 0 {
                *state.as_mut().project().parked = false;
                return true;
            }
            // A kernel thread gets no signals, so the waits' results say
            // nothing; a wake-up without blocks counts as a look.
            if polls < PARK_AFTER_POLLS {
                polls += 1;
                let poll = msecs_to_jiffies(POLL_MS);
                let _ = self
                    .queue
                    .worker_wake
                    .wait_interruptible_timeout(&mut state, poll);
            } else {
                *state.as_mut().project().parked = true;
                let _ = self
                    .queue
                    .worker_wake
                    .wait_interruptible_freezable(&mut state);
            }
            drop(state);
            self.freeze_point();
        }
    }

    /// A helper thread: once woken by the worker, zeroes queued blocks
    /// until the queue is empty, then sleeps (freezable) until the next
    /// large backlog.
    fn helper(&self, _: &ThisThread) {
        loop {
            self.zero_backlog(false);
            let mut state = self.queue.state.lock();
            // The queue's figure grows under this lock, so a backlog that
            // the worker saw cannot be missed between the check and the
            // sleep.
            while !state.stopping && self.queued() < HELP_PAGES {
                let _ = self
                    .queue
                    .helpers_wake
                    .wait_interruptible_freezable(&mut state);
            }
            if state.stopping {
                return;
            }
        }
    }

    /// Asks the zeroing threads to exit: what each [`KThread`] of theirs
    /// calls as it drops.
    fn stop_zeroing(&self) {
        self.queue.stop();
    }
}

/// The worker thread and its helpers, stopped when this drops (each
/// [`KThread`] asks them to exit and waits for its thread).
pub(crate) struct ZeroThreads {
    _worker: KThread<Heap>,
    helpers: KVec<KThread<Heap>>,
}

impl ZeroThreads {
    /// Starts the worker and `zero_helpers` helpers (by default one per
    /// further CPU, at most [`MAX_HELPERS`]).
    pub(crate) fn start(heap: Arc<Heap>) -> Result<Self> {
        let count = match u32::try_from(crate::kapi::params::system_heap_zero_helpers()) {
            Ok(n) => n,
            Err(_) => kernel::cpu::nr_cpu_ids().saturating_sub(1),
        }
        .min(MAX_HELPERS);
        let mut helpers = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        // Nice 19: zeroing yields to everything else.
        let worker = KThread::run(
            c"rsystem_heap-zero",
            Policy::Normal(Nice::new(19)?),
            heap.clone(),
            Heap::worker,
            Heap::stop_zeroing,
        )?;
        for _ in 0..count {
            // SCHED_IDLE: a helper takes only a CPU that nothing else wants,
            // never the one an allocating task wakes on. An error drops the
            // threads started so far, which stops them.
            let helper = KThread::run(
                c"rsystem_heap-help",
                Policy::Idle,
                heap.clone(),
                Heap::helper,
                Heap::stop_zeroing,
            )?;
            // Cannot fail: room was reserved above.
            let _ = helpers.push_within_capacity(helper);
        }
        Ok(Self {
            _worker: worker,
            helpers,
        })
    }
}

#[kunit_tests(rsystem_heap_zeroing)]
mod tests {
    use super::super::testing::{
        block,
        cap_300,
        cap_32m,
        empty_pools_were_zero,
        queue,
        wait_until, //
    };
    use super::*;

    #[test]
    fn helpers_zero_a_large_backlog_with_the_worker() -> Result {
        let heap = Arc::pin_init(Heap::new(cap_32m), GFP_KERNEL)?;
        let threads = ZeroThreads::start(heap.clone())?;
        let helpers = threads.helpers.len();
        // 32 MiB of dirty 1 MiB blocks: four times the helpers' threshold.
        let mut blocks = KVec::new();
        for _ in 0..32 {
            let mut b = block(0)?;
            b.fill(0x3c);
            blocks.push(b, GFP_KERNEL)?;
        }
        queue(&heap, blocks)?;
        wait_until(1000, || heap.queued() == 0);
        // Stopping waits for the threads, so every popped block is pooled.
        drop(threads);
        let pooled = heap.pooled();
        let all_zero = empty_pools_were_zero(&heap);
        assert_eq!(heap.queued(), 0);
        assert_eq!(pooled, 32 * 256);
        assert!(all_zero);
        // With a second CPU the helper took part.
        if helpers > 0 {
            assert!(heap.stats.helped_pages.load(Relaxed) > 0);
        }
        Ok(())
    }

    /// A release does O(1) work under the queue's lock: its blocks are
    /// counted as reclaimable before it takes the lock, and the queue's
    /// figures and the shrinker's count stay right.
    #[test]
    fn a_release_counts_its_blocks_outside_the_queue_lock() -> Result {
        use crate::kapi::shrinker::ShrinkerOps;
        use crate::kapi::test_counters::reclaimable_counted_blocks;

        // No threads: the queue holds what is released.
        let heap = Arc::pin_init(Heap::new(cap_300), GFP_KERNEL)?;
        let mut blocks = KVec::new();
        for _ in 0..64 {
            blocks.push(block(2)?, GFP_KERNEL)?;
        }
        let counted = reclaimable_counted_blocks();
        let under_lock = COUNTED_UNDER_LOCK.load(Relaxed);
        queue(&heap, blocks)?;
        assert_eq!(reclaimable_counted_blocks() - counted, 64);
        assert_eq!(COUNTED_UNDER_LOCK.load(Relaxed) - under_lock, 0);
        assert_eq!(heap.queued(), 64);
        assert_eq!(heap.count(), 64);
        assert_eq!(heap.scan(64), 64);
        assert_eq!((heap.queued(), heap.count()), (0, 0));
        Ok(())
    }

    #[test]
    fn small_releases_reach_a_looking_and_a_parked_worker() -> Result {
        let heap = Arc::pin_init(Heap::new(cap_300), GFP_KERNEL)?;
        let threads = ZeroThreads::start(heap.clone())?;
        let dirty = || -> Result<PageBlock> {
            let mut b = block(2)?;
            b.fill(0x11);
            Ok(b)
        };
        // Looking: a 4 KiB release is found without a wake-up (unless the
        // worker parked meanwhile, which takes 20 looks).
        queue(&heap, [dirty()?])?;
        wait_until(1000, || heap.pooled() == 1);
        // Parked after its empty looks, the worker must be kicked.
        let parked = wait_until(1000, || heap.queue.parked());
        let kicks = heap.stats.kicks.load(Relaxed);
        queue(&heap, [dirty()?])?;
        assert_eq!(heap.stats.kicks.load(Relaxed), kicks + 1);
        wait_until(1000, || heap.pooled() == 2);
        drop(threads);
        assert!(parked);
        assert_eq!(heap.queued(), 0);
        assert_eq!(heap.pooled(), 2);
        assert!(empty_pools_were_zero(&heap));
        Ok(())
    }
}
