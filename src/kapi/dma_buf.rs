// SPDX-License-Identifier: GPL-2.0

//! Exporting dma-bufs.
//!
//! C header: [include/linux/dma-buf.h](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`]; [`DmaBuf::export`] hands a boxed
//! exporter to `dma_buf_export` with an ops table whose trampolines call the
//! trait. The dma-buf owns the box from then on and drops it in `release`.

use core::ffi::{
    c_int,
    c_void, //
};
use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::device::Device;
use kernel::dma::DataDirection;
use kernel::error::from_result;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::ModuleMetadata;

use super::bindings;
use super::device::as_raw;
use super::folio::PhysRun;
use super::sg_table::{
    direction_from_raw,
    MappedSgTable, //
};

/// `O_RDWR`, `O_CLOEXEC`: flags of the dma-buf file and its descriptor.
pub(crate) const O_RDWR: u32 = 0o2;
pub(crate) const O_CLOEXEC: c_int = 0o2000000;
/// `VM_SHARED`, `VM_MAYSHARE`.
const VM_SHARED: usize = 0x08;
const VM_MAYSHARE: usize = 0x80;
/// `VM_FAULT_SIGBUS` and `VM_FAULT_ERROR` (checked in `src/kapi/helpers.c`).
const VM_FAULT_SIGBUS: u32 = 0x02;
const VM_FAULT_ERROR: u32 = 0x873;

/// The buffer behind a dma-buf.
pub(crate) trait Exporter: Send + Sync + Sized + 'static {
    /// How `mmap` maps the buffer: `false` (udmabuf) takes shared mappings
    /// only and maps pages from a fault handler; `true` (system heap) maps
    /// every page of the VMA at mmap time with `remap_pfn_range`.
    const REMAP_AT_MMAP: bool = false;

    /// Returns the pages of the buffer from page `pgoff` on, in order.
    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>>;

    /// Returns the page frame at page `pgoff` of the buffer.
    fn pfn_at(&self, pgoff: usize) -> Option<usize> {
        self.runs_from(pgoff).next().map(|run| run.pfn())
    }

    /// `map_dma_buf`: builds and maps an sg table for an importer's device.
    fn map(&self, dev: &Device, dir: DataDirection) -> Result<MappedSgTable>;

    /// `unmap_dma_buf`: the importer is done with `sgt`. Dropping the last
    /// handle unmaps it.
    fn unmap(&self, sgt: MappedSgTable) {
        drop(sgt);
    }

    /// `vmap`: maps the whole buffer into the kernel and returns the address.
    fn vmap(&self) -> Result<*mut c_void>;

    /// `vunmap`: undoes the `vmap` that returned `addr`.
    fn vunmap(&self, addr: *mut c_void);

    /// `begin_cpu_access`.
    fn begin_cpu_access(&self, dir: DataDirection) -> Result;

    /// `end_cpu_access`.
    fn end_cpu_access(&self, dir: DataDirection) -> Result;
}

/// A reference to an exported dma-buf, dropped with `dma_buf_put`.
///
/// # Invariants
///
/// `self.0` is a dma-buf on which this object owns one file reference.
pub(crate) struct DmaBuf(NonNull<bindings::dma_buf>);

impl DmaBuf {
    /// Exports `buffer` as a dma-buf of `size` bytes whose file has `flags`
    /// (`O_RDWR`, `O_CLOEXEC`), named `name` in `/proc/*/fdinfo` and debugfs.
    ///
    /// On failure the buffer is dropped. The dma-buf holds a reference on this
    /// module until it is released, so the module cannot go away under it.
    pub(crate) fn export<T: Exporter>(
        buffer: Pin<KBox<T>>,
        size: usize,
        flags: u32,
        name: &'static CStr,
    ) -> Result<Self> {
        let module = <crate::LocalModule as ModuleMetadata>::THIS_MODULE;
        // SAFETY: The exporter is never moved out of its allocation: the ops
        // only borrow it and `release` drops it in place.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(buffer) });
        let info = bindings::dma_buf_export_info {
            exp_name: name.as_char_ptr(),
            owner: module.as_ptr(),
            ops: &OpsTable::<T>::OPS,
            size,
            flags: flags as c_int,
            resv: core::ptr::null_mut(),
            priv_: raw.cast(),
        };
        // SAFETY: `info` is fully initialised; `ops` is a static table; `priv_`
        // is an exporter the dma-buf takes over on success.
        let dmabuf = unsafe { bindings::dma_buf_export(&info) };
        match kernel::error::from_err_ptr(dmabuf) {
            // INVARIANT: `dma_buf_export` returns the first reference.
            Ok(dmabuf) => Ok(Self(NonNull::new(dmabuf).ok_or(ENOMEM)?)),
            Err(e) => {
                // SAFETY: The export failed, so `raw` is still ours.
                drop(unsafe { KBox::from_raw(raw) });
                Err(e)
            }
        }
    }

    /// Installs a descriptor for the dma-buf, close-on-exec if `cloexec`.
    pub(crate) fn into_fd(self, cloexec: bool) -> Result<i32> {
        let flags = if cloexec { O_CLOEXEC } else { 0 };
        // SAFETY: By the type invariant we own a reference, which the new
        // descriptor takes over on success.
        let fd = unsafe { bindings::dma_buf_fd(self.0.as_ptr(), flags) };
        if fd < 0 {
            // `self` drops its reference, releasing the dma-buf.
            return Err(Error::from_errno(fd));
        }
        core::mem::forget(self);
        Ok(fd)
    }

    /// Hands the reference to C.
    pub(super) fn into_raw(self) -> *mut bindings::dma_buf {
        let dmabuf = self.0.as_ptr();
        core::mem::forget(self);
        dmabuf
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own a reference.
        unsafe { bindings::dma_buf_put(self.0.as_ptr()) };
    }
}

impl DmaBuf {
    /// `dma_buf_begin_cpu_access`, as an importer or kernel user calls it.
    pub(crate) fn begin_cpu_access(&self, dir: DataDirection) -> Result {
        // SAFETY: By the type invariant the dma-buf is live.
        kernel::error::to_result(unsafe {
            bindings::dma_buf_begin_cpu_access(self.0.as_ptr(), dir.into())
        })
    }

    /// `dma_buf_end_cpu_access`.
    pub(crate) fn end_cpu_access(&self, dir: DataDirection) -> Result {
        // SAFETY: By the type invariant the dma-buf is live.
        kernel::error::to_result(unsafe {
            bindings::dma_buf_end_cpu_access(self.0.as_ptr(), dir.into())
        })
    }

    /// Attaches `dev` as an importer, as a device driver would.
    pub(crate) fn attach<'a>(&'a self, dev: &'a Device) -> Result<Attachment<'a>> {
        // SAFETY: The dma-buf and the device are valid for `'a`.
        let attach = unsafe { bindings::dma_buf_attach(self.0.as_ptr(), as_raw(dev)) };
        let attach = NonNull::new(kernel::error::from_err_ptr(attach)?).ok_or(ENOMEM)?;
        // INVARIANT: Just attached.
        Ok(Attachment {
            dmabuf: self,
            attach,
        })
    }
}

/// An importer's attachment to a [`DmaBuf`], detached on drop.
///
/// # Invariants
///
/// `attach` is an attachment of `dmabuf` made by `dma_buf_attach`.
pub(crate) struct Attachment<'a> {
    dmabuf: &'a DmaBuf,
    attach: NonNull<bindings::dma_buf_attachment>,
}

impl Attachment<'_> {
    /// Maps the buffer for the attached device (`map_dma_buf`) and returns
    /// the segments of the exporter's sg table as (page frame, bytes).
    /// The mapping is undone before returning.
    pub(crate) fn map_segments(&self, dir: DataDirection) -> Result<KVec<(usize, usize)>> {
        let dir = bindings::dma_data_direction::from(dir);
        // SAFETY: By the type invariant the attachment is live.
        let sgt = unsafe { bindings::dma_buf_map_attachment_unlocked(self.attach.as_ptr(), dir) };
        let sgt = kernel::error::from_err_ptr(sgt)?;
        let mut segments = KVec::new();
        // SAFETY: `sgt` is the mapped table, valid until unmapped below.
        let (mut sg, nents) = unsafe { ((*sgt).sgl, (*sgt).orig_nents) };
        let mut result = Ok(());
        for _ in 0..nents {
            // SAFETY: `sg` is one of the table's `nents` entries.
            let (pfn, len) = unsafe { (bindings::rdmabuf_sg_pfn(sg), (*sg).length as usize) };
            if let Err(e) = segments.push((pfn, len), GFP_KERNEL) {
                result = Err(e.into());
                break;
            }
            // SAFETY: As above.
            sg = unsafe { bindings::sg_next(sg) };
        }
        // SAFETY: `sgt` was mapped above for this attachment in `dir`.
        unsafe { bindings::dma_buf_unmap_attachment_unlocked(self.attach.as_ptr(), sgt, dir) };
        result.map(|()| segments)
    }
}

impl Drop for Attachment<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant; every mapping was undone.
        unsafe { bindings::dma_buf_detach(self.dmabuf.0.as_ptr(), self.attach.as_ptr()) };
    }
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
    /// `dmabuf` must be a live dma-buf exported by [`DmaBuf::export`] with `T`.
    unsafe fn exporter<'a>(dmabuf: *mut bindings::dma_buf) -> &'a T {
        // SAFETY: By the safety requirements `priv_` is a `T` that lives until
        // `release`, which runs after every other op.
        unsafe { &*(*dmabuf).priv_.cast::<T>() }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
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
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn unmap_dma_buf(
        attach: *mut bindings::dma_buf_attachment,
        sgt: *mut bindings::sg_table,
        _dir: bindings::dma_data_direction,
    ) {
        // SAFETY: The dma-buf core passes a live attachment of our dma-buf;
        // `sgt` is what `map_dma_buf` returned for it, and the table
        // remembers its device and direction.
        let (exporter, sgt) = unsafe {
            (
                Self::exporter((*attach).dmabuf),
                MappedSgTable::from_raw(sgt),
            )
        };
        exporter.unmap(sgt);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: The last reference is gone: we take the exporter back.
        drop(unsafe { KBox::from_raw((*dmabuf).priv_.cast::<T>()) });
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
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
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
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
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
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
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn vunmap(dmabuf: *mut bindings::dma_buf, map: *mut bindings::iosys_map) {
        // SAFETY: The dma-buf is live during its ops; `map` is the one `vmap`
        // filled with a system-memory address.
        let (exporter, addr) = unsafe { (Self::exporter(dmabuf), (*map).__bindgen_anon_1.vaddr) };
        exporter.vunmap(addr);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn mmap(
        dmabuf: *mut bindings::dma_buf,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        let mut info = bindings::rdmabuf_vma_info::default();
        // SAFETY: `vma` is the VMA being set up.
        unsafe { bindings::rdmabuf_vma_get_info(vma, &mut info) };
        if T::REMAP_AT_MMAP {
            // SAFETY: The dma-buf is live during its ops.
            let exporter = unsafe { Self::exporter(dmabuf) };
            return from_result(|| Self::remap_all(exporter, vma, &info).map(|()| 0));
        }
        // Upstream udmabuf: only shared mappings.
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

    /// Maps the pages from the VMA's offset on, whole runs at a time, as
    /// upstream's system heap does.
    fn remap_all(
        exporter: &T,
        vma: *mut bindings::vm_area_struct,
        info: &bindings::rdmabuf_vma_info,
    ) -> Result {
        let mut addr = info.start;
        for run in exporter.runs_from(info.pgoff) {
            if addr >= info.end {
                break;
            }
            let size = (run.npages() * PAGE_SIZE).min(info.end - addr);
            // SAFETY: `vma` is being set up under the mmap lock; the range is
            // inside it and the pages belong to the buffer, which the VMA's
            // file reference keeps alive.
            kernel::error::to_result(unsafe {
                bindings::rdmabuf_remap_pfn_range(vma, addr, run.pfn(), size)
            })?;
            addr += size;
        }
        Ok(())
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
