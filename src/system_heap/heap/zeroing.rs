// SPDX-License-Identifier: GPL-2.0

//! The zeroing threads, and the only code that makes [`ZeroedBlock`]s.
//!
//! A pool takes only a [`ZeroedBlock`], and only this module makes one: by
//! zeroing a block ([`ZeroedBlock::zero`]) or by allocating it with
//! `__GFP_ZERO` ([`ZeroedBlock::alloc`]). So "every pooled page is zero"
//! is a type, not a rule.
//!
//! The worker thread (`rsystem_heap-zero`, nice 19, freezable) zeroes
//! queued blocks one at a time, newest first, and pools them
//! ([`Zeroer::zero_one`]). While the heap is in use it looks at the queue
//! every [`POLL_MS`]; after [`PARK_AFTER_POLLS`] empty looks it *parks*
//! and sleeps until woken: by the kick a release into a parked worker arms,
//! or by an allocation that misses the 1 MiB pool while blocks are queued.
//! Why releases do not wake it is in `tools/bench/README.md`.
//!
//! When the backlog reaches [`HELP_PAGES`], the worker wakes the helpers
//! (`rsystem_heap-help`, `SCHED_IDLE`: they take only a CPU nothing else
//! wants), which zero beside it until the queue is empty.
//!
//! Between runs of the queue, the worker keeps two promises to the pools:
//! - for each 1 MiB block an allocation took from the queue, it pools
//!   [`OWED_PER_MISS`] fresh ones once the queue is empty
//!   ([`Zeroer::replace_owed_blocks`]). A miss served from the queue leaves
//!   the heap with as many pages as before, so a churn that outran the
//!   threads once would outrun them every round; replaced, the pools grow
//!   by what allocations found missing, zeroed off the allocation path.
//!   Replaced once, a pool grows a block per miss and settles at the edge
//!   of what a churn needs, where the rounds that need a little more miss
//!   again; replaced twice, it ends above that edge in a few rounds, by at
//!   most the shortfall, within the cap and until idle decay;
//! - once 4 KiB allocations found their pool empty twice within
//!   [`TRICKLE_MS`], it keeps [`SMALL_RESERVE_PAGES`] there
//!   ([`Zeroer::top_up_small_pool`]): it looks at the queue only every few
//!   milliseconds, which a steady trickle of small buffers outruns. A lone
//!   miss (the first allocation after the pools were reclaimed) asks for
//!   nothing: the worker pools its release at its next look, before an
//!   allocation that comes slower than that.
//!
//! Both add fresh pages only within the pool cap and without direct
//! reclaim.
//!
//! The threads are freezable: they freeze after each wait, without the
//! queue's lock (and in the wait, where it is freezable), and between two
//! blocks while they zero a backlog ([`Zeroer::freeze_point`]), so that a
//! suspend waits for one block's zeroing at most, not for the backlog.
//! Likewise a stop: the threads ask between two blocks, and
//! [`ZeroThreads::stop`] frees what they left queued, unzeroed.
//!
//! This module knows the pools only by what it needs of them
//! ([`ZeroedPool`]) and the heap by its parts ([`ZeroingParts`]): it
//! imports neither, so no import leads back up to the heap.

use core::ops::Deref;

use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::atomic::{
    Acquire,
    Atomic,
    Full,
    Relaxed, //
};
use crate::kapi::kernel::sync::Arc;
use crate::kapi::kernel::time::{
    msecs_to_jiffies,
    Jiffies, //
};

use super::queue::FreeQueue;
use super::stats::Stats;
use crate::kapi::jiffies;
use crate::kapi::memcg::{
    MemCgroup,
    MemcgBlockLists, //
};
use crate::kapi::pages::{
    PageBlock,
    ReclaimableList, //
};
use crate::kapi::task::{
    try_to_freeze,
    KThread,
    Nice,
    Policy,
    ThisThread, //
};
use crate::orders::{
    LARGE,
    ORDERS,
    SMALL, //
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
/// Fresh 1 MiB blocks owed to the pool for each one an allocation took
/// from the queue: twice the shortfall, so that a churn whose need varies
/// from round to round ends above it, not at its edge.
pub(crate) const OWED_PER_MISS: usize = 2;
/// The 4 KiB pool's reserve, in pages (64 KiB).
pub(crate) const SMALL_RESERVE_PAGES: usize = 16;
/// Two 4 KiB pool misses at most this far apart (milliseconds, two looks)
/// are a trickle that the worker's looks do not follow: it keeps the
/// reserve.
pub(crate) const TRICKLE_MS: u32 = 2 * POLL_MS;

/// A block of pages every byte of which is zero: what the pools hold.
///
/// # Invariants
///
/// Every byte of the block is zero, and stays so: nothing can write to it
/// through this type (it derefs to `&PageBlock` only).
pub(crate) struct ZeroedBlock(PageBlock);

impl ZeroedBlock {
    /// Zeroes `block`.
    pub(crate) fn zero(mut block: PageBlock) -> Self {
        block.zero();
        // INVARIANT: Zeroed above.
        Self(block)
    }

    /// Allocates a block of `2^order` pages with the system heap's flags for
    /// that order, which include `__GFP_ZERO` (and `__GFP_ACCOUNT` if
    /// `account`).
    pub(crate) fn alloc(order: u32, account: bool) -> Option<Self> {
        // INVARIANT: Zeroed by the page allocator.
        PageBlock::alloc_zeroed(order, account).map(Self)
    }

    /// Allocates a block like [`Self::alloc`] (not charged), but only if
    /// that needs no direct reclaim.
    fn alloc_nowait(order: u32) -> Option<Self> {
        // INVARIANT: Zeroed by the page allocator.
        PageBlock::alloc_zeroed_nowait(order).map(Self)
    }

    /// Allocates a block like [`Self::alloc_nowait`], charged to `memcg`.
    pub(crate) fn alloc_charged_nowait(order: u32, memcg: &MemCgroup) -> Option<Self> {
        // INVARIANT: Zeroed by the page allocator.
        PageBlock::alloc_zeroed_charged_nowait(order, memcg).map(Self)
    }

    /// Gives the block up, to be written (handed to a user).
    pub(crate) fn into_block(self) -> PageBlock {
        self.0
    }
}

impl Deref for ZeroedBlock {
    type Target = PageBlock;

    fn deref(&self) -> &PageBlock {
        &self.0
    }
}

/// A [`ReclaimableList`] of [`ZeroedBlock`]s: a pool's list.
///
/// # Invariants
///
/// Every block on `list` joined it as a [`ZeroedBlock`], and nothing
/// writes to it while it is there.
pub(crate) struct ZeroedList {
    list: ReclaimableList,
}

impl ZeroedList {
    /// Creates an empty list.
    pub(crate) const fn new() -> Self {
        // INVARIANT: Empty.
        Self {
            list: ReclaimableList::new(),
        }
    }

    /// Adds `block` at the tail.
    pub(crate) fn push(&mut self, block: ZeroedBlock) {
        // INVARIANT: A zeroed block.
        self.list.push(block.0);
    }

    /// Takes the block at the head (the first added), if any.
    pub(crate) fn pop(&mut self) -> Option<ZeroedBlock> {
        // INVARIANT: By the type invariant the block is zero.
        self.list.pop().map(ZeroedBlock)
    }

    /// Takes the block at the tail (the last added), if any.
    pub(crate) fn pop_newest(&mut self) -> Option<ZeroedBlock> {
        // INVARIANT: By the type invariant the block is zero.
        self.list.pop_last().map(ZeroedBlock)
    }
}

/// Per-memcg lists of [`ZeroedBlock`]s: the pools of charged blocks.
///
/// # Invariants
///
/// Every block on `lists` joined it as a [`ZeroedBlock`], and nothing
/// writes to it while it is there.
pub(crate) struct ZeroedMemcgLists {
    lists: MemcgBlockLists,
}

impl ZeroedMemcgLists {
    /// Empty lists for the heap's orders; `name` names their shrinker.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        // INVARIANT: Empty.
        Ok(Self {
            lists: MemcgBlockLists::new(name, ORDERS)?,
        })
    }

    /// Makes `memcg`'s lists able to take blocks (see
    /// [`MemcgBlockLists::prepare`]).
    pub(crate) fn prepare(&self, memcg: &MemCgroup) -> Result {
        self.lists.prepare(memcg)
    }

    /// Returns the pages on all lists.
    pub(crate) fn pages(&self) -> usize {
        self.lists.pages()
    }

    /// Returns the pages the lists' shrinker freed.
    pub(crate) fn shrunk_pages(&self) -> usize {
        self.lists.shrunk_pages()
    }

    /// Writes a line `<cgroup inode> <pages>` per memcg with listed blocks.
    pub(crate) fn show(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.lists.show(f)
    }

    /// Puts `block` on the list of the memcg it is charged to, within
    /// `cap_pages` for that memcg; gives it back if it did not.
    pub(crate) fn put(&self, block: ZeroedBlock, cap_pages: usize) -> Result<(), ZeroedBlock> {
        // INVARIANT: A zeroed block; one given back is still zero.
        self.lists.put(block.0, cap_pages).map_err(ZeroedBlock)
    }

    /// Takes a block of order index `index` from `memcg`'s list.
    pub(crate) fn take(&self, index: usize, memcg: &MemCgroup) -> Option<ZeroedBlock> {
        // INVARIANT: By the type invariant the block is zero.
        self.lists.take(index, memcg).map(ZeroedBlock)
    }

    /// Takes a block from any memcg's list, largest first.
    pub(crate) fn take_any(&self) -> Option<ZeroedBlock> {
        // INVARIANT: By the type invariant the block is zero.
        self.lists.take_any().map(ZeroedBlock)
    }
}

/// What the zeroing threads need of the per-memcg pools.
pub(crate) trait ChargedPool: Sync {
    /// Puts a zero block that is charged to a memory cgroup into that
    /// cgroup's pool, or frees it.
    fn put_charged(&self, block: ZeroedBlock);
    /// Pools fresh charged 1 MiB blocks for those that allocations of each
    /// memcg took from the queue, while `go()` (the queue is empty) holds;
    /// returns their pages.
    fn replace_owed(&self, go: &dyn Fn() -> bool) -> usize;
}

/// No per-memcg pools: charged blocks are freed.
#[cfg(CONFIG_KUNIT = "y")]
impl ChargedPool for () {
    fn put_charged(&self, _block: ZeroedBlock) {}
    fn replace_owed(&self, _go: &dyn Fn() -> bool) -> usize {
        0
    }
}

/// What the zeroing threads need of the pools.
pub(crate) trait ZeroedPool: Sync {
    /// Puts a zero block into its pool, or frees it if that would pass the
    /// cap.
    fn put(&self, block: ZeroedBlock);
    /// Returns the pages in the pool of order index `index`.
    fn pages_of(&self, index: usize) -> usize;
    /// Returns the pages in all pools.
    fn pooled(&self) -> usize;
    /// Returns the cap in pages.
    fn cap(&self) -> usize;

    /// Returns whether `pages` more would fit under the cap now.
    fn has_room_for(&self, pages: usize) -> bool {
        self.pooled() + pages <= self.cap()
    }
}

/// What the zeroing threads keep besides the pools and the queue.
pub(crate) struct ZeroingState {
    /// Blocks the threads have taken off the queue and not yet pooled,
    /// plus one while the worker replaces owed blocks. Who reads the
    /// queue's pages and then this as 0 saw the threads idle.
    busy: Atomic<usize>,
    /// 4 KiB allocations found their pool empty twice within
    /// [`TRICKLE_MS`] since the worker last topped it up.
    small_missed: Atomic<bool>,
    /// When a 4 KiB allocation last found its pool empty.
    last_small_miss: Atomic<Jiffies>,
    /// [`TRICKLE_MS`] in jiffies, converted once rather than at each miss.
    trickle: Jiffies,
    /// 1 MiB blocks that allocations took from the queue and that the
    /// worker has not yet replaced with fresh ones.
    owed_blocks: Atomic<usize>,
}

impl ZeroingState {
    /// Nothing zeroing, missed or owed.
    pub(crate) fn new() -> Self {
        Self {
            busy: Atomic::new(0),
            small_missed: Atomic::new(false),
            last_small_miss: Atomic::new(0),
            trickle: msecs_to_jiffies(TRICKLE_MS),
            owed_blocks: Atomic::new(0),
        }
    }

    /// A 4 KiB allocation found its pool empty: if the previous one did so
    /// within [`TRICKLE_MS`], the worker keeps a reserve from its next run
    /// on. (Loads first, so that a set flag costs no locked write; two
    /// misses at once may both store their time, which changes nothing.)
    pub(crate) fn small_pool_missed(&self) {
        self.small_pool_missed_at(jiffies::now());
    }

    /// [`Self::small_pool_missed`] at `now` jiffies.
    pub(crate) fn small_pool_missed_at(&self, now: Jiffies) {
        let last = self.last_small_miss.load(Relaxed);
        self.last_small_miss.store(now, Relaxed);
        if now.wrapping_sub(last) <= self.trickle && !self.small_missed.load(Relaxed) {
            self.small_missed.xchg(true, Full);
        }
    }

    /// An allocation took a 1 MiB block from the queue: the worker owes the
    /// pool [`OWED_PER_MISS`] fresh ones.
    pub(crate) fn owe_large_block(&self) {
        self.owed_blocks.fetch_add(OWED_PER_MISS, Relaxed);
    }

    /// Returns the 1 MiB blocks owed.
    pub(crate) fn owed_blocks(&self) -> usize {
        self.owed_blocks.load(Relaxed)
    }

    /// Returns the blocks being zeroed (see [`ZeroingState::busy`]).
    pub(crate) fn busy(&self) -> usize {
        self.busy.load(Acquire)
    }
}

/// The parts of a heap that the zeroing threads work on.
#[derive(Clone, Copy)]
pub(crate) struct Zeroer<'a> {
    /// Where zeroed blocks go.
    pub(crate) pools: &'a dyn ZeroedPool,
    /// Where zeroed blocks charged to a memory cgroup go.
    pub(crate) charged: &'a dyn ChargedPool,
    /// Where released blocks wait.
    pub(crate) queue: &'a FreeQueue,
    /// The heap's counters.
    pub(crate) stats: &'a Stats,
    /// Blocks being zeroed, missed and owed.
    pub(crate) state: &'a ZeroingState,
}

/// A heap the zeroing threads can run on.
pub(crate) trait ZeroingParts: Send + Sync + 'static {
    /// Returns the parts the threads work on.
    fn zeroer(&self) -> Zeroer<'_>;
}

impl Zeroer<'_> {
    /// A zeroing thread's step: zeroes the newest queued block and pools
    /// it. Returns its number of pages, or `None` when the queue is empty.
    ///
    /// Newest first: the latest releases are the sizes the workload of the
    /// moment recycles, and a backlog that an earlier workload left waits
    /// behind them instead of starving their pools. Allocations take from
    /// the other end, so the two do not contend for one block.
    pub(crate) fn zero_one(&self) -> Option<usize> {
        // Counted before the pop and until the block is pooled (see
        // `ZeroingState::busy`).
        self.state.busy.fetch_add(1, Full);
        let pages = self.queue.pop_newest().map(|block| {
            let pages = block.nr_pages();
            let block = ZeroedBlock::zero(block);
            if block.is_charged() {
                self.charged.put_charged(block);
            } else {
                self.pools.put(block);
            }
            pages
        });
        self.state.busy.fetch_sub(1, Full);
        pages
    }

    /// A zeroing thread's freeze point, outside any lock: if the system is
    /// suspending, freezes until it resumes, and counts the freeze with the
    /// backlog it left queued.
    fn freeze_point(&self) {
        let backlog = self.queue.queued();
        if try_to_freeze() {
            Stats::add(&self.stats.freezes, 1);
            self.stats.freeze_backlog.store(backlog, Relaxed);
        }
    }

    /// Returns whether the thread `this` is asked to stop: by the queue
    /// (all threads at once) or by its own handle.
    fn stop_asked(&self, this: &ThisThread) -> bool {
        self.queue.stopping() || this.should_stop()
    }

    /// Zeroes queued blocks until the queue is empty or the thread is
    /// asked to stop, with a freeze point after each block and the stop
    /// asked before each: a stop waits for one block's zeroing at most.
    /// The worker wakes the helpers while the backlog is at least
    /// [`HELP_PAGES`]; a helper counts the pages it zeroes.
    fn zero_backlog(&self, this: &ThisThread, worker: bool) {
        while !self.stop_asked(this) {
            if worker && self.queue.queued() >= HELP_PAGES {
                self.queue.wake_helpers();
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
    fn worker(&self, this: &ThisThread) {
        loop {
            self.zero_backlog(this, true);
            if self.stop_asked(this) {
                return;
            }
            self.top_up_small_pool();
            self.replace_owed_blocks();
            let poll = msecs_to_jiffies(POLL_MS);
            if !self
                .queue
                .wait_for_blocks(poll, PARK_AFTER_POLLS, || self.freeze_point())
            {
                return;
            }
        }
    }

    /// A helper thread: once woken by the worker, zeroes queued blocks
    /// until the queue is empty, then sleeps until the next large backlog,
    /// with a freeze point after each wait.
    fn helper(&self, this: &ThisThread) {
        loop {
            self.zero_backlog(this, false);
            if self.stop_asked(this)
                || !self
                    .queue
                    .wait_for_backlog(HELP_PAGES, || self.freeze_point())
            {
                return;
            }
        }
    }

    /// If 4 KiB allocations found their pool empty twice within
    /// [`TRICKLE_MS`] since the last call, tops the pool up to
    /// [`SMALL_RESERVE_PAGES`] with fresh pages, within the pool cap, and
    /// only while that needs no direct reclaim. At most that many pages per
    /// call, however fast allocations take them.
    pub(crate) fn top_up_small_pool(&self) {
        if !self.state.small_missed.xchg(false, Relaxed) {
            return;
        }
        for _ in 0..SMALL_RESERVE_PAGES {
            if self.pools.pages_of(SMALL) >= SMALL_RESERVE_PAGES
                || self.pools.pooled() >= self.pools.cap()
            {
                return;
            }
            let Some(block) = ZeroedBlock::alloc_nowait(ORDERS[SMALL]) else {
                return;
            };
            Stats::add(&self.stats.reserve_pages, block.nr_pages());
            self.pools.put(block);
        }
    }

    /// Pools a fresh 1 MiB block for each one that allocations took from
    /// the free queue, while the queue stays empty (a release comes first;
    /// the rest is replaced on the next run), within the pool cap, and only
    /// while that needs no direct reclaim. Debts that the cap or a failed
    /// allocation leave are dropped: the pool holds what it can.
    pub(crate) fn replace_owed_blocks(&self) {
        let pages = 1 << ORDERS[LARGE];
        // Counted as busy from before the debts are taken until the last
        // block is pooled: who reads the debts and then `busy` as 0 saw
        // the worker idle.
        self.state.busy.fetch_add(1, Full);
        let mut owed = self.state.owed_blocks.xchg(0, Full);
        while owed > 0 && self.queue.queued() == 0 {
            let Some(block) = self
                .pools
                .has_room_for(pages)
                .then(|| ZeroedBlock::alloc_nowait(ORDERS[LARGE]))
                .flatten()
            else {
                owed = 0;
                break;
            };
            owed -= 1;
            Stats::add(&self.stats.replaced_pages, pages);
            self.pools.put(block);
        }
        self.state.owed_blocks.fetch_add(owed, Relaxed);
        let charged = self.charged.replace_owed(&|| self.queue.queued() == 0);
        Stats::add(&self.stats.replaced_pages, charged);
        self.state.busy.fetch_sub(1, Full);
    }
}

/// The worker thread's function.
fn worker<H: ZeroingParts>(heap: &H, this: &ThisThread) {
    heap.zeroer().worker(this);
}

/// A helper thread's function.
fn helper<H: ZeroingParts>(heap: &H, this: &ThisThread) {
    heap.zeroer().helper(this);
}

/// What each [`KThread`] of theirs calls as it drops: asks all the zeroing
/// threads to exit.
fn stop<H: ZeroingParts>(heap: &H) {
    heap.zeroer().queue.stop();
}

/// The worker thread and its helpers, stopped when this drops.
pub(crate) struct ZeroThreads<H: ZeroingParts> {
    heap: Arc<H>,
    worker: Option<KThread<H>>,
    helpers: KVec<KThread<H>>,
}

impl<H: ZeroingParts> ZeroThreads<H> {
    /// Starts the worker and `zero_helpers` helpers (by default one per
    /// further CPU, at most [`MAX_HELPERS`]).
    pub(crate) fn start(heap: Arc<H>) -> Result<Self> {
        let count = match u32::try_from(crate::kapi::params::system_heap_zero_helpers()) {
            Ok(n) => n,
            Err(_) => crate::kapi::kernel::cpu::nr_cpu_ids().saturating_sub(1),
        }
        .min(MAX_HELPERS);
        // An error drops the threads started so far, which stops them.
        let mut threads = Self {
            heap: heap.clone(),
            worker: None,
            helpers: KVec::with_capacity(count as usize, GFP_KERNEL)?,
        };
        // Nice 19: zeroing yields to everything else.
        threads.worker = Some(KThread::run(
            c"rsystem_heap-zero",
            Policy::Normal(Nice::new(19)?),
            heap.clone(),
            worker::<H>,
            stop::<H>,
        )?);
        for _ in 0..count {
            // SCHED_IDLE: a helper takes only a CPU that nothing else wants,
            // never the one an allocating task wakes on.
            let helper = KThread::run(
                c"rsystem_heap-help",
                Policy::Idle,
                heap.clone(),
                helper::<H>,
                stop::<H>,
            )?;
            // Cannot fail: room was reserved above.
            let _ = threads.helpers.push_within_capacity(helper);
        }
        Ok(threads)
    }

    /// Stops the threads, each once it has pooled the block it was zeroing
    /// (they ask between two blocks), then frees the blocks still queued to
    /// the page allocator, unzeroed. Returns the pages so freed. The heap's
    /// queue stays stopped: threads started on it later exit at once.
    pub(crate) fn stop(&mut self) -> usize {
        // All threads at once, rather than one after another as each
        // handle drops.
        self.heap.zeroer().queue.stop();
        while let Some(helper) = self.helpers.pop() {
            drop(helper);
        }
        drop(self.worker.take());
        self.heap.zeroer().queue.free_all()
    }

    /// Returns the number of helper threads.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn helpers(&self) -> usize {
        self.helpers.len()
    }
}

impl<H: ZeroingParts> Drop for ZeroThreads<H> {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::super::testing::{
        block,
        wait_until, //
    };
    use super::*;
    use crate::kapi::kernel::new_mutex;
    use crate::kapi::kernel::sync::Mutex;
    use crate::kapi::kernel::time::Delta;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };
    use crate::kapi::pages::PageList;

    /// A pool of this test's own: every block put, without a cap; a put
    /// waits while `hold` is set.
    #[pin_data]
    struct TestPool {
        #[pin]
        blocks: Mutex<KVec<ZeroedBlock>>,
        pages: [Atomic<usize>; 3],
        /// Puts wait while set, so that the threads are in a known place.
        hold: Atomic<bool>,
        /// Puts that waited.
        held: Atomic<usize>,
    }

    impl ZeroedPool for TestPool {
        fn put(&self, block: ZeroedBlock) {
            if self.hold.load(Relaxed) {
                self.held.fetch_add(1, Relaxed);
                while self.hold.load(Relaxed) {
                    crate::kapi::kernel::time::delay::fsleep(Delta::from_millis(1));
                }
            }
            let Some(index) = ORDERS.iter().position(|&o| o == block.order()) else {
                return;
            };
            // Room is reserved; should it run out, the block is freed and
            // not counted.
            let pages = block.nr_pages();
            if self.blocks.lock().push_within_capacity(block).is_ok() {
                self.pages[index].fetch_add(pages, Relaxed);
            }
        }

        fn pages_of(&self, index: usize) -> usize {
            self.pages[index].load(Relaxed)
        }

        fn pooled(&self) -> usize {
            self.pages.iter().map(|p| p.load(Relaxed)).sum()
        }

        fn cap(&self) -> usize {
            usize::MAX / 2
        }
    }

    /// A heap's parts for the zeroing threads alone.
    #[pin_data]
    struct Parts {
        #[pin]
        pool: TestPool,
        #[pin]
        queue: FreeQueue,
        stats: Stats,
        state: ZeroingState,
    }

    impl ZeroingParts for Parts {
        fn zeroer(&self) -> Zeroer<'_> {
            Zeroer {
                pools: &self.pool,
                charged: &(),
                queue: &self.queue,
                stats: &self.stats,
                state: &self.state,
            }
        }
    }

    /// Parts with room for `blocks` pooled blocks; puts wait if `hold`.
    fn parts(blocks: usize, hold: bool) -> Result<Arc<Parts>> {
        let room = KVec::with_capacity(blocks, GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Parts {
                pool <- pin_init!(TestPool {
                    blocks <- new_mutex!(room),
                    pages: [const { Atomic::new(0) }; 3],
                    hold: Atomic::new(hold),
                    held: Atomic::new(0),
                }),
                queue <- FreeQueue::new(),
                stats: Stats::new(),
                state: ZeroingState::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// Queues `count` dirty blocks of order index `index` and wakes the
    /// worker; returns their pages.
    fn queue_dirty(parts: &Parts, index: usize, count: usize) -> Result<usize> {
        let mut list = PageList::new();
        for _ in 0..count {
            let mut b = block(index)?;
            b.fill(0x3c);
            list.push(b);
        }
        let pages = list.pages();
        parts.queue.append(&mut list, pages);
        parts.queue.wake_worker();
        Ok(pages)
    }

    /// Returns whether every block in `parts`' pool is zero.
    fn pool_is_zero(parts: &Parts) -> bool {
        parts.pool.blocks.lock().iter().all(|b| b.is_zero())
    }

    fn helpers_zero_a_large_backlog_with_the_worker() -> Result {
        let parts = parts(32, false)?;
        let mut threads = ZeroThreads::start(parts.clone())?;
        let helpers = threads.helpers();
        // 32 dirty 1 MiB blocks: four times the helpers' threshold.
        let pages = queue_dirty(&parts, 0, 32)?;
        let done = wait_until(1000, || parts.pool.pooled() == pages);
        let freed = threads.stop();
        assert!(done);
        assert_eq!(freed, 0);
        assert_eq!(parts.queue.queued(), 0);
        assert_eq!(parts.pool.pooled(), pages);
        assert!(pool_is_zero(&parts));
        // With a second CPU the helper took part.
        if helpers > 0 {
            assert!(parts.stats.helped_pages.load(Relaxed) > 0);
        }
        Ok(())
    }

    /// Stopping the threads in the middle of a backlog returns once each
    /// has pooled the block it was zeroing, not once the whole backlog is:
    /// the blocks left queued are freed unzeroed, and every page is either
    /// pooled (and zero) or freed. Counted in blocks, not in time: the
    /// pool holds every thread that zeroed a block at its put until the
    /// stop is asked, so at most one block per thread is zeroed.
    fn stopping_amid_a_backlog_zeroes_no_more_than_a_block_per_thread() -> Result {
        const BLOCKS: usize = 64;
        let parts = parts(BLOCKS, true)?;
        let mut threads = ZeroThreads::start(parts.clone())?;
        let nr_threads = 1 + threads.helpers();
        let pages = queue_dirty(&parts, 0, BLOCKS)?;
        // A thread has zeroed its first block and waits to pool it.
        let at_work = wait_until(1000, || parts.pool.held.load(Relaxed) > 0);
        // What `threads.stop()` asks first; then the puts may go on.
        parts.queue.stop();
        parts.pool.hold.store(false, Relaxed);
        let freed = threads.stop();
        let zeroed = parts.pool.blocks.lock().len();
        assert!(at_work);
        assert!(zeroed >= 1);
        assert!(zeroed <= nr_threads);
        // Nothing leaked: each page pooled or given back, none in flight.
        assert_eq!(parts.queue.queued(), 0);
        assert_eq!(parts.state.busy(), 0);
        assert_eq!(parts.pool.pooled() + freed, pages);
        assert!(pool_is_zero(&parts));
        Ok(())
    }

    kunit_suite!(
        rsystem_heap_zeroing,
        [
            helpers_zero_a_large_backlog_with_the_worker,
            stopping_amid_a_backlog_zeroes_no_more_than_a_block_per_thread
        ]
    );
}
