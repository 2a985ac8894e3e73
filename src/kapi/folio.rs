// SPDX-License-Identifier: GPL-2.0

//! Pinned folios and physically contiguous page runs.
//!
//! C header: [include/linux/mm.h](srctree/include/linux/mm.h)

use core::marker::PhantomData;
use core::ptr::NonNull;

#[cfg(kapi_udmabuf)]
use kernel::alloc::KVVec;

use super::bindings;

/// A folio held with one `FOLL_PIN` reference, released on drop.
///
/// # Invariants
///
/// `self.0` points to a valid folio on which this object owns one pin
/// (taken by `memfd_pin_folios`), so the folio stays allocated and resident.
#[cfg(kapi_udmabuf)]
#[repr(transparent)]
pub(crate) struct PinnedFolio(NonNull<bindings::folio>);

// SAFETY: A pin may be released from any thread, and the folio's metadata
// that `&PinnedFolio` reads (size, pfn) does not change while it is pinned.
#[cfg(kapi_udmabuf)]
unsafe impl Send for PinnedFolio {}
// SAFETY: See above; shared access only reads immutable metadata.
#[cfg(kapi_udmabuf)]
unsafe impl Sync for PinnedFolio {}

#[cfg(kapi_udmabuf)]
impl PinnedFolio {
    /// Returns the number of base pages in the folio.
    pub(crate) fn nr_pages(&self) -> usize {
        // SAFETY: By the type invariant the folio is valid.
        unsafe { bindings::rdmabuf_folio_nr_pages(self.0.as_ptr()) }
    }

    /// Returns the number of pages of `folios[0]` and how many folios at
    /// the start of `folios` have that many; `(0, 0)` if it is empty.
    pub(crate) fn leading_same_size(folios: &[PinnedFolio]) -> (usize, usize) {
        let mut nr_pages = 0;
        // SAFETY: `folios` is an array of `folios.len()` valid folio
        // pointers (`PinnedFolio` is a transparent `NonNull<folio>`), which
        // the call only reads; `nr_pages` is valid to write.
        let count = unsafe {
            bindings::rdmabuf_folios_same_size(folios.as_ptr().cast(), folios.len(), &mut nr_pages)
        };
        (nr_pages, count)
    }

    /// Returns the run of `npages` pages starting at page `first` of the
    /// folio, or `None` if that is not inside the folio.
    pub(crate) fn run(&self, first: usize, npages: usize) -> Option<PhysRun<'_>> {
        let mut pfn = 0;
        // SAFETY: By the type invariant the folio is valid. One call for
        // both figures: this is on the page fault path.
        let nr_pages = unsafe { bindings::rdmabuf_folio_span(self.0.as_ptr(), &mut pfn) };
        let end = first.checked_add(npages)?;
        if npages == 0 || end > nr_pages {
            return None;
        }
        let pfn = pfn + first;
        // INVARIANT: The pages are inside a folio that `self` keeps pinned
        // for at least `'_`, and a folio is physically contiguous.
        Some(PhysRun {
            pfn,
            npages,
            _owner: PhantomData,
        })
    }
}

#[cfg(kapi_udmabuf)]
impl PinnedFolio {
    /// Unpins every folio of `folios` in one `unpin_folios()` call and
    /// empties it. This is how a udmabuf's table goes: one call, not one
    /// per folio (a 64 MiB buffer of 4 KiB shmem has 16384).
    pub(crate) fn unpin_all(folios: &mut KVVec<PinnedFolio>) {
        #[cfg(CONFIG_KUNIT = "y")]
        unpin_stats::unpinning(folios.len());
        // SAFETY: `PinnedFolio` is a transparent folio pointer, so the
        // vector's buffer is an array of `folios.len()` folio pointers, on
        // each of which (by the type invariant) its element owns one pin:
        // `unpin_folios` releases one pin per array entry.
        unsafe { bindings::unpin_folios(folios.as_mut_ptr().cast(), folios.len()) };
        // The pins are gone: forget the handles, so that their `drop` does
        // not unpin again.
        folios.drain_all().for_each(core::mem::forget);
    }
}

#[cfg(kapi_udmabuf)]
impl Drop for PinnedFolio {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own one pin on the folio.
        unsafe { bindings::unpin_folio(self.0.as_ptr()) };
    }
}

/// Test-only: folios unpinned by [`PinnedFolio::unpin_all`], and how many
/// of them while a DMA mapping made by this module was live. Counted per
/// call, not per folio: a per-folio count made the benchmark's create and
/// close of 64 MiB of 4 KiB shmem 1.15-1.22x C instead of about 1.0x (its
/// kernel has KUnit built in).
#[cfg(all(kapi_udmabuf, CONFIG_KUNIT = "y"))]
pub(crate) mod unpin_stats {
    use kernel::sync::atomic::{
        Atomic,
        Relaxed, //
    };

    static UNPINS: Atomic<usize> = Atomic::new(0);
    static UNPINS_UNDER_A_DMA_MAPPING: Atomic<usize> = Atomic::new(0);

    pub(super) fn unpinning(folios: usize) {
        UNPINS.fetch_add(folios, Relaxed);
        if super::super::sg_table::live_dma_mappings() > 0 {
            UNPINS_UNDER_A_DMA_MAPPING.fetch_add(folios, Relaxed);
        }
    }

    /// Returns (unpins, unpins under a live DMA mapping) so far.
    pub(crate) fn get() -> (usize, usize) {
        (
            UNPINS.load(Relaxed),
            UNPINS_UNDER_A_DMA_MAPPING.load(Relaxed),
        )
    }
}

/// Buffer pages that are consecutive pages of folios of one order: `npages`
/// pages from page `first` of `folios[0]` on, going on into the folios after
/// it. This is how kapi maps many small folios at a time.
///
/// # Invariants
///
/// `npages >= 1`, `first < 2^order` and `first + npages <= folios.len() <<
/// order`. That every folio has order `order` is what the driver promises;
/// kapi checks it for each folio where it maps one (a folio of another size
/// stops the mapping), so a wrong promise cannot map memory outside the
/// folios.
#[cfg(kapi_udmabuf)]
pub(crate) struct FolioStretch<'a> {
    folios: &'a [PinnedFolio],
    order: u32,
    first: usize,
    npages: usize,
}

#[cfg(kapi_udmabuf)]
impl<'a> FolioStretch<'a> {
    /// Makes the stretch of `npages` pages from page `first` of `folios[0]`
    /// on, whose folios have order `order`; `None` if that is not inside
    /// `folios`.
    pub(crate) fn new(
        folios: &'a [PinnedFolio],
        order: u32,
        first: usize,
        npages: usize,
    ) -> Option<Self> {
        let folio_pages = 1usize.checked_shl(order)?;
        let span = folios.len().checked_mul(folio_pages)?;
        if npages == 0 || first >= folio_pages || first.checked_add(npages)? > span {
            return None;
        }
        // INVARIANT: Just checked.
        Some(Self {
            folios,
            order,
            first,
            npages,
        })
    }

    /// Returns the number of pages in the stretch.
    pub(crate) fn npages(&self) -> usize {
        self.npages
    }

    /// Inserts `npages` pages of the stretch, from its page `skip` on, into
    /// `vma` at `addr`, as `vmf_insert_pfn()` would, but with one page-table
    /// walk and lock per page table. Stops at a folio of another order.
    ///
    /// Returns whether all of them were inserted.
    ///
    /// # Safety
    ///
    /// `vma` is a PFN-mapped VMA whose lock the caller holds and that the
    /// folios outlive; `addr..addr + npages * PAGE_SIZE` is inside it, and no
    /// huge (PMD or PUD) entry can be in that range.
    pub(super) unsafe fn insert(
        &self,
        vma: *mut bindings::vm_area_struct,
        addr: usize,
        skip: usize,
        npages: usize,
    ) -> bool {
        if skip.checked_add(npages).is_none_or(|end| end > self.npages) {
            return false;
        }
        // SAFETY: The folio pointers are valid (`PinnedFolio` is a
        // transparent `NonNull<folio>`) and pinned; by the type invariant
        // the pages `first + skip..` are inside the array, and the helper
        // checks each folio's order. The rest is the caller's guarantee.
        let ret = unsafe {
            bindings::rdmabuf_insert_folio_pages(
                vma,
                addr,
                self.folios.as_ptr().cast(),
                self.folios.len(),
                self.order,
                self.first + skip,
                npages,
            )
        };
        ret == 0
    }
}

/// The pages of a buffer, in buffer order: what kapi maps for devices
/// ([`super::sg_table`]), into the kernel ([`super::vmap`]) and into user
/// space ([`super::dma_buf`]).
///
/// No mapping outlives the pages: a device's sg table holds a reference on
/// the exported buffer that owns them, and the kernel mapping is a field of
/// that buffer which drops before them (see
/// [`Exported`](super::dma_buf::Exported)). The runs are [`PhysRun`]s, which
/// only kapi builds, from pages that their owner keeps allocated.
pub(crate) trait BufferPages: Send + Sync + 'static {
    /// Returns the pages from buffer page `pgoff` on; the first run starts
    /// at `pgoff`. Nothing if `pgoff` is past the end.
    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> + Clone;

    /// Returns the number of pages in the buffer.
    fn page_count(&self) -> usize;

    /// Returns the same pages as [`Self::runs_from`], as stretches of
    /// folios: what the fault handler maps many pages at a time from.
    #[cfg(kapi_udmabuf)]
    fn folio_stretches_from(&self, pgoff: usize) -> impl Iterator<Item = FolioStretch<'_>>;
}

/// A run of physically contiguous pages that stay allocated for `'a`.
///
/// # Invariants
///
/// The `npages` (at least one) page frames from `pfn` on are allocated
/// memory that stays allocated for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct PhysRun<'a> {
    pfn: usize,
    npages: usize,
    _owner: PhantomData<&'a ()>,
}

impl<'a> PhysRun<'a> {
    /// Makes a run of `npages` pages from `page` on.
    ///
    /// # Safety
    ///
    /// `page` must start `npages` (at least one) physically contiguous pages
    /// that stay allocated for `'a`.
    #[cfg(kapi_heap)]
    pub(super) unsafe fn from_raw(page: NonNull<bindings::page>, npages: usize) -> Self {
        // SAFETY: By the safety requirements `page` is a valid page.
        let pfn = unsafe { bindings::rdmabuf_page_to_pfn(page.as_ptr()) };
        // INVARIANT: By the safety requirements.
        Self {
            pfn,
            npages,
            _owner: PhantomData,
        }
    }

    /// Returns the first page frame number of the run.
    pub(crate) fn pfn(&self) -> usize {
        self.pfn
    }

    /// Returns the number of pages in the run.
    pub(crate) fn npages(&self) -> usize {
        self.npages
    }

    /// Returns the `struct page` of page `n` of the run (clamped to the run).
    pub(super) fn page(&self, n: usize) -> *mut bindings::page {
        // SAFETY: By the type invariant the frame is allocated memory, which
        // has a `struct page`.
        unsafe { bindings::rdmabuf_pfn_to_page(self.pfn + n.min(self.npages - 1)) }
    }

    /// Returns the sub-run of `npages` pages from page `skip` on, if inside.
    pub(crate) fn slice(&self, skip: usize, npages: usize) -> Option<PhysRun<'a>> {
        let end = skip.checked_add(npages)?;
        if npages == 0 || end > self.npages {
            return None;
        }
        // INVARIANT: A part of this run.
        Some(PhysRun {
            pfn: self.pfn + skip,
            npages,
            _owner: PhantomData,
        })
    }

    /// Joins `next` if it starts at the page frame after this run ends.
    pub(crate) fn try_merge(&self, next: &PhysRun<'a>) -> Option<PhysRun<'a>> {
        if self.pfn + self.npages != next.pfn {
            return None;
        }
        // INVARIANT: The two runs are adjacent page frames, both allocated
        // for `'a`.
        Some(PhysRun {
            pfn: self.pfn,
            npages: self.npages + next.npages,
            _owner: PhantomData,
        })
    }
}
