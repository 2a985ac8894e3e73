// SPDX-License-Identifier: GPL-2.0

//! dma-buf heaps: `/dev/dma_heap/<name>` allocators.
//!
//! C header: [include/linux/dma-heap.h](srctree/include/linux/dma-heap.h)
//!
//! A driver implements [`HeapAllocator`] and registers it with [`add`], the
//! same call on every supported kernel. On Linux 7.3 that is the dma-heap
//! core's `dma_heap_add`. Linux 6.12 exports nothing of
//! `drivers/dma-buf/dma-heap.c`, so a module cannot add a heap there: kapi
//! then serves the heap from a character device of its own
//! ([`misc_device`]) at the same path, with the core's ioctl. Both ways the
//! heap stays for good once added, and the module with it.
//!
//! Building with `KRUSTFLAGS='--cfg kapi_own_heap_device'` selects the own
//! device on 7.3 too, so that it can be tested where the rest of the project
//! is; it is not meant for anything else.

use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::Arc;
use crate::kapi::kernel::ModuleMetadata;

use super::bindings;
use super::dma_buf::DmaBuf;

#[cfg(any(kernel_6_12, kapi_own_heap_device))]
mod misc_device;

/// A heap's allocator.
pub(crate) trait HeapAllocator: Send + Sync + 'static {
    /// `DMA_HEAP_IOCTL_ALLOC`: a buffer of `len` bytes (page aligned by the
    /// core) exported with file flags `fd_flags`.
    fn allocate(&self, len: usize, fd_flags: u32, heap_flags: u64) -> Result<DmaBuf>;
}

/// Returns the dma-heap core's `mem_accounting` parameter: whether heap
/// allocations are charged to the caller's memory cgroup.
#[cfg(not(kernel_6_12))]
pub(crate) fn mem_accounting() -> bool {
    // SAFETY: `mem_accounting` is an exported `bool` (a read-only module
    // parameter, in the namespace this module imports), read once as C's
    // `READ_ONCE` does.
    unsafe { core::ptr::read_volatile(&raw const bindings::mem_accounting) }
}

/// Returns whether heap allocations are charged to the caller's memory
/// cgroup: never on Linux 6.12, which has no `dma_heap.mem_accounting` (its
/// system heap does not charge them).
#[cfg(kernel_6_12)]
pub(crate) fn mem_accounting() -> bool {
    false
}

/// Adds heap `name` served by `allocator`.
///
/// A dma-heap cannot be removed: on success `allocator` lives forever and the
/// module takes a reference on itself, so it can no longer be unloaded
/// (`rmmod` fails with "Module ... is in use"). Register last in module init,
/// after everything the allocator needs.
pub(crate) fn add<T: HeapAllocator>(name: &'static CStr, allocator: Arc<T>) -> Result {
    #[cfg(not(any(kernel_6_12, kapi_own_heap_device)))]
    core_heap::add(name, allocator)?;
    #[cfg(any(kernel_6_12, kapi_own_heap_device))]
    misc_device::add(name, allocator)?;
    let module = <crate::LocalModule as ModuleMetadata>::THIS_MODULE;
    // SAFETY: We run in our own module's init, so the module is live.
    unsafe { bindings::__module_get(module.as_ptr()) };
    Ok(())
}

/// The heap added to the dma-heap core (`dma_heap_add`).
#[cfg(not(any(kernel_6_12, kapi_own_heap_device)))]
mod core_heap {
    use core::marker::PhantomData;

    use crate::kapi::kernel::prelude::*;
    use crate::kapi::kernel::sync::Arc;

    use super::bindings;
    use super::HeapAllocator;

    /// Adds heap `name` to the dma-heap core; on success `allocator` is
    /// never dropped.
    pub(super) fn add<T: HeapAllocator>(name: &'static CStr, allocator: Arc<T>) -> Result {
        let data = Arc::into_raw(allocator);
        let info = bindings::dma_heap_export_info {
            name: name.as_char_ptr(),
            ops: &HeapOps::<T>::OPS,
            priv_: data.cast_mut().cast(),
        };
        // SAFETY: `info` is initialised; `name` and `ops` are static and the
        // private data is a leaked `Arc<T>`.
        let heap = unsafe { bindings::dma_heap_add(&info) };
        if let Err(e) = kernel::error::from_err_ptr(heap) {
            // SAFETY: The heap was not added, so the `Arc` is still ours.
            drop(unsafe { Arc::from_raw(data) });
            return Err(e);
        }
        Ok(())
    }

    /// The `dma_heap_ops` of allocator type `T`.
    struct HeapOps<T>(PhantomData<T>);

    impl<T: HeapAllocator> HeapOps<T> {
        const OPS: bindings::dma_heap_ops = bindings::dma_heap_ops {
            allocate: Some(Self::allocate),
        };

        /// # Safety
        ///
        /// Called by the dma-heap core for a heap added by [`add`] with `T`.
        #[link_section = ".text.hot"]
        unsafe extern "C" fn allocate(
            heap: *mut bindings::dma_heap,
            len: kernel::ffi::c_ulong,
            fd_flags: u32,
            heap_flags: u64,
        ) -> *mut bindings::dma_buf {
            // SAFETY: The heap's private data is the leaked `Arc<T>` of
            // `add`, which lives forever.
            let allocator = unsafe { &*bindings::dma_heap_get_drvdata(heap).cast::<T>() };
            match allocator.allocate(len, fd_flags, heap_flags) {
                Ok(dmabuf) => dmabuf.into_raw(),
                Err(e) => e.to_ptr(),
            }
        }
    }
}
