// SPDX-License-Identifier: GPL-2.0

//! Exporting dma-bufs.
//!
//! C header: [include/linux/dma-buf.h](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`]; [`DmaBuf::export`] hands it to
//! `dma_buf_export`, in one reference-counted allocation with the kernel
//! mapping that kapi manages ([`Exported`]), with an ops table whose
//! trampolines (in [`ops`]) call the trait. The dma-buf owns a reference
//! from then on and drops it in `release`; each sg table mapped for a device
//! holds another, so the pages outlive every mapping of them.

use core::ffi::c_int;
use core::ops::Deref;
use core::ptr::NonNull;

use kernel::device::Device;
use kernel::dma::DataDirection;
#[cfg(kapi_udmabuf)]
use kernel::fs::file::flags;
use kernel::new_mutex;
#[cfg(CONFIG_KUNIT = "y")]
use kernel::page::PAGE_SHIFT;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{
    Arc,
    ArcBorrow,
    Mutex, //
};
use kernel::types::ForeignOwnable;
use kernel::ModuleMetadata;

use super::bindings;
use super::buffer_pages::BufferPages;
#[cfg(CONFIG_KUNIT = "y")]
use super::device::as_raw;
use super::page_run::PhysRun;
use super::sg_table::{
    CpuSync,
    SGTable,
    Segments, //
};
#[cfg(CONFIG_KUNIT = "y")]
use super::test_counters;
use super::vmap::VmapSlot;

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

    /// `begin_cpu_access`, after kapi invalidated the kernel mapping's
    /// cache lines. kapi then syncs every importer's mapping for the CPU
    /// (unless this fails).
    fn begin_cpu_access(_this: Buffer<'_, Self>, _dir: DataDirection) -> Result {
        Ok(())
    }

    /// `end_cpu_access`, after kapi flushed the kernel mapping's cache lines
    /// and synced every importer's mapping for its device.
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
/// drop in declaration order).
#[pin_data]
pub(crate) struct Exported<T: Exporter> {
    #[pin]
    vmap: VmapSlot,
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
    /// Calls `f` on every table mapped for an importer.
    fn for_each_importer(&self, f: impl Fn(&SGTable<Self>)) {
        #[cfg(CONFIG_KUNIT = "y")]
        if test_counters::importer_syncs_skipped() {
            return;
        }
        for sgt in self.importers.lock().iter().flatten() {
            f(sgt);
        }
    }
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
    /// it for `dev` in `dir`, synced as `sync` says. The table holds a
    /// reference on the buffer.
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
    pub(crate) fn export<T: Exporter>(
        init: impl PinInit<T, Error>,
        flags: u32,
        name: &'static CStr,
    ) -> Result<Self> {
        // INVARIANT: The slot starts empty, and only `vmap` fills it, with
        // the exporter's pages; `vmap` is declared first, so it drops first.
        let exported = Arc::pin_init(
            try_pin_init!(Exported {
                vmap <- VmapSlot::new(),
                importers <- new_mutex!(None),
                exporter <- init,
            }),
            GFP_KERNEL,
        )?;
        // What importers map and vmap: never more than the pages.
        let size = exported
            .exporter
            .pages()
            .page_count()
            .checked_mul(PAGE_SIZE)
            .ok_or(EINVAL)?;
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
    /// Maps the whole buffer into the kernel (`dma_buf_vmap`, our `vmap`),
    /// calls `f` on it, and unmaps.
    fn with_vmap<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let dmabuf = self.0.as_ptr();
        let mut map = bindings::iosys_map::default();
        // SAFETY: By the type invariant the dma-buf is live; `map` is ours.
        kernel::error::to_result(unsafe { bindings::dma_buf_vmap_unlocked(dmabuf, &mut map) })?;
        // SAFETY: Our `vmap` maps all `size` bytes of the buffer's pages in
        // system memory, until the `vunmap` below; the test owns the buffer.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(map.__bindgen_anon_1.vaddr.cast::<u8>(), self.size())
        };
        let result = f(bytes);
        // SAFETY: `map` was filled by the `vmap` above.
        unsafe { bindings::dma_buf_vunmap_unlocked(dmabuf, &mut map) };
        Ok(result)
    }

    /// Maps the whole buffer into the kernel and returns whether every byte
    /// is `byte`.
    pub(crate) fn vmap_all_equal(&self, byte: u8) -> Result<bool> {
        self.with_vmap(|bytes| bytes.iter().all(|&b| b == byte))
    }

    /// Maps the whole buffer into the kernel and writes `byte` to all of
    /// it, as the CPU side of a producer would.
    pub(crate) fn vmap_fill(&self, byte: u8) -> Result {
        self.with_vmap(|bytes| bytes.fill(byte))
    }

    /// Maps the whole buffer into the kernel and writes the number of each
    /// page (0, 1, ...) to its first four bytes, little-endian.
    pub(crate) fn vmap_number_pages(&self) -> Result {
        self.with_vmap(|bytes| {
            for (n, page) in bytes.chunks_mut(PAGE_SIZE).enumerate() {
                if let Some(head) = page.get_mut(..4) {
                    head.copy_from_slice(&(n as u32).to_le_bytes());
                }
            }
        })
    }

    /// Returns the size of the dma-buf, as importers read it.
    pub(crate) fn size(&self) -> usize {
        // SAFETY: By the type invariant the dma-buf is live; its size is
        // set at export and never changes.
        unsafe { (*self.0.as_ptr()).size }
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
    /// Maps the buffer for the attached device in `dir` (`map_dma_buf`),
    /// until the result drops.
    pub(crate) fn map(&self, dir: DataDirection) -> Result<Mapping<'_>> {
        let dir = bindings::dma_data_direction::from(dir);
        // SAFETY: By the type invariant the attachment is live.
        let sgt = unsafe { bindings::dma_buf_map_attachment_unlocked(self.attach.as_ptr(), dir) };
        let sgt = NonNull::new(kernel::error::from_err_ptr(sgt)?).ok_or(ENOMEM)?;
        // INVARIANT: Just mapped for this attachment in `dir`; no segments
        // read yet. Unmapped on drop if reading them fails.
        let mut mapping = Mapping {
            attach: self,
            sgt,
            dir,
            segments: KVec::new(),
        };
        mapping.read_segments()?;
        Ok(mapping)
    }

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
        let mapping = self.map(dir)?;
        mapping.device_fill(byte);
        if importer_syncs {
            mapping.sync_for_cpu();
        }
        Ok(())
    }

    /// Maps the buffer for the attached device in `dir`, reads all of it
    /// from the device side, unmaps, and returns whether every byte read
    /// was `byte`. With `importer_syncs` the importer first syncs its
    /// mapping for the device, as an importer of a buffer mapped with
    /// `DMA_ATTR_SKIP_CPU_SYNC` must; under bouncing that sync (or the
    /// exporter's own, at map time) is what brings the CPU's writes to the
    /// device.
    pub(crate) fn device_reads(
        &self,
        dir: DataDirection,
        byte: u8,
        importer_syncs: bool,
    ) -> Result<bool> {
        let mapping = self.map(dir)?;
        if importer_syncs {
            mapping.sync_for_device();
        }
        Ok(mapping.device_all_equal(byte))
    }

    /// Maps the buffer for the attached device in `dir` (`map_dma_buf`) and
    /// returns the DMA segments of the mapping, as the importer sees them.
    /// The mapping is undone before returning.
    pub(crate) fn map_segments(&self, dir: DataDirection) -> Result<KVec<DmaSegment>> {
        let mapping = self.map(dir)?;
        let mut segments = KVec::with_capacity(mapping.segments.len(), GFP_KERNEL)?;
        segments.extend_from_slice(&mapping.segments, GFP_KERNEL)?;
        Ok(segments)
    }
}

/// One DMA segment of an importer's mapping: a DMA address and a length,
/// all that an importer may read of the table `map_dma_buf` gave it (with
/// `CONFIG_DMABUF_DEBUG` the table is a copy without pages, whose CPU-side
/// lengths are zero).
#[cfg(CONFIG_KUNIT = "y")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DmaSegment {
    /// The DMA address.
    pub(crate) addr: u64,
    /// The length in bytes.
    pub(crate) len: usize,
}

/// Returns the page frame at each page of `segments`, in order: with direct
/// DMA and no bouncing, the pages the importer's device reaches.
#[cfg(CONFIG_KUNIT = "y")]
#[cfg(kapi_udmabuf)]
pub(crate) fn segment_frames(segments: &[DmaSegment]) -> Result<KVec<usize>> {
    let mut frames = KVec::new();
    for segment in segments {
        let first = (segment.addr >> PAGE_SHIFT) as usize;
        for n in 0..segment.len.div_ceil(PAGE_SIZE) {
            frames.push(first + n, GFP_KERNEL)?;
        }
    }
    Ok(frames)
}

/// A mapping of a [`DmaBuf`] for an importer's device, from `map_dma_buf`,
/// unmapped on drop (KUnit). Its device side is emulated: the test VM has
/// direct DMA, so the memory a device reaches (the pages, or their swiotlb
/// bounce slots) is at the DMA addresses. Like any importer it uses only
/// the DMA addresses and lengths of the table, read once at map time.
///
/// # Invariants
///
/// `sgt` was returned by `dma_buf_map_attachment` for `attach` in `dir`;
/// `segments` are (a prefix of) its DMA segments, in order.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct Mapping<'a> {
    attach: &'a Attachment<'a>,
    sgt: NonNull<bindings::sg_table>,
    dir: bindings::dma_data_direction,
    segments: KVec<DmaSegment>,
}

#[cfg(CONFIG_KUNIT = "y")]
impl Mapping<'_> {
    fn dev(&self) -> *mut bindings::device {
        // SAFETY: By the type invariant the attachment is live.
        unsafe { (*self.attach.attach.as_ptr()).dev }
    }

    /// Reads the DMA segments of the table: the `nents` entries'
    /// `sg_dma_address` and `sg_dma_len`, nothing else of the table.
    fn read_segments(&mut self) -> Result {
        // SAFETY: By the type invariant the table is mapped, so allocated,
        // with `nents` DMA segments.
        let (mut sg, nents) = unsafe { ((*self.sgt.as_ptr()).sgl, (*self.sgt.as_ptr()).nents) };
        for _ in 0..nents {
            // SAFETY: `sg` is one of the table's first `nents` entries.
            let segment = unsafe {
                DmaSegment {
                    addr: bindings::sg_dma_address(sg),
                    len: bindings::sg_dma_len(sg) as usize,
                }
            };
            self.segments.push(segment, GFP_KERNEL)?;
            // SAFETY: As above.
            sg = unsafe { bindings::sg_next(sg) };
        }
        Ok(())
    }

    /// Calls `f` on the memory the device reaches through the mapping, in
    /// order, one piece within a page at a time, until `f` returns false.
    /// Returns whether `f` always returned true.
    fn device_access(&self, mut f: impl FnMut(&mut [u8]) -> bool) -> bool {
        for segment in self.segments.iter() {
            let (mut at, end) = (segment.addr, segment.addr + segment.len as u64);
            while at < end {
                let offset = at as usize % PAGE_SIZE;
                let len = (PAGE_SIZE - offset).min((end - at) as usize);
                // SAFETY: The test VM has direct DMA without memory
                // encryption: a DMA address is the physical address of the
                // memory the device reaches, the buffer's page or its
                // swiotlb slot, both system RAM with a `struct page`, and
                // mapped for the device until `self` drops.
                let addr = unsafe {
                    bindings::kmap_local_page(bindings::rdmabuf_pfn_to_page(
                        (at >> PAGE_SHIFT) as usize,
                    ))
                };
                // SAFETY: `addr` maps the page until `kunmap_local`; the
                // piece is within it; nothing else accesses it meanwhile.
                let bytes =
                    unsafe { core::slice::from_raw_parts_mut(addr.cast::<u8>().add(offset), len) };
                let go_on = f(bytes);
                // SAFETY: Mapped above, the last local mapping made.
                unsafe { bindings::kunmap_local(addr) };
                if !go_on {
                    return false;
                }
                at += len as u64;
            }
        }
        true
    }

    /// The device writes `byte` to all of the buffer.
    pub(crate) fn device_fill(&self, byte: u8) {
        self.device_access(|bytes| {
            bytes.fill(byte);
            true
        });
    }

    /// The device reads all of the buffer: returns whether every byte is
    /// `byte`.
    pub(crate) fn device_all_equal(&self, byte: u8) -> bool {
        self.device_access(|bytes| bytes.iter().all(|&b| b == byte))
    }

    /// The device reads the first four bytes of every page of the buffer, in
    /// buffer order (see [`DmaBuf::vmap_number_pages`]).
    pub(crate) fn device_page_numbers(&self) -> Result<KVec<u32>> {
        let mut numbers = KVec::new();
        let mut at = 0usize;
        let mut result = Ok(());
        self.device_access(|bytes| {
            if at % PAGE_SIZE == 0 {
                if let Some(head) = bytes.first_chunk::<4>() {
                    result = numbers
                        .push(u32::from_le_bytes(*head), GFP_KERNEL)
                        .map_err(Error::from);
                }
            }
            at += bytes.len();
            result.is_ok()
        });
        result.map(|()| numbers)
    }

    /// The importer syncs its mapping for the CPU, segment by segment: it
    /// has only the DMA addresses and lengths of the table.
    pub(crate) fn sync_for_cpu(&self) {
        for segment in self.segments.iter() {
            // SAFETY: By the type invariant the segment is part of a
            // mapping for the device in `dir`; a partial sync of a mapping
            // is allowed, and DMA-API debugging finds the mapping by
            // containment.
            unsafe {
                bindings::__dma_sync_single_for_cpu(self.dev(), segment.addr, segment.len, self.dir)
            };
        }
    }

    /// The importer syncs its mapping for the device, as above.
    pub(crate) fn sync_for_device(&self) {
        for segment in self.segments.iter() {
            // SAFETY: As in `sync_for_cpu`.
            unsafe {
                bindings::__dma_sync_single_for_device(
                    self.dev(),
                    segment.addr,
                    segment.len,
                    self.dir,
                )
            };
        }
    }

    #[cfg(kapi_udmabuf)]
    /// Returns whether the table is mapped for `dev`: every DMA address is
    /// one `dev` can reach, as `dma_map_sgtable` for `dev` makes them.
    pub(crate) fn reachable_by(&self, dev: &Device) -> bool {
        // SAFETY: The table is mapped while `self` lives; `dev` is valid.
        unsafe { bindings::rdmabuf_test_sgt_reachable(as_raw(dev), self.sgt.as_ptr()) }
    }

    #[cfg(kapi_udmabuf)]
    /// Returns the table's address, to tell mappings apart.
    pub(crate) fn table(&self) -> *const bindings::sg_table {
        self.sgt.as_ptr()
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for Mapping<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant; unmapped once, here.
        unsafe {
            bindings::dma_buf_unmap_attachment_unlocked(
                self.attach.attach.as_ptr(),
                self.sgt.as_ptr(),
                self.dir,
            )
        };
    }
}

#[cfg(CONFIG_KUNIT = "y")]
impl Drop for Attachment<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant; every mapping was undone.
        unsafe { bindings::dma_buf_detach(self.dmabuf.0.as_ptr(), self.attach.as_ptr()) };
    }
}
