// SPDX-License-Identifier: GPL-2.0

//! The heap's page pools, deferred-free queue and shrinker.
//!
//! Every page in a pool is zero. Allocation takes from the pool of the order
//! it wants, else from the buddy allocator with `__GFP_ZERO`. A released
//! buffer's blocks are spliced onto the free queue in O(1); the worker
//! thread ([`Heap::zero_one`]) zeroes them one block at a time, newest
//! first, and returns them to their pool, or to the buddy allocator when the
//! pool is full. The shrinker frees pooled pages first, then queued blocks
//! without zeroing.
//!
//! While the heap is in use the worker looks at the queue every
//! [`POLL_MS`], and only after [`PARK_AFTER_POLLS`] empty looks does it
//! sleep until woken (it is then *parked*, and the next release arms a
//! [`KICK_MS`] timer that wakes it). A release never wakes the worker
//! itself: a release into a heap in use costs neither a wake-up nor a
//! timer, one into an idle heap costs a timer, and an idle heap costs no
//! wake-ups. The worker is woken at once by an allocation that finds the
//! pool of 1 MiB blocks empty while blocks are queued (after a burst of
//! releases): that allocation zeroes what it takes, and the worker zeroes
//! beside it.
//!
//! When the backlog grows past [`HELP_PAGES`], the thread wakes helper
//! threads (one per further CPU, at most [`MAX_HELPERS`], `SCHED_IDLE`)
//! that zero queued blocks alongside it until the queue is empty.
//!
//! When allocations outrun the threads (the pool of an order is empty), an
//! allocation takes the block at the head of the free queue if it has the
//! order it wants and zeroes it itself: that costs what `__GFP_ZERO` would,
//! and it takes the block off the thread's backlog instead of making a
//! fresh page to zero while the thread zeroes a stale one. For each 1 MiB
//! block so taken, the worker, once the queue is empty, pools a fresh one
//! (within the pool cap): the pools grow by what allocations found
//! missing, as if those had come from the buddy allocator, but zeroed off
//! the allocation path.
//!
//! Both locks are spinlocks held for a list operation only: nothing sleeps,
//! allocates or zeroes under them, and the shrinker never waits on a lock
//! the allocation path sleeps under.
//!
//! Pooled and queued pages count as reclaimable kernel memory
//! (`KReclaimable`, and so `MemAvailable`). Idle pools decay: when neither an
//! allocation nor a release happened for `pool_idle_ms`, a work item frees
//! pooled blocks down to `pool_low_mb` (largest order first, so it may end
//! up to one block below). Idleness is checked at that period, so the decay
//! comes between one and two idle periods after the last use.
//!
//! With the dma-heap core's `mem_accounting` on, pages are charged to the
//! allocating memory cgroup: such buffers bypass the pools both ways, so a
//! page charged to one cgroup never serves another.

use core::fmt;

use kernel::new_condvar;
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::atomic::{
    Acquire,
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
use crate::kapi::task::{
    KThread,
    Policy, //
};
use crate::orders::ORDERS;

/// While the heap is in use, the worker looks for releases this
/// often (milliseconds)...
const POLL_MS: u32 = 5;
/// ...until this many looks in a row found nothing (about 100 ms).
const PARK_AFTER_POLLS: u32 = 20;
/// A release wakes a parked worker this many milliseconds later.
const KICK_MS: u32 = 5;
/// A backlog of this many pages (8 MiB) or more wakes the helper threads.
const HELP_PAGES: usize = 2048;
/// At most this many helper threads zero alongside the worker thread.
const MAX_HELPERS: u32 = 3;
/// After 4 KiB allocations found their pool empty, the worker tops it up to
/// this many pages (64 KiB) with fresh zeroed pages. It looks at the queue
/// only every [`POLL_MS`] (two ticks at 250 Hz), so a steady trickle of
/// small buffers outruns it: at one 4 KiB allocation and release every
/// 2 ms, two allocations in three found the pool empty and zeroed a queued
/// page themselves, as C zeroes every page.
const SMALL_RESERVE_PAGES: usize = 16;
/// The index in [`ORDERS`] of 4 KiB blocks.
const SMALL: usize = ORDERS.len() - 1;
/// The index in [`ORDERS`] of 1 MiB blocks: an allocation that finds their
/// pool empty while blocks are queued wakes the worker, and one it takes
/// from the queue is replaced ([`Heap::replace_owed_blocks`]).
const LARGE: usize = 0;

/// One pool per order of [`ORDERS`] (8, 4 and 0).
#[pin_data]
pub(crate) struct Pools {
    #[pin]
    order8: ReclaimableList,
    #[pin]
    order4: ReclaimableList,
    #[pin]
    order0: ReclaimableList,
}

impl Pools {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            order8 <- ReclaimableList::new(),
            order4 <- ReclaimableList::new(),
            order0 <- ReclaimableList::new(),
        })
    }

    /// Returns the pool of order index `index` (an index into [`ORDERS`]).
    fn list(self: Pin<&mut Self>, index: usize) -> Pin<&mut ReclaimableList> {
        let pools = self.project();
        match index {
            0 => pools.order8,
            1 => pools.order4,
            _ => pools.order0,
        }
    }
}

/// The blocks waiting to be zeroed.
#[pin_data]
pub(crate) struct FreeQueue {
    #[pin]
    blocks: ReclaimableList,
    /// The worker is asked to exit.
    stopping: bool,
    /// The worker sleeps until woken: a release must wake it.
    parked: bool,
}

/// The shared state of the heap.
#[pin_data]
pub(crate) struct Heap {
    #[pin]
    pools: SpinLock<Pools>,
    #[pin]
    queue: SpinLock<FreeQueue>,
    #[pin]
    queue_work: CondVar,
    /// Wakes the helper threads when the backlog reaches [`HELP_PAGES`].
    #[pin]
    help_work: CondVar,
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
    /// The decay work is pending (or about to be).
    decay_armed: Atomic<bool>,
    decayed_pages: Atomic<usize>,
    /// Pages zeroed by the helper threads.
    helped_pages: Atomic<usize>,
    /// 1 MiB pool misses with blocks queued: each wakes the worker if it
    /// sleeps.
    miss_wakeups: Atomic<usize>,
    /// Releases that armed the kick of a parked worker.
    kicks: Atomic<usize>,
    /// Blocks the threads have taken off the queue and not yet pooled, plus
    /// one while the worker replaces owed blocks.
    zeroing: Atomic<usize>,
    /// A 4 KiB allocation found its pool empty since the worker last
    /// topped it up.
    small_missed: Atomic<bool>,
    /// Fresh pages the worker put in the 4 KiB pool as its reserve.
    reserve_pages: Atomic<usize>,
    /// 1 MiB blocks that allocations took from the free queue and that the
    /// worker has not yet replaced with fresh ones.
    owed_blocks: Atomic<usize>,
    /// Fresh pages the worker put in the 1 MiB pool for those blocks.
    replaced_pages: Atomic<usize>,
    /// The largest number of pages the pools may hold, from `pool_max_mb`.
    cap_pages: fn() -> usize,
    /// Figures for debugfs and the shrinker's count.
    pooled_pages: [Atomic<usize>; 3],
    queued_pages: Atomic<usize>,
    from_pool: Atomic<usize>,
    from_queue: Atomic<usize>,
    pub(crate) from_buddy: Atomic<usize>,
    shrunk_pages: Atomic<usize>,
}

impl Heap {
    /// Creates the pools and queue; `cap_pages` gives the current pool cap.
    pub(crate) fn new(cap_pages: fn() -> usize) -> impl PinInit<Self> {
        pin_init!(Self {
            pools <- new_spinlock!(Pools::new()),
            queue <- new_spinlock!(pin_init!(FreeQueue {
                blocks <- ReclaimableList::new(),
                stopping: false,
                parked: false,
            })),
            queue_work <- new_condvar!(),
            help_work <- new_condvar!(),
            kick <- new_delayed_work!("rsystem_heap::kick"),
            decay <- new_delayed_work!("rsystem_heap::decay"),
            uses: Atomic::new(0),
            decay_armed: Atomic::new(false),
            uses_at_last_decay_check: Atomic::new(0),
            decayed_pages: Atomic::new(0),
            helped_pages: Atomic::new(0),
            miss_wakeups: Atomic::new(0),
            kicks: Atomic::new(0),
            zeroing: Atomic::new(0),
            small_missed: Atomic::new(false),
            reserve_pages: Atomic::new(0),
            owed_blocks: Atomic::new(0),
            replaced_pages: Atomic::new(0),
            cap_pages,
            pooled_pages: [const { Atomic::new(0) }; 3],
            queued_pages: Atomic::new(0),
            from_pool: Atomic::new(0),
            from_queue: Atomic::new(0),
            from_buddy: Atomic::new(0),
            shrunk_pages: Atomic::new(0),
        })
    }

    /// Returns a zeroed block of order index `index`: pooled when the pool
    /// has one (and `account` is off), else the head of the free queue zeroed
    /// here if it has that order, else fresh from the buddy allocator.
    ///
    /// A 1 MiB miss with blocks queued wakes the worker, so that it zeroes
    /// beside this allocation: the wake-up costs little next to the 1 MiB
    /// that this allocation zeroes. Such a block taken from the queue is
    /// owed to the pool: the worker replaces it
    /// ([`Heap::replace_owed_blocks`]).
    pub(crate) fn take(&self, index: usize, account: bool) -> Option<PageBlock> {
        self.uses.fetch_add(1, Relaxed);
        if !account {
            if let Some(block) = self.pop_pooled_of(index) {
                self.from_pool.fetch_add(1, Relaxed);
                return Some(block);
            }
            if index == SMALL {
                arm(&self.small_missed);
            } else if index == LARGE && self.queued() > 0 {
                self.miss_wakeups.fetch_add(1, Relaxed);
                self.queue_work.notify_one();
            }
            if let Some(mut block) = self.pop_queued_of_order(ORDERS[index]) {
                if index == LARGE {
                    self.owed_blocks.fetch_add(1, Relaxed);
                }
                block.zero();
                self.from_queue.fetch_add(1, Relaxed);
                return Some(block);
            }
        }
        let block = PageBlock::alloc_zeroed(ORDERS[index], account)?;
        self.from_buddy.fetch_add(1, Relaxed);
        Some(block)
    }

    /// Puts a zero block into its pool, or frees it if the pool is full.
    pub(crate) fn put_zeroed(&self, block: PageBlock) {
        let Some(index) = ORDERS.iter().position(|&o| o == block.order()) else {
            return;
        };
        // Checked and added under the pools' lock, so concurrent puts
        // cannot overshoot the cap. Takers subtract after their pop, so the
        // figure is never below what the pools hold.
        let mut pools = self.pools.lock();
        let pooled: usize = self.pooled_pages.iter().map(|p| p.load(Relaxed)).sum();
        if pooled + block.nr_pages() > (self.cap_pages)() {
            return;
        }
        #[cfg(CONFIG_KUNIT = "y")]
        tests::between_cap_check_and_add();
        self.pooled_pages[index].fetch_add(block.nr_pages(), Relaxed);
        pools.as_mut().list(index).push(block);
    }

    /// Gives back blocks that never left the heap (still zero).
    pub(crate) fn put_all_zeroed(&self, mut blocks: Pin<&mut PageList>) {
        while let Some(block) = blocks.as_mut().pop() {
            self.put_zeroed(block);
        }
    }

    /// Queues a released buffer's blocks for zeroing, in O(1). Arms the
    /// kick when the worker is parked; else the worker finds the blocks
    /// within [`POLL_MS`], or an allocation that misses its pool wakes it
    /// ([`Heap::take`]). Waking a thread on another CPU costs an
    /// inter-processor interrupt on the releasing path, and arming a timer
    /// costs about as much under emulation: a release into a heap in use
    /// does neither. The kick gathers the small releases that follow an
    /// idle period, so the worker does not zero beside a burst of them.
    ///
    /// Under emulation on a 2-CPU host, 2 to 8 in 60 to 100 releases of
    /// 8 MiB that woke the worker stalled, most for 5 to 11 ms: with the
    /// worker zeroing on the second vCPU, the host has no CPU left for its
    /// own tasks, which preempt one of the vCPUs for a host time slice.
    ///
    /// The decay work is armed through a flag that the work clears when it
    /// runs: a release that finds it armed costs a load, not the
    /// workqueue's interrupt-disabled pending test.
    pub(crate) fn defer_free(heap: &Arc<Heap>, blocks: Pin<&mut PageList>) {
        let pages = blocks.pages();
        if pages == 0 {
            return;
        }
        let parked = {
            let mut guard = heap.queue.lock();
            let queue = guard.as_mut().project();
            queue.blocks.append(blocks);
            heap.queued_pages.fetch_add(pages, Relaxed);
            // Read and cleared under the lock the worker parks under: a
            // worker that parked before this append is woken, one that
            // would park after it sees the blocks first. Cleared, so later
            // releases do not arm the kick again before it runs.
            core::mem::take(queue.parked)
        };
        heap.uses.fetch_add(1, Full);
        heap.arm_decay();
        if parked {
            heap.kicks.fetch_add(1, Relaxed);
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
            let Some(block) = self.pop_pooled() else {
                break;
            };
            freed += block.nr_pages();
        }
        self.decayed_pages.fetch_add(freed, Relaxed);
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
            if self.pooled_pages[SMALL].load(Relaxed) >= SMALL_RESERVE_PAGES
                || self.pooled() >= (self.cap_pages)()
            {
                return;
            }
            let Some(block) = PageBlock::alloc_zeroed_nowait(ORDERS[SMALL]) else {
                return;
            };
            self.reserve_pages.fetch_add(block.nr_pages(), Relaxed);
            self.put_zeroed(block);
        }
    }

    /// Pools a fresh 1 MiB block for each one that allocations took from
    /// the free queue, while the queue stays empty (a release comes first;
    /// the rest is replaced on the next run), within the pool cap, and only
    /// while that needs no direct reclaim. Debts that the cap or a failed
    /// allocation leave are dropped: the pool holds what it can.
    ///
    /// Without it, a churn that outruns the threads keeps its pool short:
    /// each miss served from the queue leaves the heap's pages as many as
    /// before, so the next round misses too. Served from the buddy
    /// allocator, each miss would have added a page to zero on the
    /// allocation path; replaced here, it is zeroed by the worker.
    fn replace_owed_blocks(&self) {
        let pages = 1 << ORDERS[LARGE];
        // Counted as zeroing from before the debts are taken until the last
        // block is pooled: who reads the debts and then `zeroing_blocks` as
        // 0 saw the worker idle.
        self.zeroing.fetch_add(1, Full);
        let mut owed = self.owed_blocks.xchg(0, Full);
        while owed > 0 && self.queued() == 0 {
            let fits = self.pooled() + pages <= (self.cap_pages)();
            let Some(block) = fits
                .then(|| PageBlock::alloc_zeroed_nowait(ORDERS[LARGE]))
                .flatten()
            else {
                owed = 0;
                break;
            };
            owed -= 1;
            self.replaced_pages.fetch_add(pages, Relaxed);
            self.put_zeroed(block);
        }
        self.owed_blocks.fetch_add(owed, Relaxed);
        self.zeroing.fetch_sub(1, Full);
    }

    /// Takes the block that `pop` takes off the queue, under the queue's
    /// lock, and uncounts it after the lock is dropped.
    fn pop_queued(
        &self,
        pop: impl FnOnce(Pin<&mut ReclaimableList>) -> Option<PageBlock>,
    ) -> Option<PageBlock> {
        let block = pop(self.queue.lock().as_mut().project().blocks)?;
        self.queued_pages.fetch_sub(block.nr_pages(), Relaxed);
        Some(block)
    }

    /// Takes the queued block at the head if it has order `order`. An empty
    /// queue is not locked: its figure is raised under the lock right after
    /// an append, so 0 means empty (or an append under way, whose blocks
    /// the worker zeroes).
    fn pop_queued_of_order(&self, order: u32) -> Option<PageBlock> {
        if self.queued() == 0 {
            return None;
        }
        self.pop_queued(|blocks| {
            if blocks.head_order() != Some(order) {
                return None;
            }
            blocks.pop()
        })
    }

    /// A zeroing thread's step: zeroes the newest queued block and pools
    /// it. Returns its number of pages, or `None` when the queue is empty.
    ///
    /// Newest first: the latest releases are the sizes the workload of the
    /// moment recycles, and a backlog that an earlier workload left (say
    /// 150 MiB of 1 MiB blocks after a churn of 32 MiB buffers) waits behind
    /// them instead of starving their pools. Allocations take from the other
    /// end ([`Heap::take`]), so the two do not contend for one block.
    pub(crate) fn zero_one(&self) -> Option<usize> {
        // Counted before the pop and until the block is pooled: who reads
        // `queued_pages` and then `zeroing_blocks` as 0 saw no block in
        // between.
        self.zeroing.fetch_add(1, Full);
        let pages = self.pop_queued(ReclaimableList::pop_last).map(|mut block| {
            let pages = block.nr_pages();
            block.zero();
            self.put_zeroed(block);
            pages
        });
        self.zeroing.fetch_sub(1, Full);
        pages
    }

    /// The deferred-free thread: zeroes queued blocks until asked to stop,
    /// waking the helpers while the backlog is at least [`HELP_PAGES`].
    /// When the queue is empty it tops up the pools, looks again every
    /// [`POLL_MS`], and parks after [`PARK_AFTER_POLLS`] empty looks.
    pub(crate) fn worker(&self) {
        loop {
            loop {
                if self.queued() >= HELP_PAGES {
                    self.help_work.notify_all();
                }
                if self.zero_one().is_none() {
                    break;
                }
            }
            self.top_up_small_pool();
            self.replace_owed_blocks();
            let mut queue = self.queue.lock();
            let mut polls = 0;
            while !queue.stopping && queue.blocks.len() == 0 {
                // A kernel thread gets no signals, so the waits' results
                // say nothing; a wake-up without blocks counts as a look.
                if polls < PARK_AFTER_POLLS {
                    polls += 1;
                    let poll = msecs_to_jiffies(POLL_MS);
                    let _ = self.queue_work.wait_interruptible_timeout(&mut queue, poll);
                } else {
                    *queue.as_mut().project().parked = true;
                    // Freezable: the thread does not hold up suspend for
                    // longer than its looks take.
                    let _ = self.queue_work.wait_interruptible_freezable(&mut queue);
                }
            }
            *queue.as_mut().project().parked = false;
            if queue.stopping {
                return;
            }
        }
    }

    /// A helper thread: once woken by the worker, zeroes queued blocks
    /// until the queue is empty, then sleeps until the next large backlog.
    pub(crate) fn helper(&self) {
        loop {
            while let Some(pages) = self.zero_one() {
                self.helped_pages.fetch_add(pages, Relaxed);
            }
            let mut queue = self.queue.lock();
            // `queued_pages` grows under this lock, so a backlog that the
            // worker saw cannot be missed between the check and the sleep.
            while !queue.stopping && self.queued() < HELP_PAGES {
                let _ = self.help_work.wait_interruptible_freezable(&mut queue);
            }
            if queue.stopping {
                return;
            }
        }
    }

    /// Asks the worker and the helpers to exit (before they are stopped).
    pub(crate) fn stop_worker(&self) {
        *self.queue.lock().as_mut().project().stopping = true;
        self.queue_work.notify_all();
        self.help_work.notify_all();
    }

    /// Pops a block from the pool of order index `index`. An empty pool is
    /// not locked: its figure is raised before a push and lowered after a
    /// pop, so 0 means empty (or a push under way).
    fn pop_pooled_of(&self, index: usize) -> Option<PageBlock> {
        if self.pooled_pages[index].load(Relaxed) == 0 {
            return None;
        }
        let block = self.pools.lock().as_mut().list(index).pop()?;
        self.pooled_pages[index].fetch_sub(block.nr_pages(), Relaxed);
        Some(block)
    }

    /// Pops one pooled block, largest order first.
    fn pop_pooled(&self) -> Option<PageBlock> {
        (0..ORDERS.len()).find_map(|index| self.pop_pooled_of(index))
    }

    /// Returns the pages in the pools.
    pub(crate) fn pooled(&self) -> usize {
        self.pooled_pages.iter().map(|p| p.load(Relaxed)).sum()
    }

    /// Returns the pages waiting in the free queue.
    pub(crate) fn queued(&self) -> usize {
        self.queued_pages.load(Relaxed)
    }

    /// Writes the debugfs figures.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, order) in ORDERS.iter().enumerate() {
            let pages = self.pooled_pages[index].load(Relaxed);
            writeln!(f, "pool_pages_order{order}: {pages}")?;
        }
        writeln!(f, "queued_pages: {}", self.queued())?;
        writeln!(f, "zeroing_blocks: {}", self.zeroing.load(Acquire))?;
        writeln!(f, "alloc_from_pool: {}", self.from_pool.load(Relaxed))?;
        writeln!(f, "alloc_from_queue: {}", self.from_queue.load(Relaxed))?;
        writeln!(f, "alloc_from_buddy: {}", self.from_buddy.load(Relaxed))?;
        writeln!(f, "decayed_pages: {}", self.decayed_pages.load(Relaxed))?;
        writeln!(
            f,
            "helper_zeroed_pages: {}",
            self.helped_pages.load(Relaxed)
        )?;
        writeln!(f, "miss_wakeups: {}", self.miss_wakeups.load(Relaxed))?;
        writeln!(f, "release_kicks: {}", self.kicks.load(Relaxed))?;
        writeln!(
            f,
            "small_reserve_pages: {}",
            self.reserve_pages.load(Relaxed)
        )?;
        writeln!(f, "owed_blocks: {}", self.owed_blocks.load(Relaxed))?;
        writeln!(f, "replaced_pages: {}", self.replaced_pages.load(Relaxed))?;
        writeln!(
            f,
            "shrinker_freed_pages: {}",
            self.shrunk_pages.load(Relaxed)
        )
    }
}

/// The deferred-free thread and its helpers, asked to exit before they are
/// stopped.
pub(crate) struct ZeroThreads {
    heap: Arc<Heap>,
    /// Stopped when the fields drop, after `Drop` has asked it to exit.
    _worker: KThread<Heap>,
    helpers: KVec<KThread<Heap>>,
}

impl ZeroThreads {
    pub(crate) fn start(heap: Arc<Heap>) -> Result<Self> {
        // By default one helper per further CPU: a backlog is zeroed on
        // every CPU that has nothing better to do.
        let count = match u32::try_from(crate::kapi::params::system_heap_zero_helpers()) {
            Ok(n) => n,
            Err(_) => kernel::cpu::nr_cpu_ids().saturating_sub(1),
        }
        .min(MAX_HELPERS);
        // Room first: a started thread must not be dropped unasked, so
        // nothing may fail between a start and `Self`, whose drop asks.
        let helpers = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        // Nice 19: zeroing yields to everything else.
        let thread = KThread::run(
            c"rsystem_heap-zero",
            Policy::Normal(19),
            heap.clone(),
            Heap::worker,
        )?;
        let mut threads = Self {
            heap: heap.clone(),
            _worker: thread,
            helpers,
        };
        for _ in 0..count {
            // SCHED_IDLE: a helper takes only a CPU that nothing else wants,
            // never the one an allocating task wakes on.
            let helper = KThread::run(
                c"rsystem_heap-help",
                Policy::Idle,
                heap.clone(),
                Heap::helper,
            )?;
            // Cannot fail: room was reserved above.
            let _ = threads.helpers.push_within_capacity(helper);
        }
        Ok(threads)
    }
}

impl Drop for ZeroThreads {
    /// Asks the threads to exit; dropping the fields then stops them.
    fn drop(&mut self) {
        self.heap.stop_worker();
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
        heap.queue_work.notify_one();
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
            let Some(block) = self.pop_pooled() else {
                break;
            };
            freed += block.nr_pages();
        }
        // Then queued blocks, freed without zeroing.
        while freed < nr_to_scan {
            let Some(block) = self.pop_queued(ReclaimableList::pop) else {
                break;
            };
            freed += block.nr_pages();
        }
        self.shrunk_pages.fetch_add(freed, Relaxed);
        freed
    }
}

#[kunit_tests(rsystem_heap_pool)]
mod tests {
    use super::*;
    use kernel::sync::Arc;
    use kernel::time::Delta;

    // Helpers return `Result` and leave asserting to the tests, whose
    // `assert!` reports to KUnit instead of panicking.

    /// A pool cap of 300 pages: one 1 MiB block plus a few more.
    fn cap_300() -> usize {
        300
    }

    fn heap() -> Result<Arc<Heap>> {
        Arc::pin_init(Heap::new(cap_300), GFP_KERNEL)
    }

    /// A fresh zeroed block of order index `index`.
    fn block(index: usize) -> Result<PageBlock> {
        PageBlock::alloc_zeroed(ORDERS[index], false).ok_or(ENOMEM)
    }

    /// Queues `blocks` through a released-buffer list, as release does.
    fn queue(heap: &Arc<Heap>, blocks: impl IntoIterator<Item = PageBlock>) -> Result {
        let mut list = KBox::pin_init(PageList::new(), GFP_KERNEL)?;
        for b in blocks {
            list.as_mut().push(b);
        }
        Heap::defer_free(heap, list.as_mut());
        Ok(())
    }

    #[test]
    fn pools_are_per_order_and_served_first() -> Result {
        let heap = heap()?;
        heap.put_zeroed(block(1)?);
        heap.put_zeroed(block(2)?);
        heap.put_zeroed(block(2)?);
        assert_eq!(heap.pooled_pages[0].load(Relaxed), 0);
        assert_eq!(heap.pooled_pages[1].load(Relaxed), 16);
        assert_eq!(heap.pooled_pages[2].load(Relaxed), 2);
        // Taking order 0 twice empties its pool; the third comes from buddy.
        for _ in 0..3 {
            let b = heap.take(2, false).ok_or(ENOMEM)?;
            assert_eq!(b.order(), 0);
        }
        assert_eq!(heap.from_pool.load(Relaxed), 2);
        assert_eq!(heap.from_buddy.load(Relaxed), 1);
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
        assert_eq!(heap.pooled_pages[2].load(Relaxed), SMALL_RESERVE_PAGES);
        assert_eq!(heap.reserve_pages.load(Relaxed), SMALL_RESERVE_PAGES);
        // The next ones are served from the reserve, zero, without a miss.
        for _ in 0..4 {
            let b = heap.take(2, false).ok_or(ENOMEM)?;
            assert!(b.is_zero());
        }
        assert_eq!(heap.from_pool.load(Relaxed), 4);
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
        assert_eq!(heap.reserve_pages.load(Relaxed), 8);
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
        assert_eq!(heap.from_buddy.load(Relaxed), 1);
        // Order 4 is: taken off the queue, zeroed.
        let b = heap.take(1, false).ok_or(ENOMEM)?;
        assert!(b.is_zero());
        assert_eq!(heap.from_queue.load(Relaxed), 1);
        assert_eq!(heap.queued(), 1);
        Ok(())
    }

    #[test]
    fn pool_cap_is_honoured() -> Result {
        let heap = heap()?;
        heap.put_zeroed(block(0)?); // 256 pages
        heap.put_zeroed(block(1)?); // 272
        heap.put_zeroed(block(1)?); // 288
        heap.put_zeroed(block(1)?); // would be 304 > 300: freed instead
        for _ in 0..12 {
            heap.put_zeroed(block(2)?); // up to 300, then freed
        }
        assert_eq!(heap.pooled(), 300);
        assert_eq!(heap.pooled_pages[1].load(Relaxed), 32);
        Ok(())
    }

    /// Frees every pooled block; returns whether all were zero.
    fn empty_pools_were_zero(heap: &Heap) -> bool {
        let mut all_zero = true;
        while let Some(b) = heap.pop_pooled() {
            all_zero &= b.is_zero();
        }
        all_zero
    }

    /// Sleeps in 10 ms steps until `done()` or `steps` have passed; returns
    /// `done()`.
    fn wait_until(steps: u32, done: impl Fn() -> bool) -> bool {
        for _ in 0..steps {
            if done() {
                return true;
            }
            kernel::time::delay::fsleep(Delta::from_millis(10));
        }
        done()
    }

    /// Pages over the cap seen by [`put_and_take_at_the_cap`], and how many
    /// of its threads are done.
    static OVER_THE_CAP: Atomic<usize> = Atomic::new(0);
    static THREADS_DONE: Atomic<usize> = Atomic::new(0);
    /// Widens the window between the cap check and the add while set.
    static WIDEN_CAP_WINDOW: Atomic<bool> = Atomic::new(false);

    /// Called by `put_zeroed` between its cap check and its add: spins
    /// 20 µs while the concurrency test runs, so that two puts that are not
    /// serialised would both pass the check.
    pub(super) fn between_cap_check_and_add() {
        if WIDEN_CAP_WINDOW.load(Relaxed) {
            kernel::time::delay::udelay(Delta::from_micros(20));
        }
    }

    /// A thread's work: 2000 times, pools a fresh page into pools at or
    /// next to their cap, notes whether they then hold more than the cap,
    /// and takes a page back.
    fn put_and_take_at_the_cap(heap: &Heap) {
        for _ in 0..2000 {
            let Some(b) = PageBlock::alloc_zeroed(ORDERS[2], false) else {
                break;
            };
            heap.put_zeroed(b);
            let over = heap.pooled().saturating_sub(cap_300());
            OVER_THE_CAP.fetch_add(over, Relaxed);
            drop(heap.take(2, false));
        }
        THREADS_DONE.fetch_add(1, Relaxed);
    }

    #[test]
    fn pool_cap_holds_under_concurrent_puts() -> Result {
        let heap = heap()?;
        for _ in 0..cap_300() - 1 {
            heap.put_zeroed(block(2)?);
        }
        OVER_THE_CAP.store(0, Relaxed);
        THREADS_DONE.store(0, Relaxed);
        WIDEN_CAP_WINDOW.store(true, Relaxed);
        // Two puts that race for the last page: checked and added under the
        // pools' lock, only one gets it.
        let mut threads = KVec::new();
        for _ in 0..2 {
            let run = put_and_take_at_the_cap;
            let thread = KThread::run(c"rsystem_heap-kunit", Policy::Normal(0), heap.clone(), run)?;
            threads.push(thread, GFP_KERNEL)?;
        }
        // Dropping a thread that has not started yet would stop it unrun.
        wait_until(3000, || THREADS_DONE.load(Relaxed) == 2);
        drop(threads);
        WIDEN_CAP_WINDOW.store(false, Relaxed);
        assert_eq!(THREADS_DONE.load(Relaxed), 2);
        assert_eq!(OVER_THE_CAP.load(Relaxed), 0);
        assert!(heap.pooled() <= cap_300());
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
        assert_eq!(heap.shrunk_pages.load(Relaxed), 35);
        Ok(())
    }

    /// A cap of 32 MiB.
    fn cap_32m() -> usize {
        8192
    }

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
            assert!(heap.helped_pages.load(Relaxed) > 0);
        }
        Ok(())
    }

    #[test]
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
        let parked = wait_until(1000, || heap.queue.lock().parked);
        let kicks = heap.kicks.load(Relaxed);
        queue(&heap, [dirty()?])?;
        assert_eq!(heap.kicks.load(Relaxed), kicks + 1);
        wait_until(1000, || heap.pooled() == 2);
        drop(threads);
        assert!(parked);
        assert_eq!(heap.queued(), 0);
        assert_eq!(heap.pooled(), 2);
        assert!(empty_pools_were_zero(&heap));
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
        let counts = || (heap.miss_wakeups.load(Relaxed), heap.kicks.load(Relaxed));
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
        assert_eq!(heap.from_queue.load(Relaxed), 1);
        assert_eq!(counts(), (1, 0));
        while heap.zero_one().is_some() {}
        *heap.queue.lock().as_mut().project().parked = true;
        queue(&heap, [block(0)?])?;
        assert_eq!(counts(), (1, 1));
        assert!(!heap.queue.lock().parked);
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
        assert_eq!(heap.from_queue.load(Relaxed), 3);
        assert_eq!(heap.owed_blocks.load(Relaxed), 2);
        // A release comes first: nothing is replaced while it is queued.
        queue(&heap, [dirty(2)?])?;
        heap.replace_owed_blocks();
        assert_eq!((heap.pooled(), heap.owed_blocks.load(Relaxed)), (0, 2));
        assert_eq!(heap.zero_one(), Some(1));
        heap.replace_owed_blocks();
        assert_eq!(heap.owed_blocks.load(Relaxed), 0);
        assert_eq!(heap.pooled_pages[0].load(Relaxed), 2 * 256);
        assert_eq!(heap.replaced_pages.load(Relaxed), 2 * 256);
        assert_eq!(heap.zeroing.load(Relaxed), 0);
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
        assert_eq!(heap.from_pool.load(Relaxed), 2);
        Ok(())
    }
}
