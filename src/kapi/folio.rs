// SPDX-License-Identifier: GPL-2.0

//! Pinned folios, and stretches of them that kapi maps many pages at a time.
//!
//! C header: [include/linux/mm.h](srctree/include/linux/mm.h)

use core::ptr::NonNull;

use crate::kapi::kernel::prelude::*;

use super::bindings;
use super::page_run::PhysRun;

/// A folio held with one `FOLL_PIN` reference, released on drop.
///
/// # Invariants
///
/// `self.0` points to a valid folio on which this object owns one pin
/// (taken by `memfd_pin_folios`), so the folio stays allocated and resident.
#[repr(transparent)]
pub(crate) struct PinnedFolio(NonNull<bindings::folio>);

// SAFETY: A pin may be released from any thread, and the folio's metadata
// that `&PinnedFolio` reads (size, pfn) does not change while it is pinned.
unsafe impl Send for PinnedFolio {}
// SAFETY: See above; shared access only reads immutable metadata.
unsafe impl Sync for PinnedFolio {}

impl PinnedFolio {
    /// Returns the number of base pages in the folio.
    pub(crate) fn nr_pages(&self) -> usize {
        self.span().1
    }

    /// Returns the folio's first page frame and its number of pages.
    fn span(&self) -> (usize, usize) {
        let mut pfn = 0;
        // SAFETY: By the type invariant the folio is valid; `pfn` is valid
        // to write. One call for both figures: this is on the page fault
        // path.
        let nr_pages = unsafe { bindings::rdmabuf_folio_span(self.0.as_ptr(), &mut pfn) };
        (pfn, nr_pages)
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
        let (pfn, nr_pages) = self.span();
        let end = first.checked_add(npages)?;
        if npages == 0 || end > nr_pages {
            return None;
        }
        let pfn = pfn + first;
        // SAFETY: The pages are inside a folio that `self` keeps pinned for
        // at least `'_`, and a folio is physically contiguous.
        Some(unsafe { PhysRun::from_pfn(pfn, npages) })
    }
}

impl PinnedFolio {
    /// Unpins every folio of `folios` in one `unpin_folios()` call and
    /// empties it. This is how a udmabuf's table goes: one call, not one
    /// per folio (a 64 MiB buffer of 4 KiB shmem has 16384).
    pub(crate) fn unpin_all(folios: &mut KVVec<PinnedFolio>) {
        #[cfg(CONFIG_KUNIT = "y")]
        super::test_counters::unpinning(folios.len());
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

impl Drop for PinnedFolio {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own one pin on the folio.
        unsafe { bindings::unpin_folio(self.0.as_ptr()) };
    }
}
