// SPDX-License-Identifier: GPL-2.0

//! The KUnit test importer: a root device that attaches to, maps and syncs
//! a dma-buf as a device driver would, and emulates its device's side of
//! the mappings. Built only with `CONFIG_KUNIT` (the one `cfg`, on this
//! module in `dma_buf.rs`).
//!
//! An importer may use only the DMA addresses and lengths of the table that
//! `map_dma_buf` gives it: with `CONFIG_DMABUF_DEBUG` that table is a copy
//! with no pages and zero CPU-side lengths (`dma_buf_wrap_sg_table` in
//! `drivers/dma-buf/dma-buf.c`). [`Mapping`] reads those once, at map time,
//! and does everything from them, with or without `CONFIG_DMABUF_DEBUG`.

use core::ptr::NonNull;

use crate::kapi::kernel::device::Device;
use crate::kapi::kernel::dma::DataDirection;
use crate::kapi::kernel::page::PAGE_SHIFT;
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::ModuleMetadata;

use super::DmaBuf;
use crate::kapi::bindings;
use crate::kapi::device::{
    as_raw,
    coerce_dma_mask,
    dma_coherent,
    dma_limit,
    from_raw, //
};
use crate::kapi::test_counters;

pub(crate) mod suite;

/// A device that imports dma-bufs in KUnit tests: a root device
/// (`/sys/devices/<name>`, no bus and no driver), which both supported
/// kernels have (6.12 has no faux bus: it came in 6.14).
///
/// # Invariants
///
/// `dev` was registered by `root_device_register` and is unregistered only
/// on drop.
pub(crate) struct TestImporter {
    dev: NonNull<bindings::device>,
}

impl TestImporter {
    /// Registers the device `name` with a DMA mask of `mask_bits` bits.
    pub(crate) fn new(name: &'static CStr, mask_bits: u32) -> Result<Self> {
        let module = <crate::LocalModule as ModuleMetadata>::THIS_MODULE;
        // SAFETY: `name` is a NUL-terminated string, which the call copies;
        // the module is this one. It returns a registered device or an
        // error pointer (`root_device_register()` is this call with
        // `THIS_MODULE`).
        let dev = unsafe {
            bindings::__root_device_register(name.to_bytes_with_nul().as_ptr(), module.as_ptr())
        };
        // INVARIANT: Just registered.
        let importer = Self {
            dev: NonNull::new(kernel::error::from_err_ptr(dev)?).ok_or(ENOMEM)?,
        };
        // SAFETY: The device was just registered, with no driver and under
        // a name only this case uses: nothing maps for it yet.
        unsafe { coerce_dma_mask(importer.dev(), mask_bits) }?;
        Ok(importer)
    }

    /// Returns the device.
    pub(crate) fn dev(&self) -> &Device {
        // SAFETY: By the type invariant the device is registered until
        // `self` drops, and its reference keeps it valid until then.
        unsafe { from_raw(self.dev.as_ptr()) }
    }

    /// Returns whether the device's DMA is cache-coherent with the CPU (if
    /// not, every map and sync does cache maintenance).
    pub(crate) fn coherent(&self) -> bool {
        dma_coherent(self.dev())
    }

    /// Returns whether every streaming DMA mapping of the device bounces
    /// through swiotlb (a `swiotlb=force` boot).
    pub(crate) fn bounces(&self) -> bool {
        // As `is_swiotlb_force_bounce()`.
        self.swiotlb().is_some_and(|mem| mem.force_bounce)
    }

    /// Returns the swiotlb that the device's mappings bounce through, if
    /// any.
    #[cfg(CONFIG_SWIOTLB)]
    fn swiotlb(&self) -> Option<&bindings::io_tlb_mem> {
        // CAST: `kernel::bindings` has `struct io_tlb_mem` only as an opaque
        // type; the project's bindgen step has its fields.
        // SAFETY: The device is registered and valid. Its `dma_io_tlb_mem`
        // is NULL or the swiotlb set for it when it was initialised (the
        // default one, `io_tlb_default_mem`, which lives as long as the
        // kernel), whose `force_bounce` and default pool are set at boot
        // and never written after.
        unsafe {
            (*as_raw(self.dev()))
                .dma_io_tlb_mem
                .cast::<bindings::io_tlb_mem>()
                .as_ref()
        }
    }

    /// Without swiotlb, no mapping bounces.
    #[cfg(not(CONFIG_SWIOTLB))]
    fn swiotlb(&self) -> Option<&bindings::io_tlb_mem> {
        None
    }

    /// Returns a buffer size that does not fit the device's swiotlb when
    /// its mappings bounce (twice the pool), and 32 MiB otherwise.
    pub(crate) fn past_the_bounce_buffer(&self) -> usize {
        match self.swiotlb() {
            // The size of its default pool (`swiotlb=N` slabs).
            Some(mem) if mem.force_bounce => 2 * (mem.defpool.nslabs << bindings::IO_TLB_SHIFT),
            _ => 32 << 20,
        }
    }
}

/// What KUnit tests do as importers.
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

    /// Calls the exporter's `vmap` (and, if it mapped, its `vunmap`) as
    /// `dma_buf_vmap` does, and returns its errno: for a vmap made to fail,
    /// which `dma_buf_vmap` meets with a `WARN_ON_ONCE`.
    pub(crate) fn vmap_op(&self) -> Result {
        // SAFETY: By the type invariant the dma-buf is live, and the test
        // that owns it has no kernel mapping of it through the core.
        kernel::error::to_result(unsafe { bindings::rdmabuf_dma_buf_vmap_op(self.0.as_ptr()) })
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

    /// Makes begin/end_cpu_access of this buffer sync none of its importers'
    /// mappings while `skip`, as 7.3's udmabuf does (it syncs only its own
    /// table). Other buffers are not affected.
    pub(crate) fn skip_importer_syncs(&self, skip: bool) {
        let dmabuf = if skip { self.0.as_ptr() as usize } else { 0 };
        test_counters::skip_importer_syncs_of(dmabuf);
    }

    /// Makes the next kernel mapping of this buffer fail, in `vm_map_ram`
    /// if `in_vm_map_ram`, else allocating its page array. Other buffers are
    /// not affected.
    pub(crate) fn fail_next_vmap(&self, in_vm_map_ram: bool) {
        test_counters::fail_next_vmap_of(self.0.as_ptr() as usize, in_vm_map_ram);
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
pub(crate) struct Attachment<'a> {
    dmabuf: &'a DmaBuf,
    attach: NonNull<bindings::dma_buf_attachment>,
}

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
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DmaSegment {
    /// The DMA address.
    pub(crate) addr: u64,
    /// The length in bytes.
    pub(crate) len: usize,
}

/// Returns the page frame at each page of `segments`, in order: with direct
/// DMA and no bouncing, the pages the importer's device reaches.
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
pub(crate) struct Mapping<'a> {
    attach: &'a Attachment<'a>,
    sgt: NonNull<bindings::sg_table>,
    dir: bindings::dma_data_direction,
    segments: KVec<DmaSegment>,
}

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
            let mut len = 0;
            // SAFETY: `sg` is one of the table's first `nents` entries;
            // `len` is valid to write.
            let addr = unsafe { bindings::rdmabuf_sg_dma_segment(sg, &mut len) };
            let segment = DmaSegment {
                addr,
                len: len as usize,
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
                // SAFETY: `offset < PAGE_SIZE`: within the page `addr` maps.
                let piece = unsafe { addr.cast::<u8>().add(offset) };
                // SAFETY: `addr` maps the page until `kunmap_local`; the
                // piece's `len` bytes are within it; nothing else accesses
                // them meanwhile.
                let bytes = unsafe { core::slice::from_raw_parts_mut(piece, len) };
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

    /// Returns whether the table is mapped for `dev`: every DMA address is
    /// one `dev` can reach, as `dma_map_sgtable` for `dev` makes them.
    pub(crate) fn reachable_by(&self, dev: &Device) -> bool {
        // As `dma_capable()` checks them, in a VM with no memory encryption.
        let limit = dma_limit(dev);
        self.segments.iter().all(|s| {
            s.len > 0
                && s.addr != u64::MAX
                && s.addr
                    .checked_add(s.len as u64 - 1)
                    .is_some_and(|end| end <= limit)
        })
    }

    /// Returns the table's address, to tell mappings apart.
    pub(crate) fn table(&self) -> *const bindings::sg_table {
        self.sgt.as_ptr()
    }
}

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

impl Drop for TestImporter {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the device is registered, and
        // unregistered only here; this drops the registration's reference.
        unsafe { bindings::root_device_unregister(self.dev.as_ptr()) };
    }
}

impl Drop for Attachment<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant; every mapping was undone.
        unsafe { bindings::dma_buf_detach(self.dmabuf.0.as_ptr(), self.attach.as_ptr()) };
    }
}
