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
//! queue is owed to its memcg's pool: once the queue is empty the worker
//! pools a fresh one, charged to that memcg (`set_active_memcg`), without
//! reclaim, so that a refill never pushes a memcg to its limit. Debts are
//! kept for a few memcgs at a time; a further memcg's are dropped.

use core::fmt;

use crate::kapi::kernel::new_spinlock;
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::SpinLock;

use super::zeroing::{
    ChargedPool,
    ZeroedBlock,
    ZeroedMemcgLists, //
};
use crate::kapi::memcg::MemCgroup;
use crate::orders::{
    LARGE,
    ORDERS, //
};

/// The memcgs whose debts are kept at a time.
const DEBT_SLOTS: usize = 4;

/// 1 MiB blocks owed to one memcg's pool.
struct Debt {
    memcg: MemCgroup,
    blocks: usize,
}

/// The per-memcg pools of zeroed charged blocks, each within a cap.
pub(crate) struct MemcgPools {
    lists: ZeroedMemcgLists,
    /// The debts, one slot per memcg.
    owed: Pin<KBox<SpinLock<[Option<Debt>; DEBT_SLOTS]>>>,
}

impl MemcgPools {
    /// Empty pools; `name` names their shrinker.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        Ok(Self {
            lists: ZeroedMemcgLists::new(name)?,
            owed: KBox::pin_init(
                new_spinlock!([const { None }; DEBT_SLOTS], "rsystem_heap::memcg_owed"),
                GFP_KERNEL,
            )?,
        })
    }

    /// An allocation charged to `memcg` took a 1 MiB block from the queue:
    /// owes `memcg`'s pool a fresh one, if a slot holds or can take its
    /// debts.
    pub(crate) fn owe(&self, memcg: &MemCgroup) {
        let mut owed = self.owed.lock();
        if let Some(debt) = owed.iter_mut().flatten().find(|d| d.memcg == *memcg) {
            debt.blocks += 1;
        } else if let Some(slot) = owed.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(Debt {
                memcg: memcg.clone(),
                blocks: 1,
            });
        }
    }

    /// Returns the 1 MiB blocks owed to all memcgs.
    pub(crate) fn owed_blocks(&self) -> usize {
        self.owed.lock().iter().flatten().map(|d| d.blocks).sum()
    }

    /// Pays one memcg's debt while `go()` holds; returns the pages pooled
    /// and what is still owed.
    fn pay(&self, debt: &mut Debt, go: &dyn Fn() -> bool) -> usize {
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
            let Some(mut debt) = self.owed.lock()[i].take() else {
                continue;
            };
            pages += self.pay(&mut debt, go);
            if debt.blocks == 0 {
                continue;
            }
            // Interrupted by a release: the rest on the next run, if its
            // slot is still free (an `owe` meanwhile may have taken it).
            let mut owed = self.owed.lock();
            if owed[i].is_none() {
                owed[i] = Some(debt);
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
