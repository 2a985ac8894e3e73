// SPDX-License-Identifier: GPL-2.0

//! Kernel virtual mappings of page runs.
//!
//! C header: [include/linux/vmalloc.h](srctree/include/linux/vmalloc.h)

use core::ffi::c_void;
use core::ptr::NonNull;

use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

use super::bindings;
use super::folio::PhysRun;

/// A contiguous kernel mapping of pages made with `vm_map_ram`, unmapped on
/// drop.
///
/// # Invariants
///
/// `addr` is the address `vm_map_ram` returned for `count` pages. The pages
/// stay allocated while the mapping exists (its owner keeps them).
pub(crate) struct VMapping {
    addr: NonNull<c_void>,
    count: u32,
}

// SAFETY: The mapping may be torn down from any thread.
unsafe impl Send for VMapping {}
// SAFETY: `&VMapping` only exposes the address.
unsafe impl Sync for VMapping {}

impl VMapping {
    /// Maps the pages of `runs`, `count` in total.
    ///
    /// The caller keeps the pages allocated until the mapping is dropped.
    pub(crate) fn new<'a>(runs: impl Iterator<Item = PhysRun<'a>>, count: usize) -> Result<Self> {
        let count32 = u32::try_from(count).map_err(|_| EINVAL)?;
        let mut pages = KVVec::with_capacity(count, GFP_KERNEL)?;
        for run in runs {
            for n in 0..run.npages() {
                pages.push(run.page(n), GFP_KERNEL)?;
            }
        }
        if pages.len() != count {
            return Err(EINVAL);
        }
        // SAFETY: `pages` holds `count` valid, allocated pages; -1 is
        // `NUMA_NO_NODE`.
        let addr = unsafe { bindings::vm_map_ram(pages.as_mut_ptr(), count32, -1) };
        // As upstream udmabuf: a failed vm_map_ram is EINVAL.
        let addr = NonNull::new(addr).ok_or(EINVAL)?;
        // INVARIANT: Just mapped.
        Ok(Self {
            addr,
            count: count32,
        })
    }

    /// Returns the start address of the mapping.
    pub(crate) fn addr(&self) -> *mut c_void {
        self.addr.as_ptr()
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

    /// Maps `runs` (`count` pages) unless already mapped; returns the address.
    pub(crate) fn map<'a>(
        &self,
        runs: impl Iterator<Item = PhysRun<'a>>,
        count: usize,
    ) -> Result<*mut c_void> {
        let mut mapping = self.mapping.lock();
        if let Some(existing) = mapping.as_ref() {
            return Ok(existing.addr());
        }
        let new = VMapping::new(runs, count)?;
        let addr = new.addr();
        *mapping = Some(new);
        Ok(addr)
    }

    /// Unmaps the mapping at `addr`.
    pub(crate) fn unmap(&self, addr: *mut c_void) {
        let mut mapping = self.mapping.lock();
        if mapping.as_ref().is_some_and(|m| m.addr() == addr) {
            *mapping = None;
        }
    }
}
