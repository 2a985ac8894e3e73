// SPDX-License-Identifier: GPL-2.0

//! Exporting dma-bufs.
//!
//! C header: [include/linux/dma-buf.h](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`]; [`export`] hands a boxed exporter to
//! `dma_buf_export` with an ops table whose trampolines call the trait. The
//! dma-buf owns the box from then on and drops it in its `release` op.

use core::ffi::{
    c_int,
    c_void, //
};
use core::marker::PhantomData;

use kernel::device::Device;
use kernel::dma::DataDirection;
use kernel::error::from_result;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::ModuleMetadata;

use super::bindings;
use super::folio::PhysRun;
use super::sg_table::{
    direction_from_raw,
    MappedSgTable, //
};

/// `O_RDWR`, `O_CLOEXEC`: flags of the dma-buf file and its descriptor.
const O_RDWR: c_int = 0o2;
const O_CLOEXEC: c_int = 0o2000000;
/// `VM_SHARED`, `VM_MAYSHARE`.
const VM_SHARED: usize = 0x08;
const VM_MAYSHARE: usize = 0x80;
/// `VM_FAULT_SIGBUS` and `VM_FAULT_ERROR` (checked in `src/kapi/helpers.c`).
const VM_FAULT_SIGBUS: u32 = 0x02;
const VM_FAULT_ERROR: u32 = 0x873;

/// The buffer behind a dma-buf.
pub(crate) trait Exporter: Send + Sync + Sized + 'static {
    /// Returns the size of the buffer in pages.
    fn page_count(&self) -> usize;

    /// Returns the page frame at page `pgoff` of the buffer.
    fn pfn_at(&self, pgoff: usize) -> Option<usize>;

    /// Returns the pages of the buffer from page `pgoff` on, in order.
    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>>;

    /// `map_dma_buf`: builds and maps an sg table for an importer's device.
    fn map(&self, dev: &Device, dir: DataDirection) -> Result<MappedSgTable>;

    /// `vmap`: maps the whole buffer into the kernel and returns the address.
    fn vmap(&self) -> Result<*mut c_void>;

    /// `vunmap`: undoes the `vmap` that returned `addr`.
    fn vunmap(&self, addr: *mut c_void);

    /// `begin_cpu_access`.
    fn begin_cpu_access(&self, dir: DataDirection) -> Result;

    /// `end_cpu_access`.
    fn end_cpu_access(&self, dir: DataDirection) -> Result;
}

/// Exports `buffer` as a dma-buf of `size` bytes and installs a descriptor
/// for it, close-on-exec if `cloexec`. Returns the descriptor.
///
/// On failure the buffer is dropped.
pub(crate) fn export<T: Exporter>(buffer: Pin<KBox<T>>, size: usize, cloexec: bool) -> Result<i32> {
    let module = <crate::LocalModule as ModuleMetadata>::THIS_MODULE;
    // SAFETY: The exporter is never moved out of its allocation: the ops
    // only borrow it and `release` drops it in place.
    let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(buffer) });
    // `exp_name` and `owner` as DEFINE_DMA_BUF_EXPORT_INFO sets them: the
    // module reference keeps the module loaded while the dma-buf lives.
    let info = bindings::dma_buf_export_info {
        exp_name: <crate::LocalModule as ModuleMetadata>::NAME.as_char_ptr(),
        owner: module.as_ptr(),
        ops: &OpsTable::<T>::OPS,
        size,
        flags: O_RDWR,
        resv: core::ptr::null_mut(),
        priv_: raw.cast(),
    };
    // SAFETY: `info` is fully initialised; `ops` is a static table; `priv_`
    // is an exporter the dma-buf takes over on success.
    let dmabuf = unsafe { bindings::dma_buf_export(&info) };
    if let Err(e) = kernel::error::from_err_ptr(dmabuf) {
        // SAFETY: The export failed, so `raw` is still ours.
        drop(unsafe { KBox::from_raw(raw) });
        return Err(e);
    }
    let flags = if cloexec { O_CLOEXEC } else { 0 };
    // SAFETY: `dmabuf` is a new dma-buf whose reference we own.
    let fd = unsafe { bindings::dma_buf_fd(dmabuf, flags) };
    if fd < 0 {
        // SAFETY: We own the reference; dropping it releases the dma-buf,
        // and with it the exporter.
        unsafe { bindings::dma_buf_put(dmabuf) };
        return Err(Error::from_errno(fd));
    }
    Ok(fd)
}

/// The `dma_buf_ops` and `vm_operations_struct` of exporter type `T`.
struct OpsTable<T>(PhantomData<T>);

impl<T: Exporter> OpsTable<T> {
    const OPS: bindings::dma_buf_ops = bindings::dma_buf_ops {
        map_dma_buf: Some(Self::map_dma_buf),
        unmap_dma_buf: Some(Self::unmap_dma_buf),
        release: Some(Self::release),
        begin_cpu_access: Some(Self::begin_cpu_access),
        end_cpu_access: Some(Self::end_cpu_access),
        mmap: Some(Self::mmap),
        vmap: Some(Self::vmap),
        vunmap: Some(Self::vunmap),
        // SAFETY: All-zero is a valid `dma_buf_ops` (no callbacks).
        ..unsafe { core::mem::zeroed() }
    };

    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault),
        // SAFETY: All-zero is a valid `vm_operations_struct`.
        ..unsafe { core::mem::zeroed() }
    };

    /// Returns the exporter of `dmabuf`.
    ///
    /// # Safety
    ///
    /// `dmabuf` must be a live dma-buf exported by [`export`] with `T`.
    unsafe fn exporter<'a>(dmabuf: *mut bindings::dma_buf) -> &'a T {
        // SAFETY: By the safety requirements `priv_` is a `T` that lives until
        // `release`, which runs after every other op.
        unsafe { &*(*dmabuf).priv_.cast::<T>() }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`export`]
    /// with `T`.
    unsafe extern "C" fn map_dma_buf(
        attach: *mut bindings::dma_buf_attachment,
        dir: bindings::dma_data_direction,
    ) -> *mut bindings::sg_table {
        // SAFETY: The dma-buf core passes a live attachment of our dma-buf.
        let (exporter, dev) = unsafe { (Self::exporter((*attach).dmabuf), (*attach).dev) };
        // SAFETY: The importer's device lives at least as long as its
        // attachment.
        let dev = unsafe { Device::from_raw(dev) };
        match exporter.map(dev, direction_from_raw(dir)) {
            Ok(sgt) => sgt.into_raw(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`export`]
    /// with `T`.
    unsafe extern "C" fn unmap_dma_buf(
        _attach: *mut bindings::dma_buf_attachment,
        sgt: *mut bindings::sg_table,
        _dir: bindings::dma_data_direction,
    ) {
        // SAFETY: `sgt` is what `map_dma_buf` returned for this attachment;
        // the table remembers its device and direction.
        drop(unsafe { MappedSgTable::from_raw(sgt) });
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`export`]
    /// with `T`.
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: The last reference is gone: we take the exporter back.
        drop(unsafe { KBox::from_raw((*dmabuf).priv_.cast::<T>()) });
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`export`]
    /// with `T`.
    unsafe extern "C" fn begin_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: The dma-buf is live during its ops.
        let exporter = unsafe { Self::exporter(dmabuf) };
        from_result(|| {
            exporter
                .begin_cpu_access(direction_from_raw(dir))
                .map(|()| 0)
        })
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`export`]
    /// with `T`.
    unsafe extern "C" fn end_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: The dma-buf is live during its ops.
        let exporter = unsafe { Self::exporter(dmabuf) };
        from_result(|| exporter.end_cpu_access(direction_from_raw(dir)).map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`export`]
    /// with `T`.
    unsafe extern "C" fn vmap(
        dmabuf: *mut bindings::dma_buf,
        map: *mut bindings::iosys_map,
    ) -> c_int {
        // SAFETY: The dma-buf is live during its ops.
        let exporter = unsafe { Self::exporter(dmabuf) };
        from_result(|| {
            let addr = exporter.vmap()?;
            // SAFETY: `map` is the caller's map to fill.
            unsafe { bindings::rdmabuf_iosys_map_set_vaddr(map, addr) };
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`export`]
    /// with `T`.
    unsafe extern "C" fn vunmap(dmabuf: *mut bindings::dma_buf, map: *mut bindings::iosys_map) {
        // SAFETY: The dma-buf is live during its ops; `map` is the one `vmap`
        // filled with a system-memory address.
        let (exporter, addr) = unsafe { (Self::exporter(dmabuf), (*map).__bindgen_anon_1.vaddr) };
        exporter.vunmap(addr);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`export`]
    /// with `T`.
    unsafe extern "C" fn mmap(
        dmabuf: *mut bindings::dma_buf,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        let mut info = bindings::rdmabuf_vma_info::default();
        // SAFETY: `vma` is the VMA being set up.
        unsafe { bindings::rdmabuf_vma_get_info(vma, &mut info) };
        // Upstream: only shared mappings.
        if info.flags & (VM_SHARED | VM_MAYSHARE) as u64 == 0 {
            return EINVAL.to_errno();
        }
        // SAFETY: `vma` is being set up under the mmap lock. The VMA holds a
        // reference to the dma-buf file, so the exporter outlives it and may
        // be the VMA's private data.
        unsafe {
            bindings::rdmabuf_vma_set_pfnmap(vma, &Self::VM_OPS, (*dmabuf).priv_);
        }
        0
    }

    /// Inserts the faulting page frame, then, as upstream udmabuf does, the
    /// rest of the VMA, so that a first touch costs one fault.
    ///
    /// # Safety
    ///
    /// Called by the MM on a fault in a VMA set up by [`Self::mmap`].
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        let mut info = bindings::rdmabuf_vma_info::default();
        let mut pgoff = 0;
        let mut address = 0;
        // SAFETY: `vmf` is the fault being handled.
        let vma =
            unsafe { bindings::rdmabuf_vmf_get_info(vmf, &mut info, &mut pgoff, &mut address) };
        // SAFETY: `mmap` set the exporter as private data; it outlives the VMA.
        let exporter = unsafe { &*info.private.cast::<T>() };

        let insert = |addr: usize, pfn: usize| -> u32 {
            // SAFETY: `vma` is a PFN-mapped VMA of ours and `addr` is inside it;
            // `pfn` is a pinned page of the buffer, which outlives the VMA.
            unsafe { bindings::vmf_insert_pfn(vma, addr, pfn) }
        };

        let Some(pfn) = exporter.pfn_at(pgoff) else {
            return VM_FAULT_SIGBUS;
        };
        let ret = insert(address, pfn);
        if ret & VM_FAULT_ERROR != 0 {
            return ret;
        }

        let (start, end) = (info.start, info.end);
        let mut addr = start;
        'prefault: for run in exporter.runs_from(info.pgoff) {
            for n in 0..run.npages() {
                if addr >= end {
                    break 'prefault;
                }
                // Errors here are left to a real fault on that address.
                if addr != address && insert(addr, run.pfn() + n) & VM_FAULT_ERROR != 0 {
                    break 'prefault;
                }
                addr += PAGE_SIZE;
            }
        }
        ret
    }
}
