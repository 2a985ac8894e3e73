// SPDX-License-Identifier: GPL-2.0

//! Kernel virtual mappings of a buffer's pages.
//!
//! C header: [include/linux/vmalloc.h](srctree/include/linux/vmalloc.h)

use core::ffi::c_void;
use core::ptr::NonNull;

use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

use super::bindings;
use super::buffer_pages::BufferPages;
#[cfg(CONFIG_KUNIT = "y")]
use super::test_counters::TaskFlag;

/// Test-only: the next `vm_map_ram` of this module in the task that raised
/// this fails, as it does when the kernel is out of memory or of vmalloc
/// space. Users' mappings, in other tasks, are not affected.
#[cfg(CONFIG_KUNIT = "y")]
static FAIL_NEXT_MAP: TaskFlag = TaskFlag::new();

/// Test-only: the next allocation of a page array for `vm_map_ram` in the
/// task that raised this fails.
#[cfg(CONFIG_KUNIT = "y")]
static FAIL_NEXT_ARRAY: TaskFlag = TaskFlag::new();

/// Test-only: makes the next kernel mapping of a buffer that the current
/// task makes fail.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) fn fail_next_map() {
    FAIL_NEXT_MAP.set(true);
}

/// Test-only: makes the next kernel mapping of a buffer that the current
/// task makes fail to allocate its page array.
#[cfg(CONFIG_KUNIT = "y")]
#[cfg(kapi_udmabuf)]
pub(crate) fn fail_next_page_array() {
    FAIL_NEXT_ARRAY.set(true);
}

/// A contiguous kernel mapping of all the pages of a buffer, made with
/// `vm_map_ram` and unmapped on drop.
///
/// # Invariants
///
/// `addr` is the address `vm_map_ram` returned for `count` pages, which stay
/// allocated while this object lives (see [`VmapSlot::map`]).
struct VMapping {
    addr: NonNull<c_void>,
    count: u32,
}

// SAFETY: The mapping may be torn down from any thread.
unsafe impl Send for VMapping {}
// SAFETY: `&VMapping` only exposes the address.
unsafe impl Sync for VMapping {}

impl VMapping {
    /// Maps every page of `pages`. A failed allocation is ENOMEM, as in both
    /// upstream drivers; a failed `vm_map_ram` is `map_error`.
    ///
    /// # Safety
    ///
    /// The pages of `pages` must stay allocated until the result is dropped.
    unsafe fn new<P: BufferPages>(pages: &P, map_error: Error) -> Result<Self> {
        let count = pages.page_count();
        let count32 = u32::try_from(count).map_err(|_| ENOMEM)?;
        #[cfg(CONFIG_KUNIT = "y")]
        if FAIL_NEXT_ARRAY.take() {
            return Err(ENOMEM);
        }
        let mut array = KVVec::with_capacity(count, GFP_KERNEL)?;
        // Never more than `count` pages, whatever the walk gives.
        for page in pages
            .runs_from(0)
            .flat_map(|run| (0..run.npages()).map(move |n| run.page(n)))
        {
            array.push_within_capacity(page).map_err(|_| EINVAL)?;
        }
        if array.len() != count {
            return Err(EINVAL);
        }
        #[cfg(CONFIG_KUNIT = "y")]
        if FAIL_NEXT_MAP.take() {
            return Err(map_error);
        }
        // SAFETY: `array` holds `count` valid pages, allocated for as long as
        // the mapping lives by the safety requirements; -1 is `NUMA_NO_NODE`.
        let addr = unsafe { bindings::vm_map_ram(array.as_mut_ptr(), count32, -1) };
        let addr = NonNull::new(addr).ok_or(map_error)?;
        // INVARIANT: Just mapped; the pages stay allocated by the safety
        // requirements.
        Ok(Self {
            addr,
            count: count32,
        })
    }
}

impl Drop for VMapping {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the mapping was made by `vm_map_ram`
        // for `count` pages and is unmapped only here.
        unsafe { bindings::vm_unmap_ram(self.addr.as_ptr(), self.count) };
    }
}

/// The kernel mapping of a dma-buf between `vmap` and `vunmap`. The dma-buf
/// core counts vmaps and calls the exporter only for the first and the last,
/// so there is at most one.
///
/// The slot holds no reference on the pages it maps: it lives in the object
/// that owns them, and drops before them (see [`VmapSlot::map`]).
#[pin_data]
pub(crate) struct VmapSlot {
    #[pin]
    mapping: Mutex<Option<VMapping>>,
}

impl VmapSlot {
    /// Creates an empty slot.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            mapping <- new_mutex!(None),
        })
    }

    /// Maps `pages` unless already mapped; returns the address. A failed
    /// `vm_map_ram` is `map_error`.
    ///
    /// # Safety
    ///
    /// The pages of `pages` (of every call) must stay allocated until the
    /// slot is dropped: the slot is dropped before them.
    pub(super) unsafe fn map<P: BufferPages>(
        &self,
        pages: &P,
        map_error: Error,
    ) -> Result<*mut c_void> {
        let mut mapping = self.mapping.lock();
        if let Some(existing) = mapping.as_ref() {
            return Ok(existing.addr.as_ptr());
        }
        // SAFETY: The pages outlive the slot, so they outlive the mapping,
        // which the slot owns.
        let new = unsafe { VMapping::new(pages, map_error) }?;
        let addr = new.addr.as_ptr();
        *mapping = Some(new);
        Ok(addr)
    }

    /// Returns the mapping's address, if mapped, for cache maintenance.
    pub(super) fn with_mapping(&self, f: impl FnOnce(*mut c_void, usize)) {
        let mapping = self.mapping.lock();
        if let Some(m) = mapping.as_ref() {
            f(m.addr.as_ptr(), m.count as usize * kernel::page::PAGE_SIZE);
        }
    }

    /// Unmaps the mapping at `addr`.
    pub(super) fn unmap(&self, addr: *mut c_void) {
        let mut mapping = self.mapping.lock();
        if mapping.as_ref().is_some_and(|m| m.addr.as_ptr() == addr) {
            *mapping = None;
        }
    }
}
