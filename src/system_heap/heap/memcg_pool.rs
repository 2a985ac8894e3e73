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

use core::fmt;

use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;

use super::zeroing::{
    ChargedPool,
    ZeroedBlock,
    ZeroedMemcgLists, //
};
use crate::kapi::memcg::MemCgroup;

/// The per-memcg pools of zeroed charged blocks, each within a cap.
pub(crate) struct MemcgPools {
    lists: ZeroedMemcgLists,
}

impl MemcgPools {
    /// Empty pools; `name` names their shrinker.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        Ok(Self {
            lists: ZeroedMemcgLists::new(name)?,
        })
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
}

/// The per-memcg cap (`memcg_pool_max_mb`) in pages.
fn cap_pages() -> usize {
    let mb = usize::try_from(crate::kapi::params::system_heap_memcg_pool_max_mb()).unwrap_or(0);
    mb.saturating_mul((1 << 20) / PAGE_SIZE)
}
