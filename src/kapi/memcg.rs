// SPDX-License-Identifier: GPL-2.0

//! Memory cgroups, and per-memcg lists of page blocks that memcg reclaim
//! empties.
//!
//! A page allocated with `__GFP_ACCOUNT` is charged to the allocating
//! task's memory cgroup ([`MemCgroup::of_current_task`]) and stays charged
//! until it is freed: a module cannot move a charge. So a block that is kept
//! for reuse must only be reused by an allocation charged to the same memcg.
//! [`MemcgBlockLists`] keeps such blocks on one memcg- and NUMA-aware
//! `list_lru` per order, each block on the list of its own memcg, with a
//! shrinker that the kernel calls for a memcg under pressure (`memory.max`,
//! `memory.reclaim`), so that a memcg's kept blocks go before it reclaims
//! its users' memory or fails a charge.
//!
//! C headers: [include/linux/memcontrol.h](srctree/include/linux/memcontrol.h),
//! [include/linux/list_lru.h](srctree/include/linux/list_lru.h)

use core::ffi::c_void;
use core::fmt;
use core::ptr::NonNull;

use crate::kapi::kernel::prelude::*;
use kernel::error::to_result;
use kernel::ffi::c_ulong;

use super::bindings;
use super::pages::PageBlock;

/// A reference on a memory cgroup other than the root, put on drop.
///
/// # Invariants
///
/// `memcg` is a non-root memory cgroup on which this object holds a css
/// reference.
pub(crate) struct MemCgroup {
    memcg: NonNull<bindings::mem_cgroup>,
}

// SAFETY: A css reference may be put from any thread.
unsafe impl Send for MemCgroup {}
// SAFETY: `&MemCgroup` only passes the pointer to functions that take a
// referenced memcg from any thread.
unsafe impl Sync for MemCgroup {}

impl MemCgroup {
    /// Returns the memory cgroup that a `__GFP_ACCOUNT` allocation by the
    /// current task is charged to, or `None` when such an allocation is
    /// charged to nothing (the root memcg, or memcg or kmem accounting
    /// off).
    pub(crate) fn of_current_task() -> Option<Self> {
        // SAFETY: A plain call; it returns NULL or a referenced memcg.
        let memcg = NonNull::new(unsafe { bindings::rdmabuf_memcg_get_current() })?;
        // INVARIANT: Referenced, and not the root.
        Some(Self { memcg })
    }

    /// Returns the memcg, for kapi's calls into C.
    pub(super) fn as_ptr(&self) -> *mut bindings::mem_cgroup {
        self.memcg.as_ptr()
    }

    /// Returns how many more pages can be charged to the memcg before it or
    /// an ancestor reaches its `memory.max`.
    pub(crate) fn margin_pages(&self) -> usize {
        // SAFETY: By the type invariant we hold a reference.
        unsafe { bindings::rdmabuf_memcg_margin(self.memcg.as_ptr()) }
    }
}

impl Clone for MemCgroup {
    fn clone(&self) -> Self {
        // SAFETY: By the type invariant we hold a reference, so the memcg
        // is live; this takes another.
        unsafe { bindings::rdmabuf_memcg_get(self.memcg.as_ptr()) };
        // INVARIANT: Referenced above.
        Self { memcg: self.memcg }
    }
}

impl PartialEq for MemCgroup {
    fn eq(&self, other: &Self) -> bool {
        self.memcg == other.memcg
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold a reference.
        unsafe { bindings::rdmabuf_memcg_put(self.memcg.as_ptr()) };
    }
}

/// The orders of the lists of a [`MemcgBlockLists`], one list each.
pub(crate) const LISTS: usize = bindings::RDMABUF_MEMCG_LISTS as usize;

/// Per-memcg lists of page blocks: for each of [`LISTS`] orders, one list per
/// memcg and node, and a memcg- and NUMA-aware shrinker that frees a memcg's
/// blocks, largest first, when that memcg (or the system) is short of
/// memory. Blocks on the lists count as reclaimable kernel memory
/// (`KReclaimable`), and stay charged to their memcg.
///
/// A block is on the list of the memcg it is charged to: it joins its own
/// memcg's list ([`Self::put`]), and when a memcg is removed the kernel
/// moves its lists' blocks to its parent's, as it moves their charge. What
/// the lists hold is freed when they are dropped.
///
/// # Invariants
///
/// `lists` was created by `rdmabuf_memcg_lists_create` and is destroyed
/// only on drop; every block on it was put there by [`Self::put`] (it owns
/// them).
pub(crate) struct MemcgBlockLists {
    lists: NonNull<bindings::rdmabuf_memcg_lists>,
    orders: [u32; LISTS],
}

// SAFETY: The lists and their shrinker are used under their own locks.
unsafe impl Send for MemcgBlockLists {}
// SAFETY: As for `Send`: every operation locks the list it works on.
unsafe impl Sync for MemcgBlockLists {}

impl MemcgBlockLists {
    /// Creates the lists for blocks of `orders` (list `i` for `orders[i]`),
    /// with a shrinker named `name`.
    pub(crate) fn new(name: &CStr, orders: [u32; LISTS]) -> Result<Self> {
        let name = name.as_char_ptr();
        // SAFETY: `name` is a valid string (copied by the shrinker), `orders`
        // holds `LISTS` orders.
        let lists = unsafe { bindings::rdmabuf_memcg_lists_create(name, orders.as_ptr()) };
        // INVARIANT: Created above, empty.
        Ok(Self {
            lists: NonNull::new(lists).ok_or(ENOMEM)?,
            orders,
        })
    }

    /// Makes sure that `memcg`'s lists exist, so that blocks charged to it
    /// can be [`put`](Self::put). Must run in the context of a task of
    /// `memcg` (the kernel creates the lists of the current task's memcg):
    /// call it where [`MemCgroup::of_current_task`] was taken. Fails with
    /// `ENOMEM` if the memcg cannot be charged the lists.
    pub(crate) fn prepare(&self, memcg: &MemCgroup) -> Result {
        // SAFETY: By the type invariants `lists` is live and `memcg`
        // referenced.
        to_result(unsafe {
            bindings::rdmabuf_memcg_lists_prepare(self.lists.as_ptr(), memcg.memcg.as_ptr())
        })
    }

    /// Returns the list index of `order`, if the lists have one.
    fn index_of(&self, order: u32) -> Option<usize> {
        self.orders.iter().position(|&o| o == order)
    }

    /// Puts `block` on its memcg's list of its order, unless it is not
    /// charged, its order has no list, its memcg never prepared its lists,
    /// or that memcg would then hold more than `cap_pages` pages (which
    /// concurrent puts may pass by one block each). Gives the block back if
    /// it did not.
    pub(crate) fn put(&self, block: PageBlock, cap_pages: usize) -> Result<(), PageBlock> {
        let Some(index) = self.index_of(block.order()) else {
            return Err(block);
        };
        let order = block.order();
        let page = block.into_raw();
        // SAFETY: By the type invariant `lists` is live; `page` heads a block
        // of the list's order that we own, whose `lru` is unused. On success
        // the lists own it (its `lru` links it there).
        let added = unsafe {
            bindings::rdmabuf_memcg_lists_add(
                self.lists.as_ptr(),
                index as u32,
                page.as_ptr(),
                cap_pages,
            )
        };
        if added {
            return Ok(());
        }
        // SAFETY: Not added: still ours, as `into_raw` gave it up.
        Err(unsafe { PageBlock::from_raw(page, order) })
    }

    /// Turns a page that left list `index` into the block it heads.
    fn taken(&self, index: usize, page: *mut bindings::page) -> Option<PageBlock> {
        let page = NonNull::new(page)?;
        // SAFETY: `page` heads a block that the lists owned (put there by
        // `put` from a `PageBlock` of list `index`'s order) and that left
        // them: it is ours, and `list_lru_isolate` left its `lru` unused.
        Some(unsafe { PageBlock::from_raw(page, self.orders[index]) })
    }

    /// Takes a block from `memcg`'s list `index`: of this CPU's node first.
    pub(crate) fn take(&self, index: usize, memcg: &MemCgroup) -> Option<PageBlock> {
        if index >= LISTS {
            return None;
        }
        // SAFETY: By the type invariants `lists` is live and `memcg`
        // referenced; `index < LISTS`.
        let page = unsafe {
            bindings::rdmabuf_memcg_lists_take(
                self.lists.as_ptr(),
                index as u32,
                memcg.memcg.as_ptr(),
            )
        };
        self.taken(index, page)
    }

    /// Takes a block from any memcg's list, largest order first.
    pub(crate) fn take_any(&self) -> Option<PageBlock> {
        (0..LISTS).find_map(|index| {
            // SAFETY: By the type invariant `lists` is live; `index < LISTS`.
            let page = unsafe {
                bindings::rdmabuf_memcg_lists_take_any(self.lists.as_ptr(), index as u32)
            };
            self.taken(index, page)
        })
    }

    /// Returns the pages on all lists.
    pub(crate) fn pages(&self) -> usize {
        // SAFETY: By the type invariant `lists` is live.
        unsafe { bindings::rdmabuf_memcg_lists_pages(self.lists.as_ptr()) }
    }

    /// Returns the pages the shrinker freed so far.
    pub(crate) fn shrunk_pages(&self) -> usize {
        // SAFETY: By the type invariant `lists` is live.
        unsafe { bindings::rdmabuf_memcg_lists_shrunk(self.lists.as_ptr()) }
    }

    /// Writes one line `<cgroup inode> <pages>` for each memcg whose lists
    /// hold blocks.
    pub(crate) fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// What the callback writes to, and the first error it met.
        struct Show<'a, 'b> {
            f: &'a mut fmt::Formatter<'b>,
            result: fmt::Result,
        }
        /// # Safety
        ///
        /// `arg` is the `Show` that `show` passes, borrowed for the call.
        unsafe extern "C" fn line(arg: *mut c_void, ino: u64, pages: c_ulong) {
            // SAFETY: By the safety requirements.
            let show = unsafe { &mut *arg.cast::<Show<'_, '_>>() };
            if show.result.is_ok() {
                show.result = writeln!(show.f, "{ino} {pages}");
            }
        }
        let mut show = Show { f, result: Ok(()) };
        // SAFETY: By the type invariant `lists` is live; `line` gets `show`,
        // which outlives the call, and does not sleep (it formats into the
        // seq_file's buffer).
        unsafe {
            bindings::rdmabuf_memcg_lists_for_each(
                self.lists.as_ptr(),
                Some(line),
                (&raw mut show).cast(),
            )
        };
        show.result
    }
}

impl Drop for MemcgBlockLists {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `lists` is live and this is its only
        // destruction; it frees the blocks it holds.
        unsafe { bindings::rdmabuf_memcg_lists_destroy(self.lists.as_ptr()) };
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

    /// A KUnit case runs in a kernel thread of the root memcg: nothing it
    /// allocates is charged, so the lists refuse its blocks, and it has no
    /// memcg to take for.
    fn uncharged_blocks_are_refused() -> Result {
        let lists = MemcgBlockLists::new(c"rsystem_heap-kunit-memcg", [8, 4, 0])?;
        assert!(MemCgroup::of_current_task().is_none());
        let block = PageBlock::alloc_zeroed(4, true).ok_or(ENOMEM)?;
        assert!(!block.is_charged());
        let block = match lists.put(block, usize::MAX) {
            Ok(()) => return Err(EINVAL),
            Err(block) => block,
        };
        assert_eq!(block.order(), 4);
        // An order without a list is refused as well.
        let odd = PageBlock::alloc_zeroed(2, false).ok_or(ENOMEM)?;
        assert!(lists.put(odd, usize::MAX).is_err());
        assert_eq!(lists.pages(), 0);
        assert!(lists.take_any().is_none());
        assert_eq!(lists.shrunk_pages(), 0);
        Ok(())
    }

    kunit_suite!(rsystem_heap_memcg_lists, [uncharged_blocks_are_refused]);
}
