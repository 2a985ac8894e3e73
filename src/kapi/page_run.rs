// SPDX-License-Identifier: GPL-2.0

//! Runs of physically contiguous pages that their owner keeps allocated.
//!
//! A [`PhysRun`] is the only view of memory that kapi's mapping code takes
//! from a driver: only kapi builds one (from a pinned folio or an allocated
//! block), so a driver can never make kapi map memory it does not own.

use core::marker::PhantomData;
#[cfg(kapi_heap)]
use core::ptr::NonNull;

use super::bindings;

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

    /// Makes a run of `npages` pages from page frame `pfn` on.
    ///
    /// # Safety
    ///
    /// The `npages` (at least one) page frames from `pfn` on must be
    /// allocated memory that stays allocated for `'a`.
    #[cfg(kapi_udmabuf)]
    pub(super) unsafe fn from_pfn(pfn: usize, npages: usize) -> Self {
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
