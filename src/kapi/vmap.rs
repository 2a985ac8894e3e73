// SPDX-License-Identifier: GPL-2.0

//! Kernel virtual mappings of a buffer's pages.
//!
//! C header: [include/linux/vmalloc.h](srctree/include/linux/vmalloc.h)

use core::ffi::{
    c_int,
    c_void, //
};
use core::ptr::NonNull;

use crate::kapi::kernel::new_mutex;
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::Mutex;

use super::bindings;
use super::buffer_pages::BufferPages;
#[cfg(CONFIG_KUNIT = "y")]
use super::test_counters;

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
    /// Maps every page of `pages`, those of the dma-buf `owner` (by which
    /// KUnit cases make its mapping fail). A failed allocation is ENOMEM, as
    /// in both upstream drivers; a failed `vm_map_ram` is `map_error`.
    ///
    /// # Safety
    ///
    /// The pages of `pages` must stay allocated until the result is dropped.
    unsafe fn new<P: BufferPages>(
        pages: &P,
        map_error: Error,
        // Only KUnit cases look at it, to make their own buffer's map fail.
        #[cfg_attr(not(CONFIG_KUNIT = "y"), expect(unused_variables))] owner: usize,
    ) -> Result<Self> {
        let count = pages.page_count();
        let count32 = u32::try_from(count).map_err(|_| ENOMEM)?;
        #[cfg(CONFIG_KUNIT = "y")]
        if test_counters::vmap_fails(owner, false) {
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
        if test_counters::vmap_fails(owner, true) {
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

impl VMapping {
    /// The length of the mapping in bytes.
    fn len(&self) -> usize {
        self.count as usize * PAGE_SIZE
    }
}

/// The longest piece one call of `invalidate_kernel_vmap_range` or
/// `flush_kernel_vmap_range` takes: their size is an `int`. A whole number
/// of pages, so that every piece but the last is too.
const MAX_PIECE: usize = c_int::MAX as usize & !(PAGE_SIZE - 1);

/// Splits `len` bytes from `addr` into consecutive pieces of at most
/// [`MAX_PIECE`] bytes, each given as (address, size in an `int`).
fn int_sized_pieces(addr: usize, len: usize) -> impl Iterator<Item = (usize, c_int)> {
    (0..len)
        .step_by(MAX_PIECE)
        .map(move |offset| (addr + offset, (len - offset).min(MAX_PIECE) as c_int))
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

    /// Maps `pages`, those of the dma-buf `owner` (its address), unless
    /// already mapped; returns the address. A failed `vm_map_ram` is
    /// `map_error`.
    ///
    /// # Safety
    ///
    /// The pages of `pages` (of every call) must stay allocated until the
    /// slot is dropped: the slot is dropped before them.
    pub(super) unsafe fn map<P: BufferPages>(
        &self,
        pages: &P,
        map_error: Error,
        owner: usize,
    ) -> Result<*mut c_void> {
        let mut mapping = self.mapping.lock();
        if let Some(existing) = mapping.as_ref() {
            return Ok(existing.addr.as_ptr());
        }
        // SAFETY: The pages outlive the slot, so they outlive the mapping,
        // which the slot owns.
        let new = unsafe { VMapping::new(pages, map_error, owner) }?;
        let addr = new.addr.as_ptr();
        *mapping = Some(new);
        Ok(addr)
    }

    /// Invalidates the kernel mapping's cache lines, if mapped (before CPU
    /// access: `invalidate_kernel_vmap_range`, for VIVT caches).
    pub(super) fn invalidate(&self) {
        let mapping = self.mapping.lock();
        if let Some(m) = mapping.as_ref() {
            for (addr, size) in int_sized_pieces(m.addr.as_ptr() as usize, m.len()) {
                // SAFETY: The piece is part of the live kernel mapping, which
                // the slot's lock keeps mapped while this runs; `size` is
                // positive and within `int` as the function takes it.
                unsafe {
                    bindings::rdmabuf_invalidate_kernel_vmap_range(addr as *mut c_void, size)
                };
            }
        }
    }

    /// Writes the kernel mapping's cache lines back, if mapped (after CPU
    /// access: `flush_kernel_vmap_range`).
    pub(super) fn flush(&self) {
        let mapping = self.mapping.lock();
        if let Some(m) = mapping.as_ref() {
            for (addr, size) in int_sized_pieces(m.addr.as_ptr() as usize, m.len()) {
                // SAFETY: As in `invalidate`.
                unsafe { bindings::rdmabuf_flush_kernel_vmap_range(addr as *mut c_void, size) };
            }
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

#[cfg(kapi_udmabuf)]
#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };

    /// Returns whether the pieces of `len` bytes cover them exactly, in
    /// order, each of them positive and within an `int`.
    fn pieces_cover(len: usize) -> bool {
        let addr = 0x1000_0000_0000;
        let mut next = addr;
        for (at, size) in int_sized_pieces(addr, len) {
            if at != next || size <= 0 {
                return false;
            }
            next += size as usize;
        }
        next == addr + len
    }

    /// Cache maintenance of a kernel mapping over 2 GiB covers all of it in
    /// `int`-sized calls (a single call's size would be truncated, and VIVT
    /// caches would flush the wrong range).
    fn cache_maintenance_covers_mappings_over_2_gib() -> Result {
        let gib = 1usize << 30;
        for len in [PAGE_SIZE, 2 * gib - PAGE_SIZE, 2 * gib, 5 * gib + PAGE_SIZE] {
            assert!(pieces_cover(len));
        }
        assert_eq!(int_sized_pieces(0, 0).count(), 0);
        Ok(())
    }

    kunit_suite!(
        rudmabuf_vmap,
        [cache_maintenance_covers_mappings_over_2_gib]
    );
}
