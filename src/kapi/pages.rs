// SPDX-License-Identifier: GPL-2.0

//! Blocks of `2^order` pages from the buddy allocator, and lists of them
//! linked through `page->lru` (no allocation to queue a block).
//!
//! C header: [include/linux/gfp.h](srctree/include/linux/gfp.h)

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::bindings;
use super::memcg::MemCgroup;
use super::page_run::PhysRun;

/// Upstream `system_heap.c`'s `LOW_ORDER_GFP`: `GFP_HIGHUSER | __GFP_ZERO`.
const LOW_ORDER_GFP: bindings::gfp_t = bindings::RDMABUF_GFP_HIGHUSER | bindings::__GFP_ZERO;

/// Upstream `system_heap.c`'s `HIGH_ORDER_GFP`: the low-order mask with
/// `__GFP_NOWARN | __GFP_NORETRY`, without reclaim, and `__GFP_COMP`.
const HIGH_ORDER_GFP: bindings::gfp_t =
    ((LOW_ORDER_GFP | bindings::__GFP_NOWARN | bindings::RDMABUF_GFP_NORETRY)
        & !bindings::RDMABUF_GFP_RECLAIM)
        | bindings::RDMABUF_GFP_COMP;

/// The system heap's GFP flags for a block of `2^order` pages, as upstream
/// chooses them (`order_flags[]`; `__GFP_ACCOUNT` under `mem_accounting`).
fn heap_gfp(order: u32, account: bool) -> bindings::gfp_t {
    let gfp = if order > 0 {
        HIGH_ORDER_GFP
    } else {
        LOW_ORDER_GFP
    };
    if account {
        gfp | bindings::RDMABUF_GFP_ACCOUNT
    } else {
        gfp
    }
}

/// [`heap_gfp`] (not charged) without direct reclaim and without a warning:
/// for pages a thread sets aside ahead of demand, which must never push the
/// system into reclaim.
fn heap_gfp_nowait(order: u32) -> bindings::gfp_t {
    (heap_gfp(order, false) & !bindings::RDMABUF_GFP_DIRECT_RECLAIM) | bindings::__GFP_NOWARN
}

/// An owned block of `2^order` physically contiguous pages (compound when
/// `order > 0`), freed to the buddy allocator on drop.
///
/// # Invariants
///
/// `page` is the first page of a block of `2^order` pages allocated with
/// `alloc_pages` that this object owns; its `lru` field is unused while the
/// block is not on a [`PageList`].
pub(crate) struct PageBlock {
    page: NonNull<bindings::page>,
    order: u32,
}

// SAFETY: Pages may be used and freed from any thread.
unsafe impl Send for PageBlock {}
// SAFETY: `&PageBlock` only reads the block's address and order.
unsafe impl Sync for PageBlock {}

impl PageBlock {
    /// Allocates a block of `2^order` zeroed pages with the system heap's
    /// flags for that order (`__GFP_ACCOUNT` too if `account`).
    pub(crate) fn alloc_zeroed(order: u32, account: bool) -> Option<Self> {
        Self::alloc(heap_gfp(order, account), order)
    }

    /// Allocates a block like [`Self::alloc_zeroed`] (not charged), but
    /// only if that needs no direct reclaim.
    pub(crate) fn alloc_zeroed_nowait(order: u32) -> Option<Self> {
        Self::alloc(heap_gfp_nowait(order), order)
    }

    /// Allocates a block like [`Self::alloc_zeroed_nowait`], but charged to
    /// `memcg` (`__GFP_ACCOUNT`): from a thread that fills a memcg's pool
    /// ahead of its demand. Never reclaims: at the memcg's `memory.max` the
    /// charge fails at once.
    pub(crate) fn alloc_zeroed_charged_nowait(order: u32, memcg: &MemCgroup) -> Option<Self> {
        // SAFETY: A plain call; `memcg` is referenced; a null result is
        // handled.
        let page = unsafe {
            bindings::rdmabuf_alloc_pages_charged(heap_gfp_nowait(order), order, memcg.as_ptr())
        };
        // INVARIANT: A fresh block of `2^order` pages that we own.
        NonNull::new(page).map(|page| Self { page, order })
    }

    /// Allocates a block of `2^order` pages with `gfp`.
    fn alloc(gfp: bindings::gfp_t, order: u32) -> Option<Self> {
        // SAFETY: A plain call; a null result is handled.
        let page = unsafe { bindings::alloc_pages(gfp, order) };
        // INVARIANT: A fresh block of `2^order` pages that we own.
        NonNull::new(page).map(|page| Self { page, order })
    }

    /// Gives up ownership of the block: returns its first page, which the
    /// caller must give back to [`Self::from_raw`] with the same order.
    pub(super) fn into_raw(self) -> NonNull<bindings::page> {
        core::mem::ManuallyDrop::new(self).page
    }

    /// Takes ownership of a block that [`Self::into_raw`] gave up.
    ///
    /// # Safety
    ///
    /// `page` was returned by [`Self::into_raw`] for a block of order
    /// `order`, which nothing else owns or uses now; its `lru` is unused.
    pub(super) unsafe fn from_raw(page: NonNull<bindings::page>, order: u32) -> Self {
        // INVARIANT: By the safety requirements, a block that we now own.
        Self { page, order }
    }

    /// Returns whether the block is charged to a memory cgroup.
    pub(crate) fn is_charged(&self) -> bool {
        // SAFETY: By the type invariant the block is allocated.
        unsafe { bindings::rdmabuf_page_is_charged(self.page.as_ptr()) }
    }

    /// Returns a number that tells the block from every other block that
    /// exists at the same time: the address of its first `struct page`.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn identity(&self) -> usize {
        self.page.as_ptr() as usize
    }

    /// Returns the order of the block.
    pub(crate) fn order(&self) -> u32 {
        self.order
    }

    /// Returns the number of pages in the block.
    pub(crate) fn nr_pages(&self) -> usize {
        1 << self.order
    }

    /// Fills the block with zeroes.
    pub(crate) fn zero(&mut self) {
        // SAFETY: By the type invariant we own the block.
        unsafe { bindings::rdmabuf_zero_pages(self.page.as_ptr(), self.order) };
    }

    /// Calls `f` with each page of the block mapped into the kernel (a
    /// `PAGE_SIZE` range); stops early when `f` returns `false`.
    #[cfg(CONFIG_KUNIT = "y")]
    fn each_page_mapped(&self, mut f: impl FnMut(*mut core::ffi::c_void) -> bool) {
        for i in 0..self.nr_pages() {
            // SAFETY: By the type invariant the block's `2^order` pages are
            // ours and their `struct page`s consecutive (one buddy block),
            // so `page + i` is a page of the block.
            let page = unsafe { self.page.as_ptr().add(i) };
            // SAFETY: `kmap_local_page()` maps a valid page for this
            // thread until `kunmap_local()`, in the reverse order of the
            // maps: one page at a time, unmapped before the next.
            let addr = unsafe { bindings::kmap_local_page(page) };
            let more = f(addr);
            // SAFETY: `addr` is the mapping made above, still mapped.
            unsafe { bindings::kunmap_local(addr) };
            if !more {
                return;
            }
        }
    }

    /// Fills every byte of the block with `byte` (as a user would dirty it).
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn fill(&mut self, byte: u8) {
        self.each_page_mapped(|addr| {
            // SAFETY: `addr` maps a page of the block, `PAGE_SIZE` bytes,
            // which we own (`&mut self`).
            unsafe {
                core::ptr::write_bytes(
                    addr.cast::<u8>(),
                    byte,
                    crate::kapi::kernel::page::PAGE_SIZE,
                )
            };
            true
        });
    }

    /// Returns whether every byte of the block is zero.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn is_zero(&self) -> bool {
        let mut zero = true;
        self.each_page_mapped(|addr| {
            // SAFETY: `memchr_inv()` reads `PAGE_SIZE` bytes at `addr`, a
            // mapped page of the block; it returns null if all are 0.
            zero = unsafe { bindings::memchr_inv(addr, 0, crate::kapi::kernel::page::PAGE_SIZE) }
                .is_null();
            zero
        });
        zero
    }
}

impl Drop for PageBlock {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own the block and it was allocated
        // with this order.
        unsafe { bindings::__free_pages(self.page.as_ptr(), self.order) };
    }
}

/// The offset of `lru` in `struct page` (in bindgen's names for the
/// anonymous unions of `struct page`).
const LRU_OFFSET: usize = core::mem::offset_of!(
    bindings::page,
    __bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.lru
);

/// Returns the address of `page->lru` (no access: `page` may be null).
fn lru_of(page: *mut bindings::page) -> *mut bindings::list_head {
    page.wrapping_byte_add(LRU_OFFSET).cast()
}

/// Returns the page whose `lru` is at `lru`, or null if `lru` is null (no
/// access).
fn page_of(lru: *mut bindings::list_head) -> *mut bindings::page {
    if lru.is_null() {
        core::ptr::null_mut()
    } else {
        lru.wrapping_byte_sub(LRU_OFFSET).cast()
    }
}

/// A list of [`PageBlock`]s linked through `page->lru`.
///
/// The head is two pointers, to the first and the last entry, and no entry
/// points back at it: the list may move (it is [`Unpin`]), so it can be a
/// plain field of a lock's data. Pushes, pops at either end and appends are
/// O(1).
///
/// # Invariants
///
/// The list owns `len` blocks, `pages` pages in all; its entries are their
/// first pages, each with its block's order as `compound_order`. `first`
/// and `last` are the first and the last entry, both null when the list is
/// empty. Each entry's `lru.next` is the next entry's `lru`, null for the
/// last, and its `lru.prev` the previous entry's `lru`, null for the first.
pub(crate) struct PageList {
    first: *mut bindings::page,
    last: *mut bindings::page,
    len: usize,
    pages: usize,
}

// SAFETY: The blocks may be used and freed from any thread; the list is
// mutated only through `&mut`.
unsafe impl Send for PageList {}
// SAFETY: `&PageList` only walks the list, which `&mut` alone changes.
unsafe impl Sync for PageList {}

impl PageList {
    /// Creates an empty list.
    pub(crate) const fn new() -> Self {
        // INVARIANT: Empty: no entries, both ends null.
        Self {
            first: core::ptr::null_mut(),
            last: core::ptr::null_mut(),
            len: 0,
            pages: 0,
        }
    }

    /// Returns the number of blocks.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Returns the number of pages in all blocks.
    pub(crate) fn pages(&self) -> usize {
        self.pages
    }

    /// Adds `block` at the tail.
    pub(crate) fn push(&mut self, block: PageBlock) {
        let block = core::mem::ManuallyDrop::new(block);
        let page = block.page.as_ptr();
        let lru = lru_of(page);
        let prev = lru_of(self.last);
        // SAFETY: `page` is the first page of a block that is ours and on no
        // list, so its `lru` is ours to write (the invariant of
        // `PageBlock`). `self.last`, if not null, is the last entry, which
        // the list owns (the type invariant), so its `lru` is ours too.
        unsafe {
            (*lru).next = core::ptr::null_mut();
            if self.last.is_null() {
                (*lru).prev = core::ptr::null_mut();
                self.first = page;
            } else {
                (*lru).prev = prev;
                (*prev).next = lru;
            }
        }
        // INVARIANT: Linked as the new last entry above; the list now owns
        // the block, and the counters count it.
        self.last = page;
        self.len += 1;
        self.pages += block.nr_pages();
    }

    /// Takes the block at the head, if any.
    pub(crate) fn pop(&mut self) -> Option<PageBlock> {
        self.take(false)
    }

    /// Takes the block at the tail (the last added), if any.
    pub(crate) fn pop_last(&mut self) -> Option<PageBlock> {
        self.take(true)
    }

    /// Frees every block (the list's drop, when it is not empty).
    #[cold]
    fn free_all(&mut self) {
        while let Some(block) = self.pop() {
            drop(block);
        }
    }

    /// Takes the block at the tail if `last`, else at the head.
    #[inline]
    fn take(&mut self, last: bool) -> Option<PageBlock> {
        let page = NonNull::new(if last { self.last } else { self.first })?;
        let lru = lru_of(page.as_ptr());
        // SAFETY: `page` is an end entry of the list, which the list owns
        // (the type invariant), so its `lru` is initialised and ours.
        let (prev, next) = unsafe { ((*lru).prev, (*lru).next) };
        // SAFETY: By the type invariant the neighbours of an entry, where
        // not null, are entries (whose `lru` the list owns): the tail's
        // `prev` when it is taken, the head's `next` when it is taken; the
        // other neighbour is null (an end).
        unsafe {
            if last {
                self.last = page_of(prev);
                if prev.is_null() {
                    self.first = core::ptr::null_mut();
                } else {
                    (*prev).next = core::ptr::null_mut();
                }
            } else {
                self.first = page_of(next);
                if next.is_null() {
                    self.last = core::ptr::null_mut();
                } else {
                    (*next).prev = core::ptr::null_mut();
                }
            }
        }
        // SAFETY: `page` is the first page of a block the list owned.
        let order = unsafe { bindings::rdmabuf_page_order(page.as_ptr()) };
        // INVARIANT: Unlinked above: the new end is null-terminated, and the
        // counters no longer count the block.
        self.len -= 1;
        self.pages -= 1 << order;
        // INVARIANT: Off the list, owned by the returned block, whose `lru`
        // nothing uses any more.
        Some(PageBlock { page, order })
    }

    /// Returns the order of the block at the head, if any.
    pub(crate) fn head_order(&self) -> Option<u32> {
        let page = NonNull::new(self.first)?;
        // SAFETY: `page` is the first page of a block the list owns.
        Some(unsafe { bindings::rdmabuf_page_order(page.as_ptr()) })
    }

    /// Returns whether the block at the head is charged to `memcg`, or,
    /// for `None`, to no memory cgroup (`false` for an empty list).
    pub(crate) fn head_charged_to(&self, memcg: Option<&MemCgroup>) -> bool {
        let memcg = memcg.map_or(core::ptr::null_mut(), MemCgroup::as_ptr);
        NonNull::new(self.first).is_some_and(|page| {
            // SAFETY: `page` is the first page of a block the list owns;
            // `memcg` is null or referenced by the `MemCgroup`.
            unsafe { bindings::rdmabuf_page_charged_to(page.as_ptr(), memcg) }
        })
    }

    /// Moves every block of `other` to the tail of this list, in O(1).
    pub(crate) fn append(&mut self, other: &mut PageList) {
        if other.first.is_null() {
            return;
        }
        if self.last.is_null() {
            self.first = other.first;
        } else {
            let tail = lru_of(self.last);
            let head = lru_of(other.first);
            // SAFETY: `self.last` and `other.first` are entries that the
            // lists own (the type invariant), so their `lru`s are ours.
            unsafe {
                (*tail).next = head;
                (*head).prev = tail;
            }
        }
        // INVARIANT: `other`'s chain follows this list's last entry above,
        // and this list now owns its blocks, with their counts; `other` is
        // left empty.
        self.last = other.last;
        other.first = core::ptr::null_mut();
        other.last = core::ptr::null_mut();
        self.len += core::mem::take(&mut other.len);
        self.pages += core::mem::take(&mut other.pages);
    }

    /// Returns the first pages of the blocks, in list order.
    fn entries(&self) -> Entries<'_> {
        Entries {
            next: self.first,
            _list: PhantomData,
        }
    }

    /// Returns the blocks as runs, in list order.
    pub(crate) fn runs(&self) -> PageListRuns<'_> {
        PageListRuns {
            entries: self.entries(),
        }
    }
}

impl Drop for PageList {
    /// Inline: most lists are empty when they go (their blocks moved on),
    /// and that costs one test.
    #[inline]
    fn drop(&mut self) {
        if !self.first.is_null() {
            self.free_all();
        }
    }
}

/// A [`PageList`] whose blocks count as reclaimable kernel memory while they
/// are on it: their nodes' `NR_KERNEL_MISC_RECLAIMABLE`, which
/// `/proc/meminfo` shows in `KReclaimable` and counts in `MemAvailable`, as
/// Android's page pool counts its pages. For memory that a shrinker gives
/// back on request.
///
/// # Invariants
///
/// Every block on `list` has been added to its node's
/// `NR_KERNEL_MISC_RECLAIMABLE`, and is subtracted when it leaves the list.
pub(crate) struct ReclaimableList {
    list: PageList,
    /// Blocks that counting walks ([`Self::append`]) added to this list
    /// (KUnit: which list, and so under which lock, did the counting).
    #[cfg(CONFIG_KUNIT = "y")]
    counted: usize,
}

impl ReclaimableList {
    /// Creates an empty list.
    pub(crate) const fn new() -> Self {
        // INVARIANT: Empty.
        Self {
            list: PageList::new(),
            #[cfg(CONFIG_KUNIT = "y")]
            counted: 0,
        }
    }

    /// Returns the number of blocks.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Returns the order of the block at the head, if any.
    pub(crate) fn head_order(&self) -> Option<u32> {
        self.list.head_order()
    }

    /// Returns whether the block at the head is charged to `memcg`, or,
    /// for `None`, to no memory cgroup.
    pub(crate) fn head_charged_to(&self, memcg: Option<&MemCgroup>) -> bool {
        self.list.head_charged_to(memcg)
    }

    /// Adds `block` at the tail and counts it.
    pub(crate) fn push(&mut self, block: PageBlock) {
        // SAFETY: By the invariant of `PageBlock` the block is allocated.
        unsafe { bindings::rdmabuf_page_count_reclaimable(block.page.as_ptr(), 1) };
        // INVARIANT: Counted above.
        self.list.push(block);
    }

    /// Takes the block at the head, if any, and stops counting it.
    pub(crate) fn pop(&mut self) -> Option<PageBlock> {
        let block = self.list.pop()?;
        Some(Self::uncounted(block))
    }

    /// Takes the block at the tail (the last added), if any, and stops
    /// counting it.
    pub(crate) fn pop_last(&mut self) -> Option<PageBlock> {
        let block = self.list.pop_last()?;
        Some(Self::uncounted(block))
    }

    /// Uncounts and frees every block (the list's drop, when it is not
    /// empty).
    #[cold]
    fn free_all(&mut self) {
        while let Some(block) = self.pop() {
            drop(block);
        }
    }

    /// Stops counting `block`, which has left the list.
    fn uncounted(block: PageBlock) -> PageBlock {
        // SAFETY: By the invariant of `PageBlock` the block is allocated.
        unsafe { bindings::rdmabuf_page_count_reclaimable(block.page.as_ptr(), -1) };
        block
    }

    /// Moves every block of `other` to the tail of this list and counts
    /// them: O(1) for the list, one counter update per block. Under a lock
    /// that others wait for, count into a list of one's own first and
    /// [`Self::splice`] that under the lock.
    pub(crate) fn append(&mut self, other: &mut PageList) {
        #[cfg(CONFIG_KUNIT = "y")]
        {
            self.counted += other.len();
        }
        for page in other.entries() {
            // SAFETY: `page` is the first page of a block that `other` owns,
            // so it is allocated.
            unsafe { bindings::rdmabuf_page_count_reclaimable(page.as_ptr(), 1) };
        }
        // INVARIANT: Counted above.
        self.list.append(other);
    }

    /// Returns the blocks that counting walks added to this list so far.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn counted_blocks(&self) -> usize {
        self.counted
    }

    /// Moves every block of `other`, counted already, to the tail of this
    /// list: O(1), no counter update.
    pub(crate) fn splice(&mut self, other: &mut ReclaimableList) {
        // INVARIANT: `other`'s blocks were counted when they joined it, and
        // leave it uncounted-for only by joining this list.
        self.list.append(&mut other.list);
    }
}

impl Drop for ReclaimableList {
    /// Inline: a list is mostly empty when it goes, and that costs one test.
    #[inline]
    fn drop(&mut self) {
        if self.len() > 0 {
            self.free_all();
        }
    }
}

/// An iterator over the first pages of the blocks of a [`PageList`].
///
/// # Invariants
///
/// `next` is null or an entry of the borrowed list, which does not change
/// while it is borrowed shared.
#[derive(Clone)]
struct Entries<'a> {
    next: *mut bindings::page,
    _list: PhantomData<&'a PageList>,
}

impl Iterator for Entries<'_> {
    type Item = NonNull<bindings::page>;

    fn next(&mut self) -> Option<NonNull<bindings::page>> {
        let cur = NonNull::new(self.next)?;
        // SAFETY: By the type invariant `cur` is an entry of the borrowed
        // list, so its `lru` is initialised: the next entry's, or null.
        let next = unsafe { (*lru_of(cur.as_ptr())).next };
        // INVARIANT: The next entry, or null after the last.
        self.next = page_of(next);
        Some(cur)
    }
}

/// An iterator over the blocks of a [`PageList`] as [`PhysRun`]s.
#[derive(Clone)]
pub(crate) struct PageListRuns<'a> {
    entries: Entries<'a>,
}

impl<'a> Iterator for PageListRuns<'a> {
    type Item = PhysRun<'a>;

    fn next(&mut self) -> Option<PhysRun<'a>> {
        let page = self.entries.next()?;
        // SAFETY: `page` is the first page of a block of the borrowed list;
        // the order is the block's.
        let order = unsafe { bindings::rdmabuf_page_order(page.as_ptr()) };
        // SAFETY: The block stays allocated while the list is borrowed.
        Some(unsafe { PhysRun::from_raw(page, 1 << order) })
    }
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::kernel::prelude::*;
    use crate::kapi::kunit::{
        assert_eq,
        kunit_suite, //
    };

    /// The flag of GFP bit `bit`, as `gfp_types.h` makes it.
    fn bit(bit: u32) -> bindings::gfp_t {
        1 << bit
    }

    /// The masks are upstream `system_heap.c`'s, bit for bit: built here a
    /// second way, from the kernel's bit numbers and `GFP_KERNEL`
    /// (`GFP_HIGHUSER` is `GFP_KERNEL | __GFP_HARDWALL | __GFP_HIGHMEM`).
    fn heap_gfp_masks_are_upstreams() {
        let reclaim =
            bit(bindings::___GFP_DIRECT_RECLAIM_BIT) | bit(bindings::___GFP_KSWAPD_RECLAIM_BIT);
        let highuser =
            bindings::GFP_KERNEL | bit(bindings::___GFP_HARDWALL_BIT) | bindings::__GFP_HIGHMEM;
        let low = highuser | bindings::__GFP_ZERO;
        let high = ((low | bindings::__GFP_NOWARN | bit(bindings::___GFP_NORETRY_BIT)) & !reclaim)
            | bit(bindings::___GFP_COMP_BIT);
        let account = bit(bindings::___GFP_ACCOUNT_BIT);
        assert_eq!(heap_gfp(0, false), low);
        assert_eq!(heap_gfp(4, false), high);
        assert_eq!(heap_gfp(8, false), high);
        assert_eq!(heap_gfp(0, true), low | account);
        assert_eq!(heap_gfp(8, true), high | account);
        let direct = bit(bindings::___GFP_DIRECT_RECLAIM_BIT);
        assert_eq!(heap_gfp_nowait(0), (low & !direct) | bindings::__GFP_NOWARN);
        assert_eq!(heap_gfp_nowait(8), high);
    }

    /// A reference of the test's own on a block's first page: the page
    /// stays allocated when the block is freed, and its count shows
    /// whether the block's owner let go of it.
    struct HeldPage(NonNull<bindings::page>);

    impl HeldPage {
        fn of(block: &PageBlock) -> Self {
            // SAFETY: By the invariant of `PageBlock` its page is allocated.
            unsafe { bindings::rdmabuf_page_get(block.page.as_ptr()) };
            Self(block.page)
        }

        /// Returns the references on the page besides this one.
        fn others(&self) -> i32 {
            // SAFETY: This holds a reference, so the page is allocated.
            unsafe { bindings::rdmabuf_page_refs(self.0.as_ptr()) - 1 }
        }
    }

    impl Drop for HeldPage {
        fn drop(&mut self) {
            // SAFETY: Gives back the reference that `of` took.
            unsafe { bindings::rdmabuf_page_put(self.0.as_ptr()) };
        }
    }

    /// A list dropped with blocks on it frees them (a reclaimable one
    /// through its uncounting pop); one whose blocks were taken off frees
    /// none of them.
    fn dropped_lists_free_only_the_blocks_still_on_them() -> Result {
        let kept = PageBlock::alloc_zeroed(0, false).ok_or(ENOMEM)?;
        let listed = PageBlock::alloc_zeroed(0, false).ok_or(ENOMEM)?;
        let counted = PageBlock::alloc_zeroed(0, false).ok_or(ENOMEM)?;
        let (held_kept, held_listed, held_counted) = (
            HeldPage::of(&kept),
            HeldPage::of(&listed),
            HeldPage::of(&counted),
        );
        assert_eq!(held_listed.others(), 1);

        let mut list = PageList::new();
        list.push(kept);
        let kept = list.pop().ok_or(EINVAL)?;
        list.push(listed);
        let mut reclaimable = ReclaimableList::new();
        reclaimable.push(counted);
        drop(list);
        drop(reclaimable);
        assert_eq!(held_listed.others(), 0);
        assert_eq!(held_counted.others(), 0);
        assert_eq!(held_kept.others(), 1);
        drop(kept);
        assert_eq!(held_kept.others(), 0);
        Ok(())
    }

    kunit_suite!(
        rsystem_heap_pages,
        [
            heap_gfp_masks_are_upstreams,
            dropped_lists_free_only_the_blocks_still_on_them
        ]
    );
}
