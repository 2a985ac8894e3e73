// SPDX-License-Identifier: GPL-2.0

//! The per-order pools of zeroed blocks.
//!
//! One list per order of [`ORDERS`] (8, 4 and 0) under one spinlock, held
//! for a list operation only. Every pooled block is a [`ZeroedBlock`],
//! which only zeroing makes ([`super::zeroing`]). The pools never
//! hold more than the cap (`pool_max_mb`): a put checks and adds under the
//! lock, so concurrent puts cannot overshoot it.
//!
//! Each pool's page figure is raised under the lock before its push and
//! lowered after a pop, so it is never below what the pool holds, and a
//! figure of 0 means the pool is empty (or a push is under way): taking
//! from an empty pool costs a load, not the lock.

use crate::kapi::kernel::new_spinlock;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};
use crate::kapi::kernel::sync::SpinLock;

use super::zeroing::{
    ZeroedBlock,
    ZeroedList,
    ZeroedPool, //
};
use crate::orders::ORDERS;

/// The lists, one per order of [`ORDERS`]: plain values (the lists are
/// movable), so the lock needs no pinned data.
struct Lists {
    order8: ZeroedList,
    order4: ZeroedList,
    order0: ZeroedList,
}

impl Lists {
    /// Returns the list of order index `index` (an index into [`ORDERS`]).
    fn list(&mut self, index: usize) -> &mut ZeroedList {
        match index {
            0 => &mut self.order8,
            1 => &mut self.order4,
            _ => &mut self.order0,
        }
    }
}

/// The pools of zeroed blocks, one per order, within a cap.
#[pin_data]
pub(crate) struct Pools {
    #[pin]
    lists: SpinLock<Lists>,
    /// Pages in each pool (see the module documentation).
    pages: [Atomic<usize>; 3],
    /// The cap.
    cap: Cap,
}

/// The pools' cap. A struct of its own, so that [`Pools::new`]'s
/// `pin_init!` has no field under `#[cfg]` (which Linux 6.12's does not
/// take).
struct Cap {
    /// The largest number of pages the pools may hold, read at each put so
    /// that `pool_max_mb` can change at runtime.
    pages: fn() -> usize,
    /// KUnit: [`Pools::put`] waits 20 µs between its cap check and its add
    /// while set, so that two puts that are not serialised would both pass
    /// the check. Set on a test's own pools only.
    #[cfg(CONFIG_KUNIT = "y")]
    widen_window: Atomic<bool>,
}

impl Pools {
    /// Empty pools; `cap_pages` gives the current cap.
    pub(crate) fn new(cap_pages: fn() -> usize) -> impl PinInit<Self> {
        pin_init!(Self {
            lists <- new_spinlock!(Lists {
                order8: ZeroedList::new(),
                order4: ZeroedList::new(),
                order0: ZeroedList::new(),
            }),
            pages: [const { Atomic::new(0) }; 3],
            cap: Cap {
                pages: cap_pages,
                #[cfg(CONFIG_KUNIT = "y")]
                widen_window: Atomic::new(false),
            },
        })
    }

    /// Returns the cap in pages.
    pub(crate) fn cap(&self) -> usize {
        (self.cap.pages)()
    }

    /// Returns whether `pages` more would fit under the cap now.
    pub(crate) fn has_room_for(&self, pages: usize) -> bool {
        self.pooled() + pages <= self.cap()
    }

    /// Puts a zero block into its pool, or frees it if that would pass the
    /// cap.
    pub(crate) fn put(&self, block: ZeroedBlock) {
        let Some(index) = ORDERS.iter().position(|&o| o == block.order()) else {
            return;
        };
        let mut lists = self.lists.lock();
        if !self.has_room_for(block.nr_pages()) {
            return;
        }
        #[cfg(CONFIG_KUNIT = "y")]
        if self.cap.widen_window.load(Relaxed) {
            crate::kapi::kernel::time::delay::udelay(
                crate::kapi::kernel::time::Delta::from_micros(20),
            );
        }
        self.pages[index].fetch_add(block.nr_pages(), Relaxed);
        lists.list(index).push(block);
    }

    /// Takes the block that `pop` takes from the pool of order index
    /// `index`; an empty pool is not locked.
    #[inline]
    fn pop_with(
        &self,
        index: usize,
        pop: impl FnOnce(&mut ZeroedList) -> Option<ZeroedBlock>,
    ) -> Option<ZeroedBlock> {
        if self.pages[index].load(Relaxed) == 0 {
            return None;
        }
        let block = pop(self.lists.lock().list(index))?;
        self.pages[index].fetch_sub(block.nr_pages(), Relaxed);
        Some(block)
    }

    /// Takes the block last pooled of order index `index`, for an
    /// allocation: the most recently zeroed, the likeliest to be still in
    /// the CPU caches (as the page allocator's per-CPU lists hand out the
    /// last page freed).
    #[inline]
    pub(crate) fn pop(&self, index: usize) -> Option<ZeroedBlock> {
        self.pop_with(index, ZeroedList::pop_newest)
    }

    /// Takes one block to free, largest order first, and of an order the
    /// one pooled longest ago: the coldest.
    pub(crate) fn pop_largest(&self) -> Option<ZeroedBlock> {
        (0..ORDERS.len()).find_map(|index| self.pop_with(index, ZeroedList::pop))
    }

    /// Returns the pages in the pool of order index `index`.
    pub(crate) fn pages_of(&self, index: usize) -> usize {
        self.pages[index].load(Relaxed)
    }

    /// Returns the pages in all pools.
    pub(crate) fn pooled(&self) -> usize {
        self.pages.iter().map(|p| p.load(Relaxed)).sum()
    }
}

impl ZeroedPool for Pools {
    fn put(&self, block: ZeroedBlock) {
        Pools::put(self, block);
    }

    fn pages_of(&self, index: usize) -> usize {
        Pools::pages_of(self, index)
    }

    fn pooled(&self) -> usize {
        Pools::pooled(self)
    }

    fn cap(&self) -> usize {
        Pools::cap(self)
    }

    fn has_room_for(&self, pages: usize) -> bool {
        Pools::has_room_for(self, pages)
    }
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::super::testing::{
        cap_300,
        wait_until, //
    };
    use super::*;
    use crate::kapi::kernel::sync::Arc;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };
    use crate::kapi::task::{
        KThread,
        Nice,
        Policy,
        ThisThread, //
    };

    /// A fresh zeroed block of order index `index`.
    fn zeroed(index: usize) -> Result<ZeroedBlock> {
        ZeroedBlock::alloc(ORDERS[index], false).ok_or(ENOMEM)
    }

    fn pools() -> Result<Arc<Pools>> {
        Arc::pin_init(Pools::new(cap_300), GFP_KERNEL)
    }

    fn pool_cap_is_honoured() -> Result {
        let pools = pools()?;
        pools.put(zeroed(0)?); // 256 pages
        pools.put(zeroed(1)?); // 272
        pools.put(zeroed(1)?); // 288
        pools.put(zeroed(1)?); // would be 304 > 300: freed instead
        for _ in 0..12 {
            pools.put(zeroed(2)?); // up to 300, then freed
        }
        assert_eq!(pools.pooled(), 300);
        assert_eq!(pools.pages_of(1), 32);
        Ok(())
    }

    fn allocations_take_the_newest_block_and_reclaim_the_oldest() -> Result {
        let pools = pools()?;
        let blocks = [zeroed(2)?, zeroed(2)?, zeroed(2)?];
        let ids = blocks.each_ref().map(|b| b.identity());
        for b in blocks {
            pools.put(b);
        }
        let taken = |b: Option<ZeroedBlock>| b.map(|b| b.identity());
        assert_eq!(taken(pools.pop(2)), Some(ids[2]));
        assert_eq!(taken(pools.pop_largest()), Some(ids[0]));
        assert_eq!(taken(pools.pop(2)), Some(ids[1]));
        assert_eq!(pools.pooled(), 0);
        Ok(())
    }

    /// Pages over the cap seen by [`put_and_take_at_the_cap`], and how many
    /// of its threads are done.
    static OVER_THE_CAP: Atomic<usize> = Atomic::new(0);
    static THREADS_DONE: Atomic<usize> = Atomic::new(0);

    /// A thread's work: 2000 times, pools a fresh page into pools at or
    /// next to their cap, notes whether they then hold more than the cap,
    /// and takes a page back.
    fn put_and_take_at_the_cap(pools: &Pools, _: &ThisThread) {
        for _ in 0..2000 {
            let Some(b) = ZeroedBlock::alloc(ORDERS[2], false) else {
                break;
            };
            pools.put(b);
            let over = pools.pooled().saturating_sub(cap_300());
            OVER_THE_CAP.fetch_add(over, Relaxed);
            drop(pools.pop(2));
        }
        THREADS_DONE.fetch_add(1, Relaxed);
    }

    fn pool_cap_holds_under_concurrent_puts() -> Result {
        let pools = pools()?;
        for _ in 0..cap_300() - 1 {
            pools.put(zeroed(2)?);
        }
        OVER_THE_CAP.store(0, Relaxed);
        THREADS_DONE.store(0, Relaxed);
        // These pools only: users' puts meanwhile are not slowed.
        pools.cap.widen_window.store(true, Relaxed);
        // Two puts that race for the last page: checked and added under the
        // pools' lock, only one gets it.
        let mut threads = KVec::new();
        for _ in 0..2 {
            let run = put_and_take_at_the_cap;
            // Nothing to ask: the work ends by itself.
            let stop = |_: &Pools| {};
            let thread = KThread::run(
                c"rsystem_heap-kunit",
                Policy::Normal(Nice::new(0)?),
                pools.clone(),
                run,
                stop,
            )?;
            threads.push(thread, GFP_KERNEL)?;
        }
        // Dropping a thread that has not started yet would stop it unrun.
        wait_until(3000, || THREADS_DONE.load(Relaxed) == 2);
        drop(threads);
        assert_eq!(THREADS_DONE.load(Relaxed), 2);
        assert_eq!(OVER_THE_CAP.load(Relaxed), 0);
        assert!(pools.pooled() <= cap_300());
        Ok(())
    }

    kunit_suite!(
        rsystem_heap_pool_cap,
        [
            pool_cap_is_honoured,
            allocations_take_the_newest_block_and_reclaim_the_oldest,
            pool_cap_holds_under_concurrent_puts
        ]
    );
}
