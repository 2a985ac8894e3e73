// SPDX-License-Identifier: GPL-2.0

//! Exporting dma-bufs.
//!
//! C header: [include/linux/dma-buf.h](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`]; [`DmaBuf::export`] hands it to
//! `dma_buf_export`, in one reference-counted allocation with the kernel
//! mapping that kapi manages ([`Exported`]), with an ops table whose
//! trampolines (in [`ops`]; user-space mappings in [`mmap`]) call the
//! trait. The dma-buf owns a reference from then on and drops it in
//! `release`; each sg table mapped for a device holds another, so the pages
//! outlive every mapping of them.

use core::ffi::c_int;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::kapi::kernel::device::Device;
use crate::kapi::kernel::dma::DataDirection;
#[cfg(kapi_udmabuf)]
use crate::kapi::kernel::fs::file::flags;
use crate::kapi::kernel::new_mutex;
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::{
    Arc,
    ArcBorrow,
    Mutex, //
};
use crate::kapi::kernel::ModuleMetadata;

use super::bindings;
use super::buffer_pages::BufferPages;
use super::page_run::PhysRun;
use super::sg_table::{
    CpuSync,
    SGTable,
    Segments, //
};
#[cfg(CONFIG_KUNIT = "y")]
use super::test_counters;
use super::vmap::VmapSlot;

#[cfg(CONFIG_KUNIT = "y")]
pub(crate) mod importer;
mod mmap;
mod ops;

use ops::OpsTable;

/// `O_RDWR`, `O_CLOEXEC`: flags of the dma-buf file and its descriptor.
#[cfg(kapi_udmabuf)]
pub(crate) const O_RDWR: u32 = flags::O_RDWR;
#[cfg(kapi_udmabuf)]
const O_CLOEXEC: u32 = flags::O_CLOEXEC;

/// How a dma-buf's pages are mapped into user space.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mmap {
    /// Upstream udmabuf's checks (shared mappings only); every page of the
    /// VMA is mapped at mmap time with `remap_pfn_range`, except the pieces
    /// that one huge entry maps (a PMD's worth of one folio's aligned pages
    /// at an aligned address): the fault handler maps each with one PMD
    /// (or PUD) on its first touch, and what mmap could not map page by
    /// page.
    #[cfg(kapi_udmabuf)]
    AtMmapHugeAtFault,
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
/// In particular `map_dma_buf` hands an importer only a table that kapi
/// built and mapped for that attachment's device and direction: the
/// exporter chooses its layout ([`Exporter::SEGMENTS`]) and who syncs it
/// ([`Exporter::CPU_SYNC`]), and cannot substitute another.
pub(crate) trait Exporter: Send + Sync + Sized + 'static {
    /// The pages of the buffer.
    type Pages: BufferPages;

    /// How `mmap` maps the buffer.
    const MMAP: Mmap;

    /// How the sg table of an importer's mapping is laid out.
    const SEGMENTS: Segments;

    /// Who syncs an importer's mapping for the CPU.
    const CPU_SYNC: CpuSync;

    /// The errno of a `vmap` whose `vm_map_ram` fails (upstream udmabuf
    /// says EINVAL, the heap ENOMEM). A failed allocation is ENOMEM in both.
    const VMAP_ERROR: Error = ENOMEM;

    /// Returns the pages of the buffer.
    fn pages(&self) -> &Self::Pages;

    // Every op takes the buffer as `this: Buffer<'_, Self>`, which derefs to
    // the exporter and can map its pages ([`Buffer::sg_table`]).

    /// `map_dma_buf`: kapi built and mapped `sgt` for the importer, and
    /// hands it over when this returns.
    fn mapped(_this: Buffer<'_, Self>, _sgt: &SGTable<Exported<Self>>) {}

    /// `begin_cpu_access` in `dir` (never `DataDirection::None`: kapi
    /// refuses it with EINVAL), after kapi invalidated the kernel mapping's
    /// cache lines. kapi then syncs for the CPU every importer's mapping
    /// that its device may have written, each in its own direction, not
    /// `dir` (unless this fails).
    fn begin_cpu_access(_this: Buffer<'_, Self>, _dir: DataDirection) -> Result {
        Ok(())
    }

    /// `end_cpu_access` in `dir` (never `DataDirection::None`), after kapi
    /// flushed the kernel mapping's cache lines and synced every importer's
    /// mapping for its device, each in its own direction.
    fn end_cpu_access(_this: Buffer<'_, Self>, _dir: DataDirection) -> Result {
        Ok(())
    }

    /// `release`: the dma-buf is gone, and with it every attachment. The
    /// exporter drops the sg tables it mapped for itself: each holds a
    /// reference on the buffer, which would otherwise never go.
    fn release(_this: Buffer<'_, Self>) {}
}

/// What a dma-buf's private data points to: the exporter and the kernel
/// mapping that kapi manages for it, in one allocation shared by the
/// dma-buf and the sg tables mapped from it.
///
/// # Invariants
///
/// `vmap` maps only the pages of `exporter`, and drops before them (fields
/// drop in declaration order). `page_count` is the exporter's page count at
/// export, the size of the dma-buf in pages.
#[pin_data]
pub(crate) struct Exported<T: Exporter> {
    #[pin]
    vmap: VmapSlot,
    page_count: usize,
    /// The tables mapped for importers and not yet unmapped, which
    /// begin/end_cpu_access sync. Each holds a reference on the buffer.
    /// `None` until the first map: a buffer that is never mapped makes no
    /// call to the allocator for its list, not even to drop an empty one.
    #[pin]
    importers: Mutex<Option<KVec<SGTable<Exported<T>>>>>,
    #[pin]
    exporter: T,
}

impl<T: Exporter> Exported<T> {
    /// Calls `f` on every table mapped for an importer of `dmabuf`, this
    /// buffer's dma-buf.
    fn for_each_importer(
        &self,
        // Only KUnit cases look at it, to leave their own buffer unsynced.
        #[cfg_attr(not(CONFIG_KUNIT = "y"), expect(unused_variables))]
        dmabuf: *mut bindings::dma_buf,
        f: impl Fn(&SGTable<Self>),
    ) {
        #[cfg(CONFIG_KUNIT = "y")]
        if test_counters::importer_syncs_skipped(dmabuf as usize) {
            return;
        }
        for sgt in self.importers.lock().iter().flatten() {
            f(sgt);
        }
    }

    /// For CPU access to `dmabuf`, this buffer's dma-buf: syncs for the CPU
    /// every importer's mapping that its device may have written
    /// (`FROM_DEVICE`, `BIDIRECTIONAL`), each in its own direction.
    ///
    /// Never in the direction of the CPU access (what upstream's system
    /// heap does): a `TO_DEVICE` mapping synced for the CPU in another
    /// direction is an error of the DMA API (DMA-API debugging reports it),
    /// and under bouncing it copies that mapping's bounce buffer, stale
    /// since the map, over the pages, and with it over what another
    /// importer's device wrote there (a camera's frame under a display's
    /// mapping). In its own direction it would be no copy and no cache
    /// maintenance, so it is left out.
    fn sync_importers_for_cpu(&self, dmabuf: *mut bindings::dma_buf) {
        self.for_each_importer(dmabuf, |sgt| {
            if sgt.device_may_write() {
                sgt.sync_for_cpu();
            }
        });
    }

    /// After CPU access to `dmabuf`: syncs every importer's mapping for its
    /// device, each in its own direction. For those it reads (`TO_DEVICE`,
    /// `BIDIRECTIONAL`) that brings the CPU's writes to the device (under
    /// bouncing it copies them to the bounce buffer). For a `FROM_DEVICE`
    /// mapping it copies nothing, bounced or not, but on a non-coherent CPU
    /// it writes back the cache lines that the CPU's access may have
    /// dirtied, which would otherwise be written back later over what the
    /// device writes.
    fn sync_importers_for_device(&self, dmabuf: *mut bindings::dma_buf) {
        self.for_each_importer(dmabuf, |sgt| sgt.sync_for_device());
    }
}

/// The pages of an exported buffer are those of its exporter: what the sg
/// tables mapped from it hold a reference on.
impl<T: Exporter> BufferPages for Exported<T> {
    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> + Clone {
        self.exporter.pages().runs_from(pgoff)
    }

    /// The size of the dma-buf, fixed at export, whatever the exporter's
    /// pages say later: every table and kernel mapping is of this many
    /// pages, or fails.
    fn page_count(&self) -> usize {
        self.page_count
    }
}

/// An exported buffer, as its ops see it: the exporter (through `Deref`),
/// and the means to map its pages for a device.
pub(crate) struct Buffer<'a, T: Exporter>(ArcBorrow<'a, Exported<T>>);

impl<T: Exporter> Clone for Buffer<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Exporter> Copy for Buffer<'_, T> {}

impl<T: Exporter> Buffer<'_, T> {
    /// Builds the table of all the buffer's pages, with `segments`, and maps
    /// it for `dev` in `dir`, synced as `sync` says (and, by its
    /// [`SGTable::sync_for_cpu`] and [`SGTable::sync_for_device`], in `dir`
    /// only). The table holds a reference on the buffer. EINVAL for
    /// `DataDirection::None`, and if the pages are not the dma-buf's size.
    pub(crate) fn sg_table(
        &self,
        dev: &Device,
        dir: DataDirection,
        segments: Segments,
        sync: CpuSync,
    ) -> Result<SGTable<Exported<T>>> {
        SGTable::new(self.0.into(), dev, dir, segments, sync)
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
    /// Exports the buffer that `init` initialises as a dma-buf whose file
    /// has `flags` (`O_RDWR`), named `name` in `/proc/*/fdinfo` and debugfs.
    /// Its size is that of the buffer's pages.
    ///
    /// On failure the buffer is dropped. The dma-buf holds a reference on this
    /// module until it is released, so the module cannot go away under it.
    #[link_section = ".text.hot"]
    pub(crate) fn export<T: Exporter>(
        init: impl PinInit<T, Error>,
        flags: u32,
        name: &'static CStr,
    ) -> Result<Self> {
        // INVARIANT: The slot starts empty, and only `vmap` fills it, with
        // the exporter's pages; `vmap` is declared first, so it drops first.
        // `page_count` is set once the exporter is, and never again.
        let exported = Arc::<Exported<T>>::pin_init(
            try_pin_init!(Exported {
                vmap <- VmapSlot::new(),
                page_count: 0,
                importers <- new_mutex!(None),
                exporter <- init,
            })
            .pin_chain(|exported| {
                let page_count = exported.exporter.pages().page_count();
                // SAFETY: `page_count` is not structurally pinned (no
                // `#[pin]`): writing it moves nothing pinned. (6.12's
                // `#[pin_data]` makes no `project()`.)
                unsafe { exported.get_unchecked_mut() }.page_count = page_count;
                Ok(())
            }),
            GFP_KERNEL,
        )?;
        // What importers map and vmap: never more than the pages.
        let size = exported.page_count.checked_mul(PAGE_SIZE).ok_or(EINVAL)?;
        let module = <crate::LocalModule as ModuleMetadata>::THIS_MODULE;
        let private = Arc::into_raw(exported);
        let info = bindings::dma_buf_export_info {
            exp_name: name.to_bytes_with_nul().as_ptr(),
            owner: module.as_ptr(),
            ops: &OpsTable::<T>::OPS,
            size,
            flags: flags as c_int,
            resv: core::ptr::null_mut(),
            priv_: private.cast_mut().cast(),
        };
        // SAFETY: `info` is fully initialised; `ops` is a static table; `priv_`
        // is a reference on the exporter, which the dma-buf takes over on
        // success.
        let dmabuf = unsafe { bindings::dma_buf_export(&info) };
        match kernel::error::from_err_ptr(dmabuf) {
            // INVARIANT: `dma_buf_export` returns the first reference.
            Ok(dmabuf) => Ok(Self(NonNull::new(dmabuf).ok_or(ENOMEM)?)),
            Err(e) => {
                // SAFETY: The export failed, so `private` is still ours,
                // from `Arc::into_raw` above.
                drop(unsafe { Arc::from_raw(private) });
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
