// SPDX-License-Identifier: GPL-2.0

//! The deferred-free queue: released blocks waiting to be zeroed.
//!
//! A release appends its buffer's blocks in O(1) and wakes no thread
//! ([`FreeQueue::append`]). The zeroing threads ([`super::zeroing`]) take
//! the newest block, allocations the oldest, the shrinker any.
//!
//! The queue's lock is a spinlock held for a list operation only, O(1): a
//! release counts its blocks as reclaimable before it takes the lock, and
//! splices them in under it. The worker parks under it
//! ([`FreeQueue::wait_for_blocks`]), so a release either sees it parked or
//! the worker sees the release's blocks before it parks.

use crate::kapi::kernel::new_condvar;
use crate::kapi::kernel::new_spinlock;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};
use crate::kapi::kernel::sync::{
    CondVar,
    SpinLock, //
};
use crate::kapi::kernel::time::Jiffies;

use crate::kapi::memcg::MemCgroup;
use crate::kapi::pages::{
    PageBlock,
    PageList,
    ReclaimableList, //
};

/// What the queue's lock protects: plain values (the list is movable), so
/// the lock needs no pinned data.
struct State {
    blocks: ReclaimableList,
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
    /// Wakes the helpers.
    #[pin]
    helpers_wake: CondVar,
    /// Pages queued. Raised under the lock right after an append, so 0
    /// means empty (or an append under way, whose blocks the worker
    /// zeroes): an empty queue is not locked.
    pages: Atomic<usize>,
    /// The zeroing threads are asked to exit. Set under the lock, so that a
    /// thread that checks it under the lock before it sleeps is woken.
    stopping: Atomic<bool>,
}

impl FreeQueue {
    /// An empty queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            state <- new_spinlock!(State {
                blocks: ReclaimableList::new(),
                parked: false,
            }),
            worker_wake <- new_condvar!(),
            helpers_wake <- new_condvar!(),
            pages: Atomic::new(0),
            stopping: Atomic::new(false),
        })
    }

    /// Appends `blocks`, `pages` pages in all. The blocks are counted as
    /// reclaimable (one node counter update each) before the lock is
    /// taken; under it, the append is O(1) however many blocks there are.
    /// Returns whether the worker was parked, and clears that, so that
    /// later releases do not arm the kick again before it runs.
    #[link_section = ".text.hot"]
    pub(crate) fn append(&self, blocks: &mut PageList, pages: usize) -> bool {
        let mut counted = ReclaimableList::new();
        counted.append(blocks);
        let mut state = self.state.lock();
        state.blocks.splice(&mut counted);
        self.pages.fetch_add(pages, Relaxed);
        // Read and cleared under the lock the worker parks under: a worker
        // that parked before this append is kicked, one that would park
        // after it sees the blocks first.
        core::mem::take(&mut state.parked)
    }

    /// Takes the block that `pop` takes off the queue, under the lock, and
    /// uncounts it after the lock is dropped.
    fn pop_with(
        &self,
        pop: impl FnOnce(&mut ReclaimableList) -> Option<PageBlock>,
    ) -> Option<PageBlock> {
        let block = pop(&mut self.state.lock().blocks)?;
        self.pages.fetch_sub(block.nr_pages(), Relaxed);
        Some(block)
    }

    /// Takes the newest block (the last released), if any.
    pub(crate) fn pop_newest(&self) -> Option<PageBlock> {
        self.pop_with(ReclaimableList::pop_last)
    }

    /// Takes the oldest block (the first released), if any.
    pub(crate) fn pop_oldest(&self) -> Option<PageBlock> {
        self.pop_with(ReclaimableList::pop)
    }

    /// Takes the block at the head (the oldest release) if it has order
    /// `order` and is charged to `memcg` (`None`: to no memory cgroup), as
    /// a charged block may only serve its own memcg. An empty queue is not
    /// locked.
    #[inline]
    pub(crate) fn pop_head_of_order(
        &self,
        order: u32,
        memcg: Option<&MemCgroup>,
    ) -> Option<PageBlock> {
        if self.queued() == 0 {
            return None;
        }
        self.pop_with(|blocks| {
            if blocks.head_order() != Some(order) || !blocks.head_charged_to(memcg) {
                return None;
            }
            blocks.pop()
        })
    }

    /// Frees every queued block to the page allocator, unzeroed; returns
    /// their pages.
    pub(crate) fn free_all(&self) -> usize {
        let mut freed = 0;
        while let Some(block) = self.pop_oldest() {
            freed += block.nr_pages();
        }
        freed
    }

    /// Returns the pages waiting.
    pub(crate) fn queued(&self) -> usize {
        self.pages.load(Relaxed)
    }

    /// Wakes the worker if it sleeps.
    pub(crate) fn wake_worker(&self) {
        self.worker_wake.notify_one();
    }

    /// Wakes the helpers that sleep in [`Self::wait_for_backlog`].
    pub(crate) fn wake_helpers(&self) {
        self.helpers_wake.notify_all();
    }

    /// Asks the zeroing threads to exit: they see [`Self::stopping`] between
    /// two blocks, and their waits end.
    pub(crate) fn stop(&self) {
        {
            let _guard = self.state.lock();
            self.stopping.store(true, Relaxed);
        }
        self.worker_wake.notify_all();
        self.helpers_wake.notify_all();
    }

    /// Returns whether the zeroing threads are asked to exit.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }

    /// The worker's wait: returns `true` once blocks are queued, `false`
    /// when asked to stop. It looks again every `poll` jiffies, and after
    /// `polls_before_park` looks that found nothing it parks: it sleeps
    /// until woken, and a release into a parked worker arms its kick.
    /// `after_wait` runs after each wait, without the lock (a freeze point).
    ///
    /// The looks' waits are not freezable (the kernel has no freezable
    /// timed wait on a condition variable), and the parked wait is so only
    /// where the kernel crate has a freezable wait (on 6.12 kapi's is a
    /// plain interruptible one). The freezer wakes a kernel thread that
    /// sleeps interruptibly, hence `after_wait` after every wait.
    pub(crate) fn wait_for_blocks(
        &self,
        poll: Jiffies,
        polls_before_park: u32,
        mut after_wait: impl FnMut(),
    ) -> bool {
        let mut polls = 0;
        loop {
            let mut state = self.state.lock();
            if self.stopping() {
                return false;
            }
            if state.blocks.len() > 0 {
                state.parked = false;
                return true;
            }
            // A kernel thread gets no signals, so the waits' results say
            // nothing; a wake-up without blocks counts as a look.
            if polls < polls_before_park {
                polls += 1;
                let _ = self
                    .worker_wake
                    .wait_interruptible_timeout(&mut state, poll);
            } else {
                state.parked = true;
                let _ = self.worker_wake.wait_interruptible_freezable(&mut state);
            }
            drop(state);
            after_wait();
        }
    }

    /// A helper's wait: returns `true` once at least `pages` pages are
    /// queued, `false` when asked to stop. `after_wait` runs after each
    /// wait, without the lock (a freeze point), as in
    /// [`Self::wait_for_blocks`].
    pub(crate) fn wait_for_backlog(&self, pages: usize, mut after_wait: impl FnMut()) -> bool {
        loop {
            let mut state = self.state.lock();
            if self.stopping() {
                return false;
            }
            // The queue's figure grows under this lock, so a backlog that
            // the worker saw cannot be missed between the check and the
            // sleep.
            if self.queued() >= pages {
                return true;
            }
            // A kernel thread gets no signals: the result says nothing.
            let _ = self.helpers_wake.wait_interruptible_freezable(&mut state);
            drop(state);
            after_wait();
        }
    }

    /// Returns whether the worker is parked.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn parked(&self) -> bool {
        self.state.lock().parked
    }

    /// Marks the worker parked, as it does before it sleeps.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn set_parked(&self) {
        self.state.lock().parked = true;
    }
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };
    use crate::orders::ORDERS;

    /// A release does O(1) work under the queue's lock: its blocks are
    /// counted as reclaimable before it takes the lock, and the queue's
    /// figures stay right. The queue's list is only changed under its lock,
    /// so the blocks that counting walks added to it directly are those
    /// counted under the lock: none. (Counted per list, so that releases of
    /// users' buffers meanwhile change nothing here.)
    fn a_release_counts_its_blocks_outside_the_queue_lock() -> Result {
        let queue = KBox::pin_init(FreeQueue::new(), GFP_KERNEL)?;
        let mut list = PageList::new();
        for _ in 0..64 {
            let block = PageBlock::alloc_zeroed(ORDERS[2], false).ok_or(ENOMEM)?;
            list.push(block);
        }
        assert!(!queue.append(&mut list, 64));
        assert_eq!(queue.state.lock().blocks.counted_blocks(), 0);
        assert_eq!(queue.queued(), 64);
        assert_eq!(queue.free_all(), 64);
        assert_eq!(queue.queued(), 0);
        Ok(())
    }

    kunit_suite!(
        rsystem_heap_queue,
        [a_release_counts_its_blocks_outside_the_queue_lock]
    );
}
