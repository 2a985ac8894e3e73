// SPDX-License-Identifier: GPL-2.0

//! The heap's counters, shown in debugfs as `rsystem_heap/stats`.
//!
//! They only count (all but one, which keeps a last value): nothing in the
//! heap reads them to decide anything, so
//! they are relaxed atomics that the hot paths bump without ordering. The
//! figures the heap does decide by (pages pooled and queued, blocks being
//! zeroed or owed) live with the pools and the queue.

use core::fmt;

use crate::kapi::kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};

/// What the heap has done since it was created.
pub(crate) struct Stats {
    /// Chunks served from the pools (`alloc_from_pool`).
    pub(crate) from_pool: Atomic<usize>,
    /// Chunks taken off the free queue and zeroed by the allocation
    /// (`alloc_from_queue`).
    pub(crate) from_queue: Atomic<usize>,
    /// Chunks fresh from the buddy allocator (`alloc_from_buddy`).
    pub(crate) from_buddy: Atomic<usize>,
    /// Pages freed by idle decay (`decayed_pages`).
    pub(crate) decayed_pages: Atomic<usize>,
    /// Chunks that accounted allocations took from their memcg's pool
    /// (`memcg_alloc_from_pool`).
    pub(crate) memcg_from_pool: Atomic<usize>,
    /// Pages of the memcgs' pools freed by idle decay
    /// (`memcg_decayed_pages`).
    pub(crate) memcg_decayed_pages: Atomic<usize>,
    /// Accounted allocations near their `memory.max` that zeroed the free
    /// queue themselves to reach their memcg's released blocks
    /// (`memcg_queue_flushes`).
    pub(crate) memcg_queue_flushes: Atomic<usize>,
    /// Pages zeroed by the helper threads (`helper_zeroed_pages`).
    pub(crate) helped_pages: Atomic<usize>,
    /// 1 MiB pool misses with blocks queued, each of which wakes the worker
    /// if it sleeps (`miss_wakeups`).
    pub(crate) miss_wakeups: Atomic<usize>,
    /// Releases that armed the kick of a parked worker (`release_kicks`).
    pub(crate) kicks: Atomic<usize>,
    /// Fresh pages the worker put in the 4 KiB pool as its reserve
    /// (`small_reserve_pages`).
    pub(crate) reserve_pages: Atomic<usize>,
    /// Fresh pages the worker pooled for 1 MiB blocks that allocations took
    /// from the queue (`replaced_pages`).
    pub(crate) replaced_pages: Atomic<usize>,
    /// Pages the shrinker freed (`shrinker_freed_pages`).
    pub(crate) shrunk_pages: Atomic<usize>,
    /// Times a zeroing thread froze at one of its freeze points, between
    /// two blocks or after a look (`zeroing_freezes`).
    pub(crate) freezes: Atomic<usize>,
    /// Pages queued when a zeroing thread last froze there: the one figure
    /// that is not a count (`freeze_backlog_pages`).
    pub(crate) freeze_backlog: Atomic<usize>,
}

impl Stats {
    /// All counters at zero.
    pub(crate) const fn new() -> Self {
        Self {
            from_pool: Atomic::new(0),
            from_queue: Atomic::new(0),
            from_buddy: Atomic::new(0),
            decayed_pages: Atomic::new(0),
            memcg_from_pool: Atomic::new(0),
            memcg_decayed_pages: Atomic::new(0),
            memcg_queue_flushes: Atomic::new(0),
            helped_pages: Atomic::new(0),
            miss_wakeups: Atomic::new(0),
            kicks: Atomic::new(0),
            reserve_pages: Atomic::new(0),
            replaced_pages: Atomic::new(0),
            shrunk_pages: Atomic::new(0),
            freezes: Atomic::new(0),
            freeze_backlog: Atomic::new(0),
        }
    }

    /// Adds `n` to `counter`, one of this type's fields.
    pub(crate) fn add(counter: &Atomic<usize>, n: usize) {
        counter.fetch_add(n, Relaxed);
    }

    /// Writes the counters, one `name: value` line each.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counters = [
            ("alloc_from_pool", &self.from_pool),
            ("alloc_from_queue", &self.from_queue),
            ("alloc_from_buddy", &self.from_buddy),
            ("decayed_pages", &self.decayed_pages),
            ("memcg_alloc_from_pool", &self.memcg_from_pool),
            ("memcg_decayed_pages", &self.memcg_decayed_pages),
            ("memcg_queue_flushes", &self.memcg_queue_flushes),
            ("helper_zeroed_pages", &self.helped_pages),
            ("miss_wakeups", &self.miss_wakeups),
            ("release_kicks", &self.kicks),
            ("small_reserve_pages", &self.reserve_pages),
            ("replaced_pages", &self.replaced_pages),
            ("shrinker_freed_pages", &self.shrunk_pages),
            ("zeroing_freezes", &self.freezes),
            ("freeze_backlog_pages", &self.freeze_backlog),
        ];
        for (name, counter) in counters {
            writeln!(f, "{name}: {}", counter.load(Relaxed))?;
        }
        Ok(())
    }
}
