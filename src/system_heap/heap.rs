// SPDX-License-Identifier: GPL-2.0

//! Where the heap's pages come from and where they go.
//!
//! Every pooled page is zero: the pools take only a
//! [`ZeroedBlock`](zeroing::ZeroedBlock), which only zeroing makes. An
//! allocation takes a block of the order it wants from its pool
//! ([`pool`]); when the pool is empty, the oldest queued release if it has
//! that order, zeroed by the allocation; else a fresh block from the buddy
//! allocator with `__GFP_ZERO` ([`Heap::take`]). A release appends its
//! blocks to the free queue in O(1) ([`Heap::defer_free`], [`queue`]), and
//! the zeroing threads pool them, keep a small reserve and replace each
//! 1 MiB block that an allocation took from the queue with two fresh ones
//! ([`zeroing`]).
//!
//! Pooled and queued pages count as reclaimable kernel memory
//! (`KReclaimable`); the shrinker frees pooled blocks first, then queued
//! ones unzeroed. Idle pools decay: when neither an allocation nor a
//! release happened for `pool_idle_ms`, a work item frees pooled blocks,
//! largest first, down to `pool_low_mb` (so it may end one block below);
//! idleness is checked once per period, so the decay comes one to two
//! periods after the last use.
//!
//! With the dma-heap core's `mem_accounting` on, fresh pages are charged to
//! the allocating task's memory cgroup. A released charged block goes
//! through the queue like any other, and the zeroing threads pool it in its
//! own memcg's pool, still charged ([`memcg_pool`]); an accounted allocation
//! takes only from its own memcg's pool (then fresh charged blocks), and an
//! unaccounted one never takes a charged block. So a page charged to one
//! cgroup never serves another. Allocations of the root memcg, which C
//! charges nothing, use the global pools.
//!
//! Nothing sleeps, allocates or zeroes under the pools' or the queue's
//! spinlock, so the shrinker never waits on a lock the allocation path
//! sleeps under.
//!
//! The rooms import downwards only: this file uses [`pool`], [`queue`],
//! [`zeroing`] and [`stats`]; [`zeroing`] uses [`queue`] and [`stats`] and
//! knows the pools and the heap through traits; [`pool`] uses [`zeroing`]'s
//! block types; [`queue`], [`stats`] and the KUnit helpers (`testing`) use
//! only kapi.

use core::fmt;

use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::atomic::{
    Atomic,
    Full,
    Relaxed, //
};
use crate::kapi::kernel::sync::Arc;
use crate::kapi::kernel::time::msecs_to_jiffies;
use crate::kapi::kernel::workqueue::{
    self,
    impl_has_delayed_work,
    new_delayed_work,
    DelayedWork,
    WorkItem, //
};

use crate::kapi::memcg::MemCgroup;
use crate::kapi::pages::PageList;
use crate::kapi::shrinker::ShrinkerOps;
use crate::orders::{
    LARGE,
    ORDERS,
    SMALL, //
};

mod memcg_pool;
mod pool;
mod queue;
mod stats;
#[cfg(CONFIG_KUNIT = "y")]
mod testing;
mod zeroing;

pub(crate) use memcg_pool::MemcgPools;
use pool::Pools;
use queue::FreeQueue;
use stats::Stats;
pub(crate) use zeroing::ZeroThreads;
use zeroing::{
    ZeroedBlock,
    Zeroer,
    ZeroingParts,
    ZeroingState, //
};

/// A release into a parked worker wakes it this many milliseconds later,
/// so that it zeroes after the burst of small releases that often follows
/// an idle moment, not beside it.
const KICK_MS: u32 = 5;

/// What an allocation's fresh pages are charged to, and so which pools
/// serve it.
pub(crate) enum Charge {
    /// Not accounted: the global pools.
    Unaccounted,
    /// Accounted (`mem_accounting`), to nothing (the root memcg, or memcg
    /// accounting off): the global pools, fresh blocks with `__GFP_ACCOUNT`.
    Uncharged,
    /// Accounted to a memcg: its own pool only.
    Memcg(MemCgroup),
}

impl Charge {
    /// The charge of an allocation by the current task, accounted if
    /// `account`.
    pub(crate) fn of_current_task(account: bool) -> Self {
        if !account {
            return Self::Unaccounted;
        }
        MemCgroup::of_current_task().map_or(Self::Uncharged, Self::Memcg)
    }

    /// Returns whether fresh blocks are allocated with `__GFP_ACCOUNT`.
    fn accounted(&self) -> bool {
        !matches!(self, Self::Unaccounted)
    }
}

/// The heap's pages: pools, free queue, and the work that moves pages
/// between them and the buddy allocator.
#[pin_data]
pub(crate) struct Heap {
    #[pin]
    pools: Pools,
    /// The pools of blocks charged to a memory cgroup, one per memcg.
    memcg: MemcgPools,
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
    /// What the zeroing threads keep: blocks being zeroed, misses, debts.
    zeroing: ZeroingState,
    stats: Stats,
}

impl Heap {
    /// Creates the pools and queue; `cap_pages` gives the current pool cap,
    /// and `memcg` holds the per-memcg pools.
    pub(crate) fn new(cap_pages: fn() -> usize, memcg: MemcgPools) -> impl PinInit<Self> {
        pin_init!(Self {
            pools <- Pools::new(cap_pages),
            memcg,
            queue <- FreeQueue::new(),
            kick <- new_delayed_work!("rsystem_heap::kick"),
            decay <- new_delayed_work!("rsystem_heap::decay"),
            uses: Atomic::new(0),
            uses_at_last_decay_check: Atomic::new(0),
            decay_armed: Atomic::new(false),
            zeroing: ZeroingState::new(),
            stats: Stats::new(),
        })
    }

    /// Makes `charge`'s memcg pool able to take the blocks of the buffer
    /// being allocated, once they are released. Runs in the allocating task.
    pub(crate) fn prepare(&self, charge: &Charge) {
        if let Charge::Memcg(memcg) = charge {
            self.memcg.prepare(memcg);
        }
    }

    /// Returns a zeroed block of order index `index` for an allocation
    /// charged as `charge`: from its pool (the memcg's own pool, or the
    /// global pools for an allocation not charged to a memcg), else the
    /// head of the free queue zeroed here if it has that order and the same
    /// charge, else fresh from the buddy allocator (with `__GFP_ACCOUNT`
    /// under accounting, as C allocates).
    ///
    /// A 1 MiB miss with blocks queued wakes the worker, so that it zeroes
    /// beside this allocation (the wake-up is small next to the 1 MiB this
    /// allocation zeroes), and a 1 MiB block taken from the queue is owed
    /// twice to the pool it would have come from.
    #[link_section = ".text.hot"]
    pub(crate) fn take(&self, index: usize, charge: &Charge) -> Option<ZeroedBlock> {
        self.uses.fetch_add(1, Relaxed);
        let memcg = match charge {
            Charge::Memcg(memcg) => {
                if let Some(block) = self.take_charged(index, memcg) {
                    Stats::add(&self.stats.memcg_from_pool, 1);
                    return Some(block);
                }
                Some(memcg)
            }
            Charge::Unaccounted | Charge::Uncharged => {
                if let Some(block) = self.pools.pop(index) {
                    Stats::add(&self.stats.from_pool, 1);
                    return Some(block);
                }
                if index == SMALL {
                    self.zeroing.small_pool_missed();
                }
                None
            }
        };
        if index == LARGE && self.queued() > 0 {
            Stats::add(&self.stats.miss_wakeups, 1);
            self.queue.wake_worker();
        }
        if let Some(block) = self.queue.pop_head_of_order(ORDERS[index], memcg) {
            if index == LARGE {
                match memcg {
                    None => self.zeroing.owe_large_block(),
                    Some(memcg) => self.memcg.owe(memcg),
                }
            }
            let block = ZeroedBlock::zero(block);
            Stats::add(&self.stats.from_queue, 1);
            return Some(block);
        }
        let block = ZeroedBlock::alloc(ORDERS[index], charge.accounted())?;
        Stats::add(&self.stats.from_buddy, 1);
        Some(block)
    }

    /// Takes a block of order index `index` from `memcg`'s pool. When the
    /// pool has none and a fresh one would pass the memcg's `memory.max`,
    /// the blocks the memcg released may still wait in the queue, charged
    /// but out of reach of its reclaim (C would have freed them at close):
    /// zeroes and routes the whole queue here, as the threads would, and
    /// looks again, so that the memcg reclaims its own pool before it fails
    /// a charge or meets its OOM killer.
    fn take_charged(&self, index: usize, memcg: &MemCgroup) -> Option<ZeroedBlock> {
        if let Some(block) = self.memcg.take(index, memcg) {
            return Some(block);
        }
        if self.queued() == 0 || memcg.margin_pages() >= 1 << ORDERS[index] {
            return None;
        }
        let zeroer = self.zeroer();
        while zeroer.zero_one().is_some() {}
        Stats::add(&self.stats.memcg_queue_flushes, 1);
        self.memcg.take(index, memcg)
    }

    /// Puts a zero block into its pool, or frees it if the pools are full.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn put_zeroed(&self, block: ZeroedBlock) {
        self.pools.put(block);
    }

    /// Queues a released buffer's blocks for zeroing, in O(1), waking no
    /// thread: the worker finds them at its next look, or an allocation
    /// that misses its pool wakes it ([`Heap::take`]). A release into a
    /// parked worker arms its kick.
    #[link_section = ".text.hot"]
    pub(crate) fn defer_free(heap: &Arc<Heap>, blocks: &mut PageList) {
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
    #[inline]
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
    /// low watermark, and every memcg's pooled blocks.
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
        Stats::add(&self.stats.memcg_decayed_pages, self.memcg.drain());
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
        writeln!(f, "zeroing_blocks: {}", self.zeroing.busy())?;
        writeln!(f, "owed_blocks: {}", self.zeroing.owed_blocks())?;
        writeln!(f, "memcg_pool_pages: {}", self.memcg.pooled())?;
        writeln!(f, "memcg_owed_blocks: {}", self.memcg.owed_blocks())?;
        writeln!(
            f,
            "memcg_shrinker_freed_pages: {}",
            self.memcg.shrunk_pages()
        )?;
        self.stats.show(f)
    }

    /// Writes the debugfs `memcg_pools` file: a line `<cgroup inode>
    /// <pages>` per memcg with pooled pages.
    pub(crate) fn show_memcg_pools(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.memcg.show(f)
    }
}

impl ZeroingParts for Heap {
    fn zeroer(&self) -> Zeroer<'_> {
        Zeroer {
            pools: &self.pools,
            charged: &self.memcg,
            queue: &self.queue,
            stats: &self.stats,
            state: &self.zeroing,
        }
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
fn idle_jiffies() -> Option<crate::kapi::kernel::time::Jiffies> {
    let ms = u32::try_from(crate::kapi::params::system_heap_pool_idle_ms()).ok()?;
    (ms > 0).then(|| msecs_to_jiffies(ms))
}

/// The low watermark (`pool_low_mb`) in pages.
fn low_watermark_pages() -> usize {
    let mb = usize::try_from(crate::kapi::params::system_heap_pool_low_mb()).unwrap_or(0);
    mb.saturating_mul((1 << 20) / crate::kapi::kernel::page::PAGE_SIZE)
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
            let Some(block) = self.queue.pop_oldest() else {
                break;
            };
            freed += block.nr_pages();
        }
        Stats::add(&self.stats.shrunk_pages, freed);
        freed
    }
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::testing::{
        block,
        cap_300,
        cap_32m,
        wait_until, //
    };
    use super::*;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };
    use crate::kapi::pages::PageBlock;
    use zeroing::{
        SMALL_RESERVE_PAGES,
        TRICKLE_MS, //
    };

    /// Per-memcg pools for a test's heap.
    fn memcg_pools() -> Result<MemcgPools> {
        MemcgPools::new(c"rsystem_heap-kunit-memcg")
    }

    fn heap() -> Result<Arc<Heap>> {
        Arc::pin_init(Heap::new(cap_300, memcg_pools()?), GFP_KERNEL)
    }

    /// Queues `blocks` through a released-buffer list, as release does.
    fn queue(heap: &Arc<Heap>, blocks: impl IntoIterator<Item = PageBlock>) -> Result {
        let mut list = PageList::new();
        for b in blocks {
            list.push(b);
        }
        Heap::defer_free(heap, &mut list);
        Ok(())
    }

    /// A fresh zeroed block of order index `index`, to pool.
    fn zeroed(index: usize) -> Result<ZeroedBlock> {
        ZeroedBlock::alloc(ORDERS[index], false).ok_or(ENOMEM)
    }

    /// Frees every pooled block; returns whether all were zero.
    fn empty_pools_were_zero(heap: &Heap) -> bool {
        let mut all_zero = true;
        while let Some(b) = heap.pools.pop_largest() {
            all_zero &= b.is_zero();
        }
        all_zero
    }

    fn pools_are_per_order_and_served_first() -> Result {
        let heap = heap()?;
        heap.put_zeroed(zeroed(1)?);
        heap.put_zeroed(zeroed(2)?);
        heap.put_zeroed(zeroed(2)?);
        assert_eq!(heap.pools.pages_of(0), 0);
        assert_eq!(heap.pools.pages_of(1), 16);
        assert_eq!(heap.pools.pages_of(2), 2);
        // Taking order 0 twice empties its pool; the third comes from buddy.
        for _ in 0..3 {
            let b = heap.take(2, &Charge::Unaccounted).ok_or(ENOMEM)?;
            assert_eq!(b.order(), 0);
        }
        assert_eq!(heap.stats.from_pool.load(Relaxed), 2);
        assert_eq!(heap.stats.from_buddy.load(Relaxed), 1);
        assert_eq!(heap.pooled(), 16);
        // Accounted but charged to nothing (a KUnit thread is in the root
        // memcg): the global pool serves it, as it would an unaccounted one.
        let charge = Charge::of_current_task(true);
        assert!(matches!(charge, Charge::Uncharged));
        let b = heap.take(1, &charge).ok_or(ENOMEM)?;
        assert_eq!(b.order(), 4);
        assert_eq!(heap.pooled(), 0);
        assert_eq!(heap.stats.from_pool.load(Relaxed), 3);
        Ok(())
    }

    fn small_misses_make_the_worker_keep_a_reserve() -> Result {
        let heap = heap()?;
        // No 4 KiB allocation missed the pool: nothing is set aside.
        heap.zeroer().top_up_small_pool();
        assert_eq!(heap.pooled(), 0);
        // Larger orders missing their pools do not count.
        drop(heap.take(1, &Charge::Unaccounted).ok_or(ENOMEM)?);
        drop(heap.take(1, &Charge::Unaccounted).ok_or(ENOMEM)?);
        heap.zeroer().top_up_small_pool();
        assert_eq!(heap.pooled(), 0);
        // Lone 4 KiB misses, each more than two looks after the last: the
        // worker pools their releases before the next one comes.
        let trickle = msecs_to_jiffies(TRICKLE_MS);
        let start = crate::kapi::jiffies::now();
        for i in 0..3 {
            heap.zeroing.small_pool_missed_at(start + i * (trickle + 1));
            heap.zeroer().top_up_small_pool();
        }
        assert_eq!(heap.pooled(), 0);
        // A second within two looks of the last: a trickle.
        heap.zeroing
            .small_pool_missed_at(start + 2 * (trickle + 1) + trickle);
        heap.zeroer().top_up_small_pool();
        assert_eq!(heap.pools.pages_of(2), SMALL_RESERVE_PAGES);
        assert_eq!(heap.stats.reserve_pages.load(Relaxed), SMALL_RESERVE_PAGES);
        // The next ones are served from the reserve, zero, without a miss.
        for _ in 0..4 {
            let b = heap.take(2, &Charge::Unaccounted).ok_or(ENOMEM)?;
            assert!(b.is_zero());
        }
        assert_eq!(heap.stats.from_pool.load(Relaxed), 4);
        heap.zeroer().top_up_small_pool();
        assert_eq!(heap.pooled(), SMALL_RESERVE_PAGES - 4);
        Ok(())
    }

    /// A pool cap of 8 pages.
    fn cap_8() -> usize {
        8
    }

    fn the_small_reserve_stays_within_the_pool_cap() -> Result {
        let heap = Arc::pin_init(Heap::new(cap_8, memcg_pools()?), GFP_KERNEL)?;
        heap.put_zeroed(zeroed(2)?);
        drop(heap.take(2, &Charge::Unaccounted).ok_or(ENOMEM)?);
        drop(heap.take(2, &Charge::Unaccounted).ok_or(ENOMEM)?);
        // Two misses at once: a trickle.
        let now = crate::kapi::jiffies::now();
        heap.zeroing.small_pool_missed_at(now);
        heap.zeroing.small_pool_missed_at(now);
        heap.zeroer().top_up_small_pool();
        assert_eq!(heap.pooled(), 8);
        assert_eq!(heap.stats.reserve_pages.load(Relaxed), 8);
        Ok(())
    }

    fn empty_pool_takes_the_queue_head_and_zeroes_it() -> Result {
        let heap = heap()?;
        let mut dirty = block(1)?;
        dirty.fill(0x77);
        queue(&heap, [dirty, block(2)?])?;
        // Order 0 is not at the head: from the buddy allocator.
        heap.take(2, &Charge::Unaccounted).ok_or(ENOMEM)?;
        assert_eq!(heap.stats.from_buddy.load(Relaxed), 1);
        // Order 4 is: taken off the queue, zeroed.
        let b = heap.take(1, &Charge::Unaccounted).ok_or(ENOMEM)?;
        assert!(b.is_zero());
        assert_eq!(heap.stats.from_queue.load(Relaxed), 1);
        assert_eq!(heap.queued(), 1);
        Ok(())
    }

    fn shrinker_count_and_scan() -> Result {
        let heap = heap()?;
        heap.put_zeroed(zeroed(1)?);
        heap.put_zeroed(zeroed(2)?);
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
    fn only_a_large_pool_miss_with_blocks_queued_wakes_the_worker() -> Result {
        // No threads: the queue holds what is released.
        let heap = heap()?;
        let counts = || {
            (
                heap.stats.miss_wakeups.load(Relaxed),
                heap.stats.kicks.load(Relaxed),
            )
        };
        let take = |index| heap.take(index, &Charge::Unaccounted).ok_or(ENOMEM);
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
        while heap.zeroer().zero_one().is_some() {}
        heap.queue.set_parked();
        queue(&heap, [block(0)?])?;
        assert_eq!(counts(), (1, 1));
        assert!(!heap.queue.parked());
        queue(&heap, [block(0)?])?;
        assert_eq!(counts(), (1, 1));
        Ok(())
    }

    /// Each 1 MiB block that an allocation took from the queue is replaced
    /// in the pool by two fresh ones, once the queue is empty and within
    /// the cap; smaller blocks are not.
    fn one_mib_blocks_taken_from_the_queue_are_replaced() -> Result {
        let heap = Arc::pin_init(Heap::new(cap_32m, memcg_pools()?), GFP_KERNEL)?;
        let dirty = |index| -> Result<PageBlock> {
            let mut b = block(index)?;
            b.fill(0x42);
            Ok(b)
        };
        queue(&heap, [dirty(0)?, dirty(0)?, dirty(1)?])?;
        for index in [0, 0, 1] {
            assert!(heap
                .take(index, &Charge::Unaccounted)
                .ok_or(ENOMEM)?
                .is_zero());
        }
        assert_eq!(heap.stats.from_queue.load(Relaxed), 3);
        assert_eq!(heap.zeroing.owed_blocks(), 4);
        // A release comes first: nothing is replaced while it is queued.
        queue(&heap, [dirty(2)?])?;
        heap.zeroer().replace_owed_blocks();
        assert_eq!((heap.pooled(), heap.zeroing.owed_blocks()), (0, 4));
        assert_eq!(heap.zeroer().zero_one(), Some(1));
        heap.zeroer().replace_owed_blocks();
        assert_eq!(heap.zeroing.owed_blocks(), 0);
        assert_eq!(heap.pools.pages_of(0), 4 * 256);
        assert_eq!(heap.stats.replaced_pages.load(Relaxed), 4 * 256);
        assert_eq!(heap.zeroing.busy(), 0);
        // Nothing owed: nothing more.
        heap.zeroer().replace_owed_blocks();
        assert_eq!(heap.pooled(), 4 * 256 + 1);
        assert!(empty_pools_were_zero(&heap));
        Ok(())
    }

    fn replaced_blocks_stay_within_the_pool_cap() -> Result {
        // 300 pages: room for one 1 MiB block, not two.
        let heap = heap()?;
        queue(&heap, [block(0)?, block(0)?])?;
        heap.take(0, &Charge::Unaccounted).ok_or(ENOMEM)?;
        heap.take(0, &Charge::Unaccounted).ok_or(ENOMEM)?;
        assert_eq!(heap.zeroing.owed_blocks(), 4);
        heap.zeroer().replace_owed_blocks();
        // The rest is dropped, not kept owed.
        assert_eq!(heap.pooled(), 256);
        assert_eq!(heap.zeroing.owed_blocks(), 0);
        Ok(())
    }

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
        assert_eq!(heap.zeroer().zero_one(), Some(1));
        assert_eq!(heap.zeroer().zero_one(), Some(16));
        assert_eq!(heap.zeroer().zero_one(), None);
        assert_eq!(heap.queued(), 0);
        assert_eq!(heap.pooled(), 17);
        let b = heap.take(1, &Charge::Unaccounted).ok_or(ENOMEM)?;
        assert!(b.is_zero());
        let b = heap.take(2, &Charge::Unaccounted).ok_or(ENOMEM)?;
        assert!(b.is_zero());
        assert_eq!(heap.stats.from_pool.load(Relaxed), 2);
        Ok(())
    }

    /// The worker finds a small release while it looks, and a release into
    /// the parked worker arms the kick that wakes it.
    fn small_releases_reach_a_looking_and_a_parked_worker() -> Result {
        let heap = heap()?;
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

    kunit_suite!(
        rsystem_heap_pool,
        [
            pools_are_per_order_and_served_first,
            small_misses_make_the_worker_keep_a_reserve,
            the_small_reserve_stays_within_the_pool_cap,
            empty_pool_takes_the_queue_head_and_zeroes_it,
            shrinker_count_and_scan,
            only_a_large_pool_miss_with_blocks_queued_wakes_the_worker,
            one_mib_blocks_taken_from_the_queue_are_replaced,
            replaced_blocks_stay_within_the_pool_cap,
            deferred_free_ends_with_zeroed_pooled_pages,
            small_releases_reach_a_looking_and_a_parked_worker
        ]
    );
}
