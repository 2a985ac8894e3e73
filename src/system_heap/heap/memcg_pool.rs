// SPDX-License-Identifier: GPL-2.0

//! The pools of blocks charged to a memory cgroup: one per memcg.
//!
//! With the dma-heap core's `mem_accounting` on, a buffer's fresh pages are
//! charged to the allocating task's memcg, and a module cannot move a
//! charge. So a released charged block, once zeroed, is pooled still
//! charged, in its own memcg's pool, and only an allocation charged to that
//! same memcg takes it: a page never serves another cgroup. Each memcg's
//! pool holds at most `memcg_pool_max_mb`.
//!
//! The pools are per-memcg `list_lru`s with a memcg-aware shrinker
//! ([`MemcgBlockLists`](crate::kapi::memcg::MemcgBlockLists)): reclaim in a
//! memcg (at `memory.max`, or through `memory.reclaim`) frees that memcg's
//! pool first, and a removed memcg's pool moves to its parent, charged there,
//! until it decays or is reclaimed. Idle decay empties every memcg's pool.
//!
//! As for the global pool, a 1 MiB block that an allocation took from the
//! queue is owed twice to its memcg's pool: once the queue is empty the
//! worker pools fresh ones, charged to that memcg (`set_active_memcg`),
//! without reclaim, so that a refill never pushes a memcg to its limit. A
//! release that interrupts the refill leaves the rest owed. Debts are kept
//! for a few memcgs at a time; a further memcg's are dropped.

use core::fmt;

use crate::kapi::kernel::new_spinlock;
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::SpinLock;

use super::zeroing::{
    ChargedPool,
    ZeroedBlock,
    ZeroedMemcgLists,
    OWED_PER_MISS, //
};
use crate::kapi::memcg::MemCgroup;
use crate::orders::{
    LARGE,
    ORDERS, //
};

/// The memcgs whose debts are kept at a time.
const DEBT_SLOTS: usize = 4;

/// 1 MiB blocks owed to one memcg's pool.
struct Debt<K> {
    memcg: K,
    blocks: usize,
}

/// The debts of a few memcgs (keys `K`), one slot each.
struct Debts<K> {
    slots: [Option<Debt<K>>; DEBT_SLOTS],
}

impl<K: Clone + PartialEq> Debts<K> {
    /// No debts.
    const fn new() -> Self {
        Self {
            slots: [const { None }; DEBT_SLOTS],
        }
    }

    /// Adds `blocks` to what `memcg` is owed: in its slot, else in a free
    /// one. Returns whether a slot took them (else they are dropped).
    fn add(&mut self, memcg: &K, blocks: usize) -> bool {
        if let Some(debt) = self.slots.iter_mut().flatten().find(|d| d.memcg == *memcg) {
            debt.blocks += blocks;
        } else if let Some(slot) = self.slots.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(Debt {
                memcg: memcg.clone(),
                blocks,
            });
        } else {
            return false;
        }
        true
    }

    /// Takes slot `i`'s debt out, to be paid.
    fn take(&mut self, i: usize) -> Option<Debt<K>> {
        self.slots[i].take()
    }

    /// Returns the blocks owed to all memcgs.
    fn total(&self) -> usize {
        self.slots.iter().flatten().map(|d| d.blocks).sum()
    }
}

/// The per-memcg pools of zeroed charged blocks, each within a cap.
pub(crate) struct MemcgPools {
    lists: ZeroedMemcgLists,
    owed: Pin<KBox<SpinLock<Debts<MemCgroup>>>>,
}

impl MemcgPools {
    /// Empty pools; `name` names their shrinker.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        Ok(Self {
            lists: ZeroedMemcgLists::new(name)?,
            owed: KBox::pin_init(
                new_spinlock!(Debts::new(), "rsystem_heap::memcg_owed"),
                GFP_KERNEL,
            )?,
        })
    }

    /// An allocation charged to `memcg` took a 1 MiB block from the queue:
    /// owes `memcg`'s pool [`OWED_PER_MISS`] fresh ones, if a slot holds or
    /// can take its debts.
    pub(crate) fn owe(&self, memcg: &MemCgroup) {
        self.owed.lock().add(memcg, OWED_PER_MISS);
    }

    /// Returns the 1 MiB blocks owed to all memcgs.
    pub(crate) fn owed_blocks(&self) -> usize {
        self.owed.lock().total()
    }

    /// Pays one memcg's debt while `go()` holds; returns the pages pooled
    /// and what is still owed.
    fn pay(&self, debt: &mut Debt<MemCgroup>, go: &dyn Fn() -> bool) -> usize {
        let mut pages = 0;
        while debt.blocks > 0 && go() {
            let Some(block) = ZeroedBlock::alloc_charged_nowait(ORDERS[LARGE], &debt.memcg) else {
                // At its limit (or no memory without reclaim): forgiven.
                debt.blocks = 0;
                break;
            };
            let block_pages = block.nr_pages();
            if self.lists.put(block, cap_pages()).is_err() {
                // The cap: forgiven.
                debt.blocks = 0;
                break;
            }
            debt.blocks -= 1;
            pages += block_pages;
        }
        pages
    }

    /// Makes `memcg`'s pool able to take blocks. Runs in the allocating
    /// task, whose memcg `memcg` is. If the memcg cannot be charged the
    /// pool's list heads, its blocks are freed on release instead.
    pub(crate) fn prepare(&self, memcg: &MemCgroup) {
        let _ = self.lists.prepare(memcg);
    }

    /// Takes a block of order index `index` from `memcg`'s pool.
    pub(crate) fn take(&self, index: usize, memcg: &MemCgroup) -> Option<ZeroedBlock> {
        self.lists.take(index, memcg)
    }

    /// Frees every pooled block; returns their pages.
    pub(crate) fn drain(&self) -> usize {
        let mut freed = 0;
        while let Some(block) = self.lists.take_any() {
            freed += block.nr_pages();
        }
        freed
    }

    /// Returns the pages in all memcgs' pools.
    pub(crate) fn pooled(&self) -> usize {
        self.lists.pages()
    }

    /// Returns the pages the memcg-aware shrinker freed.
    pub(crate) fn shrunk_pages(&self) -> usize {
        self.lists.shrunk_pages()
    }

    /// Writes a line `<cgroup inode> <pages>` per memcg with pooled pages.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.lists.show(f)
    }
}

impl ChargedPool for MemcgPools {
    fn put_charged(&self, block: ZeroedBlock) {
        // Refused (cap, or a memcg without a pool): freed, uncharging it.
        let _ = self.lists.put(block, cap_pages());
    }

    fn replace_owed(&self, go: &dyn Fn() -> bool) -> usize {
        let mut pages = 0;
        for i in 0..DEBT_SLOTS {
            // Out of the slot while it is paid: allocation does not go
            // under the lock.
            let Some(mut debt) = self.owed.lock().take(i) else {
                continue;
            };
            pages += self.pay(&mut debt, go);
            if debt.blocks > 0 {
                // Interrupted by a release: the rest on the next run, with
                // what allocations of that memcg owed meanwhile.
                self.owed.lock().add(&debt.memcg, debt.blocks);
            }
        }
        pages
    }
}

/// The per-memcg cap (`memcg_pool_max_mb`) in pages.
fn cap_pages() -> usize {
    let mb = usize::try_from(crate::kapi::params::system_heap_memcg_pool_max_mb()).unwrap_or(0);
    mb.saturating_mul((1 << 20) / PAGE_SIZE)
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };

    /// Debts of memcgs with the same key add up in one slot; those of a
    /// memcg beyond the slots are dropped.
    fn debts_add_up_per_memcg_within_the_slots() -> Result {
        let mut debts = Debts::<u32>::new();
        assert!(debts.add(&7, 1));
        assert!(debts.add(&7, 2));
        assert_eq!(debts.total(), 3);
        for memcg in 1..DEBT_SLOTS as u32 {
            assert!(debts.add(&memcg, 1));
        }
        assert!(!debts.add(&99, 5));
        assert_eq!(debts.total(), 3 + DEBT_SLOTS - 1);
        Ok(())
    }

    /// A payment interrupted by a release puts the rest back, even when an
    /// allocation of the same memcg owed a block in its slot meanwhile.
    fn an_interrupted_payment_keeps_the_rest_owed() -> Result {
        let mut debts = Debts::<u32>::new();
        debts.add(&7, 8);
        let mut debt = debts.take(0).ok_or(EINVAL)?;
        // Paid 3, then a miss of memcg 7 owes one more in the freed slot.
        debt.blocks -= 3;
        debts.add(&7, 1);
        assert!(debts.add(&debt.memcg, debt.blocks));
        assert_eq!(debts.total(), 5 + 1);
        assert_eq!(debts.slots.iter().flatten().count(), 1);
        Ok(())
    }

    kunit_suite!(
        rsystem_heap_memcg_debts,
        [
            debts_add_up_per_memcg_within_the_slots,
            an_interrupted_payment_keeps_the_rest_owed
        ]
    );
}
