// SPDX-License-Identifier: GPL-2.0

//! Exporting dma-bufs.
//!
//! C header: [include/linux/dma-buf.h](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`]; [`DmaBuf::export`] hands it to
//! `dma_buf_export`, in one reference-counted allocation with the kernel
//! mapping that kapi manages ([`Exported`]), with an ops table whose
//! trampolines call the trait. The dma-buf owns a reference from then on and
//! drops it in `release`; each sg table mapped for a device holds another,
//! so the pages outlive every mapping of them.

use core::ffi::{
    c_int,
    c_void, //
};
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use kernel::device::Device;
use kernel::dma::DataDirection;
use kernel::error::{
    from_result,
    VTABLE_DEFAULT_ERROR, //
};
#[cfg(kapi_udmabuf)]
use kernel::fs::file::flags;
#[cfg(kapi_udmabuf)]
use kernel::mm::virt::flags as vm_flags;
use kernel::mm::virt::{
    VmaNew, //
};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{
    Arc,
    ArcBorrow, //
};
use kernel::types::ForeignOwnable;
use kernel::ModuleMetadata;

use super::bindings;
use super::device::as_raw;
#[cfg(kapi_udmabuf)]
use super::folio::FolioStretch;
use super::folio::{
    BufferPages,
    PhysRun, //
};
use super::sg_table::{
    direction_from_raw,
    CpuSync,
    MappedSgTable,
    Segments, //
};
use super::vmap::VmapSlot;

/// `O_RDWR`, `O_CLOEXEC`: flags of the dma-buf file and its descriptor.
#[cfg(kapi_udmabuf)]
pub(crate) const O_RDWR: u32 = flags::O_RDWR;
#[cfg(kapi_udmabuf)]
const O_CLOEXEC: u32 = flags::O_CLOEXEC;
/// `VM_FAULT_SIGBUS`, `VM_FAULT_ERROR` and `VM_FAULT_FALLBACK` (checked in `src/kapi/helpers.c`:
/// the kernel crate binds neither, `VM_FAULT_ERROR` being a macro).
#[cfg(kapi_udmabuf)]
const VM_FAULT_SIGBUS: u32 = 0x02;
#[cfg(kapi_udmabuf)]
const VM_FAULT_ERROR: u32 = 0x873;
#[cfg(kapi_udmabuf)]
const VM_FAULT_FALLBACK: u32 = 0x800;

/// Returns the first page frame of the `nr` buffer pages that the VMA maps
/// at `addr` if one huge entry maps them: `addr` is aligned to `nr` pages,
/// the VMA covers them all, and they are the pages of one folio (or run)
/// from a page aligned alike. These pieces, and only these, are what
/// `huge_fault` maps.
#[cfg(kapi_udmabuf)]
fn huge_piece<P: BufferPages>(
    pages: &P,
    info: &bindings::rdmabuf_vma_info,
    addr: usize,
    nr: usize,
) -> Option<usize> {
    let size = nr.checked_mul(PAGE_SIZE)?;
    if addr % size != 0 || addr < info.start || addr.checked_add(size)? > info.end {
        return None;
    }
    let run = pages
        .runs_from(info.pgoff + (addr - info.start) / PAGE_SIZE)
        .next()?;
    // `checked_rem`, not `%`: no division-by-zero panic call, which objtool
    // reports as a function that falls through (`nr` is never zero).
    (run.npages() >= nr && run.pfn().checked_rem(nr)? == 0).then_some(run.pfn())
}

/// How a dma-buf's pages are mapped into user space.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mmap {
    /// Upstream udmabuf: shared mappings only; pages are inserted by the
    /// fault handler (the faulting page, then the rest of the VMA).
    #[cfg(kapi_udmabuf)]
    OnFault,
    /// Upstream system heap: every page of the VMA is mapped at mmap time
    /// with `remap_pfn_range`.
    #[cfg(kapi_heap)]
    AtMmap,
}

/// The buffer behind a dma-buf.
///
/// The driver provides its pages ([`BufferPages`]) and what differs between
/// exporters; kapi does the mappings (user space, kernel, devices) of those
/// pages, so a driver never hands the kernel a page frame or an address.
#[vtable]
pub(crate) trait Exporter: Send + Sync + Sized + 'static {
    /// The pages of the buffer.
    type Pages: BufferPages;

    /// How `mmap` maps the buffer.
    const MMAP: Mmap;

    /// The errno of a failed `vmap` (upstream udmabuf says EINVAL, the heap
    /// ENOMEM).
    const VMAP_ERROR: Error = ENOMEM;

    /// Returns the pages of the buffer.
    fn pages(&self) -> &Self::Pages;

    /// `map_dma_buf`: builds and maps an sg table for an importer's device,
    /// with [`Buffer::sg_table`].
    fn map(this: Buffer<'_, Self>, dev: &Device, dir: DataDirection) -> Result<SgMapping<Self>>;

    /// `unmap_dma_buf`: the importer is done with `sgt`. Dropping the last
    /// handle unmaps it.
    fn unmap(&self, sgt: SgMapping<Self>) {
        drop(sgt);
    }

    /// `begin_cpu_access`, after kapi invalidated the kernel mapping's
    /// cache lines.
    fn begin_cpu_access(_this: Buffer<'_, Self>, _dir: DataDirection) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `end_cpu_access`, after kapi flushed the kernel mapping's cache lines.
    fn end_cpu_access(&self, _dir: DataDirection) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `release`: the dma-buf is gone, and with it every attachment. The
    /// exporter drops the sg tables it mapped for itself: each holds a
    /// reference on the buffer, which would otherwise never go.
    fn release(&self) {}
}

/// What a dma-buf's private data points to: the exporter and the kernel
/// mapping that kapi manages for it, in one allocation shared by the
/// dma-buf and the sg tables mapped from it.
///
/// # Invariants
///
/// `vmap` maps only the pages of `exporter`, and drops before them (fields
/// drop in declaration order).
#[pin_data]
pub(crate) struct Exported<T: Exporter> {
    #[pin]
    vmap: VmapSlot,
    #[pin]
    exporter: T,
}

/// The pages of an exported buffer are those of its exporter: what the sg
/// tables mapped from it hold a reference on.
impl<T: Exporter> BufferPages for Exported<T> {
    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> + Clone {
        self.exporter.pages().runs_from(pgoff)
    }

    fn page_count(&self) -> usize {
        self.exporter.pages().page_count()
    }

    #[cfg(kapi_udmabuf)]
    fn folio_stretches_from(&self, pgoff: usize) -> impl Iterator<Item = FolioStretch<'_>> {
        self.exporter.pages().folio_stretches_from(pgoff)
    }
}

/// A handle to an sg table of `T`'s pages mapped for a device.
pub(crate) type SgMapping<T> = MappedSgTable<Exported<T>>;

/// An exported buffer, as its ops see it: the exporter (through `Deref`),
/// and the means to map its pages for a device.
pub(crate) struct Buffer<'a, T: Exporter>(ArcBorrow<'a, Exported<T>>);

impl<T: Exporter> Buffer<'_, T> {
    /// Builds the table of all the buffer's pages, with `segments`, and maps
    /// it for `dev` in `dir`, synced as `sync` says. The table holds a
    /// reference on the buffer.
    pub(crate) fn sg_table(
        &self,
        dev: &Device,
        dir: DataDirection,
        segments: Segments,
        sync: CpuSync,
    ) -> Result<SgMapping<T>> {
        MappedSgTable::new(self.0.into(), dev, dir, segments, sync)
    }
}

impl<T: Exporter> Deref for Buffer<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0.exporter
    }
}

/// A reference to an exported dma-buf, dropped with `dma_buf_put`.
///
/// # Invariants
///
/// `self.0` is a dma-buf on which this object owns one file reference.
pub(crate) struct DmaBuf(NonNull<bindings::dma_buf>);

impl DmaBuf {
    /// Exports the buffer that `init` initialises as a dma-buf of `size`
    /// bytes whose file has `flags` (`O_RDWR`), named `name` in
    /// `/proc/*/fdinfo` and debugfs.
    ///
    /// On failure the buffer is dropped. The dma-buf holds a reference on this
    /// module until it is released, so the module cannot go away under it.
    pub(crate) fn export<T: Exporter>(
        init: impl PinInit<T, Error>,
        size: usize,
        flags: u32,
        name: &'static CStr,
    ) -> Result<Self> {
        // INVARIANT: The slot starts empty, and only `vmap` fills it, with
        // the exporter's pages; `vmap` is declared first, so it drops first.
        let exported = Arc::pin_init(
            try_pin_init!(Exported {
                vmap <- VmapSlot::new(),
                exporter <- init,
            }),
            GFP_KERNEL,
        )?;
        let module = <crate::LocalModule as ModuleMetadata>::THIS_MODULE;
        let private = exported.into_foreign();
        let info = bindings::dma_buf_export_info {
            exp_name: name.as_char_ptr(),
            owner: module.as_ptr(),
            ops: &OpsTable::<T>::OPS,
            size,
            flags: flags as c_int,
            resv: core::ptr::null_mut(),
            priv_: private,
        };
        // SAFETY: `info` is fully initialised; `ops` is a static table; `priv_`
        // is a reference on the exporter, which the dma-buf takes over on
        // success.
        let dmabuf = unsafe { bindings::dma_buf_export(&info) };
        match kernel::error::from_err_ptr(dmabuf) {
            // INVARIANT: `dma_buf_export` returns the first reference.
            Ok(dmabuf) => Ok(Self(NonNull::new(dmabuf).ok_or(ENOMEM)?)),
            Err(e) => {
                // SAFETY: The export failed, so `private` is still ours.
                drop(unsafe { <Arc<Exported<T>>>::from_foreign(private) });
                Err(e)
            }
        }
    }

    #[cfg(kapi_udmabuf)]
    /// Installs a descriptor for the dma-buf, close-on-exec if `cloexec`.
    pub(crate) fn into_fd(self, cloexec: bool) -> Result<i32> {
        let flags = if cloexec { O_CLOEXEC as c_int } else { 0 };
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
    #[cfg(kapi_heap)]
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

/// What KUnit tests do as importers.
#[cfg(CONFIG_KUNIT = "y")]
impl DmaBuf {
    /// Maps the whole buffer into the kernel (`dma_buf_vmap`, our `vmap`)
    /// and returns whether every byte is `byte`.
    pub(crate) fn vmap_all_equal(&self, byte: u8) -> Result<bool> {
        // SAFETY: By the type invariant the dma-buf is live.
        let ret = unsafe { bindings::rdmabuf_test_vmap_all_equal(self.0.as_ptr(), byte.into()) };
        kernel::error::to_result(ret.min(0))?;
        Ok(ret == 1)
    }

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

    /// Drops the reference and runs the release now: the last `fput` from
    /// a kernel thread is otherwise deferred to a work item.
    pub(crate) fn release_now(self) {
        drop(self);
        // SAFETY: Runs the deferred `fput`s; no locks are held.
        unsafe { bindings::flush_delayed_fput() };
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

/// An importer's attachment to a [`DmaBuf`], detached on drop (KUnit).
///
/// # Invariants
///
/// `attach` is an attachment of `dmabuf` made by `dma_buf_attach`.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct Attachment<'a> {
    dmabuf: &'a DmaBuf,
    attach: NonNull<bindings::dma_buf_attachment>,
}

#[cfg(CONFIG_KUNIT = "y")]
impl Attachment<'_> {
    /// Maps the buffer for the attached device in `dir`, writes `byte` to
    /// all of it from the device side, and unmaps. With `importer_syncs`
    /// the importer syncs its mapping for the CPU before unmapping, as an
    /// importer of a buffer mapped with `DMA_ATTR_SKIP_CPU_SYNC` must.
    pub(crate) fn device_writes(
        &self,
        dir: DataDirection,
        byte: u8,
        importer_syncs: bool,
    ) -> Result {
        let raw_dir = bindings::dma_data_direction::from(dir);
        // SAFETY: By the type invariant the attachment is live.
        let sgt =
            unsafe { bindings::dma_buf_map_attachment_unlocked(self.attach.as_ptr(), raw_dir) };
        let sgt = kernel::error::from_err_ptr(sgt)?;
        // SAFETY: `sgt` is mapped for the attached device until unmapped
        // below; the test VM has direct DMA (see the C helper).
        unsafe {
            bindings::rdmabuf_test_dma_fill(sgt, byte.into());
            if importer_syncs {
                bindings::rdmabuf_dma_sync_sgtable_for_cpu(
                    (*self.attach.as_ptr()).dev,
                    sgt,
                    raw_dir,
                );
            }
            bindings::dma_buf_unmap_attachment_unlocked(self.attach.as_ptr(), sgt, raw_dir);
        }
        Ok(())
    }

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

#[cfg(CONFIG_KUNIT = "y")]
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
        begin_cpu_access: if T::HAS_BEGIN_CPU_ACCESS {
            Some(Self::begin_cpu_access)
        } else {
            None
        },
        end_cpu_access: if T::HAS_END_CPU_ACCESS {
            Some(Self::end_cpu_access)
        } else {
            None
        },
        mmap: Some(Self::mmap),
        vmap: Some(Self::vmap),
        vunmap: Some(Self::vunmap),
        // SAFETY: All-zero is a valid `dma_buf_ops` (no callbacks).
        ..unsafe { core::mem::zeroed() }
    };

    #[cfg(kapi_udmabuf)]
    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault),
        huge_fault: Some(Self::huge_fault),
        // SAFETY: All-zero is a valid `vm_operations_struct`.
        ..unsafe { core::mem::zeroed() }
    };

    /// Returns what the dma-buf's private data points to.
    ///
    /// # Safety
    ///
    /// `private` must be the private data of a live dma-buf exported by
    /// [`DmaBuf::export`] with `T` (or of a VMA that maps one).
    unsafe fn exported<'a>(private: *mut c_void) -> ArcBorrow<'a, Exported<T>> {
        // SAFETY: By the safety requirements `private` came from
        // `into_foreign` in `export`, and is taken back only in `release`,
        // which runs after every other op and after every VMA is gone (each
        // holds a reference to the dma-buf's file).
        unsafe { <Arc<Exported<T>> as ForeignOwnable>::borrow(private) }
    }

    /// Returns the exporter of `dmabuf`.
    ///
    /// # Safety
    ///
    /// `dmabuf` must be a live dma-buf exported by [`DmaBuf::export`] with `T`.
    unsafe fn of<'a>(dmabuf: *mut bindings::dma_buf) -> ArcBorrow<'a, Exported<T>> {
        // SAFETY: By the safety requirements.
        unsafe { Self::exported((*dmabuf).priv_) }
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
        let (exported, dev) = unsafe { (Self::of((*attach).dmabuf), (*attach).dev) };
        // SAFETY: The importer's device lives at least as long as its
        // attachment.
        let dev = unsafe { Device::from_raw(dev) };
        match T::map(Buffer(exported), dev, direction_from_raw(dir)) {
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
        // SAFETY: The dma-buf core passes a live attachment of our dma-buf.
        let exported = unsafe { Self::of((*attach).dmabuf) };
        // SAFETY: `sgt` is what `map_dma_buf` returned for this attachment,
        // and the table remembers its device and direction.
        let sgt = unsafe { SgMapping::<T>::from_raw(sgt) };
        exported.exporter.unmap(sgt);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: The last reference to the dma-buf is gone: we take its
        // reference on the exporter back.
        let exported = unsafe { <Arc<Exported<T>>>::from_foreign((*dmabuf).priv_) };
        exported.exporter.release();
        // The buffer goes with this reference unless an importer still holds
        // a table.
        drop(exported);
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
        let exported = unsafe { Self::of(dmabuf) };
        exported.vmap.with_mapping(|addr, len| {
            // SAFETY: `addr..addr + len` is the live kernel mapping, kept
            // mapped by the slot's lock while this runs.
            unsafe { bindings::rdmabuf_invalidate_kernel_vmap_range(addr, len as c_int) }
        });
        from_result(|| T::begin_cpu_access(Buffer(exported), direction_from_raw(dir)).map(|()| 0))
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
        let exported = unsafe { Self::of(dmabuf) };
        exported.vmap.with_mapping(|addr, len| {
            // SAFETY: As in `begin_cpu_access`.
            unsafe { bindings::rdmabuf_flush_kernel_vmap_range(addr, len as c_int) }
        });
        from_result(|| {
            exported
                .exporter
                .end_cpu_access(direction_from_raw(dir))
                .map(|()| 0)
        })
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
        let exported = unsafe { Self::of(dmabuf) };
        from_result(|| {
            // SAFETY: By the type invariant of `Exported`, the slot drops
            // before the exporter's pages.
            let addr = unsafe { exported.vmap.map(exported.exporter.pages()) }
                .map_err(|_| T::VMAP_ERROR)?;
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
        let (exported, addr) = unsafe { (Self::of(dmabuf), (*map).__bindgen_anon_1.vaddr) };
        exported.vmap.unmap(addr);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn mmap(
        dmabuf: *mut bindings::dma_buf,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: `vma` is the VMA being set up by the mmap call.
        let new = unsafe { VmaNew::from_raw(vma) };
        match T::MMAP {
            #[cfg(kapi_heap)]
            Mmap::AtMmap => {
                // SAFETY: The dma-buf is live during its ops.
                let exported = unsafe { Self::of(dmabuf) };
                from_result(|| Self::remap_all(&exported, new).map(|()| 0))
            }
            #[cfg(kapi_udmabuf)]
            Mmap::OnFault => {
                // Upstream udmabuf: only shared mappings.
                if new.flags() & (vm_flags::SHARED | vm_flags::MAYSHARE) == 0 {
                    return EINVAL.to_errno();
                }
                new.set_dontexpand();
                new.set_dontdump();
                // SAFETY: `vma` is being set up under the mmap lock. The VMA
                // holds a reference to the dma-buf file, so the exporter
                // outlives it and may be the VMA's private data.
                unsafe { bindings::rdmabuf_vma_set_pfnmap(vma, &Self::VM_OPS, (*dmabuf).priv_) };
                0
            }
        }
    }

    /// Maps the pages from the VMA's offset on, whole runs at a time, as
    /// upstream's system heap does.
    #[cfg(kapi_heap)]
    fn remap_all(exported: &Exported<T>, vma: &VmaNew) -> Result {
        // SAFETY: `vma` is a valid VMA.
        let pgoff = unsafe { bindings::rdmabuf_vma_pgoff(vma.as_ptr()) };
        let (mut addr, end) = (vma.start(), vma.end());
        for run in exported.exporter.pages().runs_from(pgoff) {
            if addr >= end {
                break;
            }
            let size = (run.npages() * PAGE_SIZE).min(end - addr);
            // SAFETY: `vma` is being set up under the mmap lock; the range is
            // inside it and the pages belong to the buffer, which the VMA's
            // file reference keeps alive.
            kernel::error::to_result(unsafe {
                bindings::rdmabuf_remap_pfn_range(vma.as_ptr(), addr, run.pfn(), size)
            })?;
            addr += size;
        }
        Ok(())
    }

    /// Inserts the faulting page, then, as upstream udmabuf does, the rest
    /// of the VMA, so that a first touch costs one fault.
    ///
    /// # Safety
    ///
    /// Called by the MM on a fault in a VMA set up by [`Self::mmap`].
    #[cfg(kapi_udmabuf)]
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        let mut info = bindings::rdmabuf_vma_info::default();
        let mut pgoff = 0;
        let mut address = 0;
        // SAFETY: `vmf` is the fault being handled.
        let vma =
            unsafe { bindings::rdmabuf_vmf_get_info(vmf, &mut info, &mut pgoff, &mut address) };
        // SAFETY: `mmap` set the dma-buf's private data as the VMA's; the
        // VMA's file reference keeps the dma-buf alive.
        let exported = unsafe { Self::exported(info.private) };
        let pages = exported.exporter.pages();

        let insert = |addr: usize, pfn: usize| -> u32 {
            // SAFETY: `vma` is a PFN-mapped VMA of ours and `addr` is inside it;
            // `pfn` is a page of the buffer, which outlives the VMA.
            unsafe { bindings::vmf_insert_pfn(vma, addr, pfn) }
        };

        let Some(run) = pages.runs_from(pgoff).next() else {
            return VM_FAULT_SIGBUS;
        };
        let ret = insert(address, run.pfn());
        if ret & VM_FAULT_ERROR != 0 {
            return ret;
        }

        // As upstream, the rest of the VMA is mapped now; but a stretch of
        // folios at a time, with one page-table walk and lock per page table
        // instead of per page. A piece that `huge_fault` maps whole is left
        // to it, so these insertions never reach a range where it could
        // have put a huge entry. Only if this fault is in such a piece (it
        // came here because the piece could not be mapped huge) is that
        // piece mapped page by page, as it may hold anything by now.
        // SAFETY: A plain query.
        let pmd_order = unsafe { bindings::rdmabuf_pfnmap_pmd_order() };
        // `pmd_pages` is 0 without huge PFN maps: nothing is left.
        let pmd_pages = if pmd_order == 0 {
            0
        } else {
            1usize << pmd_order
        };
        let pmd_size = pmd_pages * PAGE_SIZE;
        let mut addr = info.start;
        for stretch in pages.folio_stretches_from(info.pgoff) {
            if addr >= info.end {
                break;
            }
            let end = addr + stretch.npages().min((info.end - addr) / PAGE_SIZE) * PAGE_SIZE;
            // Maps the stretch's pages at `from..to`. Errors here are left
            // to a real fault on that address.
            let map = |from: usize, to: usize| {
                from >= to
                    // SAFETY: The VMA is a PFN-mapped VMA of ours, which the
                    // buffer outlives, and `from..to` is inside it and
                    // outside every piece that `huge_fault` maps.
                    || unsafe {
                        stretch.insert(vma, from, (from - addr) / PAGE_SIZE, (to - from) / PAGE_SIZE)
                    }
            };
            let mut from = addr;
            let mut piece = if pmd_pages == 0 {
                end
            } else {
                addr.next_multiple_of(pmd_size)
            };
            while piece < end && end - piece >= pmd_size {
                if let Some(pfn) = huge_piece(pages, &info, piece, pmd_pages) {
                    if !map(from, piece) {
                        return ret;
                    }
                    if (piece..piece + pmd_size).contains(&address) {
                        for n in 0..pmd_pages {
                            let at = piece + n * PAGE_SIZE;
                            if at != address && insert(at, pfn + n) & VM_FAULT_ERROR != 0 {
                                return ret;
                            }
                        }
                    }
                    from = piece + pmd_size;
                }
                piece += pmd_size;
            }
            if !map(from, end) {
                break;
            }
            addr = end;
        }
        ret
    }

    /// Maps a PMD (or PUD) of the buffer with one entry where the pages
    /// under it are physically contiguous and aligned, and the VMA covers
    /// it; otherwise falls back to page faults.
    ///
    /// # Safety
    ///
    /// Called by the mm on a fault in a VMA set up by [`Self::mmap`].
    #[cfg(kapi_udmabuf)]
    unsafe extern "C" fn huge_fault(
        vmf: *mut bindings::vm_fault,
        order: u32,
    ) -> bindings::vm_fault_t {
        let mut info = bindings::rdmabuf_vma_info::default();
        let mut pgoff = 0;
        let mut address = 0;
        // SAFETY: `vmf` is the fault being handled.
        unsafe { bindings::rdmabuf_vmf_get_info(vmf, &mut info, &mut pgoff, &mut address) };
        let Some(size) = 1usize
            .checked_shl(order)
            .and_then(|nr| nr.checked_mul(PAGE_SIZE))
        else {
            return VM_FAULT_FALLBACK;
        };
        let addr = address & !(size - 1);
        // SAFETY: `mmap` set the dma-buf's private data as the VMA's; the
        // VMA's file reference keeps the dma-buf alive.
        let exported = unsafe { Self::exported(info.private) };
        let Some(pfn) = huge_piece(exported.exporter.pages(), &info, addr, size / PAGE_SIZE) else {
            return VM_FAULT_FALLBACK;
        };
        // SAFETY: `vmf` is a fault in a PFN-mapped VMA of ours that covers
        // the whole aligned range; the pages from `pfn` on are the buffer's
        // pages mapped there, which outlive the VMA.
        unsafe { bindings::rdmabuf_vmf_insert_pfn_order(vmf, pfn, order) }
    }
}
