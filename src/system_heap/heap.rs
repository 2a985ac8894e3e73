// SPDX-License-Identifier: GPL-2.0

//! Where the heap's pages come from and where they go.
//!
//! Every pooled page is zero. An allocation takes a block of the order it
//! wants from its pool ([`pool`]); when the pool is empty, the oldest
//! queued release if it has that order, zeroed by the allocation; else a
//! fresh block from the buddy allocator with `__GFP_ZERO` ([`Heap::take`]).
//! A release appends its blocks to the free queue in O(1)
//! ([`Heap::defer_free`]), and the zeroing threads pool them ([`queue`]).
//!
//! Between runs of the queue, the worker keeps two promises to the pools:
//! - for each 1 MiB block an allocation took from the queue, it pools a
//!   fresh one once the queue is empty ([`Heap::replace_owed_blocks`]).
//!   A miss served from the queue leaves the heap with as many pages as
//!   before, so a churn that outran the threads once would outrun them
//!   every round; replaced, the pools grow by what allocations found
//!   missing, zeroed off the allocation path;
//! - once a 4 KiB allocation found its pool empty, it keeps
//!   [`SMALL_RESERVE_PAGES`] there ([`Heap::top_up_small_pool`]): it looks
//!   at the queue only every few milliseconds, which a steady trickle of
//!   small buffers outruns.
//!
//! Both add fresh pages only within the pool cap and without direct
//! reclaim. Pooled and queued pages count as reclaimable kernel memory
//! (`KReclaimable`); the shrinker frees pooled blocks first, then queued
//! ones unzeroed. Idle pools decay: when neither an allocation nor a
//! release happened for `pool_idle_ms`, a work item frees pooled blocks,
//! largest first, down to `pool_low_mb` (so it may end one block below);
//! idleness is checked once per period, so the decay comes one to two
//! periods after the last use.
//!
//! With the dma-heap core's `mem_accounting` on, pages are charged to the
//! allocating memory cgroup: such buffers bypass the pools both ways, so a
//! page charged to one cgroup never serves another.
//!
//! Nothing sleeps, allocates or zeroes under the pools' or the queue's
//! spinlock, so the shrinker never waits on a lock the allocation path
//! sleeps under.

use core::fmt;

use kernel::prelude::*;
use kernel::sync::atomic::{
    Acquire,
    Atomic,
    Full,
    Relaxed, //
};
use kernel::sync::Arc;
use kernel::time::msecs_to_jiffies;
use kernel::workqueue::{
    self,
    impl_has_delayed_work,
    new_delayed_work,
    DelayedWork,
    WorkItem, //
};

use crate::kapi::pages::{
    PageBlock,
    PageList,
    ReclaimableList, //
};
use crate::kapi::shrinker::ShrinkerOps;
use crate::orders::ORDERS;

mod pool;
mod queue;
mod stats;
#[cfg(CONFIG_KUNIT = "y")]
mod testing;

use pool::Pools;
use queue::FreeQueue;
pub(crate) use queue::ZeroThreads;
use stats::Stats;

/// A release into a parked worker wakes it this many milliseconds later,
/// so that it zeroes after the burst of small releases that often follows
/// an idle moment, not beside it.
const KICK_MS: u32 = 5;
/// The 4 KiB pool's reserve, in pages (64 KiB).
const SMALL_RESERVE_PAGES: usize = 16;
/// The index in [`ORDERS`] of 4 KiB blocks.
const SMALL: usize = ORDERS.len() - 1;
/// The index in [`ORDERS`] of 1 MiB blocks: an allocation that finds their
/// pool empty while blocks are queued wakes the worker, and one it takes
/// from the queue is replaced.
const LARGE: usize = 0;

/// The heap's pages: pools, free queue, and the work that moves pages
/// between them and the buddy allocator.
#[pin_data]
pub(crate) struct Heap {
    #[pin]
    pools: Pools,
    #[pin]
    queue: FreeQueue,
    /// Wakes a parked worker a little after a release.
    #[pin]
    kick: DelayedWork<Heap>,
    /// Decays idle pools (work item 1).
    #[pin]
    decay: DelayedWork<Heap, 1>,
    /// Allocations and releases so far; the decay work compares it with
    /// what it saw one idle period earlier.
    uses: Atomic<usize>,
    uses_at_last_decay_check: Atomic<usize>,
    /// The decay work is pending (or about to be). Cleared by the work
    /// when it runs, so that a release that finds it set costs a load, not
    /// the workqueue's interrupt-disabled pending test.
    decay_armed: Atomic<bool>,
    /// A 4 KiB allocation found its pool empty since the worker last
    /// topped it up.
    small_missed: Atomic<bool>,
    /// 1 MiB blocks that allocations took from the queue and that the
    /// worker has not yet replaced with fresh ones.
    owed_blocks: Atomic<usize>,
    stats: Stats,
}

impl Heap {
    /// Creates the pools and queue; `cap_pages` gives the current pool cap.
    pub(crate) fn new(cap_pages: fn() -> usize) -> impl PinInit<Self> {
        pin_init!(Self {
            pools <- Pools::new(cap_pages),
            queue <- FreeQueue::new(),
            kick <- new_delayed_work!("rsystem_heap::kick"),
            decay <- new_delayed_work!("rsystem_heap::decay"),
            uses: Atomic::new(0),
            uses_at_last_decay_check: Atomic::new(0),
            decay_armed: Atomic::new(false),
            small_missed: Atomic::new(false),
            owed_blocks: Atomic::new(0),
            stats: Stats::new(),
        })
    }

    /// Returns a zeroed block of order index `index`: pooled when the pool
    /// has one (and `account` is off), else the head of the free queue
    /// zeroed here if it has that order, else fresh from the buddy
    /// allocator.
    ///
    /// A 1 MiB miss with blocks queued wakes the worker, so that it zeroes
    /// beside this allocation (the wake-up is small next to the 1 MiB this
    /// allocation zeroes), and a 1 MiB block taken from the queue is owed
    /// to the pool.
    pub(crate) fn take(&self, index: usize, account: bool) -> Option<PageBlock> {
        self.uses.fetch_add(1, Relaxed);
        if !account {
            if let Some(block) = self.pools.pop(index) {
                Stats::add(&self.stats.from_pool, 1);
                return Some(block);
            }
            if index == SMALL {
                arm(&self.small_missed);
            } else if index == LARGE && self.queued() > 0 {
                Stats::add(&self.stats.miss_wakeups, 1);
                self.queue.wake_worker();
            }
            if let Some(mut block) = self.queue.pop_head_of_order(ORDERS[index]) {
                if index == LARGE {
                    self.owed_blocks.fetch_add(1, Relaxed);
                }
                block.zero();
                Stats::add(&self.stats.from_queue, 1);
                return Some(block);
            }
        }
        let block = PageBlock::alloc_zeroed(ORDERS[index], account)?;
        Stats::add(&self.stats.from_buddy, 1);
        Some(block)
    }

    /// Puts a zero block into its pool, or frees it if the pools are full.
    pub(crate) fn put_zeroed(&self, block: PageBlock) {
        self.pools.put(block);
    }

    /// Gives back blocks that never left the heap (still zero).
    pub(crate) fn put_all_zeroed(&self, mut blocks: Pin<&mut PageList>) {
        while let Some(block) = blocks.as_mut().pop() {
            self.put_zeroed(block);
        }
    }

    /// Queues a released buffer's blocks for zeroing, in O(1), waking no
    /// thread: the worker finds them at its next look, or an allocation
    /// that misses its pool wakes it ([`Heap::take`]). A release into a
    /// parked worker arms its kick.
    pub(crate) fn defer_free(heap: &Arc<Heap>, blocks: Pin<&mut PageList>) {
        let pages = blocks.pages();
        if pages == 0 {
            return;
        }
        let parked = heap.queue.append(blocks, pages);
        heap.uses.fetch_add(1, Full);
        heap.arm_decay();
        if parked {
            Stats::add(&heap.stats.kicks, 1);
            // Already pending (a kick armed before an allocation woke the
            // worker) wakes it all the same.
            let _ = workqueue::system()
                .enqueue_delayed::<_, 0>(heap.clone(), msecs_to_jiffies(KICK_MS));
        }
    }

    /// Arms the decay work one idle period from now, unless it is armed
    /// or decay is off.
    fn arm_decay(self: &Arc<Self>) {
        if self.decay_armed.load(Relaxed) {
            return;
        }
        let Some(idle) = idle_jiffies() else {
            return;
        };
        if arm(&self.decay_armed) {
            let _ = workqueue::system().enqueue_delayed::<_, 1>(self.clone(), idle);
        }
    }

    /// The decay work: if the heap was used during the last idle period,
    /// checks again one period later; else frees pooled blocks down to the
    /// low watermark.
    fn decay_if_idle(self: Arc<Self>) {
        // Before reading `uses`: a use that saw the flag still set is seen
        // below.
        self.decay_armed.xchg(false, Full);
        // Decay was turned off while this was pending.
        if idle_jiffies().is_none() {
            return;
        }
        let uses = self.uses.load(Relaxed);
        if self.uses_at_last_decay_check.xchg(uses, Relaxed) != uses {
            self.arm_decay();
            return;
        }
        let low = low_watermark_pages();
        let mut freed = 0;
        while self.pooled() > low {
            let Some(block) = self.pools.pop_largest() else {
                break;
            };
            freed += block.nr_pages();
        }
        Stats::add(&self.stats.decayed_pages, freed);
    }

    /// If a 4 KiB allocation found its pool empty since the last call, tops
    /// the pool up to [`SMALL_RESERVE_PAGES`] with fresh pages, within the
    /// pool cap, and only while that needs no direct reclaim. At most that
    /// many pages per call, however fast allocations take them.
    fn top_up_small_pool(&self) {
        if !self.small_missed.xchg(false, Relaxed) {
            return;
        }
        for _ in 0..SMALL_RESERVE_PAGES {
            if self.pools.pages_of(SMALL) >= SMALL_RESERVE_PAGES
                || self.pooled() >= self.pools.cap()
            {
                return;
            }
            let Some(block) = PageBlock::alloc_zeroed_nowait(ORDERS[SMALL]) else {
                return;
            };
            Stats::add(&self.stats.reserve_pages, block.nr_pages());
            self.put_zeroed(block);
        }
    }

    /// Pools a fresh 1 MiB block for each one that allocations took from
    /// the free queue, while the queue stays empty (a release comes first;
    /// the rest is replaced on the next run), within the pool cap, and only
    /// while that needs no direct reclaim. Debts that the cap or a failed
    /// allocation leave are dropped: the pool holds what it can.
    fn replace_owed_blocks(&self) {
        let pages = 1 << ORDERS[LARGE];
        // Counted as zeroing from before the debts are taken until the last
        // block is pooled: who reads the debts and then `zeroing_blocks` as
        // 0 saw the worker idle.
        self.queue.zeroing.fetch_add(1, Full);
        let mut owed = self.owed_blocks.xchg(0, Full);
        while owed > 0 && self.queued() == 0 {
            let Some(block) = self
                .pools
                .has_room_for(pages)
                .then(|| PageBlock::alloc_zeroed_nowait(ORDERS[LARGE]))
                .flatten()
            else {
                owed = 0;
                break;
            };
            owed -= 1;
            Stats::add(&self.stats.replaced_pages, pages);
            self.put_zeroed(block);
        }
        self.owed_blocks.fetch_add(owed, Relaxed);
        self.queue.zeroing.fetch_sub(1, Full);
    }

    /// Returns the pages in the pools.
    pub(crate) fn pooled(&self) -> usize {
        self.pools.pooled()
    }

    /// Returns the pages waiting in the free queue.
    pub(crate) fn queued(&self) -> usize {
        self.queue.queued()
    }

    /// Returns the chunks served fresh from the buddy allocator.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn chunks_from_buddy(&self) -> usize {
        self.stats.from_buddy.load(Relaxed)
    }

    /// Writes the debugfs figures: the pools' and the queue's state, then
    /// the counters.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, order) in ORDERS.iter().enumerate() {
            let pages = self.pools.pages_of(index);
            writeln!(f, "pool_pages_order{order}: {pages}")?;
        }
        writeln!(f, "queued_pages: {}", self.queued())?;
        writeln!(f, "zeroing_blocks: {}", self.queue.zeroing.load(Acquire))?;
        writeln!(f, "owed_blocks: {}", self.owed_blocks.load(Relaxed))?;
        self.stats.show(f)
    }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Heap { self.kick }
    impl HasDelayedWork<Self, 1> for Heap { self.decay }
}

/// The kick: wakes the worker.
impl WorkItem for Heap {
    type Pointer = Arc<Heap>;

    fn run(heap: Arc<Heap>) {
        heap.queue.wake_worker();
    }
}

impl WorkItem<1> for Heap {
    type Pointer = Arc<Heap>;

    fn run(heap: Arc<Heap>) {
        heap.decay_if_idle();
    }
}

/// Sets `flag` (a load first, so a set flag costs no locked write);
/// returns whether it was clear (the caller arms the work).
fn arm(flag: &Atomic<bool>) -> bool {
    !flag.load(Relaxed) && !flag.xchg(true, Full)
}

/// The idle period (`pool_idle_ms`) in jiffies, or `None` when decay is off.
fn idle_jiffies() -> Option<kernel::time::Jiffies> {
    let ms = u32::try_from(crate::kapi::params::system_heap_pool_idle_ms()).ok()?;
    (ms > 0).then(|| msecs_to_jiffies(ms))
}

/// The low watermark (`pool_low_mb`) in pages.
fn low_watermark_pages() -> usize {
    let mb = usize::try_from(crate::kapi::params::system_heap_pool_low_mb()).unwrap_or(0);
    mb.saturating_mul((1 << 20) / kernel::page::PAGE_SIZE)
}

impl ShrinkerOps for Heap {
    fn count(&self) -> usize {
        self.pooled() + self.queued()
    }

    fn scan(&self, nr_to_scan: usize) -> usize {
        let mut freed = 0;
        // Pooled pages first: they cost nothing to rebuild but zeroing.
        while freed < nr_to_scan {
            let Some(block) = self.pools.pop_largest() else {
                break;
            };
            freed += block.nr_pages();
        }
        // Then queued blocks, freed without zeroing.
        while freed < nr_to_scan {
            let Some(block) = self.queue.pop_with(ReclaimableList::pop) else {
                break;
            };
            freed += block.nr_pages();
        }
        Stats::add(&self.stats.shrunk_pages, freed);
        freed
    }
}

#[kunit_tests(rsystem_heap_pool)]
mod tests {
    use super::testing::{
        block,
        cap_300,
        cap_32m,
        empty_pools_were_zero,
        queue, //
    };
    use super::*;

    fn heap() -> Result<Arc<Heap>> {
        Arc::pin_init(Heap::new(cap_300), GFP_KERNEL)
    }

    #[test]
    fn pools_are_per_order_and_served_first() -> Result {
        let heap = heap()?;
        heap.put_zeroed(block(1)?);
        heap.put_zeroed(block(2)?);
        heap.put_zeroed(block(2)?);
        assert_eq!(heap.pools.pages_of(0), 0);
        assert_eq!(heap.pools.pages_of(1), 16);
        assert_eq!(heap.pools.pages_of(2), 2);
        // Taking order 0 twice empties its pool; the third comes from buddy.
        for _ in 0..3 {
            let b = heap.take(2, false).ok_or(ENOMEM)?;
            assert_eq!(b.order(), 0);
        }
        assert_eq!(heap.stats.from_pool.load(Relaxed), 2);
        assert_eq!(heap.stats.from_buddy.load(Relaxed), 1);
        assert_eq!(heap.pooled(), 16);
        // With accounting on, the pool is bypassed.
        let b = heap.take(1, true).ok_or(ENOMEM)?;
        assert_eq!(b.order(), 4);
        assert_eq!(heap.pooled(), 16);
        Ok(())
    }

    #[test]
    fn small_misses_make_the_worker_keep_a_reserve() -> Result {
        let heap = heap()?;
        // No 4 KiB allocation missed the pool: nothing is set aside.
        heap.top_up_small_pool();
        assert_eq!(heap.pooled(), 0);
        // Larger orders missing their pools do not count.
        drop(heap.take(1, false).ok_or(ENOMEM)?);
        heap.top_up_small_pool();
        assert_eq!(heap.pooled(), 0);
        // A 4 KiB allocation from the buddy allocator, then a top-up.
        drop(heap.take(2, false).ok_or(ENOMEM)?);
        heap.top_up_small_pool();
        assert_eq!(heap.pools.pages_of(2), SMALL_RESERVE_PAGES);
        assert_eq!(heap.stats.reserve_pages.load(Relaxed), SMALL_RESERVE_PAGES);
        // The next ones are served from the reserve, zero, without a miss.
        for _ in 0..4 {
            let b = heap.take(2, false).ok_or(ENOMEM)?;
            assert!(b.is_zero());
        }
        assert_eq!(heap.stats.from_pool.load(Relaxed), 4);
        heap.top_up_small_pool();
        assert_eq!(heap.pooled(), SMALL_RESERVE_PAGES - 4);
        Ok(())
    }

    /// A pool cap of 8 pages.
    fn cap_8() -> usize {
        8
    }

    #[test]
    fn the_small_reserve_stays_within_the_pool_cap() -> Result {
        let heap = Arc::pin_init(Heap::new(cap_8), GFP_KERNEL)?;
        heap.put_zeroed(block(2)?);
        drop(heap.take(2, false).ok_or(ENOMEM)?);
        drop(heap.take(2, false).ok_or(ENOMEM)?);
        heap.top_up_small_pool();
        assert_eq!(heap.pooled(), 8);
        assert_eq!(heap.stats.reserve_pages.load(Relaxed), 8);
        Ok(())
    }

    #[test]
    fn empty_pool_takes_the_queue_head_and_zeroes_it() -> Result {
        let heap = heap()?;
        let mut dirty = block(1)?;
        dirty.fill(0x77);
        queue(&heap, [dirty, block(2)?])?;
        // Order 0 is not at the head: from the buddy allocator.
        heap.take(2, false).ok_or(ENOMEM)?;
        assert_eq!(heap.stats.from_buddy.load(Relaxed), 1);
        // Order 4 is: taken off the queue, zeroed.
        let b = heap.take(1, false).ok_or(ENOMEM)?;
        assert!(b.is_zero());
        assert_eq!(heap.stats.from_queue.load(Relaxed), 1);
        assert_eq!(heap.queued(), 1);
        Ok(())
    }

    #[test]
    fn shrinker_count_and_scan() -> Result {
        let heap = heap()?;
        heap.put_zeroed(block(1)?);
        heap.put_zeroed(block(2)?);
        queue(&heap, [block(1)?, block(2)?, block(2)?])?;
        assert_eq!(heap.count(), 17 + 18);
        // Pooled pages go first, whole blocks at a time.
        assert_eq!(heap.scan(1), 16);
        assert_eq!(heap.count(), 1 + 18);
        // Then queued ones, unzeroed.
        assert_eq!(heap.scan(5), 1 + 16);
        assert_eq!(heap.queued(), 2);
        assert_eq!(heap.scan(100), 2);
        assert_eq!(heap.count(), 0);
        assert_eq!(heap.scan(100), 0);
        assert_eq!(heap.stats.shrunk_pages.load(Relaxed), 35);
        Ok(())
    }

    /// Releases never wake the worker: one arms the kick of a parked
    /// worker, once. A 1 MiB allocation that finds its pool empty while
    /// blocks are queued wakes it; a smaller one, or an empty queue, does
    /// not.
    #[test]
    fn only_a_large_pool_miss_with_blocks_queued_wakes_the_worker() -> Result {
        // No threads: the queue holds what is released.
        let heap = heap()?;
        let counts = || {
            (
                heap.stats.miss_wakeups.load(Relaxed),
                heap.stats.kicks.load(Relaxed),
            )
        };
        let take = |index| heap.take(index, false).ok_or(ENOMEM);
        // Nothing queued: a miss takes a fresh block.
        take(0)?;
        assert_eq!(counts(), (0, 0));
        // Releases in a row, of any size.
        queue(&heap, [block(0)?])?;
        queue(&heap, [block(0)?])?;
        queue(&heap, [block(2)?])?;
        assert_eq!(counts(), (0, 0));
        // 64 KiB and 4 KiB misses zero their own blocks alone.
        take(1)?;
        take(SMALL)?;
        assert_eq!(counts(), (0, 0));
        // A 1 MiB miss wakes the worker and zeroes the head of the queue.
        let head = take(0)?;
        assert!(head.is_zero());
        assert_eq!(heap.stats.from_queue.load(Relaxed), 1);
        assert_eq!(counts(), (1, 0));
        while heap.zero_one().is_some() {}
        heap.queue.set_parked();
        queue(&heap, [block(0)?])?;
        assert_eq!(counts(), (1, 1));
        assert!(!heap.queue.parked());
        queue(&heap, [block(0)?])?;
        assert_eq!(counts(), (1, 1));
        Ok(())
    }

    /// Each 1 MiB block that an allocation took from the queue is replaced
    /// in the pool by a fresh one, once the queue is empty and within the
    /// cap; smaller blocks are not.
    #[test]
    fn one_mib_blocks_taken_from_the_queue_are_replaced() -> Result {
        let heap = Arc::pin_init(Heap::new(cap_32m), GFP_KERNEL)?;
        let dirty = |index| -> Result<PageBlock> {
            let mut b = block(index)?;
            b.fill(0x42);
            Ok(b)
        };
        queue(&heap, [dirty(0)?, dirty(0)?, dirty(1)?])?;
        for index in [0, 0, 1] {
            assert!(heap.take(index, false).ok_or(ENOMEM)?.is_zero());
        }
        assert_eq!(heap.stats.from_queue.load(Relaxed), 3);
        assert_eq!(heap.owed_blocks.load(Relaxed), 2);
        // A release comes first: nothing is replaced while it is queued.
        queue(&heap, [dirty(2)?])?;
        heap.replace_owed_blocks();
        assert_eq!((heap.pooled(), heap.owed_blocks.load(Relaxed)), (0, 2));
        assert_eq!(heap.zero_one(), Some(1));
        heap.replace_owed_blocks();
        assert_eq!(heap.owed_blocks.load(Relaxed), 0);
        assert_eq!(heap.pools.pages_of(0), 2 * 256);
        assert_eq!(heap.stats.replaced_pages.load(Relaxed), 2 * 256);
        assert_eq!(heap.queue.zeroing.load(Relaxed), 0);
        // Nothing owed: nothing more.
        heap.replace_owed_blocks();
        assert_eq!(heap.pooled(), 2 * 256 + 1);
        assert!(empty_pools_were_zero(&heap));
        Ok(())
    }

    #[test]
    fn replaced_blocks_stay_within_the_pool_cap() -> Result {
        // 300 pages: room for one 1 MiB block, not two.
        let heap = heap()?;
        queue(&heap, [block(0)?, block(0)?])?;
        heap.take(0, false).ok_or(ENOMEM)?;
        heap.take(0, false).ok_or(ENOMEM)?;
        assert_eq!(heap.owed_blocks.load(Relaxed), 2);
        heap.replace_owed_blocks();
        // The second is dropped, not kept owed.
        assert_eq!(heap.pooled(), 256);
        assert_eq!(heap.owed_blocks.load(Relaxed), 0);
        Ok(())
    }

    #[test]
    fn deferred_free_ends_with_zeroed_pooled_pages() -> Result {
        let heap = heap()?;
        let mut dirty = block(1)?;
        dirty.fill(0xa5);
        assert!(!dirty.is_zero());
        let mut small = block(2)?;
        small.fill(0x5a);
        queue(&heap, [dirty, small])?;
        assert_eq!(heap.queued(), 17);
        assert_eq!(heap.pooled(), 0);
        // The worker's step, twice: the newest release first.
        assert_eq!(heap.zero_one(), Some(1));
        assert_eq!(heap.zero_one(), Some(16));
        assert_eq!(heap.zero_one(), None);
        assert_eq!(heap.queued(), 0);
        assert_eq!(heap.pooled(), 17);
        let b = heap.take(1, false).ok_or(ENOMEM)?;
        assert!(b.is_zero());
        let b = heap.take(2, false).ok_or(ENOMEM)?;
        assert!(b.is_zero());
        assert_eq!(heap.stats.from_pool.load(Relaxed), 2);
        Ok(())
    }
}
